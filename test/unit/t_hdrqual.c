/*
 * t_hdrqual.c - hdrqual_field(), hdrqual_from(): addresses of relayed
 * header fields qualified, everything else byte for byte.  A table of
 * fields ('\n' is the folding) and the expected result: the same text
 * when nothing changes, U when the field is left alone as unparseable.
 * Then hostile input: 100 KB fields, NUL and 8-bit bytes, deep comments.
 * Last, smtp_msg_load_hdr(): the fields qualified in the wire form of a
 * message, with long lines, long fields and nested messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma.h"
#include "tap.h"

#define U	NULL		/* unparseable: -1, left as it is */

static const struct {
	const char *in;
	const char *want;
} tests[] = {
	/* what cron and friends send */
	{ "From: root", "From: root@mx.example" },
	{ "From: root (Cron Daemon)", "From: root@mx.example (Cron Daemon)" },
	{ "From: Cron Daemon <root>", "From: Cron Daemon <root@mx.example>" },
	{ "To: root", "To: root@mx.example" },
	{ "to:root", "to:root@mx.example" },
	{ "CC:  root  ", "CC:  root@mx.example  " },
	{ "Reply-To: <bob>", "Reply-To: <bob@mx.example>" },
	{ "Sender: daemon", "Sender: daemon@mx.example" },
	/* already qualified: unchanged */
	{ "From: root@host.example", "From: root@host.example" },
	{ "From: Jo <jo@x.org> (work)", "From: Jo <jo@x.org> (work)" },
	{ "To: a@[192.0.2.1]", "To: a@[192.0.2.1]" },
	/* lists, mixed */
	{ "To: a, b@x, \"Q, x\" <c>",
	  "To: a@mx.example, b@x, \"Q, x\" <c@mx.example>" },
	{ "To: a,b,,c", "To: a@mx.example,b@mx.example,,c@mx.example" },
	{ "Cc: a.b, \"q u\".x", "Cc: a.b@mx.example, \"q u\".x@mx.example" },
	{ "To: \"john doe\"", "To: \"john doe\"@mx.example" },
	/* groups */
	{ "To: undisclosed-recipients:;", "To: undisclosed-recipients:;" },
	{ "To: team: a, b@x;, c", "To: team: a@mx.example, b@x;, c@mx.example" },
	{ "To: g: <a> ; ", "To: g: <a@mx.example> ; " },
	/* folding, comments, quoted strings */
	{ "To: a,\n b (x\n y),\n\t\"c\" <d>",
	  "To: a@mx.example,\n b@mx.example (x\n y),\n\t\"c\" <d@mx.example>" },
	{ "From: root (Cron (the (old)) Daemon)",
	  "From: root@mx.example (Cron (the (old)) Daemon)" },
	{ "From: (c) root (d\\) e)", "From: (c) root@mx.example (d\\) e)" },
	{ "From: \"a <b> c\" <x>", "From: \"a <b> c\" <x@mx.example>" },
	{ "From: \"a\\\"b\" <x >", "From: \"a\\\"b\" <x@mx.example >" },
	{ "From: John Q. Public <jqp>", "From: John Q. Public <jqp@mx.example>" },
	{ "From: <@a.example,@b.example:jo@c.example>",
	  "From: <@a.example,@b.example:jo@c.example>" },
	{ "From: =?utf-8?q?J=C3=B6rg?= <jo>",
	  "From: =?utf-8?q?J=C3=B6rg?= <jo@mx.example>" },
	{ "From: J\303\266rg <j\303\266>", "From: J\303\266rg <j\303\266@mx.example>" },
	{ "Return-Path: <>", "Return-Path: <>" },	/* not ours */
	{ "Sender: <>", "Sender: <>" },
	/* not parseable: left alone */
	{ "From: \"unclosed", U },
	{ "From: root (unclosed", U },
	{ "From: root )", U },
	{ "From: <root", U },
	{ "From: root>", U },
	{ "From: John Smith", U },
	{ "From: a@", U },
	{ "From: @x", U },
	{ "From: a.", U },
	{ "From: .a", U },
	{ "From: a..b", U },
	{ "From: x <a> b", U },
	{ "From: a@b c", U },
	{ "To: g: a", U },
	{ "To: a; b", U },
	{ "To: g: h: a;;", U },
	{ "To: [x]", U },
	{ "To: a\r", U },
	{ "To: a\001b", U },
	{ "To: \"a\\", U },
	{ "To: (a\\", U },
};

static const char *
show(const char *s)
{
	return (s == NULL ? "(unparseable)" : s);
}

/* esc - s on one line for a test name: \n and control bytes shown */
static const char *
esc(const char *s)
{
	static char buf[256];
	size_t o = 0;

	for (; *s != '\0' && o + 5 < sizeof(buf); s++) {
		if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if ((unsigned char)*s < 0x20)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\%03o",
			    (unsigned char)*s);
		else
			buf[o++] = *s;
	}
	buf[o] = '\0';
	return (buf);
}

static void
table(void)
{
	char *out;
	size_t i, n, outlen;
	int r, wr;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		n = strlen(tests[i].in);
		r = hdrqual_field(tests[i].in, n, "mx.example", &out, &outlen);
		if (tests[i].want == U) {
			ok(r == -1 && out == NULL, "%s: left alone", esc(tests[i].in));
			continue;
		}
		wr = strcmp(tests[i].in, tests[i].want) != 0;
		if (r == 1) {
			ok(outlen == strlen(out), "%s: length", esc(tests[i].in));
			is_str(out, tests[i].want, "%s", esc(tests[i].in));
		} else {
			ok(r == 0 && !wr && out == NULL, "%s: unchanged (%d)",
			    esc(tests[i].in), r);
			if (wr)
				printf("#   want %s\n", show(tests[i].want));
		}
		free(out);
	}
}

static void
from(void)
{
	static const char f[] = "From: root (Cron\n Daemon)";
	char *out;
	size_t outlen;

	ok(hdrqual_is_from(f, sizeof(f) - 1), "From is From");
	ok(!hdrqual_is_from("Fromx: a", 8), "Fromx is not From");
	ok(hdrqual_wants("reply-to: a", 11), "reply-to is looked at");
	ok(!hdrqual_wants("Subject: a", 10), "Subject is not");
	ok(!hdrqual_wants("From a", 6), "no colon, no field");
	is_int(hdrqual_from(f, sizeof(f) - 1, "cron@ex.org", &out, &outlen), 1,
	    "REWRITEFROM result");
	is_str(out, "From: cron@ex.org\nX-Original-From: root (Cron\n Daemon)",
	    "new From, the old one kept with its folding");
	free(out);
	is_int(hdrqual_from(f, sizeof(f) - 1, "", &out, &outlen), 0,
	    "the null sender leaves From alone");
	ok(out == NULL, "no output then");
}

/* hostile - big, binary and deeply nested input never breaks anything */
static void
hostile(void)
{
	size_t n = 100 * 1024, i, outlen;
	char *f = malloc(n + 1), *out;
	int r;

	/* a 100 KB list of unqualified names: too long, left alone */
	memcpy(f, "To: ", 4);
	for (i = 4; i < n; i++)
		f[i] = (i % 2) ? 'a' : ',';
	f[n] = '\0';
	is_int(hdrqual_field(f, n, "mx.example", &out, &outlen), -1,
	    "100 KB field: left alone");
	/* just under the limit: every address qualified */
	n = HDRQUAL_FIELD_MAX - 1;
	f[n - 1] = 'a';
	r = hdrqual_field(f, n, "m", &out, &outlen);
	is_int(r, 1, "64 KiB list of one-letter names qualified");
	ok(r == 1 && outlen == n + (n - 5) / 2 * 2, "all of them (%zu)", outlen);
	free(out);
	/* a comment nested 50000 deep, closed */
	n = 100 * 1024;
	memcpy(f, "From: a ", 8);
	for (i = 8; i < 8 + 50000; i++)
		f[i] = '(';
	for (; i < 8 + 100000; i++)
		f[i] = ')';
	is_int(hdrqual_field(f, 8 + 100000, "x", &out, &outlen), -1,
	    "deep comment over the limit: left alone");
	for (i = 8; i < 8 + 30000; i++)
		f[i] = '(';
	for (; i < 8 + 60000; i++)
		f[i] = ')';
	is_int(hdrqual_field(f, 8 + 60000, "x", &out, &outlen), 1,
	    "deep comment under the limit: parsed");
	ok(out != NULL && strncmp(out, "From: a@x (((", 13) == 0, "and qualified");
	free(out);
	/* unbalanced: 60000 '(' */
	for (i = 8; i < 8 + 60000; i++)
		f[i] = '(';
	is_int(hdrqual_field(f, 8 + 60000, "x", &out, &outlen), -1,
	    "unbalanced deep comment: left alone");
	/* a NUL byte inside */
	memcpy(f, "To: ab\0c", 8);
	is_int(hdrqual_field(f, 8, "x", &out, &outlen), -1, "NUL: left alone");
	memcpy(f, "To: a (\0) b", 11);
	is_int(hdrqual_field(f, 11, "x", &out, &outlen), -1,
	    "NUL in a comment: left alone");
	/* 8-bit bytes in a comment and a quoted string */
	memcpy(f, "To: \"\377\" <a> (\200)", 15);
	r = hdrqual_field(f, 15, "x", &out, &outlen);
	is_int(r, 1, "8-bit bytes in a quoted string and a comment");
	ok(r == 1 && outlen == 17 && memcmp(out, "To: \"\377\" <a@x> (\200)", 17) == 0,
	    "kept byte for byte");
	free(out);
	/* random bytes never crash and never lose text */
	srand(12);
	for (r = 0; r < 2000; r++) {
		n = 4 + (size_t)(rand() % 60);
		memcpy(f, "Cc: ", 4);
		for (i = 4; i < n; i++)
			f[i] = "a@<>(),;:\"\\. \n\t[]\200\0"[rand() % 20];
		if (hdrqual_field(f, n, "x", &out, &outlen) == 1) {
			if (outlen <= n || memcmp(out, "Cc: ", 4) != 0)
				break;
			free(out);
		}
	}
	is_int(r, 2000, "2000 random fields");
	free(f);
}

/*
 * wire - the DATA payload of message in (len bytes) as smtp_msg_send
 * writes it with h; malloc'ed, *n its length; NULL when the declared
 * size is not the size written or something failed
 */
static char *
wire(const char *in, size_t len, const struct smtp_hdr *h, size_t *n)
{
	struct smtp_conn c;
	struct smtp_msg *m;
	char why[256], *b = NULL;
	FILE *fp = tmpfile();

	if (fp == NULL || fwrite(in, 1, len, fp) != len ||
	    (m = smtp_msg_load_hdr(fp, h, why, sizeof(why))) == NULL)
		return (NULL);
	smtp_conn_mem(&c, "", 0);
	if (smtp_msg_send(&c, m, why, sizeof(why)) == 0 &&
	    smtp_conn_flush(&c, 10) == 0 && smtp_msg_size(m) == c.outlen) {
		b = malloc(c.outlen + 1);
		memcpy(b, c.out, c.outlen);
		b[c.outlen] = '\0';
		*n = c.outlen;
	}
	smtp_conn_close(&c);
	smtp_msg_free(m);
	fclose(fp);
	return (b);
}

/* unfold - s with its line ends as LF, without those before a blank */
static char *
unfold(const char *s, size_t n)
{
	char *b = malloc(n + 1);
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			i++;
		if (s[i] == '\n' && i + 1 < n && (s[i + 1] == ' ' || s[i + 1] == '\t'))
			continue;
		b[o++] = s[i];
	}
	b[o] = '\0';
	return (b);
}

/* same_unfolded - a (an bytes) and b are the same once unfolded */
static int
same_unfolded(const char *a, size_t an, const char *b)
{
	char *x, *y;
	int r;

	if (a == NULL)
		return (0);
	x = unfold(a, an);
	y = unfold(b, strlen(b));
	r = strcmp(x, y) == 0;
	free(x);
	free(y);
	return (r);
}

static void
wire_is(const char *in, const struct smtp_hdr *h, const char *want,
    const char *name)
{
	size_t n = 0;
	char *got = wire(in, strlen(in), h, &n);

	ok(got != NULL && n == strlen(got), "%s: sent, size as declared", name);
	is_str(got, want, "%s", name);
	free(got);
}

/* long_fields - lines and fields past the pieces and the field limit */
static void
long_fields(const struct smtp_hdr *h)
{
	size_t cap = 200000, n = 0, i;
	char *in = malloc(cap), *want = malloc(cap + 100), *got;

	/* an address field with a 20000 byte line: qualified, folded */
	n = (size_t)snprintf(in, cap, "From: root (");
	for (i = 0; i < 4000; i++)
		n += (size_t)snprintf(in + n, cap - n, "word ");
	n += (size_t)snprintf(in + n, cap - n, "end)\nSubject: s\n\nb\n");
	snprintf(want, cap + 100, "From: root@d.example%s", in + 10);
	got = wire(in, n, h, &i);
	ok(same_unfolded(got, i, want),
	    "20000 byte line in From: qualified, folding only added");
	ok(got != NULL && memchr(got, '\0', i) == NULL && strstr(got, "\r\n \r\n") == NULL,
	    "no empty continuation line");
	free(got);

	/* a To field over 64 KiB of short lines: sent as it is */
	n = (size_t)snprintf(in, cap, "To: a0");
	for (i = 1; i < 10000; i++)
		n += (size_t)snprintf(in + n, cap - n, ",\n a%zu", i);
	n += (size_t)snprintf(in + n, cap - n, "\nCc: b\n\nb\n");
	got = wire(in, n, h, &i);
	snprintf(want, cap + 100, "%.*sCc: b@d.example\n\nb\n", (int)(n - 9), in);
	ok(same_unfolded(got, i, want),
	    "over 64 KiB: that field as it is, the next one qualified");
	ok(got != NULL && strstr(got, "a1,\r\n a2,\r\n a3,") != NULL,
	    "its folding kept");
	free(got);

	/* over 64 KiB, crossed in the middle of a 30000 byte line */
	n = (size_t)snprintf(in, cap, "Cc: c (");
	for (i = 0; i < 12000; i++)
		n += (size_t)snprintf(in + n, cap - n, "abcd ");
	n += (size_t)snprintf(in + n, cap - n, ")\n (");
	for (i = 0; i < 6000; i++)
		n += (size_t)snprintf(in + n, cap - n, "efgh ");
	n += (size_t)snprintf(in + n, cap - n, ")\nTo: t\n\nb\n");
	got = wire(in, n, h, &i);
	snprintf(want, cap + 100, "%.*sTo: t@d.example\n\nb\n", (int)(n - 9), in);
	ok(same_unfolded(got, i, want),
	    "a long line crossing 64 KiB: the field as it is");
	free(got);
	free(in);
	free(want);
}

static void
streamed(void)
{
	struct smtp_hdr h = { "d.example", NULL }, r = { "d.example", "s@m.example" };

	wire_is("From: root\nTo: a,\n b (c)\nSubject: x\n\nFrom: root\n.\n", &h,
	    "From: root@d.example\r\nTo: a@d.example,\r\n b@d.example (c)\r\n"
	    "Subject: x\r\n\r\nFrom: root\r\n..\r\n", "header qualified, body not");
	wire_is("From: root\r\nTo: a\r\n\r\nb\r\n", &h,
	    "From: root@d.example\r\nTo: a@d.example\r\n\r\nb\r\n", "CRLF input");
	wire_is("From: root\nTo: a", &h,
	    "From: root@d.example\r\nTo: a@d.example\r\n", "a header without a body");
	wire_is("From: root\nTo: a\n\nb\n", NULL,
	    "From: root\r\nTo: a\r\n\r\nb\r\n", "no smtp_hdr: as it is");
	wire_is("To: \"x <a>\nSubject: y\n\n", &h,
	    "To: \"x <a>\r\nSubject: y\r\n\r\n", "unparseable: as it is");
	wire_is("From: root\nContent-Type: message/rfc822\n\nFrom: root\nTo: a\n\nb\n",
	    &h, "From: root@d.example\r\nContent-Type: message/rfc822\r\n\r\n"
	    "From: root\r\nTo: a\r\n\r\nb\r\n", "an attached message: untouched");
	wire_is("From: root (Cron\n Daemon)\nTo: root\n\nb\n", &r,
	    "From: s@m.example\r\nX-Original-From: root (Cron\r\n Daemon)\r\n"
	    "To: root@d.example\r\n\r\nb\r\n", "REWRITEFROM");
	wire_is("From: \xc3\xa9 <root>\n\n\xc3\xa9\n", &h,
	    "From: \xc3\xa9 <root@d.example>\r\n\r\n\xc3\xa9\r\n", "8-bit display name");
	long_fields(&h);
}

int
main(void)
{
	table();
	from();
	hostile();
	streamed();
	return (done_testing());
}
