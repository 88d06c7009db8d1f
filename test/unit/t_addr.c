/*
 * t_addr.c - mail_parse_addrs(): RFC 5322 address lists from To/Cc/Bcc.
 * Table of header values (after the colon) and the expected addresses,
 * or NULL for a parse error.  Then addr_check(), the envelope
 * address syntax check: a table of addresses and the expected verdict.
 */
#include <stdlib.h>
#include <string.h>

#include "dma.h"
#include "tap.h"

#define E	NULL		/* expect an error */

static const struct {
	const char *value;
	const char *want;	/* addresses joined with '|', "" none, E error */
} tests[] = {
	/* plain and angle forms */
	{ " a@x.org", "a@x.org" },
	{ " a@x.org\n", "a@x.org" },
	{ "a@x.org,b@y.org", "a@x.org|b@y.org" },
	{ " <a@x.org>", "a@x.org" },
	{ " Jo Do <j@x.org>", "j@x.org" },
	{ " \"Do, Jo\" <j@x.org>, k@y.org", "j@x.org|k@y.org" },
	{ " \"q,u x\" <c@z.org>", "c@z.org" },
	{ " John Q. Public <jqp@x.org>", "jqp@x.org" },
	{ " =?utf-8?q?J=C3=B6rg?= <jo@x.org>", "jo@x.org" },
	{ " root", "root" },
	{ " root, bob", "root|bob" },
	/* the verified example of the spec, header by header */
	{ " A B <a@x.org>, b@y.org (comment here), \"q,u x\" <c@z.org>\n",
	    "a@x.org|b@y.org|c@z.org" },
	{ " grp: d@w.org, e@v.org;\n  , f@cont.org\n",
	    "d@w.org|e@v.org|f@cont.org" },
	{ " g@u.org,\n\th@u.org\n", "g@u.org|h@u.org" },
	/* folding with CRLF and TAB */
	{ " a@x.org,\r\n\tb@y.org\r\n", "a@x.org|b@y.org" },
	{ " Jo\r\n Do <j@x.org>", "j@x.org" },
	/* comments, nested, with quotes and escapes */
	{ " b@y.org (comment)", "b@y.org" },
	{ " (c) a@x.org", "a@x.org" },
	{ " a(c)@x.org", "a@x.org" },
	{ " a@x.org (outer (inner) more)", "a@x.org" },
	{ " (a \"b) c@d.org", "c@d.org" },	/* '"' is plain text in comments */
	{ " (x \\) y) a@x.org", "a@x.org" },
	{ " Jo (the boss) <j@x.org>", "j@x.org" },
	/* quoted local parts are kept verbatim */
	{ " \"john doe\"@x.org", "\"john doe\"@x.org" },
	{ " <\"john doe\"@x.org>", "\"john doe\"@x.org" },
	{ " \"a\\\"b\"@x.org", "\"a\\\"b\"@x.org" },
	{ " \"a,b\"@x.org, c@y.org", "\"a,b\"@x.org|c@y.org" },
	/* domain literal */
	{ " a@[192.0.2.1]", "a@[192.0.2.1]" },
	{ " a@[ 192.0.2.1\r\n ]", "a@[192.0.2.1]" },
	{ " <a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]" },
	/* groups */
	{ " undisclosed-recipients:;", "" },
	{ " Undisclosed recipients:;", "" },
	{ " grp: a@b.org, c@d.org; e@f.org", "a@b.org|c@d.org|e@f.org" },
	{ " grp: Jo <a@b.org>;", "a@b.org" },
	{ " grp:", "" },
	/* empty elements */
	{ "", "" },
	{ " \n", "" },
	{ " , ,", "" },
	{ " a@x.org, , b@y.org,", "a@x.org|b@y.org" },
	{ " <>", "" },
	/* obsolete forms */
	{ " <@r1.org,@r2.org:a@x.org>", "a@x.org" },
	{ " a . b @ x.org", "a.b@x.org" },
	/* errors: unbalanced */
	{ " <a@x.org", E },
	{ " a@x.org>", E },
	{ " Jo <a@x.org", E },
	{ " <<a@x.org>>", E },
	{ " (a@x.org", E },
	{ " a@x.org)", E },
	{ " ((a) a@x.org", E },
	{ " \"a@x.org", E },
	{ " \"jo\" a\"@x.org", E },
	{ " a@[1.2.3.4", E },
	{ " a@1.2.3.4]", E },
	/* errors: malformed */
	{ " Jo Do j@x.org", E },	/* bare display name: rejected */
	{ " a@x.org b@y.org", E },	/* missing comma */
	{ " <john doe@x.org>", E },
	{ " <a@x.org> junk", E },
	{ " <a@x.org> <b@y.org>", E },
	{ " a@@x.org", E },
	{ " a@x@y.org", E },
	{ " a@", E },
	{ " @x.org", E },
	{ " a.@x.org", E },
	{ " .a@x.org", E },
	{ " a..b@x.org", E },
	{ " a\\b@x.org", E },
	{ " a\001b@x.org", E },
	{ " g1: g2: a@x.org;;", E },
	{ " <a@x.org, b@y.org>", E },
	{ " <a@x.org;>", E },
	{ " \"a\\\n\"@x.org", E },
};

/* join - addrs joined with '|' into buf */
static const char *
join(char **addrs, char *buf, size_t len)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; addrs[i] != NULL; i++) {
		if (i > 0)
			strlcat(buf, "|", len);
		strlcat(buf, addrs[i], len);
	}
	return (buf);
}

static void
test_long(void)
{
	char *v, **addrs, why[256], want[ADDR_MAX + 10];
	int r;

	/* an address of ADDR_MAX - 1 bytes fits, ADDR_MAX does not */
	memset(want, 'a', ADDR_MAX - 1 - 6);
	strlcpy(want + ADDR_MAX - 1 - 6, "@x.org", 7);
	is_int(strlen(want), ADDR_MAX - 1, "long address length");
	r = mail_parse_addrs(want, &addrs, why, sizeof(why));
	is_int(r, 0, "address of ADDR_MAX-1 bytes accepted");
	if (r == 0) {
		is_str(addrs[0], want, "long address intact");
		mail_free_addrs(addrs);
	}
	v = xasprintf("a%s", want);
	r = mail_parse_addrs(v, &addrs, why, sizeof(why));
	is_int(r, -1, "address of ADDR_MAX bytes rejected");
	is_str(why, "address too long", "reason for too long");
	free(v);

	/* a display name longer than ADDR_MAX is discarded, not an error */
	v = xasprintf("\"%s\" <b@y.org>", want);
	r = mail_parse_addrs(v, &addrs, why, sizeof(why));
	is_int(r, 0, "long display name accepted");
	if (r == 0) {
		is_str(addrs[0], "b@y.org", "address after long display name");
		mail_free_addrs(addrs);
	}
	free(v);
}

static const char *vis(const char *);

/* One addr_check() case: want 0 valid, -1 refused (reason must name it). */
static const struct {
	const char *addr;
	int	 flags;
	int	 want;
	const char *reason;	/* a substring of why, or NULL */
} checks[] = {
	{ "a@x.org", 0, 0, NULL },
	{ "First.Last+tag@sub.example.org", 0, 0, NULL },
	{ "!#$%&'*+-/=?^_`{|}~@x.org", 0, 0, NULL },
	{ "\"john doe\"@x.org", 0, 0, NULL },
	{ "\"a\\\"b\"@x.org", 0, 0, NULL },
	{ "\"a@b\"@x.org", 0, 0, NULL },
	{ "j\xc3\xb6rg@x.org", 0, 0, NULL },
	{ "a@[192.0.2.1]", 0, 0, NULL },
	{ "a@[IPv6:2001:db8::1]", 0, 0, NULL },
	{ "a@under_score.example", 0, 0, NULL },
	{ "root", ADDR_BARE, 0, NULL },
	{ "root", 0, -1, "no domain" },
	{ "", ADDR_BARE, -1, "empty" },
	/* the injection strings of the envelope */
	{ "alice@host> AUTH=<", 0, -1, "`>' not allowed" },
	{ "x@y> SMTPUTF8 RET=FULL X=<", 0, -1, "`>' not allowed" },
	{ "bob@x> NOTIFY=NEVER", 0, -1, "`>' not allowed" },
	{ "<bob@x.org>", 0, -1, "`<' not allowed" },
	{ "\"bob> NOTIFY=NEVER\"@x.org", 0, -1, "`>' not allowed" },
	{ "\"a<b\"@x.org", 0, -1, "`<' not allowed" },
	{ "\"a\\>b\"@x.org", 0, -1, "`>' not allowed" },
	{ "a b@x.org", 0, -1, "space" },
	{ "a@x.org NOTIFY=NEVER", 0, -1, "space" },
	{ "a\r\nRCPT TO:<b@y.org", 0, -1, "control character 0x0d" },
	{ "a@x.org\t", 0, -1, "control character 0x09" },
	{ "a\x7f@x.org", 0, -1, "control character 0x7f" },
	{ "\"a\x01\"@x.org", 0, -1, "control character 0x01" },
	/* other syntax errors */
	{ "a@b@x.org", 0, -1, "`@'" },
	{ "@x.org", 0, -1, "local part" },
	{ "a@", 0, -1, "domain" },
	{ ".a@x.org", 0, -1, "local part" },
	{ "a.@x.org", 0, -1, "local part" },
	{ "a..b@x.org", 0, -1, "local part" },
	{ "a@x..org", 0, -1, "domain" },
	{ "a@x.org.", 0, -1, "domain" },
	{ "a@-x.org", 0, -1, "domain" },
	{ "a@x-.org", 0, -1, "domain" },
	{ "a@[192.0.2.1", 0, -1, "domain" },
	{ "a@[]", 0, -1, "domain" },
	{ "a@[1.2.3.4]x", 0, -1, "domain" },
	{ "\"open@x.org", 0, -1, "quoted local part" },
	{ "\"a\"b@x.org", 0, -1, "local part" },
	{ "a,b@x.org", 0, -1, "`,'" },
	/* UTF-8 (RFC 6531): well-formed only, no C1 controls */
	{ "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac\xe5\x8f\xb8", 0, 0, NULL },
	{ "j\xc3\xb6rg@b\xc3\xbc" "cher.example", 0, 0, NULL },
	{ "\"j\xc3\xb6 rg\"@x.org", 0, 0, NULL },
	{ "\xf0\x9f\x93\xa7@x.org", 0, 0, NULL },
	{ "j\xf6rg@x.org", 0, -1, "invalid UTF-8 (byte 0xf6 at offset 1)" },
	{ "a@b\xfc" "cher.example", 0, -1, "invalid UTF-8 (byte 0xfc at offset 3)" },
	{ "\xc3@x.org", 0, -1, "invalid UTF-8" },
	{ "a\xc3", ADDR_BARE, -1, "invalid UTF-8" },
	{ "a\xc0\xbc@x.org", 0, -1, "invalid UTF-8" },	/* overlong '<' */
	{ "a\xe0\x80\xbe@x.org", 0, -1, "invalid UTF-8" },	/* overlong '>' */
	{ "a\xed\xa0\x80@x.org", 0, -1, "invalid UTF-8" },	/* surrogate */
	{ "a\xf4\x90\x80\x80@x.org", 0, -1, "invalid UTF-8" },	/* > U+10FFFF */
	{ "a\x80@x.org", 0, -1, "invalid UTF-8" },
	{ "a\xc2\x85@x.org", 0, -1, "control character U+0085" },
	{ "\"a\xc2\x9b\"@x.org", 0, -1, "control character U+009B" },
	{ "a\xc2\xa0@x.org", 0, 0, NULL },	/* no-break space: not a control */
};

/* One utf8_seq() case: the bytes and the sequence length wanted. */
static const struct {
	const char *s;
	size_t	 want;
} seqs[] = {
	{ "a", 1 }, { "", 1 }, { "\x7f", 1 },
	{ "\xc2\x80", 2 }, { "\xdf\xbf", 2 },
	{ "\xe0\xa0\x80", 3 }, { "\xed\x9f\xbf", 3 }, { "\xef\xbf\xbf", 3 },
	{ "\xf0\x90\x80\x80", 4 }, { "\xf4\x8f\xbf\xbf", 4 },
	{ "\x80", 0 }, { "\xbf", 0 }, { "\xc0\x80", 0 }, { "\xc1\xbf", 0 },
	{ "\xc2", 0 }, { "\xc2\x41", 0 }, { "\xe0\x9f\xbf", 0 },
	{ "\xe1\x80", 0 }, { "\xed\xa0\x80", 0 }, { "\xed\xbf\xbf", 0 },
	{ "\xf0\x8f\xbf\xbf", 0 }, { "\xf4\x90\x80\x80", 0 },
	{ "\xf5\x80\x80\x80", 0 }, { "\xf1\x80\x80", 0 }, { "\xff", 0 },
};

/* test_utf8 - the UTF-8 sequence check and addr_ascii() */
static void
test_utf8(void)
{
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		is_int(utf8_seq((const unsigned char *)seqs[i].s), seqs[i].want,
		    "utf8 sequence [%s]", vis(seqs[i].s));
	ok(addr_ascii("a@x.org") && addr_ascii(""), "ASCII addresses");
	ok(!addr_ascii("j\xc3\xb6rg@x.org") && !addr_ascii("a@x.\xff"),
	    "non-ASCII addresses");

	/* log_safe: UTF-8 kept whole, anything else escaped */
	is_str(log_safe(buf, sizeof(buf), "j\xc3\xb6rg \xe2\x98\x83"),
	    "j\xc3\xb6rg \xe2\x98\x83", "log_safe keeps UTF-8");
	is_str(log_safe(buf, sizeof(buf), "j\xf6rg"), "j\\xf6rg",
	    "log_safe escapes a Latin-1 byte");
	is_str(log_safe(buf, sizeof(buf), "a\xc2\x85\xc2\x9b["), "a\\xc2\\x85\\xc2\\x9b[",
	    "log_safe escapes C1 controls");
	is_str(log_safe(buf, sizeof(buf), "a\xe2\x82"), "a\\xe2\\x82",
	    "log_safe escapes a cut sequence");
	is_str(log_safe(buf, 4, "a\xe2\x82\xac"), "a", "log_safe never cuts a character");
}

/* test_check - addr_check(): the table, then the length limits */
static void
test_check(void)
{
	char addr[ADDR_MAX + 300], why[256];
	size_t i;
	int r;

	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		strlcpy(why, "(unset)", sizeof(why));
		r = addr_check(checks[i].addr, checks[i].flags, why, sizeof(why));
		is_int(r, checks[i].want, "check [%s]%s", vis(checks[i].addr),
		    checks[i].flags & ADDR_BARE ? " (bare allowed)" : "");
		if (checks[i].reason != NULL)
			ok(strstr(why, checks[i].reason) != NULL,
			    "  reason names the problem (%s)", why);
	}
	ok(addr_check("a@x.org", 0, NULL, 0) == 0 &&
	    addr_check("a>@x.org", 0, NULL, 0) == -1, "check without a reason buffer");

	/* local part: 64 bytes, quotes included */
	memset(addr, 'l', 64);
	strcpy(addr + 64, "@x.org");
	is_int(addr_check(addr, 0, why, sizeof(why)), 0, "local part of 64 bytes");
	memset(addr, 'l', 65);
	strcpy(addr + 65, "@x.org");
	is_int(addr_check(addr, 0, why, sizeof(why)), -1, "local part of 65 bytes");
	ok(strstr(why, "64") != NULL, "  reason: %s", why);
	is_int(addr_check("\"llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll\"@x",
	    0, why, sizeof(why)), 0, "quoted local part of 64 bytes");
	is_int(addr_check("\"lllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll\"@x",
	    0, why, sizeof(why)), -1, "quoted local part of 65 bytes");
	memset(addr, 'l', 65);
	addr[65] = '\0';
	is_int(addr_check(addr, ADDR_BARE, why, sizeof(why)), -1,
	    "bare name of 65 bytes");

	/* domain: 255 bytes, labels of 63 */
	strcpy(addr, "a@");
	for (i = 0; i < 4; i++) {
		memset(addr + strlen(addr), 'd', 63);
		addr[2 + (i + 1) * 64 - 1] = '.';
		addr[2 + (i + 1) * 64] = '\0';
	}
	addr[strlen(addr) - 1] = '\0';		/* 4 * 63 + 3 = 255 */
	is_int((int)strlen(addr + 2), 255, "  (domain fixture is 255 bytes)");
	is_int(addr_check(addr, 0, why, sizeof(why)), 0, "domain of 255 bytes");
	strlcat(addr, "d", sizeof(addr));
	is_int(addr_check(addr, 0, why, sizeof(why)), -1, "domain of 256 bytes");
	ok(strstr(why, "255") != NULL, "  reason: %s", why);
	strcpy(addr, "a@");
	memset(addr + 2, 'd', 64);
	strcpy(addr + 66, ".org");
	is_int(addr_check(addr, 0, why, sizeof(why)), -1, "label of 64 bytes");
	ok(strstr(why, "63") != NULL, "  reason: %s", why);
	addr[2] = '.';
	memmove(addr + 2, addr + 3, strlen(addr + 3) + 1);
	is_int(addr_check(addr, 0, why, sizeof(why)), 0, "label of 63 bytes");

	/* the whole: ADDR_MAX */
	memset(addr, 'a', ADDR_MAX);
	addr[ADDR_MAX] = '\0';
	is_int(addr_check(addr, ADDR_BARE, why, sizeof(why)), -1,
	    "ADDR_MAX bytes refused");
	ok(strstr(why, "longer") != NULL, "  reason: %s", why);
}

/* vis - value for a test name, line breaks shown as \\n */
static const char *
vis(const char *s)
{
	static char buf[512];

	return (log_safe(buf, sizeof(buf), s));
}

int
main(void)
{
	char **addrs, why[256], got[4096];
	size_t i;
	int r;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		why[0] = '\0';
		addrs = (char **)1;
		r = mail_parse_addrs(tests[i].value, &addrs, why, sizeof(why));
		if (tests[i].want == NULL) {
			is_int(r, -1, "error for [%s]", vis(tests[i].value));
			ok(r != -1 || why[0] != '\0', "  reason given (%s)", why);
			ok(addrs == NULL, "  no array on error");
			if (r == 0)
				mail_free_addrs(addrs);
			continue;
		}
		is_int(r, 0, "parse [%s]", vis(tests[i].value));
		if (r != 0) {
			printf("#   why: %s\n", why);
			continue;
		}
		is_str(join(addrs, got, sizeof(got)), tests[i].want,
		    "  addresses of [%s]", vis(tests[i].value));
		mail_free_addrs(addrs);
	}
	test_long();
	mail_free_addrs(NULL);
	test_check();
	test_utf8();
	return (done_testing());
}
