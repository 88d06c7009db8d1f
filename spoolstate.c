/*
 * spoolstate.c - the queue's small state beside the messages: the queue
 * daemon's lock (qrun.pid) and the flush file that a dma -q touches to
 * wake waiting deliveries.
 *
 * Side effects: writes qrun.pid and flush in the spool directory.  The
 * file format and the rules of the spool are in spool.c.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"
#include "spoolint.h"

/*
 * spool_daemon_lock - one queue daemon per spool: an flock on qrun.pid,
 * held (the descriptor is kept open) until the process ends.  The pid in
 * it is for the messages only; the lock decides.
 */
static int daemon_fd = -1;

/* spool_daemon_pid - the daemon's pid changed (it was forked) */
int
spool_daemon_pid(pid_t pid)
{
	char buf[32];

	if (daemon_fd < 0)
		return (-1);
	snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	if (ftruncate(daemon_fd, 0) != 0 ||
	    pwrite(daemon_fd, buf, strlen(buf), 0) < 0)
		return (-1);
	return (0);
}

int
spool_daemon_lock(pid_t *holder, char *why, size_t whylen)
{
	char path[PATH_MAX], buf[32];
	struct stat st;
	ssize_t r;
	int fd;

	*holder = 0;
	if (spool_path(path, sizeof(path), "", "qrun.pid") != 0) {
		snprintf(why, whylen, "spool path too long");
		return (-1);
	}
	fd = spool_create_exact(path, O_RDWR | O_NONBLOCK, 0660);
	if (fd < 0 && errno == EEXIST)
		fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "can not open `%s': %s", path,
		    fd >= 0 ? "not a regular file" : strerror(errno));
		if (fd >= 0)
			close(fd);
		return (-1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			snprintf(why, whylen, "can not lock `%s': %s", path,
			    strerror(errno));
			close(fd);
			return (-1);
		}
		r = pread(fd, buf, sizeof(buf) - 1, 0);
		if (r > 0) {
			buf[r] = '\0';
			*holder = (pid_t)strtol(buf, NULL, 10);
		}
		close(fd);
		return (1);
	}
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, strlen(buf), 0) < 0) {
		snprintf(why, whylen, "can not write `%s': %s", path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	daemon_fd = fd;	/* stays open: the lock lasts as long as we do */
	return (0);
}

/*
 * spool_flush_touch - prod waiting delivery processes.
 *
 * Anyone in group mail can plant a symlink or a hard link named flush;
 * neither is followed nor written through.
 */
int
spool_flush_touch(void)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, ret = -1;

	if (spool_path(path, sizeof(path), "", SPOOL_FLUSHFILE) != 0) {
		log_msg(LOG_ERR, "could not open flush file: %s",
		    strerror(errno));
		return (-1);
	}
	/* 0640 as the original makes it: only the owner needs to write. */
	fd = spool_create_exact(path, O_WRONLY | O_NONBLOCK, 0640);
	if (fd < 0 && errno == EEXIST)
		fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		log_msg(LOG_ERR, "could not open flush file: %s",
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		log_msg(LOG_ERR, "refusing flush file `%s': not a plain file",
		    path);
		goto out;
	}
	if (futimens(fd, NULL) != 0) {
		log_msg(LOG_ERR, "could not touch flush file: %s",
		    strerror(errno));
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return (ret);
}

/* spool_flush_time - mtime of the flush file, 0 if there is none */
time_t
spool_flush_time(void)
{
	char path[PATH_MAX];
	struct stat st;

	if (spool_path(path, sizeof(path), "", SPOOL_FLUSHFILE) != 0 ||
	    lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return (0);
	return (st.st_mtime);
}
