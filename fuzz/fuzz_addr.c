/*
 * fuzz_addr.c - libFuzzer target for mail_parse_addrs() (mail.c), the
 * header address parser used by -t.
 *
 * The input is one header value as a NUL-terminated string.  Besides
 * memory errors it checks the contract of dma.h: success gives a NULL
 * terminated array of non-empty addresses shorter than ADDR_MAX without
 * line breaks; failure gives *addrs NULL and a reason.  Each address
 * returned parses again as itself alone (the output is canonical).
 */
#include "dma.h"
#include "fuzz.h"

/* reparse - addr given back as a header value must yield exactly addr */
static void
reparse(const char *addr)
{
	char why[256], **again = NULL;

	if (mail_parse_addrs(addr, &again, why, sizeof(why)) != 0)
		fuzz_fail("result `%s' does not parse: %s", addr, why);
	if (again[0] == NULL || again[1] != NULL || strcmp(again[0], addr) != 0)
		fuzz_fail("result `%s' parses as `%s'", addr,
		    again[0] != NULL ? again[0] : "(nothing)");
	mail_free_addrs(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256], **addrs = (char **)(uintptr_t)1;
	char *value;
	size_t i;

	value = fuzz_cstr(data, size);
	why[0] = '\0';
	if (mail_parse_addrs(value, &addrs, why, sizeof(why)) != 0) {
		fuzz_why_check(why, sizeof(why));
		if (addrs != NULL)
			fuzz_fail("error but *addrs set");
		free(value);
		return (0);
	}
	if (addrs == NULL)
		fuzz_fail("success without an array");
	for (i = 0; addrs[i] != NULL; i++) {
		size_t n = strlen(addrs[i]);

		if (n == 0 || n >= ADDR_MAX)
			fuzz_fail("address %zu has length %zu", i, n);
		if (strpbrk(addrs[i], "\r\n") != NULL)
			fuzz_fail("address %zu holds a line break", i);
		reparse(addrs[i]);
	}
	mail_free_addrs(addrs);
	free(value);
	return (0);
}
