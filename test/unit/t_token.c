/*
 * t_token.c - token.c: static tokens and token commands (a hanging one
 * is killed at the limit with its process group, too much output,
 * failing, not executable or relative commands are refused), and what
 * the command gets: a clean environment, stdin /dev/null, no other
 * descriptors.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dma.h"
#include "tap.h"

static char dir[] = "/tmp/t_token.XXXXXX";

static void
script(const char *name, int mode, const char *body)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fprintf(fp, "#!/bin/sh\n%s", body);
	fclose(fp);
	chmod(path, (mode_t)mode);
}

static char *
run(const char *cmd, int timeout, char *why, size_t whylen)
{
	struct authuser a;

	memset(&a, 0, sizeof(a));
	a.login = (char *)(uintptr_t)"user";
	a.host = (char *)(uintptr_t)"host";
	a.kind = AUTHU_TOKENCMD;
	/* "@x" is "x" in the test directory. */
	a.password = cmd[0] == '@' ? xasprintf("%s/%s", dir, cmd + 1) : xstrdup(cmd);
	why[0] = '\0';
	{
		char *t = token_get(&a, timeout, why, whylen);

		free(a.password);
		return (t);
	}
}

/* fails - the command is refused with a reason containing want */
static void
fails(const char *cmd, int timeout, const char *want, const char *desc)
{
	char why[512], *t;

	t = run(cmd, timeout, why, sizeof(why));
	ok(t == NULL, "%s: refused", desc);
	ok(strstr(why, want) != NULL, "%s: reason \"%s\"", desc, why);
	free(t);
}

static char *
slurp(const char *name)
{
	char path[256], *buf = xmalloc(8192);
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf[0] = '\0';
	if ((fp = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, 8191, fp);
		buf[n] = '\0';
		fclose(fp);
	}
	return (buf);
}

int
main(void)
{
	struct authuser a;
	char why[512], *t, *env;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	memset(&a, 0, sizeof(a));
	a.kind = AUTHU_TOKEN;
	a.password = (char *)(uintptr_t)"static-token";
	t = token_get(&a, 5, why, sizeof(why));
	is_str(t, "static-token", "static token");
	free(t);
	a.password = (char *)(uintptr_t)"two words";
	ok(token_get(&a, 5, why, sizeof(why)) == NULL, "static token with a blank refused");

	script("ok.sh", 0755, "printf 'tok-123\\r\\nsecond line\\n'\n");
	t = run("@ok.sh", 5, why, sizeof(why));
	is_str(t, "tok-123", "first line, CR LF stripped");
	free(t);

	/* Arguments split at blanks; environment, stdin and descriptors. */
	script("env.sh", 0755, "out=$(dirname $0)/env.out\n"
	    "{ echo \"args=$#:$1:$2\"; readlink /proc/$$/fd/0; "
	    "ls /proc/$$/fd | tr '\\n' ' '; echo; env; } >$out\necho t\n");
	setenv("LEAKME", "leak", 1);
	t = run("@env.sh  a\tb", 5, why, sizeof(why));
	is_str(t, "t", "command with arguments");
	free(t);
	env = slurp("env.out");
	ok(strstr(env, "args=2:a:b\n") != NULL, "arguments split at blanks");
	ok(strstr(env, "\n/dev/null\n") != NULL, "stdin is /dev/null");
	ok(strstr(env, "\nPATH=/usr/bin:/bin\n") != NULL, "PATH");
	ok(strstr(env, "\nHOME=/") != NULL, "HOME");
	ok(strstr(env, "LEAKME") == NULL, "the caller's environment is not passed");
	free(env);

	script("hang.sh", 0755, "sleep 97 &\necho $! >$(dirname $0)/hang.pid\nsleep 96\n");
	t = run("@hang.sh", 1, why, sizeof(why));
	ok(t == NULL, "hanging command: refused");
	ok(strstr(why, "did not finish within 1 s (killed)") != NULL,
	    "hanging command: reason \"%s\"", why);
	env = slurp("hang.pid");
	{
		pid_t bg = (pid_t)atoi(env);
		int i;

		for (i = 0; i < 50 && bg > 0 && kill(bg, 0) == 0; i++)
			usleep(100000);
		ok(bg > 0 && kill(bg, 0) != 0 && errno == ESRCH,
		    "hanging command: its background process was killed too");
	}
	free(env);

	script("much.sh", 0755, "head -c 5000 /dev/zero | tr '\\000' a\n");
	fails("@much.sh", 5, "printed more than 4096 bytes", "too much output");
	script("fail.sh", 0755, "echo tok\nexit 3\n");
	fails("@fail.sh", 5, "exited with status 3", "failing command");
	script("empty.sh", 0755, "");
	fails("@empty.sh", 5, "printed no token", "no output");
	script("blank.sh", 0755, "echo 'a b'\n");
	fails("@blank.sh", 5, "no token (blanks", "a line with a blank");
	script("noexec.sh", 0644, "echo tok\n");
	fails("@noexec.sh", 5, "can not execute token command", "not executable");
	fails("@missing.sh", 5, "No such file", "missing");
	fails("bin/tok", 5, "not an absolute path", "relative");
	{
		char *rm = xasprintf("rm -rf %s", dir);

		if (system(rm) != 0)
			printf("# could not remove %s\n", dir);
		free(rm);
	}
	return (done_testing());
}
