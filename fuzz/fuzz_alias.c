/*
 * fuzz_alias.c - libFuzzer target for the aliases(5) parser
 * (aliases_parse.y, aliases_scan.l) through alias_load_file() on an
 * fmemopen() stream.
 *
 * Checks: success gives pairs with non-empty name and destination;
 * failure gives an empty table and a reason.  Running many inputs in one
 * process also checks that the reentrant scanner keeps no state between
 * files.
 */
#include "dma.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alias *tbl = (struct alias *)(uintptr_t)1;
	const struct alias *a;
	char why[256];
	FILE *fp;

	fp = fuzz_memfile(data, size);
	why[0] = '\0';
	if (alias_load_file(fp, "fuzz", &tbl, why, sizeof(why)) != 0) {
		fuzz_why_check(why, sizeof(why));
		if (tbl != NULL)
			fuzz_fail("error but *tbl set");
	} else {
		for (a = tbl; a != NULL; a = a->next) {
			if (a->name == NULL || a->dest == NULL ||
			    a->name[0] == '\0' || a->dest[0] == '\0')
				fuzz_fail("empty alias name or destination");
		}
		alias_free(tbl);
	}
	fclose(fp);
	return (0);
}
