/*
 * smtp.c - remote delivery: the jobs of one next hop over reused SMTP
 * sessions.
 *
 * Owns the session policy and the transaction: which candidate host to
 * open a session with (dns.c's list, within MAXADDRESSES and
 * ATTEMPTTIMEOUT), how many messages a session carries (SESSIONMESSAGES),
 * when to reconnect (the server closed or said 421), and per message the
 * envelope (MAIL FROM, one RCPT TO per entry, DATA), PIPELINING (RFC
 * 2920) when the server offers it, RSET after a transaction that failed
 * half-way and the outcome of every recipient.  The connection itself is
 * net.c's, the wire form of the message smtpdata.c's.
 *
 * Side effects: through net.c only (connections, syslog lines).  It
 * reads the entries' open M files and never touches the spool: the feed
 * of the caller takes every job back with its outcomes.
 *
 * Privilege: runs in a delivery worker of the queue runner, which still
 * has the egid mail of dma; it needs none of it.  The auth.conf entries
 * arrive as a parameter and only net.c's AUTH sees the passwords.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "dma.h"

/* What became of an entry in the job being delivered. */
enum est {
	E_SEND,			/* to go in the next transaction */
	E_LATER,		/* 452: in another transaction after this one */
	E_ACC,			/* RCPT accepted in this transaction */
	E_FINAL,		/* res and why are its outcome */
};

/* What became of one transaction. */
enum tx {
	TX_OK,			/* finished; the session may go on */
	TX_NEXT,		/* refused for now: another host may take it */
	TX_LOST,		/* the server closed the session (421, EOF) */
	TX_DEAD,		/* the session is unusable; no retry now */
};

/* One next hop and its session. */
struct hop {
	const char *host;	/* what was resolved: SMARTHOST or domain */
	int	 port;
	int	 smart;
	const struct authuser *auth;
	int	 may_yield;
	const struct dlv_feed *feed;	/* its may_yield, asked per session */
	struct mx_host *mx;
	size_t	 nmx;
	int	 resolved;
	struct smtp_sess s;
	int	 open;		/* s is open */
	size_t	 cand;		/* the candidate s is connected to */
	int	 msgs;		/* transactions on s */
	int	 need_rset;	/* the last transaction on s failed half-way */
	long long txend;	/* the deadline of the last transaction */
	int	 ever_open;	/* a session was open in this call */
	int	 dead;		/* no session: deadres and deadwhy for all */
	enum dlv deadres;
	struct dsn deadwhy;
	struct dsn swhy;	/* s.why between steps (see sess_fail_into) */
};

/*
 * bound_hit - the attempt ended at one of its bounds (what, value and
 * unit: "address limit (5)") after tried of n addresses: log it and say
 * so in the reason, keeping the last failure and its status code.
 */
static void
bound_hit(struct dsn *why, const char *what, int value, const char *unit,
    size_t tried, size_t n)
{
	char code[sizeof(why->code)], last[REASON_MAX];

	strlcpy(code, why->code, sizeof(code));
	strlcpy(last, why->text, sizeof(last));
	log_msg(LOG_NOTICE, "remote delivery deferred: %s (%d%s) reached after "
	    "trying %zu of %zu addresses", what, value, unit, tried, n);
	dsn_set(why, code, "%s (%d%s) reached after trying %zu of %zu addresses; "
	    "last error: %s", what, value, unit, tried, n, last);
}

/* hop_cap - the candidates one attempt may try (MAXADDRESSES) */
static size_t
hop_cap(const struct hop *h)
{
	if (config.maxaddresses > 0 && (size_t)config.maxaddresses < h->nmx)
		return ((size_t)config.maxaddresses);
	return (h->nmx);
}

/*
 * hop_open - open a session with the first candidate from start on that
 * takes one.  One attempt is bounded: at most MAXADDRESSES addresses,
 * and ATTEMPTTIMEOUT seconds for all of them together; reaching a bound
 * is a temporary failure.  A permanent refusal stops at once.  With
 * may_yield, before any session of this call was open, a host refusing
 * for now (4xx greeting or EHLO) gives DLV_REQUEUE.
 */
static enum dlv
hop_open(struct hop *h, size_t start, struct dsn *why)
{
	long long end = smtp_deadline(config.attempttimeout);
	size_t tried = start, cap = hop_cap(h);
	enum dlv ret = DLV_TEMPFAIL;
	int yield;

	dsn_set(why, "4.4.4", "no mail exchanger found for %s", h->host);
	while (ret == DLV_TEMPFAIL && tried < cap && !smtp_deadline_over(end)) {
		/* Asked now, not when the worker started: whether other
		 * sessions to this destination are running changes. */
		yield = h->may_yield && !h->ever_open &&
		    (h->feed->may_yield == NULL || h->feed->may_yield(h->feed->arg));
		ret = smtp_sess_open(&h->s, &h->mx[tried], h->smart ? h->host :
		    h->mx[tried].host, h->auth, end, yield, why);
		if (ret == DLV_OK) {
			/* The open wrote to why; the session outlives it. */
			h->s.why = &h->swhy;
			h->open = h->ever_open = 1;
			h->cand = tried;
			h->msgs = 0;
			h->need_rset = 0;
			return (DLV_OK);
		}
		if (ret == DLV_TEMPFAIL && h->s.refused && yield)
			return (DLV_REQUEUE);
		tried++;
	}
	if (ret != DLV_TEMPFAIL)
		return (ret);
	if (smtp_deadline_over(end))
		bound_hit(why, "delivery attempt deadline", config.attempttimeout,
		    " s", tried, h->nmx);
	else if (tried < h->nmx)
		bound_hit(why, "address limit", config.maxaddresses, "", tried, h->nmx);
	return (ret);
}

/* hop_close - end the hop's session, if open (QUIT; ok: for the log) */
static void
hop_close(struct hop *h, int ok)
{
	if (h->open)
		smtp_sess_close(&h->s, ok);
	h->open = 0;
}

/* envelope_refused - 1 (why set, logged) if its addresses must not be sent */
static int
envelope_refused(const struct qitem *it, struct dsn *why)
{
	char err[128], safe[256];

	if (it->sender[0] != '\0' && addr_check(it->sender, 0, err, sizeof(err)) != 0) {
		log_safe(safe, sizeof(safe), it->sender);
		log_msg(LOG_ERR, "refusing to send sender <%s> in MAIL FROM: %s", safe, err);
		dsn_set(why, "5.1.7", "invalid sender address <%s> not sent: %s", safe, err);
		return (1);
	}
	if (addr_check(it->addr, 0, err, sizeof(err)) != 0) {
		log_safe(safe, sizeof(safe), it->addr);
		log_msg(LOG_ERR, "refusing to send recipient <%s> in RCPT TO: %s", safe, err);
		dsn_set(why, "5.1.3", "invalid recipient address <%s> not sent: %s", safe, err);
		return (1);
	}
	return (0);
}

/* set_all - outcome res, reason *d for every entry in state from */
static void
set_all(struct dlv_job *j, enum est *st, enum est from, enum dlv res,
    const struct dsn *d)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		if (st[i] != from)
			continue;
		j->res[i] = res;
		if (d != NULL && d != &j->why[i])
			j->why[i] = *d;
	}
}

/* to_state - every entry in state from goes to state to */
static void
to_state(struct dlv_job *j, enum est *st, enum est from, enum est to)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		if (st[i] == from)
			st[i] = to;
	}
}

/* is_lost - the reply says the session is over: 421, or EOF / read error */
static int
is_lost(const struct smtp_sess *s, const struct smtp_reply *r)
{
	return (r->code == 421 || (r->code == 0 && !s->c.desync));
}

/* too_many - 452, or the enhanced code 4.5.3 (too many recipients) */
static int
too_many(const struct smtp_reply *r)
{
	char code[8];

	smtp_reply_dsn(r, code, sizeof(code));
	return (r->code == 452 || strcmp(code, "4.5.3") == 0);
}

/* put_cmd - queue one command (no reading); errors stick in the connection */
static void
put_cmd(struct smtp_sess *s, const char *cmd)
{
	log_verbose(">>> %s", cmd);
	(void)smtp_conn_put(&s->c, cmd, strlen(cmd), smtp_timeout(SMTP_TMO_CMD));
	(void)smtp_conn_put(&s->c, "\r\n", 2, smtp_timeout(SMTP_TMO_CMD));
}

/* write_failed - the connection failed while writing: reply r says so */
static void
write_failed(struct smtp_sess *s, struct smtp_reply *r)
{
	r->code = 0;
	snprintf(r->text, sizeof(r->text), "write error: %s", strerror(s->c.err));
}

/*
 * read_reply - the reply to a command written earlier (PIPELINING), or
 * the reply to cmd sent now (lock-step, cmd not NULL)
 */
static void
read_reply(struct smtp_sess *s, const char *cmd, int timeout, struct smtp_reply *r)
{
	smtp_reply_init(r);
	if (s->c.broken && !s->c.memsrc && s->c.fd < 0) {
		snprintf(r->text, sizeof(r->text), "connection closed");
		return;
	}
	(void)smtp_sess_cmd(s, cmd, NULL, timeout, r);
}

/*
 * sess_fail_into - smtp_sess_fail with the reason written to d.  The
 * session's why points at d for the call only: it otherwise names the
 * hop's own reason, never a slot that dies with a caller's frame.
 */
static enum dlv
sess_fail_into(struct smtp_sess *s, struct dsn *d, const char *step,
    const struct smtp_reply *r)
{
	struct dsn *keep = s->why;
	enum dlv res;

	s->why = d;
	res = smtp_sess_fail(s, step, r);
	s->why = keep;
	return (res);
}

/*
 * fail_entries - one failed step for the entries in state from: logged
 * once, the reason copied to each.  5xx makes them final (PERMFAIL).
 */
static void
fail_entries(struct smtp_sess *s, struct dlv_job *j, enum est *st, enum est from,
    const char *step, const struct smtp_reply *r)
{
	struct dsn d;
	enum dlv res;

	res = sess_fail_into(s, &d, step, r);
	set_all(j, st, from, res, &d);
	if (res == DLV_PERMFAIL)
		to_state(j, st, from, E_FINAL);
	else if (from != E_SEND)
		to_state(j, st, from, E_SEND);
}

/* tx_rcpt - the outcome of the RCPT of entry i (k-th of the transaction) */
static int
tx_rcpt(struct smtp_sess *s, struct dlv_job *j, enum est *st, size_t i, size_t k,
    const struct smtp_reply *r)
{
	if (r->code / 100 == 2) {
		st[i] = E_ACC;
		return (0);
	}
	if (is_lost(s, r) || r->code == 0)
		return (-1);
	if (r->code / 100 == 4 && too_many(r) && k > 0) {
		dsn_set(&j->why[i], "4.5.3", "%s [%s] failed after RCPT TO: %s",
		    s->mx->host, s->mx->ip, r->text);
		st[i] = E_LATER;
		return (0);
	}
	j->res[i] = sess_fail_into(s, &j->why[i], "RCPT TO", r);
	if (j->res[i] == DLV_PERMFAIL)
		st[i] = E_FINAL;
	return (0);
}

/*
 * tx_lost - the session ended under the transaction (reason r): the
 * entries still open get it; TX_LOST when the server closed the session,
 * TX_DEAD when it is out of step with us.
 */
static enum tx
tx_lost(struct hop *h, struct dlv_job *j, enum est *st, const char *step,
    const struct smtp_reply *r)
{
	int lost = is_lost(&h->s, r);

	to_state(j, st, E_ACC, E_SEND);
	to_state(j, st, E_LATER, E_SEND);
	fail_entries(&h->s, j, st, E_SEND, step, r);
	hop_close(h, 0);
	return (lost ? TX_LOST : TX_DEAD);
}

/* tx_data - after a 354: the message, the final dot and its reply */
static enum tx
tx_data(struct hop *h, struct dlv_job *j, enum est *st, struct smtp_msg *m)
{
	struct smtp_sess *s = &h->s;
	struct smtp_reply r;
	struct dsn d, *keep;
	char safe[REASON_MAX], err[256];
	size_t i;

	log_verbose(">>> [message, %zu bytes]", smtp_msg_size(m));
	if (smtp_msg_send(&s->c, m, err, sizeof(err)) != 0 && !s->c.broken) {
		/* The message can not be read: never end it with a dot. */
		keep = s->why;
		s->why = &d;
		(void)smtp_sess_defer(s, "4.3.0", "%s", err);
		s->why = keep;
		set_all(j, st, E_ACC, DLV_TEMPFAIL, &d);
		to_state(j, st, E_ACC, E_FINAL);
		s->c.broken = 1;
		hop_close(h, 0);
		return (TX_DEAD);
	}
	log_verbose(">>> .");
	if (smtp_conn_put(&s->c, ".\r\n", 3, smtp_timeout(SMTP_TMO_BLOCK)) != 0 ||
	    smtp_conn_flush(&s->c, smtp_timeout(SMTP_TMO_BLOCK)) != 0) {
		keep = s->why;
		s->why = &d;
		(void)smtp_sess_defer(s, "4.4.2", "write error while sending the "
		    "message: %s", strerror(s->c.err));
		s->why = keep;
		set_all(j, st, E_ACC, DLV_TEMPFAIL, &d);
		to_state(j, st, E_ACC, E_SEND);
		hop_close(h, 0);
		return (TX_LOST);
	}
	read_reply(s, NULL, smtp_timeout(SMTP_TMO_DOT), &r);
	if (r.code / 100 == 2) {
		log_msg(LOG_INFO, "%s [%s] accepted the message: %s", s->mx->host,
		    s->mx->ip, log_safe(safe, sizeof(safe), r.text));
		for (i = 0; i < j->n; i++) {
			if (st[i] == E_ACC) {
				j->res[i] = DLV_OK;
				dsn_set(&j->why[i], "2.0.0", "%s [%s] accepted the "
				    "message", s->mx->host, s->mx->ip);
				st[i] = E_FINAL;
			}
		}
		return (TX_OK);
	}
	if (r.code == 0 || r.code == 421)
		return (tx_lost(h, j, st, "final DATA", &r));
	h->need_rset = 1;
	fail_entries(s, j, st, E_ACC, "final DATA", &r);
	return (r.code >= 500 ? TX_OK : TX_NEXT);
}

/*
 * utf8_bounce - the server did not offer SMTPUTF8 (RFC 6531): every entry
 * in E_SEND whose envelope (sender or recipient) is not ASCII, or every
 * one when the message header has UTF-8 (RFC 6532), can not be sent and
 * bounces.  RFC 6531 3.2 would let a U-label domain alone go as its
 * A-label; it is not done: the message would reach a host that can not
 * reply to or forward it as written.  Returns the entries left in E_SEND.
 */
static size_t
utf8_bounce(struct smtp_sess *s, struct dlv_job *j, enum est *st,
    const struct smtp_msg *m)
{
	const struct qitem *it;
	char safe[REASON_MAX];
	size_t i, left = 0;

	for (i = 0; i < j->n; i++) {
		if (st[i] != E_SEND)
			continue;
		it = j->it[i];
		if (!addr_ascii(it->sender) || !addr_ascii(it->addr)) {
			log_safe(safe, sizeof(safe), !addr_ascii(it->sender) ?
			    it->sender : it->addr);
			dsn_set(&j->why[i], "5.6.7", "%s [%s] does not support "
			    "SMTPUTF8, needed for the non-ASCII address <%s>",
			    s->mx->host, s->mx->ip, safe);
		} else if (smtp_msg_utf8hdr(m)) {
			dsn_set(&j->why[i], "5.6.9", "%s [%s] does not support "
			    "SMTPUTF8, needed for the UTF-8 in the message header",
			    s->mx->host, s->mx->ip);
		} else {
			left++;
			continue;
		}
		log_msg(LOG_ERR, "remote delivery to <%s> failed: %s",
		    log_safe(safe, sizeof(safe), it->addr), j->why[i].text);
		j->res[i] = DLV_PERMFAIL;
		st[i] = E_FINAL;
	}
	return (left);
}

/* utf8_needed - some entry in E_SEND needs an SMTPUTF8 transaction */
static int
utf8_needed(const struct dlv_job *j, const enum est *st, const struct smtp_msg *m)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		if (st[i] == E_SEND && (smtp_msg_utf8hdr(m) ||
		    !addr_ascii(j->it[i]->sender) || !addr_ascii(j->it[i]->addr)))
			return (1);
	}
	return (0);
}

/*
 * tx_run - one transaction for the entries in E_SEND: MAIL FROM, one
 * RCPT TO each, DATA, the message.  All in one write with PIPELINING;
 * lock-step otherwise, where RCPTs stop at the first 452.
 */
static enum tx
tx_run(struct hop *h, struct dlv_job *j, enum est *st, struct smtp_msg *m)
{
	struct smtp_sess *s = &h->s;
	struct smtp_reply r;
	struct dsn d, *keep;
	char *cmd, sz[32];
	size_t i, k, late = 0, nacc = 0, nsend = 0;
	int pipe = s->pipelining, lost = 0, stop = 0, utf8;

	/*
	 * The first transaction belongs to the attempt that opened the
	 * session (one ATTEMPTTIMEOUT from the connect to its last reply);
	 * each later one has an ATTEMPTTIMEOUT of its own.
	 */
	if (h->msgs > 0)
		s->c.deadline = smtp_deadline(config.attempttimeout);
	h->txend = s->c.deadline;
	if (h->need_rset) {
		read_reply(s, "RSET", smtp_timeout(SMTP_TMO_CMD), &r);
		if (r.code == 0 || r.code == 421)
			return (tx_lost(h, j, st, "RSET", &r));
		if (r.code / 100 != 2) {
			/* out of step with the server: start afresh */
			keep = s->why;
			s->why = &d;
			(void)smtp_sess_defer(s, "4.4.2", "RSET refused: %s", r.text);
			s->why = keep;
			set_all(j, st, E_SEND, DLV_TEMPFAIL, &d);
			hop_close(h, 0);
			return (TX_LOST);
		}
		h->need_rset = 0;
	}
	if (s->size_adv && s->size_max > 0 && smtp_msg_size(m) > s->size_max) {
		log_msg(LOG_ERR, "remote delivery to %s [%s] failed: message size %zu "
		    "exceeds the limit of %llu bytes", s->mx->host, s->mx->ip,
		    smtp_msg_size(m), s->size_max);
		dsn_set(&d, "5.3.4", "message size %zu exceeds the limit of %llu "
		    "bytes of %s", smtp_msg_size(m), s->size_max, s->mx->host);
		set_all(j, st, E_SEND, DLV_PERMFAIL, &d);
		to_state(j, st, E_SEND, E_FINAL);
		return (TX_OK);
	}
	if (!s->smtputf8 && utf8_bounce(s, j, st, m) == 0)
		return (TX_OK);
	utf8 = s->smtputf8 && utf8_needed(j, st, m);
	h->msgs++;
	sz[0] = '\0';
	if (s->size_adv)
		snprintf(sz, sizeof(sz), " SIZE=%zu", smtp_msg_size(m));
	for (i = 0; i < j->n && st[i] != E_SEND; i++)
		;
	cmd = xasprintf("MAIL FROM:<%s>%s%s%s", j->it[i]->sender, sz,
	    smtp_msg_has8bit(m) && s->eightbit ? " BODY=8BITMIME" : "",
	    utf8 ? " SMTPUTF8" : "");
	if (pipe) {
		put_cmd(s, cmd);
		free(cmd);
		for (i = 0; i < j->n; i++) {
			if (st[i] != E_SEND)
				continue;
			cmd = xasprintf("RCPT TO:<%s>", j->it[i]->addr);
			put_cmd(s, cmd);
			free(cmd);
			nsend++;
		}
		put_cmd(s, "DATA");
		if (smtp_conn_flush(&s->c, smtp_timeout(SMTP_TMO_CMD)) != 0) {
			write_failed(s, &r);
			return (tx_lost(h, j, st, "MAIL FROM", &r));
		}
		read_reply(s, NULL, smtp_timeout(SMTP_TMO_MAIL), &r);
	} else {
		read_reply(s, cmd, smtp_timeout(SMTP_TMO_MAIL), &r);
		free(cmd);
	}
	if (r.code / 100 != 2) {
		int perm = r.code >= 500;

		if (r.code == 0 || r.code == 421)
			return (tx_lost(h, j, st, "MAIL FROM", &r));
		fail_entries(s, j, st, E_SEND, "MAIL FROM", &r);
		if (pipe) {
			/* the RCPT and DATA replies still come */
			for (k = 0; k < nsend + 1 && !s->c.broken; k++)
				read_reply(s, NULL, smtp_timeout(SMTP_TMO_RCPT), &r);
			if (s->c.broken) {
				hop_close(h, 0);
				return (TX_DEAD);
			}
			h->need_rset = 1;
		}
		return (perm ? TX_OK : TX_NEXT);
	}
	for (i = k = 0; i < j->n; i++) {
		if (st[i] != E_SEND)
			continue;
		if (!pipe && stop) {
			st[i] = E_LATER;	/* after a 452: not sent */
			j->why[i] = j->why[late];
			continue;
		}
		if (!pipe) {
			cmd = xasprintf("RCPT TO:<%s>", j->it[i]->addr);
			read_reply(s, cmd, smtp_timeout(SMTP_TMO_RCPT), &r);
			free(cmd);
		} else
			read_reply(s, NULL, smtp_timeout(SMTP_TMO_RCPT), &r);
		if (tx_rcpt(s, j, st, i, k, &r) != 0) {
			lost = 1;
			break;
		}
		k++;
		if (st[i] == E_ACC)
			nacc++;
		if (st[i] == E_LATER && !stop) {
			stop = 1;
			late = i;
		}
	}
	if (lost)
		return (tx_lost(h, j, st, "RCPT TO", &r));
	if (nacc == 0) {
		/* E_LATER only makes sense after an accepted recipient */
		for (i = 0; i < j->n; i++) {
			if (st[i] == E_LATER) {
				st[i] = E_SEND;
				j->res[i] = DLV_TEMPFAIL;
			}
		}
	}
	if (pipe) {
		read_reply(s, NULL, smtp_timeout(SMTP_TMO_DATA), &r);
		if (r.code == 354 && nacc == 0) {
			/* a server that takes DATA without a recipient */
			log_verbose(">>> .");
			read_reply(s, ".", smtp_timeout(SMTP_TMO_DOT), &r);
			r.code = r.code == 0 ? 0 : 503;
		}
	} else if (nacc > 0)
		read_reply(s, "DATA", smtp_timeout(SMTP_TMO_DATA), &r);
	if (nacc == 0) {
		/* every recipient refused: DATA was refused too, as expected */
		if (r.code == 0 || r.code == 421)
			return (tx_lost(h, j, st, "RCPT TO", &r));
		h->need_rset = 1;
		for (i = 0; i < j->n; i++) {
			if (st[i] == E_SEND)
				return (TX_NEXT);
		}
		return (TX_OK);
	}
	if (r.code != 354) {
		if (r.code == 0 || r.code == 421)
			return (tx_lost(h, j, st, "DATA", &r));
		h->need_rset = 1;
		fail_entries(s, j, st, E_ACC, "DATA", &r);
		return (r.code >= 500 ? TX_OK : TX_NEXT);
	}
	return (tx_data(h, j, st, m));
}

/*
 * deadline_hit - a transaction ended at the deadline of its attempt:
 * said so (once) in the reasons of the entries still open
 */
static void
deadline_hit(struct hop *h, struct dlv_job *j, enum est *st)
{
	size_t i, first = j->n;

	for (i = 0; i < j->n; i++) {
		if (st[i] != E_SEND)
			continue;
		if (first == j->n) {
			first = i;
			bound_hit(&j->why[i], "delivery attempt deadline",
			    config.attempttimeout, " s", h->cand + 1, h->nmx);
		} else
			j->why[i] = j->why[first];
	}
}

/* give_dead - the failure of opening a session, for the entries in E_SEND */
static void
give_dead(struct hop *h, struct dlv_job *j, enum est *st)
{
	set_all(j, st, E_SEND, h->deadres, &h->deadwhy);
	to_state(j, st, E_SEND, E_FINAL);
}

/* hop_resolve - the candidates of the next hop, once; 0 or -1 (dead) */
static int
hop_resolve(struct hop *h)
{
	enum dlv ret;

	if (h->resolved)
		return (h->dead ? -1 : 0);
	h->resolved = 1;
	if (h->smart)
		log_msg(LOG_INFO, "using smarthost (%s:%d)", h->host, h->port);
	ret = dns_get_mx_list(h->host, h->port, h->smart, &h->mx, &h->nmx, &h->deadwhy);
	if (ret == DLV_OK)
		return (0);
	log_msg(LOG_NOTICE, "remote delivery %s: %s",
	    ret == DLV_PERMFAIL ? "failed" : "deferred", h->deadwhy.text);
	h->dead = 1;
	h->deadres = ret;
	return (-1);
}

/*
 * relay_msg_load - the message of job j as it leaves for another host:
 * header addresses without a domain get the MASQUERADE domain or the mail
 * name, and with REWRITEFROM the From: is the envelope sender (see
 * hdrqual.c).  Local delivery never comes here, so it gets the message
 * as it was submitted.
 */
static struct smtp_msg *
relay_msg_load(const struct dlv_job *j, char *why, size_t whylen)
{
	struct smtp_hdr h;

	h.domain = config.masquerade_host != NULL ? config.masquerade_host :
	    hostname();
	h.from = (config.features & REWRITEFROM) ? j->it[0]->sender : NULL;
	return (smtp_msg_load_hdr(j->it[0]->mfp, &h, why, whylen));
}

/*
 * job_run - deliver one job over the hop's session.  Returns 1 when the
 * destination refused the first session for now (the job's entries are
 * DLV_REQUEUE), else 0.
 */
static int
job_run(struct hop *h, struct dlv_job *j)
{
	enum est st[JOB_MAX];
	struct smtp_msg *m = NULL;
	struct dsn d;
	size_t i, next = 0;
	int again = 0, any = 0;
	enum dlv ret;
	enum tx tx;

	for (i = 0; i < j->n; i++) {
		st[i] = E_SEND;
		j->res[i] = DLV_TEMPFAIL;
		dsn_set(&j->why[i], "", "unknown bounce reason");
		if (config.features & LOCALONLY) {
			/* nothing leaves this host, even if it was queued */
			dsn_set(&j->why[i], "5.7.1", "remote delivery to <%s> "
			    "refused: this host delivers local mail only "
			    "(LOCALONLY)", j->it[i]->addr);
			log_msg(LOG_NOTICE, "remote delivery refused: LOCALONLY");
			j->res[i] = DLV_PERMFAIL;
			st[i] = E_FINAL;
		} else if (envelope_refused(j->it[i], &j->why[i])) {
			/*
			 * An address that fails the intake check (an entry of
			 * an older version, or edited) could close the path
			 * and add parameters: never sent, and bounced at once.
			 */
			j->res[i] = DLV_PERMFAIL;
			st[i] = E_FINAL;
		} else
			any = 1;
	}
	if (!any)
		return (0);
	if (hop_resolve(h) != 0) {
		give_dead(h, j, st);
		return (0);
	}
	if ((m = relay_msg_load(j, d.text, sizeof(d.text))) == NULL) {
		strlcpy(d.code, "4.3.0", sizeof(d.code));
		log_msg(LOG_NOTICE, "remote delivery deferred: %s", d.text);
		set_all(j, st, E_SEND, DLV_TEMPFAIL, &d);
		return (0);
	}
	for (;;) {
		if (h->dead) {
			give_dead(h, j, st);
			break;
		}
		if (!h->open) {
			ret = hop_open(h, next, &d);
			if (ret == DLV_REQUEUE) {
				set_all(j, st, E_SEND, DLV_REQUEUE, &d);
				smtp_msg_free(m);
				return (1);
			}
			if (ret != DLV_OK) {
				if (next == 0) {
					h->dead = 1;
					h->deadres = ret;
					h->deadwhy = d;
					give_dead(h, j, st);
				} else
					set_all(j, st, E_SEND, ret, &d);
				break;
			}
		}
		tx = tx_run(h, j, st, m);
		if (h->open && h->msgs >= config.sessionmessages)
			hop_close(h, 1);
		if (tx != TX_OK && smtp_deadline_over(h->txend)) {
			deadline_hit(h, j, st);
			break;
		}
		if (tx == TX_LOST && !again) {
			again = 1;	/* once on a fresh session */
			next = 0;
			continue;
		}
		if (tx == TX_NEXT && h->open && h->cand + 1 < hop_cap(h)) {
			next = h->cand + 1;
			hop_close(h, 0);
			continue;
		}
		if (tx != TX_OK)
			break;
		to_state(j, st, E_SEND, E_FINAL);	/* deferred by RCPT */
		for (i = 0; i < j->n && st[i] != E_LATER; i++)
			;
		if (i == j->n)
			break;
		to_state(j, st, E_LATER, E_SEND);
		if (!h->open)
			next = 0;
	}
	smtp_msg_free(m);
	return (0);
}

int
smtp_deliver_feed(const char *domain, const struct authuser *auth,
    int may_yield, struct dlv_feed *f)
{
	struct hop h;
	struct dlv_job j;
	int ret = 0;

	memset(&h, 0, sizeof(h));
	h.smart = domain == NULL;
	h.host = h.smart ? config.smarthost : domain;
	h.port = h.smart ? config.port : SMTP_PORT;
	h.auth = auth;
	h.may_yield = may_yield;
	h.feed = f;
	while (f->next(f->arg, &j)) {
		if (h.host == NULL) {
			size_t i;

			for (i = 0; i < j.n; i++) {
				j.res[i] = DLV_TEMPFAIL;
				dsn_set(&j.why[i], "4.3.5", "no SMARTHOST configured");
			}
			f->done(f->arg, &j);
			continue;
		}
		if (job_run(&h, &j)) {
			f->done(f->arg, &j);
			ret = SMTP_YIELD;
			break;
		}
		f->done(f->arg, &j);
	}
	hop_close(&h, 1);
	free(h.mx);
	return (ret);
}
