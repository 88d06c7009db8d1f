/*
 * t_mbox.c - local_write_mbox(): From_ line, >From quoting, framing,
 * binary safety and the corrupted-queue-file case.  Writes only into a
 * mkdtemp directory.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"
#include "tap.h"

static char tmpdir[] = "/tmp/t_mbox.XXXXXX";
static int nfile;

/* new_mbox - a fresh empty file opened O_APPEND, as local delivery does */
static int
new_mbox(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/mbox%d", tmpdir, nfile++);
	return (open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND, 0600));
}

/* msgfile - a FILE holding exactly len bytes of s */
static FILE *
msgfile(const char *s, size_t len)
{
	FILE *fp = tmpfile();

	if (fp == NULL)
		return (NULL);
	if (len > 0 && fwrite(s, 1, len, fp) != len) {
		fclose(fp);
		return (NULL);
	}
	/* leave it positioned at the end: local_write_mbox must rewind */
	return (fp);
}

/* slurp - the whole content of fd; *len set; caller frees */
static char *
slurp(int fd, size_t *len)
{
	struct stat st;
	char *buf;

	*len = 0;
	if (fstat(fd, &st) != 0)
		return (NULL);
	buf = xmalloc((size_t)st.st_size + 1);
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		return (NULL);
	}
	buf[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	return (buf);
}

/* deliver - write msg with sender at when into a new file; result bytes */
static char *
deliver(const char *msg, size_t msglen, const char *sender, time_t when,
    int *ret, size_t *outlen)
{
	FILE *fp = msgfile(msg, msglen);
	int fd = new_mbox();
	char *out;

	*ret = 99;
	*outlen = 0;
	if (fp == NULL || fd < 0) {
		if (fp != NULL)
			fclose(fp);
		if (fd >= 0)
			close(fd);
		return (NULL);
	}
	*ret = local_write_mbox(fd, fp, sender, when, NULL);
	out = slurp(fd, outlen);
	close(fd);
	fclose(fp);
	return (out);
}

#define T0	1700000000	/* Tue Nov 14 22:13:20 2023 UTC */
#define FROM0	"From a@b Tue Nov 14 22:13:20 2023\n"

static void
test_simple(void)
{
	const char *msg = "Subject: hi\n\nbody\n";
	const char *want = FROM0 "Subject: hi\n\nbody\n\n";
	size_t len;
	int r;
	char *out = deliver(msg, strlen(msg), "a@b", T0, &r, &len);

	is_int(r, 0, "simple message: returns 0");
	is_str(out, want, "simple message: exact bytes");
	is_int(len, strlen(want), "simple message: length");
	free(out);
}

static void
test_fromline(void)
{
	static const struct {
		time_t when;
		const char *sender;
		const char *want;
	} cases[] = {
		{ T0, "a@b", FROM0 },
		/* single-digit day: space padded, as ctime(3) */
		{ 1704542706, "tuser@vm", "From tuser@vm Sat Jan  6 12:05:06 2024\n" },
		{ 1704542706, "", "From MAILER-DAEMON Sat Jan  6 12:05:06 2024\n" },
		{ 1704542706, NULL, "From MAILER-DAEMON Sat Jan  6 12:05:06 2024\n" },
		{ 0, "x@y", "From x@y Thu Jan  1 00:00:00 1970\n" },
		{ 951782400, "x@y", "From x@y Tue Feb 29 00:00:00 2000\n" },
		{ 1703980799, "x@y", "From x@y Sat Dec 30 23:59:59 2023\n" },
		/* control bytes in the sender cannot break the line */
		{ 0, "a\tb", "From a?b Thu Jan  1 00:00:00 1970\n" },
	};
	size_t i, len;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[256];
		char *out = deliver("x\n", 2, cases[i].sender, cases[i].when, &r, &len);

		snprintf(want, sizeof(want), "%sx\n\n", cases[i].want);
		is_int(r, 0, "from line %zu: returns 0", i);
		is_str(out, want, "from line %zu: %.*s", i,
		    (int)strlen(cases[i].want) - 1, cases[i].want);
		free(out);
	}
}

static void
test_quoting(void)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "From here\n", ">From here\n" },
		{ ">From x\n", ">>From x\n" },
		{ ">>>From x\n", ">>>>From x\n" },
		{ "> From x\n", "> From x\n" },
		{ "Fromtal\n", "Fromtal\n" },
		{ "from x\n", "from x\n" },
		{ "FROM x\n", "FROM x\n" },
		{ "From\n", "From\n" },
		{ "From \n", ">From \n" },
		{ ">From\n", ">From\n" },
		{ ">\n", ">\n" },
		{ " From x\n", " From x\n" },
		{ "x From y\n", "x From y\n" },
		{ "\n", "\n" },
	};
	size_t i, len;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[128], want[256];
		char *out;

		/* the quoted line in the middle of a message, after a blank line */
		snprintf(msg, sizeof(msg), "S: q\n\n%sEnd\n", cases[i].in);
		snprintf(want, sizeof(want), FROM0 "S: q\n\n%sEnd\n\n", cases[i].out);
		out = deliver(msg, strlen(msg), "a@b", T0, &r, &len);
		is_int(r, 0, "quote %zu: returns 0", i);
		is_str(out, want, "quote %zu: \"%.*s\"", i,
		    (int)strlen(cases[i].in) - 1, cases[i].in);
		free(out);
	}
	/* a From line as the very first line of the message is quoted too */
	{
		char *out = deliver("From x\n", 7, "a@b", T0, &r, &len);

		is_str(out, FROM0 ">From x\n\n", "quote: first line");
		free(out);
	}
}

static void
test_two_messages(void)
{
	const char *m1 = "Subject: one\n\nbody one\n";
	const char *m2 = "Subject: two\n\nFrom me\n";
	const char *want = FROM0 "Subject: one\n\nbody one\n\n"
	    "From c@d Tue Nov 14 22:13:21 2023\nSubject: two\n\n>From me\n\n";
	FILE *f1 = msgfile(m1, strlen(m1)), *f2 = msgfile(m2, strlen(m2));
	int fd = new_mbox();
	size_t len;
	char *out;

	is_int(local_write_mbox(fd, f1, "a@b", T0, NULL), 0, "two messages: first");
	is_int(local_write_mbox(fd, f2, "c@d", T0 + 1, NULL), 0, "two messages: second");
	out = slurp(fd, &len);
	is_str(out, want, "two messages: blank line after each, none before");
	free(out);
	close(fd);
	fclose(f1);
	fclose(f2);
}

static void
test_binary(void)
{
	size_t n = 10000, len, i;
	char *msg = xmalloc(n + 64), *want = xmalloc(n + 128), *out;
	size_t mlen = 0, wlen = 0;
	int r, bad = 0;

	/* a 10000-byte line starting with "From " and a line with a NUL byte */
	memcpy(msg, "From ", 5);
	for (i = 5; i < n; i++)
		msg[i] = (char)('a' + i % 26);
	msg[n] = '\n';
	mlen = n + 1;
	memcpy(msg + mlen, "nul\0byte\n", 9);
	mlen += 9;

	wlen = strlen(FROM0);
	memcpy(want, FROM0, wlen);
	want[wlen++] = '>';
	memcpy(want + wlen, msg, mlen);
	wlen += mlen;
	want[wlen++] = '\n';

	out = deliver(msg, mlen, "a@b", T0, &r, &len);
	is_int(r, 0, "binary: returns 0");
	is_int(len, wlen, "binary: length");
	if (out == NULL || len != wlen || memcmp(out, want, wlen) != 0)
		bad = 1;
	ok(!bad, "binary: 10000-byte line and NUL byte intact");
	free(out);
	free(msg);
	free(want);
}

static void
test_big(void)
{
	/* more than the output buffer: many lines and one 200 kB line */
	size_t n = 200000, len, i;
	char *msg = xmalloc(n + 1), *out;
	int r;

	for (i = 0; i < n; i++)
		msg[i] = i % 71 == 70 ? '\n' : 'x';
	msg[n - 1] = '\n';
	out = deliver(msg, n, "a@b", T0, &r, &len);
	is_int(r, 0, "big: returns 0");
	ok(out != NULL && len == strlen(FROM0) + n + 1 &&
	    memcmp(out + strlen(FROM0), msg, n) == 0 && out[len - 1] == '\n',
	    "big: content intact");
	free(out);
	memset(msg, 'y', n);
	msg[n - 1] = '\n';
	out = deliver(msg, n, "a@b", T0, &r, &len);
	ok(r == 0 && out != NULL && len == strlen(FROM0) + n + 1 &&
	    memcmp(out + strlen(FROM0), msg, n) == 0, "big: one 200 kB line");
	free(out);
	free(msg);
}

static void
test_corrupt(void)
{
	static const struct {
		const char *msg;
		size_t len;
		int want;
	} cases[] = {
		{ "Subject: x\n\nbody", 16, -2 },
		{ "x", 1, -2 },
		{ "a\nb\0", 4, -2 },
		{ "", 0, 0 },		/* empty message: From_ line and blank line */
		{ "\n", 1, 0 },
	};
	size_t i, len;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = deliver(cases[i].msg, cases[i].len, "a@b", T0, &r, &len);

		is_int(r, cases[i].want, "corrupt %zu: returns %d", i, cases[i].want);
		free(out);
	}
}

static void
test_ioerror(void)
{
	FILE *fp = msgfile("x\n", 2);
	int fd = open("/dev/null", O_RDONLY);

	errno = 0;
	is_int(local_write_mbox(fd, fp, "a@b", T0, NULL), -1, "read-only fd: returns -1");
	ok(errno == EBADF, "read-only fd: errno EBADF");
	close(fd);
	fd = open("/dev/full", O_WRONLY);
	if (fd >= 0) {
		errno = 0;
		is_int(local_write_mbox(fd, fp, "a@b", T0, NULL), -1, "/dev/full: returns -1");
		ok(errno == ENOSPC, "/dev/full: errno ENOSPC");
		close(fd);
	}
	fclose(fp);
}

/*
 * test_splits - a line to quote (or not) whose start lies at every
 * position around the boundaries of the writer's reads, so that the
 * ">*From " prefix is cut between two reads in every possible place.
 */
static void
test_splits(void)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ ">>From x\n", ">>>From x\n" },
		{ "From \n", ">From \n" },
		{ ">>Frox\n", ">>Frox\n" },
		{ ">>>>\n", ">>>>\n" },
	};
	size_t c, pad, len, mlen, wlen;
	char *msg, *want, *out;
	int r, bad;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		bad = 0;
		for (pad = 16370; pad <= 16390; pad++) {
			/* a line of pad - 1 bytes and its newline, then the case */
			msg = xmalloc(pad + 64);
			want = xmalloc(pad + 128);
			memset(msg, 'a', pad - 1);
			msg[pad - 1] = '\n';
			mlen = pad + (size_t)sprintf(msg + pad, "%send\n", cases[c].in);
			wlen = (size_t)sprintf(want, "%s", FROM0);
			memcpy(want + wlen, msg, pad);
			wlen += pad;
			wlen += (size_t)sprintf(want + wlen, "%send\n\n", cases[c].out);
			out = deliver(msg, mlen, "a@b", T0, &r, &len);
			if (r != 0 || out == NULL || len != wlen ||
			    memcmp(out, want, wlen) != 0) {
				if (!bad)
					printf("# case %zu, line start at %zu\n", c, pad);
				bad = 1;
			}
			free(out);
			free(msg);
			free(want);
		}
		ok(!bad, "split reads: \"%.*s\" at every offset around 16 KiB",
		    (int)strlen(cases[c].in) - 1, cases[c].in);
	}
	/* a last line that is only a prefix of ">*From " lacks its newline */
	{
		char *o = deliver("x\n>>Fro", 8, "a@b", T0, &r, &len);

		is_int(r, -2, "last line \">>Fro\" without newline: -2");
		free(o);
	}
}

/*
 * test_longline_rss - a 100 MiB message that is one line: the writer's
 * memory does not grow with it (maximum resident size grows < 8 MiB).
 */
static void
test_longline_rss(void)
{
	const off_t size = (off_t)100 << 20;
	struct rusage before, after;
	FILE *fp = tmpfile();
	int fd = open("/dev/null", O_WRONLY);
	off_t len = 0;
	int r;

	if (fp == NULL || fd < 0 || ftruncate(fileno(fp), size - 1) != 0 ||
	    fseeko(fp, 0, SEEK_END) != 0 || fputc('\n', fp) == EOF ||
	    fflush(fp) != 0) {
		ok(0, "100 MiB line: test file");
		if (fp != NULL)
			fclose(fp);
		if (fd >= 0)
			close(fd);
		return;
	}
	getrusage(RUSAGE_SELF, &before);
	r = local_write_mbox(fd, fp, "a@b", T0, &len);
	getrusage(RUSAGE_SELF, &after);
	is_int(r, 0, "100 MiB line: written");
	ok(len == (off_t)strlen(FROM0) + size + 1, "100 MiB line: length %jd",
	    (intmax_t)len);
	ok(after.ru_maxrss - before.ru_maxrss < 8192,
	    "100 MiB line: resident size grew by %ld KiB (< 8 MiB)",
	    after.ru_maxrss - before.ru_maxrss);
	close(fd);
	fclose(fp);
}

int
main(void)
{
	char cmd[PATH_MAX + 16];

	setenv("TZ", "UTC", 1);
	tzset();
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return (1);
	}
	test_simple();
	test_fromline();
	test_quoting();
	test_two_messages();
	test_binary();
	test_big();
	test_corrupt();
	test_ioerror();
	test_splits();
	test_longline_rss();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return (done_testing());
}
