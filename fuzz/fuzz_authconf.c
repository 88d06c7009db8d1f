/*
 * fuzz_authconf.c - libFuzzer target for conf_load_auth() (auth.conf).
 *
 * The input is written to a private temporary file.  Checks: success
 * gives entries with a login, a non-empty host and a password; failure
 * gives an empty list and a reason.
 */
#include "dma.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct authuser *list = (struct authuser *)(uintptr_t)1;
	const struct authuser *a;
	char why[256];
	const char *path;

	path = fuzz_tmpfile(data, size);
	why[0] = '\0';
	if (conf_load_auth(path, &list, why, sizeof(why)) != CONF_OK) {
		fuzz_why_check(why, sizeof(why));
		if (list != NULL)
			fuzz_fail("error but *list set");
		return (0);
	}
	for (a = list; a != NULL; a = a->next) {
		if (a->login == NULL || a->host == NULL || a->password == NULL ||
		    a->host[0] == '\0')
			fuzz_fail("incomplete auth entry");
		if (conf_find_auth(list, a->host) == NULL)
			fuzz_fail("entry not found by its own host");
	}
	conf_free_auth(list);
	return (0);
}
