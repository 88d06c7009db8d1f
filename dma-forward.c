/*
 * dma-forward.c - read one user's ~/.forward, as that user.
 *
 * *** THIS PROGRAM IS INSTALLED SETUID ROOT (4754 root:mail). ***
 * Reviewers read the whole file at every change.
 *
 * Usage: dma-forward USER
 *
 * dma (egid mail) runs this at submission for a local recipient USER when
 * DOTFORWARD is on.  Root is used for one thing only: to become USER
 * completely (supplementary groups, gid, uid; checked) before the file
 * system is touched.  From then on it trusts nothing but the kernel's
 * answers about the home directory and the file: it reads
 * HOME/.forward (HOME from the passwd entry) without following a
 * symlink and without blocking on a FIFO, and uses it only if
 *	- the home directory is owned by USER or root and is not group or
 *	  world writable (a sticky world-writable directory such as /tmp is
 *	  refused too: another user could have put the file there before
 *	  USER did),
 *	- .forward is a regular file owned by USER or root, not group or
 *	  world writable, and at most FWD_MAX_SIZE bytes.
 * It never executes, creates or writes anything, reads no configuration
 * and takes no options.  It does not link with the rest of dma.
 *
 * Output on stdout, one line each (dma's forward.c parses it):
 *	forward ADDRESS		an address to forward to (dma checks it)
 *	local NAME		a "\NAME" entry: NAME's own mailbox
 *	refused REASON		an entry that is not used (program, file,
 *				:include:, control characters, too long)
 *	unsafe REASON		the whole file is not used
 * No output: no .forward (or one without entries).  The entries are
 * separated by commas or newlines; a line whose first non-blank character
 * is '#' is a comment; a double-quoted part may hold commas.
 *
 * Exit status (sysexits): 0 the answer is on stdout; 64 usage; 65 bad
 * user name; 67 no such user; 75 the user database could not be read;
 * 77 caller not root or group DMA_GROUP_NAME, or cannot become USER;
 * 78 no group DMA_GROUP_NAME; 71 out of memory.
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
#include <strings.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#ifndef DMA_GROUP_NAME
#error Please define DMA_GROUP_NAME (group dma runs with, mail)
#endif

#define NAME_MAX_LEN	64
#define FWD_MAX_SIZE	(64 * 1024)	/* bytes of a .forward */
#define ENTRY_MAX	320		/* bytes of one entry */

#define LOGPFX	"dma-forward: "

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

/* name_ok - [A-Za-z0-9._+$-], not starting with '-' or '.', short */
static int
name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= NAME_MAX_LEN || s[0] == '-' || s[0] == '.')
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
 * become - drop every privilege for good: USER's groups, gid and uid,
 * then check that none of root's or mail's is left.
 */
static void
become(const struct passwd *pw)
{
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
		fail(EX_NOPERM, "cannot become user", pw->pw_name);
	errno = 0;
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
	    getgid() != pw->pw_gid || getegid() != pw->pw_gid)
		fail(EX_NOPERM, "privileges left after becoming", pw->pw_name);
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		fail(EX_NOPERM, "root regained after becoming", pw->pw_name);
}

/* unsafe - the whole file is not used: say why and exit 0 */
static void __attribute__((__noreturn__))
unsafe(const char *why)
{
	printf("unsafe %s\n", why);
	exit(fflush(stdout) == 0 ? EX_OK : EX_IOERR);
}

/* owner_ok - st is USER's or root's and not writable by anyone else */
static const char *
owner_ok(const struct stat *st, uid_t uid)
{
	if (st->st_uid != uid && st->st_uid != 0)
		return ("owned by another user");
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return ("group or world writable");
	return (NULL);
}

/*
 * open_forward - open and check HOME/.forward; returns the descriptor, or
 * -1 when there is none.  Exits through unsafe() when it must not be used.
 */
static int
open_forward(const struct passwd *pw)
{
	char why[128];
	struct stat st;
	const char *bad;
	int dirfd, fd;

	if (pw->pw_dir == NULL || pw->pw_dir[0] != '/')
		unsafe("home directory is not an absolute path");
	dirfd = open(pw->pw_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		if (errno == ENOENT)
			return (-1);
		snprintf(why, sizeof(why), "cannot open home directory: %s",
		    strerror(errno));
		unsafe(why);
	}
	if (fstat(dirfd, &st) != 0)
		unsafe("cannot stat home directory");
	if ((bad = owner_ok(&st, pw->pw_uid)) != NULL) {
		snprintf(why, sizeof(why), "home directory %s", bad);
		unsafe(why);
	}
	fd = openat(dirfd, ".forward", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return (-1);
		if (errno == ELOOP)
			unsafe("is a symbolic link");
		snprintf(why, sizeof(why), "cannot open: %s", strerror(errno));
		unsafe(why);
	}
	close(dirfd);
	if (fstat(fd, &st) != 0)
		unsafe("cannot stat");
	if (!S_ISREG(st.st_mode))
		unsafe("not a regular file");
	if ((bad = owner_ok(&st, pw->pw_uid)) != NULL)
		unsafe(bad);
	if (st.st_size > FWD_MAX_SIZE) {
		snprintf(why, sizeof(why), "larger than %d bytes", FWD_MAX_SIZE);
		unsafe(why);
	}
	return (fd);
}

/* read_all - the file's bytes, NUL-terminated, at most FWD_MAX_SIZE */
static char *
read_all(int fd, size_t *lenp)
{
	char *buf;
	size_t len = 0;
	ssize_t n;

	if ((buf = malloc(FWD_MAX_SIZE + 2)) == NULL)
		fail(EX_OSERR, "out of memory", NULL);
	for (;;) {
		n = read(fd, buf + len, FWD_MAX_SIZE + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			unsafe("read error");
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > FWD_MAX_SIZE) {
			char why[64];

			snprintf(why, sizeof(why), "larger than %d bytes",
			    FWD_MAX_SIZE);
			unsafe(why);
		}
	}
	if (memchr(buf, '\0', len) != NULL)
		unsafe("contains a NUL byte");
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

/* emit - classify one trimmed entry and print its line */
static void
emit(const char *e)
{
	const char *p = e;
	size_t i, n = strlen(e);

	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		if ((unsigned char)e[i] < 0x20 || e[i] == 0x7f) {
			printf("refused entry with a control character\n");
			return;
		}
	}
	if (n > ENTRY_MAX) {
		printf("refused entry longer than %d bytes\n", ENTRY_MAX);
		return;
	}
	if (*p == '"')
		p++;
	if (*p == '|')
		printf("refused `%s': delivery to a program is not supported\n", e);
	else if (*p == '/')
		printf("refused `%s': delivery to a file is not supported\n", e);
	else if (strncasecmp(p, ":include:", 9) == 0)
		printf("refused `%s': include files are not supported\n", e);
	else if (*p == '\\' && p == e && n > 1)
		printf("local %s\n", e + 1);
	else if (*p == '\\' && p != e && n > 3 && e[n - 1] == '"')
		printf("local %.*s\n", (int)(n - 3), e + 2);
	else if (*p == '\\')
		printf("refused `%s': no user name after the backslash\n", e);
	else
		printf("forward %s\n", e);
}

/* split - the entries of buf: commas and newlines outside quotes */
static void
split(char *buf)
{
	char *p = buf, *start, *end;
	int inq = 0, bol = 1;

	start = p;
	for (;; p++) {
		if (bol) {
			/* A comment line, blanks before '#' allowed. */
			char *q = p;

			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '#') {
				while (*q != '\0' && *q != '\n')
					q++;
				p = start = q;
			}
			bol = 0;
		}
		if (inq && *p == '\\' && p[1] != '\0' && p[1] != '\n') {
			p++;
			continue;
		}
		if (*p == '"') {
			inq = !inq;
			continue;
		}
		if (*p != '\0' && *p != '\n' && !(*p == ',' && !inq))
			continue;
		/* An entry ends here; a quote never spans lines. */
		end = p;
		while (start < end && (*start == ' ' || *start == '\t'))
			start++;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t' ||
		    end[-1] == '\r'))
			end--;
		{
			char save = *end;

			*end = '\0';
			emit(start);
			*end = save;
		}
		if (*p == '\0')
			break;
		if (*p == '\n') {
			inq = 0;
			bol = 1;
		}
		start = p + 1;
	}
}

int
main(int argc, char **argv)
{
	struct passwd *pw;
	struct group *gr;
	size_t len;
	char *buf;
	int fd;

	sanitise();
	openlog("dma", LOG_PID, LOG_MAIL);
	errno = 0;
	if (argc != 2)
		fail(EX_USAGE, "usage: dma-forward USER", NULL);
	if (!name_ok(argv[1]))
		fail(EX_DATAERR, "invalid user name (not logged)", NULL);
	errno = 0;
	if ((gr = getgrnam(DMA_GROUP_NAME)) == NULL)
		fail(EX_CONFIG, "cannot find group", DMA_GROUP_NAME);
	/*
	 * Only dma (egid DMA_GROUP_NAME) and root have any business here; the
	 * install mode 4754 says so too, this holds if the mode is wrong.
	 */
	if (!caller_ok(gr->gr_gid)) {
		errno = 0;
		fail(EX_NOPERM, "caller not permitted to read .forward of", argv[1]);
	}
	errno = 0;
	if ((pw = getpwnam(argv[1])) == NULL) {
		if (errno == 0 || errno == ENOENT || errno == ESRCH ||
		    errno == EBADF || errno == EPERM)
			fail(EX_NOUSER, "cannot find user", argv[1]);
		fail(EX_TEMPFAIL, "cannot look up user", argv[1]);
	}
	become(pw);

	/* Unprivileged from here on: USER could read all of this anyway. */
	if ((fd = open_forward(pw)) < 0)
		exit(EX_OK);
	buf = read_all(fd, &len);
	split(buf);
	exit(fflush(stdout) == 0 ? EX_OK : EX_IOERR);
}
