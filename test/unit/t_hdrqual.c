/*
 * t_hdrqual.c - hdrqual_field(), hdrqual_from(): addresses of relayed
 * header fields qualified, everything else byte for byte.  A table of
 * fields ('\n' is the folding) and the expected result: the same text
 * when nothing changes, U when the field is left alone as unparseable.
 * Then hostile input: 100 KB fields, NUL and 8-bit bytes, deep comments.
 */
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

int
main(void)
{
	table();
	from();
	hostile();
	return (done_testing());
}
