/*
 * bsmtp.c - "dma -bs": an SMTP server dialogue on standard input/output.
 *
 * Owns the server side of one SMTP session (RFC 5321): command parsing,
 * the MAIL/RCPT/DATA transaction state and the reply texts.  Every
 * accepted message becomes an ordinary submission: the dot-unstuffed DATA
 * goes to an unlinked temporary file, then through mail_read() into a
 * spool file, and spool_commit() queues it; the new entries are handed
 * back to dma.c for delivery.
 *
 * Side effects: reads in, writes replies to out, creates one tmpfile(3)
 * per message, creates spool files through spool.c, syslog.  Runs as the
 * invoking user; the effective group mail is off while the session and
 * each message are read and parsed, and on (ctx->group_mail) only while
 * spool files are created, committed or removed, as for a command-line
 * submission.  Everything read is untrusted: command
 * lines are capped at SMTP_LINE_MAX, recipients at RCPT_MAX, errors per
 * session at BSMTP_MAX_ERRORS, and nothing the client sent is echoed
 * back or logged without log_safe().
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "dma.h"

#define BSMTP_MAX_ERRORS 100	/* bad commands before the session ends */
#define BSMTP_SAFE_MAX	200	/* echoed reason text */

/* Results of read_cmd(). */
enum cmdread {
	CMD_EOF,
	CMD_LINE,
	CMD_LONG,		/* longer than SMTP_LINE_MAX, discarded */
	CMD_NUL,		/* contained a NUL byte, discarded */
	CMD_ERR,		/* read error */
};

struct session {
	FILE	*in;
	FILE	*out;
	const struct bsmtp_ctx *ctx;
	struct queue *q;
	int	 ioerr;		/* reading in or writing out failed */
	int	 done;		/* QUIT, end of input or too many errors */
	unsigned errors;
	unsigned queued;	/* messages accepted in this session */
	char	*sender;	/* MAIL FROM of the open transaction, or NULL */
	struct rcptlist rcpts;
};

static void reply(struct session *, const char *, ...) __printflike(2, 3);

/* reply - send one reply line with CRLF and flush; remembers a write error */
static void
reply(struct session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->ioerr)
		return;
	va_start(ap, fmt);
	vfprintf(s->out, fmt, ap);
	va_end(ap);
	fputs("\r\n", s->out);
	if (fflush(s->out) != 0 || ferror(s->out)) {
		log_msg(LOG_ERR, "bsmtp: can not write reply: %s", strerror(errno));
		s->ioerr = 1;
	}
}

/* bad - a refused command: counts towards BSMTP_MAX_ERRORS */
static void
bad(struct session *s)
{
	if (++s->errors >= BSMTP_MAX_ERRORS && !s->ioerr) {
		reply(s, "421 4.7.0 %s Too many errors, closing", hostname());
		s->done = 1;
	}
}

/* txn_reset - forget the sender and recipients of the open transaction */
static void
txn_reset(struct session *s)
{
	free(s->sender);
	s->sender = NULL;
	rcpt_free(&s->rcpts);
	rcpt_init(&s->rcpts, s->ctx->aliases);
}

/*
 * read_cmd - read one command line into buf (NUL terminated, line end
 * removed).  A line ends with LF, optionally preceded by CR; a last line
 * without an end still counts.  Longer lines than SMTP_LINE_MAX (with
 * CRLF) and lines containing NUL are read to their end and reported so
 * that the session stays in step with the client.
 */
static enum cmdread
read_cmd(FILE *in, char *buf, size_t size)
{
	size_t len = 0;
	int c, full = 0, nul = 0;

	for (;;) {
		c = getc(in);
		if (c == EOF) {
			if (ferror(in))
				return (CMD_ERR);
			if (len == 0 && !full && !nul)
				return (CMD_EOF);
			break;
		}
		if (c == '\n')
			break;
		if (c == '\0')
			nul = 1;
		if (len + 1 < size)
			buf[len++] = (char)c;
		else
			full = 1;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (full || len > SMTP_LINE_MAX - 2)
		return (CMD_LONG);
	if (nul)
		return (CMD_NUL);
	return (CMD_LINE);
}

/*
 * read_data - copy DATA lines from in to tmp until a line holding only
 * ".", removing the leading dot of dot-stuffed lines (RFC 5321 4.5.2).
 * Line ends are copied as they are; mail_read() normalises them.
 * Returns 1 at the terminating dot, 0 at end of input before it, -1 on a
 * read error.  Write errors on tmp are left for the caller to find.
 */
static int
read_data(FILE *in, FILE *tmp)
{
	int c, c2;

	for (;;) {
		/* At the start of a line. */
		c = getc(in);
		if (c == '.') {
			c = getc(in);
			if (c == '\n')
				return (1);
			if (c == '\r') {
				c2 = getc(in);
				if (c2 == '\n')
					return (1);
				if (c2 != EOF)
					ungetc(c2, in);
			}
			/* Otherwise the dot was stuffing: drop it. */
		}
		while (c != EOF && c != '\n') {
			putc(c, tmp);
			c = getc(in);
		}
		if (c == EOF)
			return (ferror(in) ? -1 : 0);
		putc('\n', tmp);
	}
}

/*
 * parse_path - split "FROM:<addr> params" (kw "FROM:") or "TO:<addr>"
 * into addr and the parameter string.  Spaces after the colon and a path
 * without angle brackets are tolerated, as by common servers; an RFC 5321
 * source route ("@a,@b:") is dropped.  Returns 0, or -1 for a syntax
 * error or an address with spaces, angle brackets or control bytes.
 */
static int
parse_path(const char *arg, const char *kw, char *addr, size_t addrlen,
    const char **params)
{
	size_t kwlen = strlen(kw), n;
	const char *p, *e, *colon;

	if (strncasecmp(arg, kw, kwlen) != 0)
		return (-1);
	p = arg + kwlen;
	while (*p == ' ')
		p++;
	if (*p == '<') {
		p++;
		if ((e = strchr(p, '>')) == NULL)
			return (-1);
		n = (size_t)(e - p);
		e++;
	} else {
		n = strcspn(p, " ");
		if (n == 0)
			return (-1);
		e = p + n;
	}
	if (*e != '\0' && *e != ' ')
		return (-1);
	if (n >= addrlen)
		return (-1);
	memcpy(addr, p, n);
	addr[n] = '\0';
	if (addr[0] == '@') {
		if ((colon = strchr(addr, ':')) == NULL)
			return (-1);
		memmove(addr, colon + 1, strlen(colon + 1) + 1);
	}
	if (strpbrk(addr, " <>") != NULL || !envfield_ok(addr))
		return (-1);
	while (*e == ' ')
		e++;
	*params = e;
	return (0);
}

/*
 * mail_params_ok - the MAIL parameters we know: BODY=7BIT|8BITMIME (we
 * announce 8BITMIME), SMTPUTF8 (announced; RFC 6531: it takes no value,
 * and what it allows, UTF-8 addresses and headers, is taken with or
 * without it, as on the command line) and SIZE=digits (accepted, not
 * announced).  Returns 0, or an SMTP code (501/555) with the reply text
 * in msg.
 */
static int
mail_params_ok(const char *params, const char **msg)
{
	char tok[SMTP_LINE_MAX];
	const char *p = params, *v;
	size_t n;

	while (*p != '\0') {
		n = strcspn(p, " ");
		if (n >= sizeof(tok))
			n = sizeof(tok) - 1;
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += strcspn(p, " ");
		while (*p == ' ')
			p++;
		v = strchr(tok, '=');
		if (strncasecmp(tok, "BODY=", 5) == 0) {
			if (strcasecmp(v + 1, "7BIT") != 0 &&
			    strcasecmp(v + 1, "8BITMIME") != 0) {
				*msg = "5.5.4 Unsupported BODY type";
				return (501);
			}
		} else if (strncasecmp(tok, "SMTPUTF8", 8) == 0 &&
		    (tok[8] == '\0' || tok[8] == '=')) {
			if (tok[8] == '=') {
				*msg = "5.5.4 SMTPUTF8 takes no value";
				return (501);
			}
		} else if (strncasecmp(tok, "SIZE=", 5) == 0) {
			if (v[1] == '\0' || strspn(v + 1, "0123456789") != strlen(v + 1)) {
				*msg = "5.5.4 Bad SIZE parameter";
				return (501);
			}
		} else {
			*msg = "5.5.4 Unsupported parameter";
			return (555);
		}
	}
	return (0);
}

/*
 * qualify_sender - the envelope sender for addr as the command line would
 * make it: "" stays the null sender, an address without '@' gets
 * "@hostname()", and MASQUERADE replaces the local part and the domain.
 * Returns a malloc'ed string, or NULL for an empty local part or domain.
 */
static char *
qualify_sender(const char *addr)
{
	const char *at, *local, *dom;
	size_t llen;

	if (addr[0] == '\0')
		return (xstrdup(""));
	at = strchr(addr, '@');
	local = addr;
	if (at == NULL) {
		llen = strlen(addr);
		dom = hostname();
	} else {
		llen = (size_t)(at - addr);
		dom = at + 1;
		if (llen == 0 || *dom == '\0')
			return (NULL);
	}
	return (envelope_sender(local, llen, dom));
}

/* spool_group - group mail on (1) for spool access, off (0) otherwise */
static void
spool_group(const struct session *s, int on)
{
	if (s->ctx->group_mail != NULL)
		s->ctx->group_mail(on);
}

/* ---- commands ---------------------------------------------------- */

static void
cmd_ehlo(struct session *s, const char *arg)
{
	if (*arg == '\0') {
		reply(s, "501 5.5.4 Syntax: EHLO hostname");
		bad(s);
		return;
	}
	txn_reset(s);
	reply(s, "250-%s", hostname());
	reply(s, "250-8BITMIME");
	reply(s, "250-PIPELINING");
	reply(s, "250-SMTPUTF8");
	reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
cmd_helo(struct session *s, const char *arg)
{
	if (*arg == '\0') {
		reply(s, "501 5.5.4 Syntax: HELO hostname");
		bad(s);
		return;
	}
	txn_reset(s);
	reply(s, "250 %s", hostname());
}

static void
cmd_mail(struct session *s, const char *arg)
{
	char addr[ADDR_MAX], safe[BSMTP_SAFE_MAX], why[128];
	const char *params, *msg;
	char *sender;
	int code;

	if (s->sender != NULL) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		bad(s);
		return;
	}
	if (parse_path(arg, "FROM:", addr, sizeof(addr), &params) != 0) {
		reply(s, "501 5.1.7 Syntax: MAIL FROM:<address>");
		bad(s);
		return;
	}
	if ((code = mail_params_ok(params, &msg)) != 0) {
		reply(s, "%d %s", code, msg);
		bad(s);
		return;
	}
	sender = qualify_sender(addr);
	strlcpy(why, "empty local part or domain", sizeof(why));
	if (sender == NULL || (sender[0] != '\0' &&
	    addr_check(sender, 0, why, sizeof(why)) != 0)) {
		free(sender);
		reply(s, "501 5.1.7 Bad sender address <%s>: %s",
		    log_safe(safe, sizeof(safe), addr), why);
		bad(s);
		return;
	}
	s->sender = sender;
	reply(s, "250 2.1.0 Ok");
}

/*
 * rcpt_truncate - undo a failed rcpt_add(): an alias expansion may have
 * appended some targets before it failed, and the client was told the
 * whole recipient is refused.
 */
static void
rcpt_truncate(struct rcptlist *l, struct rcpt *oldtail, size_t oldn)
{
	struct rcptlist extra;

	rcpt_init(&extra, l->aliases);
	extra.head = oldtail != NULL ? oldtail->next : l->head;
	if (extra.head == NULL)
		return;
	extra.tail = l->tail;
	extra.n = l->n - oldn;
	if (oldtail != NULL)
		oldtail->next = NULL;
	else
		l->head = NULL;
	l->tail = oldtail;
	l->n = oldn;
	rcpt_free(&extra);
}

static void
cmd_rcpt(struct session *s, const char *arg)
{
	char addr[ADDR_MAX], why[REASON_MAX], safe[BSMTP_SAFE_MAX];
	const char *params;
	struct rcpt *oldtail;
	size_t oldn;
	enum rcpt_err err;

	if (s->sender == NULL) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		bad(s);
		return;
	}
	if (parse_path(arg, "TO:", addr, sizeof(addr), &params) != 0 ||
	    addr[0] == '\0') {
		reply(s, "501 5.1.3 Syntax: RCPT TO:<address>");
		bad(s);
		return;
	}
	if (*params != '\0') {
		reply(s, "555 5.5.4 Unsupported parameter");
		bad(s);
		return;
	}
	if (s->rcpts.n >= RCPT_MAX) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	oldtail = s->rcpts.tail;
	oldn = s->rcpts.n;
	why[0] = '\0';
	s->rcpts.refuse_remote = 1;	/* LOCALONLY: 550 for remote ones */
	err = rcpt_add(&s->rcpts, addr, 1, why, sizeof(why));
	if (err != RCPT_OK)
		rcpt_truncate(&s->rcpts, oldtail, oldn);
	log_safe(safe, sizeof(safe), why);
	switch (err) {
	case RCPT_OK:
		reply(s, "250 2.1.5 Ok");
		return;
	case RCPT_ENOUSER:
		reply(s, "550 5.1.1 %s", safe);
		break;
	case RCPT_ETOOMANY:
		reply(s, "452 4.5.3 %s", safe);
		break;
	case RCPT_ELOOP:
		reply(s, "550 5.4.6 %s", safe);
		break;
	case RCPT_EREMOTE:
		reply(s, "550 5.7.1 %s", safe);
		break;
	case RCPT_EINVAL:
	default:
		reply(s, "553 5.1.3 %s", safe);
		break;
	}
	bad(s);
}

/* append - hand the entries of one committed message to the caller */
static void
append(struct queue *q, struct queue *nq)
{
	struct qitem **pp;

	for (pp = &q->head; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = nq->head;
	q->n += nq->n;
	nq->head = NULL;
	nq->n = 0;
}

/* ident_restore - back to the session's syslog tag after a message */
static void
ident_restore(void)
{
	char base[sizeof(logident_base)];

	strlcpy(base, logident_base, sizeof(base));
	log_init(base);
}

/*
 * queue_message - the submission path for one message in tmp (positioned
 * at its start): spool file, mail_read, commit.  Sends the final reply.
 */
static void
queue_message(struct session *s, FILE *tmp)
{
	struct spool_tmp t;
	struct intake in;
	struct queue nq;
	char why[1024], safe[BSMTP_SAFE_MAX], msgid[sizeof(t.msgid)];
	const char *user;
	enum mail_err err;
	int r;

	spool_group(s, 1);
	if (spool_create(&t, why, sizeof(why)) != 0) {
		spool_group(s, 0);
		log_msg(LOG_ERR, "bsmtp: %s", why);
		reply(s, "451 4.3.0 Can not create spool file");
		return;
	}
	/* The message is parsed without group mail, like a submission. */
	spool_group(s, 0);
	strlcpy(msgid, t.msgid, sizeof(msgid));
	log_setqid("%s", msgid);
	user = s->ctx->username != NULL ? s->ctx->username : username();
	memset(&in, 0, sizeof(in));
	in.sender = s->sender;
	in.username = user;
	in.uid = s->ctx->uid;
	in.fullname = NULL;
	in.msgid = msgid;
	in.dot_ends = 0;
	in.extract = 0;
	err = mail_read(tmp, t.fp, &in, &s->rcpts, why, sizeof(why));
	spool_group(s, 1);
	if (err != MAIL_OK) {
		spool_abort(&t);
		spool_group(s, 0);
		log_msg(LOG_ERR, "bsmtp: %s", log_safe(safe, sizeof(safe), why));
		if (err == MAIL_EFORMAT || err == MAIL_ERCPT)
			reply(s, "554 5.6.0 %s", safe);
		else
			reply(s, "451 4.3.0 Can not write spool file");
		ident_restore();
		return;
	}
	log_msg(LOG_INFO, "new mail from user=%s uid=%lu envelope_from=<%s>",
	    user, (unsigned long)s->ctx->uid,
	    log_safe(safe, sizeof(safe), s->sender));
	if ((r = spool_commit(&t, s->sender, &s->rcpts, &nq, why,
	    sizeof(why))) != 0) {
		/* SPOOL_ESYNC: queued and logged, left to the queue runs. */
		if (r == SPOOL_ESYNC) {
			spool_free(&nq);
			reply(s, "451 4.3.0 Queued as %s, but not synced to "
			    "disk", msgid);
			ident_restore();
			return;
		}
		spool_abort(&t);
		spool_group(s, 0);
		log_msg(LOG_ERR, "bsmtp: %s", why);
		reply(s, "451 4.3.0 Can not queue message");
		ident_restore();
		return;
	}
	spool_group(s, 0);
	append(s->q, &nq);
	s->queued++;
	reply(s, "250 2.0.0 Ok: queued as %s", msgid);
	ident_restore();
}

static void
cmd_data(struct session *s, const char *arg)
{
	FILE *tmp;
	int r;

	if (s->sender == NULL) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		bad(s);
		return;
	}
	if (s->rcpts.n == 0) {
		reply(s, "503 5.5.1 No valid recipients");
		bad(s);
		return;
	}
	if (*arg != '\0') {
		reply(s, "501 5.5.4 Syntax: DATA");
		bad(s);
		return;
	}
	/* Unlinked and 0600: other users never see the message. */
	if ((tmp = tmpfile()) == NULL) {
		log_msg(LOG_ERR, "bsmtp: can not create temporary file: %s",
		    strerror(errno));
		reply(s, "451 4.3.0 Can not create temporary file");
		txn_reset(s);
		return;
	}
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	if (s->ioerr) {
		fclose(tmp);
		return;
	}
	r = read_data(s->in, tmp);
	if (r <= 0) {
		if (r < 0) {
			log_msg(LOG_ERR, "bsmtp: read error: %s", strerror(errno));
			s->ioerr = 1;
		} else {
			log_msg(LOG_INFO, "bsmtp: end of input inside DATA, message dropped");
		}
		s->done = 1;
	} else if (fflush(tmp) != 0 || ferror(tmp) || fseeko(tmp, 0, SEEK_SET) != 0) {
		log_msg(LOG_ERR, "bsmtp: can not write temporary file: %s",
		    strerror(errno));
		reply(s, "451 4.3.0 Can not write temporary file");
	} else {
		queue_message(s, tmp);
	}
	fclose(tmp);
	txn_reset(s);
}

static void
cmd_rset(struct session *s, const char *arg)
{
	(void)arg;
	txn_reset(s);
	reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct session *s, const char *arg)
{
	(void)arg;
	reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct session *s, const char *arg)
{
	(void)arg;
	reply(s, "221 2.0.0 Bye");
	s->done = 1;
}

static void
cmd_help(struct session *s, const char *arg)
{
	(void)arg;
	reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY");
}

static void
cmd_vrfy(struct session *s, const char *arg)
{
	(void)arg;
	reply(s, "252 2.5.2 Cannot VRFY user");
}

static void
cmd_unimpl(struct session *s, const char *arg)
{
	(void)arg;
	reply(s, "502 5.5.1 Command not implemented");
	bad(s);
}

static const struct command {
	const char *verb;
	void	(*fn)(struct session *, const char *);
} commands[] = {
	{ "EHLO", cmd_ehlo },
	{ "HELO", cmd_helo },
	{ "MAIL", cmd_mail },
	{ "RCPT", cmd_rcpt },
	{ "DATA", cmd_data },
	{ "RSET", cmd_rset },
	{ "NOOP", cmd_noop },
	{ "QUIT", cmd_quit },
	{ "HELP", cmd_help },
	{ "VRFY", cmd_vrfy },
	{ "EXPN", cmd_unimpl },
	{ "STARTTLS", cmd_unimpl },
	{ "AUTH", cmd_unimpl },
	{ "BDAT", cmd_unimpl },
	{ "TURN", cmd_unimpl },
	{ "ETRN", cmd_unimpl },
};

/* dispatch - run the command in line (verb, one or more spaces, argument) */
static void
dispatch(struct session *s, const char *line)
{
	size_t i, n;
	const char *arg;

	n = strcspn(line, " ");
	arg = line + n;
	while (*arg == ' ')
		arg++;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strlen(commands[i].verb) == n &&
		    strncasecmp(line, commands[i].verb, n) == 0) {
			commands[i].fn(s, arg);
			return;
		}
	}
	reply(s, "500 5.5.2 Command unrecognized");
	bad(s);
}

int
bsmtp_serve(FILE *in, FILE *out, const struct bsmtp_ctx *ctx, struct queue *q)
{
	struct session s;
	char line[SMTP_LINE_MAX + 1];
	const char *user;

	memset(&s, 0, sizeof(s));
	s.in = in;
	s.out = out;
	s.ctx = ctx;
	s.q = q;
	rcpt_init(&s.rcpts, ctx->aliases);
	user = ctx->username != NULL ? ctx->username : username();
	log_msg(LOG_INFO, "bsmtp session started by user=%s uid=%lu",
	    user, (unsigned long)ctx->uid);

	reply(&s, "220 %s ESMTP DragonFly Mail Agent %s", hostname(), DMA_VERSION);
	while (!s.done && !s.ioerr) {
		switch (read_cmd(in, line, sizeof(line))) {
		case CMD_EOF:
			s.done = 1;
			break;
		case CMD_ERR:
			log_msg(LOG_ERR, "bsmtp: read error: %s", strerror(errno));
			s.ioerr = 1;
			break;
		case CMD_LONG:
			reply(&s, "500 5.5.2 line too long");
			bad(&s);
			break;
		case CMD_NUL:
			reply(&s, "500 5.5.2 Syntax error, NUL in command");
			bad(&s);
			break;
		case CMD_LINE:
			dispatch(&s, line);
			break;
		}
	}
	txn_reset(&s);
	rcpt_free(&s.rcpts);
	log_msg(LOG_INFO, "bsmtp session ended: %u message%s queued%s",
	    s.queued, s.queued == 1 ? "" : "s", s.ioerr ? ", I/O error" : "");
	return (s.ioerr ? -1 : 0);
}
