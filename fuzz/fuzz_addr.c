/*
 * fuzz_addr.c - libFuzzer target for mail_parse_addrs() (mail.c), the
 * header address parser used by -t.
 *
 * The input is one header value as a NUL-terminated string.  Besides
 * memory errors it checks the contract of dma.h: success gives a NULL
 * terminated array of non-empty addresses shorter than ADDR_MAX without
 * line breaks; failure gives *addrs NULL and a reason.
 */
#include "dma.h"
#include "fuzz.h"

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
	}
	mail_free_addrs(addrs);
	free(value);
	return (0);
}
