/*
 * conf.c - dma.conf and auth.conf.
 *
 * Owns the global struct config (read-only once conf_load() returned) and
 * the auth.conf entry list.  Side effects: reads the two files named by the
 * caller, nothing else; never exits (except out of memory in xmalloc).
 * Runs with the privilege of the caller: dma (setgid mail) reads auth.conf,
 * which only group mail may read, so passwords are wiped from every buffer
 * that held them.
 *
 * Parsing is stricter than the original reader where it used to fail
 * silently: a line is "[blanks] KEY [blanks VALUE] [blanks] [# comment]",
 * CRLF is accepted, lines over CONF_LINE_MAX - 1 bytes and control
 * characters are errors, and every error names the physical line.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma.h"

#define DEF_PORT	SMTP_PORT
#define DEF_ALIASES	"/etc/aliases"
#define DEF_SPOOLDIR	SPOOL_PATH
#define DEF_MAXADDRESSES	5	/* as Postfix's smtp_mx_address_limit */
#define DEF_ATTEMPTTIMEOUT	900	/* 15 minutes; see dma.8 */
#define MAX_MAXADDRESSES	64	/* the candidates dns.c returns at most */
#define MAX_ATTEMPTTIMEOUT	86400
#define DEF_MAXWORKERS	16	/* delivery processes of one queue run */
#define MAX_MAXWORKERS	256
#define DEF_MAXSESSIONS	4	/* of one run to one destination */
#define MAX_MAXSESSIONS	64
#define DEF_SESSIONMESSAGES	1000	/* messages on one SMTP connection */
#define MAX_SESSIONMESSAGES	100000
#define DEF_RETRYDELAY	MIN_RETRY	/* 5 minutes */
#define DEF_MAXRETRYDELAY	MAX_RETRY	/* 3 hours */
#define DEF_MAXQUEUETIME	MAX_TIMEOUT	/* 5 days */
#define MAX_DELAYS	(365 * 24 * 60 * 60)
#define DEF_TOKENTIMEOUT	30	/* an auth.conf token command may run */
#define MAX_TOKENTIMEOUT	600

struct config config;

enum keytype {
	K_STR,			/* string member, value required */
	K_FLAG,			/* bit in features, no value allowed */
	K_NUM,			/* int member, 1..max */
	K_DUR,			/* int member, seconds 1..max, or with s/m/h/d */
	K_MASQ,			/* split into masquerade_user/_host */
	K_FPR,			/* SHA-256 fingerprint */
};

struct confkey {
	const char *name;
	enum keytype type;
	size_t	 off;		/* K_STR, K_NUM: offset of the member */
	int	 flag;		/* K_FLAG: feature bit */
	int	 def;		/* K_NUM: value kept when the given one is bad */
	int	 max;		/* K_NUM: largest value */
	const char *what;	/* K_NUM: "a number" or "a number of seconds" */
};

#define STRKEY(n, m)	{ n, K_STR, offsetof(struct config, m), 0, 0, 0, NULL }
#define FLAGKEY(n, f)	{ n, K_FLAG, 0, f, 0, 0, NULL }
#define NUMKEY(n, m, d, x, w) { n, K_NUM, offsetof(struct config, m), 0, d, x, w }
#define DURKEY(n, m, d, x) { n, K_DUR, offsetof(struct config, m), 0, d, x, NULL }
#define COUNT		"a number"
#define SECONDS		"a number of seconds"

static const struct confkey confkeys[] = {
	STRKEY("SMARTHOST", smarthost),
	NUMKEY("PORT", port, DEF_PORT, 65535, COUNT),
	NUMKEY("TIMEOUT", timeout, 0, 3600, SECONDS),
	NUMKEY("MAXADDRESSES", maxaddresses, DEF_MAXADDRESSES, MAX_MAXADDRESSES, COUNT),
	NUMKEY("ATTEMPTTIMEOUT", attempttimeout, DEF_ATTEMPTTIMEOUT,
	    MAX_ATTEMPTTIMEOUT, SECONDS),
	NUMKEY("MAXWORKERS", maxworkers, DEF_MAXWORKERS, MAX_MAXWORKERS, COUNT),
	NUMKEY("MAXSESSIONS", maxsessions, DEF_MAXSESSIONS, MAX_MAXSESSIONS, COUNT),
	NUMKEY("SESSIONMESSAGES", sessionmessages, DEF_SESSIONMESSAGES,
	    MAX_SESSIONMESSAGES, COUNT),
	DURKEY("RETRYDELAY", retrydelay, DEF_RETRYDELAY, MAX_DELAYS),
	DURKEY("MAXRETRYDELAY", maxretrydelay, DEF_MAXRETRYDELAY, MAX_DELAYS),
	DURKEY("MAXQUEUETIME", maxqueuetime, DEF_MAXQUEUETIME, MAX_DELAYS),
	DURKEY("DELAYWARNING", delaywarning, 0, MAX_DELAYS),
	NUMKEY("TOKENTIMEOUT", tokentimeout, DEF_TOKENTIMEOUT, MAX_TOKENTIMEOUT, SECONDS),
	STRKEY("ALIASES", aliases),
	STRKEY("SPOOLDIR", spooldir),
	STRKEY("AUTHPATH", authpath),
	STRKEY("CERTFILE", certfile),
	STRKEY("MAILNAME", mailname),
	{ "MASQUERADE", K_MASQ, 0, 0, 0, 0, NULL },
	{ "FINGERPRINT", K_FPR, 0, 0, 0, 0, NULL },
	FLAGKEY("SECURETRANSFER", SECURETRANSFER),
	FLAGKEY("STARTTLS", STARTTLS),
	FLAGKEY("OPPORTUNISTIC_TLS", TLS_OPP),
	FLAGKEY("VERIFYCERT", VERIFYCERT),
	FLAGKEY("INSECURE", INSECURE),
	FLAGKEY("DEFER", DEFER),
	FLAGKEY("FULLBOUNCE", FULLBOUNCE),
	FLAGKEY("NULLCLIENT", NULLCLIENT),
	FLAGKEY("LOCALONLY", LOCALONLY),
	FLAGKEY("DOTFORWARD", DOTFORWARD),
	FLAGKEY("REWRITEFROM", REWRITEFROM),
};

#define NKEYS	(sizeof(confkeys) / sizeof(confkeys[0]))

/*
 * The line of the last conf_load() that set each key of confkeys (0: not
 * set, the default), for dma -bP; cur_line is the line being parsed.
 */
static unsigned keyline[NKEYS];
static unsigned cur_line;

/* Outcome of reading one physical line. */
enum rdline {
	RD_LINE,		/* buf holds the line without its '\n' */
	RD_EOF,
	RD_TOOLONG,		/* more than size - 1 bytes before '\n' */
	RD_NUL,			/* the line contains a NUL byte */
	RD_ERR,			/* read error, errno set */
};

/*
 * read_line - read one physical line of at most size - 1 bytes into buf,
 * which is always NUL-terminated.  A last line without '\n' counts as a
 * line.  Long lines are not split:
 * the caller reports them instead of parsing the remainder as a new line.
 */
static enum rdline
read_line(FILE *fp, char *buf, size_t size)
{
	size_t n = 0;
	int ch, nul = 0;
	enum rdline r;

	for (;;) {
		ch = getc(fp);
		if (ch == EOF) {
			if (ferror(fp))
				r = RD_ERR;
			else if (n == 0)
				r = RD_EOF;
			else
				r = nul ? RD_NUL : RD_LINE;
			break;
		}
		if (ch == '\n') {
			r = nul ? RD_NUL : RD_LINE;
			break;
		}
		if (n + 1 >= size) {
			r = RD_TOOLONG;
			break;
		}
		if (ch == '\0')
			nul = 1;
		buf[n++] = (char)ch;
	}
	buf[n] = '\0';
	return (r);
}

static int
is_blank(int ch)
{
	return (ch == ' ' || ch == '\t');
}

/* strip_end - remove trailing blanks and CRs in place */
static void
strip_end(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (is_blank(s[n - 1]) || s[n - 1] == '\r'))
		s[--n] = '\0';
}

void
conf_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	memset(keyline, 0, sizeof(keyline));
	c->port = DEF_PORT;
	c->aliases = xstrdup(DEF_ALIASES);
	c->spooldir = xstrdup(DEF_SPOOLDIR);
	c->maxaddresses = DEF_MAXADDRESSES;
	c->attempttimeout = DEF_ATTEMPTTIMEOUT;
	c->maxworkers = DEF_MAXWORKERS;
	c->maxsessions = DEF_MAXSESSIONS;
	c->sessionmessages = DEF_SESSIONMESSAGES;
	c->retrydelay = DEF_RETRYDELAY;
	c->maxretrydelay = DEF_MAXRETRYDELAY;
	c->maxqueuetime = DEF_MAXQUEUETIME;
	c->tokentimeout = DEF_TOKENTIMEOUT;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return (ch - '0');
	if (ch >= 'a' && ch <= 'f')
		return (ch - 'a' + 10);
	if (ch >= 'A' && ch <= 'F')
		return (ch - 'A' + 10);
	return (-1);
}

/*
 * conf_parse_fingerprint - 32 bytes as 64 hex digits, either run together
 * or with a ':' between every pair ("AB:CD:..."), nothing else.
 */
int
conf_parse_fingerprint(const char *s, unsigned char out[32])
{
	unsigned char tmp[32];
	size_t len = strlen(s), i;
	int colons;

	if (len == 64)
		colons = 0;
	else if (len == 32 * 3 - 1)
		colons = 1;
	else
		return (-1);
	for (i = 0; i < 32; i++) {
		int hi, lo;

		hi = hexval((unsigned char)s[0]);
		lo = hexval((unsigned char)s[1]);
		if (hi < 0 || lo < 0)
			return (-1);
		tmp[i] = (unsigned char)(hi << 4 | lo);
		s += 2;
		if (colons && i < 31) {
			if (*s != ':')
				return (-1);
			s++;
		}
	}
	memcpy(out, tmp, sizeof(tmp));
	return (0);
}

/* set_masquerade - split at the last '@': user part, host part, or both */
static void
set_masquerade(struct config *c, const char *v)
{
	const char *at = strrchr(v, '@');

	free(c->masquerade_user);
	free(c->masquerade_host);
	c->masquerade_user = NULL;
	c->masquerade_host = NULL;
	if (at == NULL) {
		c->masquerade_host = xstrdup(v);
		return;
	}
	if (at > v)
		c->masquerade_user = xstrndup(v, (size_t)(at - v));
	if (at[1] != '\0')
		c->masquerade_host = xstrdup(at + 1);
}

/* parse_uint - decimal 1..max, digits only; -1 otherwise */
static int
parse_uint(const char *v, int max)
{
	long n = 0;

	if (*v == '\0')
		return (-1);
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return (-1);
		n = n * 10 + (*v - '0');
		if (n > max)
			return (-1);
	}
	return (n == 0 ? -1 : (int)n);
}

/*
 * conf_duration - seconds 1..max: digits, optionally followed by one of
 * s, m, h, d (seconds, minutes, hours, days); -1 otherwise.  Also the
 * interval of dma -q30m.
 */
int
conf_duration(const char *v, int max)
{
	long long n = 0, mul = 1;

	if (*v < '0' || *v > '9')
		return (-1);
	for (; *v >= '0' && *v <= '9'; v++) {
		n = n * 10 + (*v - '0');
		if (n > max)
			return (-1);
	}
	if (*v != '\0') {
		if (v[1] != '\0')
			return (-1);
		switch (*v) {
		case 's':
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 60 * 60;
			break;
		case 'd':
			mul = 24 * 60 * 60;
			break;
		default:
			return (-1);
		}
	}
	n *= mul;
	return (n == 0 || n > max ? -1 : (int)n);
}

/*
 * apply_key - store one key/value pair; val is NULL when the line has no
 * value.  Returns 0, or -1 with detail (without the location) in err.
 */
static int
apply_key(struct config *c, const char *key, const char *val, char *err, size_t errlen)
{
	const struct confkey *k = NULL;
	size_t i;
	char **sp;
	int *np;

	for (i = 0; i < sizeof(confkeys) / sizeof(confkeys[0]); i++) {
		if (strcmp(confkeys[i].name, key) == 0) {
			k = &confkeys[i];
			break;
		}
	}
	if (k == NULL) {
		set_why(err, errlen, "unknown key `%.64s'", key);
		return (-1);
	}
	if (k->type == K_FLAG) {
		if (val != NULL) {
			set_why(err, errlen, "%s takes no value", k->name);
			return (-1);
		}
		c->features |= k->flag;
		keyline[k - confkeys] = cur_line;
		return (0);
	}
	if (val == NULL) {
		set_why(err, errlen, "%s needs a value", k->name);
		return (-1);
	}
	switch (k->type) {
	case K_STR:
		sp = (char **)(void *)((char *)c + k->off);
		free(*sp);
		*sp = xstrdup(val);
		break;
	case K_NUM:
		np = (int *)(void *)((char *)c + k->off);
		if ((*np = parse_uint(val, k->max)) < 0) {
			*np = k->def;
			keyline[k - confkeys] = 0;
			set_why(err, errlen, "%s must be %s from 1 to %d", k->name,
			    k->what, k->max);
			return (-1);
		}
		break;
	case K_DUR:
		np = (int *)(void *)((char *)c + k->off);
		if ((*np = conf_duration(val, k->max)) < 0) {
			*np = k->def;
			set_why(err, errlen, "%s must be a number of seconds from 1 "
			    "to %d, or of minutes, hours or days with m, h or d",
			    k->name, k->max);
			return (-1);
		}
		break;
	case K_MASQ:
		set_masquerade(c, val);
		break;
	case K_FPR:
		if (conf_parse_fingerprint(val, c->fingerprint) != 0) {
			set_why(err, errlen, "invalid sha256 fingerprint");
			return (-1);
		}
		c->have_fingerprint = 1;
		break;
	case K_FLAG:
		break;
	}
	keyline[k - confkeys] = cur_line;
	return (0);
}

/*
 * parse_conf_line - split a line into key and value and apply it.
 * Returns 0 (also for blank and comment lines) or -1 with err set.
 */
static int
parse_conf_line(struct config *c, char *line, char *err, size_t errlen)
{
	char *key, *val, *p;

	if ((p = strchr(line, '#')) != NULL)
		*p = '\0';
	strip_end(line);
	for (key = line; is_blank(*key); key++)
		;
	if (*key == '\0')
		return (0);
	for (p = key; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			set_why(err, errlen, "control character");
			return (-1);
		}
	}
	for (val = key; *val != '\0' && !is_blank(*val); val++)
		;
	if (*val != '\0') {
		*val++ = '\0';
		while (is_blank(*val))
			val++;
	}
	return (apply_key(c, key, *val != '\0' ? val : NULL, err, errlen));
}

/*
 * load_conf - conf_load() and conf_check(): without report the first
 * problem ends the reading (why set); with report every problem is
 * handed to it as "path:line: detail" and the reading goes on.
 */
static enum conf_err
load_conf(const char *path, struct config *c, char *why, size_t whylen,
    void (*report)(void *, const char *), void *arg)
{
	char line[CONF_LINE_MAX], err[128], msg[PATH_MAX + 160];
	FILE *fp;
	unsigned lineno = 0;
	enum conf_err ret = CONF_OK;
	enum rdline r;

	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return (CONF_OK);
		set_why(why, whylen, "can not open config `%s': %s", path, strerror(errno));
		return (CONF_EOPEN);
	}
	while ((r = read_line(fp, line, sizeof(line))) != RD_EOF) {
		lineno++;
		err[0] = '\0';
		if (r == RD_ERR) {
			set_why(why, whylen, "can not read config `%s': %s", path,
			    strerror(errno));
			fclose(fp);
			return (CONF_EOPEN);
		}
		if (r == RD_TOOLONG)
			strlcpy(err, "line too long", sizeof(err));
		else if (r == RD_NUL)
			strlcpy(err, "NUL byte", sizeof(err));
		cur_line = lineno;
		if (err[0] != '\0' || parse_conf_line(c, line, err, sizeof(err)) != 0) {
			if (report != NULL) {
				set_why(msg, sizeof(msg), "%s:%u: %s", path, lineno,
				    err[0] != '\0' ? err : "syntax error");
				report(arg, msg);
				ret = CONF_ESYNTAX;
				continue;
			}
			set_why(why, whylen, "syntax error in %s:%u%s%s", path, lineno,
			    err[0] != '\0' ? ": " : "", err);
			fclose(fp);
			return (CONF_ESYNTAX);
		}
	}
	cur_line = 0;
	fclose(fp);
	if ((c->features & NULLCLIENT) && c->smarthost == NULL) {
		set_why(why, whylen, "%s: NULLCLIENT requires SMARTHOST", path);
		if (report == NULL)
			return (CONF_ESYNTAX);
		report(arg, why);
		ret = CONF_ESYNTAX;
	}
	if ((c->features & NULLCLIENT) && (c->features & LOCALONLY)) {
		set_why(why, whylen, "%s: LOCALONLY and NULLCLIENT exclude each other",
		    path);
		if (report == NULL)
			return (CONF_ESYNTAX);
		report(arg, why);
		ret = CONF_ESYNTAX;
	}
	return (ret);
}

enum conf_err
conf_load(const char *path, struct config *c, char *why, size_t whylen)
{
	return (load_conf(path, c, why, whylen, NULL, NULL));
}

enum conf_err
conf_check(const char *path, struct config *c, char *why, size_t whylen,
    void (*report)(void *, const char *), void *arg)
{
	return (load_conf(path, c, why, whylen, report, arg));
}

/* secret_key - a key whose value -bP must not show */
static int
secret_key(const char *name)
{
	return (strstr(name, "PASS") != NULL || strstr(name, "TOKEN") != NULL ||
	    strstr(name, "SECRET") != NULL);
}

int
conf_key(size_t i, const struct config *c, struct conf_keyinfo *ki)
{
	const struct confkey *k;
	char *const *sp;
	size_t j;

	if (i >= NKEYS)
		return (-1);
	k = &confkeys[i];
	memset(ki, 0, sizeof(*ki));
	ki->name = k->name;
	ki->line = keyline[i];
	switch (k->type) {
	case K_STR:
		sp = (char *const *)(const void *)((const char *)c + k->off);
		ki->set = *sp != NULL;
		strlcpy(ki->value, *sp != NULL ? *sp : "", sizeof(ki->value));
		break;
	case K_NUM:
	case K_DUR:		/* in seconds, whatever suffix was given */
		ki->set = 1;
		snprintf(ki->value, sizeof(ki->value), "%d",
		    *(const int *)(const void *)((const char *)c + k->off));
		break;
	case K_FLAG:
		ki->set = (c->features & k->flag) != 0;
		ki->flag = 1;
		break;
	case K_MASQ:
		ki->set = c->masquerade_user != NULL || c->masquerade_host != NULL;
		if (c->masquerade_user != NULL)
			strlcpy(ki->value, c->masquerade_user, sizeof(ki->value));
		if (c->masquerade_user != NULL || c->masquerade_host == NULL)
			strlcat(ki->value, "@", sizeof(ki->value));
		if (c->masquerade_host != NULL)
			strlcat(ki->value, c->masquerade_host, sizeof(ki->value));
		if (!ki->set)
			ki->value[0] = '\0';
		break;
	case K_FPR:
		ki->set = c->have_fingerprint;
		for (j = 0; ki->set && j < sizeof(c->fingerprint); j++) {
			char hex[4];

			snprintf(hex, sizeof(hex), j > 0 ? ":%02X" : "%02X",
			    c->fingerprint[j]);
			strlcat(ki->value, hex, sizeof(ki->value));
		}
		break;
	}
	/* Only a string can hold a secret (TOKENTIMEOUT is a number). */
	if (ki->set && k->type == K_STR && secret_key(k->name)) {
		explicit_bzero(ki->value, sizeof(ki->value));
		strlcpy(ki->value, "********", sizeof(ki->value));
		ki->masked = 1;
	}
	return (0);
}

/*
 * auth_kind - the "token:", "tokencmd:" or "password:" prefix of an
 * auth.conf line (AUTHU_*), which *line is advanced past; no prefix is a
 * password line, as it always was.
 */
static int
auth_kind(char **line)
{
	static const struct {
		const char *word;
		int kind;
	} kinds[] = {
		{ "token:", AUTHU_TOKEN },
		{ "tokencmd:", AUTHU_TOKENCMD },
		{ "password:", AUTHU_PASSWORD },
	};
	size_t i, n;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		n = strlen(kinds[i].word);
		if (strncmp(*line, kinds[i].word, n) == 0) {
			*line += n;
			return (kinds[i].kind);
		}
	}
	return (AUTHU_PASSWORD);
}

/*
 * parse_auth_line - "[KIND:]login|host<SEP>secret", SEP one of ": |\t";
 * the secret is the rest of the line.  Returns a new entry, or NULL with
 * *err set to a description of the problem (never quoting the secret).
 */
static struct authuser *
parse_auth_line(char *line, const char **err)
{
	struct authuser *a;
	char *bar, *host, *sep, *val;
	int kind;

	*err = "syntax error";
	kind = auth_kind(&line);
	if ((bar = strchr(line, '|')) == NULL)
		return (NULL);
	host = bar + 1;
	sep = host + strcspn(host, ": |\t");
	if (*sep == '\0' || sep == host)
		return (NULL);
	val = sep + 1;
	if (kind == AUTHU_TOKEN && val[0] == '\0') {
		*err = "empty token";
		return (NULL);
	}
	/*
	 * The command is run with execve, without a shell or a PATH search:
	 * only an absolute path says which program that is.
	 */
	if (kind == AUTHU_TOKENCMD && val[strspn(val, " \t")] != '/') {
		*err = "the token command is not an absolute path";
		return (NULL);
	}
	a = xcalloc(1, sizeof(*a));
	a->login = xstrndup(line, (size_t)(bar - line));
	a->host = xstrndup(host, (size_t)(sep - host));
	a->password = xstrdup(val);
	a->kind = kind;
	return (a);
}

/*
 * read_auth - the one reader of auth.conf: each line that is neither
 * blank nor a comment goes to visit as a parsed entry (a, which visit
 * then owns) or, when it is bad, as a == NULL with how it was read and
 * the parser's reason.  visit returns non-zero to stop (CONF_ESYNTAX).
 * The line buffer and stdio's copy of the file are wiped.
 */
static enum conf_err
read_auth(const char *path, int (*visit)(void *, struct authuser *, enum rdline,
    const char *, unsigned), void *arg, char *why, size_t whylen)
{
	char line[CONF_LINE_MAX], iobuf[BUFSIZ];
	struct authuser *a;
	enum conf_err ret = CONF_OK;
	enum rdline r;
	unsigned lineno = 0;
	const char *err;
	size_t n;
	FILE *fp;
	char *p;

	if ((fp = fopen(path, "r")) == NULL) {
		set_why(why, whylen, "can not open auth file `%s': %s", path, strerror(errno));
		return (CONF_EOPEN);
	}
	/* Our own stdio buffer, so that the copy of the file it holds is wiped. */
	setvbuf(fp, iobuf, _IOFBF, sizeof(iobuf));
	while ((r = read_line(fp, line, sizeof(line))) != RD_EOF) {
		lineno++;
		if (r == RD_ERR) {
			set_why(why, whylen, "can not read auth file `%s': %s", path,
			    strerror(errno));
			ret = CONF_EOPEN;
			break;
		}
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		for (p = line; is_blank(*p); p++)
			;
		if (r == RD_LINE && (*p == '\0' || *p == '#'))
			continue;
		err = "syntax error";
		a = r == RD_LINE ? parse_auth_line(p, &err) : NULL;
		if (a == NULL)
			ret = CONF_ESYNTAX;
		if (visit(arg, a, r, err, lineno) != 0)
			break;
	}
	explicit_bzero(line, sizeof(line));
	fclose(fp);
	explicit_bzero(iobuf, sizeof(iobuf));
	return (ret);
}

/* What conf_load_auth's visitor builds. */
struct auth_load {
	struct authuser **tailp;
	const char *path;
	char	*why;
	size_t	 whylen;
};

/* load_visit - append a good entry; a bad line stops the load */
static int
load_visit(void *arg, struct authuser *a, enum rdline r, const char *err,
    unsigned lineno)
{
	struct auth_load *l = arg;

	(void)r;
	if (a == NULL) {
		set_why(l->why, l->whylen, "%s in authfile %s:%u", err, l->path,
		    lineno);
		return (1);
	}
	*l->tailp = a;
	l->tailp = &a->next;
	return (0);
}

enum conf_err
conf_load_auth(const char *path, struct authuser **list, char *why, size_t whylen)
{
	struct auth_load l = { list, path, why, whylen };
	enum conf_err ret;

	*list = NULL;
	ret = read_auth(path, load_visit, &l, why, whylen);
	if (ret != CONF_OK) {
		conf_free_auth(*list);
		*list = NULL;
	}
	return (ret);
}

/* What conf_check_auth's visitor reports to. */
struct auth_check {
	void	(*entry)(void *, const char *, const char *, unsigned);
	void	(*report)(void *, const char *);
	void	*arg;
	const char *path;
};

/* check_visit - hand on a good entry without its password, report a bad one */
static int
check_visit(void *arg, struct authuser *a, enum rdline r, const char *err,
    unsigned lineno)
{
	struct auth_check *c = arg;
	char msg[PATH_MAX + 160];

	if (a == NULL) {
		/* The parser's own words where it has more to say. */
		if (strcmp(err, "syntax error") == 0)
			err = "not login|host:password";
		set_why(msg, sizeof(msg), "%s:%u: %s", c->path, lineno,
		    r == RD_TOOLONG ? "line too long" : r == RD_NUL ? "NUL byte" :
		    err);
		c->report(c->arg, msg);
		return (0);
	}
	c->entry(c->arg, a->login, a->host, lineno);
	a->next = NULL;
	conf_free_auth(a);
	return (0);
}

/*
 * conf_check_auth - conf_load_auth() for dma -bP: every line is read, a
 * good one handed to entry (login and host; the password stays here and
 * is wiped), a bad one to report as "path:line: detail".
 */
enum conf_err
conf_check_auth(const char *path, void (*entry)(void *, const char *, const char *,
    unsigned), void (*report)(void *, const char *), void *arg, char *why, size_t whylen)
{
	struct auth_check c = { entry, report, arg, path };

	return (read_auth(path, check_visit, &c, why, whylen));
}

/*
 * conf_find_auth - the first matching line wins, so an entry can be
 * overridden by placing a more specific one above it.
 */
const struct authuser *
conf_find_auth(const struct authuser *list, const char *host)
{
	if (host == NULL)
		return (NULL);
	for (; list != NULL; list = list->next) {
		if (strcasecmp(list->host, host) == 0)
			return (list);
	}
	return (NULL);
}

void
conf_free_auth(struct authuser *list)
{
	struct authuser *next;

	for (; list != NULL; list = next) {
		next = list->next;
		if (list->password != NULL) {
			explicit_bzero(list->password, strlen(list->password));
			free(list->password);
		}
		free(list->login);
		free(list->host);
		free(list);
	}
}

/*
 * envelope_sender - "{local}@{dom}" (local of llen bytes) with the
 * MASQUERADE parts replacing the local part and the domain (spec §3.7).
 */
char *
envelope_sender(const char *local, size_t llen, const char *dom)
{
	if (config.masquerade_user != NULL) {
		local = config.masquerade_user;
		llen = strlen(local);
	}
	if (config.masquerade_host != NULL)
		dom = config.masquerade_host;
	return (xasprintf("%.*s@%s", (int)llen, local, dom));
}
