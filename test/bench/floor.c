/*
 * floor.c - the least a durable submission costs: the benchmark's lower
 * bound for "sequential submissions", not an MTA.
 *
 * usage: floor DIR <message
 *        floor -D MBOX DIR <message
 *
 * One process start (libc only, no OpenSSL), one new file DIR/F{pid}.{n}
 * created exclusively, stdin copied into it, the file fsync'ed, then the
 * directory fsync'ed: the two fsyncs that make a message survive a power
 * loss, and nothing else (no headers, no envelope, no queue id, no
 * configuration, no log line).  A real submission does all of this and
 * more; an MTA cannot be faster than this floor on the same machine, so
 * floor / reference bounds the ratio any implementation can reach.
 *
 * With -D, the floor of "dma -D" (submission and local delivery in the
 * foreground): the same, then the message appended to the existing file
 * MBOX after a "From " line, MBOX fsync'ed (a durable delivery), and the
 * spool file removed; no lock, no mailbox creation, no journal.
 * Exit 0, or 75 with a message on any failure.  Not installed.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
fail(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(75);
}

/* write_all - all of buf to fd, or fail naming what */
static void
write_all(int fd, const char *buf, size_t len, const char *what)
{
	ssize_t w;

	while (len > 0) {
		w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fail(what);
		}
		buf += w;
		len -= (size_t)w;
	}
}

/* deliver - append the spool file path to mbox, fsync it, remove path */
static void
deliver(const char *mbox, const char *path)
{
	static const char from[] = "From floor Thu Jan  1 00:00:00 1970\n";
	char buf[65536];
	ssize_t r;
	int in, out;

	in = open(path, O_RDONLY | O_CLOEXEC);
	out = open(mbox, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (in < 0)
		fail(path);
	if (out < 0)
		fail(mbox);
	write_all(out, from, sizeof(from) - 1, mbox);
	while ((r = read(in, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fail(path);
		}
		write_all(out, buf, (size_t)r, mbox);
	}
	write_all(out, "\n", 1, mbox);
	if (fsync(out) != 0 || close(out) != 0)
		fail(mbox);
	close(in);
	if (unlink(path) != 0)
		fail(path);
}

int
main(int argc, char **argv)
{
	char path[4096], buf[65536];
	const char *mbox = NULL;
	ssize_t r, w, off;
	unsigned n;
	int fd = -1, dfd;

	if (argc == 4 && strcmp(argv[1], "-D") == 0) {
		mbox = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: floor [-D MBOX] DIR <message\n");
		return (64);
	}
	for (n = 0; n < 1000 && fd < 0; n++) {
		snprintf(path, sizeof(path), "%s/F%ld.%u", argv[1], (long)getpid(), n);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			fail(path);
	}
	if (fd < 0)
		fail(path);
	while ((r = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fail("stdin");
		}
		for (off = 0; off < r; off += w) {
			w = write(fd, buf + off, (size_t)(r - off));
			if (w < 0) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				fail(path);
			}
		}
	}
	if (fsync(fd) != 0 || close(fd) != 0)
		fail(path);
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		fail(argv[1]);
	close(dfd);
	if (mbox != NULL)
		deliver(mbox, path);
	return (0);
}
