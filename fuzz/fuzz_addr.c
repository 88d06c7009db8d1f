/*
 * fuzz_addr.c - libFuzzer target for mail_parse_addrs() (mail.c), the
 * header address parser used by -t.
 *
 * The input is one header value as a NUL-terminated string.  Besides
 * memory errors it checks the contract of dma.h: success gives a NULL
 * terminated array of non-empty addresses shorter than ADDR_MAX without
 * line breaks; failure gives *addrs NULL and a reason.  Each address
 * returned parses again as itself alone (the output is canonical).  The
 * input is also given to addr_check(), the envelope check: what it
 * accepts can not close an SMTP path (no '<', '>', control characters or
 * blanks outside quotes) and fits the RFC 5321 lengths.
 */
#include "dma.h"
#include "fuzz.h"

/*
 * envelope_check - addr_check() on any string: an accepted address
 * has no control character, no '<' or '>', no blank outside quotes, and
 * fits the length limits; a refused one has a reason.
 */
static void
envelope_check(const char *addr)
{
	const char *p;
	char why[256];
	int inq = 0;

	why[0] = '\0';
	if (addr_check(addr, ADDR_BARE, why, sizeof(why)) != 0) {
		fuzz_why_check(why, sizeof(why));
		return;
	}
	if (strlen(addr) > 64 + 1 + 255)
		fuzz_fail("accepted `%s' of %zu bytes", addr, strlen(addr));
	for (p = addr; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f || c == '<' || c == '>')
			fuzz_fail("accepted `%s' with byte 0x%02x", addr, c);
		if (inq && c == '\\' && p[1] != '\0')
			p++;
		else if (c == '"')
			inq = !inq;
		else if (!inq && c == ' ')
			fuzz_fail("accepted `%s' with a blank outside quotes", addr);
	}
}

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
	envelope_check(value);
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
