/*
 * t_smtp.c - smtp_deliver_feed() against a scripted SMTP server on the
 * loopback (a child process): one session for many messages, pipelined
 * command groups, per-recipient outcomes in one transaction, 452 "too
 * many recipients" continued in another transaction, SESSIONMESSAGES,
 * a reconnect after 421, a session refused for concurrency (yield), no
 * new connection once none could be opened, and bounded memory for a
 * large message with long lines.  The server writes a transcript (one
 * "CONN", "READ n" per read with n commands in it, "C cmd" and "MSG"
 * lines) that the tests read.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dma.h"
#include "tap.h"

/* ---- the scripted server ---------------------------------------------- */

struct srv {
	int	 pipelining;	/* offer PIPELINING */
	int	 rcpt_max;	/* 452 4.5.3 for more RCPTs in a transaction */
	int	 close_after;	/* 421 to the MAIL after so many messages */
	int	 greet421;	/* refuse every connection with 421 */
};

static int tfd = -1;		/* the transcript, O_APPEND */

static void __attribute__((__format__(__printf__, 1, 2)))
tr(const char *fmt, ...)
{
	char buf[1200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	if (write(tfd, buf, (size_t)n) < 0)
		_exit(3);
}

static void
say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		return;
}

/* session - one connection; returns when it ends */
static void
session(int fd, const struct srv *cfg, int conn)
{
	static char buf[65536], line[4096];
	size_t ll = 0, size = 0;
	int msgs = 0, nrcpt = 0, indata = 0, cmds, i, done = 0;
	ssize_t n;

	tr("CONN %d\n", conn);
	if (cfg->greet421) {
		say(fd, "421 4.7.0 too many connections\r\n");
		return;
	}
	say(fd, "220 t.test ESMTP\r\n");
	while (!done && (n = read(fd, buf, sizeof(buf))) > 0) {
		cmds = 0;
		for (i = 0; i < n && !done; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			if (ll > 0 && line[ll - 1] == '\r')
				ll--;
			line[ll] = '\0';
			if (indata) {
				if (strcmp(line, ".") == 0) {
					indata = 0;
					msgs++;
					tr("MSG rcpts=%d size=%zu\n", nrcpt, size);
					say(fd, "250 2.0.0 queued\r\n");
				} else
					size += ll + 2;
				ll = 0;
				continue;
			}
			cmds++;
			tr("C %s\n", line);
			if (strncmp(line, "EHLO", 4) == 0) {
				say(fd, "250-t.test\r\n");
				if (cfg->pipelining)
					say(fd, "250-PIPELINING\r\n");
				say(fd, "250-SIZE 0\r\n250 8BITMIME\r\n");
			} else if (strncmp(line, "MAIL", 4) == 0) {
				if (cfg->close_after > 0 && msgs == cfg->close_after) {
					say(fd, "421 4.7.0 enough for now\r\n");
					done = 1;
				} else
					say(fd, "250 2.1.0 ok\r\n");
				nrcpt = 0;
			} else if (strncmp(line, "RCPT", 4) == 0) {
				if (strstr(line, "bad") != NULL)
					say(fd, "550 5.1.1 no such user\r\n");
				else if (cfg->rcpt_max > 0 && nrcpt >= cfg->rcpt_max)
					say(fd, "452 4.5.3 too many recipients\r\n");
				else {
					nrcpt++;
					say(fd, "250 2.1.5 ok\r\n");
				}
			} else if (strcmp(line, "DATA") == 0) {
				if (nrcpt == 0)
					say(fd, "554 5.5.1 no valid recipients\r\n");
				else {
					say(fd, "354 go on\r\n");
					indata = 1;
					size = 0;
				}
			} else if (strcmp(line, "RSET") == 0) {
				nrcpt = 0;
				say(fd, "250 2.0.0 ok\r\n");
			} else if (strcmp(line, "QUIT") == 0) {
				say(fd, "221 2.0.0 bye\r\n");
				done = 1;
			} else
				say(fd, "250 ok\r\n");
			ll = 0;
		}
		if (cmds > 0)
			tr("READ %d\n", cmds);
	}
}

/* server_start - listen on the loopback, serve in a child; its port */
static pid_t
server_start(const struct srv *cfg, int *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int lfd, fd, conn = 0;
	pid_t pid;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, 16) != 0 || getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
		perror("server");
		exit(2);
	}
	*port = ntohs(sa.sin_port);
	if ((pid = fork()) == 0) {
		signal(SIGPIPE, SIG_IGN);
		for (;;) {
			if ((fd = accept(lfd, NULL, NULL)) < 0)
				_exit(0);
			session(fd, cfg, ++conn);
			close(fd);
		}
	}
	close(lfd);
	return (pid);
}

/* ---- a fake feed ------------------------------------------------------- */

struct tjob {
	struct qitem it[JOB_MAX];
	struct qitem *ptr[JOB_MAX];
	enum dlv res[JOB_MAX];
	struct dsn why[JOB_MAX];
	size_t	 n;
	int	 done;
};

struct tfeed {
	struct tjob *jobs;
	size_t	 njobs, taken;
};

static int
t_next(void *arg, struct dlv_job *j)
{
	struct tfeed *f = arg;
	struct tjob *t;
	size_t i;

	if (f->taken == f->njobs)
		return (0);
	t = &f->jobs[f->taken++];
	for (i = 0; i < t->n; i++) {
		t->ptr[i] = &t->it[i];
		t->res[i] = DLV_TEMPFAIL;
	}
	j->it = t->ptr;
	j->n = t->n;
	j->res = t->res;
	j->why = t->why;
	return (1);
}

static void
t_done(void *arg, struct dlv_job *j)
{
	struct tfeed *f = arg;
	size_t i;

	for (i = 0; i < f->njobs; i++) {
		if (f->jobs[i].ptr[0] == j->it[0])
			f->jobs[i].done++;
	}
}

/*
 * run - deliver njobs messages of nrcpt recipients each (names from
 * rcpts, cycled, or r0@x.test ...) of M file fp to a server configured
 * by cfg; the transcript is left in tfd.  Returns the feed (the caller
 * frees it) and *ret the return value.
 */
static struct tfeed *
run(const struct srv *cfg, FILE *fp, size_t njobs, size_t nrcpt,
    const char *const *rcpts, int may_yield, int *ret)
{
	static char addr[JOB_MAX * 8][64];
	struct tfeed *f = calloc(1, sizeof(*f));
	struct dlv_feed feed;
	char port[16];
	size_t i, k;
	int p;
	pid_t pid;

	if (ftruncate(tfd, 0) != 0)
		exit(2);
	pid = server_start(cfg, &p);
	snprintf(port, sizeof(port), "%d", p);
	config.port = p;
	f->jobs = calloc(njobs, sizeof(*f->jobs));
	f->njobs = njobs;
	for (i = 0; i < njobs; i++) {
		f->jobs[i].n = nrcpt;
		for (k = 0; k < nrcpt; k++) {
			struct qitem *it = &f->jobs[i].it[k];

			if (rcpts != NULL)
				snprintf(addr[k], sizeof(addr[k]), "%s", rcpts[k]);
			else
				snprintf(addr[k], sizeof(addr[k]), "r%zu@x.test", k);
			it->addr = addr[k];
			it->sender = (char *)(uintptr_t)"s@x.test";
			it->queueid = (char *)(uintptr_t)"q.1";
			it->mfp = fp;
			it->qfd = -1;
		}
	}
	feed.next = t_next;
	feed.done = t_done;
	feed.may_yield = NULL;
	feed.arg = f;
	*ret = smtp_deliver_feed(NULL, NULL, may_yield, &feed);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return (f);
}

/* count - lines of the transcript starting with prefix */
static int
count(const char *prefix)
{
	char line[1200];
	FILE *fp;
	int n = 0;

	lseek(tfd, 0, SEEK_SET);
	fp = fdopen(dup(tfd), "r");
	rewind(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			n++;
	}
	fclose(fp);
	return (n);
}

/* max_read - the most commands that arrived in one read */
static int
max_read(void)
{
	char line[1200];
	FILE *fp;
	int n = 0, k;

	lseek(tfd, 0, SEEK_SET);
	fp = fdopen(dup(tfd), "r");
	rewind(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "READ %d", &k) == 1 && k > n)
			n = k;
	}
	fclose(fp);
	return (n);
}

static int
all_res(const struct tfeed *f, enum dlv want)
{
	size_t i, k;

	for (i = 0; i < f->njobs; i++) {
		if (f->jobs[i].done != 1)
			return (0);
		for (k = 0; k < f->jobs[i].n; k++) {
			if (f->jobs[i].res[k] != want)
				return (0);
		}
	}
	return (1);
}

static void
feed_free(struct tfeed *f)
{
	free(f->jobs);
	free(f);
}

static FILE *
message(void)
{
	FILE *fp = tmpfile();

	fputs("Subject: t\n\nbody\n.dot\n", fp);
	fflush(fp);
	return (fp);
}

/* vm_hwm - peak resident set of this process, kB */
static long
vm_hwm(void)
{
	char line[256];
	FILE *fp = fopen("/proc/self/status", "r");
	long kb = -1;

	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	}
	if (fp != NULL)
		fclose(fp);
	return (kb);
}

/*
 * big_child - in a fresh process, deliver an M file of mb MiB whose
 * body lines are line bytes long; its peak RSS in kB (or -1), and in
 * *base the peak before the delivery
 */
static long
big_child(size_t mb, size_t line, long *base)
{
	struct srv cfg = { 1, 0, 0, 0 };
	int p[2], ret;
	long kb[2] = { -1, -1 };
	pid_t pid;

	if (pipe(p) != 0)
		return (-1);
	if ((pid = fork()) == 0) {
		FILE *fp = tmpfile();
		struct tfeed *f;
		char *chunk = malloc(65536);
		size_t left = mb << 20, col = 0, k, i;

		memset(chunk, 'a', 65536);
		fputs("Subject: big\n\n", fp);
		while (left > 0) {
			k = left < 65536 ? left : 65536;
			if (col + k > line)
				k = line - col;
			fwrite(chunk, 1, k, fp);
			col += k;
			left -= k;
			if (col == line) {
				fputc('\n', fp);
				col = 0;
			}
		}
		fflush(fp);
		free(chunk);
		*base = vm_hwm();
		f = run(&cfg, fp, 1, 1, NULL, 0, &ret);
		kb[0] = *base;
		kb[1] = all_res(f, DLV_OK) ? vm_hwm() : -1;
		i = (size_t)write(p[1], kb, sizeof(kb));
		(void)i;
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], kb, sizeof(kb)) != sizeof(kb))
		kb[0] = kb[1] = -1;
	close(p[0]);
	waitpid(pid, NULL, 0);
	*base = kb[0];
	return (kb[1]);
}

int
main(void)
{
	static const char *const bad3[] = { "a@x.test", "bad@x.test", "c@x.test" };
	struct srv cfg;
	struct tfeed *f;
	FILE *fp = message();
	char tpl[] = "/tmp/t_smtp.XXXXXX";
	long small, big, sbase, bbase;
	int ret;

	signal(SIGPIPE, SIG_IGN);
	if ((tfd = mkstemp(tpl)) < 0)
		return (2);
	unlink(tpl);
	if (fcntl(tfd, F_SETFL, O_APPEND) != 0)
		return (2);
	conf_init(&config);
	config.smarthost = xstrdup("127.0.0.1");
	config.attempttimeout = 30;

	/* one session, pipelined groups */
	memset(&cfg, 0, sizeof(cfg));
	cfg.pipelining = 1;
	f = run(&cfg, fp, 5, 2, NULL, 0, &ret);
	ok(all_res(f, DLV_OK), "pipelined: 5 messages of 2 recipients delivered");
	is_int(count("CONN"), 1, "pipelined: one connection");
	is_int(count("C EHLO"), 1, "pipelined: one EHLO");
	is_int(count("MSG rcpts=2"), 5, "pipelined: 5 transactions of 2 recipients");
	is_int(count("C RSET"), 0, "pipelined: no RSET");
	is_int(max_read(), 4, "pipelined: MAIL, 2 RCPT and DATA in one read");
	is_int(ret, 0, "pipelined: returns 0");
	feed_free(f);

	/* lock-step without PIPELINING */
	cfg.pipelining = 0;
	f = run(&cfg, fp, 3, 3, NULL, 0, &ret);
	ok(all_res(f, DLV_OK), "lock-step: delivered");
	is_int(count("CONN"), 1, "lock-step: one connection");
	is_int(max_read(), 1, "lock-step: one command per read");
	is_int(count("MSG rcpts=3"), 3, "lock-step: 3 transactions of 3 recipients");
	feed_free(f);

	/* one recipient refused: only it fails, the others get one DATA */
	cfg.pipelining = 1;
	f = run(&cfg, fp, 1, 3, bad3, 0, &ret);
	is_int(f->jobs[0].res[0], DLV_OK, "550 for one: the first delivered");
	is_int(f->jobs[0].res[1], DLV_PERMFAIL, "550 for one: it bounces");
	is_str(f->jobs[0].why[1].code, "5.1.1", "550 for one: its status code");
	ok(strstr(f->jobs[0].why[1].text, "no such user") != NULL,
	    "550 for one: the server's text");
	is_int(f->jobs[0].res[2], DLV_OK, "550 for one: the third delivered");
	is_int(count("MSG rcpts=2"), 1, "550 for one: one message to the two others");
	is_int(count("C DATA"), 1, "550 for one: one DATA");
	feed_free(f);

	/* every recipient refused: no message, RSET before the next one */
	{
		static const char *const allbad[] = { "bad1@x.test", "bad2@x.test" };

		f = run(&cfg, fp, 2, 2, allbad, 0, &ret);
		ok(all_res(f, DLV_PERMFAIL), "all refused: both bounce");
		is_int(count("MSG"), 0, "all refused: nothing sent");
		is_int(count("C RSET"), 1, "all refused: RSET between the two");
		is_int(count("CONN"), 1, "all refused: one connection");
		feed_free(f);
	}

	/* 452 for the third RCPT: the rest in another transaction */
	cfg.rcpt_max = 2;
	f = run(&cfg, fp, 1, 5, NULL, 0, &ret);
	ok(all_res(f, DLV_OK), "452: all 5 recipients delivered");
	is_int(count("C MAIL"), 3, "452: three transactions (2 + 2 + 1)");
	is_int(count("MSG rcpts=2"), 2, "452: two of 2 recipients");
	is_int(count("MSG rcpts=1"), 1, "452: one of 1");
	is_int(count("CONN"), 1, "452: on one connection");
	cfg.pipelining = 0;
	f = run(&cfg, fp, 1, 5, NULL, 0, &ret);
	ok(all_res(f, DLV_OK), "452 lock-step: all delivered");
	is_int(count("C RCPT"), 7, "452 lock-step: no RCPT after a 452 in a transaction");
	is_int(count("C MAIL"), 3, "452 lock-step: three transactions");
	feed_free(f);
	cfg.rcpt_max = 0;
	cfg.pipelining = 1;

	/* SESSIONMESSAGES */
	config.sessionmessages = 2;
	f = run(&cfg, fp, 5, 1, NULL, 0, &ret);
	ok(all_res(f, DLV_OK), "SESSIONMESSAGES=2: 5 delivered");
	is_int(count("CONN"), 3, "SESSIONMESSAGES=2: 3 connections");
	is_int(count("C QUIT"), 3, "SESSIONMESSAGES=2: each ended with QUIT");
	feed_free(f);
	config.sessionmessages = 1000;

	/* 421 at the third MAIL: reconnect, each message once */
	cfg.close_after = 2;
	f = run(&cfg, fp, 5, 1, NULL, 0, &ret);
	ok(all_res(f, DLV_OK), "421: all 5 delivered");
	is_int(count("MSG"), 5, "421: each message once");
	is_int(count("CONN"), 3, "421: 3 connections (2 + 2 + 1 messages)");
	feed_free(f);
	cfg.close_after = 0;

	/* refused for concurrency */
	cfg.greet421 = 1;
	f = run(&cfg, fp, 3, 2, NULL, 1, &ret);
	is_int(ret, SMTP_YIELD, "421 greeting, may yield: SMTP_YIELD");
	is_int(f->taken, 1, "421 greeting, may yield: one job taken");
	is_int(f->jobs[0].res[0], DLV_REQUEUE, "421 greeting, may yield: requeued");
	is_int(f->jobs[0].res[1], DLV_REQUEUE, "421 greeting, may yield: both entries");
	is_int(f->jobs[0].done, 1, "421 greeting, may yield: the job handed back");
	feed_free(f);
	f = run(&cfg, fp, 3, 2, NULL, 0, &ret);
	is_int(ret, 0, "421 greeting: returns 0");
	ok(all_res(f, DLV_TEMPFAIL), "421 greeting: every job deferred");
	is_int(count("CONN"), 1, "421 greeting: no new connection for later jobs");
	ok(strstr(f->jobs[2].why[0].text, "too many connections") != NULL,
	    "421 greeting: later jobs get the same reason");
	feed_free(f);

	/* memory does not grow with the message or its lines */
	/* (the absolute peak of a delivery process: test/integration) */
#if defined(__SANITIZE_ADDRESS__)
	ok(1, "large message # SKIP the sanitizer's memory is not ours");
	(void)small; (void)big; (void)sbase; (void)bbase;
	return (done_testing());
#endif
	small = big_child(1, 100, &sbase);
	big = big_child(100, 10 << 20, &bbase);
	ok(small > 0 && big > 0, "large message: delivered (%ld kB, %ld kB)", small, big);
	ok(big - bbase < 1024, "large message: 100 MiB with 10 MiB lines adds "
	    "%ld kB to the peak RSS", big - bbase);
	ok(big - bbase <= small - sbase + 256, "large message: about what a 1 MiB "
	    "one adds (%ld kB, %ld kB)", big - bbase, small - sbase);
	return (done_testing());
}
