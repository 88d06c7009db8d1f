/*
 * local.c - delivery into the mbox files of MAIL_PATH.
 *
 * Owns the mbox ritual: open the mailbox without following links and
 * check it, lock it (flock, fcntl and a dotlock) with a timeout, remember
 * the end, append the From_ line and the >From-quoted message, fsync, and
 * on any error cut the file back to where it was.  Missing mailboxes are
 * created by the setuid root helper dma-mbox-create, which local.c runs
 * with a clean environment and no inherited descriptors.
 *
 * Side effects: appends to MAIL_PATH/{user}, creates and removes
 * MAIL_PATH/{user}.lock, runs DMA_MBOX_CREATE, syslog.  Runs as the
 * delivering process (uid of the submitter or of "mail", egid mail); the
 * mboxes are 0660 {user}:mail in a 2775 root:mail directory.  The user
 * name comes from a queue file, so it is checked (localname_ok, getpwnam)
 * before it becomes part of a path.
 */
#include <sys/types.h>
#include <sys/file.h>
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
#define LOCAL_DOTLOCK_STALE	300	/* a dotlock older than this is stale */
#define LOCAL_OPEN_TRIES	3	/* mbox replaced while we locked it */
#define LOCAL_OBUF_SIZE		65536	/* output buffer of local_write_mbox */

/* A mailbox being delivered to. */
struct mbox {
	int	 dirfd;			/* MAIL_PATH */
	int	 fd;			/* the mbox, or -1 */
	const char *name;		/* user name = file name */
	uid_t	 uid;			/* its owner */
	char	 path[PATH_MAX];	/* for messages */
	char	 lockname[USERNAME_MAX + 8];
	int	 dotlocked;		/* we created lockname */
	int	 flocked;
	int	 fcntl_locked;
};

/* Buffered writer over a descriptor. */
struct obuf {
	int	 fd;
	size_t	 len;
	char	 buf[LOCAL_OBUF_SIZE];
};

static int dotlock_disabled;		/* mail dir not writable for us */

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
	if (o->len > 0 && write_all(o->fd, o->buf, o->len) != 0)
		return (-1);
	o->len = 0;
	return (0);
}

/* obuf_put - append bytes; long pieces go straight to the descriptor */
static int
obuf_put(struct obuf *o, const char *p, size_t len)
{
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

/* needs_quote - the line matches ^>*From (mboxrd) */
static int
needs_quote(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && line[i] == '>')
		i++;
	return (len - i >= 5 && memcmp(line + i, "From ", 5) == 0);
}

/*
 * local_write_mbox - append one mbox message to fd.
 * msg is rewound and copied line by line (lines of any length, NUL bytes
 * kept); the From_ line, the quoting and the final empty line follow
 * mboxrd.  Returns 0, -1 on an I/O error (errno set, possibly after a
 * partial write) or -2 when the last line of msg lacks its newline (a
 * corrupted queue file; a partial message has then been written).  The
 * caller owns the locking and the truncation on failure.
 */
int
local_write_mbox(int fd, FILE *msg, const char *sender, time_t when)
{
	struct obuf *o;
	char head[ENVFIELD_MAX + 64];
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = -1, lastnl = 1;

	if (from_line(head, sizeof(head), sender, when) != 0) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	o = xmalloc(sizeof(*o));
	o->fd = fd;
	o->len = 0;
	rewind(msg);
	if (obuf_put(o, head, strlen(head)) != 0)
		goto out;
	for (;;) {
		errno = 0;
		n = getline(&line, &cap, msg);
		if (n < 0)
			break;
		lastnl = line[n - 1] == '\n';
		if (needs_quote(line, (size_t)n) && obuf_put(o, ">", 1) != 0)
			goto out;
		if (obuf_put(o, line, (size_t)n) != 0)
			goto out;
	}
	if (ferror(msg)) {
		if (errno == 0)
			errno = EIO;
		goto out;
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
	free(line);
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
		syslog(LOG_ERR, "can not execute %s: %m", DMA_MBOX_CREATE);
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
	const int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK | O_CLOEXEC;
	int tried = 0, st;

	for (;;) {
		mb->fd = openat(mb->dirfd, mb->name, flags);
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

/* dotlock_try - 1 when we hold {name}.lock (or go without), 0 busy, -1 error */
static int
dotlock_try(struct mbox *mb, time_t now)
{
	struct stat st;
	int fd;

	if (mb->dotlocked || dotlock_disabled)
		return (1);
	fd = openat(mb->dirfd, mb->lockname,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0660);
	if (fd >= 0) {
		close(fd);
		mb->dotlocked = 1;
		return (1);
	}
	if (errno == EACCES || errno == EPERM) {
		/* The MUAs' dotlocks still keep out other dma processes' writes
		 * through flock/fcntl; go on with the kernel locks alone. */
		dotlock_disabled = 1;
		log_msg(LOG_DEBUG, "can not create dotlock in %s, using kernel locks only",
		    MAIL_PATH);
		return (1);
	}
	if (errno != EEXIST)
		return (-1);
	if (fstatat(mb->dirfd, mb->lockname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_mtime + LOCAL_DOTLOCK_STALE < now) {
		log_msg(LOG_NOTICE, "removing stale lock file %s/%s", MAIL_PATH,
		    mb->lockname);
		(void)unlinkat(mb->dirfd, mb->lockname, 0);
	}
	return (0);
}

static void
mbox_unlock(struct mbox *mb)
{
	struct flock fl;

	if (mb->fcntl_locked) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_UNLCK;
		fl.l_whence = SEEK_SET;
		(void)fcntl(mb->fd, F_SETLK, &fl);
		mb->fcntl_locked = 0;
	}
	if (mb->flocked) {
		(void)flock(mb->fd, LOCK_UN);
		mb->flocked = 0;
	}
	if (mb->dotlocked) {
		(void)unlinkat(mb->dirfd, mb->lockname, 0);
		mb->dotlocked = 0;
	}
}

/*
 * lock_once - try to take dotlock, flock and fcntl lock without waiting.
 * 1: all held; 0: something is busy (nothing held); -1: error (errno).
 * Taking all or nothing avoids deadlocks with MUAs that use another order.
 */
static int
lock_once(struct mbox *mb, time_t now)
{
	struct flock fl;
	int r;

	r = dotlock_try(mb, now);
	if (r <= 0)
		return (r);
	if (flock(mb->fd, LOCK_EX | LOCK_NB) != 0) {
		r = errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		goto fail;
	}
	mb->flocked = 1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(mb->fd, F_SETLK, &fl) != 0) {
		r = errno == EACCES || errno == EAGAIN || errno == EINTR ? 0 : -1;
		goto fail;
	}
	mb->fcntl_locked = 1;
	return (1);
fail:
	{
		int saved = errno;

		mbox_unlock(mb);
		errno = saved;
	}
	return (r);
}

/*
 * mbox_lock - open, check and lock the mbox within LOCAL_LOCK_TIMEOUT,
 * and re-check afterwards that the directory still names the file we
 * locked (an MUA may have replaced it meanwhile).
 */
static enum dlv
mbox_lock(struct mbox *mb, struct dsn *why)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	time_t deadline = time(NULL) + LOCAL_LOCK_TIMEOUT;
	enum dlv r;
	int tries, l, c;

	for (tries = 0; tries < LOCAL_OPEN_TRIES; tries++) {
		if ((r = mbox_open(mb, why)) != DLV_OK)
			return (r);
		if (mbox_check(mb, 0) != 0)
			break;
		while ((l = lock_once(mb, time(NULL))) == 0 && time(NULL) < deadline)
			nanosleep(&ts, NULL);
		if (l < 0)
			return (local_fail(why, DLV_TEMPFAIL, LOG_NOTICE, "4.2.0",
			    "can not lock `%s': %s", mb->path, strerror(errno)));
		if (l == 0)
			return (local_fail(why, DLV_TEMPFAIL, LOG_NOTICE, "4.2.0",
			    "can not lock `%s'", mb->path));
		c = mbox_check(mb, 1);
		if (c == 0)
			return (DLV_OK);
		mbox_unlock(mb);
		if (c < 0)
			break;
		close(mb->fd);
		mb->fd = -1;
	}
	return (local_fail(why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
	    "refusing mailbox `%s': not a regular file with one link owned by %s",
	    mb->path, mb->name));
}

/* mbox_append - write the message at the end; cut back on failure */
static enum dlv
mbox_append(struct mbox *mb, struct qitem *it, time_t when, struct dsn *why)
{
	off_t end;
	int r, err;

	end = lseek(mb->fd, 0, SEEK_END);
	if (end < 0)
		return (local_fail(why, DLV_TEMPFAIL, LOG_NOTICE, "4.3.0",
		    "can not seek `%s': %s", mb->path, strerror(errno)));
	r = local_write_mbox(mb->fd, it->mfp, it->sender, when);
	if (r == 0 && fsync(mb->fd) != 0)
		r = -1;
	if (r == 0)
		return (DLV_OK);
	err = errno;
	if (ftruncate(mb->fd, end) != 0 || fsync(mb->fd) != 0)
		log_msg(LOG_WARNING, "error recovering mbox `%s': %s", mb->path,
		    strerror(errno));
	if (r == -2)
		return (local_fail(why, DLV_PERMFAIL, LOG_CRIT, "5.3.0",
		    "corrupted queue file"));
	/* Temporary, but logged as "failed" like the corrupted case (§5.4). */
	dsn_set(why, err == ENOSPC ? "4.3.1" : err == EDQUOT ? "4.2.2" : "4.3.0",
	    "write error: %s", strerror(err));
	log_msg(LOG_ERR, "local delivery failed: %s", why->text);
	return (DLV_TEMPFAIL);
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
 * local_deliver - append the message of it to MAIL_PATH/it->addr.
 * DLV_OK when it is on disk (fsync'ed); DLV_PERMFAIL for an unknown user
 * or a corrupted queue file; DLV_TEMPFAIL otherwise.  why and the log
 * say why; the mbox is never left with a partial message.
 */
enum dlv
local_deliver(struct qitem *it, struct dsn *why)
{
	struct mbox mb;
	time_t when = time(NULL);
	enum dlv r;

	memset(&mb, 0, sizeof(mb));
	mb.fd = -1;
	mb.name = it->addr;
	if ((r = lookup_user(it->addr, &mb.uid, why)) != DLV_OK)
		return (r);
	if (xsnprintf(mb.path, sizeof(mb.path), "%s/%s", MAIL_PATH, mb.name) != 0 ||
	    xsnprintf(mb.lockname, sizeof(mb.lockname), "%s.lock", mb.name) != 0)
		return (local_fail(why, DLV_TEMPFAIL, LOG_NOTICE, "4.3.0",
		    "mailbox path too long for `%s'", mb.name));
	if (it->mfp == NULL)
		return (local_fail(why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
		    "message file not open"));
	mb.dirfd = open(MAIL_PATH, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (mb.dirfd < 0)
		return (local_fail(why, DLV_TEMPFAIL, LOG_ERR, "4.3.0",
		    "can not open mail directory `%s': %s", MAIL_PATH, strerror(errno)));
	r = mbox_lock(&mb, why);
	if (r == DLV_OK)
		r = mbox_append(&mb, it, when, why);
	if (mb.fd >= 0) {
		mbox_unlock(&mb);
		close(mb.fd);
	}
	close(mb.dirfd);
	if (r == DLV_OK)
		dsn_set(why, "2.0.0", "delivered to mailbox `%s'", mb.path);
	return (r);
}
