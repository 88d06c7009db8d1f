/*
 * floor.c - the least a durable submission costs: the benchmark's lower
 * bound for "sequential submissions", not an MTA.
 *
 * usage: floor DIR <message
 *
 * One process start (libc only, no OpenSSL), one new file DIR/F{pid}.{n}
 * created exclusively, stdin copied into it, the file fsync'ed, then the
 * directory fsync'ed: the two fsyncs that make a message survive a power
 * loss, and nothing else (no headers, no envelope, no queue id, no
 * configuration, no log line).  A real submission does all of this and
 * more; an MTA cannot be faster than this floor on the same machine, so
 * floor / reference bounds the ratio any implementation can reach.
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

int
main(int argc, char **argv)
{
	char path[4096], buf[65536];
	ssize_t r, w, off;
	unsigned n;
	int fd = -1, dfd;

	if (argc != 2) {
		fprintf(stderr, "usage: floor DIR <message\n");
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
	return (0);
}
