/*
 * fuzz_reply.c - libFuzzer target for smtp_read_reply() (net.c), the SMTP
 * reply reader, over the memory source of smtp_conn_mem().
 *
 * The input is a server's byte stream; replies are read until the reader
 * reports an error or EOF.  Checks the contract of dma.h: a good reply
 * has a code 200..559, 1..SMTP_REPLY_LINES lines and sanitised text below
 * REASON_MAX; the per-line callback sees every line in order, each under
 * SMTP_LINE_MAX bytes; an error marks the connection broken, code 0.
 */
#include "dma.h"
#include "fuzz.h"

struct seen {
	int	 next;		/* index expected by the callback */
};

static void
online(void *arg, int idx, const char *line, size_t len)
{
	struct seen *s = arg;
	size_t i;

	if (idx != s->next)
		fuzz_fail("callback line %d, expected %d", idx, s->next);
	s->next++;
	if (len >= SMTP_LINE_MAX || strlen(line) != len)
		fuzz_fail("callback line of %zu bytes", len);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			fuzz_fail("control byte 0x%02x in a reply line", ch);
	}
}

static void
check_text(const char *text)
{
	const char *p;
	size_t n;

	if ((p = memchr(text, '\0', REASON_MAX)) == NULL)
		fuzz_fail("reply text not terminated");
	for (n = 0; text + n < p; n++) {
		unsigned char ch = (unsigned char)text[n];

		if ((ch < 0x20 && ch != '\t' && ch != '\n') || ch == 0x7f)
			fuzz_fail("control byte 0x%02x in reply text", ch);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_conn c;
	struct smtp_reply r;
	struct seen s;
	int err, nreplies = 0;

	smtp_conn_mem(&c, data, size);
	for (;;) {
		memset(&r, 0, sizeof(r));
		s.next = 0;
		r.online = online;
		r.arg = &s;
		err = smtp_read_reply(&c, 1, &r);
		check_text(r.text);
		if (err != SMTP_ROK)
			break;
		if (r.code < 200 || r.code > 559)
			fuzz_fail("reply code %d", r.code);
		if (r.nlines < 1 || r.nlines > SMTP_REPLY_LINES || r.nlines != s.next)
			fuzz_fail("reply of %d lines, %d seen", r.nlines, s.next);
		if (c.broken)
			fuzz_fail("good reply on a broken connection");
		if (++nreplies > (int)size)
			fuzz_fail("more replies than input bytes");
	}
	if (err > 0 || err < SMTP_RMANY)
		fuzz_fail("unknown result %d", err);
	if (err == SMTP_RTIMEOUT || err == SMTP_RIO)
		fuzz_fail("memory source gave %d", err);
	if (!c.broken || r.code != 0 || r.text[0] == '\0')
		fuzz_fail("error %d not recorded", err);
	smtp_conn_close(&c);
	return (0);
}
