/*
 * local.c - delivery into the mbox files of MAIL_PATH.
 *
 * Owns the mbox ritual, done once per batch of up to LOCAL_BATCH queue
 * entries for one mailbox (group commit): open the mailbox without
 * following links and check it, lock it (flock, fcntl and a dotlock)
 * with a timeout, repair what an interrupted earlier batch left, record
 * every append of the batch in the journal (journal.c) and make that
 * durable once, append each From_ line and >From-quoted message, fsync
 * once, and on any error cut the file back: to the start of the message
 * that failed to be written (the others stay), or to the start of the
 * batch when the fsync fails.  Missing mailboxes are created by the
 * setuid root helper dma-mbox-create, which local.c runs with a clean
 * environment and no inherited descriptors.
 *
 * Locking (mboxlock.c): flock and fcntl on the mailbox, which die with
 * their holder, then the dotlock {user}.lock for mail readers.  Users
 * whose names end in ".lock" or start with a dot have no mailbox, so a
 * lock or temporary name never names a mailbox.
 *
 * Side effects: appends to MAIL_PATH/{user}, writes the journal, runs
 * DMA_MBOX_CREATE,
 * syslog.  Runs as the delivering process (uid of the submitter or of
 * "mail", egid mail); new mboxes are 0620 {user}:mail in a 2775
 * root:mail directory.  The user name comes from a queue file, so it is
 * checked (localname_ok, getpwnam) before it becomes part of a path.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"

#define LOCAL_LOCK_TIMEOUT	100	/* seconds to get all three locks */
#define LOCAL_HELPER_TIMEOUT	100	/* seconds for dma-mbox-create */
#define LOCAL_OPEN_TRIES	3	/* mbox replaced while we locked it */
#define LOCAL_OBUF_SIZE		65536	/* output buffer of local_write_mbox */

/* Buffered writer over a descriptor; with fd -1 it only counts. */
struct obuf {
	int	 fd;
	off_t	 total;			/* bytes put so far */
	size_t	 len;
	char	 buf[LOCAL_OBUF_SIZE];
};


/* write_all - write len bytes to fd; 0 or -1 with errno */
static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (n == 0) {
			errno = EIO;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

static int
obuf_flush(struct obuf *o)
{
	if (o->len > 0 && o->fd >= 0 && write_all(o->fd, o->buf, o->len) != 0)
		return (-1);
	o->len = 0;
	return (0);
}

/* obuf_put - append bytes; long pieces go straight to the descriptor */
static int
obuf_put(struct obuf *o, const char *p, size_t len)
{
	o->total += (off_t)len;
	if (o->fd < 0)
		return (0);
	if (len > sizeof(o->buf) - o->len && obuf_flush(o) != 0)
		return (-1);
	if (len >= sizeof(o->buf))
		return (write_all(o->fd, p, len));
	memcpy(o->buf + o->len, p, len);
	o->len += len;
	return (0);
}

/*
 * from_line - "From {sender} {ctime}\n".  Built by hand instead of with
 * ctime(3)/strftime(3) so that no locale can change the day and month
 * names.  Control bytes in the sender (the spool rejects them, this is
 * belt and braces) become '?' so that the line stays one line.
 */
static int
from_line(char *buf, size_t len, const char *sender, time_t when)
{
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char who[ENVFIELD_MAX + 1];
	struct tm tm;
	size_t i;

	if (sender == NULL || sender[0] == '\0')
		sender = "MAILER-DAEMON";
	strlcpy(who, sender, sizeof(who));
	for (i = 0; who[i] != '\0'; i++) {
		unsigned char c = (unsigned char)who[i];

		if (c < 0x20 || c == 0x7f)
			who[i] = '?';
	}
	if (localtime_r(&when, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	return (xsnprintf(buf, len, "From %s %s %s %2d %02d:%02d:%02d %d\n",
	    who, days[(unsigned)tm.tm_wday % 7], mons[(unsigned)tm.tm_mon % 12],
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900));
}

/* put_gt - n '>' bytes, without a buffer of n bytes */
static int
put_gt(struct obuf *o, uintmax_t n)
{
	static const char gt[] = ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>";
	size_t k;

	while (n > 0) {
		k = n < sizeof(gt) - 1 ? (size_t)n : sizeof(gt) - 1;
		if (obuf_put(o, gt, k) != 0)
			return (-1);
		n -= k;
	}
	return (0);
}

/*
 * write_mbox - put one mbox message into o (see local_write_mbox).
 * msg is rewound and copied in blocks (lines of any length, NUL bytes
 * kept); memory does not depend on the length of a line: at the start
 * of a line only the number of '>' and how much of "From " follows are
 * remembered until the line is known to match ^>*From (mboxrd) or not.
 * The From_ line, the quoting and the final empty line follow mboxrd.
 * 0, -1 on an I/O error (errno set, possibly after a partial write) or
 * -2 when the last line of msg lacks its newline.
 */
static int
write_mbox(struct obuf *o, FILE *msg, const char *sender, time_t when)
{
	static const char from[] = "From ";
	char head[ENVFIELD_MAX + 64], buf[16384];
	const char *nl;
	uintmax_t ngt = 0;		/* '>' seen at the start of the line */
	size_t n, i, nfrom = 0;		/* bytes of "From " matched after them */
	int bol = 1, lastnl = 1, ret = -1;

	if (from_line(head, sizeof(head), sender, when) != 0) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	rewind(msg);
	if (obuf_put(o, head, strlen(head)) != 0)
		goto out;
	for (;;) {
		errno = 0;
		n = fread(buf, 1, sizeof(buf), msg);
		if (n == 0)
			break;
		for (i = 0; i < n;) {
			if (bol) {
				if (nfrom == 0 && buf[i] == '>') {
					ngt++;
					i++;
					continue;
				}
				if (buf[i] == from[nfrom]) {
					i++;
					if (++nfrom < sizeof(from) - 1)
						continue;
					/* ^>*From: one more '>' */
					if (put_gt(o, ngt + 1) != 0 ||
					    obuf_put(o, from, nfrom) != 0)
						goto out;
				} else if (put_gt(o, ngt) != 0 ||
				    obuf_put(o, from, nfrom) != 0)
					goto out;
				bol = 0;
				ngt = 0;
				nfrom = 0;
				lastnl = 0;
				continue;
			}
			nl = memchr(buf + i, '\n', n - i);
			if (nl != NULL) {
				if (obuf_put(o, buf + i, (size_t)(nl - buf) + 1 - i) != 0)
					goto out;
				i = (size_t)(nl - buf) + 1;
				bol = 1;
				lastnl = 1;
			} else {
				if (obuf_put(o, buf + i, n - i) != 0)
					goto out;
				i = n;
				lastnl = 0;
			}
		}
	}
	if (ferror(msg)) {
		if (errno == 0)
			errno = EIO;
		goto out;
	}
	/* A last line that is only a prefix of ">*From ". */
	if (bol && (ngt > 0 || nfrom > 0)) {
		if (put_gt(o, ngt) != 0 || obuf_put(o, from, nfrom) != 0)
			goto out;
		lastnl = 0;
	}
	if (!lastnl) {
		ret = -2;
		goto out;
	}
	if (obuf_put(o, "\n", 1) != 0 || obuf_flush(o) != 0)
		goto out;
	ret = 0;
out:
	if (ret == -2)
		(void)obuf_flush(o);	/* the caller truncates anyway */
	return (ret);
}

/*
 * local_write_mbox - append one mbox message to fd, or with fd -1 only
 * count its bytes into *len (len may be NULL).  Returns 0, -1 on an I/O
 * error (errno set, possibly after a partial write) or -2 when the last
 * line of msg lacks its newline (a corrupted queue file; a partial
 * message has then been written).  The caller owns the locking and the
 * truncation on failure.
 */
int
local_write_mbox(int fd, FILE *msg, const char *sender, time_t when, off_t *len)
{
	struct obuf *o;
	int ret;

	o = xmalloc(sizeof(*o));
	o->fd = fd;
	o->total = 0;
	o->len = 0;
	ret = write_mbox(o, msg, sender, when);
	if (len != NULL)
		*len = o->total;
	free(o);
	return (ret);
}

/*
 * local_fail - set why and log "local delivery deferred|failed: {text}".
 * Returns r so that callers can write `return (local_fail(...))'.
 */
static enum dlv __printflike(5, 6)
local_fail(struct dsn *why, enum dlv r, int pri, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why->text, sizeof(why->text), fmt, ap);
	va_end(ap);
	strlcpy(why->code, code, sizeof(why->code));
	log_msg(pri, "local delivery %s: %s",
	    r == DLV_TEMPFAIL ? "deferred" : "failed", why->text);
	return (r);
}

/*
 * run_helper - run dma-mbox-create for name and wait for it.
 * Returns its exit status, or -1 on fork failure, timeout or abnormal
 * termination (logged).  The child gets an empty environment, default
 * signal handling and only descriptors 0-2: it is setuid root and must
 * not inherit anything that the delivery process happens to hold (the
 * locked queue file, the message).
 */
static int
run_helper(const char *name)
{
	char arg0[] = "dma-mbox-create", arg1[USERNAME_MAX];
	char *const argv[] = { arg0, arg1, NULL };
	char *const envp[] = { NULL };
	struct sigaction sa, osa;
	struct timespec ts;
	time_t deadline;
	pid_t pid, w;
	int status = 0, ret = -1;

	if (xsnprintf(arg1, sizeof(arg1), "%s", name) != 0)
		return (-1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	/* With SIGCHLD ignored the child would be reaped before waitpid. */
	if (sigaction(SIGCHLD, &sa, &osa) != 0)
		return (-1);
	pid = fork();
	if (pid < 0) {
		log_msg(LOG_ERR, "can not fork for %s: %s", DMA_MBOX_CREATE,
		    strerror(errno));
		goto out;
	}
	if (pid == 0) {
		sigset_t all;
		int sig;

		for (sig = 1; sig < NSIG; sig++)
			(void)sigaction(sig, &sa, NULL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		dfc_closefrom(3);
		execve(DMA_MBOX_CREATE, argv, envp);
		log_msg(LOG_ERR, "can not execute %s: %s", DMA_MBOX_CREATE,
		    strerror(errno));
		_exit(EX_OSERR);
	}
	/* Poll instead of alarm(): no signal handler, no longjmp. */
	deadline = time(NULL) + LOCAL_HELPER_TIMEOUT;
	ts.tv_sec = 0;
	ts.tv_nsec = 20 * 1000 * 1000;
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			log_msg(LOG_ERR, "child disappeared while creating mbox `%s': %s",
			    name, strerror(errno));
			goto out;
		}
		if (time(NULL) >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			log_msg(LOG_ERR, "hung child while creating mbox `%s'", name);
			goto out;
		}
		nanosleep(&ts, NULL);
		if (ts.tv_nsec < 200 * 1000 * 1000)
			ts.tv_nsec *= 2;
	}
	if (WIFEXITED(status))
		ret = WEXITSTATUS(status);
	else
		log_msg(LOG_ERR, "%s killed by signal %d", DMA_MBOX_CREATE,
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
out:
	(void)sigaction(SIGCHLD, &osa, NULL);
	return (ret);
}

/*
 * mbox_open - open mb->name in the mail directory, creating it through
 * the helper if it is missing.  Never follows a symlink and never blocks
 * on a FIFO; the file checks come afterwards (mbox_check).
 */
static enum dlv
mbox_open(struct mbox *mb, struct dsn *why)
{
	const int flags = O_APPEND | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC;
	int tried = 0, st;

	for (;;) {
		/* Reading lets us check the mailbox's last bytes; a 0620
		 * mailbox of another user is only writable, which is enough. */
		mb->fd = openat(mb->dirfd, mb->name, flags | O_RDWR);
		mb->readable = mb->fd >= 0;
		if (mb->fd < 0 && errno == EACCES)
			mb->fd = openat(mb->dirfd, mb->name, flags | O_WRONLY);
		if (mb->fd >= 0)
			return (DLV_OK);
		if (errno == ELOOP || errno == EMLINK || errno == ENXIO ||
		    errno == EISDIR || errno == ENOTDIR)
			return (local_fail(why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
			    "refusing mailbox `%s': not a regular file with one link "
			    "owned by %s", mb->path, mb->name));
		if (errno != ENOENT)
			return (local_fail(why, DLV_TEMPFAIL, LOG_NOTICE, "4.3.0",
			    "can not open `%s': %s", mb->path, strerror(errno)));
		if (tried)
			break;
		tried = 1;
		mboxlock_sweep(mb->dirfd, time(NULL));
		st = run_helper(mb->name);
		if (st == EX_NOUSER)
			return (local_fail(why, DLV_PERMFAIL, LOG_ERR, "5.1.1",
			    "can not create mbox `%s': unknown user `%s'",
			    mb->path, mb->name));
		if (st != 0)
			break;
	}
	return (local_fail(why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
	    "can not create mbox `%s'", mb->path));
}

/*
 * mbox_check - the open mbox is a regular file with one link owned by the
 * user, and (when locked) still the one the directory names.  Anything
 * else is a planted link or a misconfiguration and is never written.
 */
static int
mbox_check(const struct mbox *mb, int samefile)
{
	struct stat st, ln;

	if (fstat(mb->fd, &st) != 0)
		return (-1);
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != mb->uid)
		return (-1);
	if (!samefile)
		return (0);
	if (fstatat(mb->dirfd, mb->name, &ln, AT_SYMLINK_NOFOLLOW) != 0)
		return (1);
	if (ln.st_dev != st.st_dev || ln.st_ino != st.st_ino)
		return (1);
	return (0);
}

/*
 * mbox_lock - open, check and lock the mbox within LOCAL_LOCK_TIMEOUT,
 * and re-check afterwards that the directory still names the file we
 * locked (a mail reader may have replaced it meanwhile).
 */
static enum dlv
mbox_lock(struct mbox *mb, struct dsn *why)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	time_t deadline = time(NULL) + LOCAL_LOCK_TIMEOUT;
	enum dlv r;
	pid_t holder;
	int tries, l, c;

	for (tries = 0; tries < LOCAL_OPEN_TRIES; tries++) {
		if ((r = mbox_open(mb, why)) != DLV_OK)
			return (r);
		if (mbox_check(mb, 0) != 0)
			break;
		while ((l = mboxlock_try(mb, time(NULL))) == 0 && time(NULL) < deadline) {
			/* A stopped holder (SIGSTOP, a debugger) may never go
			 * on: do not spend the whole wait on it. */
			if ((holder = mboxlock_stopped_holder(mb)) > 0)
				return (local_fail(why, DLV_TEMPFAIL, LOG_NOTICE, "4.2.0",
				    "can not lock `%s': held by stopped process %ld",
				    mb->path, (long)holder));
			nanosleep(&ts, NULL);
			if (ts.tv_nsec < 200 * 1000 * 1000)
				ts.tv_nsec += 20 * 1000 * 1000;
		}
		if (l < 0)
			return (local_fail(why, DLV_TEMPFAIL, LOG_NOTICE, "4.2.0",
			    "can not lock `%s': %s", mb->path, strerror(errno)));
		if (l == 0)
			return (local_fail(why, DLV_TEMPFAIL, LOG_NOTICE, "4.2.0",
			    "can not lock `%s'", mb->path));
		c = mbox_check(mb, 1);
		if (c == 0)
			return (DLV_OK);
		mboxlock_release(mb);
		if (c < 0)
			break;
		close(mb->fd);
		mb->fd = -1;
	}
	return (local_fail(why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
	    "refusing mailbox `%s': not a regular file with one link owned by %s",
	    mb->path, mb->name));
}

/*
 * void_from - mark void the 'A' records v[k..n-1] of the last batch.
 * 0, or -1 with errno.
 */
static int
void_from(struct journal *j, struct jslot **v, int k, int n)
{
	for (; k < n; k++) {
		if (v[k]->state == 'A' && journal_void(j, v[k]) != 0)
			return (-1);
	}
	return (0);
}

/*
 * recover - undo what an interrupted batch left, as the journal's
 * records of the last batch tell (see journal.c): its messages were
 * appended in order, so the first whose end the mailbox does not reach
 * was cut short and is cut back with everything after it.  *size is the
 * mailbox size, and is updated.  0, or -1 with errno on an I/O error.
 */
static int
recover(struct mbox *mb, struct journal *j, ino_t ino, off_t *size)
{
	struct jslot *v[JOURNAL_SLOTS], *s;
	char head[5];
	int n, k, i;

	n = journal_last(j, v);
	for (k = 0; k < n; k++) {
		if (v[k]->state == 'A' && (v[k]->ino != ino || *size < v[k]->end))
			break;
	}
	if (k == n)
		return (0);		/* nothing begun, or all complete */
	s = v[k];
	for (i = k + 1; i < n; i++) {
		if (v[i]->state == 'D')
			break;
	}
	if (s->ino != ino || *size < s->start || i < n) {
		/* Replaced or shrunk by someone else (a later message of
		 * the batch left the queue, so the bytes after this one
		 * were there): the journal can no longer tell; the entry
		 * is delivered again if still queued. */
		log_msg(LOG_NOTICE, "mailbox `%s' changed since the interrupted "
		    "delivery of %s; left as it is", mb->path, s->id.qid);
		return (void_from(j, v, k, n));
	}
	if (mb->readable && *size >= s->start + s->fixlen + 5 &&
	    (pread(mb->fd, head, 5, s->start + s->fixlen) != 5 ||
	    memcmp(head, "From ", 5) != 0)) {
		log_msg(LOG_WARNING, "mailbox `%s' was rewritten since the "
		    "interrupted delivery of %s; left as it is", mb->path, s->id.qid);
		return (void_from(j, v, k, n));
	}
	if (ftruncate(mb->fd, s->start) != 0 || fsync(mb->fd) != 0)
		return (-1);
	log_msg(LOG_NOTICE, "removed %jd bytes of the interrupted delivery of %s "
	    "from mailbox `%s'", (intmax_t)(*size - s->start), s->id.qid, mb->path);
	*size = s->start;
	return (void_from(j, v, k, n));
}

/*
 * boundary - what must be written first so that the append starts a new
 * message: nothing when the mailbox is empty or ends in an empty line
 * (or cannot be read), else the missing "\n" or "\n\n".
 */
static const char *
boundary(const struct mbox *mb, off_t size)
{
	char tail[2];

	if (size == 0 || !mb->readable)
		return ("");
	if (size == 1) {
		if (pread(mb->fd, tail, 1, 0) != 1)
			return ("");
		return (tail[0] == '\n' ? "\n" : "\n\n");
	}
	if (pread(mb->fd, tail, 2, size - 2) != 2)
		return ("");
	if (tail[1] != '\n')
		return ("\n\n");
	return (tail[0] != '\n' ? "\n" : "");
}

/* entry_id - the journal's name of the entry it (its M file is open) */
static void
entry_id(const struct qitem *it, struct jid *id)
{
	memset(id, 0, sizeof(*id));
	strlcpy(id->qid, it->queueid, sizeof(id->qid));
	id->mino = it->mino;
	id->mtime = it->mmtime;
}

/* An entry of a batch, and where it stands. */
struct bent {
	struct qitem *it;
	enum dlv *res;
	struct dsn *why;
	struct jid id;
	struct jslot *slot;	/* its journal record, while appended */
	off_t	 len;		/* its size in mbox form */
	off_t	 start, fixlen, end;
	enum {
		BE_NEW,		/* not looked at */
		BE_PENDING,	/* measured, to be appended */
		BE_ROUND,	/* recorded, being appended */
		BE_WRITTEN,	/* appended, waits for the fsync */
		BE_KNOWN,	/* appended by an earlier run: the fsync */
		BE_FINAL	/* *res and *why are set */
	}	 state;
};

/* bent_fail - e gets r and a copy of why (logged once by the caller) */
static void
bent_fail(struct bent *e, enum dlv r, const struct dsn *why)
{
	*e->res = r;
	*e->why = *why;
	e->state = BE_FINAL;
}

/* fail_open - every entry not yet final of e[0..n-1] gets r and why */
static void
fail_open(struct bent *e, size_t n, enum dlv r, const struct dsn *why)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (e[i].state != BE_FINAL)
			bent_fail(&e[i], r, why);
	}
}

/* write_dsn - the reason of a failed write to the mailbox, logged */
static void
write_dsn(struct dsn *why, int err)
{
	dsn_set(why, err == ENOSPC ? "4.3.1" : err == EDQUOT || err == EFBIG ?
	    "4.2.2" : "4.3.0", "write error: %s", strerror(err));
	/* Temporary, but logged as "failed" like the corrupted case (§5.4). */
	log_msg(LOG_ERR, "local delivery failed: %s", why->text);
}

/*
 * append_one - write e (its boundary newlines, then the message) at the
 * end of the mailbox, which must then end at e->end.  0 or -1 (errno).
 */
static int
append_one(struct mbox *mb, struct bent *e, time_t when)
{
	int r;

	if (write_all(mb->fd, "\n\n", (size_t)e->fixlen) != 0)
		return (-1);
	r = local_write_mbox(mb->fd, e->it->mfp, e->it->sender, when, NULL);
	if (r == -2)
		errno = EIO;		/* it was whole when measured */
	if (r != 0)
		return (-1);
	if (lseek(mb->fd, 0, SEEK_END) != e->end) {
		errno = EIO;		/* someone wrote without locking */
		return (-1);
	}
	return (0);
}

/*
 * measure - look at every entry: one the journal shows delivered (its
 * queue entry outlived a completed append) is BE_KNOWN, one whose queue
 * file is corrupted fails for good, the others are measured (BE_PENDING).
 */
static void
measure(struct journal *j, struct bent *e, size_t n, time_t when)
{
	struct dsn why;
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		if (e[i].state != BE_NEW)
			continue;
		log_setqid("%s", e[i].it->queueid);
		if (journal_find(j, &e[i].id) != NULL) {
			e[i].state = BE_KNOWN;
			continue;
		}
		r = local_write_mbox(-1, e[i].it->mfp, e[i].it->sender, when,
		    &e[i].len);
		if (r == 0) {
			e[i].state = BE_PENDING;
			continue;
		}
		if (r == -2)
			bent_fail(&e[i], local_fail(&why, DLV_PERMFAIL, LOG_CRIT,
			    "5.3.0", "corrupted queue file"), &why);
		else
			bent_fail(&e[i], local_fail(&why, DLV_TEMPFAIL, LOG_ERR,
			    "4.3.0", "can not read the queued message: %s",
			    strerror(errno)), &why);
	}
}

/*
 * append_round - record the pending entries (from offset *size on) in
 * the journal as part of the batch *bseq, make the records durable,
 * append the entries in order.
 * A failed append is cut back and fails that entry alone: the entries
 * after it go back to pending for another round (all fail when the
 * mailbox is full or could not be cut back).  *size follows the
 * mailbox.  0 to go on, -1 to stop (the entries left pending fail).
 */
static int
append_round(struct mbox *mb, struct journal *j, struct bent *e, size_t n,
    ino_t ino, off_t *size, uintmax_t *bseq, time_t when, struct dsn *why)
{
	off_t pos = *size;
	size_t i, k, nround = 0;
	int err, cut;

	for (i = 0; i < n; i++) {
		if (e[i].state != BE_PENDING)
			continue;
		e[i].fixlen = pos == *size ? (off_t)strlen(boundary(mb, pos)) : 0;
		e[i].start = pos;
		e[i].end = pos + e[i].fixlen + e[i].len;
		e[i].slot = journal_add(j, &e[i].id, ino, e[i].start, e[i].fixlen,
		    e[i].end, bseq);
		if (e[i].slot == NULL) {
			log_setqid("%s", e[i].it->queueid);
			bent_fail(&e[i], local_fail(why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
			    "can not write the delivery journal of `%s': %s",
			    mb->path, strerror(errno)), why);
			continue;
		}
		e[i].state = BE_ROUND;
		pos = e[i].end;
		nround++;
	}
	if (nround == 0)
		return (0);
	if (journal_sync(j) != 0) {
		local_fail(why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
		    "can not write the delivery journal of `%s': %s", mb->path,
		    strerror(errno));
		for (i = 0; i < n; i++) {
			if (e[i].state == BE_ROUND) {
				(void)journal_void(j, e[i].slot);
				bent_fail(&e[i], DLV_TEMPFAIL, why);
			}
		}
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (e[i].state != BE_ROUND)
			continue;
		log_setqid("%s", e[i].it->queueid);
		if (append_one(mb, &e[i], when) == 0) {
			e[i].state = BE_WRITTEN;
			*size = e[i].end;
			continue;
		}
		err = errno;
		cut = ftruncate(mb->fd, e[i].start) == 0 && fsync(mb->fd) == 0;
		if (!cut)
			log_msg(LOG_WARNING, "error recovering mbox `%s': %s",
			    mb->path, strerror(errno));
		write_dsn(why, err);
		bent_fail(&e[i], DLV_TEMPFAIL, why);
		for (k = i; k < n; k++) {
			if (k > i && e[k].state != BE_ROUND)
				continue;
			if (cut)
				(void)journal_void(j, e[k].slot);
			if (k > i)
				e[k].state = BE_PENDING;
		}
		*size = e[i].start;
		/* A full file system or quota fails the others too. */
		return (cut && err != ENOSPC && err != EDQUOT ? 0 : -1);
	}
	return (0);
}

/*
 * batch_append - append the entries e[0..n-1] to the locked mailbox:
 * repair what an interrupted batch left, record all of them in the
 * journal, make that durable once, append them, fsync the mailbox once.
 * Sets *res and *why of every entry.  When the fsync fails every append
 * of the batch is cut back and all fail temporarily.
 */
static void
batch_append(struct mbox *mb, struct bent *e, size_t n, time_t when)
{
	struct journal j;
	struct dsn why;
	struct stat st;
	uintmax_t bseq = 0;
	off_t size, base;
	size_t i;
	int err, wrote = 0, known = 0;

	memset(&why, 0, sizeof(why));
	if (fstat(mb->fd, &st) != 0) {
		fail_open(e, n, local_fail(&why, DLV_TEMPFAIL, LOG_NOTICE, "4.3.0",
		    "can not stat `%s': %s", mb->path, strerror(errno)), &why);
		return;
	}
	if (journal_open(&j, mb->name) != 0) {
		fail_open(e, n, local_fail(&why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
		    "can not open the delivery journal of `%s': %s", mb->path,
		    strerror(errno)), &why);
		return;
	}
	size = st.st_size;
	if (recover(mb, &j, st.st_ino, &size) != 0) {
		fail_open(e, n, local_fail(&why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
		    "can not repair `%s': %s", mb->path, strerror(errno)), &why);
		goto out;
	}
	base = size;
	measure(&j, e, n, when);
	for (;;) {
		for (i = 0; i < n && e[i].state != BE_PENDING; i++)
			;
		if (i == n)
			break;
		if (append_round(mb, &j, e, n, st.st_ino, &size, &bseq, when,
		    &why) != 0) {
			for (i = 0; i < n; i++) {
				if (e[i].state == BE_PENDING || e[i].state == BE_ROUND)
					bent_fail(&e[i], DLV_TEMPFAIL, &why);
			}
			break;
		}
	}
	for (i = 0; i < n; i++) {
		wrote |= e[i].state == BE_WRITTEN;
		known |= e[i].state == BE_KNOWN;
	}
	if (!wrote && !known)
		goto out;
	/* The one fsync of the batch: before it nothing is delivered. */
	if (fsync(mb->fd) != 0) {
		err = errno;
		if (wrote) {
			if (ftruncate(mb->fd, base) != 0)
				log_msg(LOG_WARNING, "error recovering mbox `%s': %s",
				    mb->path, strerror(errno));
			else {
				for (i = 0; i < n; i++) {
					if (e[i].state == BE_WRITTEN)
						(void)journal_void(&j, e[i].slot);
				}
			}
		}
		local_fail(&why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
		    "can not sync `%s': %s", mb->path, strerror(err));
		fail_open(e, n, DLV_TEMPFAIL, &why);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (e[i].state == BE_KNOWN) {
			log_setqid("%s", e[i].it->queueid);
			log_msg(LOG_NOTICE, "%s was already delivered to `%s'",
			    e[i].it->queueid, mb->path);
		} else if (e[i].state != BE_WRITTEN)
			continue;
		*e[i].res = DLV_OK;
		dsn_set(e[i].why, "2.0.0", "delivered to mailbox `%s'", mb->path);
		e[i].state = BE_FINAL;
	}
out:
	journal_close(&j);
}

/* lookup_user - uid of a local user; DLV_PERMFAIL only if surely unknown */
static enum dlv
lookup_user(const char *name, uid_t *uid, struct dsn *why)
{
	char safe[2 * USERNAME_MAX];
	struct passwd *pw;

	log_safe(safe, sizeof(safe), name);
	if (!localname_ok(name))
		return (local_fail(why, DLV_PERMFAIL, LOG_ERR, "5.1.1",
		    "unknown local user `%s'", safe));
	/* Such a mailbox would share its name with a lock file or with
	 * dma's temporaries in MAIL_PATH. */
	if (name[0] == '.' || (strlen(name) >= 5 &&
	    strcmp(name + strlen(name) - 5, ".lock") == 0))
		return (local_fail(why, DLV_PERMFAIL, LOG_ERR, "5.1.3",
		    "no mailbox for user `%s': the name collides with lock files",
		    safe));
	errno = 0;
	pw = getpwnam(name);
	if (pw != NULL) {
		*uid = pw->pw_uid;
		return (DLV_OK);
	}
	/* getpwnam(3): these mean "no such user"; others a lookup failure. */
	if (errno == 0 || errno == ENOENT || errno == ESRCH || errno == EBADF ||
	    errno == EPERM)
		return (local_fail(why, DLV_PERMFAIL, LOG_ERR, "5.1.1",
		    "unknown local user `%s'", safe));
	return (local_fail(why, DLV_TEMPFAIL, LOG_NOTICE, "4.3.0",
	    "can not look up user `%s': %s", safe, strerror(errno)));
}

/*
 * mbox_setup - check the user and open the mail directory for mb.
 * DLV_OK, or the failure that every entry for this user gets.
 */
static enum dlv
mbox_setup(struct mbox *mb, const char *user, struct dsn *why)
{
	enum dlv r;

	memset(mb, 0, sizeof(*mb));
	mb->fd = -1;
	mb->dirfd = -1;
	mb->name = user;
	if ((r = lookup_user(user, &mb->uid, why)) != DLV_OK)
		return (r);
	if (xsnprintf(mb->path, sizeof(mb->path), "%s/%s", MAIL_PATH, mb->name) != 0 ||
	    xsnprintf(mb->lockname, sizeof(mb->lockname), "%s.lock", mb->name) != 0)
		return (local_fail(why, DLV_TEMPFAIL, LOG_NOTICE, "4.3.0",
		    "mailbox path too long for `%s'", mb->name));
	mb->dirfd = open(MAIL_PATH, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (mb->dirfd < 0)
		return (local_fail(why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
		    "can not open mail directory `%s': %s", MAIL_PATH, strerror(errno)));
	return (DLV_OK);
}

#if LOCAL_BATCH + JOB_MAX > JOURNAL_SLOTS - 32
#error "the journal must hold a batch beside the records still waiting"
#endif

/*
 * local_deliver_feed - see dma.h.  A failure of the mailbox itself
 * (unknown user, no lock, refused or not creatable) is given to every
 * job of the feed without trying again for each.
 */
void
local_deliver_feed(const char *user, struct dlv_feed *f)
{
	struct dlv_job job[LOCAL_BATCH];
	struct bent *e;
	struct mbox mb;
	struct dsn why;
	enum dlv fail;
	size_t nj, ne, i, k;
	time_t when;

	e = xmalloc((LOCAL_BATCH + JOB_MAX) * sizeof(*e));
	fail = mbox_setup(&mb, user, &why);
	for (;;) {
		nj = ne = 0;
		while (nj < LOCAL_BATCH && ne < LOCAL_BATCH &&
		    f->next(f->arg, &job[nj])) {
			for (k = 0; k < job[nj].n && ne < LOCAL_BATCH + JOB_MAX; k++) {
				memset(&e[ne], 0, sizeof(e[ne]));
				e[ne].it = job[nj].it[k];
				e[ne].res = &job[nj].res[k];
				e[ne].why = &job[nj].why[k];
				if (e[ne].it->mfp == NULL ||
				    strcmp(e[ne].it->addr, user) != 0) {
					log_setqid("%s", e[ne].it->queueid);
					bent_fail(&e[ne], local_fail(&why, DLV_TEMPFAIL,
					    LOG_ERR, "4.3.0", e[ne].it->mfp == NULL ?
					    "message file not open" :
					    "entry handed to another mailbox"), &why);
				} else
					entry_id(e[ne].it, &e[ne].id);
				ne++;
			}
			nj++;
		}
		if (nj == 0)
			break;
		when = time(NULL);
		if (fail == DLV_OK && (fail = mbox_lock(&mb, &why)) == DLV_OK) {
			batch_append(&mb, e, ne, when);
			mboxlock_release(&mb);
		}
		if (mb.fd >= 0) {
			close(mb.fd);
			mb.fd = -1;
		}
		if (fail != DLV_OK)
			fail_open(e, ne, fail, &why);
		for (i = 0; i < nj; i++) {
			if (job[i].n > 0)
				log_setqid("%s", job[i].it[0]->queueid);
			f->done(f->arg, &job[i]);
		}
	}
	if (mb.dirfd >= 0)
		close(mb.dirfd);
	free(e);
}

/*
 * local_done - after the entry it, delivered by local_deliver_feed, left the
 * queue durably (its removal and a directory sync of the spool): its
 * journal record is no longer needed to keep it from being appended
 * twice.  it may be released already (its M file's identity, mino and
 * mmtime, stays).  Failures only cost a journal slot for JOURNAL_KEEP.
 */
void
local_done(const struct qitem *it)
{
	struct jid id;

	if (it->mino == 0)
		return;
	entry_id(it, &id);
	if (journal_done(it->addr, &id) != 0)
		log_msg(LOG_NOTICE, "can not update the delivery journal of `%s': %s",
		    it->addr, strerror(errno));
}
