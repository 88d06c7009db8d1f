/*
 * dma.h - shared declarations of the DragonFly Mail Agent.
 *
 * Dependency direction (lower layers never call upward):
 *
 *	dma.c  ->  runq.c (every delivery), mail.c rcpt.c spool.c bsmtp.c
 *	runq.c  ->  local.c smtp.c (through struct dlv_feed), spool.c,
 *		    report.c (bounces and delay notices)  ->  mail.c
 *	all  ->  dns.c crypto.c conf.c  ->  util.c dfcompat.c
 *	smtp.c  ->  smtpsess.c (opening a session: greeting, EHLO, TLS,
 *		    AUTH)  ->  net.c (the connection), and smtpdata.c (the
 *		    message's wire form, which uses only net.c's writes)
 *	local.c  ->  mboxlock.c journal.c (its locks and its append journal)
 *	addr.c (envelope address syntax) is ground floor, like util.c
 *
 * Privilege map (see also dma.8, SECURITY):
 *	dma		2755 root:mail	egid mail opens the spool, the group
 *					writable mboxes and reads auth.conf
 *	dma-mbox-create	4754 root:mail	root only to create one missing mbox,
 *					of an existing user, for that user
 *					(0620: the user rw, group mail w)
 *	dma-forward	4754 root:mail	root only to become a user completely,
 *					then reads that user's ~/.forward
 *	SPOOLDIR	2770 root:mail	only group mail reads queued mail
 *	auth.conf	0640 root:mail	secrets, readable by group mail only
 *
 * Only dma.c calls exit() with a sysexits code; the modules below it
 * return a status and write a reason into a caller-owned buffer, except on
 * memory exhaustion (xmalloc and friends).
 */
#ifndef DMA_H
#define DMA_H

#include <sys/types.h>
#include <sys/socket.h>

#include <netdb.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "dfcompat.h"

#ifndef CONF_PATH
#error Please define CONF_PATH (directory of dma.conf)
#endif
#ifndef LIBEXEC_PATH
#error Please define LIBEXEC_PATH (directory of dma-mbox-create)
#endif
#ifndef SPOOL_PATH
#error Please define SPOOL_PATH (default spool directory)
#endif
#ifndef MAIL_PATH
#error Please define MAIL_PATH (mbox directory, /var/mail)
#endif
#ifndef DMA_VERSION
#define DMA_VERSION	"v0.14"
#endif

#define DMA_ROOT_USER	"mail"
#define DMA_GROUP	"mail"
#define DMA_NOGROUP	"nogroup"	/* real group of a root caller */
#define DMA_CONF_FILE	CONF_PATH "/dma.conf"
#define DMA_MBOX_CREATE	LIBEXEC_PATH "/dma-mbox-create"
#define DMA_FORWARD	LIBEXEC_PATH "/dma-forward"

/* Limits on untrusted input; each is enforced in exactly one place. */
#define CONF_LINE_MAX	2048		/* conf.c: physical config line */
#define SMTP_LINE_MAX	1000		/* net.c: reply line incl. CRLF */
#define SMTP_REPLY_LINES 100		/* net.c: lines in one reply */
#define ADDR_MAX	1000		/* mail.c/rcpt.c: one address */
#define RCPT_MAX	10000		/* rcpt.c: recipients of a message */
#define ALIAS_DEPTH	20		/* rcpt.c: alias nesting */
#define ENVFIELD_MAX	1000		/* spool.c: sender/recipient in Q */
#define USERNAME_MAX	64		/* util.c: login name */
#define REASON_MAX	1024		/* struct dsn text */

#define MIN_RETRY	300		/* first retry delay, seconds */
#define MAX_RETRY	(3 * 60 * 60)	/* cap of the retry delay */
#define MAX_TIMEOUT	(5 * 24 * 60 * 60) /* give up and bounce */
#define SLEEP_TIMEOUT	30		/* flush file polling period */
#define SMTP_PORT	25
#define SPOOL_FLUSHFILE	"flush"

/* Feature flags in config.features (bit values as upstream). */
#define STARTTLS	0x002
#define SECURETRANSFER	0x004
#define DEFER		0x010
#define INSECURE	0x020
#define FULLBOUNCE	0x040
#define TLS_OPP		0x080
#define NULLCLIENT	0x100
#define VERIFYCERT	0x200
#define LOCALONLY	0x400
#define DOTFORWARD	0x1000
#define REWRITEFROM	0x4000	/* From: is the envelope sender on relay */

/*
 * struct config - dma.conf, read-only after conf_load().
 * String members are NULL when the key is absent.
 */
struct config {
	char	*smarthost;		/* SMARTHOST */
	int	 port;			/* PORT, default 25 */
	char	*aliases;		/* ALIASES, default /etc/aliases */
	char	*spooldir;		/* SPOOLDIR, default SPOOL_PATH */
	char	*authpath;		/* AUTHPATH */
	char	*certfile;		/* CERTFILE */
	char	*mailname;		/* MAILNAME (literal or /path) */
	char	*masquerade_user;	/* MASQUERADE, part before last @ */
	char	*masquerade_host;	/* MASQUERADE, part after last @ */
	unsigned char fingerprint[32];	/* FINGERPRINT, SHA-256 */
	int	 have_fingerprint;
	int	 features;		/* flags above */
	int	 timeout;		/* TIMEOUT: cap of SMTP timeouts, 0: none */
	int	 maxaddresses;		/* MAXADDRESSES: addresses per attempt */
	int	 attempttimeout;	/* ATTEMPTTIMEOUT: seconds per attempt */
	int	 maxworkers;		/* MAXWORKERS: delivery processes of a run */
	int	 maxsessions;		/* MAXSESSIONS: per destination and run */
	int	 sessionmessages;	/* SESSIONMESSAGES: per SMTP connection */
	int	 retrydelay;		/* RETRYDELAY: first retry, seconds */
	int	 maxretrydelay;		/* MAXRETRYDELAY: cap of the retry delay */
	int	 maxqueuetime;		/* MAXQUEUETIME: bounce when older */
	int	 delaywarning;		/* DELAYWARNING: warn the sender, 0: off */
	int	 tokentimeout;		/* TOKENTIMEOUT: token command, seconds */
};

extern struct config config;

/*
 * One auth.conf line: [KIND:]login|host<SEP>secret.  KIND "token:" makes
 * the secret an OAuth 2.0 access token, "tokencmd:" an absolute path and
 * arguments of a command printing one (token.c); none or "password:" a
 * password.
 */
#define AUTHU_PASSWORD	0
#define AUTHU_TOKEN	1
#define AUTHU_TOKENCMD	2
struct authuser {
	char	*login;
	char	*password;	/* password, token or token command */
	char	*host;
	int	 kind;		/* AUTHU_* */
	struct authuser *next;
};

/* One aliases(5) pair; a name with several targets has several pairs. */
struct alias {
	char	*name;
	char	*dest;
	struct alias *next;
};

/* Outcome of one delivery attempt. */
enum dlv {
	DLV_OK,			/* delivered; remove queue entry */
	DLV_TEMPFAIL,		/* keep; retry with backoff */
	DLV_PERMFAIL,		/* bounce now */
	DLV_REQUEUE,		/* not attempted (the destination refused one
				   more session): try again at once, no
				   attempt counted */
};

/* Reason of a delivery outcome, for the log and the bounce. */
struct dsn {
	char	code[8];	/* enhanced status, e.g. "5.1.1"; may be "" */
	char	text[REASON_MAX]; /* reason text (may be multi-line) */
};

/* A recipient of a message being submitted. */
struct rcpt {
	char	*addr;		/* after local-domain stripping */
	int	 local;		/* deliver to MAIL_PATH/addr */
	struct rcpt *next;
};

/* What a user's ~/.forward asks for (forward.c). */
enum fwd_kind {
	FWD_FORWARD,		/* text: an address to forward to */
	FWD_LOCAL,		/* text: NAME of a "\NAME" entry */
	FWD_REFUSED,		/* text: why an entry is not used */
	FWD_UNSAFE,		/* text: why the file is not used */
};
struct fwdlist {
	struct {
		enum fwd_kind kind;
		char	*text;
	}	*item;
	size_t	 n, cap;
};

/* The recipients of one submission, with the alias table used. */
struct rcptlist {
	struct rcpt *head;
	struct rcpt *tail;
	size_t	 n;
	const struct alias *aliases;	/* may be NULL (queue runs) */
	int	 refuse_remote;		/* with LOCALONLY: a remote address
					 * given directly is RCPT_EREMOTE */
	/* dma -bt: told of every name expanded (alias) and every final
	   recipient, depth = alias nesting; NULL: nobody */
	void	(*trace)(void *arg, int depth, const char *addr, int how);
	void	*trace_arg;
	/* DOTFORWARD: forward_lookup (set by rcpt_init), or NULL */
	int	(*forward)(const char *, struct fwdlist *);
};
#define RCPT_T_ALIAS	1	/* a name with aliases; its targets follow */
#define RCPT_T_CATCHALL	2	/* a name expanded by the "*" alias */
#define RCPT_T_LOCAL	3	/* a local user */
#define RCPT_T_REMOTE	4	/* a remote address (domain lower-cased) */

/*
 * Delivery state of a queued entry, kept in its Q file (spool.c): all
 * zero for an entry never attempted.
 */
#define QSTATE_TEXT_MAX	256		/* bytes of a kept failure text */
struct qstate {
	unsigned attempts;	/* failed attempts so far */
	time_t	 lastfail;	/* time of the last failed attempt, or 0 */
	char	*error;		/* its reason (one printable line), or NULL */
	time_t	 next;		/* next attempt not before, 0: at once */
	int	 held;		/* -Mf: no run delivers it, it never expires */
	time_t	 warned;	/* a delay warning was sent then, or 0 */
};

struct qgroup;

/*
 * A queued recipient: a Q file and its M file.  A Q file of version 3
 * may hold several recipients of one message at one domain (a group
 * entry); each of them is a qitem of its own, with the same queueid,
 * and the entries of one group are always next to each other in a
 * queue.
 */
struct qitem {
	char	*queueid;	/* "{msgid}.{n}" */
	char	*sender;	/* "" for bounces */
	char	*addr;		/* recipient as stored */
	int	 local;
	char	*qpath;	/* spooldir/Q{queueid}, malloc'ed */
	char	*mpath;		/* spooldir/M{queueid} */
	int	 qfd;		/* locked Q file, or -1 */
	FILE	*mfp;		/* M file opened read-only, or NULL; reads
				   give the message only, from its start */
	ino_t	 mino;		/* once acquired: the M file's inode */
	struct timespec mmtime;	/* and its modification time */
	int	 mfd;		/* version 2: mfp's descriptor (owned by
				   mfp), for siblings to share; or -1 */
	off_t	 mlen;		/* version 2: the message's length in M */
	dev_t	 qdev;		/* Q as read at load or acquire: inode, */
	ino_t	 qino;
	off_t	 qsize;		/* size, */
	struct timespec qmtim;	/* and times; an acquire that finds them */
	struct timespec qctim;	/* unchanged need not read Q again */
	int	 qfresh;	/* spool.c: the envelope was read from Q */
	time_t	 qtime;		/* mtime of Q = time queued */
	int	 version;	/* queue file format: 1 = upstream's (M
				   is the message), 2 = M ends with the
				   envelope trailer */
	struct qstate st;	/* delivery state (spool_save_state) */
	unsigned gsize;		/* recipients of its Q file when loaded;
				   > 1: a group entry */
	struct qgroup *grp;	/* acquired group entry: its Q file as read
				   under the lock, shared by the siblings
				   acquired with it (spool.c) */
	size_t	 gidx;		/* this recipient's place in grp */
	struct qitem *next;
};

struct queue {
	struct qitem *head;
	size_t	 n;
};

/* A message being received into the spool. */
struct spool_tmp {
	int	 fd;
	FILE	*fp;		/* write end, positioned at end */
	char	 path[PATH_MAX];
	char	 msgid[32];	/* hex inode of the temp file */
	unsigned nq;		/* Q files created so far */
};

/* Options of one intake, filled by dma.c from the command line. */
struct intake {
	const char *sender;	/* envelope sender, fully qualified */
	const char *username;	/* invoking user, for Received */
	uid_t	 uid;
	const char *fullname;	/* -F: display name for an added From:, or NULL */
	const char *msgid;	/* queue message id, for Received/Message-Id */
	int	 dot_ends;	/* a lone "." line ends input (no -i) */
	int	 extract;	/* -t: take recipients from To/Cc/Bcc */
};

/* ---- the unit of delivery work (runq.c -> local.c, smtp.c) -------- */
#define JOB_MAX		100	/* entries of one job: RFC 5321 4.5.3.1.8 */

/*
 * One job: entries of one message (one M file, one sender) for one
 * destination, at most JOB_MAX, each locked by spool_acquire with its M
 * file open.  The deliverer fills res[i] and why[i] for every it[i]
 * (DLV_OK only once the delivery is durable: the server's reply to the
 * final "." or the fsync of the mailbox) and hands the job back through
 * the feed's done(); after that the entries are no longer its to touch.
 */
struct dlv_job {
	struct qitem **it;
	size_t	 n;
	enum dlv *res;
	struct dsn *why;
};

/*
 * The work of one destination, as a worker of the queue runner sees it.
 * next() fills job with the next due message and returns 1, or returns 0
 * when nothing is left; the entries are locked by next() and
 * log_setqid() is set to the first one.  done() logs, removes, bounces
 * and unlocks them.  A deliverer may hold several jobs at once (a batch)
 * and must call done() for every job it took, exactly once, in any
 * order; it never removes, bounces or unlocks entries itself.
 */
struct dlv_feed {
	int	(*next)(void *arg, struct dlv_job *job);
	void	(*done)(void *arg, struct dlv_job *job);
	/* 1 if a session refused for concurrency may be handed back now
	   (other sessions to the destination are running); NULL: always */
	int	(*may_yield)(void *arg);
	void	*arg;
};

/* ---- addr.c: envelope address syntax ----------------------------- */
/*
 * The one syntax check of an envelope address, for the sender and every
 * recipient before the spool and for both before an SMTP command: an
 * RFC 5321 Mailbox, local-part "@" domain, where the local part is a
 * dot-string or a quoted-string (at most 64 bytes) and the domain a name
 * (at most 255 bytes, labels of at most 63) or an address literal in
 * [].  No control characters, no space outside quotes and no '<' or '>'
 * anywhere (not even quoted), under ADDR_MAX bytes.  Bytes >= 0x80 (RFC
 * 6531 local parts and U-label domains) must be well-formed UTF-8
 * (addr_utf8_check).  With ADDR_BARE
 * a local part alone (a local user or alias) is valid too.  The null
 * sender "" is the caller's case.  Returns 0, or -1 with why naming the
 * problem, e.g. "domain: `>' not allowed".
 */
#define ADDR_BARE	0x1
int	 addr_check(const char *addr, int flags, char *why, size_t whylen);
/* RFC 5322 atext, ASCII only. */
int	 addr_atext(unsigned char c);
/*
 * s is well-formed UTF-8 without C1 control characters (U+0080 to
 * U+009F): 0, or -1 with why naming the problem and where.  C0 controls
 * are addr_check's business.
 */
int	 addr_utf8_check(const char *s, char *why, size_t whylen);
/* 1 if s has no byte >= 0x80 (an address needing no SMTPUTF8). */
int	 addr_ascii(const char *s);

/* ---- util.c ------------------------------------------------------- */
extern int verbose;			/* -v: trace to stderr */
extern const char *progname;		/* basename(argv[0]) */
extern char logident_base[64];		/* -L tag or "dma" */

void	 log_init(const char *ident);
void	 log_setqid(const char *fmt, ...) __printflike(1, 2);
void	 log_msg(int pri, const char *fmt, ...) __printflike(2, 3);
void	 log_verbose(const char *fmt, ...) __printflike(1, 2);
/* errlog/errlogx: stderr "{prog}: msg[: strerror]" and syslog LOG_ERR */
void	 errlog(const char *fmt, ...) __printflike(1, 2);
void	 errlogx(const char *fmt, ...) __printflike(1, 2);
__dead void die(int ex, const char *fmt, ...) __printflike(2, 3);
__dead void diex(int ex, const char *fmt, ...) __printflike(2, 3);
/*
 * Copy src into dst visibly encoding control bytes (C1 controls too) and
 * bytes that are not well-formed UTF-8, capped at len-1.
 */
char	*log_safe(char *dst, size_t len, const char *src);
/* Replace control characters other than TAB by '?' in place. */
void	 text_sanitise(char *p, size_t n);
/*
 * The length (1 to 4) of the well-formed UTF-8 sequence (RFC 3629) that
 * starts at p, 1 for an ASCII byte; 0 if p starts none (a stray
 * continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or
 * cut short by the string's end).
 */
size_t	 utf8_seq(const unsigned char *p);

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *fmt, ...) __printflike(1, 2);

/*
 * hostname(): the mail name (the MAILNAME value given to hostname_init:
 * a name, or /path of a file holding it; else systemhostname()),
 * computed once after each hostname_init.
 */
const char *hostname(void);
const char *systemhostname(void);
void	 hostname_init(const char *mailname);
/* The monotonic clock in milliseconds (deadlines of net.c, crypto.c, token.c). */
long long now_ms(void);
/* RFC 5322 date of t, C locale: "Sat, 21 Nov 2026 05:35:29 +0000" */
void	 rfc822date(char *buf, size_t len, time_t t);
/* Invoking user name (3.7.1); never NULL. */
const char *username(void);
/* 1 if s is a safe envelope field: no byte < 0x20, no 0x7f, len < max. */
int	 envfield_ok(const char *s);
/* 1 if name is a plausible local login: [A-Za-z0-9._-], not "." / "..". */
int	 localname_ok(const char *name);
/* Buffered-safe snprintf: returns 0 when it fitted, -1 when truncated. */
int	 xsnprintf(char *buf, size_t len, const char *fmt, ...) __printflike(3, 4);
/* Format a reason into why (nothing when why is NULL or whylen 0). */
void	 set_why(char *why, size_t whylen, const char *fmt, ...) __printflike(3, 4);
void	 dsn_set(struct dsn *, const char *code, const char *fmt, ...)
	    __printflike(3, 4);

/* ---- conf.c ------------------------------------------------------- */
enum conf_err {
	CONF_OK = 0,
	CONF_EOPEN,		/* file exists but cannot be opened: EX_NOINPUT */
	CONF_ESYNTAX,		/* EX_CONFIG */
	CONF_ENOMEM,		/* EX_OSERR */
};
/* Reset c to the built-in defaults. */
void	 conf_init(struct config *c);
/*
 * Read dma.conf at path into c.  A missing file leaves the defaults and
 * returns CONF_OK.  On error, why holds the full message without program
 * name, e.g. "syntax error in /etc/dma/dma.conf:3" or
 * "can not open config `/etc/dma/dma.conf': Permission denied".
 */
enum conf_err conf_load(const char *path, struct config *c, char *why, size_t whylen);
/* A duration: digits with an optional s, m, h or d; 1..max seconds or -1. */
int	 conf_duration(const char *v, int max);
/*
 * conf_load() that goes on after a problem: each is handed to report as
 * "path:line: detail" (or "path: detail") and CONF_ESYNTAX returned at
 * the end; CONF_EOPEN (why set) when the file can not be read.  The
 * lines keys came from are kept for conf_key().
 */
enum conf_err conf_check(const char *path, struct config *c, char *why, size_t whylen,
	    void (*report)(void *arg, const char *msg), void *arg);
/* One key of the dma.conf table as dma -bP shows it. */
struct conf_keyinfo {
	const char *name;
	char	 value[256];	/* "" for an unset string or a flag */
	int	 set;		/* given (or a number: always) */
	int	 flag;		/* a key without value */
	int	 masked;	/* value replaced by "********" */
	unsigned line;		/* line of the last conf_load/conf_check that
				   set it; 0: the default */
};
/* The i-th key of the table (0, 1, ...) with its value in c; -1 past the end. */
int	 conf_key(size_t i, const struct config *c, struct conf_keyinfo *ki);
/*
 * Read every line of auth.conf: entry() gets login, host and line of a
 * good one (never the password), report() "path:line: detail" for a bad
 * one.  CONF_OK, CONF_ESYNTAX, or CONF_EOPEN with why set.
 */
enum conf_err conf_check_auth(const char *path, void (*entry)(void *arg,
	    const char *login, const char *host, unsigned line),
	    void (*report)(void *arg, const char *msg), void *arg, char *why,
	    size_t whylen);
/* Read auth.conf; *list receives entries in file order. */
enum conf_err conf_load_auth(const char *path, struct authuser **list, char *why, size_t whylen);
/* First entry whose host equals host (case-insensitive), or NULL. */
const struct authuser *conf_find_auth(const struct authuser *list, const char *host);
void	 conf_free_auth(struct authuser *list);
/* "{local}@{dom}" (local: llen bytes) with MASQUERADE applied; malloc'ed. */
char	*envelope_sender(const char *local, size_t llen, const char *dom);
/* Parse a FINGERPRINT value (64 hex digits, optional colons, any case); 0 or -1. */
int	 conf_parse_fingerprint(const char *s, unsigned char out[32]);

/* ---- aliases_parse.y / aliases_scan.l ------------------------------ */
/*
 * Parse the aliases file at path into *tbl (pairs in file order).  A
 * missing file gives an empty table and 0.  On error returns -1 and why
 * holds e.g. "aliases line 3: syntax error" (the real line number) or
 * "could not parse aliases file `/etc/aliases': Permission denied".
 */
int	 alias_load(const char *path, struct alias **tbl, char *why, size_t whylen);
/* Same for an already open stream; name is used in messages. */
int	 alias_load_file(FILE *fp, const char *name, struct alias **tbl, char *why, size_t whylen);
void	 alias_free(struct alias *tbl);

/* ---- rcpt.c: recipient routing and alias expansion ----------------- */
enum rcpt_err {
	RCPT_OK = 0,
	RCPT_EINVAL,		/* bad syntax/control chars: EX_DATAERR */
	RCPT_ENOUSER,		/* unknown local user: EX_DATAERR */
	RCPT_ELOOP,		/* alias loop: EX_DATAERR */
	RCPT_ETOOMANY,		/* more than RCPT_MAX: EX_DATAERR */
	RCPT_EREMOTE,		/* remote, refused by LOCALONLY: EX_NOUSER */
};
void	 rcpt_init(struct rcptlist *l, const struct alias *aliases);
void	 rcpt_free(struct rcptlist *l);
/*
 * Strip a local domain (hostname(), systemhostname(), "localhost",
 * case-insensitive) from addr into out and lower-case a remaining domain;
 * with NULLCLIENT a bare name gets "@" hostname() appended.  Returns 1 if
 * the result names a local mailbox (no '@' and not NULLCLIENT).  out
 * should hold ADDR_MAX + 258 bytes; a longer result is truncated.
 */
int	 rcpt_canonical(const char *addr, char *out, size_t outlen);
/*
 * Add addr (one address, already split) to l: canonicalise, expand aliases
 * (with the "*" catch-all when toplevel), check local users exist, dedup.
 * why names the problem, e.g. "invalid recipient `x'" or
 * "alias loop: a -> b -> a".
 */
enum rcpt_err rcpt_add(struct rcptlist *l, const char *addr, int toplevel, char *why, size_t whylen);
/* Split a command-line operand at commas outside quotes/angles and add each. */
enum rcpt_err rcpt_add_list(struct rcptlist *l, const char *operand, char *why, size_t whylen);

/* ---- forward.c: ~/.forward through DMA_FORWARD --------------------- */
/*
 * Parse the helper's output (len bytes, "forward ADDR", "local NAME",
 * "refused WHY", "unsafe WHY" lines, each ending in '\n') into *fl.
 * 0, or -1 with why set ("line 3 malformed") and *fl empty.
 */
int	 forward_parse(const char *buf, size_t len, struct fwdlist *fl, char *why, size_t whylen);
/*
 * Run DMA_FORWARD for the local user and return the usable entries
 * (FWD_FORWARD, FWD_LOCAL) of ~user/.forward in *fl, logging refused
 * ones: 0 (fl->n may be 0: no .forward, or nothing usable in it).  -1
 * with *fl empty when the file is unsafe or the helper failed (logged):
 * deliver to the user as if there were no .forward.
 */
int	 forward_lookup(const char *user, struct fwdlist *fl);
void	 forward_free(struct fwdlist *fl);

/* ---- mail.c: intake and bounce text -------------------------------- */
enum mail_err {
	MAIL_OK = 0,
	MAIL_EFORMAT,		/* bad input format / header: EX_DATAERR */
	MAIL_ERCPT,		/* -t recipient refused: EX_DATAERR */
	MAIL_EREAD,		/* read error: EX_NOINPUT */
	MAIL_EWRITE,		/* spool write error: EX_CANTCREAT */
};
/*
 * Read a message from in, write the Received header and the message with
 * added Date/Message-Id/From to out.  CRLF and bare CR are normalised to
 * LF; with opt->extract, To/Cc/Bcc addresses are added to rcpts.
 * Lines of any length and NUL bytes are stored intact; a first line
 * "From " is dropped; Bcc: and Resent-Bcc: (any case, blanks allowed
 * before the colon) are removed with their continuation lines; the header
 * section ends at the first line that is neither a header ("name:", with
 * blanks allowed before the colon) nor a continuation, and the stored
 * message always has Date, Message-Id, From and a blank line.
 * Returns MAIL_OK, or an error with why set: MAIL_EFORMAT ("invalid
 * address in header"), MAIL_ERCPT (why from rcpt_add), MAIL_EREAD
 * ("can not read mail: ..."), MAIL_EWRITE ("can not write mail: ...").
 * out may hold a partial message after an error.
 */
enum mail_err mail_read(FILE *in, FILE *out, const struct intake *opt,
	    struct rcptlist *rcpts, char *why, size_t whylen);
/*
 * Parse the addresses of one header value (after the colon, continuation
 * lines joined with their line breaks) into a NULL terminated array of
 * malloc'ed strings (free with mail_free_addrs).  Display names, group
 * names and comments are dropped; quoted local parts are kept verbatim.
 * Words separated by space outside <> ("Jo Do j@x.org") are an error, as
 * are unbalanced <>, (), [] or quotes and addresses of ADDR_MAX bytes or
 * more.  Returns 0 (possibly with an empty array), or -1 with why set and
 * *addrs NULL.
 */
int	 mail_parse_addrs(const char *value, char ***addrs, char *why, size_t whylen);
void	 mail_free_addrs(char **addrs);
/*
 * Write the bounce message for the failed entry it with reason to out.
 * orig is the original M file (any position: it is rewound first); full
 * selects the whole original instead of the header only.  CR bytes of reason
 * are dropped and other control characters but TAB/LF shown as '?'.
 * Returns 0, or -1 on a read error of orig or a write error of out.
 */
int	 mail_bounce_write(FILE *out, struct qitem *it, const char *bounceid,
	    const char *reason, FILE *orig, int full);
/*
 * Write the delay notice (DELAYWARNING) for the entries its[0..n) of one
 * message (orig, the message of its[0]), which are still queued and
 * tried until they are maxage seconds old, with the last failure reason
 * and the header of orig (rewound first).  0, or -1 as above.
 */
int	 mail_delay_write(FILE *out, struct qitem *const *its, size_t n,
	    const char *noticeid, const char *reason, int maxage, FILE *orig);
/*
 * One bounce for the n entries its[] of one message (same sender and
 * message, orig the message of its[0]) that failed for one reason; every
 * recipient is named.  n == 1 is mail_bounce_write.  0, or -1 as above.
 */
int	 mail_bounce_write_group(FILE *out, struct qitem *const *its, size_t n,
	    const char *bounceid, const char *reason, FILE *orig, int full);

/* ---- report.c: bounces and delay notices, queued ------------------- */
/*
 * Queue one bounce about the locked entries its[0..n) of one message,
 * which failed for reason, to their sender (postmaster, then root, when
 * that address takes no mail).  A bounce of a bounce is not made (only
 * logged).  1 when one was queued, 0 when none is due (null sender), -1
 * when none could be made: the entries must then stay queued.  The
 * entries are not removed here.
 */
int	 report_bounce(struct qitem *const *its, size_t n, const char *reason,
	    const struct alias *aliases, uid_t uid);
/*
 * Queue one "delivery delayed" notice about the locked entries its[0..n)
 * of one message, deferred for reason; 1 when one was queued.
 */
int	 report_delay(struct qitem *const *its, size_t n, const char *reason,
	    const struct alias *aliases, uid_t uid);

/* ---- spool.c, spoollist.c, spoolstate.c ---------------------------- */
/* Create spooldir/tmp_XXXXXXXXXX, 0660, locked; msgid = hex inode. */
int	 spool_create(struct spool_tmp *t, char *why, size_t whylen);
/*
 * Make the message durable: the envelope appended to the temp file as a
 * trailer and fsync'ed, one Q{msgid}.{n} and M{msgid}.{n} per recipient,
 * the temp file removed, the directory fsync'ed: two fsyncs in all.
 * Sender and recipients must pass envfield_ok() (why: "invalid sender in
 * envelope" / "invalid recipient in envelope"), else nothing is written.
 * On failure the whole submission is aborted (spool_abort, temp file
 * included) and -1 returned; on success t is closed and emptied, so a
 * later spool_abort(t) is a no-op.  SPOOL_ESYNC: committed (entries
 * queued, out filled, t emptied as on success) but the directory fsync
 * after the commit point failed, so the entries may not survive a crash;
 * why says so and has been logged.  The entries are never removed then:
 * a queue run may already be delivering them.  out (may be NULL) is overwritten with
 * one malloc'ed entry per recipient, qfd = -1 and mfp = NULL: call
 * spool_acquire before delivering one; free with spool_free.
 */
int	 spool_commit(struct spool_tmp *t, const char *sender, const struct rcptlist *l,
	    struct queue *out, char *why, size_t whylen);
/* Remove the temp file and any Q/M created for it; idempotent. */
void	 spool_abort(struct spool_tmp *t);
/*
 * Load all committed entries (sorted by time then id) into q (overwritten),
 * unlocked.  Entries of an uncommitted submission (tmp_{msgid} present)
 * and malformed Q files are skipped.  With cleanup (queue runs, not -bp)
 * stale tmp_ files of dead submitters are rolled back, orphaned M files
 * removed and malformed entries renamed to bad_{qid} / bad_{qid}.msg.
 * Returns 0, or -1 with why "reading queue: {strerror}".
 */
int	 spool_load(struct queue *q, int cleanup, char *why, size_t whylen);
void	 spool_free(struct queue *q);
/* Print the queue in the -bp format. */
void	 spool_print(FILE *out, const struct queue *q);
/* Print the queue in the -bp -v format, ages counted to now. */
void	 spool_print_verbose(FILE *out, const struct queue *q, time_t now);
/*
 * Lock the entry (non-blocking) and open its M file.  Returns 0, or
 * SPOOL_ELOCKED when another process holds it, it is already gone, its
 * qid now names another message or one not yet committed, or -1 with why
 * set (e.g. "malformed queue file `{path}'").  On success it->qtime is
 * the locked Q's mtime.  On any non-zero return the handles are released.
 */
#define SPOOL_ELOCKED	1
#define SPOOL_ESYNC	2	/* spool_commit: committed, durability unknown */
int	 spool_acquire(struct qitem *it, char *why, size_t whylen);
/*
 * The same for an entry of the message of held, an entry this process
 * has acquired and still holds: its M must be a link of held's (same
 * inode, which held's open descriptor keeps from being reused), so the
 * message is shared (a duplicate of held's descriptor) instead of opened
 * and its trailer read again, and the commit check of held stands.
 * Falls back to spool_acquire for upstream's format or another message.
 * When held is a recipient of the same group entry, its lock is shared
 * (a duplicate of its descriptor): the entries of one Q file are only
 * ever acquired together this way, or one by one.
 */
int	 spool_acquire_sibling(struct qitem *it, const struct qitem *held,
	    char *why, size_t whylen);
/*
 * Remove Q then M of a delivered or bounced entry; not synced.  For a
 * recipient of a group entry whose other recipients are not all removed
 * yet, the recipient is struck from the Q file when the last of its
 * siblings is released (spool_release).
 */
int	 spool_remove(struct qitem *it);
/* One fsync of the spool directory (removals so far durable); 0 or -1. */
int	 spool_sync(void);
/* Release file handles of an entry. */
void	 spool_release(struct qitem *it);
/*
 * Write it->st into the Q file of the entry it, which the caller holds
 * locked: a new file written, fsync'ed and renamed over the old one (its
 * modification time, the time queued, kept); the directory is synced by
 * the next spool_sync.  The lock stays on the old file, which is gone:
 * call it last, just before spool_release.  0, or -1 with why set.
 */
int	 spool_save_state(struct qitem *it, char *why, size_t whylen);
/* Set st->error to text made one printable line of at most QSTATE_TEXT_MAX. */
void	 spool_state_error(struct qstate *st, const char *text);
/* Bytes of the message of it (without the envelope trailer); -1 if unknown. */
off_t	 spool_msg_size(const struct qitem *it);
/*
 * Take the lock of the queue daemon of this spool (the file qrun.pid,
 * holding its pid) and keep it for the life of the process (and of its
 * children: the lock is inherited across fork).  0, 1 when
 * another process holds it (*holder gets its pid, or 0 if unknown), or
 * -1 with why set.
 */
int	 spool_daemon_lock(pid_t *holder, char *why, size_t whylen);
/* Write pid into the daemon's lock file (it forked); 0 or -1 with errno. */
int	 spool_daemon_pid(pid_t pid);
/* Touch the flush file; returns 0 or -1. */
int	 spool_flush_touch(void);
/* mtime of the flush file, 0 if none. */
time_t	 spool_flush_time(void);
/*
 * Parse a Q file's bytes into it (fields validated); 0 or -1 with why.
 * Ours (version 2) and upstream's (no Version line) by upstream's rules.
 * Only queueid, sender, addr (malloc'ed) and version are set, and only on
 * success.
 */
int	 spool_parse_qfile(const char *buf, size_t len, struct qitem *it, char *why, size_t whylen);

/* ---- mboxlock.c: the locks of one mailbox ------------------------- */
/* A mailbox being delivered to. */
struct mbox {
	int	 dirfd;			/* MAIL_PATH */
	int	 fd;			/* the mbox, or -1 */
	int	 readable;		/* fd is open O_RDWR */
	const char *name;		/* user name = file name */
	uid_t	 uid;			/* its owner */
	char	 path[PATH_MAX];	/* for messages */
	char	 lockname[USERNAME_MAX + 8];
	int	 dotlocked;		/* we created lockname ... */
	ino_t	 lockino;		/* ... as this inode */
	int	 flocked;
	int	 fcntl_locked;
};

/*
 * Take the kernel locks of mb->fd and the dotlock, all or none, without
 * waiting; a dotlock of a dead or foreign dma is broken (see mboxlock.c).
 * 1 all held; 0 something is busy (nothing held); -1 error (errno).
 */
int	 mboxlock_try(struct mbox *mb, time_t now);
/* Release what mb holds; the dotlock only if it is the one we made. */
void	 mboxlock_release(struct mbox *mb);
/* Remove old temporaries of dead processes from the mail directory. */
void	 mboxlock_sweep(int dirfd, time_t now);
/* The pid of the holder of mb's fcntl lock if it is stopped, else 0. */
pid_t	 mboxlock_stopped_holder(const struct mbox *mb);

/* ---- local.c ------------------------------------------------------- */
/*
 * Deliver the jobs of f, all for the mailbox of user, in batches: per
 * batch (up to LOCAL_BATCH entries) one lock of the mailbox, one durable
 * journal write and one fsync of the mailbox, then done() for each job.
 * Each entry (it->mfp, it->sender) is appended to MAIL_PATH/user in mbox
 * format, a missing mbox created through DMA_MBOX_CREATE.  res[i] is
 * DLV_OK once fsync'ed; DLV_PERMFAIL for an unknown/invalid local user
 * or a corrupted queue file; DLV_TEMPFAIL otherwise (a symlink, hard
 * link or foreign-owned mbox is refused, never written; a mailbox that
 * cannot be locked fails the rest of the feed).  A message that cannot
 * be written is cut back alone; a failed fsync cuts the whole batch
 * back.  A batch that a crash interrupted is cut back by the next
 * delivery to that mailbox, and an entry whose append completed is not
 * appended again (journal.c).
 */
void	 local_deliver_feed(const char *user, struct dlv_feed *f);
#define LOCAL_BATCH	64		/* entries appended under one lock */
/* Tell the journal that the entry it, delivered, left the queue. */
void	 local_done(const struct qitem *it);
/*
 * Write the From_ line (sender "" or NULL: MAILER-DAEMON), the rewound
 * msg with mboxrd >From quoting and a final empty line to fd; with fd
 * -1 nothing is written.  *len (if len is not NULL) gets the number of
 * bytes of the message in mbox form.  Returns 0, -1 on I/O error
 * (errno) or -2 if msg does not end with a newline.
 */
int	 local_write_mbox(int fd, FILE *msg, const char *sender, time_t when,
	    off_t *len);

/* ---- journal.c: the append journal of local delivery -------------- */
#define JOURNAL_SLOTS	256		/* records per mailbox */
#define JOURNAL_KEEP	(MAX_TIMEOUT + 24 * 60 * 60) /* of undone records */
#define JOURNAL_SLOTSIZE 256		/* bytes per record, '\n' last */
#define JOURNAL_QID_MAX	64

/* Which queue entry an append delivers (see journal.c). */
struct jid {
	char	 qid[JOURNAL_QID_MAX];
	ino_t	 mino;			/* inode of its M file */
	struct timespec mtime;		/* and its modification time */
};

/* One record: an append begun ('A'), done ('D') or undone ('V'). */
struct jslot {
	uintmax_t seq;			/* 0: empty slot */
	uintmax_t bseq;			/* seq of the first of its batch */
	char	 state;
	time_t	 when;			/* begun at */
	ino_t	 ino;			/* mailbox inode */
	off_t	 start;			/* size before the append */
	off_t	 fixlen;		/* newlines written first */
	off_t	 end;			/* size when complete */
	struct jid id;
};

struct journal {
	int	 fd;
	int	 cur;			/* slot with the highest seq, or -1 */
	struct jslot slot[JOURNAL_SLOTS];
};

/*
 * Open (creating, 0660, directory fsync'ed) and read the journal of the
 * mailbox of user.  Call only while holding that mailbox's kernel locks.
 * 0, or -1 with errno.
 */
int	 journal_open(struct journal *j, const char *user);
void	 journal_close(struct journal *j);
/*
 * The records (any state) of the last batch begun, in seq order, into v
 * (room for JOURNAL_SLOTS); returns their number, 0 for a new journal.
 */
int	 journal_last(struct journal *j, struct jslot **v);
/* The 'A' or 'D' record of the entry id, or NULL (never delivered here). */
const struct jslot *journal_find(const struct journal *j, const struct jid *id);
/*
 * Record that id is about to be appended to the mailbox inode ino from
 * offset start, making it end bytes long, as part of the batch *bseq (0:
 * this record starts a batch; *bseq is then set).  Not durable until
 * journal_sync: nothing may be appended before.  The record, or NULL
 * with errno.
 */
struct jslot *journal_add(struct journal *j, const struct jid *id, ino_t ino,
	    off_t start, off_t fixlen, off_t end, uintmax_t *bseq);
/* Make the records written so far durable (fdatasync); 0 or -1 errno. */
int	 journal_sync(struct journal *j);
/* Mark s void (the append was undone); 0 or -1 with errno. */
int	 journal_void(struct journal *j, struct jslot *s);
/*
 * Mark the record of id done: its queue entry is gone.  Needs no mailbox
 * lock (it writes only that record).  0, or -1 with errno.
 */
int	 journal_done(const char *user, const struct jid *id);

/* ---- runq.c: the queue runner ---------------------------------------- */
struct runq_opts {
	const struct alias *aliases;	/* for the recipients of bounces */
	uid_t	 uid;			/* invoking user, for the log */
	int	 retry;			/* keep retrying deferred entries (with
					   backoff) until delivered or bounced */
	int	 inproc;		/* a first round of one message to one
					   destination may run in
					   this process (a submission's own) */
	int	 force;			/* dma -M: held entries are delivered
					   too (they stay held if it fails) */
	int	 scheduled;		/* the queue daemon: an entry is due at
					   its next attempt time, not at once */
};
/*
 * Deliver the entries of q (unlocked, as spool_load or spool_commit
 * return them), grouped by destination, by at most MAXWORKERS worker
 * processes (MAXSESSIONS per remote destination, one per mailbox); this
 * process holds no entry lock and no descriptor per entry.  Bounces made
 * on the way are delivered in the same run.
 */
void	 runq_run(struct queue *q, const struct runq_opts *o);

/* ---- bsmtp.c: -bs, SMTP on standard input ------------------------- */
struct bsmtp_ctx {
	const struct alias *aliases;	/* for RCPT expansion */
	const char *username;		/* invoking user, for Received */
	uid_t	 uid;
	const char *default_sender;	/* used for MAIL FROM checks/logging */
	/*
	 * Switch the effective group mail on (1) or off (0), or NULL.  The
	 * session is read with it off; it is on only while a message is
	 * written to and committed in the spool.
	 */
	void	(*group_mail)(int on);
};
/*
 * Speak SMTP (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, HELP, VRFY)
 * on in/out; every accepted message is queued like a submission and its
 * entries are appended to q.  Returns 0, or -1 on an I/O error.
 */
int	 bsmtp_serve(FILE *in, FILE *out, const struct bsmtp_ctx *ctx, struct queue *q);

/* ---- smtp.c: remote delivery, sessions and transactions ----------- */
/*
 * Deliver the jobs of f to one next hop, the SMARTHOST (domain NULL) or
 * the MX hosts of domain, over as few sessions as it can: one connection
 * (one TLS handshake, one AUTH with auth, which may be NULL) carries up
 * to SESSIONMESSAGES transactions and is opened again when the server
 * closes it or says 421 between messages; all entries of a job go in one
 * transaction (PIPELINING when offered) with an outcome per recipient.
 * When no session can be opened, the job and every later job of the
 * feed get that failure without another attempt.  With may_yield (and
 * f->may_yield saying yes when asked), a first session refused for
 * concurrency (421 before any transaction) gives the job taken
 * DLV_REQUEUE and returns SMTP_YIELD; otherwise 0.
 */
#define SMTP_YIELD	1
int	 smtp_deliver_feed(const char *domain, const struct authuser *auth,
	    int may_yield, struct dlv_feed *f);

/* ---- net.c (the SMTP connection), smtpsess.c (opening a session) ---- */
/*
 * Timeouts in seconds, RFC 5321 4.5.3.2 (connect and QUIT: ours).  Every
 * use goes through smtp_timeout(), which applies the TIMEOUT cap.
 */
#define SMTP_TMO_CONNECT	30	/* TCP connect */
#define SMTP_TMO_GREETING	300	/* 220 greeting */
#define SMTP_TMO_MAIL		300	/* MAIL FROM reply */
#define SMTP_TMO_RCPT		300	/* RCPT TO reply */
#define SMTP_TMO_DATA		120	/* DATA initiation (354) */
#define SMTP_TMO_BLOCK		180	/* each write of message data */
#define SMTP_TMO_DOT		600	/* DATA termination reply */
#define SMTP_TMO_CMD		300	/* other commands, TLS handshake */
#define SMTP_TMO_QUIT		10	/* QUIT reply (courtesy only) */

/*
 * A connection: a socket/pipe fd (optionally with TLS on it) or, for
 * tests and fuzzers, a memory source whose writes are collected in out.
 */
struct smtp_conn {
	int	 fd;		/* -1 for a memory source */
	int	 sock;		/* fd is a socket: send(MSG_NOSIGNAL) */
	struct tls *tls;	/* non-NULL while TLS is active */
	int	 broken;	/* I/O failed or out of sync: no more commands */
	int	 desync;	/* broken by a timeout or garbled reply: still open */
	int	 err;		/* errno of the last write failure */
	long long deadline;	/* end of the delivery attempt (CLOCK_MONOTONIC
				   ms): no read or write waits past it; 0: none */
	const unsigned char *mem; /* memory source */
	size_t	 memlen, mempos;
	int	 memsrc;
	unsigned char rbuf[4096];
	size_t	 rpos, rlen;
	unsigned char wbuf[8192];
	size_t	 wlen;
	char	*out;		/* memory source: everything written */
	size_t	 outlen, outcap;
};

/*
 * A parsed reply.  text holds the reply lines, code included, joined with
 * "\n", control characters replaced by '?', capped at REASON_MAX; on error
 * code is 0 and text describes the error.  If online is set it is called
 * for every (sanitised) line, so long replies like EHLO are not limited
 * by the text cap.  The caller initialises online and arg (NULL: none).
 */
struct smtp_reply {
	int	 code;
	int	 nlines;
	char	 text[REASON_MAX];
	void	(*online)(void *arg, int idx, const char *line, size_t len);
	void	*arg;
};

enum smtp_rerr {
	SMTP_ROK = 0,
	SMTP_REOF = -1,		/* connection closed (also mid-reply) */
	SMTP_RTIMEOUT = -2,
	SMTP_RIO = -3,		/* read error (errno / TLS) */
	SMTP_RSYNTAX = -4,	/* not "DDD[ -]text", or codes differ */
	SMTP_RLONG = -5,	/* line over SMTP_LINE_MAX bytes */
	SMTP_RMANY = -6,	/* over SMTP_REPLY_LINES lines */
};

void	 smtp_conn_fd(struct smtp_conn *c, int fd);
void	 smtp_conn_mem(struct smtp_conn *c, const void *buf, size_t len);
/* Close TLS, the fd and free the collected output. */
void	 smtp_conn_close(struct smtp_conn *c);
/*
 * Read one complete reply within timeout seconds (and before c->deadline,
 * if set; the same holds for every write).  Lines end in CRLF or
 * LF.  Returns SMTP_ROK or a negative enum smtp_rerr (the connection is
 * then marked broken).
 */
int	 smtp_read_reply(struct smtp_conn *c, int timeout, struct smtp_reply *r);
/* The timeout to use for one of the SMTP_TMO_* values (TIMEOUT applied). */
int	 smtp_timeout(int rfc);
/* The connection's buffered write; errors stick (c->broken).  0 or -1. */
int	 smtp_conn_put(struct smtp_conn *c, const void *p, size_t n, int timeout);
int	 smtp_conn_flush(struct smtp_conn *c, int timeout);

/*
 * An open session with one host (net.c), as smtp.c drives it: the
 * connection and what the server's EHLO offered.  why is where the
 * session's helpers write a failure's reason.
 */
struct smtp_sess {
	struct smtp_conn c;
	const struct mx_host *mx;
	const char *name;	/* SMARTHOST string or MX name: SNI, auth.conf */
	const struct authuser *users;	/* auth.conf entries, or NULL */
	struct dsn *why;
	/* EHLO extensions of the current (plain or TLS) session */
	int	 esmtp;
	int	 starttls;
	unsigned authmech;
	char	 authlist[128];
	int	 size_adv;
	unsigned long long size_max;
	int	 eightbit;
	int	 pipelining;
	int	 smtputf8;	/* RFC 6531 */
	int	 tls_logged;
	int	 refused;	/* the greeting or EHLO reply was 4xx */
	int	 yieldable;	/* such a refusal is no delivery failure */
};

/*
 * smtpsess.c: connect to mx (logging "trying remote delivery to ..."),
 * read the greeting, say EHLO (HELO), start TLS as configured and log in when
 * auth names the host name.  No step waits past deadline (CLOCK_MONOTONIC
 * ms, 0: none; it stays the connection's deadline until changed).
 * DLV_OK with s open, or DLV_TEMPFAIL / DLV_PERMFAIL with why set (and
 * logged) and s closed; s->refused says a 4xx greeting or EHLO reply
 * refused the session, which with yieldable is logged as a refusal, not
 * as a deferred delivery.
 */
enum dlv smtp_sess_open(struct smtp_sess *s, const struct mx_host *mx,
	    const char *name, const struct authuser *auth, long long deadline,
	    int yieldable, struct dsn *why);
/*
 * dma --serverinfo only: fn(arg, kind, text) is told what the sessions
 * opened show: kind "greeting" and "ehlo" (each reply line), "auth"
 * (the login that succeeded and its mechanism).  NULL: off.
 */
void	 smtp_set_report(void (*fn)(void *arg, const char *kind, const char *text),
	    void *arg);
/* QUIT (ok: the last message was accepted, for the log) and close. */
void	 smtp_sess_close(struct smtp_sess *s, int ok);
/*
 * Send cmd (NULL: none; shown replaces it in -v output) and read the
 * reply within timeout seconds.  0, or -1 with r->text describing the
 * I/O failure (the connection is then unusable).
 */
int	 smtp_sess_cmd(struct smtp_sess *s, const char *cmd, const char *shown,
	    int timeout, struct smtp_reply *r);
/* A failed step: logged, s->why set; 5xx DLV_PERMFAIL, else DLV_TEMPFAIL. */
enum dlv smtp_sess_fail(struct smtp_sess *s, const char *step,
	    const struct smtp_reply *r);
/* A temporary failure of our own making: logged, s->why set. */
enum dlv smtp_sess_defer(struct smtp_sess *s, const char *code, const char *fmt, ...)
	    __printflike(3, 4);
void	 smtp_reply_init(struct smtp_reply *r);
/* The enhanced status code of r ("5.1.1"), else "5.0.0" / "4.0.0". */
void	 smtp_reply_dsn(const struct smtp_reply *r, char *code, size_t len);
/* The deadline seconds from now (0: none), and whether d has passed. */
long long smtp_deadline(int seconds);
int	 smtp_deadline_over(long long d);
/*
 * For smtpsess.c, which opens sessions on net.c's connections:
 * milliseconds until deadline (0: passed), the end of a step of timeout
 * seconds within an attempt ending at attempt_end, whether that attempt
 * is over, a TCP connection to mx within end (fd, or -1 with err), and
 * one command whose reply must be of class want (DLV_OK, or the
 * failure, logged, in s->why).
 */
int	 net_ms_left(long long deadline);
long long net_step_end(long long attempt_end, int timeout);
int	 net_attempt_over(long long attempt_end);
int	 net_connect(const struct mx_host *mx, long long end, char *err,
	    size_t errlen);
enum dlv smtp_sess_step(struct smtp_sess *s, const char *cmd, int timeout,
	    int want, const char *step, struct smtp_reply *r);

/* ---- smtpdata.c: the wire form of a message ------------------------- */
struct smtp_msg;
/* Load the M file and measure its wire form; NULL with why set. */
struct smtp_msg *smtp_msg_load(FILE *fp, char *why, size_t whylen);
size_t	 smtp_msg_size(const struct smtp_msg *m);	/* bytes on the wire */
int	 smtp_msg_has8bit(const struct smtp_msg *m);
/*
 * 1 if the message's own header (not those of MIME parts) has a byte >=
 * 0x80: an RFC 6532 header, which only an SMTPUTF8 transaction may carry.
 */
int	 smtp_msg_utf8hdr(const struct smtp_msg *m);
/*
 * Write the message (no final dot) through c; write errors stick in c.
 * 0, or -1 with why set when the M file can not be read.
 */
int	 smtp_msg_send(struct smtp_conn *c, struct smtp_msg *m, char *why,
	    size_t whylen);
void	 smtp_msg_free(struct smtp_msg *m);
/*
 * Write the DATA payload of the message msg to c (c NULL: count only):
 * CRLF line ends, dot-stuffed, no line over 998 bytes (bodies re-encoded,
 * headers folded), without the final ".".  *size gets the byte count and
 * *has8bit whether any byte >= 0x80 is sent.  0, or -1 with why set.
 */
int	 smtp_data_write(struct smtp_conn *c, FILE *msg, size_t *size, int *has8bit,
	    char *why, size_t whylen);
/*
 * How the header of a message leaving for another host changes (see
 * hdrqual.c): domain, when not NULL, qualifies the addresses without one
 * in From/To/Cc/Reply-To/Sender of the message's own header; from, when
 * not NULL or "", replaces the From: address (REWRITEFROM) and the old
 * field is kept as X-Original-From:.
 */
struct smtp_hdr {
	const char *domain;
	const char *from;
};
/* smtp_msg_load with the header changed as h says (h NULL: as is). */
struct smtp_msg *smtp_msg_load_hdr(FILE *fp, const struct smtp_hdr *h,
	    char *why, size_t whylen);

/* ---- hdrqual.c: qualified header addresses ------------------------- */
/* Longest field (name, value, folding) that is looked at; longer: as is. */
#define HDRQUAL_FIELD_MAX	65536
/*
 * A field is given whole as f (n bytes): "Name:value", its lines joined
 * by a single '\n', without the final line end.
 * hdrqual_wants: 1 for a From, To, Cc, Reply-To or Sender field.
 * hdrqual_is_from: 1 for a From field.
 */
int	 hdrqual_wants(const char *f, size_t n);
int	 hdrqual_is_from(const char *f, size_t n);
/*
 * Every address without a domain in the field f gets "@" dom after its
 * local part; nothing else changes.  1 with *out (malloc'ed, NUL-ended,
 * *outlen bytes) when something was added; 0 (*out NULL) when the field
 * is not an address field or needs nothing; -1 (*out NULL) when it does
 * not parse as an address list or is longer than HDRQUAL_FIELD_MAX.
 */
int	 hdrqual_field(const char *f, size_t n, const char *dom, char **out,
	    size_t *outlen);
/*
 * "From: " addr, then "X-Original-From:" with the value of f as it is
 * (two fields, '\n' between): 1 with *out (malloc'ed) and *outlen; 0
 * (*out NULL) when addr is "" or f is no field.
 */
int	 hdrqual_from(const char *f, size_t n, const char *addr, char **out,
	    size_t *outlen);

/* ---- dns.c --------------------------------------------------------- */
struct mx_host {
	char	 host[NI_MAXHOST];	/* name, for SNI / auth.conf / logs */
	char	 ip[INET6_ADDRSTRLEN + 2];
	int	 pref;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};
/*
 * Candidates for delivering to domain: MX hosts in preference order
 * (random among equals), every address of each (IPv6 first), at most 64;
 * the (canonical) domain itself when it has no MX; an address literal
 * "[192.0.2.1]" / "[IPv6:...]" as is.  With smarthost != 0, domain (name
 * or literal, brackets optional) is resolved directly, and every failure
 * is temporary.  port is set in each addr.
 * Returns DLV_OK with *hosts (malloc'ed, the caller frees) / *n >= 1, or
 * DLV_TEMPFAIL / DLV_PERMFAIL with why set: permanent for NXDOMAIN, a
 * null MX (RFC 7505), no MX and no address, more than 8 CNAMEs;
 * temporary for SERVFAIL, timeouts, malformed answers, MX hosts none of
 * which has an address.
 */
enum dlv dns_get_mx_list(const char *domain, int port, int smarthost,
	    struct mx_host **hosts, size_t *n, struct dsn *why);

/* ---- token.c: OAuth 2.0 access tokens ------------------------------ */
/*
 * The bearer token of auth.conf entry a: its static token, or the first
 * line its token command prints within timeout seconds (the command runs
 * without the group mail, with a clean environment; killed at the limit
 * or when it prints over 4 KiB).  Returns the token (malloc'ed; cleanse
 * it), or NULL with why set (naming the program, never its arguments or
 * output).
 */
char	*token_get(const struct authuser *a, int timeout, char *why, size_t whylen);

/* ---- crypto.c ------------------------------------------------------ */
struct tls;
/*
 * Start a TLS client session (TLS 1.2 or later) on fd for host (SNI
 * unless an IP literal; name or address check with VERIFYCERT).  Applies
 * CERTFILE, VERIFYCERT, FINGERPRINT from config; the handshake gives up
 * after timeout seconds.  Leaves fd non-blocking until tls_close.
 * Returns 0 with *out set, or -1 with why set (all failures are
 * temporary); the caller still owns and closes fd.
 */
int	 tls_start(int fd, const char *host, int timeout, struct tls **out, struct dsn *why);
/*
 * dma --serverinfo only: fn(arg, kind, text) is told about every session
 * tls_start makes: kind "tls" (version and cipher), "certificate" (subject,
 * issuer, validity of each one the server sent), "verification",
 * "fingerprint" (SHA-256, as FINGERPRINT takes it), "pinning".  NULL: off.
 */
void	 tls_set_report(void (*fn)(void *arg, const char *kind, const char *text),
	    void *arg);
/*
 * Read what is available (up to len) / write all of len, waiting at most
 * timeout seconds (<= 0: no limit).  -1 on error or timeout (errno
 * ETIMEDOUT), 0 on EOF (read); tls_write returns len on success.
 */
ssize_t	 tls_read(struct tls *, void *buf, size_t len, int timeout);
ssize_t	 tls_write(struct tls *, const void *buf, size_t len, int timeout);
/* Best-effort close_notify, free the session; fd stays open.  NULL-safe. */
void	 tls_close(struct tls *);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384, certificate verified" */
void	 tls_describe(const struct tls *, char *buf, size_t len);
/*
 * base64; return length of output or -1 (dst too small / bad input).
 * b64_encode NUL-terminates (dstlen must allow for it); b64_decode
 * accepts strict RFC 4648 only (trailing CR/LF/blanks ignored) and
 * NUL-terminates when dstlen leaves room.
 */
int	 b64_encode(const void *src, size_t len, char *dst, size_t dstlen);
int	 b64_decode(const char *src, void *dst, size_t dstlen);
/*
 * base64(login " " hex(HMAC-MD5(password, challenge))) from a base64
 * challenge (RFC 2195) into out; its length, or -1 (bad challenge, out
 * too small).
 */
int	 auth_cram_md5(const char *challenge_b64, const char *login, const char *password,
	    char *out, size_t outlen);

/* ---- diag.c: dma -bP, -bt, --serverinfo -------------------------- */
/*
 * -bP: every dma.conf key (conf.c's table) with its value, "yes"/"no" or
 * "(unset)", and "# path:line" or "# default"; auth.conf entries without
 * passwords, the aliases file checked.  Problems on stderr, all of them.
 * EX_OK, EX_CONFIG when there was any, EX_IOERR.
 */
int	 diag_showconf(const char *path);
/*
 * -bt: for each operand the alias tree, local users and their mailboxes,
 * remote addresses with the next hop (and MX hosts).  Nothing queued.
 * EX_OK, or the code of the first failure: EX_DATAERR (invalid address,
 * unknown user, loop), EX_NOUSER (LOCALONLY), EX_NOHOST (NXDOMAIN, null
 * MX), EX_TEMPFAIL (DNS failing now).
 */
int	 diag_route(const struct alias *aliases, int argc, char **argv);
/*
 * --serverinfo: open a session as a delivery would (to target
 * "host[:port]" directly, to the MX of target when it has no port, to the
 * SMARTHOST when NULL) and print what it shows; auth (NULL: no AUTH) is
 * tried when it names the host.  QUIT, no mail.  EX_OK, EX_UNAVAILABLE
 * (permanent failure), EX_TEMPFAIL, EX_USAGE (bad target, no SMARTHOST).
 */
int	 diag_serverinfo(const char *target, const struct authuser *auth);
/*
 * SCRAM client (RFC 5802; SCRAM-SHA-256 of RFC 7677 with md "SHA256",
 * SCRAM-SHA-1 with "SHA1"), without channel binding (GS2 header "n,,").
 * auth_scram_start: the client-first-message into *first (malloc'ed);
 * cnonce NULL draws a random nonce (a given one is for tests).
 * auth_scram_step: the client-final-message for the server-first-message
 * into *final (malloc'ed; it holds the proof: cleanse it).
 * auth_scram_verify: 0 when the server-final-message carries the server
 * signature the step computed.  Each returns 0, or -1 with why set (never
 * naming a secret).  auth_scram_free cleanses sc.
 */
#define SCRAM_MAX_ITER	1000000	/* iteration counts above are refused */
struct scram {
	char	 md[16];
	char	 cnonce[64];
	char	*first_bare;		/* "n=LOGIN,r=CNONCE" */
	unsigned char ssig[64];		/* expected ServerSignature */
	size_t	 ssiglen;
};
int	 auth_scram_start(struct scram *sc, const char *md, const char *login,
	    const char *cnonce, char **first, char *why, size_t whylen);
int	 auth_scram_step(struct scram *sc, const char *password,
	    const char *server_first, char **final, char *why, size_t whylen);
int	 auth_scram_verify(struct scram *sc, const char *server_final, char *why,
	    size_t whylen);
void	 auth_scram_free(struct scram *sc);
/* login with ',' and '=' escaped as "=2C" / "=3D" (RFC 5802), malloc'ed. */
char	*auth_saslname(const char *login);

#endif /* DMA_H */
