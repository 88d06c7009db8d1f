/*
 * t_confkey.c - what dma -bP is built on: conf_check() going on after a
 * problem and reporting each with its line, conf_key() walking the key
 * table with values and origins, conf_check_auth() never handing out a
 * password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dma.h"
#include "tap.h"

static char tmpdir[64];
static char path[128];
static char reports[2048];
static char entries[1024];

static void
write_file(const char *name, const char *text)
{
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((fp = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, fp);
	fclose(fp);
}

/* report - collect the problems, one per line, file name cut off */
static void
report(void *arg, const char *msg)
{
	const char *p = strrchr(msg, '/');

	(void)arg;
	strlcat(reports, p != NULL ? p + 1 : msg, sizeof(reports));
	strlcat(reports, "\n", sizeof(reports));
}

static void
entry(void *arg, const char *login, const char *host, unsigned line)
{
	char buf[256];

	(void)arg;
	snprintf(buf, sizeof(buf), "%s|%s:%u\n", login, host, line);
	strlcat(entries, buf, sizeof(entries));
}

/* reset - free the strings of c (zero or set by conf_init) and init it */
static void
reset(struct config *c)
{
	free(c->smarthost);
	free(c->aliases);
	free(c->spooldir);
	free(c->authpath);
	free(c->certfile);
	free(c->mailname);
	free(c->masquerade_user);
	free(c->masquerade_host);
	conf_init(c);
}

/* key - conf_key() of the key called name, or NULL */
static const struct conf_keyinfo *
key(const struct config *c, const char *name)
{
	static struct conf_keyinfo ki;
	size_t i;

	for (i = 0; conf_key(i, c, &ki) == 0; i++)
		if (strcmp(ki.name, name) == 0)
			return (&ki);
	return (NULL);
}

int
main(void)
{
	const struct conf_keyinfo *k;
	struct config c;
	char why[512], cmd[128];
	size_t i;
	struct conf_keyinfo ki;

	strlcpy(tmpdir, "/tmp/t_confkey.XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return (1);
	}

	/* every problem, in order, with its line; the rest applied */
	write_file("dma.conf", "SMARTHOST relay.test\nBOGUS 1\nPORT 0\n"
	    "STARTTLS x\nPORT 2525\nNULLCLIENT\nLOCALONLY\n");
	memset(&c, 0, sizeof(c));
	reset(&c);
	reports[0] = '\0';
	is_int(conf_check(path, &c, why, sizeof(why), report, NULL), CONF_ESYNTAX,
	    "conf_check: CONF_ESYNTAX after problems");
	is_str(reports, "dma.conf:2: unknown key `BOGUS'\n"
	    "dma.conf:3: PORT must be a number from 1 to 65535\n"
	    "dma.conf:4: STARTTLS takes no value\n"
	    "dma.conf: LOCALONLY and NULLCLIENT exclude each other\n",
	    "conf_check: every problem reported with its line");
	is_int(c.port, 2525, "conf_check: a later good line still applies");
	ok((k = key(&c, "PORT")) != NULL && k->line == 5 && strcmp(k->value, "2525") == 0,
	    "conf_key: PORT 2525 from line 5");
	ok((k = key(&c, "SMARTHOST")) != NULL && k->set && k->line == 1,
	    "conf_key: SMARTHOST from line 1");
	ok((k = key(&c, "STARTTLS")) != NULL && k->flag && !k->set && k->line == 0,
	    "conf_key: a flag with a bad value stays unset, default");
	ok((k = key(&c, "NULLCLIENT")) != NULL && k->flag && k->set && k->line == 6,
	    "conf_key: a flag set on line 6");

	/* conf_init forgets the lines; conf_load records them too */
	reset(&c);
	ok((k = key(&c, "PORT")) != NULL && k->line == 0 && strcmp(k->value, "25") == 0,
	    "conf_init: back to the default, no line");
	ok((k = key(&c, "AUTHPATH")) != NULL && !k->set && k->value[0] == '\0',
	    "conf_key: an unset string");
	write_file("dma.conf", "# x\nMASQUERADE joe@\n");
	is_int(conf_load(path, &c, why, sizeof(why)), CONF_OK, "conf_load: ok");
	ok((k = key(&c, "MASQUERADE")) != NULL && strcmp(k->value, "joe@") == 0 &&
	    k->line == 2, "conf_key: MASQUERADE user part only, line 2");
	for (i = 0; conf_key(i, &c, &ki) == 0; i++)
		;
	ok(i >= 24, "conf_key: walks the whole table (%zu keys)", i);
	is_int(conf_key(i, &c, &ki), -1, "conf_key: -1 past the end");

	/* auth.conf: good entries without password, bad lines with theirs */
	write_file("auth.conf", "# c\na@b|relay.test:pw1\nbroken\n\nc|other.test pw2\n");
	reports[0] = entries[0] = '\0';
	is_int(conf_check_auth(path, entry, report, NULL, why, sizeof(why)), CONF_ESYNTAX,
	    "conf_check_auth: CONF_ESYNTAX");
	is_str(entries, "a@b|relay.test:2\nc|other.test:5\n",
	    "conf_check_auth: every good entry with its line");
	is_str(reports, "auth.conf:3: not login|host:password\n",
	    "conf_check_auth: the bad line");
	ok(strstr(entries, "pw") == NULL && strstr(reports, "pw") == NULL,
	    "conf_check_auth: no password handed out");
	snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
	is_int(conf_check_auth(path, entry, report, NULL, why, sizeof(why)), CONF_EOPEN,
	    "conf_check_auth: a missing file is CONF_EOPEN");

	reset(&c);
	free(c.aliases);
	free(c.spooldir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return (done_testing());
}
