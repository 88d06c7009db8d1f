/*
 * net.c - the SMTP client's connection layer: one session with one host.
 *
 * Owns the connection to one candidate host of a next hop: the TCP
 * connection (TCP_NODELAY) with timeouts and the attempt deadline,
 * buffered writes, the reply reader, the greeting, EHLO extensions (with
 * HELO fallback), STARTTLS and implicit TLS (crypto.c) and SMTP AUTH.
 * The transactions over an open session and the choice of candidates
 * are smtp.c's; the wire form of a message is smtpdata.c's.  Nothing
 * here calls either of them.
 *
 * Side effects: outgoing TCP connections and syslog lines.  It never
 * reads a configuration file and never touches the spool.
 *
 * Privilege: runs in a delivery process that still has the egid mail of
 * dma; it needs none of it.  Secrets (auth.conf passwords) arrive in
 * memory from the caller and never reach a log line, a reason or -v
 * output; so do OAuth tokens, which token.c gets (running an auth.conf
 * token command without the group mail) when a session needs one.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"

#define SMTP_WIRE_MAX	998	/* octets of a line on the wire, CRLF excluded */

/* ---- connection ---------------------------------------------------- */

void
smtp_conn_fd(struct smtp_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
}

void
smtp_conn_mem(struct smtp_conn *c, const void *buf, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->memsrc = 1;
	c->mem = buf;
	c->memlen = len;
}

void
smtp_conn_close(struct smtp_conn *c)
{
	if (c->tls != NULL)
		tls_close(c->tls);
	c->tls = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->outlen = c->outcap = 0;
}

/* ms_left - milliseconds until deadline, clamped for poll(2); 0 = expired */
static int
ms_left(long long deadline)
{
	long long left = deadline - now_ms();

	if (left <= 0)
		return (0);
	return (left > INT_MAX ? INT_MAX : (int)left);
}

/*
 * step_end - the end of a step of timeout seconds started now: the RFC
 * 5321 (or TIMEOUT) bound of the step, cut to the end of the whole
 * attempt (attempt_end, 0: none), so that a server answering each step
 * just before its timeout cannot stretch the attempt.
 */
static long long
step_end(long long attempt_end, int timeout)
{
	long long end = now_ms() + (long long)timeout * 1000;

	return (attempt_end > 0 && attempt_end < end ? attempt_end : end);
}

/* attempt_over - whether the deadline of the attempt (0: none) has passed */
static int
attempt_over(long long attempt_end)
{
	return (attempt_end > 0 && ms_left(attempt_end) == 0);
}

/* wait_fd - poll fd for ev until deadline: 0 ready, -1 with errno */
static int
wait_fd(int fd, short ev, long long deadline)
{
	struct pollfd pfd;
	int left, n;

	for (;;) {
		if ((left = ms_left(deadline)) == 0) {
			errno = ETIMEDOUT;
			return (-1);
		}
		pfd.fd = fd;
		pfd.events = ev;
		pfd.revents = 0;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return (0);
		if (n == 0) {
			errno = ETIMEDOUT;
			return (-1);
		}
		if (errno != EINTR)
			return (-1);
	}
}

/*
 * conn_fill - refill the read buffer: >0 bytes, 0 at EOF, -1 with errno
 * (ETIMEDOUT when the deadline passed).  A closed connection is reported
 * at once, never retried: EOF ends the reply.
 */
static ssize_t
conn_fill(struct smtp_conn *c, long long deadline)
{
	ssize_t n;

	c->rpos = c->rlen = 0;
	if (c->memsrc) {
		size_t k = c->memlen - c->mempos;

		if (k > sizeof(c->rbuf))
			k = sizeof(c->rbuf);
		memcpy(c->rbuf, c->mem + c->mempos, k);
		c->mempos += k;
		c->rlen = k;
		return ((ssize_t)k);
	}
#ifdef TCP_QUICKACK
	/*
	 * Acknowledge the reply at once: a server that writes the replies
	 * to a pipelined group one by one, with Nagle on, sends the next
	 * one only after our ACK, which the kernel would delay by ~40 ms.
	 */
	if (c->sock) {
		int one = 1;

		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	}
#endif
	if (c->tls != NULL) {
		int left = ms_left(deadline);

		if (left == 0) {
			errno = ETIMEDOUT;
			return (-1);
		}
		n = tls_read(c->tls, c->rbuf, sizeof(c->rbuf), (left + 999) / 1000);
		if (n < 0) {
			errno = ms_left(deadline) == 0 ? ETIMEDOUT : EIO;
			return (-1);
		}
	} else {
		for (;;) {
			if (wait_fd(c->fd, POLLIN, deadline) != 0)
				return (-1);
			n = read(c->fd, c->rbuf, sizeof(c->rbuf));
			if (n >= 0 || (errno != EINTR && errno != EAGAIN))
				break;
		}
		if (n < 0)
			return (-1);
	}
	c->rlen = (size_t)n;
	return (n);
}

/*
 * conn_getline - one line into buf (SMTP_LINE_MAX bytes), without its LF
 * and one CR before it.  The limit counts the line terminator.
 */
static int
conn_getline(struct smtp_conn *c, long long deadline, char *buf, size_t *lenp)
{
	size_t n = 0;
	unsigned char ch;

	for (;;) {
		if (c->rpos == c->rlen) {
			ssize_t r = conn_fill(c, deadline);

			if (r == 0)
				return (SMTP_REOF);
			if (r < 0)
				return (errno == ETIMEDOUT ? SMTP_RTIMEOUT : SMTP_RIO);
		}
		ch = c->rbuf[c->rpos++];
		if (ch == '\n')
			break;
		if (n + 1 >= SMTP_LINE_MAX)
			return (SMTP_RLONG);
		buf[n++] = (char)ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*lenp = n;
	return (SMTP_ROK);
}

int
smtp_timeout(int rfc)
{
	return (config.timeout > 0 && config.timeout < rfc ? config.timeout : rfc);
}

static int
reply_code_ok(const char *l, size_t n)
{
	if (n < 3)
		return (0);
	if (l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '5' ||
	    l[2] < '0' || l[2] > '9')
		return (0);
	return (n == 3 || l[3] == ' ' || l[3] == '-');
}

/* reply_err - record a reader error in r and mark the connection broken */
static int
reply_err(struct smtp_conn *c, struct smtp_reply *r, int err, int timeout,
    const char *line)
{
	char shown[104];

	c->broken = 1;
	c->desync = err != SMTP_REOF && err != SMTP_RIO;
	r->code = 0;
	switch (err) {
	case SMTP_REOF:
		snprintf(r->text, sizeof(r->text), "%s", r->nlines > 0 ?
		    "connection closed by the server in the middle of a reply" :
		    "connection closed by the server");
		break;
	case SMTP_RTIMEOUT:
		if (attempt_over(c->deadline))
			snprintf(r->text, sizeof(r->text), "delivery attempt deadline "
			    "reached waiting for the server's reply");
		else
			snprintf(r->text, sizeof(r->text),
			    "timeout after %d seconds waiting for the server's reply",
			    timeout);
		break;
	case SMTP_RIO:
		snprintf(r->text, sizeof(r->text), "read error: %s",
		    c->tls != NULL ? "TLS read failed" : strerror(errno));
		break;
	case SMTP_RLONG:
		snprintf(r->text, sizeof(r->text),
		    "reply line longer than %d bytes", SMTP_LINE_MAX);
		break;
	case SMTP_RMANY:
		snprintf(r->text, sizeof(r->text),
		    "reply longer than %d lines", SMTP_REPLY_LINES);
		break;
	default:
		strlcpy(shown, line != NULL ? line : "", sizeof(shown));
		snprintf(r->text, sizeof(r->text), "malformed reply line `%s'", shown);
		break;
	}
	return (err);
}

int
smtp_read_reply(struct smtp_conn *c, int timeout, struct smtp_reply *r)
{
	char line[SMTP_LINE_MAX];
	long long deadline = step_end(c->deadline, timeout);
	size_t n, tl = 0;
	int err, code;

	r->code = 0;
	r->nlines = 0;
	r->text[0] = '\0';
	for (;;) {
		if ((err = conn_getline(c, deadline, line, &n)) != SMTP_ROK)
			return (reply_err(c, r, err, timeout, NULL));
		text_sanitise(line, n);
		if (!reply_code_ok(line, n))
			return (reply_err(c, r, SMTP_RSYNTAX, timeout, line));
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (r->nlines > 0 && code != r->code)
			return (reply_err(c, r, SMTP_RSYNTAX, timeout, line));
		r->code = code;
		log_verbose("<<< %s", line);
		/* Join the lines, cut at REASON_MAX (the callback sees all). */
		if (tl + (tl > 0) + 1 < sizeof(r->text)) {
			if (tl > 0)
				r->text[tl++] = '\n';
			tl += strlcpy(r->text + tl, line, sizeof(r->text) - tl);
			if (tl >= sizeof(r->text))
				tl = sizeof(r->text) - 1;
		}
		if (r->online != NULL)
			r->online(r->arg, r->nlines, line, n);
		r->nlines++;
		if (n == 3 || line[3] == ' ')
			return (SMTP_ROK);
		if (r->nlines >= SMTP_REPLY_LINES) {
			r->code = 0;
			return (reply_err(c, r, SMTP_RMANY, timeout, NULL));
		}
	}
}

/* conn_write_all - write n bytes within timeout seconds; 0 or -1 */
static int
conn_write_all(struct smtp_conn *c, const void *buf, size_t n, int timeout)
{
	const char *p = buf;
	long long deadline = step_end(c->deadline, timeout);
	ssize_t w;

	if (c->memsrc) {
		if (c->outlen + n + 1 > c->outcap) {
			c->outcap = (c->outlen + n + 1) * 2;
			c->out = xrealloc(c->out, c->outcap);
		}
		memcpy(c->out + c->outlen, p, n);
		c->outlen += n;
		c->out[c->outlen] = '\0';
		return (0);
	}
	while (n > 0) {
		if (c->tls != NULL) {
			int left = ms_left(deadline);

			w = left == 0 ? -1 : tls_write(c->tls, p, n, (left + 999) / 1000);
			if (w <= 0)
				errno = left == 0 ? ETIMEDOUT : EIO;
		} else {
			if (wait_fd(c->fd, POLLOUT, deadline) != 0)
				w = -1;
			else if (c->sock)
				w = send(c->fd, p, n, MSG_NOSIGNAL);
			else
				w = write(c->fd, p, n);
			if (w < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
		}
		if (w <= 0) {
			c->err = errno;
			c->broken = 1;
			return (-1);
		}
		p += w;
		n -= (size_t)w;
	}
	return (0);
}

int
smtp_conn_flush(struct smtp_conn *c, int timeout)
{
	size_t n = c->wlen;

	if (c->broken)
		return (-1);
	c->wlen = 0;
	return (n == 0 ? 0 : conn_write_all(c, c->wbuf, n, timeout));
}

/* smtp_conn_put - buffered write; errors stick (c->broken) */
int
smtp_conn_put(struct smtp_conn *c, const void *p, size_t n, int timeout)
{
	if (c->broken)
		return (-1);
	if (c->wlen + n > sizeof(c->wbuf) && smtp_conn_flush(c, timeout) != 0)
		return (-1);
	if (n >= sizeof(c->wbuf))
		return (conn_write_all(c, p, n, timeout));
	memcpy(c->wbuf + c->wlen, p, n);
	c->wlen += n;
	return (0);
}

/*
 * net_connect - non-blocking connect to one candidate, given up at end
 * (CLOCK_MONOTONIC ms).  Returns the (still non-blocking) socket, or -1
 * with err set.
 */
static int
net_connect(const struct mx_host *mx, long long end, char *err, size_t errlen)
{
	int fd, soerr = 0, one = 1;
	socklen_t sl = sizeof(soerr);

	fd = socket(mx->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (-1);
	}
	if (connect(fd, (const struct sockaddr *)&mx->addr, mx->addrlen) != 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			snprintf(err, errlen, "%s", strerror(errno));
			close(fd);
			return (-1);
		}
		if (wait_fd(fd, POLLOUT, end) != 0)
			soerr = errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
			soerr = errno;
		if (soerr != 0) {
			snprintf(err, errlen, "%s", strerror(soerr));
			close(fd);
			return (-1);
		}
	}
	/* The final "." must not wait for the peer's delayed ACK (Nagle). */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return (fd);
}

/* ---- SMTP session -------------------------------------------------- */

#define AUTH_CRAM	0x1
#define AUTH_PLAIN	0x2
#define AUTH_LOGIN	0x4
#define AUTH_SCRAM256	0x8
#define AUTH_SCRAM1	0x10
#define AUTH_XOAUTH2	0x20
#define AUTH_OAUTHBEARER	0x40
#define AUTH_PASSWORDS	(AUTH_SCRAM256 | AUTH_SCRAM1 | AUTH_CRAM | AUTH_PLAIN | AUTH_LOGIN)
#define AUTH_OAUTH	(AUTH_OAUTHBEARER | AUTH_XOAUTH2)


/* reply_dsn - enhanced status from a reply ("DDD x.y.z ..."), else class */
void
smtp_reply_dsn(const struct smtp_reply *r, char *code, size_t len)
{
	const char *p = r->text + 4;
	size_t k, k2;

	snprintf(code, len, "%d.0.0", r->code >= 500 ? 5 : 4);
	if (r->code == 0 || strlen(r->text) < 9 || p[0] != r->text[0] || p[1] != '.')
		return;
	k = strspn(p + 2, "0123456789");
	if (k < 1 || k > 3 || p[2 + k] != '.')
		return;
	k2 = strspn(p + 3 + k, "0123456789");
	if (k2 < 1 || k2 > 3)
		return;
	k += 3 + k2;
	if (k + 1 < len && (p[k] == ' ' || p[k] == '\0' || p[k] == '\n')) {
		memcpy(code, p, k);
		code[k] = '\0';
	}
}

/*
 * sess_fail - classify a failed step: 5xx is permanent, anything else
 * (4xx, unexpected class, I/O error, timeout) temporary.  Logs it and
 * fills the reason.
 */
enum dlv
smtp_sess_fail(struct smtp_sess *s, const char *step, const struct smtp_reply *r)
{
	char safe[REASON_MAX], code[8];

	log_safe(safe, sizeof(safe), r->text);
	smtp_reply_dsn(r, code, sizeof(code));
	if (r->code >= 500) {
		log_msg(LOG_ERR, "remote delivery to %s [%s] failed after %s: %s",
		    s->mx->host, s->mx->ip, step, safe);
		dsn_set(s->why, code, "%s [%s] did not like our %s:\n%s",
		    s->mx->host, s->mx->ip, step, r->text);
		return (DLV_PERMFAIL);
	}
	log_msg(LOG_NOTICE, "remote delivery deferred: %s [%s] failed after %s: %s",
	    s->mx->host, s->mx->ip, step, safe);
	dsn_set(s->why, code, "%s [%s] failed after %s: %s",
	    s->mx->host, s->mx->ip, step, r->text);
	return (DLV_TEMPFAIL);
}

/* sess_defer - a temporary failure of our own making (not a reply) */
enum dlv
smtp_sess_defer(struct smtp_sess *s, const char *code, const char *fmt, ...)
{
	char text[REASON_MAX], safe[REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_msg(LOG_NOTICE, "remote delivery deferred: %s [%s]: %s", s->mx->host,
	    s->mx->ip, log_safe(safe, sizeof(safe), text));
	dsn_set(s->why, code, "%s [%s]: %s", s->mx->host, s->mx->ip, text);
	return (DLV_TEMPFAIL);
}

/*
 * sess_cmd - send cmd (unless NULL) and read the reply.  shown replaces
 * the command in -v output (secrets).  0, or -1 with r->text describing
 * the I/O failure (the connection is then unusable).
 */
int
smtp_sess_cmd(struct smtp_sess *s, const char *cmd, const char *shown, int timeout,
    struct smtp_reply *r)
{
	if (cmd != NULL) {
		log_verbose(">>> %s", shown != NULL ? shown : cmd);
		if (smtp_conn_put(&s->c, cmd, strlen(cmd), timeout) != 0 ||
		    smtp_conn_put(&s->c, "\r\n", 2, timeout) != 0 ||
		    smtp_conn_flush(&s->c, timeout) != 0) {
			r->code = 0;
			snprintf(r->text, sizeof(r->text), "write error: %s",
			    strerror(s->c.err));
			return (-1);
		}
	}
	return (smtp_read_reply(&s->c, timeout, r) == SMTP_ROK ? 0 : -1);
}

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

/* sess_step - one command whose reply must be of class want */
static enum dlv
sess_step(struct smtp_sess *s, const char *cmd, int timeout, int want, const char *step,
    struct smtp_reply *r)
{
	if (smtp_sess_cmd(s, cmd, NULL, timeout, r) == 0 && r->code / 100 == want)
		return (DLV_OK);
	return (smtp_sess_fail(s, step, r));
}

/*
 * smtp_sess_close - polite end (QUIT), then close; ok says whether the
 * last message was accepted, for the log.  Safe to call twice.
 */
void
smtp_sess_close(struct smtp_sess *s, int ok)
{
	struct smtp_reply r;
	char safe[REASON_MAX];

	smtp_reply_init(&r);
	if (s->c.broken) {
		/*
		 * Out of step with the server (timeout, garbled or endless
		 * reply) but still connected: say QUIT all the same (RFC 5321
		 * 4.1.1.10), without waiting for an answer.
		 */
		if (s->c.desync) {
			s->c.broken = 0;
			log_verbose(">>> QUIT");
			(void)smtp_conn_put(&s->c, "QUIT\r\n", 6, smtp_timeout(SMTP_TMO_QUIT));
			(void)smtp_conn_flush(&s->c, smtp_timeout(SMTP_TMO_QUIT));
			s->c.broken = 1;
		}
		smtp_conn_close(&s->c);
		return;
	}
	if (smtp_sess_cmd(s, "QUIT", NULL, smtp_timeout(SMTP_TMO_QUIT), &r) != 0 || r.code / 100 != 2) {
		if (ok)
			log_msg(LOG_INFO, "remote delivery succeeded but QUIT failed: %s",
			    log_safe(safe, sizeof(safe), r.text));
	}
	smtp_conn_close(&s->c);
}

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
	return (sess_step(s, cmd, smtp_timeout(SMTP_TMO_CMD), 2, "HELO", &r));
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
		if ((left = ms_left(s->c.deadline)) == 0) {
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
		if ((left = ms_left(s->c.deadline)) == 0) {
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

/* ---- opening and deadlines ----------------------------------------- */

/* smtp_deadline - the end of seconds from now (0: no deadline) */
long long
smtp_deadline(int seconds)
{
	return (seconds > 0 ? now_ms() + (long long)seconds * 1000 : 0);
}

/* smtp_deadline_over - whether deadline (0: none) has passed */
int
smtp_deadline_over(long long deadline)
{
	return (attempt_over(deadline));
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
	if ((fd = net_connect(mx, step_end(deadline, smtp_timeout(SMTP_TMO_CONNECT)),
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
