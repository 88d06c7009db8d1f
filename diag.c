/*
 * diag.c - the diagnostic modes: dma -bP, dma -bt and dma --serverinfo.
 *
 * Owns no data of its own: it asks conf.c, rcpt.c, dns.c and net.c the
 * same questions a delivery would and prints the answers on stdout
 * (problems on stderr).  Side effects: reads dma.conf, auth.conf and the
 * aliases file (-bP), DNS lookups (-bt, --serverinfo), one SMTP session
 * that ends with QUIT (--serverinfo).  Nothing is queued or written.
 * Runs as dma does (setgid mail); dma.c lets only root and members of
 * group mail see auth.conf through -bP or use it in --serverinfo.
 * Each mode returns a sysexits code for dma.c to exit with.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "dma.h"

/* The problems -bP found. */
struct check {
	unsigned nproblems;
	const char *authpath;
};

/* problem - one problem of -bP, on stderr */
static void
problem(void *arg, const char *msg)
{
	struct check *ck = arg;
	char safe[REASON_MAX];

	fprintf(stderr, "%s: %s\n", progname, log_safe(safe, sizeof(safe), msg));
	ck->nproblems++;
}

/* auth_entry - one good auth.conf line: login|host and where, no password */
static void
auth_entry(void *arg, const char *login, const char *host, unsigned line)
{
	const struct check *ck = arg;
	char s1[256], s2[256];

	printf("auth %s|%s ******** # %s:%u\n", log_safe(s1, sizeof(s1), login),
	    log_safe(s2, sizeof(s2), host), ck->authpath, line);
}

/*
 * check_readable - a file a key names must be there and readable by
 * dma (group mail: opened, not access(), which asks for the caller)
 */
static void
check_readable(struct check *ck, const char *key, const char *path)
{
	char msg[PATH_MAX + 128];
	int fd;

	if (path == NULL)
		return;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY)) >= 0) {
		close(fd);
		return;
	}
	set_why(msg, sizeof(msg), "%s `%s': %s", key, path, strerror(errno));
	problem(ck, msg);
}

/* check_aliases - parse the aliases file; "path:line: syntax error" */
static void
check_aliases(struct check *ck, const char *path)
{
	struct alias *tbl = NULL, *a;
	char why[1024], msg[PATH_MAX + 1100];
	unsigned n = 0;
	int line;

	if (alias_load(path, &tbl, why, sizeof(why)) != 0) {
		if (sscanf(why, "aliases line %d:", &line) == 1)
			set_why(msg, sizeof(msg), "%s:%d: syntax error", path, line);
		else
			set_why(msg, sizeof(msg), "%s", why);
		problem(ck, msg);
		return;
	}
	for (a = tbl; a != NULL; a = a->next)
		n++;
	if (access(path, F_OK) != 0)
		printf("aliases %s: not found (no aliases)\n", path);
	else
		printf("aliases %s: %u pair%s\n", path, n, n == 1 ? "" : "s");
	alias_free(tbl);
}

int
diag_showconf(const char *path)
{
	struct conf_keyinfo ki;
	struct config c;
	struct check ck;
	char why[1024], safe[512];
	size_t i;

	memset(&ck, 0, sizeof(ck));
	conf_init(&c);
	if (access(path, F_OK) != 0 && errno == ENOENT)
		printf("# %s: not found, every key has its default\n", path);
	else
		printf("# %s\n", path);
	switch (conf_check(path, &c, why, sizeof(why), problem, &ck)) {
	case CONF_OK:
	case CONF_ESYNTAX:
		break;
	default:
		problem(&ck, why);
		break;
	}
	for (i = 0; conf_key(i, &c, &ki) == 0; i++) {
		if (ki.flag)
			printf("%s %s", ki.name, ki.set ? "yes" : "no");
		else if (!ki.set)
			printf("%s (unset)", ki.name);
		else
			printf("%s %s", ki.name, log_safe(safe, sizeof(safe), ki.value));
		if (ki.line > 0)
			printf(" # %s:%u\n", path, ki.line);
		else
			printf(" # default\n");
	}
	if (c.authpath != NULL) {
		ck.authpath = c.authpath;
		if (conf_check_auth(c.authpath, auth_entry, problem, &ck, why,
		    sizeof(why)) == CONF_EOPEN)
			problem(&ck, why);
	}
	/* Accepted by dma, but probably not what was meant. */
	if ((c.features & (STARTTLS | SECURETRANSFER)) == STARTTLS)
		fprintf(stderr, "%s: warning: STARTTLS has no effect without "
		    "SECURETRANSFER: mail is sent in plain text\n", progname);
	if ((c.features & TLS_OPP) && (c.features & (STARTTLS | SECURETRANSFER)) !=
	    (STARTTLS | SECURETRANSFER))
		fprintf(stderr, "%s: warning: OPPORTUNISTIC_TLS has no effect without "
		    "SECURETRANSFER and STARTTLS\n", progname);
	check_readable(&ck, "CERTFILE", c.certfile);
	if (c.mailname != NULL && c.mailname[0] == '/')
		check_readable(&ck, "MAILNAME", c.mailname);
	check_aliases(&ck, c.aliases);
	if (fflush(stdout) != 0)
		return (EX_IOERR);
	if (ck.nproblems > 0) {
		fprintf(stderr, "%s: %u problem%s found\n", progname, ck.nproblems,
		    ck.nproblems == 1 ? "" : "s");
		return (EX_CONFIG);
	}
	return (EX_OK);
}

/* ---- -bt: address test -------------------------------------------- */

/* State of one -bt run. */
struct route {
	int	 ret;		/* sysexits code of the first failure */
};

/* indent - two blanks per level, the address line itself at level 0 */
static void
indent(int depth)
{
	printf("%*s", 2 * (depth + 1), "");
}

/* show_mx - the candidates for domain as a delivery would try them */
static void
show_mx(struct route *rt, int depth, const char *domain)
{
	struct mx_host *mx = NULL;
	struct dsn why;
	size_t n = 0, i;
	enum dlv r;

	memset(&why, 0, sizeof(why));
	r = dns_get_mx_list(domain, SMTP_PORT, 0, &mx, &n, &why);
	if (r != DLV_OK) {
		text_sanitise(why.text, strlen(why.text));
		indent(depth + 1);
		printf("%s: %s\n", r == DLV_PERMFAIL ? "undeliverable" : "deferred",
		    why.text);
		if (rt->ret == EX_OK)
			rt->ret = r == DLV_PERMFAIL ? EX_NOHOST : EX_TEMPFAIL;
		return;
	}
	for (i = 0; i < n; i++) {
		indent(depth + 1);
		printf("pref %d %s [%s]\n", mx[i].pref, mx[i].host, mx[i].ip);
	}
	free(mx);
}

/* route_line - rcpt.c's trace: one line of the expansion tree */
static void
route_line(void *arg, int depth, const char *addr, int how)
{
	struct route *rt = arg;
	const char *dom;
	char safe[ADDR_MAX + 300];

	log_safe(safe, sizeof(safe), addr);
	indent(depth);
	switch (how) {
	case RCPT_T_ALIAS:
		printf("%s: alias\n", safe);
		return;
	case RCPT_T_CATCHALL:
		printf("%s: alias * (catch-all)\n", safe);
		return;
	case RCPT_T_LOCAL:
		printf("%s: local user, mailbox %s/%s\n", safe, MAIL_PATH, safe);
		return;
	default:
		break;
	}
	if (config.features & LOCALONLY) {
		printf("%s: remote, not sent (LOCALONLY): bounced\n", safe);
		return;
	}
	if (config.smarthost != NULL) {
		printf("%s: remote, next hop SMARTHOST %s:%d\n", safe, config.smarthost,
		    config.port);
		return;
	}
	dom = strrchr(addr, '@');
	dom = dom != NULL ? dom + 1 : addr;
	printf("%s: remote, next hop MX of %s port %d\n", safe, dom, SMTP_PORT);
	show_mx(rt, depth, dom);
}

int
diag_route(const struct alias *aliases, int argc, char **argv)
{
	struct rcptlist l;
	struct route rt;
	char why[REASON_MAX], safe[ADDR_MAX + 300];
	enum rcpt_err e;
	int i;

	memset(&rt, 0, sizeof(rt));
	for (i = 0; i < argc; i++) {
		printf("%s\n", log_safe(safe, sizeof(safe), argv[i]));
		rcpt_init(&l, aliases);
		l.refuse_remote = 1;
		l.trace = route_line;
		l.trace_arg = &rt;
		e = rcpt_add_list(&l, argv[i], why, sizeof(why));
		if (e != RCPT_OK) {
			indent(0);
			printf("error: %s\n", log_safe(safe, sizeof(safe), why));
			if (rt.ret == EX_OK)
				rt.ret = e == RCPT_EREMOTE ? EX_NOUSER : EX_DATAERR;
		}
		rcpt_free(&l);
	}
	if (fflush(stdout) != 0)
		return (EX_IOERR);
	return (rt.ret);
}

/* ---- --serverinfo ----------------------------------------------------- */

/* show - the net.c/crypto.c report of the session: "kind: text" */
static void
show(void *arg __unused, const char *kind, const char *text)
{
	char safe[REASON_MAX];

	printf("%s: %s\n", kind, log_safe(safe, sizeof(safe), text));
}

/* show_text - a reason of several lines, each as "kind: line" */
static void
show_text(const char *kind, const char *text)
{
	char buf[REASON_MAX], *p, *nl;

	strlcpy(buf, text, sizeof(buf));
	for (p = buf; p != NULL; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		show(NULL, kind, p);
	}
}

/*
 * split_target - "host", "host:port", "[literal]" or "[literal]:port";
 * *port is 0 when none is given.  0, or -1 for a bad port.
 */
static int
split_target(const char *t, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(t, ':');
	char *end;
	long v;

	*port = 0;
	if (t[0] == '[') {
		const char *rb = strchr(t, ']');

		colon = rb != NULL && rb[1] == ':' ? rb + 1 : NULL;
	} else if (colon != NULL && strchr(t, ':') != colon)
		colon = NULL;		/* a bare IPv6 address */
	if (colon == NULL) {
		strlcpy(host, t, hostlen);
		return (host[0] != '\0' ? 0 : -1);
	}
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || v < 1 || v > 65535 ||
	    colon == t)
		return (-1);
	*port = (int)v;
	(void)xsnprintf(host, hostlen, "%.*s", (int)(colon - t), t);
	return (0);
}

/* tls_mode - the TLS mode of the configuration, in words */
static const char *
tls_mode(void)
{
	switch (config.features & (SECURETRANSFER | STARTTLS)) {
	case SECURETRANSFER:
		return ("implicit TLS (SECURETRANSFER)");
	case SECURETRANSFER | STARTTLS:
		return ((config.features & TLS_OPP) ?
		    "STARTTLS, opportunistic (OPPORTUNISTIC_TLS)" : "STARTTLS (required)");
	default:
		return ("none (plain SMTP)");
	}
}

int
diag_serverinfo(const char *target, const struct authuser *auth)
{
	char host[NI_MAXHOST + 8];
	struct smtp_sess s;
	struct mx_host *mx = NULL;
	struct dsn why;
	size_t n = 0, i, cap;
	long long end;
	enum dlv r = DLV_TEMPFAIL;
	const char *name;
	int port, smart;

	if (target == NULL) {
		if (config.smarthost == NULL) {
			fprintf(stderr, "%s: --serverinfo: no SMARTHOST configured; "
			    "name a host[:port] or a mail domain\n", progname);
			return (EX_USAGE);
		}
		strlcpy(host, config.smarthost, sizeof(host));
		port = config.port;
		smart = 1;
	} else {
		if (split_target(target, host, sizeof(host), &port) != 0) {
			fprintf(stderr, "%s: --serverinfo: invalid host[:port] `%.200s'\n",
			    progname, target);
			return (EX_USAGE);
		}
		smart = port != 0;
		if (!smart)
			port = SMTP_PORT;
	}
	if (smart)
		printf("next hop: %s:%d\n", host, port);
	else
		printf("next hop: MX of %s port %d\n", host, port);
	printf("tls mode: %s\n", tls_mode());
	memset(&why, 0, sizeof(why));
	if ((r = dns_get_mx_list(host, port, smart, &mx, &n, &why)) != DLV_OK) {
		show_text("failed", why.text);
		return (r == DLV_PERMFAIL ? EX_UNAVAILABLE : EX_TEMPFAIL);
	}
	smtp_set_report(show, NULL);
	tls_set_report(show, NULL);
	cap = n;
	if (config.maxaddresses > 0 && (size_t)config.maxaddresses < cap)
		cap = (size_t)config.maxaddresses;
	end = smtp_deadline(config.attempttimeout);
	r = DLV_TEMPFAIL;
	for (i = 0; i < cap && r == DLV_TEMPFAIL; i++) {
		name = smart ? host : mx[i].host;
		printf("trying: %s [%s] port %d pref %d\n", mx[i].host, mx[i].ip, port,
		    mx[i].pref);
		fflush(stdout);
		memset(&why, 0, sizeof(why));
		r = smtp_sess_open(&s, &mx[i], name, auth, end, 0, &why);
		if (r != DLV_OK) {
			show_text("failed", why.text);
			continue;
		}
		if (auth != NULL && conf_find_auth(auth, name) == NULL)
			printf("auth: not tried, no auth.conf entry for %s\n", name);
		smtp_sess_close(&s, 0);
		printf("result: ok, session ready (QUIT sent, no mail)\n");
	}
	smtp_set_report(NULL, NULL);
	tls_set_report(NULL, NULL);
	free(mx);
	if (r != DLV_OK)
		printf("result: %s\n", r == DLV_PERMFAIL ? "refused (permanent)" :
		    "failed (temporary)");
	if (fflush(stdout) != 0)
		return (EX_IOERR);
	return (r == DLV_OK ? EX_OK : r == DLV_PERMFAIL ? EX_UNAVAILABLE : EX_TEMPFAIL);
}
