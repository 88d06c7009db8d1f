/*
 * fuzz_hdrqual.c - libFuzzer target for hdrqual.c and its use in
 * smtpdata.c: the qualification of header addresses of relayed mail.
 *
 * The input is used twice.  As the value of a To: field (the first byte
 * picks the field name), hdrqual_field() must return -1, 0 or 1, and on 1
 * its output must be the input with only "@" and the domain added, each
 * time after a word (never inside the name).  As a whole M file,
 * smtp_msg_load_hdr() with a domain and a REWRITEFROM address must count
 * exactly the bytes it writes, with CRLF line ends only and no line over
 * 998 bytes.
 */
#include "dma.h"
#include "fuzz.h"

#define DOM	"q.example"

static const char *const names[] = {
	"To:", "From:", "cc:", "Reply-To:", "Sender:", "Subject:",
};

/* strip - s without every "@" DOM; its new length */
static size_t
strip(char *s, size_t n)
{
	size_t i, o = 0, k = sizeof(DOM);	/* "@" DOM */

	for (i = 0; i < n; i++) {
		if (s[i] == '@' && n - i >= k && memcmp(s + i + 1, DOM, k - 1) == 0) {
			i += k - 1;
			continue;
		}
		s[o++] = s[i];
	}
	return (o);
}

static void
one_field(const uint8_t *data, size_t size)
{
	const char *name = names[size > 0 ? data[0] % 6 : 0];
	size_t nl = strlen(name), n, outlen, a, b;
	char *f, *out;
	int r;

	if (size > 0) {
		data++;
		size--;
	}
	n = nl + size;
	f = xmalloc(n + 1);
	memcpy(f, name, nl);
	memcpy(f + nl, data, size);
	r = hdrqual_field(f, n, DOM, &out, &outlen);
	if (r < -1 || r > 1)
		fuzz_fail("result %d", r);
	if (r != 1 && out != NULL)
		fuzz_fail("output without a change");
	if (r == 1) {
		if (out == NULL || outlen <= n || out[outlen] != '\0')
			fuzz_fail("bad output");
		if (memcmp(out, f, nl) != 0)
			fuzz_fail("field name changed");
		if ((outlen - n) % sizeof(DOM) != 0)
			fuzz_fail("added %zu bytes", outlen - n);
		a = strip(out, outlen);
		b = strip(f, n);
		if (a != b || memcmp(out, f, a) != 0)
			fuzz_fail("more than the domain changed");
		free(out);
	}
	free(f);
}

static void
whole_message(const uint8_t *data, size_t size)
{
	struct smtp_hdr h = { DOM, "s@" DOM };
	struct smtp_conn c;
	struct smtp_msg *m;
	char why[256];
	size_t i, start = 0;
	FILE *fp;

	fp = fuzz_memfile(data, size);
	if ((m = smtp_msg_load_hdr(fp, &h, why, sizeof(why))) == NULL)
		fuzz_fail("load failed: %s", why);
	smtp_conn_mem(&c, "", 0);
	if (smtp_msg_send(&c, m, why, sizeof(why)) != 0 ||
	    smtp_conn_flush(&c, 10) != 0)
		fuzz_fail("send failed");
	if (c.outlen != smtp_msg_size(m))
		fuzz_fail("wrote %zu bytes, counted %zu", c.outlen, smtp_msg_size(m));
	for (i = 0; i < c.outlen; i++) {
		if (c.out[i] == '\r' && (i + 1 >= c.outlen || c.out[i + 1] != '\n'))
			fuzz_fail("bare CR at %zu", i);
		if (c.out[i] != '\n')
			continue;
		if (i == 0 || c.out[i - 1] != '\r')
			fuzz_fail("bare LF at %zu", i);
		if (i - 1 - start > 998)
			fuzz_fail("line of %zu bytes", i - 1 - start);
		start = i + 1;
	}
	smtp_msg_free(m);
	smtp_conn_close(&c);
	fclose(fp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one_field(data, size);
	whole_message(data, size);
	return (0);
}
