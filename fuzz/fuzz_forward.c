/*
 * fuzz_forward.c - libFuzzer target for forward_parse() (forward.c),
 * which reads the output of dma-forward: text that comes from a user's
 * ~/.forward.
 *
 * Checks: a failure leaves the list empty and says why; on success every
 * entry has a known kind and a non-empty text without newline, CR or NUL,
 * and the entries account for every line of the input.
 */
#include "dma.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fwdlist fl;
	char why[128];
	size_t i, lines = 0;

	why[0] = '\0';
	if (forward_parse((const char *)data, size, &fl, why, sizeof(why)) != 0) {
		fuzz_assert(fl.n == 0 && fl.item == NULL);
		fuzz_assert(why[0] != '\0');
		return (0);
	}
	for (i = 0; i < size; i++)
		if (data[i] == '\n')
			lines++;
	fuzz_assert(fl.n == lines);
	fuzz_assert(size == 0 || data[size - 1] == '\n');
	for (i = 0; i < fl.n; i++) {
		const char *t = fl.item[i].text;

		fuzz_assert(fl.item[i].kind == FWD_FORWARD ||
		    fl.item[i].kind == FWD_LOCAL || fl.item[i].kind == FWD_REFUSED ||
		    fl.item[i].kind == FWD_UNSAFE);
		fuzz_assert(t[0] != '\0');
		fuzz_assert(strchr(t, '\n') == NULL && strchr(t, '\r') == NULL);
	}
	forward_free(&fl);
	return (0);
}
