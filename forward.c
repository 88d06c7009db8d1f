/*
 * forward.c - a local user's ~/.forward, read through DMA_FORWARD.
 *
 * Owns nothing but the list it returns.  Side effects: runs the setuid
 * helper dma-forward (which reads the file as the user, never as root or
 * group mail) with an empty environment and only descriptors 0-2 (0 is
 * /dev/null), reads its output and logs what it refused.  Runs in the
 * submitting process (dma, setgid mail); the helper's output is as
 * untrusted as the .forward it came from: every address still goes
 * through rcpt.c's checks, and text is logged only through log_safe().
 *
 * Mail is never lost here: a missing .forward, an unsafe one and a
 * helper that fails (missing, not executable, killed, hung, garbage on
 * its output) all mean plain delivery to the user's own mailbox; only
 * the last two kinds are worth a log line, and get one.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"

#define FWD_OUT_MAX		(512 * 1024)	/* bytes of helper output */
#define FWD_HELPER_TIMEOUT	30		/* seconds */

void
forward_free(struct fwdlist *fl)
{
	size_t i;

	for (i = 0; i < fl->n; i++)
		free(fl->item[i].text);
	free(fl->item);
	memset(fl, 0, sizeof(*fl));
}

/* add_item - append a copy of text (len bytes) as an entry of kind */
static void
add_item(struct fwdlist *fl, enum fwd_kind kind, const char *text, size_t len)
{
	if (fl->n == fl->cap) {
		fl->cap = fl->cap == 0 ? 8 : fl->cap * 2;
		fl->item = xrealloc(fl->item, fl->cap * sizeof(*fl->item));
	}
	fl->item[fl->n].kind = kind;
	fl->item[fl->n].text = xstrndup(text, len);
	fl->n++;
}

int
forward_parse(const char *buf, size_t len, struct fwdlist *fl, char *why,
    size_t whylen)
{
	static const struct {
		const char *word;
		enum fwd_kind kind;
	} words[] = {
		{ "forward ", FWD_FORWARD },
		{ "local ", FWD_LOCAL },
		{ "refused ", FWD_REFUSED },
		{ "unsafe ", FWD_UNSAFE },
	};
	const char *p = buf, *end = buf + len, *nl;
	size_t i, w, lineno = 0;

	memset(fl, 0, sizeof(*fl));
	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			set_why(why, whylen, "line %zu not terminated", lineno);
			goto fail;
		}
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			w = strlen(words[i].word);
			if ((size_t)(nl - p) > w && memcmp(p, words[i].word, w) == 0)
				break;
		}
		if (i == sizeof(words) / sizeof(words[0])) {
			set_why(why, whylen, "line %zu malformed", lineno);
			goto fail;
		}
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL ||
		    memchr(p, '\r', (size_t)(nl - p)) != NULL) {
			set_why(why, whylen, "line %zu has a control character", lineno);
			goto fail;
		}
		add_item(fl, words[i].kind, p + w, (size_t)(nl - p) - w);
		p = nl + 1;
	}
	return (0);
fail:
	forward_free(fl);
	return (-1);
}

/*
 * spawn - start the helper for user with its stdout on a pipe; returns
 * the pid and sets *fdp, or -1 (logged).
 */
static pid_t
spawn(const char *user, int *fdp)
{
	char arg0[] = "dma-forward", arg1[USERNAME_MAX];
	char *const argv[] = { arg0, arg1, NULL };
	char *const envp[] = { NULL };
	struct sigaction sa;
	pid_t pid;
	int p[2], null;

	if (xsnprintf(arg1, sizeof(arg1), "%s", user) != 0)
		return (-1);
	if (pipe(p) != 0) {
		log_msg(LOG_ERR, "can not make a pipe for %s: %s", DMA_FORWARD,
		    strerror(errno));
		return (-1);
	}
	pid = fork();
	if (pid < 0) {
		log_msg(LOG_ERR, "can not fork for %s: %s", DMA_FORWARD,
		    strerror(errno));
		close(p[0]);
		close(p[1]);
		return (-1);
	}
	if (pid == 0) {
		sigset_t all;
		gid_t rg, eg, sg;
		int sig;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigemptyset(&sa.sa_mask);
		for (sig = 1; sig < NSIG; sig++)
			(void)sigaction(sig, &sa, NULL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0)
			_exit(EX_OSERR);
		dfc_closefrom(3);
		/*
		 * Only group mail may run the helper; the message may have
		 * been read with the caller's group (dma.c's group_mail), so
		 * take back the saved one for the exec.
		 */
		if (getresgid(&rg, &eg, &sg) == 0 && eg != sg &&
		    setegid(sg) != 0)
			log_msg(LOG_WARNING, "can not take back group for %s: %s",
			    DMA_FORWARD, strerror(errno));
		execve(DMA_FORWARD, argv, envp);
		log_msg(LOG_ERR, "can not execute %s: %s", DMA_FORWARD,
		    strerror(errno));
		_exit(EX_OSERR);
	}
	close(p[1]);
	*fdp = p[0];
	return (pid);
}

/*
 * collect - read the helper's output until EOF, FWD_OUT_MAX or the
 * deadline; then reap it (killed if need be).  Returns the output
 * (NUL-terminated, caller frees) with *lenp, or NULL with why set.
 */
static char *
collect(pid_t pid, int fd, size_t *lenp, char *why, size_t whylen)
{
	struct pollfd pfd;
	char *buf = xmalloc(FWD_OUT_MAX + 1);
	size_t len = 0;
	time_t deadline = time(NULL) + FWD_HELPER_TIMEOUT;
	ssize_t n;
	int status, left, done = 0;

	why[0] = '\0';
	while (!done) {
		left = (int)(deadline - time(NULL));
		if (left <= 0) {
			set_why(why, whylen, "%s hung", DMA_FORWARD);
			break;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left * 1000) < 0) {
			if (errno == EINTR)
				continue;
			set_why(why, whylen, "poll: %s", strerror(errno));
			break;
		}
		n = read(fd, buf + len, FWD_OUT_MAX - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			set_why(why, whylen, "reading from %s: %s", DMA_FORWARD,
			    strerror(errno));
			break;
		}
		len += (size_t)n;
		if (n == 0)
			done = 1;
		else if (len == FWD_OUT_MAX) {
			set_why(why, whylen, "%s wrote too much", DMA_FORWARD);
			break;
		}
	}
	close(fd);
	if (!done)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			if (why[0] == '\0')
				set_why(why, whylen, "waiting for %s: %s",
				    DMA_FORWARD, strerror(errno));
			free(buf);
			return (NULL);
		}
	}
	if (why[0] == '\0' && WIFSIGNALED(status))
		set_why(why, whylen, "%s killed by signal %d", DMA_FORWARD,
		    WTERMSIG(status));
	else if (why[0] == '\0' && WEXITSTATUS(status) != 0)
		set_why(why, whylen, "%s failed (exit status %d)", DMA_FORWARD,
		    WEXITSTATUS(status));
	if (why[0] != '\0') {
		free(buf);
		return (NULL);
	}
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

int
forward_lookup(const char *user, struct fwdlist *fl)
{
	struct sigaction sa, osa;
	struct fwdlist all;
	char why[REASON_MAX], safe[256], *out;
	size_t i, len = 0;
	pid_t pid;
	int fd, ret = -1;

	memset(fl, 0, sizeof(*fl));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	/* With SIGCHLD ignored the child would be reaped before waitpid. */
	if (sigaction(SIGCHLD, &sa, &osa) != 0)
		return (-1);
	if ((pid = spawn(user, &fd)) < 0) {
		log_msg(LOG_WARNING, "~%s/.forward ignored (plain delivery): "
		    "can not run %s", user, DMA_FORWARD);
		goto out;
	}
	out = collect(pid, fd, &len, why, sizeof(why));
	if (out != NULL && forward_parse(out, len, &all, why, sizeof(why)) != 0) {
		free(out);
		out = NULL;
	}
	if (out == NULL) {
		log_msg(LOG_WARNING, "~%s/.forward ignored (plain delivery): %s",
		    user, why);
		goto out;
	}
	free(out);
	for (i = 0; i < all.n; i++) {
		if (all.item[i].kind == FWD_UNSAFE) {
			log_msg(LOG_WARNING, "~%s/.forward ignored (plain delivery): %s",
			    user, log_safe(safe, sizeof(safe), all.item[i].text));
			forward_free(&all);
			forward_free(fl);
			goto out;
		}
		if (all.item[i].kind == FWD_REFUSED) {
			log_msg(LOG_WARNING, "~%s/.forward: entry refused: %s",
			    user, log_safe(safe, sizeof(safe), all.item[i].text));
			continue;
		}
		add_item(fl, all.item[i].kind, all.item[i].text,
		    strlen(all.item[i].text));
	}
	forward_free(&all);
	ret = 0;
out:
	(void)sigaction(SIGCHLD, &osa, NULL);
	return (ret);
}
