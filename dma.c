/*
 * dma.c - command line and mode dispatch.
 *
 * SECURITY: dma is installed setgid mail (2755 root:mail), not setuid.
 * It distrusts everything it inherits: descriptors, signal dispositions,
 * umask and the environment are reset first thing in main().  The group
 * mail is needed for the spool, the group-writable mboxes and auth.conf;
 * it is switched off (setegid to the real gid) while the untrusted
 * message is read from standard input, and back on to commit it.  A
 * root caller runs as the user mail.  No path from the command line or
 * the environment is ever honoured; no shell and no PATH lookup is used.
 *
 * Owns: option parsing, the envelope sender, the modes and their exit
 * codes, detaching from the caller; delivery itself is runq.c's.
 * Side effects: fork (daemonize)/exit with sysexits codes, signals.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <paths.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include "dma.h"

enum mode {
	MODE_SUBMIT,
	MODE_LISTQ,
	MODE_RUNQ,
	MODE_NEWALIASES,
	MODE_BSMTP,
	MODE_VERSION,
	MODE_SHOWCONF,			/* -bP */
	MODE_ROUTE,			/* -bt */
	MODE_SERVERINFO,		/* --serverinfo */
	MODE_MANAGE,
	MODE_DAEMON,
};

#define QFILTER_MAX	16

/* -qI, -qR, -qS (with '!': negated): which entries a run takes */
struct qfilter {
	char	 what;			/* 'I' queue id, 'R' recipient, 'S' sender */
	int	 neg;
	const char *sub;
};

struct opts {
	enum mode mode;
	int	 queue_only;		/* -bq */
	int	 foreground;		/* -D, -v */
	int	 dot_ends;		/* no -i / -oi */
	int	 extract;		/* -t */
	const char *from;		/* -f / -r */
	const char *fullname;		/* -F */
	const char *tag;		/* -L */
	int	 qflag, pflag;
	struct qfilter filt[QFILTER_MAX];	/* -q{I,R,S}, all must match */
	int	 nfilt;
	int	 interval;		/* -q30m: seconds; 0: one run */
	const char *qtime;		/* -q30m: "30m", as given */
	const char *maction;		/* -M: "" (deliver), "rm", "f", "t" */
};

static struct alias *aliases;
static char *saved_email;		/* $EMAIL, read before the env is reset */
static gid_t mail_gid;
static uid_t invoker_uid;		/* real uid before a root caller became mail */
static int daemon_locked;		/* we hold the queue daemon's lock */

/* usage_line - the one-line synopsis on stderr */
static void
usage_line(void)
{
	if (strcmp(progname, "mailq") == 0)
		fprintf(stderr, "usage: mailq [-v]\n");
	else
		fprintf(stderr, "usage: %s [-DiqtUnv] [-A mode] [-b mode] [-f sender] "
		    "[-F name] [-L tag] [-o option] [-r sender] [--] [recipient ...]\n",
		    progname);
}

/*
 * usage_err - a command-line error: "{prog}: {message}" and the synopsis
 * on stderr, exit EX_USAGE.  Not logged: the caller made it and sees it.
 */
static __dead void usage_err(const char *, ...) __printflike(1, 2);

static __dead void
usage_err(const char *fmt, ...)
{
	char raw[512], safe[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", progname, log_safe(safe, sizeof(safe), raw));
	usage_line();
	exit(EX_USAGE);
}

/* usage_opt - an unknown option, or one without its argument (getopt's words) */
static __dead void
usage_opt(int c, int missing)
{
	char ch[8];

	if (c > 0x20 && c < 0x7f && isprint(c))
		snprintf(ch, sizeof(ch), "%c", c);
	else
		snprintf(ch, sizeof(ch), "\\x%02x", (unsigned)c & 0xff);
	if (missing)
		usage_err("option requires an argument -- '%s'", ch);
	usage_err("invalid option -- '%s'", ch);
}

/* print_version - -bV: the version and the paths compiled in */
static __dead void
print_version(void)
{
	printf("DragonFly Mail Agent %s\n", DMA_VERSION);
	printf("configuration: %s\n", DMA_CONF_FILE);
	printf("spool directory: %s\n", SPOOL_PATH);
	printf("mail directory: %s\n", MAIL_PATH);
	printf("mbox helper: %s\n", DMA_MBOX_CREATE);
	printf("forward helper: %s\n", DMA_FORWARD);
	if (fflush(stdout) != 0)
		exit(EX_IOERR);
	exit(EX_OK);
}

/*
 * sanitize_start - first thing in main: make the inherited process state
 * ours.  fds 0-2 exist (so no file we open becomes stdout), nothing else is
 * inherited, signals are default, the umask is ours, and only a minimal
 * environment is left.
 */
static void
sanitize_start(void)
{
	const char *tz;
	char *keeptz = NULL;
	int fd, sig;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) == -1) {
			int n = open(_PATH_DEVNULL, O_RDWR);

			if (n != fd)
				_exit(EX_OSERR);
		}
	}
	dfc_closefrom(3);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	}
	signal(SIGPIPE, SIG_IGN);
	/* A write past RLIMIT_FSIZE must fail with EFBIG, so that the
	 * mailbox and spool rollbacks run, instead of killing us. */
	signal(SIGXFSZ, SIG_IGN);
	umask(077);

	/* Values the envelope needs are read before the environment goes. */
	(void)username();
	if (getenv("EMAIL") != NULL)
		saved_email = xstrdup(getenv("EMAIL"));
	tz = getenv("TZ");
	if (tz != NULL && strlen(tz) < 64 && strstr(tz, "..") == NULL &&
	    strchr(tz, '/') == NULL)
		keeptz = xstrdup(tz);
	clearenv();
	setenv("PATH", "/usr/bin:/bin", 1);
	if (keeptz != NULL) {
		setenv("TZ", keeptz, 1);
		free(keeptz);
	}
	tzset();
}

/*
 * drop_root - a root caller runs as the user mail (spec §1.1).  Its real
 * group becomes DMA_NOGROUP (when that group exists), the effective and
 * saved group mail: so, as for any other caller, group mail is something
 * dma takes (group_mail) and what it runs (a token command) is without.
 */
static void
drop_root(void)
{
	struct passwd *pw;
	struct group *gr;
	gid_t rgid = mail_gid;

	if (getuid() != 0 && geteuid() != 0)
		return;
	errno = 0;
	pw = getpwnam(DMA_ROOT_USER);
	if (pw == NULL) {
		if (errno != 0)
			die(EX_OSERR, "cannot drop root privileges");
		diex(EX_CONFIG, "user '%s' not found", DMA_ROOT_USER);
	}
	if ((gr = getgrnam(DMA_NOGROUP)) != NULL && gr->gr_gid != 0)
		rgid = gr->gr_gid;
	if (setgroups(0, NULL) != 0 || setresgid(rgid, mail_gid, mail_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
		die(EX_OSERR, "cannot drop root privileges");
	if (getuid() == 0 || geteuid() == 0)
		diex(EX_OSERR, "cannot drop root privileges");
}

/*
 * group_mail - switch the effective group between mail (on) and the
 * caller's own group (off).  The saved set-group-ID keeps mail available.
 */
static void
group_mail(int on)
{
	if (getgid() == mail_gid)
		return;
	if (setegid(on ? mail_gid : getgid()) != 0)
		die(EX_OSERR, "cannot switch group");
}

/* parse_b - the -b mode letter (and the -A fall-through of sendmail) */
static void
parse_b(struct opts *o, const char *arg)
{
	switch (arg[0]) {
	case 'p':
		o->pflag = 1;
		break;
	case 'q':
		o->queue_only = 1;
		break;
	case 'm':
		break;
	case 's':
		o->mode = MODE_BSMTP;
		break;
	case 'i':
		o->mode = MODE_NEWALIASES;
		break;
	case 'V':
		o->mode = MODE_VERSION;
		break;
	case 'P':
		o->mode = MODE_SHOWCONF;
		break;
	case 't':
		o->mode = MODE_ROUTE;
		break;
	default:
		usage_err("unsupported mode -b%s", arg);
	}
}

/*
 * parse_q - the argument of -q: a selection (sendmail's -qI, -qR, -qS,
 * negated with '!') or an interval (-q30m: the queue daemon).
 */
static void
parse_q(struct opts *o, const char *arg)
{
	const char *a = arg;
	long iv;
	int neg = 0;

	if (*a == '!') {
		neg = 1;
		a++;
	}
	if (*a == 'I' || *a == 'R' || *a == 'S') {
		if (a[1] == '\0')
			usage_err("-q%s needs a substring", arg);
		if (o->nfilt == QFILTER_MAX)
			usage_err("too many -q selections (at most %d)", QFILTER_MAX);
		o->filt[o->nfilt].what = *a;
		o->filt[o->nfilt].neg = neg;
		o->filt[o->nfilt].sub = a + 1;
		o->nfilt++;
		return;
	}
	if (neg || (iv = conf_duration(a, 366 * 24 * 60 * 60)) < 0)
		usage_err("unsupported queue option -q%s", arg);
	o->interval = (int)iv;
	o->qtime = a;
}

/* parse_args - sendmail-compatible options; returns the index of operands */
static int
parse_args(int argc, char **argv, struct opts *o)
{
	const char *arg;
	int c;

	opterr = 0;
	while ((c = getopt(argc, argv, ":A:b:B:C:d:Df:F:h:iL:M::N:no:O:q::r:R:tUV:vX:")) != -1) {
		/* The argument of an option that requires one is never NULL. */
		arg = optarg != NULL ? optarg : "";
		switch (c) {
		case 'A':
			if (arg[0] == 'c' || arg[0] == 'm')
				break;
			parse_b(o, arg);
			break;
		case 'b':
			parse_b(o, arg);
			break;
		case 'D':
			o->foreground = 1;
			break;
		case 'f':
		case 'r':
			o->from = optarg;
			break;
		case 'F':
			o->fullname = optarg;
			break;
		case 'i':
			o->dot_ends = 0;
			break;
		case 'o':
			if (arg[0] == 'i')
				o->dot_ends = 0;
			break;
		case 'L':
			o->tag = optarg;
			break;
		case 't':
			o->extract = 1;
			break;
		case 'q':
			o->qflag = 1;
			if (optarg != NULL)
				parse_q(o, optarg);
			break;
		case 'M':
			o->maction = optarg != NULL ? optarg : "";
			if (strcmp(o->maction, "") != 0 &&
			    strcmp(o->maction, "rm") != 0 &&
			    strcmp(o->maction, "f") != 0 &&
			    strcmp(o->maction, "t") != 0)
				usage_err("unsupported option -M%s", o->maction);
			break;
		case 'v':
			verbose = 1;
			o->foreground = 1;
			break;
		case 'B': case 'C': case 'd': case 'h': case 'N':
		case 'O': case 'R': case 'V': case 'X':
		case 'n': case 'U':
			break;		/* sendmail options without meaning here */
		case ':':
			usage_opt(optopt, 1);
		case '?':
		default:
			usage_opt(optopt, 0);
		}
	}
	return (optind);
}

/* safe_tag - a syslog tag from -L: printable, short */
static const char *
safe_tag(const char *tag)
{
	static char buf[32];
	size_t i;

	for (i = 0; i < sizeof(buf) - 1 && tag[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)tag[i];

		buf[i] = (ch > 0x20 && ch < 0x7f && ch != '[' && ch != ']') ? (char)ch : '_';
	}
	buf[i] = '\0';
	return (i > 0 ? buf : "dma");
}

/*
 * make_sender - the envelope sender (spec §3.7): -f/-r, else $EMAIL, else
 * the user; missing parts filled with the user name and hostname(); the
 * MASQUERADE parts replace them.  "<>" gives the null sender; of
 * "<addr>" and "Name <addr>" (a common form of $EMAIL; one '<', one '>'
 * at the end, no control characters) addr is used.  The caller checks the
 * result with addr_check().
 */
static char *
make_sender(const char *from)
{
	char buf[ENVFIELD_MAX + 2];
	const char *a = from != NULL ? from : saved_email;
	const char *at, *local, *dom, *lt;
	size_t l, llen;

	if (a != NULL && strcmp(a, "<>") == 0)
		return (xstrdup(""));
	if (a != NULL) {
		l = strlen(a);
		lt = strchr(a, '<');
		/* One '<', one '>' at the end, no control characters. */
		if (l >= 2 && lt != NULL && lt == strrchr(a, '<') &&
		    strchr(a, '>') == a + l - 1 && envfield_ok(a)) {
			strlcpy(buf, lt + 1, sizeof(buf));
			if ((size_t)(a + l - 1 - (lt + 1)) < sizeof(buf))
				buf[a + l - 1 - (lt + 1)] = '\0';
			a = buf;
		}
	}
	local = username();
	llen = strlen(local);
	dom = hostname();
	if (a != NULL) {
		at = strchr(a, '@');
		if (at == NULL) {
			if (a[0] != '\0') {
				local = a;
				llen = strlen(a);
			}
		} else {
			if (at > a) {
				local = a;
				llen = (size_t)(at - a);
			}
			if (at[1] != '\0')
				dom = at + 1;
		}
	}
	return (envelope_sender(local, llen, dom));
}

static void
load_aliases(int fatal)
{
	char why[1024];

	if (alias_load(config.aliases, &aliases, why, sizeof(why)) != 0) {
		if (fatal)
			diex(EX_SOFTWARE, "%s", why);
		log_msg(LOG_ERR, "%s", why);
		aliases = NULL;
	}
}

/* daemonize - detach from the caller, who gets exit 0; -1: fork failed */
static int
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid == -1)
		return (-1);
	if (pid > 0) {
		/* The queue daemon's pid is known before the caller goes on. */
		if (daemon_locked)
			(void)spool_daemon_pid(pid);
		_exit(EX_OK);
	}
	setsid();
	if (chdir("/") != 0)
		_exit(EX_OSERR);
	fd = open(_PATH_DEVNULL, O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return (0);
}

/*
 * run_entries - deliver q, detached unless foreground.  In the foreground
 * (-D, -v) every entry is tried once and the caller waits; later queue
 * runs retry.  A detached submission keeps retrying its own entries.
 * inproc: q is a submission's own, which may be delivered without a
 * worker process when it goes to a single destination.
 */
static void
run_entries(struct queue *q, int foreground, int retry, int inproc)
{
	struct runq_opts ro;

	if (q->n == 0)
		return;
	/*
	 * A submission's message is queued once we get here: a failing
	 * fork must not make the caller think it was refused (and send it
	 * again); the next queue run delivers it.  A queue run says so.
	 */
	if (!foreground && daemonize() != 0) {
		if (inproc) {
			log_msg(LOG_WARNING, "can not fork to deliver: %s; the "
			    "message stays queued for the next queue run",
			    strerror(errno));
			return;
		}
		die(EX_OSERR, "can not daemonize");
	}
	memset(&ro, 0, sizeof(ro));
	ro.aliases = aliases;
	ro.uid = invoker_uid;
	ro.retry = foreground ? 0 : retry;
	ro.inproc = inproc;
	runq_run(q, &ro);
}

static __dead void
do_listq(void)
{
	struct queue q;
	char why[512];

	if (spool_load(&q, 0, why, sizeof(why)) != 0)
		diex(EX_NOINPUT, "%s", why);
	if (verbose)
		spool_print_verbose(stdout, &q, time(NULL));
	else
		spool_print(stdout, &q);
	if (fflush(stdout) != 0)
		exit(EX_IOERR);
	exit(EX_OK);
}

/* filter_match - it is selected by every -q selection of o */
static int
filter_match(const struct opts *o, const struct qitem *it)
{
	const char *v;
	int i;

	for (i = 0; i < o->nfilt; i++) {
		v = o->filt[i].what == 'I' ? it->queueid :
		    o->filt[i].what == 'R' ? it->addr : it->sender;
		if ((strstr(v, o->filt[i].sub) != NULL) == o->filt[i].neg)
			return (0);
	}
	return (1);
}

/* filter_queue - keep only the entries of q that o's selections take */
static void
filter_queue(struct queue *q, const struct opts *o)
{
	struct qitem *it, **pp = &q->head;
	struct queue drop;

	drop.head = NULL;
	drop.n = 0;
	while ((it = *pp) != NULL) {
		if (filter_match(o, it)) {
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		it->next = drop.head;
		drop.head = it;
		drop.n++;
		q->n--;
	}
	spool_free(&drop);
}

static __dead void
do_runq(int foreground, const struct opts *o)
{
	struct queue q;
	char why[512];

	if (spool_flush_touch() != 0)
		log_msg(LOG_ERR, "could not touch flush file");
	if (spool_load(&q, 1, why, sizeof(why)) != 0)
		diex(EX_NOINPUT, "%s", why);
	filter_queue(&q, o);
	load_aliases(0);
	/* A queue run is one pass; the periodic run (cron, timer) repeats it. */
	run_entries(&q, foreground, 0, 0);
	exit(EX_OK);
}

/* id_matches - arg names it: its queue id, or its message id (all parts) */
static int
id_matches(const char *arg, const struct qitem *it)
{
	size_t n = strcspn(it->queueid, ".");

	return (strcmp(arg, it->queueid) == 0 ||
	    (strlen(arg) == n && strncmp(arg, it->queueid, n) == 0));
}

/*
 * do_manage - dma -Mrm / -Mf / -Mt / -M on queue ids, root only.
 *
 * Every id is checked before anything is done: one unknown id (exit 67)
 * leaves the queue as it was.  Each entry is locked (spool_acquire)
 * before it is touched; one that a delivery holds right now is skipped
 * with a message and the exit status is 75 (try again).
 */
static __dead void
do_manage(const char *action, int argc, char **argv)
{
	struct queue q, sel;
	struct qitem *it, **pp, **tail;
	struct runq_opts ro;
	char why[1024], safe[128], unknown[512];
	int i, found, rc = EX_OK, r;

	if (action == NULL)	/* main passes -M's argument, "" for none */
		action = "";
	if (invoker_uid != 0)
		diex(EX_NOPERM, "-M%s: only root may act on queued messages",
		    action);
	if (spool_load(&q, 0, why, sizeof(why)) != 0)
		diex(EX_NOINPUT, "%s", why);
	unknown[0] = '\0';
	for (i = 0; i < argc; i++) {
		found = 0;
		for (it = q.head; it != NULL && !found; it = it->next)
			found = id_matches(argv[i], it);
		if (!found) {
			log_safe(safe, sizeof(safe), argv[i]);
			if (strlen(unknown) + strlen(safe) + 4 < sizeof(unknown))
				snprintf(unknown + strlen(unknown),
				    sizeof(unknown) - strlen(unknown), "%s%s",
				    unknown[0] != '\0' ? " " : "", safe);
		}
	}
	if (unknown[0] != '\0')
		diex(EX_NOUSER, "-M%s: no such queue id: %s", action, unknown);

	/* The selected entries, in queue order, moved to sel. */
	sel.head = NULL;
	sel.n = 0;
	tail = &sel.head;
	for (pp = &q.head; (it = *pp) != NULL;) {
		for (i = 0; i < argc && !id_matches(argv[i], it); i++)
			;
		if (i == argc) {
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		q.n--;
		it->next = NULL;
		*tail = it;
		tail = &it->next;
		sel.n++;
	}
	spool_free(&q);

	for (pp = &sel.head; (it = *pp) != NULL;) {
		log_setqid("%s", it->queueid);
		r = spool_acquire(it, why, sizeof(why));
		if (r != 0) {
			if (r == SPOOL_ELOCKED)
				errlogx("%s: being delivered now (or gone), "
				    "skipped", it->queueid);
			else
				errlogx("%s: %s", it->queueid, why);
			rc = EX_TEMPFAIL;
			*pp = it->next;	/* not ours to deliver */
			it->next = NULL;
			q.head = it;
			q.n = 1;
			spool_free(&q);
			sel.n--;
			continue;
		}
		if (strcmp(action, "rm") == 0) {
			if (spool_remove(it) == 0)
				log_msg(LOG_NOTICE, "<%s> removed from the queue "
				    "by root (dma -Mrm), no bounce", it->addr);
			else
				rc = EX_IOERR;
		} else if (action[0] == 'f' || action[0] == 't') {
			it->st.held = action[0] == 'f';
			if (!it->st.held)
				it->st.next = 0;	/* due at once */
			if (spool_save_state(it, why, sizeof(why)) != 0) {
				errlogx("%s", why);
				rc = EX_IOERR;
			} else
				log_msg(LOG_NOTICE, "<%s> %s by root (dma -M%s)",
				    it->addr, it->st.held ? "held" : "released",
				    action);
		}
		spool_release(it);
		pp = &it->next;
	}
	if (action[0] != '\0') {
		spool_sync();
		spool_free(&sel);
		exit(rc);
	}

	/* -M: deliver them now, in the foreground, held or not. */
	load_aliases(0);
	memset(&ro, 0, sizeof(ro));
	ro.aliases = aliases;
	ro.uid = invoker_uid;
	ro.force = 1;
	runq_run(&sel, &ro);
	for (it = sel.head; it != NULL; it = it->next) {
		if (access(it->qpath, F_OK) == 0) {
			errlogx("%s: still queued (see mailq -v)", it->queueid);
			rc = EX_TEMPFAIL;
		}
	}
	spool_free(&sel);
	exit(rc);
}

static volatile sig_atomic_t daemon_stop;
static volatile sig_atomic_t daemon_wake;

static void
daemon_sigterm(int sig __unused)
{
	daemon_stop = 1;
}

static void
daemon_sighup(int sig __unused)
{
	daemon_wake = 1;
}

/*
 * daemon_next - when the daemon runs next: at the interval's end, or
 * earlier when an entry's next attempt comes first.
 */
static time_t
daemon_next(time_t now, int interval)
{
	struct queue q;
	struct qitem *it;
	time_t next = now + interval;
	char why[512];

	if (spool_load(&q, 0, why, sizeof(why)) != 0)
		return (next);
	for (it = q.head; it != NULL; it = it->next) {
		if (!it->st.held && it->st.next > now && it->st.next < next)
			next = it->st.next;
	}
	spool_free(&q);
	return (next);
}

/* sighup_noop - SIGHUP interrupts a wait (see main), nothing more */
static void
sighup_noop(int sig __unused)
{
}

/* daemon_signals - the handlers of SIGTERM and SIGINT, and of SIGHUP */
static void
daemon_signals(void (*term)(int), void (*hup)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = hup;
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * daemon_run - one run of the queue daemon, in a child of its own that
 * reads dma.conf, auth.conf (at its first remote delivery) and the
 * aliases afresh: an edited configuration takes effect at the next run
 * (SIGHUP, systemctl reload: at once) without a restart, a broken one
 * fails that run only (logged), and nothing a run leaves behind stays in
 * the daemon.  scheduled: honour each entry's next attempt time.
 */
static void
daemon_run(int scheduled)
{
	struct runq_opts ro;
	struct queue q;
	char why[512];
	pid_t pid;
	int st;

	if ((pid = fork()) == -1) {
		log_msg(LOG_ERR, "can not fork a queue run: %s; trying again at "
		    "the next one", strerror(errno));
		return;
	}
	if (pid == 0) {
		/* SIGTERM and SIGINT are the daemon's: this run ends first. */
		daemon_signals(SIG_IGN, sighup_noop);
		conf_init(&config);
		if (conf_load(DMA_CONF_FILE, &config, why, sizeof(why)) != CONF_OK) {
			log_msg(LOG_ERR, "%s; queue run skipped", why);
			_exit(EX_CONFIG);
		}
		hostname_init(config.mailname);
		if (spool_load(&q, 1, why, sizeof(why)) != 0) {
			log_msg(LOG_ERR, "%s", why);
			_exit(EX_NOINPUT);
		}
		load_aliases(0);
		memset(&ro, 0, sizeof(ro));
		ro.aliases = aliases;
		ro.uid = invoker_uid;
		ro.scheduled = scheduled;
		runq_run(&q, &ro);
		_exit(EX_OK);
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (WIFSIGNALED(st))
		log_msg(LOG_ERR, "the queue run %ld was killed by signal %d",
		    (long)pid, WTERMSIG(st));
}

/*
 * do_daemon - dma -q30m: stay in the background and run the queue
 * every interval, each entry at its next attempt time (so an entry
 * deferred for 5 minutes is tried after 5 minutes, not at the next
 * interval).  One per spool (spool_daemon_lock): a second one exits
 * 75.  Each run is a child that reads the configuration again
 * (daemon_run).  SIGHUP or a dma -q (the flush file) runs every entry at
 * once; SIGTERM ends it after the run in progress, so no entry stays
 * locked.
 * Root only: an ordinary user's daemon would hold the spool's lock.
 */
static __dead void
do_daemon(const struct opts *o)
{
	char why[512];
	pid_t holder;
	time_t next, slept;
	int woken = 0;

	if (invoker_uid != 0)
		diex(EX_NOPERM, "-q%s: only root may start the queue daemon",
		    o->qtime);
	switch (spool_daemon_lock(&holder, why, sizeof(why))) {
	case 0:
		break;
	case 1:
		if (holder > 0)
			diex(EX_TEMPFAIL, "a queue daemon already runs for "
			    "this spool (pid %ld)", (long)holder);
		diex(EX_TEMPFAIL, "a queue daemon already runs for this spool");
	default:
		diex(EX_CANTCREAT, "%s", why);
	}
	daemon_locked = 1;
	if (!o->foreground && daemonize() != 0)
		die(EX_OSERR, "can not daemonize");
	daemon_signals(daemon_sigterm, daemon_sighup);
	log_msg(LOG_INFO, "queue daemon started: a run every %d seconds",
	    o->interval);
	while (!daemon_stop) {
		daemon_run(!woken);
		daemon_wake = 0;
		slept = time(NULL);
		next = daemon_next(slept, o->interval);
		/* Short naps: the flush file of a dma -q is seen within a second. */
		while (!daemon_stop && !daemon_wake && time(NULL) < next) {
			sleep(1);
			if (spool_flush_time() >= slept)
				daemon_wake = 1;
		}
		woken = daemon_wake;
	}
	log_msg(LOG_INFO, "queue daemon stopped");
	exit(EX_OK);
}

/* submit - the sendmail interface: read, queue durably, deliver */
static __dead void
do_submit(const struct opts *o, int argc, char **argv)
{
	struct spool_tmp t;
	struct rcptlist l;
	struct intake in;
	struct queue q;
	char why[1024], safe[256];
	char *sender;
	int i;

	load_aliases(1);
	sender = make_sender(o->from);
	if (sender[0] != '\0' && addr_check(sender, 0, why, sizeof(why)) != 0)
		diex(EX_DATAERR, "invalid sender address `%s': %s",
		    log_safe(safe, sizeof(safe), sender), why);
	if (spool_create(&t, why, sizeof(why)) != 0)
		diex(EX_CANTCREAT, "%s", why);
	log_setqid("%s", t.msgid);
	rcpt_init(&l, aliases);
	/* LOCALONLY: a remote address named here is refused (exit 67); one
	 * from -t headers or an alias is queued and bounced, unsent. */
	l.refuse_remote = 1;
	for (i = 0; i < argc; i++) {
		enum rcpt_err e = rcpt_add_list(&l, argv[i], why, sizeof(why));

		if (e != RCPT_OK) {
			spool_abort(&t);
			diex(e == RCPT_EREMOTE ? EX_NOUSER : EX_DATAERR, "%s", why);
		}
	}
	l.refuse_remote = 0;
	if (l.n == 0 && !o->extract) {
		spool_abort(&t);
		diex(EX_NOINPUT, "no recipients from command line");
	}

	memset(&in, 0, sizeof(in));
	in.sender = sender;
	in.username = username();
	in.uid = invoker_uid;
	in.fullname = o->fullname;
	in.msgid = t.msgid;
	in.dot_ends = o->dot_ends;
	in.extract = o->extract;
	/* The message is untrusted input: read it without group mail. */
	group_mail(0);
	switch (mail_read(stdin, t.fp, &in, &l, why, sizeof(why))) {
	case MAIL_OK:
		break;
	case MAIL_EFORMAT:
	case MAIL_ERCPT:
		group_mail(1);
		spool_abort(&t);
		diex(EX_DATAERR, "%s", why);
	case MAIL_EREAD:
		group_mail(1);
		spool_abort(&t);
		diex(EX_NOINPUT, "%s", why);
	case MAIL_EWRITE:
	default:
		group_mail(1);
		spool_abort(&t);
		diex(EX_CANTCREAT, "%s", why);
	}
	group_mail(1);
	if (l.n == 0) {
		spool_abort(&t);
		diex(EX_NOINPUT, "no recipients from headers");
	}
	log_msg(LOG_INFO, "new mail from user=%s uid=%lu envelope_from=<%s>",
	    username(), (unsigned long)invoker_uid, sender);
	switch (spool_commit(&t, sender, &l, &q, why, sizeof(why))) {
	case 0:
		break;
	case SPOOL_ESYNC:
		/* Queued (a run may deliver it), but not known durable. */
		diex(EX_TEMPFAIL, "%s", why);
	default:
		spool_abort(&t);
		diex(EX_CANTCREAT, "%s", why);
	}
	rcpt_free(&l);
	if ((config.features & DEFER) || o->queue_only)
		exit(EX_OK);
	run_entries(&q, o->foreground, 1, 1);
	exit(EX_OK);
}

/* do_bsmtp - -bs: SMTP on stdin/stdout, each message queued as a submission */
static __dead void
do_bsmtp(const struct opts *o)
{
	struct queue q;
	struct bsmtp_ctx ctx;
	int rc;

	load_aliases(1);
	memset(&ctx, 0, sizeof(ctx));
	ctx.aliases = aliases;
	ctx.username = username();
	ctx.uid = invoker_uid;
	ctx.default_sender = make_sender(o->from);
	/* The session is untrusted input: bsmtp.c takes group mail only to spool. */
	ctx.group_mail = group_mail;
	q.head = NULL;
	q.n = 0;
	/* Messages accepted before an I/O error are delivered all the same. */
	group_mail(0);
	rc = bsmtp_serve(stdin, stdout, &ctx, &q) != 0 ? EX_IOERR : EX_OK;
	group_mail(1);
	if (!(config.features & DEFER) && !o->queue_only)
		run_entries(&q, o->foreground, 1, 1);
	exit(rc);
}

/*
 * caller_admin - root or a member of group mail (real or supplementary
 * group): who may see auth.conf's entries (-bP) and have --serverinfo
 * log in with them.  The file itself is readable by group mail only.
 */
static int
caller_admin(void)
{
	gid_t groups[NGROUPS_MAX + 1];
	int i, n;

	if (invoker_uid == 0 || getgid() == mail_gid)
		return (1);
	n = getgroups(NGROUPS_MAX + 1, groups);
	for (i = 0; i < n; i++)
		if (groups[i] == mail_gid)
			return (1);
	return (0);
}

/*
 * take_long_opt - remove every "--serverinfo" before the operands (and
 * before a "--") from argv; 1 if there was one.
 */
static int
take_long_opt(int *argc, char **argv)
{
	int i, j, found = 0;

	for (i = 1; i < *argc && strcmp(argv[i], "--") != 0; ) {
		if (strcmp(argv[i], "--serverinfo") != 0) {
			i++;
			continue;
		}
		found = 1;
		for (j = i; j < *argc; j++)
			argv[j] = argv[j + 1];
		(*argc)--;
	}
	return (found);
}

/* do_serverinfo - --serverinfo [host[:port]]: auth.conf only with -v */
static __dead void
do_serverinfo(int argc, char **argv)
{
	struct authuser *auth = NULL;
	char why[1024];
	int rc;

	if (argc > 1)
		usage_err("--serverinfo takes at most one host[:port]");
	if (verbose && config.authpath != NULL) {
		if (!caller_admin())
			diex(EX_NOPERM, "--serverinfo -v: only root and group %s may "
			    "log in with the credentials of auth.conf", DMA_GROUP);
		if (conf_load_auth(config.authpath, &auth, why, sizeof(why)) != CONF_OK)
			diex(EX_CONFIG, "%s", why);
	}
	rc = diag_serverinfo(argc > 0 ? argv[0] : NULL, auth);
	conf_free_auth(auth);
	exit(rc);
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	struct opts o;
	struct group *gr;
	char why[1024];
	char *base;
	int opind;

	/*
	 * 2026-12: no core dump or same-uid ptrace of a process that may
	 * hold the message or, in delivery, the relay passwords, whatever
	 * fs.suid_dumpable says.
	 */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	sanitize_start();
	/* Errors before the -L tag is known are logged as dma too. */
	log_init("dma");
	base = strrchr(argv[0] != NULL ? argv[0] : "dma", '/');
	progname = xstrdup(base != NULL ? base + 1 : (argv[0] != NULL ? argv[0] : "dma"));
	gr = getgrnam(DMA_GROUP);
	mail_gid = gr != NULL ? gr->gr_gid : getegid();
	invoker_uid = getuid();
	drop_root();
	srandom((unsigned)(time(NULL) ^ (getpid() << 16)));

	memset(&o, 0, sizeof(o));
	o.dot_ends = 1;
	o.mode = MODE_SUBMIT;
	if (strcmp(progname, "mailq") == 0) {
		if (argc > 2 || (argc == 2 && strcmp(argv[1], "-v") != 0))
			usage_err("invalid arguments");
		if (argc == 2)
			verbose = 1;
		o.pflag = 1;
		opind = argc;
	} else if (strcmp(progname, "newaliases") == 0) {
		o.mode = MODE_NEWALIASES;
		opind = argc;
	} else {
		if (take_long_opt(&argc, argv))
			o.mode = MODE_SERVERINFO;
		opind = parse_args(argc, argv, &o);
	}
	argc -= opind;
	argv += opind;

	if (o.mode == MODE_VERSION)
		print_version();
	if (o.mode == MODE_SHOWCONF) {
		/* Before conf_load: -bP reports every problem, not the first. */
		if (argc > 0)
			usage_err("-bP takes no arguments");
		if (!caller_admin())
			diex(EX_NOPERM, "-bP: only root and group %s may see the "
			    "configuration", DMA_GROUP);
		exit(diag_showconf(DMA_CONF_FILE));
	}
	if (o.maction != NULL) {
		if (o.pflag || o.qflag)
			usage_err("-M%s and queue operations are mutually "
			    "exclusive", o.maction);
		if (argc == 0)
			usage_err("-M%s needs queue ids", o.maction);
		o.mode = MODE_MANAGE;
	}
	if (o.qflag && o.interval > 0 && o.nfilt > 0)
		usage_err("-q with an interval takes no selection");
	if (argc > 0 && (o.pflag || o.qflag))
		usage_err("sending mail and queue operations are mutually exclusive");
	if (o.pflag && o.qflag)
		usage_err("conflicting queue operations");
	if (o.pflag)
		o.mode = MODE_LISTQ;
	else if (o.qflag)
		o.mode = o.interval > 0 ? MODE_DAEMON : MODE_RUNQ;

	log_init(safe_tag(o.tag != NULL ? o.tag : "dma"));
	/* SIGHUP cuts a retry wait short (the flush file is checked then). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sighup_noop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);

	conf_init(&config);
	switch (conf_load(DMA_CONF_FILE, &config, why, sizeof(why))) {
	case CONF_OK:
		break;
	case CONF_EOPEN:
		diex(EX_NOINPUT, "%s", why);
	case CONF_ENOMEM:
		diex(EX_OSERR, "%s", why);
	default:
		diex(EX_CONFIG, "%s", why);
	}
	hostname_init(config.mailname);
	/* auth.conf is read by a remote delivery only (runq.c load_auth). */

	switch (o.mode) {
	case MODE_ROUTE:
		if (argc == 0)
			usage_err("-bt needs at least one address");
		load_aliases(1);
		exit(diag_route(aliases, argc, argv));
	case MODE_SERVERINFO:
		do_serverinfo(argc, argv);
	case MODE_LISTQ:
		do_listq();
	case MODE_RUNQ:
		do_runq(o.foreground, &o);
	case MODE_MANAGE:
		do_manage(o.maction, argc, argv);
	case MODE_DAEMON:
		do_daemon(&o);
	case MODE_NEWALIASES:
		load_aliases(1);
		exit(EX_OK);
	case MODE_BSMTP:
		if (argc > 0)
			usage_err("-bs takes no recipients");
		do_bsmtp(&o);
	case MODE_SUBMIT:
	default:
		do_submit(&o, argc, argv);
	}
}
