/*
 * token.c - the OAuth 2.0 access token of an auth.conf entry.
 *
 * Owns getting the bearer token that XOAUTH2 and OAUTHBEARER (net.c)
 * send: the static token of a "token:" line, or the first output line of
 * the command of a "tokencmd:" line.  The command is an absolute path and
 * arguments split at blanks (no shell, no quoting, no PATH search), run
 * with execve under the caller's uid with the group mail dropped (real,
 * effective and saved gid set to the real gid; no supplementary groups
 * when run by root), a clean environment (PATH, HOME, USER, LOGNAME),
 * stdin /dev/null, no other inherited descriptor, in its own process
 * group, which is killed after TOKENTIMEOUT seconds or when it prints
 * more than TOKEN_MAX bytes.
 *
 * Side effects: fork and exec of that command, nothing else; it never
 * logs: the caller reports failures, whose text names the program but
 * never its arguments (they may hold a refresh token) or its output.
 *
 * Privilege: runs in a delivery process (the caller's uid, egid mail);
 * the command gets none of mail's.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"

#define TOKEN_MAX	4096	/* bytes a token command may print */
#define TOKEN_ARGS	32	/* words of a token command, program included */

/* token_ok - whether tok is a plausible bearer token: visible ASCII */
static int
token_ok(const char *tok)
{
	const unsigned char *p;

	if (*tok == '\0')
		return (0);
	for (p = (const unsigned char *)tok; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			return (0);
	return (1);
}

/* split_words - argv from cmd (modified in place) split at blanks */
static int
split_words(char *cmd, char **argv, size_t max)
{
	size_t n = 0;
	char *p = cmd;

	for (;;) {
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		if (n + 1 >= max)
			return (-1);
		argv[n++] = p;
		p += strcspn(p, " \t");
		if (*p != '\0')
			*p++ = '\0';
	}
	argv[n] = NULL;
	return ((int)n);
}

/*
 * child - in the forked child: drop the group mail, set up descriptors
 * and signals, exec.  errfd (close-on-exec) receives errno when that
 * fails.
 */
static void __dead
child(char **argv, char **envp, int outfd, int errfd)
{
	struct sigaction sa;
	sigset_t none;
	gid_t g = getgid();
	int e, sig, nul;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setpgid(0, 0);
	if ((geteuid() == 0 && setgroups(0, NULL) != 0) || setresgid(g, g, g) != 0 ||
	    (nul = open("/dev/null", O_RDONLY)) < 0 || dup2(nul, 0) < 0 ||
	    dup2(outfd, 1) < 0 || (errfd != 3 && dup2(errfd, 3) < 0) ||
	    fcntl(3, F_SETFD, FD_CLOEXEC) != 0) {
		e = errno;
		if (write(errfd, &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	dfc_closefrom(4);
	execve(argv[0], argv, envp);
	e = errno;
	if (write(3, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

/* reap - wait for pid until deadline (ms), then kill its group; its status */
static int
reap(pid_t pid, long long deadline, int *killed)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int status = 0;
	pid_t w;

	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return (status);
		if (w < 0 && errno != EINTR)
			return (-1);
		if (now_ms() >= deadline) {
			(void)kill(-pid, SIGKILL);
			(void)kill(pid, SIGKILL);
			*killed = 1;
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return (status);
		}
		nanosleep(&ts, NULL);
		if (ts.tv_nsec < 200 * 1000 * 1000)
			ts.tv_nsec *= 2;
	}
}

/*
 * collect - read the command's output into buf (TOKEN_MAX + 1 bytes)
 * until EOF, the deadline or more than TOKEN_MAX bytes.  The length, -1
 * for the deadline, -2 for too much.
 */
static ssize_t
collect(int fd, char *buf, long long deadline)
{
	struct pollfd pfd;
	size_t len = 0;
	ssize_t n;
	long long left;
	int r;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return (-1);
		pfd.fd = fd;
		pfd.events = POLLIN;
		if ((r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left)) <= 0) {
			if (r == 0 || errno == EINTR)
				continue;
			return (-1);
		}
		n = read(fd, buf + len, TOKEN_MAX + 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return ((ssize_t)len);
		len += (size_t)n;
		if (len > TOKEN_MAX)
			return (-2);
	}
}

/* run_cmd - the token printed by cmdline; see token_get */
static char *
run_cmd(const char *cmdline, int timeout, char *why, size_t whylen)
{
	char *words = xstrdup(cmdline), *argv[TOKEN_ARGS], *envp[5];
	char *buf = xmalloc(TOKEN_MAX + 1), *tok = NULL;
	struct sigaction sa, osa;
	struct passwd *pw;
	long long deadline;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, e, status, killed = 0;
	ssize_t n;
	pid_t pid;
	size_t i;

	memset(envp, 0, sizeof(envp));
	if (split_words(words, argv, TOKEN_ARGS) < 1 || argv[0][0] != '/') {
		snprintf(why, whylen, "the token command is not an absolute path "
		    "with at most %d arguments", TOKEN_ARGS - 2);
		goto out0;
	}
	pw = getpwuid(getuid());
	envp[0] = xstrdup("PATH=/usr/bin:/bin");
	envp[1] = xasprintf("HOME=%s", pw != NULL && pw->pw_dir[0] == '/' ?
	    pw->pw_dir : "/");
	if (pw != NULL) {
		envp[2] = xasprintf("USER=%s", pw->pw_name);
		envp[3] = xasprintf("LOGNAME=%s", pw->pw_name);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	/* With SIGCHLD ignored the child would be reaped before waitpid. */
	if (sigaction(SIGCHLD, &sa, &osa) != 0) {
		snprintf(why, whylen, "sigaction: %s", strerror(errno));
		goto out0;
	}
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		goto out;
	}
	deadline = now_ms() + (long long)timeout * 1000;
	if ((pid = fork()) < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child(argv, envp, out[1], errp[1]);
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;
	/* The error pipe closes at the exec, or carries why it failed. */
	while ((n = read(errp[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(e)) {
		(void)reap(pid, deadline, &killed);
		snprintf(why, whylen, "can not execute token command %s: %s", argv[0],
		    strerror(e));
		goto out;
	}
	n = collect(out[0], buf, deadline);
	if (n == -2) {
		(void)reap(pid, 0, &killed);
		snprintf(why, whylen, "token command %s printed more than %d bytes",
		    argv[0], TOKEN_MAX);
		goto out;
	}
	status = reap(pid, deadline, &killed);
	if (n == -1 || killed) {
		snprintf(why, whylen, "token command %s did not finish within %d s "
		    "(killed)", argv[0], timeout);
		goto out;
	}
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (status != -1 && WIFSIGNALED(status))
			snprintf(why, whylen, "token command %s killed by signal %d",
			    argv[0], WTERMSIG(status));
		else
			snprintf(why, whylen, "token command %s exited with status %d",
			    argv[0], status == -1 ? -1 : WEXITSTATUS(status));
		goto out;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if ((i = strlen(buf)) > 0 && buf[i - 1] == '\r')
		buf[i - 1] = '\0';
	if (!token_ok(buf)) {
		snprintf(why, whylen, "token command %s printed %s", argv[0],
		    buf[0] == '\0' ? "no token" : "a first line that is no token "
		    "(blanks or control characters)");
		goto out;
	}
	tok = xstrdup(buf);
out:
	for (i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	(void)sigaction(SIGCHLD, &osa, NULL);
out0:
	explicit_bzero(buf, TOKEN_MAX + 1);
	free(buf);
	explicit_bzero(words, strlen(cmdline));
	free(words);
	for (i = 0; i < sizeof(envp) / sizeof(envp[0]); i++)
		free(envp[i]);
	return (tok);
}

/* token_get - the bearer token of entry a (dma.h) */
char *
token_get(const struct authuser *a, int timeout, char *why, size_t whylen)
{
	switch (a->kind) {
	case AUTHU_TOKEN:
		if (!token_ok(a->password)) {
			snprintf(why, whylen, "the token in auth.conf has blanks or "
			    "control characters");
			return (NULL);
		}
		return (xstrdup(a->password));
	case AUTHU_TOKENCMD:
		return (run_cmd(a->password, timeout, why, whylen));
	default:
		snprintf(why, whylen, "no token configured");
		return (NULL);
	}
}
