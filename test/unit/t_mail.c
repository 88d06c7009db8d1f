/*
 * t_mail.c - mail_read() intake and mail_bounce_write().
 *
 * Each case runs mail_read over an fmemopen()'d input into an
 * open_memstream() buffer and compares the exact bytes, with the values
 * that change from run to run (dates, generated Message-Id) masked.
 * Only remote addresses are used with -t, so no passwd lookups happen.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dma.h"
#include "tap.h"

#define MSGID		"a1b2c3"
#define SENDER		"tuser@testhost"
/* The headers mail_read adds, as they look after masking. */
#define ADDED		"Date: DATE\nMessage-Id: <MID>\nFrom: <" SENDER ">\n"
#define ADDED_DM	"Date: DATE\nMessage-Id: <MID>\n"

/* B(s) - a byte string with its exact length (may contain NUL) */
#define B(s)		s, sizeof(s) - 1

enum { DOT = 1, EXTRACT = 2 };

static const struct mtest {
	const char *name;
	const char *in;
	size_t	 inlen;
	const char *want;	/* output after the Received header, masked */
	size_t	 wantlen;
	int	 flags;
	const char *fullname;
	const char *rcpts;	/* -t: expected recipients joined with '|' */
	enum mail_err err;
} tests[] = {
	{ "plain message",
	    B("Subject: hi\nTo: a@x.org\n\nbody\n"),
	    B("Subject: hi\nTo: a@x.org\n" ADDED "\nbody\n"), DOT, NULL, NULL, MAIL_OK },
	{ "no header: first line is body",
	    B("test\n"),
	    B(ADDED "\ntest\n"), DOT, NULL, NULL, MAIL_OK },
	{ "no header: two lines",
	    B("hello world\nmore: x\n"),
	    B(ADDED "\nhello world\nmore: x\n"), DOT, NULL, NULL, MAIL_OK },
	{ "non-header line ends the header section",
	    B("Subject: s\nhello world\nmore\n"),
	    B("Subject: s\n" ADDED "\nhello world\nmore\n"), DOT, NULL, NULL, MAIL_OK },
	{ "space before colon is a header (obsolete syntax)",
	    B("Subject: s\nTo : a@x.org\nX-A\t \t: b\n\nbody\n"),
	    B("Subject: s\nTo : a@x.org\nX-A\t \t: b\n" ADDED "\nbody\n"), DOT, NULL, NULL,
	    MAIL_OK },
	{ "Subject with spaces before the colon keeps the header section",
	    B("Subject  : x\nX-Later: y\n\nbody\n"),
	    B("Subject  : x\nX-Later: y\n" ADDED "\nbody\n"), DOT, NULL, NULL, MAIL_OK },
	{ "two words before a colon are no header",
	    B("Subject: s\nhello world: x\n"),
	    B("Subject: s\n" ADDED "\nhello world: x\n"), DOT, NULL, NULL, MAIL_OK },
	{ "blanks without a colon are no header",
	    B("Subject: s\nTo  \n"),
	    B("Subject: s\n" ADDED "\nTo  \n"), DOT, NULL, NULL, MAIL_OK },
	{ "empty field name is no header",
	    B(":x\n"),
	    B(ADDED "\n:x\n"), DOT, NULL, NULL, MAIL_OK },
	{ "continuation as first line is no header",
	    B(" indented\nSubject: s\n"),
	    B(ADDED "\n indented\nSubject: s\n"), DOT, NULL, NULL, MAIL_OK },
	{ "headers only",
	    B("Subject: hi\n"),
	    B("Subject: hi\n" ADDED "\n"), DOT, NULL, NULL, MAIL_OK },
	{ "headers only, no final newline",
	    B("Subject: hi"),
	    B("Subject: hi\n" ADDED "\n"), DOT, NULL, NULL, MAIL_OK },
	{ "empty input",
	    B(""),
	    B(ADDED "\n"), DOT, NULL, NULL, MAIL_OK },
	{ "empty line only",
	    B("\n"),
	    B(ADDED "\n"), DOT, NULL, NULL, MAIL_OK },
	{ "missing final newline added",
	    B("Subject: s\n\nbody"),
	    B("Subject: s\n" ADDED "\nbody\n"), DOT, NULL, NULL, MAIL_OK },
	{ "CRLF: header/body split and Bcc removal",
	    B("Subject: hi\r\nBcc: b@y.org,\r\n c@z.org\r\nTo: a@x.org\r\n\r\nbody\r\nBcc: kept\r\n"),
	    B("Subject: hi\nTo: a@x.org\n" ADDED "\nbody\nBcc: kept\n"), DOT, NULL, NULL, MAIL_OK },
	{ "CRLF: .\\r\\n ends input",
	    B("Subject: s\r\n\r\nline\r\n.\r\nnot read\r\n"),
	    B("Subject: s\n" ADDED "\nline\n"), DOT, NULL, NULL, MAIL_OK },
	{ "CRLF: -t",
	    B("To: a@x.org,\r\n b@y.org\r\nBcc: c@z.org\r\nSubject: s\r\n\r\nTo: body@x.org\r\n.\r\n"),
	    B("To: a@x.org,\n b@y.org\nSubject: s\n" ADDED "\nTo: body@x.org\n"),
	    DOT | EXTRACT, NULL, "a@x.org|b@y.org|c@z.org", MAIL_OK },
	{ "bare CR line ends",
	    B("Subject: hi\rTo: a@x.org\r\rbody\r"),
	    B("Subject: hi\nTo: a@x.org\n" ADDED "\nbody\n"), DOT, NULL, NULL, MAIL_OK },
	{ "CR CR LF is two line ends",
	    B("Subject: s\r\r\nbody\n"),
	    B("Subject: s\n" ADDED "\nbody\n"), DOT, NULL, NULL, MAIL_OK },
	{ "dot ends input",
	    B("Subject: s\n\nline\n.\nnot read\n"),
	    B("Subject: s\n" ADDED "\nline\n"), DOT, NULL, NULL, MAIL_OK },
	{ "dot without -i ends input in the header too",
	    B("Subject: s\n.\nnot read\n"),
	    B("Subject: s\n" ADDED "\n"), DOT, NULL, NULL, MAIL_OK },
	{ "final dot without newline ends input",
	    B("Subject: s\n\nline\n."),
	    B("Subject: s\n" ADDED "\nline\n"), DOT, NULL, NULL, MAIL_OK },
	{ "dot is content with -i",
	    B("Subject: s\n\nline\n.\nstill read\n"),
	    B("Subject: s\n" ADDED "\nline\n.\nstill read\n"), 0, NULL, NULL, MAIL_OK },
	{ "dot as first line with -i",
	    B(".\n"),
	    B(ADDED "\n.\n"), 0, NULL, NULL, MAIL_OK },
	{ "no dot-unstuffing",
	    B("Subject: s\n\n..\n.x\n. \n"),
	    B("Subject: s\n" ADDED "\n..\n.x\n. \n"), DOT, NULL, NULL, MAIL_OK },
	{ "NUL bytes kept in header and body",
	    B("Subject: a\0b\n\nx\0y\nz\n\0"),
	    B("Subject: a\0b\n" ADDED "\nx\0y\nz\n\0\n"), DOT, NULL, NULL, MAIL_OK },
	{ "From_ first line dropped, From in body kept",
	    B("From bob Sat Nov 21 05:35:29 2026\nSubject: s\n\nFrom me\n"),
	    B("Subject: s\n" ADDED "\nFrom me\n"), DOT, NULL, NULL, MAIL_OK },
	{ "only the first From_ line is dropped",
	    B("From a\nFrom b\n\nx\n"),
	    B(ADDED "\nFrom b\n\nx\n"), DOT, NULL, NULL, MAIL_OK },
	{ "From_ rule is case-sensitive",
	    B("from a\nSubject: s\n"),
	    B(ADDED "\nfrom a\nSubject: s\n"), DOT, NULL, NULL, MAIL_OK },
	{ ">From first line is kept",
	    B(">From a\n"),
	    B(ADDED "\n>From a\n"), DOT, NULL, NULL, MAIL_OK },
	{ "From: header as first line is kept",
	    B("From: x@y.org\n\nb\n"),
	    B("From: x@y.org\n" ADDED_DM "\nb\n"), DOT, NULL, NULL, MAIL_OK },
	{ "existing headers not duplicated (case-insensitive)",
	    B("date: d\nMESSAGE-ID: <m@x>\nfrom: f@x.org\n\nb\n"),
	    B("date: d\nMESSAGE-ID: <m@x>\nfrom: f@x.org\n\nb\n"), DOT, NULL, NULL, MAIL_OK },
	{ "only the missing headers added",
	    B("Message-Id: <m@x>\n\nb\n"),
	    B("Message-Id: <m@x>\nDate: DATE\nFrom: <" SENDER ">\n\nb\n"), DOT, NULL, NULL, MAIL_OK },
	{ "header names are exact, not prefixes",
	    B("Dated: x\nFromage: y\nMessage-Ids: z\n\n"),
	    B("Dated: x\nFromage: y\nMessage-Ids: z\n" ADDED "\n"), DOT, NULL, NULL, MAIL_OK },
	{ "Bcc with continuation lines removed",
	    B("To: a@x.org\nBcc: b@y.org,\n c@z.org,\n\td@w.org\nSubject: s\n\nBcc: body\n"),
	    B("To: a@x.org\nSubject: s\n" ADDED "\nBcc: body\n"), DOT, NULL, NULL, MAIL_OK },
	{ "BCC upper case and Resent-Bcc removed",
	    B("BCC: b@y.org\nResent-Bcc: r@y.org\nbcc:\n"),
	    B(ADDED "\n"), DOT, NULL, NULL, MAIL_OK },
	{ "Bcc and Resent-Bcc with blanks before the colon removed",
	    B("Subject: s\nBcc : root\n x@y.org\nRESENT-bcc\t: r@y.org\n\tq@y.org\n"
	    "resent-Bcc \t :\nX-After: a\n\nbody\n"),
	    B("Subject: s\nX-After: a\n" ADDED "\nbody\n"), DOT, NULL, NULL, MAIL_OK },
	{ "Resent-Bcc continuation removed, Resent-To kept",
	    B("Resent-To: t@y.org\nResent-Bcc: r@y.org,\n s@y.org\nResent-Cc: c@y.org\n\n"),
	    B("Resent-To: t@y.org\nResent-Cc: c@y.org\n" ADDED "\n"), DOT, NULL, NULL, MAIL_OK },
	{ "-t Bcc with a blank before the colon is a recipient, then removed",
	    B("To: a@x.org\nBcc : b@y.org\nSubject: s\n\nb\n"),
	    B("To: a@x.org\nSubject: s\n" ADDED "\nb\n"), DOT | EXTRACT, NULL,
	    "a@x.org|b@y.org", MAIL_OK },
	{ "-t Cc with tabs before the colon",
	    B("Cc\t\t: c@y.org\n\n"),
	    B("Cc\t\t: c@y.org\n" ADDED "\n"), DOT | EXTRACT, NULL, "c@y.org", MAIL_OK },
	{ "-t Resent-Bcc is no recipient",
	    B("To: a@x.org\nResent-Bcc: r@y.org\n\n"),
	    B("To: a@x.org\n" ADDED "\n"), DOT | EXTRACT, NULL, "a@x.org", MAIL_OK },
	{ "Bcc as last header before EOF removed",
	    B("Subject: s\nBcc: b@y.org\n x@y.org"),
	    B("Subject: s\n" ADDED "\n"), DOT, NULL, NULL, MAIL_OK },
	{ "-F plain phrase",
	    B("Subject: s\n\n"),
	    B("Subject: s\n" ADDED_DM "From: Jo Do <" SENDER ">\n\n"), DOT, "Jo Do", NULL, MAIL_OK },
	{ "-F with comma is quoted",
	    B("Subject: s\n\n"),
	    B("Subject: s\n" ADDED_DM "From: \"Do, Jo\" <" SENDER ">\n\n"), DOT, "Do, Jo", NULL, MAIL_OK },
	{ "-F with quote and backslash escaped",
	    B("\n"),
	    B(ADDED_DM "From: \"Jo \\\"J\\\" \\\\ Do\" <" SENDER ">\n\n"), DOT, "Jo \"J\" \\ Do", NULL, MAIL_OK },
	{ "-F control characters dropped",
	    B("\n"),
	    B(ADDED_DM "From: \"JoBcc: x@y.org\" <" SENDER ">\n\n"), DOT, "Jo\r\nBcc: x@y.org", NULL, MAIL_OK },
	{ "-F tab dropped",
	    B("\n"),
	    B(ADDED_DM "From: JoDo <" SENDER ">\n\n"), DOT, "Jo\tDo", NULL, MAIL_OK },
	{ "-F 8-bit is quoted",
	    B("\n"),
	    B(ADDED_DM "From: \"J\xc3\xb6rg\" <" SENDER ">\n\n"), DOT, "J\xc3\xb6rg", NULL, MAIL_OK },
	{ "-F atext specials unquoted",
	    B("\n"),
	    B(ADDED_DM "From: O'Neil+x <" SENDER ">\n\n"), DOT, "O'Neil+x", NULL, MAIL_OK },
	{ "-F blank name gives plain From",
	    B("\n"),
	    B(ADDED "\n"), DOT, "  \t", NULL, MAIL_OK },
	{ "-F unused when From: exists",
	    B("From: f@x.org\n"),
	    B("From: f@x.org\n" ADDED_DM "\n"), DOT, "Jo Do", NULL, MAIL_OK },
	{ "-t last address at EOF without newline",
	    B("To: a@x.org"),
	    B("To: a@x.org\n" ADDED "\n"), DOT | EXTRACT, NULL, "a@x.org", MAIL_OK },
	{ "-t last address at EOF after continuation",
	    B("Subject: s\nCc: b@y.org,\n c@z.org\n"),
	    B("Subject: s\nCc: b@y.org,\n c@z.org\n" ADDED "\n"), DOT | EXTRACT, NULL,
	    "b@y.org|c@z.org", MAIL_OK },
	{ "-t address before a dot line",
	    B("To: a@x.org\n.\n"),
	    B("To: a@x.org\n" ADDED "\n"), DOT | EXTRACT, NULL, "a@x.org", MAIL_OK },
	{ "-t address before a non-header line",
	    B("To: a@x.org\nhello\n"),
	    B("To: a@x.org\n" ADDED "\nhello\n"), DOT | EXTRACT, NULL, "a@x.org", MAIL_OK },
	{ "-t spec example",
	    B("To: A B <a@x.org>, b@y.org (comment here), \"q,u x\" <c@z.org>\n"
	    "X-Other: x@o.org\n"
	    "Cc: grp: d@w.org, e@v.org;\n"
	    "  , f@cont.org\n"
	    "Bcc: g@u.org,\n"
	    "\th@u.org\n"
	    "\n"
	    "To: body@b.org\n"),
	    B("To: A B <a@x.org>, b@y.org (comment here), \"q,u x\" <c@z.org>\n"
	    "X-Other: x@o.org\n"
	    "Cc: grp: d@w.org, e@v.org;\n"
	    "  , f@cont.org\n"
	    ADDED "\nTo: body@b.org\n"), DOT | EXTRACT, NULL,
	    "a@x.org|b@y.org|c@z.org|d@w.org|e@v.org|f@cont.org|g@u.org|h@u.org", MAIL_OK },
	{ "-t case-insensitive names, Resent-To ignored",
	    B("TO: a@x.org\ncc: b@y.org\nResent-To: r@x.org\nX-To: x@x.org\n\n"),
	    B("TO: a@x.org\ncc: b@y.org\nResent-To: r@x.org\nX-To: x@x.org\n" ADDED "\n"),
	    DOT | EXTRACT, NULL, "a@x.org|b@y.org", MAIL_OK },
	{ "-t no recipient headers",
	    B("Subject: s\n\n"),
	    B("Subject: s\n" ADDED "\n"), DOT | EXTRACT, NULL, "", MAIL_OK },
	{ "-t empty To",
	    B("To:\nCc: undisclosed-recipients:;\n\n"),
	    B("To:\nCc: undisclosed-recipients:;\n" ADDED "\n"), DOT | EXTRACT, NULL, "", MAIL_OK },
	{ "without -t no recipients taken",
	    B("To: a@x.org\n\n"),
	    B("To: a@x.org\n" ADDED "\n"), DOT, NULL, "", MAIL_OK },
	{ "-t invalid address",
	    B("To: <a@x.org\n\n"), NULL, 0, DOT | EXTRACT, NULL, NULL, MAIL_EFORMAT },
	{ "-t invalid address at EOF",
	    B("Subject: s\nCc: a@x.org b@y.org"), NULL, 0, DOT | EXTRACT, NULL, NULL, MAIL_EFORMAT },
	{ "-t NUL in address",
	    B("To: a\0@x.org\n\n"), NULL, 0, DOT | EXTRACT, NULL, NULL, MAIL_EFORMAT },
	{ "invalid address ignored without -t",
	    B("To: <a@x.org\n\n"),
	    B("To: <a@x.org\n" ADDED "\n"), DOT, NULL, "", MAIL_OK },
};

/* is_date - s[0..n) looks like "Sat, 21 Nov 2026 05:35:29 +0000" */
static int
is_date(const char *s, size_t n)
{
	static const char shape[] = "Aaa, 99 Aaa 9999 99:99:99 +9999";
	size_t i;

	if (n != sizeof(shape) - 1)
		return (0);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (shape[i]) {
		case 'A':
		case 'a':
			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
				return (0);
			break;
		case '9':
			if (c < '0' || c > '9')
				return (0);
			break;
		case '+':
			if (c != '+' && c != '-')
				return (0);
			break;
		default:
			if (c != (unsigned char)shape[i])
				return (0);
		}
	}
	return (1);
}

/* is_msgid - "<{hex}." MSGID ".{hex}@testhost>" */
static int
is_msgid(const char *s, size_t n)
{
	static const char tail[] = "@testhost>";
	size_t i = 1, j;

	if (n < 3 || s[0] != '<')
		return (0);
	for (j = 0; i < n && strchr("0123456789abcdef", s[i]) != NULL && s[i]; i++, j++)
		;
	if (j == 0 || n - i < sizeof("." MSGID ".") - 1 ||
	    memcmp(s + i, "." MSGID ".", sizeof("." MSGID ".") - 1) != 0)
		return (0);
	i += sizeof("." MSGID ".") - 1;
	for (j = 0; i < n && strchr("0123456789abcdef", s[i]) != NULL && s[i]; i++, j++)
		;
	return (j > 0 && n - i == sizeof(tail) - 1 && memcmp(s + i, tail, n - i) == 0);
}

/*
 * mask - copy buf replacing generated values: a "\t{date}" line, a
 * "Date: {date}" line and a generated "Message-Id:" value.
 */
static char *
mask(const char *buf, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	size_t o = 0, i = 0;

	while (i < len) {
		const char *l = buf + i, *nl = memchr(l, '\n', len - i);
		size_t ll = nl != NULL ? (size_t)(nl - l) : len - i;

		if (ll > 1 && l[0] == '\t' && is_date(l + 1, ll - 1)) {
			memcpy(out + o, "\tDATE", 5);
			o += 5;
		} else if (ll > 6 && memcmp(l, "Date: ", 6) == 0 && is_date(l + 6, ll - 6)) {
			memcpy(out + o, "Date: DATE", 10);
			o += 10;
		} else if (ll > 12 && memcmp(l, "Message-Id: ", 12) == 0 &&
		    is_msgid(l + 12, ll - 12)) {
			memcpy(out + o, "Message-Id: <MID>", 17);
			o += 17;
		} else {
			memcpy(out + o, l, ll);
			o += ll;
		}
		i += ll;
		if (nl != NULL) {
			out[o++] = '\n';
			i++;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return (out);
}

/* is_bytes - compare byte strings, show both visibly on mismatch */
static void
is_bytes(const char *got, size_t gotlen, const char *want, size_t wantlen,
    const char *name)
{
	int e = gotlen == wantlen && memcmp(got, want, gotlen) == 0;

	ok(e, "%s", name);
	if (!e) {
		size_t i;

		printf("#   got  (%zu) \"", gotlen);
		for (i = 0; i < gotlen; i++)
			printf(got[i] >= 0x20 && got[i] < 0x7f ? "%c" : "\\x%02x",
			    (unsigned char)got[i]);
		printf("\"\n#   want (%zu) \"", wantlen);
		for (i = 0; i < wantlen; i++)
			printf(want[i] >= 0x20 && want[i] < 0x7f ? "%c" : "\\x%02x",
			    (unsigned char)want[i]);
		printf("\"\n");
	}
}

static char received[512];

static void
setup(void)
{
	config.mailname = xstrdup("testhost");
	hostname_init(config.mailname);
	snprintf(received, sizeof(received),
	    "Received: from tuser (uid 1001)\n"
	    "\t(envelope-from " SENDER ")\n"
	    "\tid " MSGID "\n"
	    "\tby testhost (DragonFly Mail Agent %s on %s);\n"
	    "\tDATE\n", DMA_VERSION, systemhostname());
}

static void
init_intake(struct intake *o, int flags, const char *fullname)
{
	memset(o, 0, sizeof(*o));
	o->sender = SENDER;
	o->username = "tuser";
	o->uid = 1001;
	o->fullname = fullname;
	o->msgid = MSGID;
	o->dot_ends = (flags & DOT) != 0;
	o->extract = (flags & EXTRACT) != 0;
}

static const char *
join_rcpts(const struct rcptlist *l, char *buf, size_t len)
{
	const struct rcpt *r;

	buf[0] = '\0';
	for (r = l->head; r != NULL; r = r->next) {
		if (r != l->head)
			strlcat(buf, "|", len);
		strlcat(buf, r->addr, len);
	}
	return (buf);
}

/*
 * run - mail_read over in[0..inlen); returns the status, *out the masked
 * output without the Received header (NULL if that header is wrong).
 */
static enum mail_err
run(const char *in, size_t inlen, struct intake *o, struct rcptlist *l,
    char **out, size_t *outlen, char *why, size_t whylen)
{
	FILE *fin, *fout;
	char *buf = NULL, *m;
	size_t blen = 0, mlen, rl = strlen(received);
	enum mail_err err;

	/* fmemopen of a zero-length buffer fails; use an empty file then. */
	fin = inlen > 0 ? fmemopen((void *)(uintptr_t)in, inlen, "r") : tmpfile();
	fout = open_memstream(&buf, &blen);
	if (fin == NULL || fout == NULL) {
		perror("fmemopen/open_memstream");
		exit(1);
	}
	err = mail_read(fin, fout, o, l, why, whylen);
	fclose(fin);
	fclose(fout);
	m = mask(buf, blen, &mlen);
	free(buf);
	*out = NULL;
	*outlen = 0;
	if (mlen >= rl && memcmp(m, received, rl) == 0) {
		*out = xmalloc(mlen - rl + 1);
		memcpy(*out, m + rl, mlen - rl + 1);
		*outlen = mlen - rl;
	} else {
		printf("#   bad Received header in: %.*s\n", (int)mlen, m);
	}
	free(m);
	return (err);
}

static void
test_table(void)
{
	struct intake o;
	struct rcptlist l;
	char why[512], got[1024], *out;
	size_t i, outlen;
	enum mail_err err;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		const struct mtest *t = &tests[i];

		init_intake(&o, t->flags, t->fullname);
		rcpt_init(&l, NULL);
		why[0] = '\0';
		err = run(t->in, t->inlen, &o, &l, &out, &outlen, why, sizeof(why));
		is_int(err, t->err, "%s: status", t->name);
		if (t->err == MAIL_OK) {
			ok(out != NULL, "%s: Received header", t->name);
			if (out != NULL)
				is_bytes(out, outlen, t->want, t->wantlen, t->name);
			if (err != MAIL_OK)
				printf("#   why: %s\n", why);
		} else if (t->err == MAIL_EFORMAT) {
			is_str(why, "invalid address in header", "%s: reason", t->name);
		}
		if (t->rcpts != NULL)
			is_str(join_rcpts(&l, got, sizeof(got)), t->rcpts,
			    "%s: recipients", t->name);
		free(out);
		rcpt_free(&l);
	}
}

/* test_long_line - 5000 bytes in header and body, stored intact */
static void
test_long_line(void)
{
	struct intake o;
	struct rcptlist l;
	char why[256], *in, *want, *out, *x;
	size_t outlen, n = 5000;
	enum mail_err err;

	x = xmalloc(n + 1);
	memset(x, 'x', n);
	x[n] = '\0';
	in = xasprintf("X-Long: %s\n\n%s\n", x, x);
	want = xasprintf("X-Long: %s\n" ADDED "\n%s\n", x, x);
	init_intake(&o, DOT, NULL);
	rcpt_init(&l, NULL);
	err = run(in, strlen(in), &o, &l, &out, &outlen, why, sizeof(why));
	is_int(err, MAIL_OK, "5000-byte lines accepted");
	if (out != NULL)
		is_bytes(out, outlen, want, strlen(want), "5000-byte lines intact");
	free(out);
	free(in);
	free(want);

	/* -t: a long To: header with many addresses over many lines */
	in = xasprintf("To: a@x.org, %s@y.org\n\n", x);
	init_intake(&o, DOT | EXTRACT, NULL);
	err = run(in, strlen(in), &o, &l, &out, &outlen, why, sizeof(why));
	is_int(err, MAIL_EFORMAT, "-t: address longer than ADDR_MAX refused");
	free(out);
	free(in);
	rcpt_free(&l);
	free(x);
}

/*
 * test_rcpt_inject - -t addresses that would close RCPT TO:<...> and add
 * ESMTP parameters are refused by the envelope check, nothing is added.
 */
static void
test_rcpt_inject(void)
{
	static const char *const hdr[] = {
		"To: \"bob@x> NOTIFY=NEVER\"@y.org\n\n",
		"To: <\"b> RET=FULL X=<\"@y.org>, a@x.org\n\n",
		"Cc: Jo <\"x<y\"@y.org>\n\n",
		"Bcc : bob@[1.2.3.4>\n\n",
		"To: bob@x.org.\n\n",
		"To: bob..x@x.org\n\n",
	};
	struct intake o;
	struct rcptlist l;
	char why[256], *out;
	size_t i, outlen;
	enum mail_err err;

	for (i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++) {
		init_intake(&o, DOT | EXTRACT, NULL);
		rcpt_init(&l, NULL);
		why[0] = '\0';
		err = run(hdr[i], strlen(hdr[i]), &o, &l, &out, &outlen, why, sizeof(why));
		ok(err == MAIL_ERCPT || err == MAIL_EFORMAT,
		    "-t injection %zu refused (%d: %s)", i, err, why);
		is_int((int)l.n, 0, "-t injection %zu: no recipient added", i);
		free(out);
		rcpt_free(&l);
	}
}

/* test_rcpt_refused - rcpt_add failing makes MAIL_ERCPT with its reason */
static void
test_rcpt_refused(void)
{
	struct intake o;
	struct rcptlist l;
	char why[256], *in, *out;
	size_t i, len, outlen;
	enum mail_err err;

	/* RCPT_MAX + 1 distinct remote recipients in one To: header */
	len = 4 + (RCPT_MAX + 1) * 16 + 3;
	in = xmalloc(len);
	strlcpy(in, "To: ", len);
	for (i = 0; i <= RCPT_MAX; i++) {
		char a[32];

		snprintf(a, sizeof(a), "%sr%zu@x.org", i > 0 ? ",\n " : "", i);
		strlcat(in, a, len);
	}
	strlcat(in, "\n\n", len);
	init_intake(&o, DOT | EXTRACT, NULL);
	rcpt_init(&l, NULL);
	why[0] = '\0';
	err = run(in, strlen(in), &o, &l, &out, &outlen, why, sizeof(why));
	is_int(err, MAIL_ERCPT, "-t: refused recipient: status");
	ok(why[0] != '\0' && strcmp(why, "invalid address in header") != 0,
	    "-t: refused recipient: reason from rcpt_add (%s)", why);
	free(out);
	free(in);
	rcpt_free(&l);
	test_rcpt_inject();
}

/* test_errors - read and write errors */
static void
test_errors(void)
{
	struct intake o;
	struct rcptlist l;
	char why[256], dir[] = "/tmp/t_mail.XXXXXX";
	FILE *in, *out;
	enum mail_err err;

	init_intake(&o, DOT, NULL);
	rcpt_init(&l, NULL);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	/* Reading a directory fails with EISDIR. */
	in = fopen(dir, "r");
	out = tmpfile();
	ok(in != NULL && out != NULL, "open directory for reading");
	if (in != NULL && out != NULL) {
		err = mail_read(in, out, &o, &l, why, sizeof(why));
		is_int(err, MAIL_EREAD, "read error: status");
		is_str(why, "can not read mail: Is a directory", "read error: reason");
	}
	if (in != NULL)
		fclose(in);
	if (out != NULL)
		fclose(out);
	rmdir(dir);

	in = fmemopen((void *)(uintptr_t)"Subject: s\n\nbody\n", 17, "r");
	out = fopen("/dev/full", "w");
	ok(in != NULL && out != NULL, "open /dev/full");
	if (in != NULL && out != NULL) {
		err = mail_read(in, out, &o, &l, why, sizeof(why));
		is_int(err, MAIL_EWRITE, "write error: status");
		ok(strncmp(why, "can not write mail: ", 20) == 0, "write error: reason (%s)", why);
	}
	if (in != NULL)
		fclose(in);
	if (out != NULL)
		fclose(out);
	rcpt_free(&l);
}

/* test_message_id - the generated Message-Id has the documented form */
static void
test_message_id(void)
{
	struct intake o;
	struct rcptlist l;
	char why[256], *buf = NULL, *p;
	size_t blen = 0;
	FILE *in, *out;

	init_intake(&o, DOT, NULL);
	rcpt_init(&l, NULL);
	in = fmemopen((void *)(uintptr_t)"\n", 1, "r");
	out = open_memstream(&buf, &blen);
	is_int(mail_read(in, out, &o, &l, why, sizeof(why)), MAIL_OK, "Message-Id run");
	fclose(in);
	fclose(out);
	p = strstr(buf, "\nMessage-Id: <");
	ok(p != NULL && is_msgid(p + 13, strcspn(p + 13, "\n")),
	    "Message-Id is <time.msgid.random@host>");
	free(buf);
}

static const char orig_msg[] =
    "Received: from tuser (uid 1001)\n"
    "\tid " MSGID "\n"
    "Subject: s\n"
    "From: <" SENDER ">\n"
    "\n"
    "body\0with NUL\n"
    "\n"
    "last line";

static void
test_bounce(void)
{
	struct qitem it;
	char *buf, *m, *want, hdr[1024];
	size_t blen, mlen, i;
	FILE *orig, *out;
	int full, r;

	memset(&it, 0, sizeof(it));
	it.addr = xstrdup("a@x.org");
	it.sender = xstrdup(SENDER);
	snprintf(hdr, sizeof(hdr),
	    "Received: from MAILER-DAEMON\n"
	    "\tid b0b0\n"
	    "\tby testhost (DragonFly Mail Agent %s on %s);\n"
	    "\tDATE\n"
	    "X-Original-To: <a@x.org>\n"
	    "From: Mail Delivery System <MAILER-DAEMON@testhost>\n"
	    "To: " SENDER "\n"
	    "Auto-Submitted: auto-replied\n"
	    "Subject: Mail delivery failed\n"
	    "Message-Id: <b0b0@testhost>\n"
	    "Date: DATE\n"
	    "\n"
	    "This is the DragonFly Mail Agent %s at testhost.\n"
	    "\n"
	    "There was an error delivering your mail to <a@x.org>.\n"
	    "\n"
	    "mx [192.0.2.1] did not like our RCPT TO:\n"
	    "550 no?[1m such\tuser?\n"
	    "\n",
	    DMA_VERSION, systemhostname(), DMA_VERSION);

	for (full = 0; full <= 1; full++) {
		orig = tmpfile();
		/* left at its end, as after a delivery attempt */
		fwrite(orig_msg, 1, sizeof(orig_msg) - 1, orig);
		buf = NULL;
		blen = 0;
		out = open_memstream(&buf, &blen);
		r = mail_bounce_write(out, &it, "b0b0",
		    "mx [192.0.2.1] did not like our RCPT TO:\r\n550 no\033[1m such\tuser\001",
		    orig, full);
		fclose(out);
		fclose(orig);
		is_int(r, 0, "bounce %s: status", full ? "full" : "headers");
		m = mask(buf, blen, &mlen);
		want = xmalloc(strlen(hdr) + 64 + sizeof(orig_msg));
		strcpy(want, hdr);
		strcat(want, full ? "Original message follows.\n\n" :
		    "Message headers follow.\n\n");
		i = strlen(want);
		if (full) {
			memcpy(want + i, orig_msg, sizeof(orig_msg) - 1);
			i += sizeof(orig_msg) - 1;
		} else {
			/* up to, excluding, the first empty line */
			memcpy(want + i, orig_msg, strstr(orig_msg, "\n\n") + 1 - orig_msg);
			i += strstr(orig_msg, "\n\n") + 1 - orig_msg;
		}
		is_bytes(m, mlen, want, i, full ? "bounce with the whole message" :
		    "bounce with the headers");
		free(m);
		free(want);
		free(buf);
	}

	/* write error */
	orig = tmpfile();
	fwrite(orig_msg, 1, sizeof(orig_msg) - 1, orig);
	rewind(orig);
	out = fopen("/dev/full", "w");
	if (out != NULL) {
		is_int(mail_bounce_write(out, &it, "b0b0", "x", orig, 1), -1,
		    "bounce write error");
		fclose(out);
	}
	fclose(orig);

	/* read error of the original */
	orig = fopen("/", "r");
	buf = NULL;
	out = open_memstream(&buf, &blen);
	if (orig != NULL) {
		is_int(mail_bounce_write(out, &it, "b0b0", "x", orig, 1), -1,
		    "bounce read error (full)");
		rewind(orig);
		is_int(mail_bounce_write(out, &it, "b0b0", "x", orig, 0), -1,
		    "bounce read error (headers)");
		fclose(orig);
	}
	fclose(out);
	free(buf);
	free(it.addr);
	free(it.sender);
}

int
main(void)
{
	setup();
	test_table();
	test_long_line();
	test_rcpt_refused();
	test_errors();
	test_message_id();
	test_bounce();
	return (done_testing());
}
