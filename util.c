/*
 * util.c - logging, allocation, host names, dates and field checks.
 *
 * Owns the syslog identity and the cached host names.  Side effects:
 * syslog(3) and, for errors seen by an interactive submitter, stderr.
 * Runs with whatever privilege the calling process has; touches no files
 * except the MAILNAME file named by the (root-owned) configuration.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"

int verbose;
const char *progname = "dma";
char logident_base[64] = "dma";
static char logqid[48];

static char mailname_buf[256];
static char sysname_buf[256];
static int names_done;
static const char *names_mailname;	/* MAILNAME, from hostname_init */

/*
 * log_init - open syslog as ident (the -L tag or "dma") with LOG_PID, so
 * records read "dma[1234]: ..." and the program name stays ident; no
 * queue id prefix until log_setqid().
 */
void
log_init(const char *ident)
{
	strlcpy(logident_base, ident, sizeof(logident_base));
	logqid[0] = '\0';
	openlog(logident_base, LOG_PID, LOG_MAIL);
}

/*
 * log_setqid - the queue id that starts every following record, as
 * "{qid}: {message}"; the ident keeps the program name ("" drops it).
 */
void
log_setqid(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(logqid, sizeof(logqid), fmt, ap) < 0)
		logqid[0] = '\0';
	va_end(ap);
}

/* log_rec - one syslog record of already safe text, with the queue id */
static void
log_rec(int pri, const char *text)
{
	if (logqid[0] != '\0')
		syslog(pri, "%s: %s", logqid, text);
	else
		syslog(pri, "%s", text);
}

/*
 * log_msg - one syslog record (and a stderr line with -v).  Every record
 * goes through log_safe(): reasons carry server replies and addresses, and
 * a raw CR or LF in them would forge further log lines.
 */
void
log_msg(int pri, const char *fmt, ...)
{
	char raw[4096], safe[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	log_safe(safe, sizeof(safe), raw);
	if (verbose)
		fprintf(stderr, "%s: %s\n", progname, safe);
	log_rec(pri, safe);
}

/* log_verbose - trace line for -v, stderr only */
void
log_verbose(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void vlogerr(int, const char *, va_list) __printflike(2, 0);

static void
vlogerr(int witherr, const char *fmt, va_list ap)
{
	char raw[2048], msg[2048], both[2200];
	int saved = errno;

	vsnprintf(raw, sizeof(raw), fmt, ap);
	log_safe(msg, sizeof(msg), raw);
	if (witherr) {
		fprintf(stderr, "%s: %s: %s\n", progname, msg, strerror(saved));
		snprintf(both, sizeof(both), "%s: %s", msg, strerror(saved));
		log_rec(LOG_ERR, both);
	} else {
		fprintf(stderr, "%s: %s\n", progname, msg);
		log_rec(LOG_ERR, msg);
	}
	errno = saved;
}

void
errlog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogerr(1, fmt, ap);
	va_end(ap);
}

void
errlogx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogerr(0, fmt, ap);
	va_end(ap);
}

void
die(int ex, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogerr(1, fmt, ap);
	va_end(ap);
	exit(ex);
}

void
diex(int ex, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogerr(0, fmt, ap);
	va_end(ap);
	exit(ex);
}

/* utf8_seq - length of the well-formed UTF-8 sequence at p (RFC 3629), or 0 */
size_t
utf8_seq(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return (0);	/* continuation byte, C0/C1 overlong, > U+10FFFF */
	/* the second byte excludes overlong forms, surrogates, > U+10FFFF */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return (0);
	/* a NUL is no continuation byte: the end of a string stops here */
	for (i = 2; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return (0);
	}
	return (n);
}

/* text_sanitise - replace control characters (not TAB) so text is safe to use */
void
text_sanitise(char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			p[i] = '?';
	}
}

/*
 * log_safe - copy untrusted text for a log line or a bounce: control
 * characters other than TAB become \r, \n, \0-style or \xNN escapes,
 * and the result is capped at len-1 bytes (never cut inside an escape).
 * UTF-8 is copied as it is, a character at a time; a byte that is not
 * part of well-formed UTF-8 and a C1 control (U+0080 to U+009F, which
 * terminals act on) are escaped too, so the result is valid UTF-8.
 */
char *
log_safe(char *dst, size_t len, const char *src)
{
	size_t o = 0;
	const unsigned char *s = (const unsigned char *)src;

	if (len == 0)
		return (dst);
	for (; *s != '\0'; s++) {
		char esc[8];
		size_t el;

		if (*s >= 0x80 && (el = utf8_seq(s)) != 0 &&
		    !(s[0] == 0xc2 && s[1] < 0xa0)) {
			memcpy(esc, s, el);
			s += el - 1;
		} else if (*s >= 0x80) {
			snprintf(esc, sizeof(esc), "\\x%02x", *s);
			el = 4;
		} else if (*s == '\t' || (*s >= 0x20 && *s != 0x7f)) {
			esc[0] = (char)*s;
			el = 1;
		} else if (*s == '\r') {
			memcpy(esc, "\\r", 2);
			el = 2;
		} else if (*s == '\n') {
			memcpy(esc, "\\n", 2);
			el = 2;
		} else {
			snprintf(esc, sizeof(esc), "\\x%02x", *s);
			el = 4;
		}
		if (o + el >= len)
			break;
		memcpy(dst + o, esc, el);
		o += el;
	}
	dst[o] = '\0';
	return (dst);
}

static __dead void
nomem(void)
{
	log_rec(LOG_CRIT, "out of memory");
	fprintf(stderr, "%s: out of memory\n", progname);
	exit(71);	/* EX_OSERR */
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		nomem();
	return (p);
}

void *
xcalloc(size_t n, size_t s)
{
	void *p = calloc(n == 0 ? 1 : n, s == 0 ? 1 : s);

	if (p == NULL)
		nomem();
	return (p);
}

void *
xrealloc(void *o, size_t n)
{
	void *p = realloc(o, n == 0 ? 1 : n);

	if (p == NULL)
		nomem();
	return (p);
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		nomem();
	return (p);
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		nomem();
	return (p);
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		nomem();
	return (p);
}

int
xsnprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return (-1);
	return (0);
}

/* set_why - format a reason into a caller's buffer (NULL/0: nothing) */
void
set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

void
dsn_set(struct dsn *d, const char *code, const char *fmt, ...)
{
	va_list ap;

	strlcpy(d->code, code != NULL ? code : "", sizeof(d->code));
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
}

/* cut s at the first character that is not [A-Za-z0-9_.-] */
static void
cut_hostchars(char *s)
{
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-') {
			*s = '\0';
			break;
		}
	}
}

static void
names_init(void)
{
	const char *mn = names_mailname;

	if (names_done)
		return;
	names_done = 1;
	if (gethostname(sysname_buf, sizeof(sysname_buf)) != 0)
		sysname_buf[0] = '\0';
	sysname_buf[sizeof(sysname_buf) - 1] = '\0';
	cut_hostchars(sysname_buf);
	if (sysname_buf[0] == '\0')
		strlcpy(sysname_buf, "unknown-hostname", sizeof(sysname_buf));

	mailname_buf[0] = '\0';
	if (mn != NULL && mn[0] == '/') {
		FILE *fp = fopen(mn, "r");

		if (fp != NULL) {
			if (fgets(mailname_buf, sizeof(mailname_buf), fp) == NULL)
				mailname_buf[0] = '\0';
			fclose(fp);
		}
	} else if (mn != NULL) {
		strlcpy(mailname_buf, mn, sizeof(mailname_buf));
	}
	/* A mail name goes into EHLO and Message-Id: keep host characters only. */
	cut_hostchars(mailname_buf);
	if (mailname_buf[0] == '\0')
		strlcpy(mailname_buf, sysname_buf, sizeof(mailname_buf));
}

const char *
hostname(void)
{
	names_init();
	return (mailname_buf);
}

const char *
systemhostname(void)
{
	names_init();
	return (sysname_buf);
}

/* now_ms - the monotonic clock in milliseconds, for deadlines */
long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void
hostname_init(const char *mailname)
{
	names_mailname = mailname;
	names_done = 0;
}

void
rfc822date(char *buf, size_t len, time_t t)
{
	struct tm tm;
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	long off;
	char sign = '+';

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	/* Built by hand: strftime's %a/%b follow LC_TIME, RFC 5322 does not. */
	snprintf(buf, len, "%s, %02d %s %d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday % 7], tm.tm_mday, mons[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    sign, off / 60, off % 60);
}

/* name_is_uid - name is a passwd entry whose uid is u */
static int
name_is_uid(const char *name, uid_t u)
{
	struct passwd *pw;

	if (name == NULL || name[0] == '\0' || strlen(name) >= USERNAME_MAX)
		return (0);
	pw = getpwnam(name);
	return (pw != NULL && pw->pw_uid == u);
}

const char *
username(void)
{
	static char name[USERNAME_MAX + 16];
	uid_t u;
	struct passwd *pw;
	const char *cand[3];
	size_t i;

	if (name[0] != '\0')
		return (name);
	u = getuid();
	cand[0] = getlogin();
	cand[1] = getenv("LOGNAME");
	cand[2] = getenv("USER");
	for (i = 0; i < 3; i++) {
		if (name_is_uid(cand[i], u) && localname_ok(cand[i])) {
			strlcpy(name, cand[i], sizeof(name));
			return (name);
		}
	}
	pw = getpwuid(u);
	if (pw != NULL && strlen(pw->pw_name) < USERNAME_MAX && localname_ok(pw->pw_name))
		strlcpy(name, pw->pw_name, sizeof(name));
	else
		snprintf(name, sizeof(name), "uid%lu", (unsigned long)u);
	return (name);
}

int
envfield_ok(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			return (0);
	}
	return (n < ENVFIELD_MAX);
}

int
localname_ok(const char *name)
{
	const char *p;

	if (name[0] == '\0' || name[0] == '-' || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strlen(name) >= USERNAME_MAX)
		return (0);
	for (p = name; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' &&
		    *p != '-' && *p != '+' && *p != '$')
			return (0);
	}
	return (1);
}
