/*
 * t_addr.c - mail_parse_addrs(): RFC 5322 address lists from To/Cc/Bcc.
 * Table of header values (after the colon) and the expected addresses,
 * or NULL for a parse error.
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
	return (done_testing());
}
