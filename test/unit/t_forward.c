/*
 * t_forward.c - the dma-forward output parser and the expansion of
 * .forward entries in rcpt.c (with a stand-in for the helper).  Uses the
 * users root, mail and nobody, which exist on every Debian system.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma.h"
#include "tap.h"

#define NOUSER		"nosuchuser-zz9"

static void
test_parse(void)
{
	static const struct {
		const char *in;
		size_t	 len;		/* 0: strlen(in) */
		int	 ret;
		const char *want;	/* "kind:text|..." or the error */
	} cases[] = {
		{ "", 0, 0, "" },
		{ "forward a@b.example\n", 0, 0, "F:a@b.example|" },
		{ "local alice\nforward bob\n", 0, 0, "L:alice|F:bob|" },
		{ "refused `|x': delivery to a program is not supported\n"
		  "unsafe group or world writable\n", 0, 0,
		  "R:`|x': delivery to a program is not supported|"
		  "U:group or world writable|" },
		{ "forward a b c\n", 0, 0, "F:a b c|" },
		{ "forward a@b.example", 0, -1, "line 1 not terminated" },
		{ "forward a\nbogus x\n", 0, -1, "line 2 malformed" },
		{ "forward \n", 0, -1, "line 1 malformed" },
		{ "forward\n", 0, -1, "line 1 malformed" },
		{ "Forward a\n", 0, -1, "line 1 malformed" },
		{ "forward a\r\n", 0, -1, "line 1 has a control character" },
		{ "forward a\0b\n", 12, -1, "line 1 has a control character" },
		{ "\n", 0, -1, "line 1 malformed" },
	};
	static const char kinds[] = "FLRU";
	struct fwdlist fl;
	char got[512], why[128];
	size_t i, j, len;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].in);
		why[0] = '\0';
		r = forward_parse(cases[i].in, len, &fl, why, sizeof(why));
		got[0] = '\0';
		if (r == 0) {
			for (j = 0; j < fl.n; j++) {
				size_t n = strlen(got);

				snprintf(got + n, sizeof(got) - n, "%c:%s|",
				    kinds[fl.item[j].kind], fl.item[j].text);
			}
		} else
			strlcpy(got, why, sizeof(got));
		is_int(r, cases[i].ret, "parse %zu: status", i);
		is_str(got, cases[i].want, "parse %zu: result", i);
		ok(r != 0 ? fl.n == 0 && fl.item == NULL : 1,
		    "parse %zu: a failure leaves the list empty", i);
		forward_free(&fl);
	}
}

/* The .forward files of the stand-in helper: user, its output. */
static const char *const *files;

/* fake_lookup - forward_lookup without the helper */
static int
fake_lookup(const char *user, struct fwdlist *fl)
{
	struct fwdlist all;
	char why[128];
	size_t i;

	memset(fl, 0, sizeof(*fl));
	for (i = 0; files != NULL && files[i] != NULL; i += 2) {
		if (strcmp(files[i], user) != 0)
			continue;
		if (forward_parse(files[i + 1], strlen(files[i + 1]), &all, why,
		    sizeof(why)) != 0)
			return (-1);
		*fl = all;
		/* Refused entries stay in: rcpt.c must skip them itself. */
		for (i = 0; i < fl->n; i++)
			if (fl->item[i].kind == FWD_UNSAFE) {
				forward_free(fl);
				return (-1);
			}
		return (0);
	}
	return (0);
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

static void
dump(const struct rcptlist *l, char *buf, size_t len)
{
	const struct rcpt *r;

	buf[0] = '\0';
	for (r = l->head; r != NULL; r = r->next) {
		if (buf[0] != '\0')
			strlcat(buf, " ", len);
		strlcat(buf, r->addr, len);
		if (r->local != (strchr(r->addr, '@') == NULL))
			strlcat(buf, "?", len);
	}
}

static void
test_expand(void)
{
	static const char *const f_remote[] = { "root",
	    "forward x@remote.example\n", NULL };
	static const char *const f_self[] = { "root",
	    "local root\nforward x@remote.example\n", NULL };
	static const char *const f_loop[] = { "root", "forward mail\n",
	    "mail", "forward root\n", NULL };
	static const char *const f_loop3[] = { "root", "forward mail\n",
	    "mail", "local mail\nforward nobody\n", "nobody", "forward root\n",
	    NULL };
	static const char *const f_bad[] = { "root",
	    "forward not valid!\nforward " NOUSER "\nlocal " NOUSER "\n"
	    "forward mail\n", NULL };
	static const char *const f_allbad[] = { "root",
	    "forward not valid!\nrefused `|x': program\n", NULL };
	static const char *const f_unsafe[] = { "root",
	    "forward mail\nunsafe group or world writable\n", NULL };
	static const char *const f_own[] = { "root", "forward root\n"
	    "forward mail\n", "mail", "forward mail\n", NULL };
	static const char *const f_staff[] = { "root", "forward staff\n", NULL };
	static const char *const f_prog[] = { "root", "forward |/bin/sh\n"
	    "forward \"/tmp/x\"\nforward :include:/etc/passwd\n", NULL };
	static const char *const f_chain[] = { "root", "forward mail\n",
	    "mail", "forward nobody@localhost\n", NULL };
	static const struct {
		const char *name;
		const char *const *files;
		const char *aliases, *rcpt;
		enum rcpt_err err;
		const char *want;	/* list, or why on error */
	} cases[] = {
		{ "no .forward", NULL, NULL, "root", RCPT_OK, "root" },
		{ "remote", f_remote, NULL, "root", RCPT_OK, "x@remote.example" },
		{ "via localhost", f_remote, NULL, "root@localhost", RCPT_OK,
		    "x@remote.example" },
		{ "\\self", f_self, NULL, "root", RCPT_OK,
		    "root x@remote.example" },
		{ "loop", f_loop, NULL, "root", RCPT_ELOOP,
		    "forwarding loop: root -> mail -> root" },
		{ "loop of three", f_loop3, NULL, "root", RCPT_ELOOP,
		    "forwarding loop: root -> mail -> nobody -> root" },
		{ "bad entries skipped", f_bad, NULL, "root", RCPT_OK, "mail" },
		{ "nothing usable", f_allbad, NULL, "root", RCPT_OK, "root" },
		{ "unsafe", f_unsafe, NULL, "root", RCPT_OK, "root" },
		{ "own name", f_own, NULL, "root", RCPT_OK, "root mail" },
		{ "alias target", f_remote, "team: root, mail\n", "team", RCPT_OK,
		    "x@remote.example mail" },
		{ "alias loop through .forward", f_staff, "staff: root\n", "staff",
		    RCPT_ELOOP, "forwarding loop: staff -> root -> staff" },
		{ "chain", f_chain, NULL, "root", RCPT_OK, "nobody" },
		{ "programs and files from a broken helper", f_prog, NULL, "root",
		    RCPT_OK, "root" },
		{ "alias loop without .forward", NULL, "a: b\nb: a\n", "a",
		    RCPT_ELOOP, "alias loop: a -> b -> a" },
	};
	struct rcptlist l;
	struct alias *tbl;
	char got[512], why[512];
	enum rcpt_err r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tbl = aliases(cases[i].aliases);
		rcpt_init(&l, tbl);
		l.forward = fake_lookup;
		files = cases[i].files;
		why[0] = '\0';
		r = rcpt_add(&l, cases[i].rcpt, 1, why, sizeof(why));
		if (r == RCPT_OK)
			dump(&l, got, sizeof(got));
		else
			strlcpy(got, why, sizeof(got));
		is_int(r, cases[i].err, "%s: status", cases[i].name);
		is_str(got, cases[i].want, "%s: result", cases[i].name);
		rcpt_free(&l);
		alias_free(tbl);
	}

	/* DOTFORWARD decides whether rcpt_init sets the lookup. */
	config.features &= ~DOTFORWARD;
	rcpt_init(&l, NULL);
	ok(l.forward == NULL, "DOTFORWARD off: no lookup");
	config.features |= DOTFORWARD;
	rcpt_init(&l, NULL);
	ok(l.forward == forward_lookup, "DOTFORWARD on: forward_lookup");
	config.features &= ~DOTFORWARD;
}

int
main(void)
{
	hostname_init(NULL);
	test_parse();
	test_expand();
	return (done_testing());
}
