/*
 * t_rcpt.c - recipient canonicalisation, checks, alias expansion and
 * operand splitting.  Uses the users root, mail and nobody, which exist
 * on every Debian system, and names that surely do not exist.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma.h"
#include "tap.h"

#define MAILNAME	"mail.example.org"
#define NOUSER		"nosuchuser-zz9"

static void
set_mailname(const char *name, int nullclient)
{
	free(config.mailname);
	config.mailname = name != NULL ? xstrdup(name) : NULL;
	if (nullclient)
		config.features |= NULLCLIENT;
	else
		config.features &= ~NULLCLIENT;
	hostname_init(config.mailname);
}

static struct alias *
aliases(const char *text)
{
	struct alias *tbl;
	char why[256];
	FILE *fp;

	if (text == NULL)
		return (NULL);
	fp = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
	if (fp == NULL || alias_load_file(fp, "test", &tbl, why, sizeof(why)) != 0) {
		printf("# bad alias fixture: %s\n", why);
		exit(1);
	}
	fclose(fp);
	return (tbl);
}

/*
 * dump - "addr addr ..." of a list; an entry whose local flag disagrees
 * with its form (local iff no '@') is marked with '?', a wrong count '#'.
 */
static void
dump(const struct rcptlist *l, char *buf, size_t len)
{
	const struct rcpt *r;
	size_t n = 0;

	buf[0] = '\0';
	for (r = l->head; r != NULL; r = r->next, n++) {
		if (buf[0] != '\0')
			strlcat(buf, " ", len);
		strlcat(buf, r->addr, len);
		if (r->local != (strchr(r->addr, '@') == NULL))
			strlcat(buf, "?", len);
		if (r->next == NULL && r != l->tail)
			strlcat(buf, "(tail)", len);
	}
	if (n != l->n)
		strlcat(buf, "#", len);
}

static void
test_canonical(void)
{
	static const struct {
		const char *addr, *out;
		int	 nullclient, local;
	} cases[] = {
		{ "root", "root", 0, 1 },
		{ "root@localhost", "root", 0, 1 },
		{ "root@LocalHost", "root", 0, 1 },
		{ "root@" MAILNAME, "root", 0, 1 },
		{ "root@MAIL.Example.ORG", "root", 0, 1 },
		{ "Root@localhost", "Root", 0, 1 },
		{ "joe@Example.COM", "joe@example.com", 0, 0 },
		{ "Joe.Doe@EXAMPLE.com", "Joe.Doe@example.com", 0, 0 },
		{ "joe@example.org.localhost", "joe@example.org.localhost", 0, 0 },
		{ "joe@sub." MAILNAME, "joe@sub." MAILNAME, 0, 0 },
		{ "a@b@localhost", "a@b", 0, 0 },
		{ "root@localhost@localhost", "root", 0, 1 },
		{ "\"a@b\"@localhost", "\"a@b\"", 0, 1 },
		{ "\"a@b\"@X.ORG", "\"a@b\"@x.org", 0, 0 },
		/* NULLCLIENT: nothing is local, bare names are qualified */
		{ "root", "root@" MAILNAME, 1, 0 },
		{ "root@localhost", "root@" MAILNAME, 1, 0 },
		{ "root@MAIL.example.org", "root@" MAILNAME, 1, 0 },
		{ "joe@Example.COM", "joe@example.com", 1, 0 },
	};
	char out[ADDR_MAX + 300], in[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_mailname(MAILNAME, cases[i].nullclient);
		is_int(rcpt_canonical(cases[i].addr, out, sizeof(out)), cases[i].local,
		    "canonical %s%s: local", cases[i].addr,
		    cases[i].nullclient ? " (nullclient)" : "");
		is_str(out, cases[i].out, "canonical %s%s", cases[i].addr,
		    cases[i].nullclient ? " (nullclient)" : "");
	}

	/* the system host name is local too, even with MAILNAME set */
	set_mailname(MAILNAME, 0);
	snprintf(in, sizeof(in), "root@%s", systemhostname());
	is_int(rcpt_canonical(in, out, sizeof(out)), 1, "system host name is local");
	is_str(out, "root", "system host name stripped");

	/* without MAILNAME, hostname() is the system host name (lower-cased) */
	set_mailname(NULL, 1);
	snprintf(in, sizeof(in), "root@%s", systemhostname());
	for (i = 0; in[i] != '\0'; i++)
		if (in[i] >= 'A' && in[i] <= 'Z')
			in[i] = (char)(in[i] - 'A' + 'a');
	is_int(rcpt_canonical("root", out, sizeof(out)), 0, "nullclient without MAILNAME");
	is_str(out, in, "nullclient qualifies with the system host name");
	set_mailname(MAILNAME, 0);
}

static const struct {
	const char *aliases;	/* aliases(5) text, or NULL for none */
	const char *operand;	/* rcpt_add_list() argument */
	int	 nullclient;
	enum rcpt_err ret;
	const char *list;	/* dump of the list afterwards */
	const char *why;	/* expected message, or NULL */
} cases[] = {
	/* plain local users and local-domain stripping */
	{ NULL, "root", 0, RCPT_OK, "root", NULL },
	{ NULL, "root, mail@localhost, nobody@MAIL.EXAMPLE.ORG", 0, RCPT_OK,
	    "root mail nobody", NULL },
	{ NULL, "x@Example.ORG", 0, RCPT_OK, "x@example.org", NULL },
	/* dedup after canonicalisation, exact otherwise */
	{ NULL, "root,root@localhost,root@" MAILNAME, 0, RCPT_OK, "root", NULL },
	{ NULL, "x@Example.org, x@example.ORG", 0, RCPT_OK, "x@example.org", NULL },
	{ NULL, "X@example.org, x@example.org", 0, RCPT_OK,
	    "X@example.org x@example.org", NULL },
	/* insertion order */
	{ NULL, "b@x.org, root, a@x.org, mail", 0, RCPT_OK,
	    "b@x.org root a@x.org mail", NULL },
	/* unknown users */
	{ NULL, NOUSER, 0, RCPT_ENOUSER, "", "invalid recipient `" NOUSER "'" },
	{ NULL, NOUSER "@localhost", 0, RCPT_ENOUSER, "",
	    "invalid recipient `" NOUSER "@localhost'" },
	{ NULL, "../etc/passwd", 0, RCPT_EINVAL, "", "invalid recipient `../etc/passwd'" },
	{ NULL, "ROOT", 0, RCPT_ENOUSER, "", "invalid recipient `ROOT'" },
	{ NULL, "root, " NOUSER, 0, RCPT_ENOUSER, "root",
	    "invalid recipient `" NOUSER "'" },
	/* syntax */
	{ NULL, "root,\001x", 0, RCPT_EINVAL, "root", "invalid recipient `\\x01x'" },
	{ NULL, "a\rb@x.org", 0, RCPT_EINVAL, "", "invalid recipient `a\\rb@x.org'" },
	{ NULL, "a\nb", 0, RCPT_EINVAL, "", "invalid recipient `a\\nb'" },
	{ NULL, "a\x7f", 0, RCPT_EINVAL, "", "invalid recipient `a\\x7f'" },
	{ NULL, "joe doe@x.org", 0, RCPT_EINVAL, "", "invalid recipient `joe doe@x.org'" },
	{ NULL, "a<b@x.org", 0, RCPT_EINVAL, "", "invalid recipient `a<b@x.org'" },
	{ NULL, "a>b@x.org", 0, RCPT_EINVAL, "", "invalid recipient `a>b@x.org'" },
	{ NULL, "<a<b>", 0, RCPT_EINVAL, "", "invalid recipient `a<b'" },
	{ NULL, "x@", 0, RCPT_EINVAL, "", "invalid recipient `x@'" },
	{ NULL, "@x.org", 0, RCPT_EINVAL, "", "invalid recipient `@x.org'" },
	{ NULL, "\"open@x.org", 0, RCPT_EINVAL, "", "invalid recipient `\"open@x.org'" },
	{ NULL, "<>", 0, RCPT_EINVAL, "", "invalid recipient `'" },
	{ NULL, "\"joe doe\"@X.org", 0, RCPT_OK, "\"joe doe\"@x.org", NULL },
	/* ESMTP parameters smuggled into RCPT TO:<...> */
	{ NULL, "bob@x> NOTIFY=NEVER", 0, RCPT_EINVAL, "",
	    "invalid recipient `bob@x> NOTIFY=NEVER'" },
	{ NULL, "<bob@x.org> NOTIFY=NEVER", 0, RCPT_EINVAL, "",
	    "invalid recipient `<bob@x.org> NOTIFY=NEVER'" },
	{ NULL, "\"bob> ORCPT=x\"@x.org", 0, RCPT_EINVAL, "",
	    "invalid recipient `\"bob> ORCPT=x\"@x.org'" },
	{ NULL, "\"a<b\"@x.org", 0, RCPT_EINVAL, "", "invalid recipient `\"a<b\"@x.org'" },
	/* strict RFC 5321 syntax */
	{ NULL, "a@b@x.org", 0, RCPT_EINVAL, "", "invalid recipient `a@b@x.org'" },
	{ NULL, ".a@x.org", 0, RCPT_EINVAL, "", "invalid recipient `.a@x.org'" },
	{ NULL, "a..b@x.org", 0, RCPT_EINVAL, "", "invalid recipient `a..b@x.org'" },
	{ NULL, "a@x..org", 0, RCPT_EINVAL, "", "invalid recipient `a@x..org'" },
	{ NULL, "a@-x.org", 0, RCPT_EINVAL, "", "invalid recipient `a@-x.org'" },
	{ NULL, "a@x.org.", 0, RCPT_EINVAL, "", "invalid recipient `a@x.org.'" },
	{ NULL, "a@[192.0.2.1", 0, RCPT_EINVAL, "", "invalid recipient `a@[192.0.2.1'" },
	{ NULL, "a@[192.0.2.1]", 0, RCPT_OK, "a@[192.0.2.1]", NULL },
	{ NULL, "a@[IPv6:2001:db8::1]", 0, RCPT_OK, "a@[ipv6:2001:db8::1]", NULL },
	{ NULL, "O'Neil+tag@x.org", 0, RCPT_OK, "O'Neil+tag@x.org", NULL },
	/* alias targets pass the same check */
	{ "evil: a@b@x.org\n", "evil", 0, RCPT_EINVAL, "",
	    "invalid recipient `evil': invalid alias target `a@b@x.org'" },
	{ "evil: x@y.org>NOTIFY=NEVER\n", "evil", 0, RCPT_EINVAL, "",
	    "invalid recipient `evil': invalid alias target `x@y.org>NOTIFY=NEVER'" },
	/* operand splitting */
	{ NULL, "", 0, RCPT_OK, "", NULL },
	{ NULL, " , ,, ", 0, RCPT_OK, "", NULL },
	{ NULL, "<root>,<mail>", 0, RCPT_OK, "root mail", NULL },
	{ NULL, "  < root >  ,\tmail\t", 0, RCPT_OK, "root mail", NULL },
	{ NULL, "\"a, b\"@x.org, root", 0, RCPT_OK, "\"a, b\"@x.org root", NULL },
	{ NULL, "Joe <j@x.org>, \"Doe, John\" <d@x.org>", 0, RCPT_OK,
	    "j@x.org d@x.org", NULL },
	{ NULL, "\"a\\\", b\"@x.org", 0, RCPT_OK, "\"a\\\", b\"@x.org", NULL },
	{ NULL, "<a,b@x.org>", 0, RCPT_EINVAL, "", "invalid recipient `a,b@x.org'" },
	/* aliases */
	{ "al: mail, x@example.org\n", "al", 0, RCPT_OK, "mail x@example.org", NULL },
	{ "al: mail, x@example.org\n", "AL@LOCALHOST", 0, RCPT_OK,
	    "mail x@example.org", NULL },
	{ "al: mail, x@example.org\n", "al@x.org", 0, RCPT_OK, "al@x.org", NULL },
	{ "n1: n2\nn2: n3, y@example.org\nn3: nobody\n", "n1", 0, RCPT_OK,
	    "nobody y@example.org", NULL },
	{ "a: root\nb: mail\na: nobody\n", "a", 0, RCPT_OK, "root nobody", NULL },
	{ "a: root, b\nb: root@localhost, mail\n", "a", 0, RCPT_OK, "root mail", NULL },
	{ "a: b@localhost\nb: root\n", "a", 0, RCPT_OK, "root", NULL },
	{ "root: mail\n", "root", 0, RCPT_OK, "mail", NULL },
	/* the catch-all, for top-level names only */
	{ "*: mail\n", "root", 0, RCPT_OK, "mail", NULL },
	{ "*: mail\n", NOUSER, 0, RCPT_OK, "mail", NULL },
	{ "*: x@example.org\n", "root, y@example.org", 0, RCPT_OK,
	    "x@example.org y@example.org", NULL },
	{ "*: mail\nal: root\n", "al", 0, RCPT_OK, "root", NULL },
	{ "*: mail\nal: " NOUSER "\n", "al", 0, RCPT_ENOUSER, "",
	    "invalid recipient `al': no such user `" NOUSER "'" },
	{ "*: " NOUSER "\n", "root", 0, RCPT_ENOUSER, "",
	    "invalid recipient `root': no such user `" NOUSER "'" },
	/* self reference: the user gets a copy */
	{ "root: root, z@example.org\n", "root", 0, RCPT_OK, "root z@example.org", NULL },
	{ "a: root\nroot: root, mail\n", "a", 0, RCPT_OK, "root mail", NULL },
	{ "*: root\n", "root", 0, RCPT_OK, "root", NULL },
	{ NOUSER ": " NOUSER "\n", NOUSER, 0, RCPT_ENOUSER, "",
	    "invalid recipient `" NOUSER "': no such user `" NOUSER "'" },
	/* loops */
	{ "a1: a2\na2: a1\n", "a1", 0, RCPT_ELOOP, "", "alias loop: a1 -> a2 -> a1" },
	{ "a1: a2\na2: a1\n", "a2", 0, RCPT_ELOOP, "", "alias loop: a2 -> a1 -> a2" },
	{ "a: b\nb: c, root\nc: b\n", "a", 0, RCPT_ELOOP, "",
	    "alias loop: b -> c -> b" },
	{ "a1: a2@localhost\na2: A1\n", "a1", 0, RCPT_ELOOP, "",
	    "alias loop: a1 -> a2 -> A1" },
	/* program and file targets */
	{ "al: |/bin/cat\n", "al", 0, RCPT_EINVAL, "",
	    "invalid recipient `al': alias target `|/bin/cat' is a program or file "
	    "(not supported)" },
	{ "al: root, /tmp/file\n", "al@localhost", 0, RCPT_EINVAL, "root",
	    "invalid recipient `al@localhost': alias target `/tmp/file' is a program "
	    "or file (not supported)" },
	{ "al: \"|cmd\n", "al", 0, RCPT_EINVAL, "",
	    "invalid recipient `al': alias target `\"|cmd' is a program or file "
	    "(not supported)" },
	{ "al: b\nb: /dev/null\n", "al", 0, RCPT_EINVAL, "",
	    "invalid recipient `al': alias target `/dev/null' is a program or file "
	    "(not supported)" },
	{ "al: <root>\n", "al", 0, RCPT_EINVAL, "",
	    "invalid recipient `al': invalid alias target `<root>'" },
	/* NULLCLIENT: no aliases, no user check, everything qualified */
	{ "root: mail\n", "root, X@Example.org, al@localhost, " NOUSER, 1, RCPT_OK,
	    "root@" MAILNAME " X@example.org al@" MAILNAME " " NOUSER "@" MAILNAME,
	    NULL },
};

static void
test_cases(void)
{
	struct rcptlist l;
	struct alias *tbl;
	char got[1024], why[512];
	enum rcpt_err r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_mailname(MAILNAME, cases[i].nullclient);
		tbl = aliases(cases[i].aliases);
		rcpt_init(&l, tbl);
		strlcpy(why, "(unset)", sizeof(why));
		r = rcpt_add_list(&l, cases[i].operand, why, sizeof(why));
		is_int(r, cases[i].ret, "case %zu: return", i);
		dump(&l, got, sizeof(got));
		is_str(got, cases[i].list, "case %zu: list", i);
		if (cases[i].why != NULL)
			is_str(why, cases[i].why, "case %zu: message", i);
		rcpt_free(&l);
		ok(l.head == NULL && l.tail == NULL && l.n == 0, "case %zu: freed", i);
		alias_free(tbl);
	}
	set_mailname(MAILNAME, 0);
}

/* rcpt_add() directly: catch-all only for top-level recipients */
static void
test_toplevel(void)
{
	struct rcptlist l;
	struct alias *tbl = aliases("*: mail\n");
	char got[256], why[256];

	set_mailname(MAILNAME, 0);
	rcpt_init(&l, tbl);
	is_int(rcpt_add(&l, "root", 0, why, sizeof(why)), RCPT_OK, "non-top-level root");
	is_int(rcpt_add(&l, "nobody", 1, why, sizeof(why)), RCPT_OK, "top-level nobody");
	dump(&l, got, sizeof(got));
	is_str(got, "root mail", "catch-all used for the top-level name only");
	rcpt_free(&l);
	alias_free(tbl);

	/* no alias table (queue runs) */
	rcpt_init(&l, NULL);
	is_int(rcpt_add(&l, "root@localhost", 1, why, sizeof(why)), RCPT_OK, "no table");
	dump(&l, got, sizeof(got));
	is_str(got, "root", "no table: plain local user");
	rcpt_free(&l);
}

static void
test_depth(void)
{
	char text[4096], got[256], why[256], line[64];
	struct rcptlist l;
	struct alias *tbl;
	int levels, i;

	set_mailname(MAILNAME, 0);
	for (levels = ALIAS_DEPTH; levels <= ALIAS_DEPTH + 1; levels++) {
		text[0] = '\0';
		for (i = 0; i < levels; i++) {
			if (i + 1 < levels)
				snprintf(line, sizeof(line), "l%d: l%d\n", i, i + 1);
			else
				snprintf(line, sizeof(line), "l%d: root\n", i);
			strlcat(text, line, sizeof(text));
		}
		tbl = aliases(text);
		rcpt_init(&l, tbl);
		if (levels == ALIAS_DEPTH) {
			is_int(rcpt_add(&l, "l0", 1, why, sizeof(why)), RCPT_OK,
			    "%d levels of aliases", levels);
			dump(&l, got, sizeof(got));
			is_str(got, "root", "%d levels: expanded", levels);
		} else {
			is_int(rcpt_add(&l, "l0", 1, why, sizeof(why)), RCPT_ELOOP,
			    "%d levels of aliases", levels);
			is_str(why, "alias loop: more than 20 levels of aliases below `l0'",
			    "%d levels: message", levels);
		}
		rcpt_free(&l);
		alias_free(tbl);
	}
}

static void
test_limits(void)
{
	char addr[ADDR_MAX + 2], why[256], want[256];
	struct rcptlist l;
	int i;
	enum rcpt_err r = RCPT_OK;

	set_mailname(MAILNAME, 0);
	rcpt_init(&l, NULL);
	memset(addr, 'a', ADDR_MAX - 6);
	strcpy(addr + ADDR_MAX - 6, "@x.org");
	is_int(rcpt_add(&l, addr, 1, why, sizeof(why)), RCPT_EINVAL,
	    "ADDR_MAX bytes (a local part over 64)");
	addr[0] = 'b';
	memmove(addr + 1, addr, ADDR_MAX + 1);
	is_int(rcpt_add(&l, addr, 1, why, sizeof(why)), RCPT_EINVAL, "ADDR_MAX + 1 bytes");
	rcpt_free(&l);

	/* NULLCLIENT qualification must not produce an over-long address */
	set_mailname(MAILNAME, 1);
	memset(addr, 'a', ADDR_MAX - 3);
	addr[ADDR_MAX - 3] = '\0';
	is_int(rcpt_add(&l, addr, 1, why, sizeof(why)), RCPT_EINVAL,
	    "qualified name over ADDR_MAX");
	set_mailname(MAILNAME, 0);

	for (i = 0; i < RCPT_MAX && r == RCPT_OK; i++) {
		snprintf(addr, sizeof(addr), "u%d@x.org", i);
		r = rcpt_add(&l, addr, 1, why, sizeof(why));
	}
	is_int(r, RCPT_OK, "RCPT_MAX recipients");
	is_int(l.n, RCPT_MAX, "RCPT_MAX counted");
	is_int(rcpt_add(&l, "u0@x.org", 1, why, sizeof(why)), RCPT_OK,
	    "duplicate at the limit is dropped silently");
	is_int(rcpt_add(&l, "one-more@x.org", 1, why, sizeof(why)), RCPT_ETOOMANY,
	    "RCPT_MAX + 1 recipients");
	snprintf(want, sizeof(want), "too many recipients (more than %d)", RCPT_MAX);
	is_str(why, want, "too many: message");
	rcpt_free(&l);
}

int
main(void)
{
	conf_init(&config);
	test_canonical();
	test_cases();
	test_toplevel();
	test_depth();
	test_limits();
	return (done_testing());
}
