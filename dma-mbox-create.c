/*
 * dma-mbox-create.c - create one missing mbox.
 *
 * *** THIS PROGRAM IS INSTALLED SETUID ROOT (4754 root:mail). ***
 * Reviewers read the whole file at every change.
 *
 * Usage: dma-mbox-create USER
 *
 * dma's delivery process (egid mail) runs this when MAIL_PATH/USER does
 * not exist.  It creates that one file, empty, 0620 USER:DMA_GROUP_NAME
 * (the user reads and writes it; dma, with group DMA_GROUP_NAME, can
 * only append to it), and nothing else: it never changes an existing
 * file, never follows a symlink, never opens a FIFO or device, reads no
 * configuration and takes no options.  It does not link with the rest
 * of dma.  The file gets its owner and mode before it gets its name: an
 * unnamed O_TMPFILE linked into place, or where that is not possible a
 * temporary name renamed into place.
 *
 * Exit status (sysexits): 0 created or already a proper mbox;
 * 64 usage; 65 bad user name (also one ending in ".lock", which would
 * be the lock file of another mailbox); 67 no such user; 75 the user
 * database could not be read (try again later); 77 caller not root or
 * group DMA_GROUP_NAME, or cannot drop groups; 78 no group
 * DMA_GROUP_NAME; 73 MAIL_PATH cannot be opened (it must be a real
 * directory, not a symlink) or the mbox cannot be created, or something
 * other than a regular file with one link owned by USER is in the way.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#ifndef MAIL_PATH
#error Please define MAIL_PATH (mbox directory, /var/mail)
#endif
#ifndef DMA_GROUP_NAME
#error Please define DMA_GROUP_NAME (group owning the mboxes, mail)
#endif

#define NAME_MAX_LEN	64
#define MBOX_MODE	0620

/*
 * Logging: the identifier is dma's ("dma[pid]"), so that the mail log's
 * filters and journalctl -t dma see these lines too; the text says who.
 */
#define LOGPFX	"dma-mbox-create: "

/* fail - log "{msg}[ `{arg}'][: {strerror}]" at LOG_ERR and exit */
static void __attribute__((__noreturn__))
fail(int ex, const char *msg, const char *arg)
{
	if (arg == NULL)
		syslog(LOG_ERR, LOGPFX "%s", msg);
	else if (errno != 0)
		syslog(LOG_ERR, LOGPFX "%s `%s': %s", msg, arg, strerror(errno));
	else
		syslog(LOG_ERR, LOGPFX "%s `%s'", msg, arg);
	exit(ex);
}

/* sanitise - fds 0-2 open, nothing else inherited, no environment */
static void
sanitise(void)
{
	struct stat st;
	int i;

	for (i = 0; i < 3; i++) {
		if (fstat(i, &st) != 0 && open("/dev/null", O_RDWR) != i)
			_exit(EX_OSERR);
	}
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	closefrom(3);
#else
	for (i = 3; i < 1024; i++)
		(void)close(i);
#endif
	umask(077);
	if (clearenv() != 0)
		_exit(EX_OSERR);
}

/* caller_ok - root, or running with group gid (dma is setgid to it) */
static int
caller_ok(gid_t gid)
{
	gid_t groups[256];
	int i, n;

	if (getuid() == 0 || getgid() == gid || getegid() == gid)
		return (1);
	n = getgroups(256, groups);
	for (i = 0; i < n; i++)
		if (groups[i] == gid)
			return (1);
	return (0);
}

/*
 * name_ok - [A-Za-z0-9._+$-], not starting with '-' or '.', not ending
 * in ".lock", short
 */
static int
name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= NAME_MAX_LEN || s[0] == '-' || s[0] == '.')
		return (0);
	if (n >= 5 && strcmp(s + n - 5, ".lock") == 0)
		return (0);
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
		    c == '+' || c == '$'))
			return (0);
	}
	return (1);
}

/*
 * place - rename tmp to name in dirfd, failing with EEXIST instead of
 * replacing an existing name.
 */
static int
place(int dirfd, const char *tmp, const char *name)
{
#ifdef RENAME_NOREPLACE
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
		return (0);
	if (errno != EINVAL && errno != ENOSYS)
		return (-1);
#endif
	/* No atomic no-replace rename here: link (never replaces), unlink. */
	if (linkat(dirfd, tmp, dirfd, name, 0) != 0)
		return (-1);
	(void)unlinkat(dirfd, tmp, 0);
	return (0);
}

/* existing - exit: 0 if st is a proper mbox of uid, else refuse it */
static void __attribute__((__noreturn__))
existing(const struct stat *st, uid_t uid, const char *user)
{
	if (S_ISREG(st->st_mode) && st->st_nlink == 1 && st->st_uid == uid)
		exit(EX_OK);
	syslog(LOG_ERR, LOGPFX "refusing existing mbox `%s': not a regular file "
	    "with one link owned by the user", user);
	exit(EX_CANTCREAT);
}

/*
 * unnamed - create the mbox as an unnamed file (O_TMPFILE), give it its
 * owner and mode, and link it in as user; linkat never replaces a name,
 * and a crash leaves nothing behind.  Returns the descriptor, or -1 when
 * this system cannot do it (then the caller uses a temporary name).
 * Exits on any other failure.
 */
static int
unnamed(int dirfd, uid_t uid, gid_t gid, const char *user)
{
#ifdef O_TMPFILE
	char fdpath[64];
	struct stat st;
	int fd;

	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return (-1);
	if (fchown(fd, uid, gid) != 0 || fchmod(fd, MBOX_MODE) != 0 ||
	    fsync(fd) != 0)
		fail(EX_CANTCREAT, "cannot set owner of mbox", user);
	if (snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd) < 0)
		fail(EX_SOFTWARE, "cannot name descriptor for", user);
	if (linkat(AT_FDCWD, fdpath, dirfd, user, AT_SYMLINK_FOLLOW) == 0)
		return (fd);
	if (errno == EEXIST) {
		/* Another helper made it meanwhile: fine if proper. */
		if (fstatat(dirfd, user, &st, AT_SYMLINK_NOFOLLOW) == 0)
			existing(&st, uid, user);
		fail(EX_CANTCREAT, "cannot create mbox", user);
	}
	if (errno != ENOENT)		/* ENOENT: no /proc mounted */
		fail(EX_CANTCREAT, "cannot create mbox", user);
	close(fd);
#else
	(void)dirfd;
	(void)uid;
	(void)gid;
	(void)user;
#endif
	return (-1);
}

int
main(int argc, char **argv)
{
	const char *user;
	struct passwd *pw;
	struct group *gr;
	struct stat st, fst;
	uid_t uid;
	gid_t gid;
	char tmp[64];
	int dirfd, fd;

	sanitise();
	openlog("dma", LOG_PID, LOG_MAIL);
	errno = 0;
	if (argc != 2)
		fail(EX_USAGE, "usage: dma-mbox-create USER", NULL);
	user = argv[1];
	if (!name_ok(user))
		fail(EX_DATAERR, "invalid user name (not logged)", NULL);
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		/* getpwnam(3): these mean "no such user"; anything else is a
		 * failing lookup (NSS, LDAP timeout): retry, never bounce. */
		if (errno == 0 || errno == ENOENT || errno == ESRCH ||
		    errno == EBADF || errno == EPERM)
			fail(EX_NOUSER, "cannot find user", user);
		fail(EX_TEMPFAIL, "cannot look up user", user);
	}
	uid = pw->pw_uid;
	errno = 0;
	if ((gr = getgrnam(DMA_GROUP_NAME)) == NULL)
		fail(EX_CONFIG, "cannot find group", DMA_GROUP_NAME);
	gid = gr->gr_gid;

	/*
	 * Only dma (egid DMA_GROUP_NAME) and root have any business here; the
	 * install mode 4754 says so too, this holds if the mode is wrong.
	 */
	if (!caller_ok(gid)) {
		errno = 0;
		fail(EX_NOPERM, "caller not permitted to create mbox for", user);
	}
	if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || getegid() != gid)
		fail(EX_NOPERM, "cannot set group", DMA_GROUP_NAME);

	dirfd = open(MAIL_PATH, O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
	if (dirfd < 0)
		fail(EX_CANTCREAT, "cannot open mail directory", MAIL_PATH);

	/*
	 * An existing entry is never changed: a proper mbox is fine, anything
	 * else (symlink, hard link, FIFO, other owner) is refused.
	 */
	if (fstatat(dirfd, user, &st, AT_SYMLINK_NOFOLLOW) == 0)
		existing(&st, uid, user);

	/*
	 * The new mbox gets its owner and mode before it gets its name, so a
	 * delivery never sees a half-made (root-owned) mbox.  Only a file
	 * created here is ever changed (O_TMPFILE, or O_EXCL|O_NOFOLLOW).
	 */
	fd = unnamed(dirfd, uid, gid, user);
	if (fd < 0) {
		/* No O_TMPFILE or no /proc: a temporary name, renamed into
		 * place without replacing (dma removes such names left by a
		 * killed helper). */
		if (snprintf(tmp, sizeof(tmp), ".dma-mbox-create.%ld",
		    (long)getpid()) < 0)
			fail(EX_SOFTWARE, "cannot name temporary file for", user);
		(void)unlinkat(dirfd, tmp, 0);	/* a dead helper's of this pid */
		fd = openat(dirfd, tmp, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
		if (fd < 0)
			fail(EX_CANTCREAT, "cannot create mbox", user);
		if (fchown(fd, uid, gid) != 0 || fchmod(fd, MBOX_MODE) != 0 ||
		    fsync(fd) != 0) {
			syslog(LOG_ERR, LOGPFX "cannot set owner of mbox `%s': %s", user,
			    strerror(errno));
			(void)unlinkat(dirfd, tmp, 0);
			exit(EX_CANTCREAT);
		}
		if (place(dirfd, tmp, user) != 0) {
			int saved = errno;

			(void)unlinkat(dirfd, tmp, 0);
			errno = saved;
			/* Another helper made it meanwhile: fine if proper. */
			if (errno == EEXIST &&
			    fstatat(dirfd, user, &st, AT_SYMLINK_NOFOLLOW) == 0)
				existing(&st, uid, user);
			fail(EX_CANTCREAT, "cannot create mbox", user);
		}
	}
	/* What now bears the name must be the file made here. */
	if (fstat(fd, &fst) != 0 || fstatat(dirfd, user, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    st.st_dev != fst.st_dev || st.st_ino != fst.st_ino)
		fail(EX_CANTCREAT, "mbox replaced while being created", user);
	if (fsync(dirfd) != 0)
		fail(EX_CANTCREAT, "cannot sync mbox", user);
	syslog(LOG_NOTICE, LOGPFX "created mbox for `%s'", user);
	exit(EX_OK);
}
