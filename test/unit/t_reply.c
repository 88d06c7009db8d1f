/*
 * t_reply.c - smtp_read_reply() on byte streams fed through a pipe by a
 * writer process (so replies larger than the pipe buffer work), plus the
 * memory source used by fuzzers.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"
#include "tap.h"


/* feed - a connection reading len bytes of buf, then EOF */
static pid_t
feed(struct smtp_conn *c, const char *buf, size_t len)
{
	int p[2];
	pid_t pid;

	if (pipe(p) != 0) {
		perror("pipe");
		exit(2);
	}
	if ((pid = fork()) == 0) {
		size_t off = 0;

		close(p[0]);
		signal(SIGPIPE, SIG_DFL);
		while (off < len) {
			ssize_t w = write(p[1], buf + off, len - off);

			if (w <= 0)
				_exit(0);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(p[1]);
	smtp_conn_fd(c, p[0]);
	return (pid);
}

static void
done(struct smtp_conn *c, pid_t pid)
{
	smtp_conn_close(c);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* readb - one reply from a byte string (length given: NUL inside) */
static int
readb(const char *buf, size_t len, struct smtp_reply *r)
{
	struct smtp_conn c;
	pid_t pid = feed(&c, buf, len);
	int ret;

	ret = smtp_read_reply(&c, 5, r);
	done(&c, pid);
	return (ret);
}

static int
reads(const char *buf, struct smtp_reply *r)
{
	return (readb(buf, strlen(buf), r));
}

struct tcase {
	const char *name;
	const char *in;
	int ret;
	int code;
	const char *text;	/* NULL: not checked */
	int nlines;
};

static const struct tcase cases[] = {
	{ "single line", "250 OK\r\n", SMTP_ROK, 250, "250 OK", 1 },
	{ "multi-line", "250-mx.example\r\n250-SIZE 100\r\n250 8BITMIME\r\n",
	    SMTP_ROK, 250, "250-mx.example\n250-SIZE 100\n250 8BITMIME", 3 },
	{ "bare LF", "220 hi there\n", SMTP_ROK, 220, "220 hi there", 1 },
	{ "mixed LF/CRLF", "250-a\n250 b\r\n", SMTP_ROK, 250, "250-a\n250 b", 2 },
	{ "code only", "250\r\n", SMTP_ROK, 250, "250", 1 },
	{ "code only, continuation before", "250-x\r\n250\r\n", SMTP_ROK, 250,
	    "250-x\n250", 2 },
	{ "code and space", "354 \r\n", SMTP_ROK, 354, "354 ", 1 },
	{ "4xx", "451 4.3.0 try later\r\n", SMTP_ROK, 451, "451 4.3.0 try later", 1 },
	{ "5xx", "550 5.1.1 no such user\r\n", SMTP_ROK, 550, NULL, 1 },
	{ "CR inside text", "250 a\rb\r\n", SMTP_ROK, 250, "250 a?b", 1 },
	{ "CRCR LF keeps one CR as text", "250 a\r\r\n", SMTP_ROK, 250, "250 a?", 1 },
	{ "ESC and DEL sanitised", "250 \033[31mred\177\r\n", SMTP_ROK, 250,
	    "250 ?[31mred?", 1 },
	{ "TAB and 8-bit kept", "250 a\tb\xc3\xa9\r\n", SMTP_ROK, 250,
	    "250 a\tb\xc3\xa9", 1 },
	{ "mixed codes", "250-a\r\n251 b\r\n", SMTP_RSYNTAX, 0, NULL, 1 },
	{ "mixed classes", "250-a\r\n550 b\r\n", SMTP_RSYNTAX, 0, NULL, 1 },
	{ "garbage", "hello world\r\n", SMTP_RSYNTAX, 0, NULL, 0 },
	{ "two digits", "25 x\r\n", SMTP_RSYNTAX, 0, NULL, 0 },
	{ "bad separator", "250x\r\n", SMTP_RSYNTAX, 0, NULL, 0 },
	{ "bad first digit", "650 x\r\n", SMTP_RSYNTAX, 0, NULL, 0 },
	{ "1yz", "150 x\r\n", SMTP_RSYNTAX, 0, NULL, 0 },
	{ "bad second digit", "290 x\r\n", SMTP_RSYNTAX, 0, NULL, 0 },
	{ "empty line", "\r\n", SMTP_RSYNTAX, 0, NULL, 0 },
	{ "leading space", " 250 x\r\n", SMTP_RSYNTAX, 0, NULL, 0 },
	{ "empty stream", "", SMTP_REOF, 0, "connection closed by the server", 0 },
	{ "EOF mid-line", "250 abc", SMTP_REOF, 0, NULL, 0 },
	{ "EOF mid-reply", "250-abc\r\n", SMTP_REOF, 0,
	    "connection closed by the server in the middle of a reply", 1 },
};

static void
test_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *t = &cases[i];
		struct smtp_reply r;
		int ret;

		memset(&r, 0, sizeof(r));
		ret = reads(t->in, &r);
		is_int(ret, t->ret, "%s: return", t->name);
		is_int(r.code, t->code, "%s: code", t->name);
		if (t->text != NULL)
			is_str(r.text, t->text, "%s: text", t->name);
		is_int(r.nlines, t->nlines, "%s: lines", t->name);
	}
}

static void
test_nul(void)
{
	static const char in[] = "250-a\0b\r\n250 c\0\r\n";
	struct smtp_reply r;

	memset(&r, 0, sizeof(r));
	is_int(readb(in, sizeof(in) - 1, &r), SMTP_ROK, "NUL: read");
	is_str(r.text, "250-a?b\n250 c?", "NUL: replaced");
	ok(memchr(r.text, '\0', strlen(r.text) + 1) == r.text + strlen(r.text),
	    "NUL: no NUL inside the text");
}

/* line_of - "250 " plus fill x to make a line of total bytes with CRLF/LF */
static char *
line_of(size_t total, int crlf)
{
	char *s = malloc(total + 1);
	size_t end = total - (crlf ? 2 : 1);

	memcpy(s, "250 ", 4);
	memset(s + 4, 'x', end - 4);
	if (crlf)
		memcpy(s + end, "\r\n", 2);
	else
		s[end] = '\n';
	s[total] = '\0';
	return (s);
}

static void
test_lengths(void)
{
	struct smtp_reply r;
	char *s;

	memset(&r, 0, sizeof(r));
	s = line_of(SMTP_LINE_MAX, 1);
	is_int(reads(s, &r), SMTP_ROK, "line of exactly %d bytes with CRLF", SMTP_LINE_MAX);
	is_int(strlen(r.text), REASON_MAX - 1 < SMTP_LINE_MAX - 2 ?
	    REASON_MAX - 1 : SMTP_LINE_MAX - 2, "its text is kept");
	free(s);
	s = line_of(SMTP_LINE_MAX, 0);
	is_int(reads(s, &r), SMTP_ROK, "line of exactly %d bytes with LF", SMTP_LINE_MAX);
	free(s);
	s = line_of(SMTP_LINE_MAX + 1, 1);
	is_int(reads(s, &r), SMTP_RLONG, "line of %d bytes: too long", SMTP_LINE_MAX + 1);
	is_int(r.code, 0, "too long: no code");
	free(s);
	/* A megabyte without a newline must stop at the limit, not buffer it. */
	s = malloc(1 << 20);
	memset(s, 'y', 1 << 20);
	memcpy(s, "250 ", 4);
	is_int(readb(s, 1 << 20, &r), SMTP_RLONG, "endless line: too long");
	free(s);
}

static char *
lines(int n, const char *last)
{
	size_t cap = (size_t)n * 16 + 64, o = 0;
	char *s = malloc(cap);
	int i;

	for (i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, cap - o, "250-line %d\r\n", i);
	snprintf(s + o, cap - o, "%s", last);
	return (s);
}

static int lines_seen, last_idx;

static void
count_line(void *arg, int idx, const char *line, size_t len)
{
	(void)arg;
	if (len >= 4 && line[0] == '2')
		lines_seen++;
	last_idx = idx;
}

static void
test_many(void)
{
	struct smtp_reply r;
	char *s;

	s = lines(SMTP_REPLY_LINES - 1, "250 end\r\n");
	memset(&r, 0, sizeof(r));
	r.online = count_line;
	lines_seen = 0;
	is_int(reads(s, &r), SMTP_ROK, "%d lines accepted", SMTP_REPLY_LINES);
	is_int(r.nlines, SMTP_REPLY_LINES, "line count");
	is_int(lines_seen, SMTP_REPLY_LINES, "callback saw every line");
	is_int(last_idx, SMTP_REPLY_LINES - 1, "callback index");
	ok(strlen(r.text) < REASON_MAX, "text capped below REASON_MAX");
	ok(strncmp(r.text, "250-line 0\n250-line 1\n", 22) == 0, "text starts with the first lines");
	free(s);

	s = lines(SMTP_REPLY_LINES, "250 end\r\n");
	memset(&r, 0, sizeof(r));
	is_int(reads(s, &r), SMTP_RMANY, "%d lines refused", SMTP_REPLY_LINES + 1);
	is_int(r.code, 0, "too many: no code");
	free(s);

	/* An endless reply: stops after the limit, never waits for the end. */
	s = lines(100000, "");
	is_int(reads(s, &r), SMTP_RMANY, "endless reply refused");
	free(s);
}

static void
test_timeout(void)
{
	struct smtp_conn c;
	struct smtp_reply r;
	int p[2];
	time_t t0;
	int ret;

	memset(&r, 0, sizeof(r));
	if (pipe(p) != 0)
		return;
	smtp_conn_fd(&c, p[0]);
	if (write(p[1], "250-x\r\n", 7) != 7)
		return;
	t0 = time(NULL);
	ret = smtp_read_reply(&c, 1, &r);
	is_int(ret, SMTP_RTIMEOUT, "silent server: timeout");
	ok(time(NULL) - t0 <= 3, "timeout within its time");
	ok(strstr(r.text, "timeout") != NULL, "timeout text: %s", r.text);
	ok(c.broken, "connection marked broken");
	smtp_conn_close(&c);
	close(p[1]);
}

/* mono_ms - CLOCK_MONOTONIC in ms, the clock of smtp_conn.deadline */
static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * test_deadline - the deadline of the delivery attempt cuts every wait
 * shorter than its own timeout, for reads and writes, and a reply
 * timed out by it says so.
 */
static void
test_deadline(void)
{
	struct smtp_conn c;
	struct smtp_reply r;
	int p[2];

	memset(&r, 0, sizeof(r));
	if (pipe(p) != 0)
		return;
	smtp_conn_fd(&c, p[0]);
	c.deadline = mono_ms() + 200;
	if (write(p[1], "250-x\r\n", 7) != 7)
		return;
	is_int(smtp_read_reply(&c, 30, &r), SMTP_RTIMEOUT,
	    "reply cut by the attempt deadline");
	is_str(r.text, "delivery attempt deadline reached waiting for the "
	    "server's reply", "deadline text");
	ok(c.broken && c.desync, "connection broken, still open for QUIT");
	smtp_conn_close(&c);
	close(p[1]);

	if (pipe(p) != 0)
		return;
	smtp_conn_fd(&c, p[0]);
	c.deadline = mono_ms() - 1;
	if (write(p[1], "220 late\r\n", 10) != 10)
		return;
	is_int(smtp_read_reply(&c, 30, &r), SMTP_RTIMEOUT,
	    "past deadline: nothing more is read");
	smtp_conn_close(&c);

	smtp_conn_fd(&c, p[1]);
	c.deadline = mono_ms() - 1;
	is_int(smtp_conn_put(&c, "QUIT\r\n", 6, 30), 0, "put only buffers");
	is_int(smtp_conn_flush(&c, 30), -1, "past deadline: no write");
	is_int(c.err, ETIMEDOUT, "write error is a timeout");
	c.wlen = 0;
	smtp_conn_close(&c);
}

static void
test_sequence(void)
{
	static const char in[] = "220 greet\r\n250-a\r\n250 b\r\n354 go\r\n";
	struct smtp_conn c;
	struct smtp_reply r;
	pid_t pid = feed(&c, in, sizeof(in) - 1);

	memset(&r, 0, sizeof(r));
	is_int(smtp_read_reply(&c, 5, &r), SMTP_ROK, "sequence 1");
	is_int(r.code, 220, "sequence 1 code");
	is_int(smtp_read_reply(&c, 5, &r), SMTP_ROK, "sequence 2");
	is_str(r.text, "250-a\n250 b", "sequence 2 text");
	is_int(smtp_read_reply(&c, 5, &r), SMTP_ROK, "sequence 3");
	is_int(r.code, 354, "sequence 3 code");
	is_int(smtp_read_reply(&c, 5, &r), SMTP_REOF, "then EOF");
	is_int(smtp_read_reply(&c, 5, &r), SMTP_REOF, "EOF again, no hang");
	done(&c, pid);
}

static void
test_mem(void)
{
	static const char in[] = "250-x\r\n250 y\r\n";
	struct smtp_conn c;
	struct smtp_reply r;

	memset(&r, 0, sizeof(r));
	smtp_conn_mem(&c, in, sizeof(in) - 1);
	is_int(smtp_read_reply(&c, 5, &r), SMTP_ROK, "memory source");
	is_str(r.text, "250-x\n250 y", "memory source text");
	is_int(smtp_read_reply(&c, 5, &r), SMTP_REOF, "memory source EOF");
	smtp_conn_close(&c);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_table();
	test_nul();
	test_lengths();
	test_many();
	test_timeout();
	test_deadline();
	test_sequence();
	test_mem();
	return (done_testing());
}
