/*
 * mboxlock.c - locking a mailbox of MAIL_PATH against other deliveries
 * and mail readers.
 *
 * The kernel locks (flock and fcntl on the mailbox) serialise dma's
 * deliveries: they die with their holder, so a crash, a SIGKILL or a
 * reboot never leaves a mailbox locked.  The dotlock {user}.lock is kept
 * for mail readers that use it; dma takes it only while it already holds
 * both kernel locks and removes it before releasing them.  Hence a
 * dotlock that dma finds while holding the kernel locks was either left
 * by a dma that died (it says "dma {pid} {boot id}", or it belongs to a
 * user other than the mailbox owner and root, since only dma running as
 * that user can have made it) and is broken at once, or it is a mail
 * reader's, which is honoured for MBOXLOCK_STALE seconds of mtime (a
 * future mtime counts as stale).  No user can thus keep another user's
 * mailbox locked: the owner of a lock dma made can rewrite or touch it,
 * but not make it look like the mailbox owner's.  Breaking renames the
 * lock aside and checks that the inode renamed is the one judged stale;
 * dma removes only the lock inode it created.  Only a regular file of at
 * most MBOXLOCK_MAX bytes not starting with "From " is ever taken for a
 * lock (local.c refuses mailboxes whose names end in ".lock").
 *
 * Side effects: flock/fcntl locks on the mailbox, creates, renames and
 * removes MAIL_PATH/{user}.lock and the temporaries .dma-stale.{pid} (and
 * removes old .dma-mbox-create.{pid} ones), syslog.  Runs as the
 * delivering process (uid of the submitter or of "mail", egid mail).
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"

#define MBOXLOCK_STALE		300	/* a reader's dotlock older than this */
#define MBOXLOCK_FUTURE		60	/* mtime this far ahead: stale too */
#define MBOXLOCK_MAX		128	/* larger files are never locks */
#define MBOXLOCK_LEFTOVER_AGE	600	/* age of removable temporaries */

static int dotlock_disabled;		/* mail dir not writable for us */

/* boot_id - this boot's id, "-" where the kernel does not tell */
static const char *
boot_id(void)
{
	static char id[40];
	ssize_t n;
	int fd;

	if (id[0] != '\0')
		return (id);
	strlcpy(id, "-", sizeof(id));
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (id);
	n = read(fd, id, sizeof(id) - 1);
	close(fd);
	if (n <= 0) {
		strlcpy(id, "-", sizeof(id));
		return (id);
	}
	id[n] = '\0';
	id[strcspn(id, "\n")] = '\0';
	return (id);
}

/* mboxlock_sweep - remove temporaries left in MAIL_PATH by dead processes */
void
mboxlock_sweep(int dirfd, time_t now)
{
	static const char *prefixes[] = { ".dma-mbox-create.", ".dma-stale." };
	struct dirent *de;
	struct stat st;
	DIR *d;
	size_t i;
	int fd;

	fd = dup(dirfd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			size_t n = strlen(prefixes[i]);

			if (strncmp(de->d_name, prefixes[i], n) != 0 ||
			    strspn(de->d_name + n, "0123456789") != strlen(de->d_name + n))
				continue;
			/* By name, without opening: it may be unreadable to us. */
			if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode) && st.st_mtime + MBOXLOCK_LEFTOVER_AGE < now &&
			    unlinkat(dirfd, de->d_name, 0) == 0)
				log_msg(LOG_NOTICE, "removed leftover %s/%s", MAIL_PATH,
				    de->d_name);
		}
	}
	closedir(d);
}

/*
 * dotlock_create - make {name}.lock holding "dma {pid} {boot id}".
 * 1 made, 0 it exists, -1 error.  With O_TMPFILE the file is written
 * before it gets its name, so no crash can leave an empty lock behind.
 */
static int
dotlock_create(struct mbox *mb)
{
	char text[80], fdpath[64];
	struct stat st;
	int fd, n, linked = 0;

	n = snprintf(text, sizeof(text), "dma %ld %s\n", (long)getpid(), boot_id());
	if (n < 0 || (size_t)n >= sizeof(text))
		return (-1);
#ifdef O_TMPFILE
	fd = openat(mb->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0660);
	if (fd >= 0) {
		if (fchmod(fd, 0660) != 0 || write(fd, text, (size_t)n) != n ||
		    fstat(fd, &st) != 0) {
			close(fd);
			return (-1);
		}
		(void)snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, fdpath, mb->dirfd, mb->lockname,
		    AT_SYMLINK_FOLLOW) == 0)
			linked = 1;
		else if (errno == EEXIST) {
			close(fd);
			return (0);
		}
		close(fd);
		if (linked) {
			mb->lockino = st.st_ino;
			return (1);
		}
		/* No /proc: fall through to the plain way. */
	}
#else
	(void)fdpath;
	(void)linked;
#endif
	fd = openat(mb->dirfd, mb->lockname,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0660);
	if (fd < 0)
		return (errno == EEXIST ? 0 : -1);
	if (fchmod(fd, 0660) != 0 || write(fd, text, (size_t)n) != n ||
	    fstat(fd, &st) != 0) {
		(void)unlinkat(mb->dirfd, mb->lockname, 0);
		close(fd);
		return (-1);
	}
	close(fd);
	mb->lockino = st.st_ino;
	return (1);
}

/*
 * dotlock_stale - judge the existing {name}.lock, whose stat is st, while
 * we hold the kernel locks (see the top of this file).  1 stale (why
 * says why), 0 to be honoured, -1 not a lock at all (never removed).
 */
static int
dotlock_stale(const struct mbox *mb, const struct stat *st, time_t now,
    const char **why)
{
	char buf[MBOXLOCK_MAX + 1];
	ssize_t n = -1;
	int fd;

	if (!S_ISREG(st->st_mode) || st->st_nlink != 1 ||
	    st->st_size > MBOXLOCK_MAX)
		return (-1);
	fd = openat(mb->dirfd, mb->lockname,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n >= 0) {
		buf[n] = '\0';
		if (strncmp(buf, "From ", 5) == 0)
			return (-1);
		if (strncmp(buf, "dma ", 4) == 0) {
			*why = "left by a dma process that is gone";
			return (1);
		}
	}
	if (st->st_uid != mb->uid && st->st_uid != 0) {
		*why = "made by dma as another user";
		return (1);
	}
	if (st->st_mtime > now + MBOXLOCK_FUTURE) {
		*why = "its time is in the future";
		return (1);
	}
	if (st->st_mtime + MBOXLOCK_STALE < now) {
		*why = "too old";
		return (1);
	}
	return (0);
}

/*
 * dotlock_break - remove the stale lock whose stat is st: rename it
 * aside, check that what was renamed is that inode (a mail reader may
 * have replaced it meanwhile), then remove it or put it back.
 */
static void
dotlock_break(struct mbox *mb, const struct stat *st, const char *why)
{
	char aside[64];
	struct stat as;

	(void)snprintf(aside, sizeof(aside), ".dma-stale.%ld", (long)getpid());
	if (renameat(mb->dirfd, mb->lockname, mb->dirfd, aside) != 0)
		return;
	if (fstatat(mb->dirfd, aside, &as, AT_SYMLINK_NOFOLLOW) == 0 &&
	    as.st_dev == st->st_dev && as.st_ino == st->st_ino) {
		(void)unlinkat(mb->dirfd, aside, 0);
		log_msg(LOG_NOTICE, "removed stale lock file %s/%s (%s)", MAIL_PATH,
		    mb->lockname, why);
		mboxlock_sweep(mb->dirfd, time(NULL));
		return;
	}
	/* Not the one judged: give it its name back unless taken again. */
	if (linkat(mb->dirfd, aside, mb->dirfd, mb->lockname, 0) == 0 || errno == EEXIST)
		(void)unlinkat(mb->dirfd, aside, 0);
}

/*
 * dotlock_try - take {name}.lock; call only with the kernel locks held.
 * 1 when we hold it (or go without), 0 busy, -1 error.
 */
static int
dotlock_try(struct mbox *mb, time_t now)
{
	static int refused_logged;
	const char *why = NULL;
	struct stat st;
	int r;

	if (mb->dotlocked || dotlock_disabled)
		return (1);
	r = dotlock_create(mb);
	if (r == 1) {
		mb->dotlocked = 1;
		return (1);
	}
	if (r < 0 && (errno == EACCES || errno == EPERM)) {
		/* Mail readers' dotlocks still keep out other dma processes'
		 * writes through flock/fcntl; go on with the kernel locks. */
		dotlock_disabled = 1;
		log_msg(LOG_DEBUG, "can not create dotlock in %s, using kernel locks only",
		    MAIL_PATH);
		return (1);
	}
	if (r < 0)
		return (-1);
	if (fstatat(mb->dirfd, mb->lockname, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return (0);	/* gone meanwhile: try again */
	r = dotlock_stale(mb, &st, now, &why);
	if (r > 0)
		dotlock_break(mb, &st, why);
	else if (r < 0 && !refused_logged) {
		refused_logged = 1;
		log_msg(LOG_ERR, "%s/%s is not a lock file; not removing it",
		    MAIL_PATH, mb->lockname);
	}
	return (0);
}

/* mboxlock_release - release what we hold; the dotlock only if ours */
void
mboxlock_release(struct mbox *mb)
{
	struct flock fl;
	struct stat st;

	/* The dotlock goes first, while the kernel locks still keep other
	 * dma processes from judging it. */
	if (mb->dotlocked) {
		if (fstatat(mb->dirfd, mb->lockname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_ino == mb->lockino)
			(void)unlinkat(mb->dirfd, mb->lockname, 0);
		mb->dotlocked = 0;
	}
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
}

/*
 * mboxlock_try - try to take flock, fcntl lock and dotlock without
 * waiting, in that order.  All or nothing avoids deadlocks with mail
 * readers that take them in another order.
 */
int
mboxlock_try(struct mbox *mb, time_t now)
{
	struct flock fl;
	int r;

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
	r = dotlock_try(mb, now);
	if (r > 0)
		return (1);
fail:
	{
		int saved = errno;

		mboxlock_release(mb);
		errno = saved;
	}
	return (r);
}

/*
 * mboxlock_stopped_holder - the pid of the process holding the fcntl
 * lock of mb->fd if it is stopped by a signal (state T), else 0.  Not a
 * traced process (state t: a debugger or strace holds it at every
 * system call).  Only what F_GETLK reports (a holder in our pid
 * namespace) is looked at.
 */
pid_t
mboxlock_stopped_holder(const struct mbox *mb)
{
	char path[64], buf[512], *p;
	struct flock fl;
	ssize_t n;
	int fd;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(mb->fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK || fl.l_pid <= 0)
		return (0);
	(void)snprintf(path, sizeof(path), "/proc/%ld/stat", (long)fl.l_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold anything, so the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return (0);
	return (p[2] == 'T' ? fl.l_pid : 0);
}
