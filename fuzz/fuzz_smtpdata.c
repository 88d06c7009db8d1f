/*
 * fuzz_smtpdata.c - libFuzzer target for smtp_data_write() (smtpdata.c),
 * the conversion of a queued message into its SMTP DATA wire form.
 *
 * The input is an M file, read through fmemopen().  smtp_data_write() is
 * run first counting only (c == NULL, as for SIZE=), then writing into a
 * memory connection.  Checks: both runs agree on size and 8-bit flag, the
 * bytes written are the size counted, and the wire form is what RFC 5321
 * asks for: CRLF line ends only, no line over 998 bytes, every line that
 * starts with '.' dot-stuffed, a final CRLF, and 8-bit bytes only when
 * reported.  When no line needs more than 998 bytes, the wire form is
 * exactly the input with CRLF line ends and dot-stuffing (nothing is
 * re-encoded or folded without need).
 */
#include "dma.h"
#include "fuzz.h"

static void
check_wire(const char *w, size_t n, int has8bit)
{
	size_t i, start = 0;
	int seen8 = 0;

	if (n > 0 && (n < 2 || w[n - 2] != '\r' || w[n - 1] != '\n'))
		fuzz_fail("wire form does not end with CRLF");
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)w[i];

		if (ch >= 0x80)
			seen8 = 1;
		if (ch == '\r' && (i + 1 >= n || w[i + 1] != '\n'))
			fuzz_fail("bare CR at %zu", i);
		if (ch == '\n' && (i == 0 || w[i - 1] != '\r'))
			fuzz_fail("bare LF at %zu", i);
		if (ch != '\n')
			continue;
		/* Line [start, i - 1) without CRLF. */
		if (i - 1 - start > 998)
			fuzz_fail("line of %zu bytes at %zu", i - 1 - start, start);
		if (w[start] == '.' && (i - 1 - start < 2 || w[start + 1] != '.'))
			fuzz_fail("line at %zu not dot-stuffed", start);
		start = i + 1;
	}
	if (seen8 != has8bit)
		fuzz_fail("8-bit flag %d, 8-bit bytes %d", has8bit, seen8);
}

/*
 * plain_wire - the input with every line end (LF, CRLF, CR) made CRLF and
 * dot-stuffed; *fits is cleared if a line would exceed 998 bytes.
 */
static char *
plain_wire(const uint8_t *in, size_t n, size_t *outlen, int *fits)
{
	char *w = xmalloc(n * 3 + 3);
	size_t i = 0, o = 0, start;

	*fits = 1;
	while (i < n) {
		start = o;
		if (in[i] == '.')
			w[o++] = '.';
		while (i < n && in[i] != '\n' && in[i] != '\r')
			w[o++] = (char)in[i++];
		if (o - start > 998)
			*fits = 0;
		if (i < n && in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
			i++;
		i++;
		w[o++] = '\r';
		w[o++] = '\n';
	}
	*outlen = o;
	return (w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_conn c;
	size_t size1 = 0, size2 = 0;
	int h1 = -1, h2 = -1;
	char why[256], *plain;
	size_t plen;
	int fits;
	FILE *fp;

	fp = fuzz_memfile(data, size);
	why[0] = '\0';
	if (smtp_data_write(NULL, fp, &size1, &h1, why, sizeof(why)) != 0)
		fuzz_fail("counting failed: %s", why);
	smtp_conn_mem(&c, "", 0);
	if (smtp_data_write(&c, fp, &size2, &h2, why, sizeof(why)) != 0)
		fuzz_fail("writing to memory failed: %s", why);
	fclose(fp);
	if (size1 != size2 || h1 != h2)
		fuzz_fail("count %zu/%d, write %zu/%d", size1, h1, size2, h2);
	if (c.outlen != size2)
		fuzz_fail("wrote %zu bytes, counted %zu", c.outlen, size2);
	check_wire(c.out != NULL ? c.out : "", c.outlen, h2);
	plain = plain_wire(data, size, &plen, &fits);
	if (fits && (plen != c.outlen ||
	    (plen > 0 && memcmp(plain, c.out, plen) != 0)))
		fuzz_fail("a message with short lines was changed");
	free(plain);
	smtp_conn_close(&c);
	return (0);
}
