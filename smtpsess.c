/*
 * smtpsess.c - opening an SMTP session on a connection of net.c: the
 * greeting, EHLO and its extensions (with HELO fallback), STARTTLS or
 * implicit TLS (crypto.c) and SMTP AUTH (PLAIN, LOGIN, CRAM-MD5,
 * SCRAM-SHA-256/1, OAUTHBEARER, XOAUTH2), and the lines of all that for
 * dma --serverinfo.  smtp.c opens sessions here and runs its
 * transactions over them with net.c; nothing here calls smtp.c.
 *
 * Side effects: outgoing TCP connections (through net.c), syslog.
 * Secrets (auth.conf passwords, OAuth tokens from token.c) arrive in
 * memory from the caller and never reach a log line, a reason or -v
 * output.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "dma.h"

#define AUTH_CRAM	0x1
#define AUTH_PLAIN	0x2
#define AUTH_LOGIN	0x4
#define AUTH_SCRAM256	0x8
#define AUTH_SCRAM1	0x10
#define AUTH_XOAUTH2	0x20
#define AUTH_OAUTHBEARER	0x40
#define AUTH_PASSWORDS	(AUTH_SCRAM256 | AUTH_SCRAM1 | AUTH_CRAM | AUTH_PLAIN | AUTH_LOGIN)
#define AUTH_OAUTH	(AUTH_OAUTHBEARER | AUTH_XOAUTH2)

/* Set only by dma --serverinfo (see smtp_set_report). */
static void (*report_fn)(void *, const char *, const char *);
static void *report_arg;

void
smtp_set_report(void (*fn)(void *, const char *, const char *), void *arg)
{
	report_fn = fn;
	report_arg = arg;
}

/* report_lines - each line of a reply's text to the --serverinfo report */
static void
report_lines(const char *kind, const char *text)
{
	char line[SMTP_LINE_MAX + 1];
	size_t k;

	if (report_fn == NULL)
		return;
	while (*text != '\0') {
		k = strcspn(text, "\n");
		(void)xsnprintf(line, sizeof(line), "%.*s", (int)k, text);
		report_fn(report_arg, kind, line);
		text += k;
		if (*text == '\n')
			text++;
	}
}

static void
feat_reset(struct smtp_sess *s)
{
	s->esmtp = s->starttls = s->size_adv = s->eightbit = s->pipelining = 0;
	s->smtputf8 = 0;
	s->authmech = 0;
	s->size_max = 0;
	s->authlist[0] = '\0';
}

static void
feat_auth(struct smtp_sess *s, const char *p)
{
	size_t k;

	for (;;) {
		p += strspn(p, " ");
		if ((k = strcspn(p, " ")) == 0)
			break;
		if (k == 8 && strncasecmp(p, "CRAM-MD5", k) == 0)
			s->authmech |= AUTH_CRAM;
		else if (k == 5 && strncasecmp(p, "PLAIN", k) == 0)
			s->authmech |= AUTH_PLAIN;
		else if (k == 5 && strncasecmp(p, "LOGIN", k) == 0)
			s->authmech |= AUTH_LOGIN;
		else if (k == 13 && strncasecmp(p, "SCRAM-SHA-256", k) == 0)
			s->authmech |= AUTH_SCRAM256;
		else if (k == 11 && strncasecmp(p, "SCRAM-SHA-1", k) == 0)
			s->authmech |= AUTH_SCRAM1;
		else if (k == 7 && strncasecmp(p, "XOAUTH2", k) == 0)
			s->authmech |= AUTH_XOAUTH2;
		else if (k == 11 && strncasecmp(p, "OAUTHBEARER", k) == 0)
			s->authmech |= AUTH_OAUTHBEARER;
		if (strlen(s->authlist) + k + 2 < sizeof(s->authlist)) {
			if (s->authlist[0] != '\0')
				strlcat(s->authlist, " ", sizeof(s->authlist));
			strncat(s->authlist, p, k);
		}
		p += k;
	}
}

/* ehlo_line - reply callback: one EHLO keyword line (not the first) */
static void
ehlo_line(void *arg, int idx, const char *line, size_t len)
{
	struct smtp_sess *s = arg;
	const char *kw = line + 4;
	size_t k;

	if (report_fn != NULL)
		report_fn(report_arg, "ehlo", line);
	if (idx == 0 || len < 5 || line[0] != '2')
		return;
	k = strcspn(kw, " =");
	if (k == 8 && strncasecmp(kw, "STARTTLS", 8) == 0)
		s->starttls = 1;
	else if (k == 8 && strncasecmp(kw, "8BITMIME", 8) == 0)
		s->eightbit = 1;
	else if (k == 10 && strncasecmp(kw, "PIPELINING", 10) == 0)
		s->pipelining = 1;
	else if (k == 8 && strncasecmp(kw, "SMTPUTF8", 8) == 0)
		s->smtputf8 = 1;
	else if (k == 4 && strncasecmp(kw, "SIZE", 4) == 0) {
		char *end;
		unsigned long long v;

		s->size_adv = 1;
		if (kw[4] == ' ') {
			errno = 0;
			v = strtoull(kw + 5, &end, 10);
			if (errno == 0 && end != kw + 5 && (*end == '\0' || *end == ' '))
				s->size_max = v;
		}
	} else if (k == 4 && strncasecmp(kw, "AUTH", 4) == 0 && kw[4] != '\0')
		feat_auth(s, kw + 5);
}

/*
 * sess_refused - the greeting or EHLO reply r is not 2xx.  A 4xx one
 * refuses the session for now (often for concurrency); when the caller
 * can hand its work back (s->yieldable), that is no delivery failure and
 * is logged as such.  Otherwise as smtp_sess_fail.
 */
static enum dlv
sess_refused(struct smtp_sess *s, const char *step, const struct smtp_reply *r)
{
	char safe[REASON_MAX], code[8];

	s->refused = r->code / 100 == 4;
	if (!s->refused || !s->yieldable)
		return (smtp_sess_fail(s, step, r));
	log_msg(LOG_INFO, "%s [%s] refused the session for now after %s: %s",
	    s->mx->host, s->mx->ip, step, log_safe(safe, sizeof(safe), r->text));
	smtp_reply_dsn(r, code, sizeof(code));
	dsn_set(s->why, code, "%s [%s] failed after %s: %s",
	    s->mx->host, s->mx->ip, step, r->text);
	return (DLV_TEMPFAIL);
}

/*
 * sess_hello - EHLO, and HELO when the server rejects EHLO with 5xx
 * (an RFC 821 server); a 5xx to both is permanent.
 */
static enum dlv
sess_hello(struct smtp_sess *s)
{
	struct smtp_reply r;
	char cmd[300];

	feat_reset(s);
	smtp_reply_init(&r);
	r.online = ehlo_line;
	r.arg = s;
	if (xsnprintf(cmd, sizeof(cmd), "EHLO %s", hostname()) != 0)
		return (smtp_sess_defer(s, "4.3.5", "host name too long for EHLO"));
	if (smtp_sess_cmd(s, cmd, NULL, smtp_timeout(SMTP_TMO_CMD), &r) == 0 && r.code / 100 == 2) {
		s->esmtp = 1;
		return (DLV_OK);
	}
	feat_reset(s);
	if (r.code < 500)
		return (sess_refused(s, "EHLO", &r));
	memcpy(cmd, "HELO", 4);
	smtp_reply_init(&r);
	return (smtp_sess_step(s, cmd, smtp_timeout(SMTP_TMO_CMD), 2, "HELO", &r));
}

static void
log_tls(struct smtp_sess *s)
{
	char desc[256];

	tls_describe(s->c.tls, desc, sizeof(desc));
	log_msg(LOG_INFO, "TLS: %s", desc);
	s->tls_logged = 1;
}

static enum dlv
sess_tls(struct smtp_sess *s)
{
	struct dsn d;
	int left, timeout = smtp_timeout(SMTP_TMO_CMD);

	/*
	 * tls_start counts in whole seconds: round what is left of the
	 * attempt up, so the handshake ends at most a second after it.
	 */
	if (s->c.deadline > 0) {
		if ((left = net_ms_left(s->c.deadline)) == 0) {
			s->c.broken = 1;
			return (smtp_sess_defer(s, "4.4.2", "delivery attempt deadline "
			    "reached before the TLS handshake"));
		}
		if ((left + 999) / 1000 < timeout)
			timeout = (left + 999) / 1000;
	}
	memset(&d, 0, sizeof(d));
	if (tls_start(s->c.fd, s->name, timeout, &s->c.tls, &d) != 0) {
		s->c.broken = 1;
		s->c.tls = NULL;
		return (smtp_sess_defer(s, d.code[0] ? d.code : "4.7.0",
		    "TLS handshake failed: %s", d.text));
	}
	log_tls(s);
	return (DLV_OK);
}

/* sess_nostarttls - STARTTLS missing or refused: defer, or go on in plain */
static enum dlv
sess_nostarttls(struct smtp_sess *s, const char *text)
{
	char safe[REASON_MAX];

	log_safe(safe, sizeof(safe), text);
	if (config.features & TLS_OPP) {
		log_msg(LOG_INFO, "in opportunistic TLS mode, STARTTLS not available: "
		    "%s [%s]: %s", s->mx->host, s->mx->ip, safe);
		return (DLV_OK);
	}
	log_msg(LOG_ERR, "remote delivery deferred: STARTTLS not available: %s [%s]: %s",
	    s->mx->host, s->mx->ip, safe);
	dsn_set(s->why, "4.7.0", "STARTTLS not available: %s [%s]:\n%s",
	    s->mx->host, s->mx->ip, text);
	return (DLV_TEMPFAIL);
}

/*
 * sess_starttls - RFC 3207.  Sent only when advertised.  Bytes received
 * after the 220 and before the handshake would be read as if they came
 * through TLS (CVE-2011-0411 style injection): refuse them.
 */
static enum dlv
sess_starttls(struct smtp_sess *s)
{
	struct smtp_reply r;
	enum dlv ret;

	smtp_reply_init(&r);
	if (!s->starttls)
		return (sess_nostarttls(s, "the server does not offer STARTTLS"));
	if (smtp_sess_cmd(s, "STARTTLS", NULL, smtp_timeout(SMTP_TMO_CMD), &r) != 0)
		return (smtp_sess_fail(s, "STARTTLS", &r));
	if (r.code / 100 != 2)
		return (sess_nostarttls(s, r.text));
	if (s->c.rpos != s->c.rlen) {
		s->c.broken = 1;
		return (smtp_sess_defer(s, "4.7.0", "unexpected data after the STARTTLS reply"));
	}
	if ((ret = sess_tls(s)) != DLV_OK)
		return (ret);
	return (sess_hello(s));
}

/* ---- SMTP AUTH ----------------------------------------------------- */

enum auth_res {
	AUTH_OK,
	AUTH_NEXT,		/* mechanism refused before credentials: try next */
	AUTH_TEMP,
	AUTH_PERM,
};

static char *
b64_alloc(const void *src, size_t len)
{
	size_t cap = (len + 2) / 3 * 4 + 1;
	char *dst = xmalloc(cap);

	if (b64_encode(src, len, dst, cap) < 0) {
		free(dst);
		return (NULL);
	}
	return (dst);
}

/* auth_secret - send a secret line (masked in -v output) and read the reply */
static int
auth_secret(struct smtp_sess *s, const char *line, const char *shown, struct smtp_reply *r)
{
	int ret = smtp_sess_cmd(s, line, shown, smtp_timeout(SMTP_TMO_CMD), r);

	explicit_bzero(s->c.wbuf, sizeof(s->c.wbuf));	/* the copy sent */
	return (ret);
}

static void
burn(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

/* auth_plain - RFC 4616 with an initial response */
static enum auth_res
auth_plain(struct smtp_sess *s, const struct authuser *a, struct smtp_reply *r)
{
	size_t ll = strlen(a->login), pl = strlen(a->password);
	char *raw = xmalloc(ll + pl + 3), *b64, *cmd;
	int ret;

	raw[0] = '\0';
	memcpy(raw + 1, a->login, ll + 1);
	memcpy(raw + ll + 2, a->password, pl);
	b64 = b64_alloc(raw, ll + pl + 2);
	explicit_bzero(raw, ll + pl + 3);
	free(raw);
	if (b64 == NULL)
		return (AUTH_NEXT);
	cmd = xasprintf("AUTH PLAIN %s", b64);
	ret = auth_secret(s, cmd, "AUTH PLAIN [redacted]", r);
	burn(cmd);
	if (ret == 0 && r->code == 334)
		ret = auth_secret(s, b64, "[redacted]", r);
	burn(b64);
	if (ret != 0)
		return (AUTH_TEMP);
	if (r->code == 504)
		return (AUTH_NEXT);
	return (r->code / 100 == 2 ? AUTH_OK : r->code >= 500 ? AUTH_PERM : AUTH_TEMP);
}

/* auth_login - the "LOGIN" SASL mechanism: two 334 prompts */
static enum auth_res
auth_login(struct smtp_sess *s, const struct authuser *a, struct smtp_reply *r)
{
	char *b64;
	int ret;

	if (smtp_sess_cmd(s, "AUTH LOGIN", NULL, smtp_timeout(SMTP_TMO_CMD), r) != 0)
		return (AUTH_TEMP);
	if (r->code == 504)
		return (AUTH_NEXT);
	if (r->code != 334)
		return (r->code >= 500 ? AUTH_PERM : AUTH_TEMP);
	if ((b64 = b64_alloc(a->login, strlen(a->login))) == NULL)
		return (AUTH_TEMP);
	ret = auth_secret(s, b64, "[redacted]", r);
	burn(b64);
	if (ret != 0)
		return (AUTH_TEMP);
	if (r->code != 334)
		return (r->code >= 500 ? AUTH_PERM : AUTH_TEMP);
	if ((b64 = b64_alloc(a->password, strlen(a->password))) == NULL)
		return (AUTH_TEMP);
	ret = auth_secret(s, b64, "[redacted]", r);
	burn(b64);
	if (ret != 0)
		return (AUTH_TEMP);
	return (r->code / 100 == 2 ? AUTH_OK : r->code >= 500 ? AUTH_PERM : AUTH_TEMP);
}

/* auth_cram - RFC 2195 */
static enum auth_res
auth_cram(struct smtp_sess *s, const struct authuser *a, struct smtp_reply *r)
{
	size_t cap = (strlen(a->login) + 34) / 3 * 4 + 8;
	char *resp;
	int ret;

	if (smtp_sess_cmd(s, "AUTH CRAM-MD5", NULL, smtp_timeout(SMTP_TMO_CMD), r) != 0)
		return (AUTH_TEMP);
	if (r->code == 504)
		return (AUTH_NEXT);
	if (r->code != 334 || r->nlines != 1)
		return (r->code >= 500 ? AUTH_PERM : AUTH_TEMP);
	resp = xmalloc(cap);
	if (auth_cram_md5(r->text + 4, a->login, a->password, resp, cap) < 0) {
		free(resp);
		if (smtp_sess_cmd(s, "*", NULL, smtp_timeout(SMTP_TMO_CMD), r) == 0)
			snprintf(r->text, sizeof(r->text), "malformed CRAM-MD5 challenge");
		r->code = 0;
		return (AUTH_TEMP);
	}
	ret = auth_secret(s, resp, "[redacted]", r);
	burn(resp);
	if (ret != 0)
		return (AUTH_TEMP);
	return (r->code / 100 == 2 ? AUTH_OK : r->code >= 500 ? AUTH_PERM : AUTH_TEMP);
}

/*
 * auth_abort - give up an exchange in progress ("*", RFC 4954) for a
 * reason of our own, which replaces the reply: a temporary failure.
 */
static enum auth_res
auth_abort(struct smtp_sess *s, struct smtp_reply *r, const char *why)
{
	(void)smtp_sess_cmd(s, "*", NULL, smtp_timeout(SMTP_TMO_CMD), r);
	r->code = 0;
	snprintf(r->text, sizeof(r->text), "%s", why);
	return (AUTH_TEMP);
}

/* b64_text - the decoded base64 of a 334 reply, malloc'ed, or NULL */
static char *
b64_text(const struct smtp_reply *r)
{
	size_t cap = strlen(r->text) / 4 * 3 + 4;
	char *out = xmalloc(cap);

	if (r->nlines != 1 || strlen(r->text) < 4 ||
	    b64_decode(r->text + 4, out, cap) < 0 || strlen(out) + 1 >= cap) {
		free(out);
		return (NULL);
	}
	return (out);
}

/*
 * auth_scram - RFC 5802 over SMTP: the client-first-message as the
 * initial response, the client-final-message for the 334 challenge, and
 * the server-final-message in a second 334 answered by an empty line.
 * A server whose signature does not match (it does not know the
 * password: an impostor, or a broken account database) gets "*" and
 * no mail: the attempt fails temporarily, so that neither a transient
 * man in the middle nor a server being repaired makes mail bounce,
 * while every attempt logs the mismatch as an error.
 */
static enum auth_res
auth_scram(struct smtp_sess *s, const struct authuser *a, struct smtp_reply *r,
    const char *mech, const char *md)
{
	struct scram sc;
	char why[256], *first = NULL, *final = NULL, *b64 = NULL, *cmd, *shown, *srv;
	enum auth_res ret;
	int rc;

	snprintf(why, sizeof(why), "SCRAM client-first-message too long");
	if (auth_scram_start(&sc, md, a->login, NULL, &first, why, sizeof(why)) != 0 ||
	    (b64 = b64_alloc(first, strlen(first))) == NULL) {
		free(first);
		auth_scram_free(&sc);
		r->code = 0;
		snprintf(r->text, sizeof(r->text), "%s", why);
		return (AUTH_TEMP);
	}
	free(first);
	cmd = xasprintf("AUTH %s %s", mech, b64);
	shown = xasprintf("AUTH %s [redacted]", mech);
	rc = auth_secret(s, cmd, shown, r);
	free(shown);
	burn(cmd);
	burn(b64);
	if (rc != 0) {
		ret = AUTH_TEMP;
		goto out;
	}
	if (r->code != 334) {
		ret = r->code == 504 ? AUTH_NEXT : r->code >= 500 ? AUTH_PERM : AUTH_TEMP;
		goto out;
	}
	if ((srv = b64_text(r)) == NULL) {
		ret = auth_abort(s, r, "malformed SCRAM challenge");
		goto out;
	}
	rc = auth_scram_step(&sc, a->password, srv, &final, why, sizeof(why));
	free(srv);
	if (rc != 0) {
		ret = auth_abort(s, r, why);
		goto out;
	}
	b64 = b64_alloc(final, strlen(final));
	burn(final);
	if (b64 == NULL) {
		ret = auth_abort(s, r, "SCRAM response too long");
		goto out;
	}
	rc = auth_secret(s, b64, "[redacted]", r);
	burn(b64);
	if (rc != 0) {
		ret = AUTH_TEMP;
		goto out;
	}
	if (r->code / 100 == 2) {
		/* Logged in, but the server never proved itself: no mail. */
		log_msg(LOG_ERR, "SMTP AUTH %s with %s [%s] abandoned: the server "
		    "accepted the login without sending its SCRAM signature", mech,
		    s->mx->host, s->mx->ip);
		r->code = 0;
		snprintf(r->text, sizeof(r->text), "the server accepted the login "
		    "without sending its SCRAM signature");
		ret = AUTH_TEMP;
		goto out;
	}
	if (r->code != 334) {
		ret = r->code >= 500 ? AUTH_PERM : AUTH_TEMP;
		goto out;
	}
	if ((srv = b64_text(r)) == NULL) {
		ret = auth_abort(s, r, "malformed SCRAM server-final-message");
		goto out;
	}
	rc = auth_scram_verify(&sc, srv, why, sizeof(why));
	free(srv);
	if (rc != 0) {
		log_msg(LOG_ERR, "SMTP AUTH %s with %s [%s] abandoned: %s", mech,
		    s->mx->host, s->mx->ip, why);
		ret = auth_abort(s, r, why);
		goto out;
	}
	if (smtp_sess_cmd(s, "", NULL, smtp_timeout(SMTP_TMO_CMD), r) != 0)
		ret = AUTH_TEMP;
	else
		ret = r->code / 100 == 2 ? AUTH_OK : r->code >= 500 ? AUTH_PERM : AUTH_TEMP;
out:
	auth_scram_free(&sc);
	return (ret);
}

static enum auth_res
auth_scram256(struct smtp_sess *s, const struct authuser *a, struct smtp_reply *r)
{
	return (auth_scram(s, a, r, "SCRAM-SHA-256", "SHA256"));
}

static enum auth_res
auth_scram1(struct smtp_sess *s, const struct authuser *a, struct smtp_reply *r)
{
	return (auth_scram(s, a, r, "SCRAM-SHA-1", "SHA1"));
}

/*
 * auth_oauth - OAUTHBEARER (RFC 7628) or XOAUTH2 with token tok.  An
 * initial response too long for a cautious server's command line is sent
 * after an empty 334 instead.  A failure comes as a 334 carrying a JSON
 * error, answered as each mechanism asks (OAUTHBEARER: a single 0x01;
 * XOAUTH2: an empty line); the reply after it decides (5xx permanent,
 * else temporary).
 */
static enum auth_res
auth_oauth(struct smtp_sess *s, const struct authuser *a, const char *tok, int bearer,
    struct smtp_reply *r)
{
	const char *mech = bearer ? "OAUTHBEARER" : "XOAUTH2";
	char safe[REASON_MAX], *raw, *b64, *cmd, *shown, *err;
	int rc;

	if (bearer) {
		char *name = auth_saslname(a->login);

		raw = xasprintf("n,a=%s,\001host=%s\001port=%d\001auth=Bearer %s\001\001",
		    name, s->name, config.port, tok);
		free(name);
	} else
		raw = xasprintf("user=%s\001auth=Bearer %s\001\001", a->login, tok);
	b64 = b64_alloc(raw, strlen(raw));
	burn(raw);
	if (b64 == NULL) {
		r->code = 0;
		snprintf(r->text, sizeof(r->text), "OAuth token too long");
		return (AUTH_TEMP);
	}
	shown = xasprintf("AUTH %s [redacted]", mech);
	if (strlen(b64) + strlen(mech) + 6 <= 500) {
		cmd = xasprintf("AUTH %s %s", mech, b64);
		rc = auth_secret(s, cmd, shown, r);
		burn(cmd);
	} else {
		cmd = xasprintf("AUTH %s", mech);
		rc = smtp_sess_cmd(s, cmd, NULL, smtp_timeout(SMTP_TMO_CMD), r);
		free(cmd);
		if (rc == 0 && r->code == 334)
			rc = auth_secret(s, b64, "[redacted]", r);
	}
	free(shown);
	burn(b64);
	if (rc != 0)
		return (AUTH_TEMP);
	if (r->code == 334) {
		err = b64_text(r);
		log_msg(LOG_NOTICE, "SMTP AUTH %s refused by %s [%s]: %s", mech,
		    s->mx->host, s->mx->ip, log_safe(safe, sizeof(safe),
		    err != NULL ? err : r->text + 4));
		free(err);
		if (smtp_sess_cmd(s, bearer ? "AQ==" : "", NULL, smtp_timeout(SMTP_TMO_CMD),
		    r) != 0)
			return (AUTH_TEMP);
		if (r->code / 100 == 2 || r->code == 334)
			return (auth_abort(s, r, "the server went on after its OAuth "
			    "error challenge"));
		return (r->code >= 500 ? AUTH_PERM : AUTH_TEMP);
	}
	if (r->code == 504)
		return (AUTH_NEXT);
	return (r->code / 100 == 2 ? AUTH_OK : r->code >= 500 ? AUTH_PERM : AUTH_TEMP);
}

/* auth_outcome - the end of a login that did not succeed */
static enum dlv
auth_outcome(struct smtp_sess *s, enum auth_res res, const struct smtp_reply *r)
{
	char code[8], rsafe[REASON_MAX];

	if (res != AUTH_PERM)
		return (smtp_sess_fail(s, "AUTH", r));
	log_msg(LOG_ERR, "remote delivery to %s [%s] failed after AUTH: %s",
	    s->mx->host, s->mx->ip, log_safe(rsafe, sizeof(rsafe), r->text));
	smtp_reply_dsn(r, code, sizeof(code));
	dsn_set(s->why, code, "SMTP login to %s failed:\n%s", s->name, r->text);
	return (DLV_PERMFAIL);
}

/*
 * sess_auth_oauth - SMTP AUTH with the OAuth 2.0 token of a "token:" or
 * "tokencmd:" auth.conf entry: OAUTHBEARER, else XOAUTH2, only over TLS
 * (INSECURE does not apply: a bearer token is as good as a password to
 * whoever reads it and is not tied to the server).  The token command is
 * run only when the server offers one of them.
 */
static enum dlv
sess_auth_oauth(struct smtp_sess *s, const struct authuser *a)
{
	struct smtp_reply r;
	char why[REASON_MAX], safe[256], *tok;
	enum auth_res res;
	int bearer, left, timeout;

	if (s->c.tls == NULL)
		return (smtp_sess_defer(s, "4.7.10", "SMTP AUTH impossible: TLS is not "
		    "active; OAuth tokens are only sent over TLS"));
	if ((s->authmech & AUTH_OAUTH) == 0)
		return (smtp_sess_defer(s, "4.7.12", "SMTP AUTH impossible: auth.conf "
		    "has an OAuth token for this host, but the server offers neither "
		    "OAUTHBEARER nor XOAUTH2 (server offers: %s)",
		    s->authlist[0] != '\0' ? s->authlist : "none"));
	/* The command runs while the session waits: within the attempt. */
	timeout = config.tokentimeout;
	if (s->c.deadline > 0) {
		if ((left = net_ms_left(s->c.deadline)) == 0) {
			s->c.broken = 1;
			return (smtp_sess_defer(s, "4.4.2", "delivery attempt deadline "
			    "reached before the token command"));
		}
		if ((left + 999) / 1000 < timeout)
			timeout = (left + 999) / 1000;
	}
	if ((tok = token_get(a, timeout, why, sizeof(why))) == NULL)
		return (smtp_sess_defer(s, "4.7.0", "SMTP AUTH impossible: no OAuth "
		    "token: %s", why));
	for (bearer = 1; bearer >= 0; bearer--) {
		if ((s->authmech & (bearer ? AUTH_OAUTHBEARER : AUTH_XOAUTH2)) == 0)
			continue;
		log_msg(LOG_INFO, "using SMTP authentication for user %s, mechanism %s",
		    log_safe(safe, sizeof(safe), a->login),
		    bearer ? "OAUTHBEARER" : "XOAUTH2");
		smtp_reply_init(&r);
		res = auth_oauth(s, a, tok, bearer, &r);
		if (res == AUTH_NEXT)
			continue;
		burn(tok);
		if (res == AUTH_OK && report_fn != NULL) {
			char rsafe[REASON_MAX];

			(void)xsnprintf(rsafe, sizeof(rsafe), "succeeded as %s with %s",
			    safe, bearer ? "OAUTHBEARER" : "XOAUTH2");
			report_fn(report_arg, "auth", rsafe);
		}
		return (res == AUTH_OK ? DLV_OK : auth_outcome(s, res, &r));
	}
	burn(tok);
	return (smtp_sess_defer(s, "4.7.12", "SMTP AUTH impossible: the server refused "
	    "every mechanism (offered: %s)", s->authlist));
}

/*
 * sess_auth - SMTP AUTH when auth.conf names this host.  Unlike the
 * original, credentials (even a CRAM-MD5 digest) only go over TLS unless
 * INSECURE says otherwise, and a host we have credentials for is never
 * used unauthenticated: no usable mechanism or TLS defers the message.
 */
static enum dlv
sess_auth(struct smtp_sess *s)
{
	static const struct {
		unsigned bit;
		const char *name;
		enum auth_res (*fn)(struct smtp_sess *, const struct authuser *,
		    struct smtp_reply *);
	} mechs[] = {
		{ AUTH_SCRAM256, "SCRAM-SHA-256", auth_scram256 },
		{ AUTH_SCRAM1, "SCRAM-SHA-1", auth_scram1 },
		{ AUTH_CRAM, "CRAM-MD5", auth_cram },
		{ AUTH_PLAIN, "PLAIN", auth_plain },
		{ AUTH_LOGIN, "LOGIN", auth_login },
	};
	const struct authuser *a = conf_find_auth(s->users, s->name);
	struct smtp_reply r;
	char safe[256], rsafe[REASON_MAX];
	size_t i;

	if (a == NULL)
		return (DLV_OK);
	if (a->kind != AUTHU_PASSWORD)
		return (sess_auth_oauth(s, a));
	if (s->c.tls == NULL && !(config.features & INSECURE))
		return (smtp_sess_defer(s, "4.7.10", "SMTP AUTH impossible: TLS is not active "
		    "and INSECURE is not set; not sending credentials in clear"));
	if ((s->authmech & AUTH_PASSWORDS) == 0)
		return (smtp_sess_defer(s, "4.7.12", "SMTP AUTH impossible: no supported "
		    "mechanism offered (server offers: %s)",
		    s->authlist[0] != '\0' ? s->authlist : "none"));
	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
		if ((s->authmech & mechs[i].bit) == 0)
			continue;
		log_msg(LOG_INFO, "using SMTP authentication for user %s, mechanism %s",
		    log_safe(safe, sizeof(safe), a->login), mechs[i].name);
		smtp_reply_init(&r);
		switch (mechs[i].fn(s, a, &r)) {
		case AUTH_OK:
			if (report_fn != NULL) {
				(void)xsnprintf(rsafe, sizeof(rsafe), "succeeded as %s "
				    "with %s", safe, mechs[i].name);
				report_fn(report_arg, "auth", rsafe);
			}
			return (DLV_OK);
		case AUTH_NEXT:
			continue;
		case AUTH_PERM:
			log_msg(LOG_ERR, "remote delivery to %s [%s] failed after AUTH: %s",
			    s->mx->host, s->mx->ip, log_safe(rsafe, sizeof(rsafe), r.text));
			smtp_reply_dsn(&r, safe, sizeof(safe));
			dsn_set(s->why, safe, "SMTP login to %s failed:\n%s", s->name, r.text);
			return (DLV_PERMFAIL);
		case AUTH_TEMP:
			return (smtp_sess_fail(s, "AUTH", &r));
		}
	}
	return (smtp_sess_defer(s, "4.7.12", "SMTP AUTH impossible: the server refused "
	    "every mechanism (offered: %s)", s->authlist));
}

/* sess_setup - greeting, EHLO, TLS and AUTH on a connected socket */
static enum dlv
sess_setup(struct smtp_sess *s)
{
	struct smtp_reply r;
	enum dlv ret;
	int tlsmode = config.features & (SECURETRANSFER | STARTTLS);

	if (tlsmode == SECURETRANSFER && (ret = sess_tls(s)) != DLV_OK)
		return (ret);
	smtp_reply_init(&r);
	if (smtp_sess_cmd(s, NULL, NULL, smtp_timeout(SMTP_TMO_GREETING), &r) != 0 ||
	    r.code / 100 != 2)
		return (sess_refused(s, "connect", &r));
	report_lines("greeting", r.text);
	if ((ret = sess_hello(s)) != DLV_OK)
		return (ret);
	if (tlsmode == (SECURETRANSFER | STARTTLS) && (ret = sess_starttls(s)) != DLV_OK)
		return (ret);
	if (!s->tls_logged)
		log_msg(LOG_INFO, "TLS: none");
	return (sess_auth(s));
}

/* smtp_sess_open - a session with mx, ready for a transaction (dma.h) */
enum dlv
smtp_sess_open(struct smtp_sess *s, const struct mx_host *mx, const char *name,
    const struct authuser *auth, long long deadline, int yieldable, struct dsn *why)
{
	char err[256];
	enum dlv ret;
	int fd;

	memset(s, 0, sizeof(*s));
	s->c.fd = -1;
	s->mx = mx;
	s->name = name;
	s->users = auth;
	s->yieldable = yieldable;
	s->why = why;
	log_msg(LOG_INFO, "trying remote delivery to %s [%s] pref %d",
	    mx->host, mx->ip, mx->pref);
	if ((fd = net_connect(mx, net_step_end(deadline, smtp_timeout(SMTP_TMO_CONNECT)),
	    err, sizeof(err))) < 0) {
		log_msg(LOG_INFO, "connect to %s [%s] failed: %s", mx->host, mx->ip, err);
		dsn_set(why, "4.4.1", "connect to %s [%s] failed: %s", mx->host, mx->ip, err);
		return (DLV_TEMPFAIL);
	}
	smtp_conn_fd(&s->c, fd);
	s->c.sock = 1;
	s->c.deadline = deadline;
	if ((ret = sess_setup(s)) != DLV_OK)
		smtp_sess_close(s, 0);
	return (ret);
}
