/*
 * t_alias.c - alias_load()/alias_load_file(): grammar, continuations,
 * comments, error line numbers, missing and unreadable files.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dma.h"
#include "tap.h"

static char tmpdir[64];

/* dump - "name>dest name>dest ..." of a table */
static void
dump(const struct alias *a, char *buf, size_t len)
{
	buf[0] = '\0';
	for (; a != NULL; a = a->next) {
		if (buf[0] != '\0')
			strlcat(buf, " ", len);
		strlcat(buf, a->name, len);
		strlcat(buf, ">", len);
		strlcat(buf, a->dest, len);
	}
}

static const struct {
	const char *text;
	int	 ret;
	const char *want;	/* dump of the table, or the error message */
} cases[] = {
	{ "", 0, "" },
	{ "\n\n\n", 0, "" },
	{ "# only comments\n  # indented\n\t\n", 0, "" },
	{ "a: b\n", 0, "a>b" },
	{ "a: b, c,d ,e\n", 0, "a>b a>c a>d a>e" },
	{ "a   :   x@example.org\n", 0, "a>x@example.org" },
	{ "a:b\n", 0, "a>b" },
	/* no final newline */
	{ "a: b", 0, "a>b" },
	{ "a: b\nc: d, e", 0, "a>b c>d c>e" },
	{ "a: b # comment", 0, "a>b" },
	/* comments */
	{ "# head\na: b # trailing\n# mid\nc: d\n", 0, "a>b c>d" },
	{ "a: b,# c\n  d\n", 0, "a>b a>d" },
	/* continuation lines (leading blanks) */
	{ "a: b,\n  c,\n\td\ne: f\n", 0, "a>b a>c a>d e>f" },
	{ "a: b\n  , c\n", 0, "a>b a>c" },
	{ "a:\n  b\n", 0, "a>b" },
	/* backslash-newline */
	{ "a: b, \\\nc\n", 0, "a>b a>c" },
	{ "a: b,\\\nc\n", 0, "a>b a>c" },
	/* CRLF */
	{ "a: b,\r\n  c\r\nd: e\r\n", 0, "a>b a>c d>e" },
	/* blank lines between entries, order kept, names repeat */
	{ "a: b\n\n\nc: d\na: e\n", 0, "a>b c>d a>e" },
	/* what the parser accepts and rcpt.c refuses later */
	{ "a: |/bin/cat, /tmp/file, \"x\n", 0, "a>|/bin/cat a>/tmp/file a>\"x" },
	{ "a: user@host.example, b\\c\n", 0, "a>user@host.example a>b\\c" },
	{ "*: root\n", 0, "*>root" },
	{ "caf\xc3\xa9: b\n", 0, "caf\xc3\xa9>b" },
	/* errors, with the real line number */
	{ "a:\n", -1, "aliases line 1: syntax error" },
	{ "a: b\nc:\nd: e\n", -1, "aliases line 2: syntax error" },
	{ "a: b\nc:", -1, "aliases line 2: syntax error" },
	{ "a: b c\n", -1, "aliases line 1: syntax error" },
	{ "a b\n", -1, "aliases line 1: syntax error" },
	{ "a\n", -1, "aliases line 1: syntax error" },
	{ ": b\n", -1, "aliases line 1: syntax error" },
	{ "a: b,\n", -1, "aliases line 1: syntax error" },
	{ "a: b,,c\n", -1, "aliases line 1: syntax error" },
	{ "a: b: c\n", -1, "aliases line 1: syntax error" },
	{ "# x\n\na: b\n:include: /etc/list\n", -1, "aliases line 4: syntax error" },
	{ "a: :include:/etc/list\n", -1, "aliases line 1: syntax error" },
	{ "a: b,\n  c,\n  d\ne f\n", -1, "aliases line 4: syntax error" },
	{ "a: b\n\001: c\n", -1, "aliases line 2: syntax error" },
	{ "a: b\rc\n", -1, "aliases line 1: syntax error" },
	{ "a: b\n\n\n\nc: d\x7f\n", -1, "aliases line 5: syntax error" },
	{ "a: b,\n\n", -1, "aliases line 1: syntax error" },
	{ "a: b\\ c\n", -1, "aliases line 1: syntax error" },
};

static void
test_cases(void)
{
	char got[512], why[256], path[128];
	struct alias *tbl;
	size_t i;
	FILE *fp;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/aliases", tmpdir);
		if ((fp = fopen(path, "w")) == NULL ||
		    fwrite(cases[i].text, 1, strlen(cases[i].text), fp) !=
		    strlen(cases[i].text) || fclose(fp) != 0) {
			perror(path);
			exit(1);
		}
		why[0] = '\0';
		tbl = (struct alias *)1;
		r = alias_load(path, &tbl, why, sizeof(why));
		is_int(r, cases[i].ret, "case %zu: return", i);
		if (r == 0) {
			dump(tbl, got, sizeof(got));
			is_str(got, cases[i].want, "case %zu: table", i);
		} else {
			ok(tbl == NULL, "case %zu: no table on error", i);
			is_str(why, cases[i].want, "case %zu: message", i);
		}
		alias_free(tbl);
	}
}

/* The parser holds no state between calls: parse twice from streams. */
static void
test_stream(void)
{
	static char good[] = "x: y\n";
	static char bad[] = "\n\nx y\n";
	struct alias *tbl;
	char why[256], got[128];
	FILE *fp;
	int i;

	for (i = 0; i < 2; i++) {
		fp = fmemopen(bad, strlen(bad), "r");
		is_int(alias_load_file(fp, "mem", &tbl, why, sizeof(why)), -1,
		    "stream %d: bad", i);
		is_str(why, "aliases line 3: syntax error", "stream %d: line restarts at 1", i);
		fclose(fp);
		fp = fmemopen(good, strlen(good), "r");
		is_int(alias_load_file(fp, "mem", &tbl, why, sizeof(why)), 0,
		    "stream %d: good", i);
		dump(tbl, got, sizeof(got));
		is_str(got, "x>y", "stream %d: table", i);
		alias_free(tbl);
		fclose(fp);
	}
}

static void
test_files(void)
{
	struct alias *tbl;
	char why[256], want[256], path[128];
	int r;

	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	tbl = (struct alias *)1;
	why[0] = '\0';
	is_int(alias_load(path, &tbl, why, sizeof(why)), 0, "missing file is OK");
	ok(tbl == NULL, "missing file: empty table");
	is_str(why, "", "missing file: no message");

	/* a directory opens but cannot be read */
	tbl = (struct alias *)1;
	r = alias_load(tmpdir, &tbl, why, sizeof(why));
	is_int(r, -1, "directory: error");
	ok(tbl == NULL, "directory: no table");
	snprintf(want, sizeof(want), "could not parse aliases file `%s': %s", tmpdir,
	    strerror(EISDIR));
	is_str(why, want, "directory: message");

	/* an open error other than ENOENT */
	snprintf(path, sizeof(path), "%s/aliases/x", tmpdir);
	r = alias_load(path, &tbl, why, sizeof(why));
	is_int(r, -1, "ENOTDIR: error");
	snprintf(want, sizeof(want), "could not parse aliases file `%s': %s", path,
	    strerror(ENOTDIR));
	is_str(why, want, "ENOTDIR: message");

	/* a long file: line numbers keep counting */
	{
		FILE *fp;
		int i;

		snprintf(path, sizeof(path), "%s/aliases", tmpdir);
		fp = fopen(path, "w");
		for (i = 0; i < 5000; i++)
			fprintf(fp, "name%d: dest%d@example.org,\n  other%d\n", i, i, i);
		fprintf(fp, "broken\n");
		fclose(fp);
		is_int(alias_load(path, &tbl, why, sizeof(why)), -1, "long file: error");
		is_str(why, "aliases line 10001: syntax error", "long file: line number");
	}
}

static void
cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

int
main(void)
{
	strlcpy(tmpdir, "/tmp/t_alias.XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	test_cases();
	test_stream();
	test_files();
	cleanup();
	return (done_testing());
}
