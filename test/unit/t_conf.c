/*
 * t_conf.c - conf_load(), conf_parse_fingerprint() and auth.conf parsing
 * on files written into a private temporary directory.
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
static char path[128];

/* write_file - path := contents of len bytes (len < 0: strlen) */
static void
write_file(const char *name, const char *text, long len)
{
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((fp = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(text, 1, len < 0 ? strlen(text) : (size_t)len, fp);
	fclose(fp);
}

/*
 * reset - free the strings of c (zero or previously reset) and set the
 * defaults again, so that sanitizer runs see no leaks
 */
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

/* load - conf_load() of text into a fresh config */
static enum conf_err
load(const char *text, struct config *c, char *why, size_t whylen)
{
	write_file("dma.conf", text, -1);
	reset(c);
	why[0] = '\0';
	return (conf_load(path, c, why, whylen));
}

static const char zero32[32];

/* with_path - dst := tmpl with its "%s" replaced by the current path */
static void
with_path(char *dst, size_t len, const char *tmpl)
{
	const char *p = strstr(tmpl, "%s");

	if (p == NULL) {
		strlcpy(dst, tmpl, len);
		return;
	}
	snprintf(dst, len, "%.*s%s%s", (int)(p - tmpl), tmpl, path, p + 2);
}

static void
test_defaults(void)
{
	static struct config c;
	char why[256] = "";

	reset(&c);
	is_int(c.port, 25, "default port 25");
	is_str(c.aliases, "/etc/aliases", "default aliases");
	is_str(c.spooldir, SPOOL_PATH, "default spooldir");
	ok(c.smarthost == NULL && c.authpath == NULL && c.certfile == NULL &&
	    c.mailname == NULL && c.masquerade_user == NULL &&
	    c.masquerade_host == NULL, "other strings NULL");
	ok(c.features == 0 && c.have_fingerprint == 0, "no flags, no fingerprint");

	snprintf(path, sizeof(path), "%s/does-not-exist", tmpdir);
	is_int(conf_load(path, &c, why, sizeof(why)), CONF_OK, "missing file is OK");
	is_str(why, "", "missing file: no message");
	is_int(c.port, 25, "missing file keeps defaults");

	is_int(load("", &c, why, sizeof(why)), CONF_OK, "empty file");
	is_int(load("# only a comment\n\n   \n\t# indented comment\n", &c, why,
	    sizeof(why)), CONF_OK, "comments and blank lines");
}

static void
test_keys(void)
{
	static struct config c;
	char why[256];
	static const char text[] =
	    "SMARTHOST mx.example.org\n"
	    "PORT 587\n"
	    "ALIASES /tmp/aliases\n"
	    "SPOOLDIR /tmp/spool\n"
	    "AUTHPATH /tmp/auth.conf\n"
	    "CERTFILE /tmp/cert.pem\n"
	    "MAILNAME mail.example.org\n"
	    "MASQUERADE joe@example.net\n"
	    "FINGERPRINT 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
	    "SECURETRANSFER\n"
	    "STARTTLS\n"
	    "OPPORTUNISTIC_TLS\n"
	    "VERIFYCERT\n"
	    "INSECURE\n"
	    "DEFER\n"
	    "FULLBOUNCE\n"
	    "NULLCLIENT\n";
	size_t i;
	int allok = 1;

	is_int(load(text, &c, why, sizeof(why)), CONF_OK, "all keys: %s", why);
	is_str(c.smarthost, "mx.example.org", "SMARTHOST");
	is_int(c.port, 587, "PORT");
	is_str(c.aliases, "/tmp/aliases", "ALIASES");
	is_str(c.spooldir, "/tmp/spool", "SPOOLDIR");
	is_str(c.authpath, "/tmp/auth.conf", "AUTHPATH");
	is_str(c.certfile, "/tmp/cert.pem", "CERTFILE");
	is_str(c.mailname, "mail.example.org", "MAILNAME");
	is_str(c.masquerade_user, "joe", "MASQUERADE user");
	is_str(c.masquerade_host, "example.net", "MASQUERADE host");
	is_int(c.have_fingerprint, 1, "FINGERPRINT sets have_fingerprint");
	for (i = 0; i < 32; i++)
		if (c.fingerprint[i] != i)
			allok = 0;
	ok(allok, "FINGERPRINT bytes");
	is_int(c.features, SECURETRANSFER | STARTTLS | TLS_OPP | VERIFYCERT |
	    INSECURE | DEFER | FULLBOUNCE | NULLCLIENT, "all flags");
}

/* One-line configurations that must parse, and what they set. */
static void
test_ok_lines(void)
{
	static const struct {
		const char *text;
		const char *smarthost;	/* expected SMARTHOST */
		int	 port;
		int	 features;
	} cases[] = {
		/* leading whitespace: the original ignored such lines */
		{ "  SMARTHOST a.example\n", "a.example", 25, 0 },
		{ "\tDEFER\n", NULL, 25, DEFER },
		/* trailing whitespace and CRLF are stripped */
		{ "SMARTHOST a.example  \t\n", "a.example", 25, 0 },
		{ "SMARTHOST a.example\r\nDEFER\r\n", "a.example", 25, DEFER },
		{ "DEFER \r\n", NULL, 25, DEFER },
		/* any amount of whitespace between key and value */
		{ "SMARTHOST \t  a.example\n", "a.example", 25, 0 },
		{ "PORT\t\t465\n", NULL, 465, 0 },
		/* comments anywhere */
		{ "SMARTHOST a.example # relay\n", "a.example", 25, 0 },
		{ "SMARTHOST a.example#relay\n", "a.example", 25, 0 },
		{ "DEFER# no value\n", NULL, 25, DEFER },
		/* last string wins, flags OR */
		{ "SMARTHOST a\nSMARTHOST b\n", "b", 25, 0 },
		{ "DEFER\nDEFER\nINSECURE\n", NULL, 25, DEFER | INSECURE },
		/* no final newline */
		{ "SMARTHOST a.example", "a.example", 25, 0 },
		{ "PORT 1\n", NULL, 1, 0 },
		{ "PORT 65535\n", NULL, 65535, 0 },
		/* NULLCLIENT anywhere relative to SMARTHOST */
		{ "NULLCLIENT\nSMARTHOST a\n", "a", 25, NULLCLIENT },
		{ "LOCALONLY\n", NULL, 25, LOCALONLY },
		{ "DOTFORWARD\n", NULL, 25, DOTFORWARD },
	};
	static struct config c;
	char why[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum conf_err r = load(cases[i].text, &c, why, sizeof(why));

		is_int(r, CONF_OK, "ok case %zu: %s", i, why);
		is_str(c.smarthost, cases[i].smarthost, "ok case %zu: smarthost", i);
		is_int(c.port, cases[i].port, "ok case %zu: port", i);
		is_int(c.features, cases[i].features, "ok case %zu: features", i);
	}
}

/* TIMEOUT: the cap of every SMTP timeout; unset means the RFC values. */
static void
test_timeout(void)
{
	static struct config c;
	char why[256];

	is_int(load("DEFER\n", &c, why, sizeof(why)), CONF_OK, "no TIMEOUT");
	is_int(c.timeout, 0, "TIMEOUT unset: 0");
	is_int(load("TIMEOUT 1\n", &c, why, sizeof(why)), CONF_OK, "TIMEOUT 1");
	is_int(c.timeout, 1, "TIMEOUT 1 read");
	is_int(load("TIMEOUT 3600\n", &c, why, sizeof(why)), CONF_OK, "TIMEOUT 3600");
	is_int(c.timeout, 3600, "TIMEOUT 3600 read");
}

/*
 * MAXADDRESSES and ATTEMPTTIMEOUT: the bounds of one delivery attempt,
 * 5 addresses and 900 s unless set; a bad value leaves the default.
 */
static void
test_attempt_bounds(void)
{
	static struct config c;
	char why[256];

	is_int(load("DEFER\n", &c, why, sizeof(why)), CONF_OK, "no attempt bounds");
	is_int(c.maxaddresses, 5, "MAXADDRESSES unset: 5");
	is_int(c.attempttimeout, 900, "ATTEMPTTIMEOUT unset: 900");
	is_int(load("MAXADDRESSES 1\nATTEMPTTIMEOUT 1\n", &c, why, sizeof(why)),
	    CONF_OK, "lowest values");
	is_int(c.maxaddresses, 1, "MAXADDRESSES 1 read");
	is_int(c.attempttimeout, 1, "ATTEMPTTIMEOUT 1 read");
	is_int(load("  MAXADDRESSES\t64  # all\r\nATTEMPTTIMEOUT 86400\n", &c, why,
	    sizeof(why)), CONF_OK, "highest values, blanks and comment");
	is_int(c.maxaddresses, 64, "MAXADDRESSES 64 read");
	is_int(c.attempttimeout, 86400, "ATTEMPTTIMEOUT 86400 read");
	is_int(load("MAXADDRESSES 3\nMAXADDRESSES 007\n", &c, why, sizeof(why)),
	    CONF_OK, "repeated key, leading zeros");
	is_int(c.maxaddresses, 7, "the last one wins");
	is_int(load("MAXADDRESSES 100\n", &c, why, sizeof(why)), CONF_ESYNTAX,
	    "MAXADDRESSES 100 refused");
	is_int(c.maxaddresses, 5, "refused value leaves the default");
	is_int(load("ATTEMPTTIMEOUT 0\n", &c, why, sizeof(why)), CONF_ESYNTAX,
	    "ATTEMPTTIMEOUT 0 refused");
	is_int(c.attempttimeout, 900, "refused value leaves the default");
}

/*
 * The retry keys: durations in seconds or with s, m, h, d; the defaults
 * are upstream's rule (5 minutes, 3 hours, 5 days, no delay warning).
 */
static void
test_retry_keys(void)
{
	static struct config c;
	char why[256];

	is_int(load("DEFER\n", &c, why, sizeof(why)), CONF_OK, "no retry keys");
	is_int(c.retrydelay, 300, "RETRYDELAY unset: 300");
	is_int(c.maxretrydelay, 10800, "MAXRETRYDELAY unset: 10800");
	is_int(c.maxqueuetime, 432000, "MAXQUEUETIME unset: 432000");
	is_int(c.delaywarning, 0, "DELAYWARNING unset: off");
	is_int(load("RETRYDELAY 90\nMAXRETRYDELAY 2h\nMAXQUEUETIME 3d\n"
	    "DELAYWARNING 30m\n", &c, why, sizeof(why)), CONF_OK,
	    "retry keys with suffixes");
	is_int(c.retrydelay, 90, "RETRYDELAY 90");
	is_int(c.maxretrydelay, 7200, "MAXRETRYDELAY 2h");
	is_int(c.maxqueuetime, 259200, "MAXQUEUETIME 3d");
	is_int(c.delaywarning, 1800, "DELAYWARNING 30m");
	is_int(load("RETRYDELAY 45s\n", &c, why, sizeof(why)), CONF_OK, "45s");
	is_int(c.retrydelay, 45, "RETRYDELAY 45s");
	is_int(load("RETRYDELAY 5x\n", &c, why, sizeof(why)), CONF_ESYNTAX,
	    "an unknown suffix refused");
	ok(strstr(why, "RETRYDELAY must be a number of seconds from 1 to "
	    "31536000, or of minutes, hours or days with m, h or d") != NULL,
	    "the message names the key and the forms");
	is_int(c.retrydelay, 300, "refused value leaves the default");
	is_int(load("MAXQUEUETIME 366d\n", &c, why, sizeof(why)), CONF_ESYNTAX,
	    "over a year refused");
	is_int(load("DELAYWARNING 0\n", &c, why, sizeof(why)), CONF_ESYNTAX,
	    "0 refused (leave the key out for off)");
	is_int(load("MAXRETRYDELAY 5mm\n", &c, why, sizeof(why)), CONF_ESYNTAX,
	    "two suffixes refused");
	is_int(load("MAXRETRYDELAY m\n", &c, why, sizeof(why)), CONF_ESYNTAX,
	    "a suffix alone refused");
}

/* Configurations that must fail, with the exact message ("%s" = path). */
static void
test_errors(void)
{
	static const struct {
		const char *text;
		enum conf_err ret;
		const char *why;
	} cases[] = {
		{ "FOO bar\n", CONF_ESYNTAX, "syntax error in %s:1: unknown key `FOO'" },
		{ "\n\n# c\nSECURE\n", CONF_ESYNTAX,
		    "syntax error in %s:4: unknown key `SECURE'" },
		{ "smarthost x\n", CONF_ESYNTAX,
		    "syntax error in %s:1: unknown key `smarthost'" },
		/* indented unknown keys are no longer silently ignored */
		{ "DEFER\n  FOO\n", CONF_ESYNTAX, "syntax error in %s:2: unknown key `FOO'" },
		{ "FINGERPRINT\n", CONF_ESYNTAX,
		    "syntax error in %s:1: FINGERPRINT needs a value" },
		{ "FINGERPRINT   \r\n", CONF_ESYNTAX,
		    "syntax error in %s:1: FINGERPRINT needs a value" },
		{ "FINGERPRINT # none\n", CONF_ESYNTAX,
		    "syntax error in %s:1: FINGERPRINT needs a value" },
		{ "SMARTHOST\n", CONF_ESYNTAX, "syntax error in %s:1: SMARTHOST needs a value" },
		{ "MASQUERADE\n", CONF_ESYNTAX,
		    "syntax error in %s:1: MASQUERADE needs a value" },
		{ "DEFER yes\n", CONF_ESYNTAX, "syntax error in %s:1: DEFER takes no value" },
		{ "SMARTHOST a\nNULLCLIENT 1\n", CONF_ESYNTAX,
		    "syntax error in %s:2: NULLCLIENT takes no value" },
		{ "FINGERPRINT 00\n", CONF_ESYNTAX,
		    "syntax error in %s:1: invalid sha256 fingerprint" },
		{ "\nFINGERPRINT 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",
		    CONF_ESYNTAX, "syntax error in %s:2: invalid sha256 fingerprint" },
		{ "PORT 0\n", CONF_ESYNTAX,
		    "syntax error in %s:1: PORT must be a number from 1 to 65535" },
		{ "PORT 65536\n", CONF_ESYNTAX,
		    "syntax error in %s:1: PORT must be a number from 1 to 65535" },
		{ "PORT smtp\n", CONF_ESYNTAX,
		    "syntax error in %s:1: PORT must be a number from 1 to 65535" },
		{ "PORT -25\n", CONF_ESYNTAX,
		    "syntax error in %s:1: PORT must be a number from 1 to 65535" },
		{ "PORT 25x\n", CONF_ESYNTAX,
		    "syntax error in %s:1: PORT must be a number from 1 to 65535" },
		{ "PORT 99999999999999999999\n", CONF_ESYNTAX,
		    "syntax error in %s:1: PORT must be a number from 1 to 65535" },
		{ "PORT 2 5\n", CONF_ESYNTAX,
		    "syntax error in %s:1: PORT must be a number from 1 to 65535" },
		{ "TIMEOUT 0\n", CONF_ESYNTAX,
		    "syntax error in %s:1: TIMEOUT must be a number of seconds from 1 to 3600" },
		{ "TIMEOUT 3601\n", CONF_ESYNTAX,
		    "syntax error in %s:1: TIMEOUT must be a number of seconds from 1 to 3600" },
		{ "TIMEOUT 5m\n", CONF_ESYNTAX,
		    "syntax error in %s:1: TIMEOUT must be a number of seconds from 1 to 3600" },
		{ "TIMEOUT\n", CONF_ESYNTAX,
		    "syntax error in %s:1: TIMEOUT needs a value" },
		{ "MAXADDRESSES 0\n", CONF_ESYNTAX,
		    "syntax error in %s:1: MAXADDRESSES must be a number from 1 to 64" },
		{ "DEFER\nMAXADDRESSES 65\n", CONF_ESYNTAX,
		    "syntax error in %s:2: MAXADDRESSES must be a number from 1 to 64" },
		{ "MAXADDRESSES -3\n", CONF_ESYNTAX,
		    "syntax error in %s:1: MAXADDRESSES must be a number from 1 to 64" },
		{ "MAXADDRESSES 3x\n", CONF_ESYNTAX,
		    "syntax error in %s:1: MAXADDRESSES must be a number from 1 to 64" },
		{ "MAXADDRESSES 99999999999999999999\n", CONF_ESYNTAX,
		    "syntax error in %s:1: MAXADDRESSES must be a number from 1 to 64" },
		{ "MAXADDRESSES\n", CONF_ESYNTAX,
		    "syntax error in %s:1: MAXADDRESSES needs a value" },
		{ "ATTEMPTTIMEOUT 0\n", CONF_ESYNTAX, "syntax error in %s:1: "
		    "ATTEMPTTIMEOUT must be a number of seconds from 1 to 86400" },
		{ "\n\nATTEMPTTIMEOUT 86401\n", CONF_ESYNTAX, "syntax error in %s:3: "
		    "ATTEMPTTIMEOUT must be a number of seconds from 1 to 86400" },
		{ "ATTEMPTTIMEOUT 10m\n", CONF_ESYNTAX, "syntax error in %s:1: "
		    "ATTEMPTTIMEOUT must be a number of seconds from 1 to 86400" },
		{ "ATTEMPTTIMEOUT 1 0\n", CONF_ESYNTAX, "syntax error in %s:1: "
		    "ATTEMPTTIMEOUT must be a number of seconds from 1 to 86400" },
		{ "ATTEMPTTIMEOUT +60\n", CONF_ESYNTAX, "syntax error in %s:1: "
		    "ATTEMPTTIMEOUT must be a number of seconds from 1 to 86400" },
		{ "ATTEMPTTIMEOUT\n", CONF_ESYNTAX,
		    "syntax error in %s:1: ATTEMPTTIMEOUT needs a value" },
		{ "attempttimeout 60\n", CONF_ESYNTAX,
		    "syntax error in %s:1: unknown key `attempttimeout'" },
		{ "SMARTHOST a\vb\n", CONF_ESYNTAX,
		    "syntax error in %s:1: control character" },
		{ "SMARTHOST a\rb\n", CONF_ESYNTAX,
		    "syntax error in %s:1: control character" },
		{ "NULLCLIENT\n", CONF_ESYNTAX, "%s: NULLCLIENT requires SMARTHOST" },
		{ "NULLCLIENT\nDEFER\n", CONF_ESYNTAX, "%s: NULLCLIENT requires SMARTHOST" },
		{ "SMARTHOST a\nNULLCLIENT\nLOCALONLY\n", CONF_ESYNTAX,
		    "%s: LOCALONLY and NULLCLIENT exclude each other" },
		{ "LOCALONLY x\n", CONF_ESYNTAX,
		    "syntax error in %s:1: LOCALONLY takes no value" },
	};
	static struct config c;
	char why[512], want[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum conf_err r = load(cases[i].text, &c, why, sizeof(why));

		is_int(r, cases[i].ret, "error case %zu: return", i);
		with_path(want, sizeof(want), cases[i].why);
		is_str(why, want, "error case %zu: message", i);
	}
}

static void
test_long_lines(void)
{
	static struct config c;
	char why[512], want[512];
	char *text;
	size_t vlen;

	/* "SMARTHOST " + value = exactly CONF_LINE_MAX - 1 bytes: accepted */
	vlen = CONF_LINE_MAX - 1 - strlen("SMARTHOST ");
	text = xmalloc(CONF_LINE_MAX + 64);
	memcpy(text, "SMARTHOST ", 10);
	memset(text + 10, 'h', vlen);
	strcpy(text + 10 + vlen, "\nDEFER\n");
	is_int(load(text, &c, why, sizeof(why)), CONF_OK, "line of CONF_LINE_MAX-1 bytes");
	ok(c.smarthost != NULL && strlen(c.smarthost) == vlen, "long value kept whole");
	is_int(c.features, DEFER, "next line still parsed");

	/* one byte more: an error, not a split line */
	memset(text + 10, 'h', vlen + 1);
	strcpy(text + 10 + vlen + 1, "\nDEFER\n");
	is_int(load(text, &c, why, sizeof(why)), CONF_ESYNTAX, "line of CONF_LINE_MAX bytes");
	snprintf(want, sizeof(want), "syntax error in %s:1: line too long", path);
	is_str(why, want, "line too long message");

	/* a long line after others reports its own line number */
	memcpy(text, "DEFER\n\n# x\n", 11);
	memset(text + 11, '#', CONF_LINE_MAX + 10);
	text[11 + CONF_LINE_MAX + 10] = '\0';
	is_int(load(text, &c, why, sizeof(why)), CONF_ESYNTAX, "long comment line");
	snprintf(want, sizeof(want), "syntax error in %s:4: line too long", path);
	is_str(why, want, "long line number");
	free(text);

	/* NUL byte inside a line */
	write_file("dma.conf", "DEFER\nSMARTHOST a\0b\n", 20);
	reset(&c);
	is_int(conf_load(path, &c, why, sizeof(why)), CONF_ESYNTAX, "NUL byte");
	snprintf(want, sizeof(want), "syntax error in %s:2: NUL byte", path);
	is_str(why, want, "NUL byte message");
}

static void
test_masquerade(void)
{
	static const struct {
		const char *val, *user, *host;
	} cases[] = {
		{ "user@host", "user", "host" },
		{ "user@", "user", NULL },
		{ "@host", NULL, "host" },
		{ "host", NULL, "host" },
		{ "@", NULL, NULL },
		{ "a@b@c", "a@b", "c" },
	};
	static struct config c;
	char text[128], why[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "MASQUERADE %s\n", cases[i].val);
		is_int(load(text, &c, why, sizeof(why)), CONF_OK, "MASQUERADE %s", cases[i].val);
		is_str(c.masquerade_user, cases[i].user, "MASQUERADE %s: user", cases[i].val);
		is_str(c.masquerade_host, cases[i].host, "MASQUERADE %s: host", cases[i].val);
	}
	/* last one wins, and replaces both halves */
	is_int(load("MASQUERADE a@b\nMASQUERADE c\n", &c, why, sizeof(why)), CONF_OK,
	    "repeated MASQUERADE");
	ok(c.masquerade_user == NULL, "repeated MASQUERADE clears user");
	is_str(c.masquerade_host, "c", "repeated MASQUERADE host");
}

static void
test_fingerprint(void)
{
	static const char *good[] = {
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		"00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:"
		    "10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f",
		"00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:"
		    "10:11:12:13:14:15:16:17:18:19:1A:1b:1C:1d:1E:1f",
	};
	static const char *bad[] = {
		"",
		"00",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1x",
		"0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		" 00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:"
		    "10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f:",
		"00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f-"
		    "10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f",
		"0:001:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:"
		    "10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f",
		"00:0102:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:"
		    "10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f:",
		"+0+1+2+3+4+5+6+7+8+9+a+b+c+d+e+f+0+1+2+3+4+5+6+7+8+9+a+b+c+d+e+f",
	};
	unsigned char fp[32];
	size_t i, j;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int same = 1;

		memset(fp, 0xff, sizeof(fp));
		is_int(conf_parse_fingerprint(good[i], fp), 0, "fingerprint good %zu", i);
		for (j = 0; j < 32; j++)
			if (fp[j] != j)
				same = 0;
		ok(same, "fingerprint good %zu: bytes", i);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(fp, 0, sizeof(fp));
		is_int(conf_parse_fingerprint(bad[i], fp), -1, "fingerprint bad %zu", i);
		ok(memcmp(fp, zero32, 32) == 0, "fingerprint bad %zu: output untouched", i);
	}
}

static void
test_open_error(void)
{
	static struct config c;
	char why[512], want[512];

	/* a directory opens but cannot be read */
	reset(&c);
	is_int(conf_load(tmpdir, &c, why, sizeof(why)), CONF_EOPEN, "directory: EOPEN");
	snprintf(want, sizeof(want), "can not read config `%s': %s", tmpdir,
	    strerror(EISDIR));
	is_str(why, want, "directory: message");

	if (geteuid() != 0) {
		write_file("noperm.conf", "DEFER\n", -1);
		chmod(path, 0);
		is_int(conf_load(path, &c, why, sizeof(why)), CONF_EOPEN, "unreadable: EOPEN");
		snprintf(want, sizeof(want), "can not open config `%s': %s", path,
		    strerror(EACCES));
		is_str(why, want, "unreadable: message");
	} else {
		/* root reads anything: use a path through a regular file */
		write_file("plain", "", -1);
		snprintf(path, sizeof(path), "%s/plain/dma.conf", tmpdir);
		is_int(conf_load(path, &c, why, sizeof(why)), CONF_EOPEN, "ENOTDIR: EOPEN");
		snprintf(want, sizeof(want), "can not open config `%s': %s", path,
		    strerror(ENOTDIR));
		is_str(why, want, "ENOTDIR: message");
	}
}

static struct authuser *
load_auth(const char *text, long len, enum conf_err *r, char *why, size_t whylen)
{
	struct authuser *list = (struct authuser *)1;

	write_file("auth.conf", text, len);
	why[0] = '\0';
	*r = conf_load_auth(path, &list, why, whylen);
	return (list);
}

static void
test_auth(void)
{
	static const struct {
		const char *line, *login, *host, *password;
	} cases[] = {
		{ "joe|mx.example.org:secret\n", "joe", "mx.example.org", "secret" },
		{ "joe|mx.example.org|secret\n", "joe", "mx.example.org", "secret" },
		{ "joe|mx.example.org secret\n", "joe", "mx.example.org", "secret" },
		{ "joe|mx.example.org\tsecret\n", "joe", "mx.example.org", "secret" },
		{ "user|127.0.0.1|pa:ss word\n", "user", "127.0.0.1", "pa:ss word" },
		{ "joe|h:p|a ss\r\n", "joe", "h", "p|a ss" },
		{ "  joe|h:pw\n", "joe", "h", "pw" },
		{ "joe|h:\n", "joe", "h", "" },
		{ "|h:pw", "", "h", "pw" },
		{ "a@b.c|h:pw #not a comment\n", "a@b.c", "h", "pw #not a comment" },
	};
	static const struct {
		const char *text;
		unsigned line;
	} bad[] = {
		{ "joe\n", 1 },
		{ "joe:h:pw\n", 1 },
		{ "# c\n\njoe|host\n", 3 },
		{ "joe|h:pw\njoe|:pw\n", 2 },
		{ "joe|h:pw\r\n\r\nnothing\r\n", 3 },
	};
	enum conf_err r;
	struct authuser *l;
	const struct authuser *a;
	char why[512], want[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		l = load_auth(cases[i].line, -1, &r, why, sizeof(why));
		is_int(r, CONF_OK, "auth case %zu: %s", i, why);
		if (l == NULL) {
			ok(0, "auth case %zu: no entry", i);
			continue;
		}
		is_str(l->login, cases[i].login, "auth case %zu: login", i);
		is_str(l->host, cases[i].host, "auth case %zu: host", i);
		is_str(l->password, cases[i].password, "auth case %zu: password", i);
		ok(l->next == NULL, "auth case %zu: one entry", i);
		conf_free_auth(l);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l = load_auth(bad[i].text, -1, &r, why, sizeof(why));
		is_int(r, CONF_ESYNTAX, "auth bad %zu", i);
		ok(l == NULL, "auth bad %zu: list empty", i);
		snprintf(want, sizeof(want), "syntax error in authfile %s:%u", path,
		    bad[i].line);
		is_str(why, want, "auth bad %zu: message", i);
	}

	/* file order, first match wins, case-insensitive host, comments */
	l = load_auth("# comment\n"
	    "   # indented comment\n"
	    "\n"
	    "first|MX.example.org:one\r\n"
	    "second|mx.example.org:two\r\n"
	    "third|other.example:three\r\n", -1, &r, why, sizeof(why));
	is_int(r, CONF_OK, "auth list: %s", why);
	ok(l != NULL && l->next != NULL && l->next->next != NULL &&
	    l->next->next->next == NULL, "auth list: three entries");
	if (l != NULL && l->next != NULL && l->next->next != NULL) {
		is_str(l->login, "first", "auth list: file order 1");
		is_str(l->next->login, "second", "auth list: file order 2");
		is_str(l->next->next->login, "third", "auth list: file order 3");
	}
	a = conf_find_auth(l, "mx.example.org");
	ok(a != NULL && strcmp(a->login, "first") == 0, "first match wins");
	ok(a != NULL && strcmp(a->password, "one") == 0, "CR stripped from password");
	a = conf_find_auth(l, "OTHER.EXAMPLE");
	ok(a != NULL && strcmp(a->login, "third") == 0, "host compared case-insensitively");
	ok(conf_find_auth(l, "nowhere.example") == NULL, "no match");
	ok(conf_find_auth(l, NULL) == NULL, "NULL host");
	ok(conf_find_auth(NULL, "x") == NULL, "empty list");
	conf_free_auth(l);

	/* over-long line */
	{
		char *text = xmalloc(CONF_LINE_MAX + 32);

		memcpy(text, "joe|h:", 6);
		memset(text + 6, 'p', CONF_LINE_MAX);
		strcpy(text + 6 + CONF_LINE_MAX, "\n");
		l = load_auth(text, -1, &r, why, sizeof(why));
		is_int(r, CONF_ESYNTAX, "auth long line");
		snprintf(want, sizeof(want), "syntax error in authfile %s:1", path);
		is_str(why, want, "auth long line: message");
		free(text);
	}

	/* a missing auth file is an error: AUTHPATH names it explicitly */
	snprintf(path, sizeof(path), "%s/no-auth.conf", tmpdir);
	l = (struct authuser *)1;
	r = conf_load_auth(path, &l, why, sizeof(why));
	is_int(r, CONF_EOPEN, "missing auth file");
	ok(l == NULL, "missing auth file: list empty");
	snprintf(want, sizeof(want), "can not open auth file `%s': %s", path,
	    strerror(ENOENT));
	is_str(why, want, "missing auth file: message");
}

/* test_auth_kinds - "token:", "tokencmd:" and "password:" lines */
static void
test_auth_kinds(void)
{
	static const struct {
		const char *line, *login, *host, *secret;
		int kind;
	} cases[] = {
		{ "token:joe|smtp.example.org:ya29.abc\n", "joe", "smtp.example.org",
		  "ya29.abc", AUTHU_TOKEN },
		{ "tokencmd:joe@gmail.com|smtp.gmail.com:/usr/bin/tok --user joe\n",
		  "joe@gmail.com", "smtp.gmail.com", "/usr/bin/tok --user joe",
		  AUTHU_TOKENCMD },
		{ "tokencmd:joe|h: /bin/tok\n", "joe", "h", " /bin/tok", AUTHU_TOKENCMD },
		{ "password:token:joe|h:pw\n", "token:joe", "h", "pw", AUTHU_PASSWORD },
		{ "joe|h:token:pw\n", "joe", "h", "token:pw", AUTHU_PASSWORD },
		{ "Token:joe|h:pw\n", "Token:joe", "h", "pw", AUTHU_PASSWORD },
	};
	static const struct {
		const char *text, *err;
	} bad[] = {
		{ "tokencmd:joe|h:bin/tok\n", "the token command is not an absolute path" },
		{ "tokencmd:joe|h:\n", "the token command is not an absolute path" },
		{ "token:joe|h:\n", "empty token" },
		{ "token:joe\n", "syntax error" },
	};
	enum conf_err r;
	struct authuser *l;
	char why[512], want[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		l = load_auth(cases[i].line, -1, &r, why, sizeof(why));
		is_int(r, CONF_OK, "auth kind %zu: %s", i, why);
		if (l == NULL) {
			ok(0, "auth kind %zu: no entry", i);
			continue;
		}
		is_int(l->kind, cases[i].kind, "auth kind %zu: kind", i);
		is_str(l->login, cases[i].login, "auth kind %zu: login", i);
		is_str(l->host, cases[i].host, "auth kind %zu: host", i);
		is_str(l->password, cases[i].secret, "auth kind %zu: secret", i);
		conf_free_auth(l);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l = load_auth(bad[i].text, -1, &r, why, sizeof(why));
		is_int(r, CONF_ESYNTAX, "auth kind bad %zu", i);
		ok(l == NULL, "auth kind bad %zu: list empty", i);
		snprintf(want, sizeof(want), "%s in authfile %s:1", bad[i].err, path);
		is_str(why, want, "auth kind bad %zu: message", i);
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
	strlcpy(tmpdir, "/tmp/t_conf.XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	test_defaults();
	test_keys();
	test_ok_lines();
	test_errors();
	test_timeout();
	test_attempt_bounds();
	test_retry_keys();
	test_long_lines();
	test_masquerade();
	test_fingerprint();
	test_open_error();
	test_auth();
	test_auth_kinds();
	cleanup();
	return (done_testing());
}
