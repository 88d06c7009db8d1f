/*
 * net.c - the SMTP client's connection layer: one connection to one host.
 *
 * Owns the TCP connection to one candidate host of a next hop
 * (TCP_NODELAY) with timeouts and the attempt deadline, buffered writes,
 * the reply reader, commands and their failure reasons, and QUIT.
 * Opening a session on it (greeting, EHLO, STARTTLS or implicit TLS,
 * SMTP AUTH) is smtpsess.c's; the transactions over an open session and
 * the choice of candidates are smtp.c's; the wire form of a message is
 * smtpdata.c's.  Nothing here calls any of them.
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

/* net_ms_left - milliseconds until deadline, clamped for poll(2); 0 = expired */
int
net_ms_left(long long deadline)
{
	long long left = deadline - now_ms();

	if (left <= 0)
		return (0);
	return (left > INT_MAX ? INT_MAX : (int)left);
}

/*
 * net_step_end - the end of a step of timeout seconds started now: the RFC
 * 5321 (or TIMEOUT) bound of the step, cut to the end of the whole
 * attempt (attempt_end, 0: none), so that a server answering each step
 * just before its timeout cannot stretch the attempt.
 */
long long
net_step_end(long long attempt_end, int timeout)
{
	long long end = now_ms() + (long long)timeout * 1000;

	return (attempt_end > 0 && attempt_end < end ? attempt_end : end);
}

/* net_attempt_over - whether the deadline of the attempt (0: none) has passed */
int
net_attempt_over(long long attempt_end)
{
	return (attempt_end > 0 && net_ms_left(attempt_end) == 0);
}

/* wait_fd - poll fd for ev until deadline: 0 ready, -1 with errno */
static int
wait_fd(int fd, short ev, long long deadline)
{
	struct pollfd pfd;
	int left, n;

	for (;;) {
		if ((left = net_ms_left(deadline)) == 0) {
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
		int left = net_ms_left(deadline);

		if (left == 0) {
			errno = ETIMEDOUT;
			return (-1);
		}
		n = tls_read(c->tls, c->rbuf, sizeof(c->rbuf), (left + 999) / 1000);
		if (n < 0) {
			errno = net_ms_left(deadline) == 0 ? ETIMEDOUT : EIO;
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
		if (net_attempt_over(c->deadline))
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
	long long deadline = net_step_end(c->deadline, timeout);
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
	long long deadline = net_step_end(c->deadline, timeout);
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
			int left = net_ms_left(deadline);

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
int
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

/* smtp_sess_step - one command whose reply must be of class want */
enum dlv
smtp_sess_step(struct smtp_sess *s, const char *cmd, int timeout, int want,
    const char *step, struct smtp_reply *r)
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

/* ---- deadlines ----------------------------------------------------- */

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
	return (net_attempt_over(deadline));
}
