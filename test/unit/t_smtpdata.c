/*
 * t_smtpdata.c - smtp_data_write(): the wire form of a queued message.
 * CRLF canonicalisation, dot-stuffing, binary safety, the declared size,
 * 8-bit detection, and the re-encoding of lines over 998 bytes (QP for
 * single parts, soft breaks for QP, cuts for base64, per-part in
 * multiparts, header folding).  Memory only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma.h"
#include "tap.h"

#define QP_TEST_MAX 77	/* 76 plus a stuffed dot */

struct out {
	char	*buf;
	size_t	 len;
	size_t	 size;		/* as counted without a connection */
	int	 h8;
	int	 ret;
};

static struct out
run(const char *in, size_t len)
{
	struct smtp_conn c;
	struct out o;
	char why[256];
	size_t wsize;
	int wh8;
	FILE *fp = tmpfile(), *fp2 = tmpfile();

	memset(&o, 0, sizeof(o));
	if (fp == NULL || fp2 == NULL || fwrite(in, 1, len, fp) != len ||
	    fwrite(in, 1, len, fp2) != len) {
		o.ret = -3;
		return (o);
	}
	smtp_conn_mem(&c, "", 0);
	o.ret = smtp_data_write(&c, fp, &wsize, &wh8, why, sizeof(why));
	o.buf = malloc(c.outlen + 1);
	if (c.outlen)
		memcpy(o.buf, c.out, c.outlen);
	o.buf[c.outlen] = '\0';
	o.len = c.outlen;
	smtp_conn_close(&c);
	if (smtp_data_write(NULL, fp2, &o.size, &o.h8, why, sizeof(why)) != 0)
		o.ret = -1;
	if (o.size != wsize || o.h8 != wh8)
		o.ret = -2;
	fclose(fp);
	fclose(fp2);
	return (o);
}

static struct out
runs(const char *in)
{
	return (run(in, strlen(in)));
}

/* wire_ok - only CRLF line ends, no line over 998 bytes */
static int
wire_ok(const struct out *o, size_t maxline)
{
	size_t i, col = 0;

	for (i = 0; i < o->len; i++) {
		if (o->buf[i] == '\r') {
			if (i + 1 >= o->len || o->buf[i + 1] != '\n')
				return (0);
			i++;
			col = 0;
		} else if (o->buf[i] == '\n')
			return (0);
		else if (++col > maxline)
			return (0);
	}
	return (col == 0);
}

/* unstuff - what a server stores: leading dot of a line removed */
static char *
unstuff(const struct out *o, size_t *len)
{
	char *r = malloc(o->len + 1);
	size_t i, n = 0;
	int bol = 1;

	for (i = 0; i < o->len; i++) {
		if (bol && o->buf[i] == '.') {
			bol = 0;
			continue;
		}
		bol = o->buf[i] == '\n';
		r[n++] = o->buf[i];
	}
	r[n] = '\0';
	*len = n;
	return (r);
}

static int
hexv(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* qp_decode - RFC 2045 decoding of s[0..n) (CRLF line ends) */
static char *
qp_decode(const char *s, size_t n, size_t *olen)
{
	char *r = malloc(n + 1);
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '=' && i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
		} else if (s[i] == '=' && i + 2 < n && hexv(s[i + 1]) >= 0 &&
		    hexv(s[i + 2]) >= 0) {
			r[o++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
			i += 2;
		} else
			r[o++] = s[i];
	}
	r[o] = '\0';
	*olen = o;
	return (r);
}

/* body_of - text after the first empty line (CRLF CRLF) */
static const char *
body_of(const char *s)
{
	const char *p = strstr(s, "\r\n\r\n");

	return (p != NULL ? p + 4 : "");
}

static char *
rep(const char *unit, int n)
{
	size_t ul = strlen(unit);
	char *s = malloc(ul * (size_t)n + 1);
	int i;

	for (i = 0; i < n; i++)
		memcpy(s + ul * (size_t)i, unit, ul);
	s[ul * (size_t)n] = '\0';
	return (s);
}

static void
test_simple(void)
{
	static const struct {
		const char *name, *in, *want;
		int h8;
	} t[] = {
		{ "LF", "a\nb\n", "a\r\nb\r\n", 0 },
		{ "CRLF kept single", "a\r\nb\r\n", "a\r\nb\r\n", 0 },
		{ "bare CR", "a\rb\r", "a\r\nb\r\n", 0 },
		{ "mixed ends", "a\nb\r\nc\rd", "a\r\nb\r\nc\r\nd\r\n", 0 },
		{ "CR CR LF", "a\r\r\nb\n", "a\r\n\r\nb\r\n", 0 },
		{ "no final newline", "x", "x\r\n", 0 },
		{ "dot-stuffing", ".x\n..\n.\nx.\n", "..x\r\n...\r\n..\r\nx.\r\n", 0 },
		{ "empty lines", "\n\n", "\r\n\r\n", 0 },
		{ "8-bit", "Subject: x\n\n\xc3\xa9\n", "Subject: x\r\n\r\n\xc3\xa9\r\n", 1 },
		{ "empty", "", "", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct out o = runs(t[i].in);

		is_int(o.ret, 0, "%s: ok", t[i].name);
		is_str(o.buf, t[i].want, "%s: wire", t[i].name);
		is_int(o.size, strlen(t[i].want), "%s: size", t[i].name);
		is_int(o.h8, t[i].h8, "%s: 8bit", t[i].name);
		free(o.buf);
	}
}

static void
test_nul(void)
{
	static const char in[] = "H: x\n\na\0b\n";
	static const char want[] = "H: x\r\n\r\na\0b\r\n";
	struct out o = run(in, sizeof(in) - 1);

	is_int(o.len, sizeof(want) - 1, "NUL in a short line: length");
	ok(o.len == sizeof(want) - 1 && memcmp(o.buf, want, o.len) == 0,
	    "NUL in a short line: sent as is");
	free(o.buf);
}

static void
test_exact_998(void)
{
	char *line = rep("x", 998), *in, *want;
	struct out o;

	in = xasprintf("Subject: t\n\n%s\n", line);
	want = xasprintf("Subject: t\r\n\r\n%s\r\n", line);
	o = runs(in);
	is_str(o.buf, want, "998-byte line: unchanged");
	free(o.buf);
	free(in);
	free(want);
	/* The same with a leading dot is 999 on the wire: re-encoded. */
	line[0] = '.';
	in = xasprintf("Subject: t\n\n%s\n", line);
	o = runs(in);
	ok(wire_ok(&o, 998), "998 bytes starting with a dot: fits on the wire");
	ok(strstr(o.buf, "quoted-printable") != NULL, "... by QP re-encoding");
	free(o.buf);
	free(in);
	free(line);
}

static void
check_qp_single(const char *name, const char *hdr, const char *body)
{
	char *in = xasprintf("%s\n%s", hdr, body), *un, *dec, *want;
	struct out o = runs(in);
	size_t ul, dl, i, j;

	is_int(o.ret, 0, "%s: ok", name);
	ok(wire_ok(&o, QP_TEST_MAX), "%s: lines <= %d", name, QP_TEST_MAX);
	ok(strstr(o.buf, "\r\nContent-Transfer-Encoding: quoted-printable\r\n") != NULL,
	    "%s: QP declared", name);
	un = unstuff(&o, &ul);
	dec = qp_decode(body_of(un), ul - (size_t)(body_of(un) - un), &dl);
	want = malloc(strlen(body) * 2 + 1);
	for (i = j = 0; body[i] != '\0'; i++) {
		if (body[i] == '\n')
			want[j++] = '\r';
		want[j++] = body[i];
	}
	want[j] = '\0';
	is_int(dl, j, "%s: decoded length", name);
	ok(dl == j && memcmp(dec, want, j) == 0, "%s: decodes to the original", name);
	free(in);
	free(un);
	free(dec);
	free(want);
	free(o.buf);
}


static void
test_qp(void)
{
	char *longl = rep("abc=def ", 300), *body;
	struct out o;
	char *in;

	body = xasprintf("%s \n.dot line\nshort\n", longl);
	check_qp_single("plain long line", "From: a@b\nSubject: t\n", body);
	in = xasprintf("From: a@b\nSubject: t\n\n%s", body);
	o = runs(in);
	free(in);
	ok(strncmp(o.buf, "From: a@b\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", 87) == 0,
	    "plain long line: MIME-Version and CTE added at the header end");
	free(o.buf);
	free(body);

	body = xasprintf("%s\xc3\xa9\t\n", longl);
	check_qp_single("existing 8bit CTE", "MIME-Version: 1.0\n"
	    "Content-Transfer-Encoding:\n 8bit\nSubject: t\n", body);
	in = xasprintf("MIME-Version: 1.0\nContent-Transfer-Encoding:\n 8bit\nSubject: t\n\n%s",
	    body);
	o = runs(in);
	ok(strstr(o.buf, "8bit") == NULL, "old CTE and its continuation removed");
	ok(strstr(o.buf, "MIME-Version: 1.0\r\nSubject: t\r\nContent-Transfer-Encoding: "
	    "quoted-printable\r\n\r\n") != NULL, "MIME-Version not duplicated");
	is_int(o.h8, 0, "re-encoded 8-bit body is 7bit on the wire");
	free(o.buf);
	free(in);
	free(body);

	{
		size_t ll = strlen(longl);
		char *raw = malloc(ll + 32);
		size_t n;

		n = (size_t)sprintf(raw, "Subject: t\n\n");
		memcpy(raw + n, longl, ll);
		n += ll;
		memcpy(raw + n, "\0tail\n", 6);
		n += 6;
		o = run(raw, n);
		ok(strstr(o.buf, "=00tail") != NULL, "NUL in a long line becomes =00");
		ok(wire_ok(&o, QP_TEST_MAX), "NUL long line: wire ok");
		free(o.buf);
		free(raw);
	}
	free(longl);
}

static void
test_existing_qp(void)
{
	char *longl = rep("=C3=A9a", 300), *in, *un, *dec, *want, *wdec;
	struct out o;
	size_t ul, dl, wl;

	in = xasprintf("MIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\n%s\n",
	    longl);
	o = runs(in);
	ok(wire_ok(&o, QP_TEST_MAX), "long QP line: soft breaks");
	ok(strstr(o.buf, "=3D") == NULL, "long QP line: not encoded twice");
	ok(strstr(o.buf, "Content-Transfer-Encoding: quoted-printable\r\n\r\n") != NULL &&
	    strstr(o.buf, "MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable")
	    == o.buf, "long QP line: header unchanged");
	un = unstuff(&o, &ul);
	dec = qp_decode(body_of(un), strlen(body_of(un)), &dl);
	want = xasprintf("%s\r\n", longl);
	wdec = qp_decode(want, strlen(want), &wl);
	ok(dl == wl && memcmp(dec, wdec, dl) == 0, "long QP line: same decoded content");
	free(o.buf);
	free(in);
	free(un);
	free(dec);
	free(want);
	free(wdec);
	free(longl);
}

static void
test_base64(void)
{
	char *longl = rep("QUJD", 500), *in, *joined;
	struct out o;
	const char *b;
	size_t i, n = 0;

	in = xasprintf("Content-Transfer-Encoding: base64\n\n%s\n", longl);
	o = runs(in);
	ok(wire_ok(&o, 76), "long base64 line: cut at 76");
	ok(strncmp(o.buf, "Content-Transfer-Encoding: base64\r\n\r\n", 37) == 0,
	    "long base64 line: header unchanged");
	b = body_of(o.buf);
	joined = malloc(strlen(b) + 1);
	for (i = 0; b[i] != '\0'; i++)
		if (b[i] != '\r' && b[i] != '\n')
			joined[n++] = b[i];
	joined[n] = '\0';
	is_str(joined, longl, "long base64 line: same characters");
	free(joined);
	free(o.buf);
	free(in);
	free(longl);
}

static void
test_multipart(void)
{
	char *longl = rep("0123456789 ", 150), *in;
	const char *p1;
	struct out o;
	const char *part2, *end;
	size_t dl;
	char *dec, *want;

	in = xasprintf("MIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed;\n boundary=\"b1 (x)\"\n"
	    "Subject: mp\n\n"
	    "preamble\n"
	    "--b1 (x)\n"
	    "Content-Type: text/plain\n\n"
	    "short part = unchanged\n"
	    "--b1 (x)\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\n"
	    "%s\n"
	    "second line\n"
	    "--b1 (x)--\n"
	    "epilogue\n", longl);
	o = runs(in);
	ok(wire_ok(&o, 998), "multipart: wire ok");
	p1 = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\"b1 (x)\"\r\n"
	    "Subject: mp\r\n\r\npreamble\r\n--b1 (x)\r\nContent-Type: text/plain\r\n\r\n"
	    "short part = unchanged\r\n--b1 (x)\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
	ok(strncmp(o.buf, p1, strlen(p1)) == 0,
	    "multipart: top header, first part unchanged, second part re-declared");
	part2 = o.buf + strlen(p1);
	end = strstr(part2, "\r\n--b1 (x)--\r\nepilogue\r\n");
	ok(end != NULL && end[24] == '\0', "multipart: close delimiter and epilogue kept");
	if (end != NULL) {
		dec = qp_decode(part2, (size_t)(end - part2), &dl);
		want = xasprintf("%s\r\nsecond line", longl);
		is_str(dec, want, "multipart: second part decodes to the original");
		free(dec);
		free(want);
	}
	ok(strstr(o.buf, "MIME-Version: 1.0\r\nContent-Type: multipart") == o.buf &&
	    strstr(o.buf + 1, "MIME-Version") == NULL, "multipart: no MIME-Version added");
	free(o.buf);
	free(in);
	free(longl);
}

static void
test_header_fold(void)
{
	char *words = rep("word ", 500), *in, *want, *un, *p, *q;
	struct out o;
	size_t ul;

	in = xasprintf("Subject: %sEND\nX: y\n\nbody\n", words);
	o = runs(in);
	ok(wire_ok(&o, 998), "long header: folded to <= 998");
	un = unstuff(&o, &ul);
	/* Unfold: CRLF followed by WSP disappears. */
	for (p = q = un; *p != '\0'; p++) {
		if (p[0] == '\r' && p[1] == '\n' && (p[2] == ' ' || p[2] == '\t')) {
			p++;
			continue;
		}
		*q++ = *p;
	}
	*q = '\0';
	want = xasprintf("Subject: %sEND\r\nX: y\r\n\r\nbody\r\n", words);
	is_str(un, want, "long header: unfolding gives the original");
	is_int(o.size, o.len, "long header: size");
	free(o.buf);
	free(in);
	free(un);
	free(want);
	free(words);

	words = rep("y", 2500);
	in = xasprintf("X-Long: %s\n\nb\n", words);
	o = runs(in);
	ok(wire_ok(&o, 998), "header without whitespace: cut to <= 998");
	ok(strstr(o.buf, "yy\r\n yy") != NULL, "header without whitespace: continued");
	ok(strstr(o.buf, "\r\n\r\nb\r\n") != NULL, "header without whitespace: body intact");
	free(o.buf);
	free(in);
	free(words);
}

static void
test_rfc822(void)
{
	char *longl = rep("z", 1200), *in;
	struct out o;

	in = xasprintf("MIME-Version: 1.0\nContent-Type: message/rfc822\n\n"
	    "From: inner@x\nSubject: inner\n\n%s\n", longl);
	o = runs(in);
	ok(wire_ok(&o, 998), "message/rfc822: wire ok");
	ok(strstr(o.buf, "Content-Type: message/rfc822\r\n\r\nFrom: inner@x\r\n"
	    "Subject: inner\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\nzzz") != NULL,
	    "message/rfc822: the inner message is re-encoded, the outer kept");
	free(o.buf);
	free(in);
	free(longl);
}

/*
 * Multipart lines outside the parts (preamble, delimiter with padding,
 * epilogue) that fit on the wire are sent unchanged: they used to be cut
 * at 997 bytes, one short of the limit.
 */
static void
test_multipart_998(void)
{
	char *pre = rep("p", 998), *pad = rep(" ", 998 - 6), *epi = rep("e", 998);
	char *in, *want;
	struct out o;

	in = xasprintf("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b1\n\n"
	    "%s\n--b1\n\nx\n--b1--%s\n%s\n", pre, pad, epi);
	want = xasprintf("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n"
	    "\r\n%s\r\n--b1\r\n\r\nx\r\n--b1--%s\r\n%s\r\n", pre, pad, epi);
	o = runs(in);
	is_str(o.buf, want, "multipart: 998-byte preamble, delimiter, epilogue unchanged");
	free(o.buf);
	free(in);
	free(want);
	pre[0] = '.';
	in = xasprintf("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b1\n\n"
	    "%s\n--b1\n\nx\n--b1--\n", pre);
	o = runs(in);
	ok(wire_ok(&o, 998), "multipart: 998-byte preamble with a dot is cut to fit");
	free(o.buf);
	free(in);
	free(pre);
	free(pad);
	free(epi);
}

/* utf8hdr - smtp_msg_utf8hdr() of the message in */
static int
utf8hdr(const char *in)
{
	struct smtp_msg *m;
	char why[256];
	FILE *fp = tmpfile();
	int r = -1;

	if (fp == NULL || fwrite(in, 1, strlen(in), fp) != strlen(in))
		return (-3);
	if ((m = smtp_msg_load(fp, why, sizeof(why))) != NULL) {
		r = smtp_msg_utf8hdr(m);
		smtp_msg_free(m);
	}
	fclose(fp);
	return (r);
}

/* utf8_whole - every UTF-8 sequence of o is complete (no cut inside one) */
static int
utf8_whole(const struct out *o)
{
	const unsigned char *p = (const unsigned char *)o->buf;
	size_t n;

	while (*p != '\0') {
		if ((n = utf8_seq(p)) == 0)
			return (0);
		p += n;
	}
	return (1);
}

static void
test_utf8_header(void)
{
	char *words, *in;
	struct out o;

	is_int(utf8hdr("Subject: Gr\xc3\xbc\xc3\x9f\x65\n\nbody\n"), 1,
	    "UTF-8 Subject: needs SMTPUTF8");
	is_int(utf8hdr("Subject: x\nTo: j\xc3\xb6rg@x.org\n\nbody\n"), 1,
	    "UTF-8 address in To: needs SMTPUTF8");
	is_int(utf8hdr("Subject: x\n\nGr\xc3\xbc\xc3\x9f\x65\n"), 0,
	    "8-bit body only: no SMTPUTF8");
	is_int(utf8hdr("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n\nbody\n"), 0,
	    "encoded word: no SMTPUTF8");
	is_int(utf8hdr("MIME-Version: 1.0\nContent-Type: multipart/mixed; "
	    "boundary=b\n\n--b\nContent-Disposition: attachment; "
	    "filename=\"\xc3\xa4.txt\"\n\nx\n--b--\n"), 0,
	    "UTF-8 in a MIME part header only: no SMTPUTF8");

	/* a header with no blank to fold at: cut between characters */
	words = rep("\xc3\xa4", 1500);
	in = xasprintf("X-Long:x%s\n\nb\n", words);
	o = runs(in);
	ok(wire_ok(&o, 998), "UTF-8 header without whitespace: cut to <= 998");
	ok(utf8_whole(&o), "UTF-8 header without whitespace: no character cut");
	free(o.buf);
	free(in);
	free(words);
}

int
main(void)
{
	test_simple();
	test_nul();
	test_exact_998();
	test_qp();
	test_existing_qp();
	test_base64();
	test_multipart();
	test_multipart_998();
	test_header_fold();
	test_rfc822();
	test_utf8_header();
	return (done_testing());
}
