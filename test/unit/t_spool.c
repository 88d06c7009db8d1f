/*
 * t_spool.c - spool.c in a temporary spool directory: commit/load round
 * trip, Q file format, -bp listing, envelope field refusal, strict
 * Q parser, uncommitted and stale entries, locking, the flush file.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"
#include "test/unit/tap.h"

static char dir[] = "/tmp/t_spool.XXXXXX";
static char outside[] = "/tmp/t_spool_out.XXXXXX";

static const char msgtext[] = "Subject: test\n\nhello\n";

/* printf into one of a few rotating static buffers (keeps tests leak-free) */
static const char * __attribute__((__format__(__printf__, 1, 2)))
fmt(const char *f, ...)
{
	static char buf[8][2048];
	static int i;
	va_list ap;

	i = (i + 1) % 8;
	va_start(ap, f);
	vsnprintf(buf[i], sizeof(buf[i]), f, ap);
	va_end(ap);
	return (buf[i]);
}

/* path of name in the spool directory (static buffer, one at a time) */
static const char *
sp(const char *name)
{
	static char buf[2][PATH_MAX];
	static int i;

	i = !i;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return (buf[i]);
}

static int
count_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return (n);
}

static void
empty_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlink(sp(de->d_name));
	}
	closedir(d);
}

/* whole file as a string, or NULL */
static char *
slurp(const char *path)
{
	static char buf[4096];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return (NULL);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return (NULL);
	buf[n] = '\0';
	return (buf);
}

static int
file_mode(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return (-1);
	return (st.st_mode & 07777);
}

static int
exists(const char *path)
{
	struct stat st;

	return (lstat(path, &st) == 0);
}

static void
write_file(const char *path, const char *content)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL) {
		perror(path);
		exit(2);
	}
	fputs(content, fp);
	fclose(fp);
}

static void
set_mtime(const char *path, time_t when)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = when;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
		perror(path);
}

/* a recipient list of up to 4 addresses (no alias expansion) */
struct rl {
	struct rcptlist l;
	struct rcpt r[4];
};

static void
rl_make(struct rl *rl, const char *a0, const char *a1)
{
	const char *a[2] = { a0, a1 };
	int i;

	memset(rl, 0, sizeof(*rl));
	for (i = 0; i < 2 && a[i] != NULL; i++) {
		rl->r[i].addr = (char *)(uintptr_t)a[i];
		rl->r[i].local = strchr(a[i], '@') == NULL;
		if (i > 0)
			rl->r[i - 1].next = &rl->r[i];
		rl->l.head = &rl->r[0];
		rl->l.tail = &rl->r[i];
		rl->l.n++;
	}
}

/* submit one message; returns its msgid in msgid (static) or NULL */
static const char *
submit(const char *sender, const char *a0, const char *a1, struct queue *out)
{
	static char msgid[32];
	struct spool_tmp t;
	struct rl rl;
	char why[256];

	if (spool_create(&t, why, sizeof(why)) != 0) {
		printf("# create: %s\n", why);
		return (NULL);
	}
	fputs(msgtext, t.fp);
	strlcpy(msgid, t.msgid, sizeof(msgid));
	rl_make(&rl, a0, a1);
	if (spool_commit(&t, sender, &rl.l, out, why, sizeof(why)) != 0) {
		printf("# commit: %s\n", why);
		return (NULL);
	}
	return (msgid);
}

/* load the queue, free it, return the number of entries or -1 */
static int
load_n(int cleanup)
{
	struct queue q;
	char why[256];
	int n;

	if (spool_load(&q, cleanup, why, sizeof(why)) != 0) {
		printf("# load: %s\n", why);
		return (-1);
	}
	n = (int)q.n;
	spool_free(&q);
	return (n);
}

static char *
print_queue(const struct queue *q)
{
	static char *buf;
	size_t len;
	FILE *fp;

	free(buf);
	buf = NULL;
	fp = open_memstream(&buf, &len);
	spool_print(fp, q);
	fclose(fp);
	return (buf);
}

static void
test_roundtrip(void)
{
	struct queue out, q;
	struct stat st;
	const char *id;
	char qid[64], want[512], why[256];
	struct qitem *it;

	id = submit("sender@test.example", "alice@remote.example", "bob", &out);
	ok(id != NULL, "submit with two recipients");
	if (id == NULL)
		return;
	ok(!exists(sp(fmt("tmp_%s", id))), "temp file removed at commit");
	is_int(count_files(), 4, "two Q and two M files");
	is_int(out.n, 2, "commit returns two entries");
	snprintf(qid, sizeof(qid), "%s.1", id);
	is_str(out.head->queueid, qid, "first qid is {msgid}.1");
	is_str(out.head->next->addr, "bob", "second entry addr");
	ok(out.head->qfd == -1 && out.head->mfp == NULL, "entries not locked");
	ok(out.head->next->local == 1 && out.head->local == 0, "local copied");
	ok(strcmp(out.head->qpath, sp(fmt("Q%s", qid))) == 0, "qpath");
	spool_free(&out);

	is_int(file_mode(sp(fmt("Q%s.1", id))), 0660, "Q mode 0660");
	is_int(file_mode(sp(fmt("M%s.2", id))), 0660, "M mode 0660");
	snprintf(want, sizeof(want), "Version: 2\n"
	    "ID: %s.1\nSender: sender@test.example\nRecipient: alice@remote.example\n", id);
	is_str(slurp(sp(fmt("Q%s.1", id))), want, "Q file content exact");
	snprintf(want, sizeof(want), "Version: 2\n"
	    "ID: %s.2\nSender: sender@test.example\nRecipient: bob\n", id);
	is_str(slurp(sp(fmt("Q%s.2", id))), want, "second Q file content");
	snprintf(want, sizeof(want), "%sID: %s\nSender: sender@test.example\n"
	    "Recipient: alice@remote.example\nRecipient: bob\n"
	    "DMA-Trailer: 002 %016zx\n", msgtext, id, strlen(msgtext));
	is_str(slurp(sp(fmt("M%s.2", id))), want,
	    "M holds the message, then the envelope trailer");
	ok(lstat(sp(fmt("M%s.1", id)), &st) == 0 && st.st_nlink == 2,
	    "M files are hard links of one inode");

	ok(spool_load(&q, 0, why, sizeof(why)) == 0, "load");
	is_int(q.n, 2, "two entries loaded");
	it = q.head;
	if (it != NULL && it->next != NULL) {
		is_str(it->queueid, qid, "sorted: .1 first");
		is_str(it->sender, "sender@test.example", "sender");
		is_str(it->addr, "alice@remote.example", "remote addr");
		is_int(it->local, 0, "remote classified remote");
		is_str(it->next->addr, "bob", "local addr");
		is_int(it->next->local, 1, "local classified local");
		ok(it->qfd == -1 && it->mfp == NULL, "loaded entry unlocked");
		ok(it->qtime > 0 && time(NULL) - it->qtime < 60, "qtime from Q mtime");
		snprintf(want, sizeof(want),
		    "ID\t: %s.1\nFrom\t: sender@test.example\nTo\t: alice@remote.example\n"
		    "--\n"
		    "ID\t: %s.2\nFrom\t: sender@test.example\nTo\t: bob\n", id, id);
		is_str(print_queue(&q), want, "-bp listing exact");
	}
	spool_free(&q);
	empty_dir();

	ok(spool_load(&q, 1, why, sizeof(why)) == 0 && q.n == 0, "empty load");
	is_str(print_queue(&q), "Mail queue is empty\n", "-bp empty listing exact");

	/* A bounce has an empty sender; local-domain recipients are stripped. */
	id = submit("", "root@test.example", NULL, NULL);
	ok(id != NULL, "submit bounce");
	ok(spool_load(&q, 0, why, sizeof(why)) == 0 && q.n == 1, "load bounce");
	if (q.head != NULL) {
		is_str(q.head->sender, "", "bounce sender empty");
		is_str(q.head->addr, "root", "local domain stripped on load");
		is_int(q.head->local, 1, "stripped address is local");
		snprintf(want, sizeof(want), "ID\t: %s.1\nFrom\t: \nTo\t: root\n", id);
		is_str(print_queue(&q), want, "-bp bounce listing");
	}
	spool_free(&q);
	empty_dir();
}

static void
test_refusal(void)
{
	static const struct {
		const char *sender, *r0, *r1, *why;
	} cases[] = {
		{ "a\nb@x.org", "c@d.org", NULL, "invalid sender in envelope" },
		{ "a\rb@x.org", "c@d.org", NULL, "invalid sender in envelope" },
		{ "a\x01" "b@x.org", "c@d.org", NULL, "invalid sender in envelope" },
		{ "a\x7f" "b@x.org", "c@d.org", NULL, "invalid sender in envelope" },
		{ "s@x.org", "c\nRecipient: evil@x.org", NULL, "invalid recipient in envelope" },
		{ "s@x.org", "c\r@d.org", NULL, "invalid recipient in envelope" },
		{ "s@x.org", "c\x01@d.org", NULL, "invalid recipient in envelope" },
		{ "s@x.org", "c\t@d.org", NULL, "invalid recipient in envelope" },
		{ "s@x.org", "", NULL, "invalid recipient in envelope" },
		{ "s@x.org", "good@d.org", "bad\n@d.org", "invalid recipient in envelope" },
		{ "s@x.org", NULL, NULL, "no recipients" },
	};
	struct spool_tmp t;
	struct queue out;
	struct rl rl;
	char why[256], mid[32], *longaddr;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		if (spool_create(&t, why, sizeof(why)) != 0) {
			ok(0, "create: %s", why);
			continue;
		}
		fputs(msgtext, t.fp);
		rl_make(&rl, cases[i].r0, cases[i].r1);
		out.n = 99;
		is_int(spool_commit(&t, cases[i].sender, &rl.l, &out, why,
		    sizeof(why)), -1, "refusal %zu returns -1", i);
		is_str(why, cases[i].why, "refusal %zu reason", i);
		is_int(count_files(), 0, "refusal %zu leaves nothing", i);
		ok(out.n == 0 && out.head == NULL, "refusal %zu: no entries", i);
		spool_abort(&t);	/* harmless after a failed commit */
	}

	/* too long: ENVFIELD_MAX bytes */
	longaddr = xmalloc(ENVFIELD_MAX + 11);
	memset(longaddr, 'a', ENVFIELD_MAX + 10);
	longaddr[ENVFIELD_MAX + 10] = '\0';
	longaddr[10] = '@';
	ok(spool_create(&t, why, sizeof(why)) == 0, "create for long field");
	rl_make(&rl, longaddr, NULL);
	is_int(spool_commit(&t, "s@x.org", &rl.l, NULL, why, sizeof(why)), -1,
	    "too long recipient refused");
	is_int(count_files(), 0, "too long: nothing left");
	free(longaddr);

	/* a failure in the middle rolls back what was made, and only that */
	ok(spool_create(&t, why, sizeof(why)) == 0, "create for rollback");
	fputs(msgtext, t.fp);
	strlcpy(mid, t.msgid, sizeof(mid));
	write_file(sp(fmt("M%s.2", mid)), "not ours");
	rl_make(&rl, "one@x.org", "two@z.org");
	is_int(spool_commit(&t, "s@x.org", &rl.l, NULL, why, sizeof(why)), -1,
	    "existing M file makes the commit fail");
	is_str(why, fmt("can not create spools: %s", strerror(EEXIST)),
	    "rollback reason");
	is_int(count_files(), 1, "rollback leaves only the foreign file");
	is_str(slurp(sp(fmt("M%s.2", mid))), "not ours",
	    "foreign file untouched");
	empty_dir();

	/* abort after create removes the temp file */
	ok(spool_create(&t, why, sizeof(why)) == 0, "create for abort");
	is_int(count_files(), 1, "temp file present");
	ok(strlen(t.msgid) > 0 && strspn(t.msgid, "0123456789abcdef") ==
	    strlen(t.msgid), "msgid is lower-case hex");
	is_str(strrchr(t.path, '/') + 1, fmt("tmp_%s", t.msgid),
	    "temp file named tmp_{msgid}");
	is_int(file_mode(t.path), 0660, "temp file mode 0660");
	spool_abort(&t);
	is_int(count_files(), 0, "abort removes the temp file");
	spool_abort(&t);	/* twice is harmless */
}

static void
test_parse(void)
{
	static const struct {
		const char *name;
		const char *buf;
		size_t len;	/* 0: strlen */
		int ret;
		const char *qid, *sender, *addr;
	} cases[] = {
		{ "good", "ID: ab.1\nSender: s@x.org\nRecipient: r@y.org\n", 0, 0,
		  "ab.1", "s@x.org", "r@y.org" },
		{ "empty sender", "ID: 0.f\nSender: \nRecipient: root\n", 0, 0,
		  "0.f", "", "root" },
		{ "missing line", "ID: ab.1\nRecipient: r@y.org\n", 0, -1, 0, 0, 0 },
		{ "version 2", "Version: 2\nID: ab.1\nSender: s\nRecipient: r\n", 0, 0,
		  "ab.1", "s", "r" },
		{ "any order (upstream)", "Sender: s@x.org\nID: ab.1\nRecipient: r@y.org\n", 0, 0,
		  "ab.1", "s@x.org", "r@y.org" },
		{ "unknown keys ignored", "Version: 2\nID: ab.1\nState: x y\nSender: s\n"
		  "Recipient: r\nX-Later: 1\n", 0, 0, "ab.1", "s", "r" },
		{ "repeated key: last wins", "ID: ab.1\nSender: s\nRecipient: r\nRecipient: e\n", 0, 0,
		  "ab.1", "s", "e" },
		{ "bad version", "Version: two\nID: ab.1\nSender: s\nRecipient: r\n", 0, -1, 0, 0, 0 },
		{ "version 0", "Version: 0\nID: ab.1\nSender: s\nRecipient: r\n", 0, -1, 0, 0, 0 },
		{ "cut in a line", "Version: 2\nID: ab.1\nSender: s\nRecip", 0, -1, 0, 0, 0 },
		{ "cut after sender", "Version: 2\nID: ab.1\nSender: s\n", 0, -1, 0, 0, 0 },
		{ "zeros", "\0\0\0\0", 4, -1, 0, 0, 0 },
		{ "extra blank", "ID: ab.1\nSender: s\nRecipient: r\n\n", 0, -1, 0, 0, 0 },
		{ "no final newline", "ID: ab.1\nSender: s\nRecipient: r", 0, -1, 0, 0, 0 },
		{ "bad qid ../x", "ID: ../x\nSender: s\nRecipient: r\n", 0, -1, 0, 0, 0 },
		{ "upper-case qid", "ID: AB.1\nSender: s\nRecipient: r\n", 0, -1, 0, 0, 0 },
		{ "qid without dot", "ID: ab1\nSender: s\nRecipient: r\n", 0, -1, 0, 0, 0 },
		{ "qid two dots", "ID: a.b.1\nSender: s\nRecipient: r\n", 0, -1, 0, 0, 0 },
		{ "recipient with CR", "ID: ab.1\nSender: s\nRecipient: r\r\n", 0, -1, 0, 0, 0 },
		{ "sender with ctrl", "ID: ab.1\nSender: s\x01\nRecipient: r\n", 0, -1, 0, 0, 0 },
		{ "NUL in buffer", "ID: ab.1\nSender: s\0x\nRecipient: r\n", 33, -1, 0, 0, 0 },
		{ "empty recipient", "ID: ab.1\nSender: s\nRecipient: \n", 0, -1, 0, 0, 0 },
		{ "key without space", "ID:ab.1\nSender:s\nRecipient:\tr\n", 0, 0,
		  "ab.1", "s", "r" },
		{ "lower-case key", "id: ab.1\nSender: s\nRecipient: r\n", 0, -1, 0, 0, 0 },
		{ "empty file", "", 0, -1, 0, 0, 0 },
	};
	struct qitem it;
	char why[256];
	size_t i, len;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&it, 0, sizeof(it));
		len = cases[i].len ? cases[i].len : strlen(cases[i].buf);
		why[0] = '\0';
		r = spool_parse_qfile(cases[i].buf, len, &it, why, sizeof(why));
		is_int(r, cases[i].ret, "parse %s", cases[i].name);
		if (r == 0 && cases[i].ret == 0) {
			is_str(it.queueid, cases[i].qid, "parse %s: id", cases[i].name);
			is_str(it.sender, cases[i].sender, "parse %s: sender", cases[i].name);
			is_str(it.addr, cases[i].addr, "parse %s: recipient", cases[i].name);
		} else if (r != 0) {
			ok(why[0] != '\0' && it.queueid == NULL && it.addr == NULL,
			    "parse %s: reason set, nothing allocated (%s)",
			    cases[i].name, why);
		}
		free(it.queueid);
		free(it.sender);
		free(it.addr);
	}
}

/* make Q{msgid}.{n} and M{msgid}.{n} by hand */
static void
fake_entry(const char *msgid, int n, const char *rcpt, const char *mlink)
{
	char qid[64];

	snprintf(qid, sizeof(qid), "%s.%x", msgid, n);

	write_file(sp(fmt("Q%s", qid)),
	    fmt("ID: %s\nSender: s@x.org\nRecipient: %s\n", qid, rcpt));
	if (mlink != NULL) {
		if (link(mlink, sp(fmt("M%s", qid))) != 0)
			perror("link");
	} else {
		write_file(sp(fmt("M%s", qid)), msgtext);
	}
}

static void
test_uncommitted_and_stale(void)
{
	struct spool_tmp t, t2;
	struct queue q;
	char why[256];
	time_t old = time(NULL) - 3600;

	/* a submission in progress: tmp locked, Q/M already written */
	ok(spool_create(&t, why, sizeof(why)) == 0, "create in-progress");
	fputs(msgtext, t.fp);
	fflush(t.fp);
	fake_entry(t.msgid, 1, "a@b.org", t.path);
	fake_entry(t.msgid, 2, "c@d.org", t.path);

	ok(spool_load(&q, 1, why, sizeof(why)) == 0, "load with tmp present");
	is_int(q.n, 0, "uncommitted entries not listed");
	spool_free(&q);
	is_int(count_files(), 5, "young locked tmp kept with its Q/M");

	set_mtime(t.path, old);
	ok(load_n(1) == 0, "load old locked");
	is_int(count_files(), 5, "old but locked tmp kept (submitter alive)");

	/* the submitter dies: its lock goes away, the files stay */
	fclose(t.fp);
	ok(load_n(0) == 0, "-bp load");
	is_int(count_files(), 5, "no cleanup without the cleanup flag");
	ok(load_n(1) == 0, "cleanup load");
	is_int(count_files(), 0, "stale tmp and its Q/M removed");

	/* dead but young: kept */
	ok(spool_create(&t2, why, sizeof(why)) == 0, "create young");
	fake_entry(t2.msgid, 1, "a@b.org", t2.path);
	fclose(t2.fp);
	ok(load_n(1) == 0, "load young dead");
	is_int(count_files(), 3, "young unlocked tmp kept");
	empty_dir();

	/* an orphaned M is removed by a queue run only */
	write_file(sp("Mabc.1"), msgtext);
	write_file(sp("Mabd.1"), msgtext);
	write_file(sp("tmp_abd"), "x");		/* young: protects Mabd.1 */
	ok(load_n(0) == 0, "-bp with orphan");
	ok(exists(sp("Mabc.1")), "orphan M kept by -bp");
	ok(load_n(1) == 0, "run with orphan");
	ok(!exists(sp("Mabc.1")), "orphan M removed by a queue run");
	ok(exists(sp("Mabd.1")), "M with tmp_ present kept");
	empty_dir();

	/* a Q without its M is not listed; names that are not qids ignored */
	write_file(sp("Qab.1"), "ID: ab.1\nSender: s\nRecipient: r@x.org\n");
	write_file(sp("Qfoo"), "ID: ab.1\nSender: s\nRecipient: r@x.org\n");
	write_file(sp("Mfoo"), msgtext);
	ok(load_n(1) == 0, "Q without M");
	ok(exists(sp("Qab.1")) && exists(sp("Qfoo")) && exists(sp("Mfoo")),
	    "foreign names left alone");
	empty_dir();
}

/* A Q file emptied or cut by a power loss: the envelope from M's trailer. */
static void
test_power_loss(void)
{
	struct queue q;
	struct qitem *it;
	const char *id;
	char why[256], path[PATH_MAX];
	int r;

	id = submit("s@x.org", "first@y.org", "second@z.org", NULL);
	ok(id != NULL, "submit two recipients");
	if (id == NULL)
		return;
	snprintf(path, sizeof(path), "%s", sp(fmt("Q%s.2", id)));
	ok(truncate(path, 0) == 0, "Q of recipient 2 emptied");
	snprintf(path, sizeof(path), "%s", sp(fmt("Q%s.1", id)));
	ok(truncate(path, 30) == 0, "Q of recipient 1 cut in half");
	ok(spool_load(&q, 1, why, sizeof(why)) == 0 && q.n == 2,
	    "both entries loaded");
	if (q.n == 2) {
		is_str(q.head->addr, "first@y.org", "recipient 1 from the trailer");
		is_str(q.head->sender, "s@x.org", "sender from the trailer");
		is_str(q.head->next->addr, "second@z.org",
		    "recipient 2 from the trailer");
		it = q.head->next;
		r = spool_acquire(it, why, sizeof(why));
		is_int(r, 0, "entry with an empty Q acquired (%s)", why);
		spool_release(it);
	}
	spool_free(&q);
	ok(!exists(sp(fmt("bad_%s.1", id))), "nothing set aside");

	/* trailer of another message, recipient beyond the list */
	write_file(sp(fmt("Q%s.3", id)), "");
	ok(link(sp(fmt("M%s.1", id)), sp(fmt("M%s.3", id))) == 0, "third M link");
	ok(spool_load(&q, 1, why, sizeof(why)) == 0 && q.n == 2,
	    "entry whose recipient is not in the trailer skipped");
	spool_free(&q);
	ok(exists(sp(fmt("bad_%s.3", id))) && exists(sp(fmt("bad_%s.3.msg", id))),
	    "and set aside");
	empty_dir();
}

static void
test_malformed_and_order(void)
{
	struct queue q;
	char why[256];
	time_t now = time(NULL);

	write_file(sp("Qab.1"), "ID: ab.1\nSender: s\nRecipient: r@x.org\nX\n");
	write_file(sp("Mab.1"), msgtext);
	write_file(sp("Qab.2"), "ID: ab.3\nSender: s\nRecipient: r@x.org\n");
	write_file(sp("Mab.2"), msgtext);
	ok(load_n(0) == 0,
	    "malformed entries skipped");
	ok(exists(sp("Qab.1")) && exists(sp("Qab.2")), "-bp leaves them");
	ok(load_n(1) == 0,
	    "malformed entries skipped by a run");
	ok(!exists(sp("Qab.1")) && exists(sp("bad_ab.1")), "Q moved to bad_{qid}");
	ok(!exists(sp("Mab.1")) && exists(sp("bad_ab.1.msg")),
	    "M moved to bad_{qid}.msg");
	ok(exists(sp("bad_ab.2")), "ID not matching the file name is malformed");
	empty_dir();

	/* order: qtime first, then numeric qid */
	fake_entry("ab", 0x10, "r1@x.org", NULL);
	fake_entry("ab", 0x2, "r2@x.org", NULL);
	fake_entry("9", 0x1, "r3@x.org", NULL);
	fake_entry("ff", 0x1, "r4@x.org", NULL);
	set_mtime(sp("Qab.10"), now - 100);
	set_mtime(sp("Qab.2"), now - 100);
	set_mtime(sp("Q9.1"), now - 50);
	set_mtime(sp("Qff.1"), now - 200);
	ok(spool_load(&q, 1, why, sizeof(why)) == 0 && q.n == 4, "load four");
	if (q.n == 4) {
		is_str(q.head->queueid, "ff.1", "oldest first");
		is_str(q.head->next->queueid, "ab.2", "same time: ab.2 before ab.10");
		is_str(q.head->next->next->queueid, "ab.10", "then ab.10");
		is_str(q.head->next->next->next->queueid, "9.1", "youngest last");
		is_int(q.head->qtime, now - 200, "qtime is the Q mtime");
	}
	spool_free(&q);
	empty_dir();
}

/*
 * Leftovers: stale by name and age only (a future mtime counts as stale),
 * J files of local delivery untouched, and a malformed Q file set aside
 * only when it can be locked and no tmp_{msgid} exists.
 */
static void
test_hygiene(void)
{
	struct spool_tmp t;
	char why[256];
	time_t now = time(NULL);
	int fd;

	/* the temp file has its final mode at once (no fchmod window) */
	ok(spool_create(&t, why, sizeof(why)) == 0, "create");
	is_int(file_mode(t.path), 0660, "temp file 0660 under umask 077");
	spool_abort(&t);

	write_file(sp("tmp_future"), "x");
	set_mtime(sp("tmp_future"), now + 3600 * 24 * 365);
	write_file(sp("tmp_young"), "x");
	write_file(sp("Jbob"), "journal");
	set_mtime(sp("Jbob"), now - 3600);
	if (symlink("/nonexistent", sp("tmp_link")) != 0)
		perror("symlink");
	ok(load_n(1) == 0, "load with leftovers");
	ok(!exists(sp("tmp_future")), "a temp file dated in the future is stale");
	ok(exists(sp("tmp_young")), "a young temp file is kept");
	ok(exists(sp("Jbob")), "a J file is left alone");
	ok(exists(sp("tmp_link")), "a young symlink named tmp_ is kept");
	empty_dir();

	/* malformed but locked by someone (a runner, a deliverer): kept */
	write_file(sp("Qcd.1"), "ID: cd.1\nSend");
	write_file(sp("Mcd.1"), msgtext);
	fd = open(sp("Qcd.1"), O_RDONLY);
	ok(fd >= 0 && flock(fd, LOCK_EX) == 0, "hold the lock of a malformed Q");
	ok(load_n(1) == 0, "load with a locked malformed Q");
	ok(exists(sp("Qcd.1")) && !exists(sp("bad_cd.1")),
	    "a locked malformed Q is not set aside");
	if (fd >= 0)
		close(fd);
	ok(load_n(1) == 0, "load after the lock is gone");
	ok(!exists(sp("Qcd.1")) && exists(sp("bad_cd.1")) &&
	    exists(sp("bad_cd.1.msg")), "then it is set aside");
	empty_dir();
}

/* spool_acquire_sibling: one message, its M shared; a foreign M is opened */
static void
test_sibling(void)
{
	struct queue q;
	struct qitem *a, *b;
	char why[256], buf[128];
	size_t n;
	const char *msgid;

	empty_dir();
	msgid = submit("s@x.org", "r1@y.org", "r2@z.org", NULL);
	ok(msgid != NULL, "submit to two recipients");
	ok(spool_load(&q, 1, why, sizeof(why)) == 0 && q.n == 2, "load two");
	if (q.n != 2)
		return;
	a = q.head;
	b = q.head->next;
	is_int(spool_acquire_sibling(a, NULL, why, sizeof(why)), 0,
	    "sibling acquire without a held entry is a plain acquire");
	ok(a->mfp != NULL && a->mfd >= 0, "first entry: M open");
	is_int(spool_acquire_sibling(b, a, why, sizeof(why)), 0,
	    "second entry acquired beside the first");
	ok(b->qfd >= 0 && b->mfp != NULL && b->mfd >= 0 && b->mfd != a->mfd,
	    "its own lock and its own descriptor of M");
	ok(b->mino == a->mino, "the same message file");
	n = fread(buf, 1, sizeof(buf) - 1, b->mfp);
	buf[n] = '\0';
	is_str(buf, msgtext, "the sibling reads the message, without the trailer");
	n = fread(buf, 1, sizeof(buf) - 1, a->mfp);
	buf[n] = '\0';
	is_str(buf, msgtext, "the first entry reads it from its start too");
	spool_release(b);
	ok(b->qfd == -1 && b->mfp == NULL && b->mfd == -1, "sibling released");

	/* b's M is now another file: opened and checked the usual way */
	unlink(b->mpath);
	write_file(b->mpath, "Subject: other\n\nbody\n");
	why[0] = '\0';
	is_int(spool_acquire_sibling(b, a, why, sizeof(why)), -1,
	    "an M that is not a link of the held one is opened and checked");
	ok(strstr(why, "trailer") != NULL, "reason: %s", why);
	ok(b->qfd == -1 && b->mfp == NULL, "nothing held after the refusal");
	spool_release(a);
	spool_free(&q);
	empty_dir();
}

static void
test_locking(void)
{
	struct queue q1, q2, q3;
	struct qitem *it;
	char why[256], buf[128];
	size_t n;
	int r, fd, up[2], down[2];

	ok(submit("s@x.org", "r@y.org", NULL, NULL) != NULL, "submit for locking");
	ok(spool_load(&q1, 1, why, sizeof(why)) == 0 && q1.n == 1, "load 1");
	ok(spool_load(&q2, 1, why, sizeof(why)) == 0 && q2.n == 1, "load 2");
	ok(spool_load(&q3, 1, why, sizeof(why)) == 0 && q3.n == 1, "load 3");
	if (q1.n != 1 || q2.n != 1 || q3.n != 1)
		return;

	is_int(spool_acquire(q1.head, why, sizeof(why)), 0, "first acquire");
	ok(q1.head->qfd >= 0 && q1.head->mfp != NULL, "acquire opens Q and M");
	n = fread(buf, 1, sizeof(buf) - 1, q1.head->mfp);
	buf[n] = '\0';
	is_str(buf, msgtext, "M readable after acquire");
	is_int(spool_acquire(q2.head, why, sizeof(why)), SPOOL_ELOCKED,
	    "second open file description gets SPOOL_ELOCKED");
	ok(q2.head->qfd == -1 && q2.head->mfp == NULL, "loser holds nothing");
	spool_release(q1.head);
	ok(q1.head->qfd == -1 && q1.head->mfp == NULL, "release closes");
	is_int(spool_acquire(q2.head, why, sizeof(why)), 0, "acquire after release");

	/* q3 has the Q open (not locked) from before the removal */
	q3.head->qfd = open(q3.head->qpath, O_RDWR);
	ok(spool_remove(q2.head) == 0, "remove");
	spool_release(q2.head);
	ok(!exists(q2.head->qpath) && !exists(q2.head->mpath), "Q and M gone");
	is_int(spool_acquire(q1.head, why, sizeof(why)), SPOOL_ELOCKED,
	    "acquire after remove: SPOOL_ELOCKED");
	is_int(spool_acquire(q3.head, why, sizeof(why)), SPOOL_ELOCKED,
	    "acquire of an unlinked open Q: SPOOL_ELOCKED");
	ok(q3.head->qfd == -1, "unlinked Q released");
	spool_free(&q1);
	spool_free(&q2);
	spool_free(&q3);

	/* a Q replaced by another inode after load */
	ok(submit("s@x.org", "r@y.org", NULL, NULL) != NULL, "submit again");
	ok(spool_load(&q1, 1, why, sizeof(why)) == 0 && q1.n == 1, "load");
	if (q1.n == 1) {
		q1.head->qfd = open(q1.head->qpath, O_RDWR);
		fd = open(sp("x"), O_WRONLY | O_CREAT, 0660);
		(void)!write(fd, "x", 1);
		close(fd);
		rename(sp("x"), q1.head->qpath);
		is_int(spool_acquire(q1.head, why, sizeof(why)), SPOOL_ELOCKED,
		    "Q path names another inode: SPOOL_ELOCKED");
	}
	spool_free(&q1);
	empty_dir();

	/* contents changed between load and acquire */
	ok(submit("s@x.org", "r@y.org", NULL, NULL) != NULL, "submit third");
	ok(spool_load(&q1, 1, why, sizeof(why)) == 0 && q1.n == 1, "load");
	if (q1.n == 1) {
		it = q1.head;
		fd = open(it->qpath, O_WRONLY | O_TRUNC);
		snprintf(buf, sizeof(buf), "ID: %s\nSender: s@x.org\n"
		    "Recipient: other@y.org\n", it->queueid);
		(void)!write(fd, buf, strlen(buf));
		close(fd);
		is_int(spool_acquire(it, why, sizeof(why)), SPOOL_ELOCKED,
		    "Q with other fields (qid reused): SPOOL_ELOCKED");
		ok(it->qfd == -1 && it->mfp == NULL, "released");

		fd = open(it->qpath, O_WRONLY | O_TRUNC);
		(void)!write(fd, "garbage\n", 8);
		close(fd);
		why[0] = '\0';
		r = spool_acquire(it, why, sizeof(why));
		is_int(r, 0, "garbled Q: envelope taken from M's trailer");
		if (r == 0) {
			n = fread(buf, 1, sizeof(buf) - 1, it->mfp);
			buf[n] = '\0';
			is_str(buf, msgtext, "M read without its trailer");
			ok(fseeko(it->mfp, 0, SEEK_END) == 0 &&
			    ftello(it->mfp) == (off_t)strlen(msgtext),
			    "the end of M is the end of the message");
			ok(fseeko(it->mfp, -5, SEEK_CUR) == 0 &&
			    fread(buf, 1, 10, it->mfp) == 5 &&
			    memcmp(buf, msgtext + strlen(msgtext) - 5, 5) == 0,
			    "relative seek and read up to the trailer only");
			rewind(it->mfp);
			n = fread(buf, 1, sizeof(buf) - 1, it->mfp);
			buf[n] = '\0';
			is_str(buf, msgtext, "rewind reads the message again");
		}
		spool_release(it);

		/* neither Q nor the trailer: refused */
		(void)!truncate(it->mpath, (off_t)strlen(msgtext) + 3);
		why[0] = '\0';
		r = spool_acquire(it, why, sizeof(why));
		is_int(r, -1, "garbled Q and trailer refused by acquire");
		ok(strstr(why, "malformed queue file") != NULL, "reason: %s", why);
		ok(it->qfd == -1 && it->mfp == NULL, "released on error");
		fd = open(it->mpath, O_WRONLY | O_TRUNC);
		(void)!write(fd, msgtext, strlen(msgtext));
		close(fd);

		fd = open(it->qpath, O_WRONLY | O_TRUNC);
		snprintf(buf, sizeof(buf), "ID: %s\nSender: s@x.org\n"
		    "Recipient: r@y.org\n", it->queueid);
		(void)!write(fd, buf, strlen(buf));
		close(fd);
		snprintf(buf, sizeof(buf), "tmp_%.*s",
		    (int)strcspn(it->queueid, "."), it->queueid);
		write_file(sp(buf), "");
		is_int(spool_acquire(it, why, sizeof(why)), SPOOL_ELOCKED,
		    "entry of an uncommitted message: SPOOL_ELOCKED");
		unlink(sp(buf));
		set_mtime(it->qpath, 1000000);
		is_int(spool_acquire(it, why, sizeof(why)), 0, "restored Q acquired");
		is_int(it->qtime, 1000000, "qtime taken from the locked Q");
	}
	spool_free(&q1);
	empty_dir();

	/* the lock also excludes another process */
	ok(submit("s@x.org", "r@y.org", NULL, NULL) != NULL, "submit for fork");
	ok(spool_load(&q1, 1, why, sizeof(why)) == 0 && q1.n == 1, "load");
	/* up: child -> parent "acquired"; down: parent -> child "exit now" */
	if (q1.n == 1 && pipe(up) == 0 && pipe(down) == 0) {
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			char c = spool_acquire(q1.head, why, sizeof(why)) == 0 ?
			    'y' : 'n';

			(void)!write(up[1], &c, 1);
			(void)!read(down[0], &c, 1);
			_exit(0);
		}
		buf[0] = '\0';
		(void)!read(up[0], buf, 1);
		is_int(buf[0], 'y', "child acquired");
		is_int(spool_acquire(q1.head, why, sizeof(why)), SPOOL_ELOCKED,
		    "entry held by another process: SPOOL_ELOCKED");
		(void)!write(down[1], "x", 1);
		waitpid(pid, NULL, 0);
		is_int(spool_acquire(q1.head, why, sizeof(why)), 0,
		    "acquired after the other process exited");
		close(up[0]);
		close(up[1]);
		close(down[0]);
		close(down[1]);
	}
	spool_free(&q1);
	empty_dir();
}

static void
test_flush(void)
{
	char target[PATH_MAX];
	struct stat st, st2;
	time_t old = time(NULL) - 7200;

	is_int(spool_flush_time(), 0, "no flush file: time 0");
	is_int(spool_flush_touch(), 0, "flush touch creates");
	ok(lstat(sp("flush"), &st) == 0 && S_ISREG(st.st_mode), "regular file");
	is_int(st.st_mode & 07777, 0640, "flush mode 0640 despite umask 077");
	set_mtime(sp("flush"), old);
	is_int(spool_flush_time(), old, "flush time is the mtime");
	is_int(spool_flush_touch(), 0, "touch existing");
	ok(spool_flush_time() > old + 3600, "touch updates the mtime");
	empty_dir();

	snprintf(target, sizeof(target), "%s/target", outside);
	write_file(target, "keep");
	set_mtime(target, old);
	lstat(target, &st);
	if (symlink(target, sp("flush")) != 0)
		perror("symlink");
	is_int(spool_flush_touch(), -1, "symlink at flush refused");
	ok(lstat(target, &st2) == 0 && st2.st_mtime == old &&
	    st2.st_size == st.st_size, "symlink target not touched");
	is_str(slurp(target), "keep", "symlink target content unchanged");
	is_int(spool_flush_time(), 0, "flush time of a symlink is 0");
	empty_dir();

	if (link(target, sp("flush")) != 0)
		perror("link");
	is_int(spool_flush_touch(), -1, "hard link at flush refused");
	ok(lstat(target, &st2) == 0 && st2.st_mtime == old, "link target not touched");
	empty_dir();

	if (mkfifo(sp("flush"), 0660) == 0)
		is_int(spool_flush_touch(), -1, "fifo at flush refused, no hang");
	empty_dir();
	unlink(target);
}

static void
test_errors(void)
{
	struct spool_tmp t;
	struct queue q;
	char why[256], *saved = config.spooldir;
	char missing[PATH_MAX];

	snprintf(missing, sizeof(missing), "%s/missing", dir);

	config.spooldir = missing;
	is_int(spool_create(&t, why, sizeof(why)), -1, "create in missing dir");
	is_str(why, fmt("can not create temp file in `%s': %s", missing,
	    strerror(ENOENT)), "create error text");
	is_int(spool_load(&q, 1, why, sizeof(why)), -1, "load of missing dir");
	is_str(why, fmt("reading queue: %s", strerror(ENOENT)),
	    "load error text");
	is_int(spool_flush_touch(), -1, "flush in missing dir");
	config.spooldir = saved;
}

/* test_state - the delivery state: sanitised, saved, loaded, age kept */
static void
test_state(void)
{
	struct queue out, q;
	struct qitem *it;
	struct qstate st;
	struct stat sb;
	const char *id;
	char why[256], want[1024];

	memset(&st, 0, sizeof(st));
	spool_state_error(&st, "451-first line\r\n451 second\tline \x1b[31m\xc3\xa9  end  ");
	is_str(st.error, "451-first line 451 second line [31m?? end",
	    "a failure text is one printable line");
	free(st.error);
	st.error = NULL;
	{
		char longtext[1000];

		memset(longtext, 'x', sizeof(longtext) - 1);
		longtext[sizeof(longtext) - 1] = '\0';
		spool_state_error(&st, longtext);
		is_int((int)strlen(st.error), QSTATE_TEXT_MAX - 1,
		    "a failure text is capped");
		free(st.error);
	}

	empty_dir();
	id = submit("sender@test.example", "alice@remote.example", NULL, &out);
	ok(id != NULL, "state: submit");
	if (id == NULL)
		return;
	spool_free(&out);
	set_mtime(sp(fmt("Q%s.1", id)), 1000000000);
	ok(spool_load(&q, 0, why, sizeof(why)) == 0 && q.n == 1, "state: load");
	it = q.head;
	is_int((int)it->st.attempts, 0, "never attempted: no attempts");
	ok(it->st.next == 0 && it->st.held == 0 && it->st.error == NULL,
	    "never attempted: no state");
	ok(spool_acquire(it, why, sizeof(why)) == 0, "state: acquire");
	it->st.attempts = 3;
	it->st.lastfail = 1700000000;
	it->st.next = 1700000600;
	it->st.held = 1;
	spool_state_error(&it->st, "451 4.3.0 try later");
	ok(spool_save_state(it, why, sizeof(why)) == 0, "state: saved");
	spool_release(it);
	snprintf(want, sizeof(want), "Version: 2\nID: %s.1\n"
	    "Sender: sender@test.example\nRecipient: alice@remote.example\n"
	    "Attempts: 3\nLast-Attempt: 1700000000\n"
	    "Last-Error: 451 4.3.0 try later\nNext-Attempt: 1700000600\n"
	    "Held: yes\n", id);
	is_str(slurp(sp(fmt("Q%s.1", id))), want, "state: Q file exact");
	ok(stat(sp(fmt("Q%s.1", id)), &sb) == 0 && sb.st_mtime == 1000000000,
	    "state: the time queued (mtime) is kept");
	ok(!exists(sp(fmt("tmp_state_%s.1", id))), "state: no temp file left");
	spool_free(&q);
	ok(spool_load(&q, 0, why, sizeof(why)) == 0 && q.n == 1, "state: reload");
	it = q.head;
	ok(it->st.attempts == 3 && it->st.lastfail == 1700000000 &&
	    it->st.next == 1700000600 && it->st.held == 1,
	    "state: read back");
	is_str(it->st.error, "451 4.3.0 try later", "state: error read back");
	ok(it->qtime == 1000000000, "state: qtime from the kept mtime");
	spool_free(&q);

	/* A bad value counts as absent; the entry itself is fine. */
	write_file(sp(fmt("Q%s.1", id)), fmt("Version: 2\nID: %s.1\n"
	    "Sender: s@test.example\nRecipient: alice@remote.example\n"
	    "Attempts: many\nNext-Attempt: -5\nHeld: no\n", id));
	ok(spool_load(&q, 0, why, sizeof(why)) == 0 && q.n == 1,
	    "bad state values: the entry loads");
	ok(q.head != NULL && q.head->st.attempts == 0 && q.head->st.next == 0 &&
	    q.head->st.held == 0, "bad state values: ignored");
	spool_free(&q);
	empty_dir();
}

/* submit_list: one message to the n addresses of a; its msgid or NULL */
static const char *
submit_list(const char *sender, const char *const *a, size_t n,
    struct queue *out)
{
	static char msgid[32];
	struct spool_tmp t;
	struct rcptlist l;
	struct rcpt *r;
	char why[256];
	size_t i;
	int ret;

	if (spool_create(&t, why, sizeof(why)) != 0)
		return (NULL);
	fputs(msgtext, t.fp);
	strlcpy(msgid, t.msgid, sizeof(msgid));
	memset(&l, 0, sizeof(l));
	r = xcalloc(n, sizeof(*r));
	for (i = 0; i < n; i++) {
		r[i].addr = (char *)(uintptr_t)a[i];
		r[i].local = strchr(a[i], '@') == NULL;
		r[i].next = i + 1 < n ? &r[i + 1] : NULL;
	}
	l.head = &r[0];
	l.tail = &r[n - 1];
	l.n = n;
	ret = spool_commit(&t, sender, &l, out, why, sizeof(why));
	free(r);
	if (ret != 0) {
		printf("# commit: %s\n", why);
		return (NULL);
	}
	return (msgid);
}

/* nth - the nth entry of q (from 0), or NULL */
static struct qitem *
nth(const struct queue *q, size_t n)
{
	struct qitem *it = q->head;

	while (it != NULL && n-- > 0)
		it = it->next;
	return (it);
}

/*
 * Group entries (version 3): remote recipients of one domain share one Q
 * file, up to JOB_MAX; local ones and repeated addresses do not.
 */
static void
test_group(void)
{
	static const char *const five[] = { "a@y.org", "root", "b@y.org",
	    "c@z.org", "a@y.org" };
	const char *many[JOB_MAX + 1];
	struct queue out, q, q2;
	struct qitem *a, *b;
	struct stat sb;
	char why[256], want[2048], *m, addrs[JOB_MAX + 1][16];
	const char *id;
	size_t i, n;
	int fd;

	empty_dir();
	id = submit_list("s@x.org", five, 5, &out);
	ok(id != NULL, "group: submit 5 recipients");
	if (id == NULL)
		return;
	is_int((int)out.n, 5, "group: an entry per recipient returned");
	ok(nth(&out, 0) != NULL && nth(&out, 4) != NULL, "group: 5 entries");
	if (nth(&out, 4) == NULL)
		return;
	is_str(nth(&out, 0)->queueid, fmt("%s.1", id), "group: a@y.org in entry 1");
	is_str(nth(&out, 1)->queueid, fmt("%s.1", id), "group: b@y.org in entry 1");
	is_str(nth(&out, 1)->addr, "b@y.org", "group: entry order");
	is_str(nth(&out, 2)->addr, "root", "group: root next");
	is_str(nth(&out, 2)->queueid, fmt("%s.2", id), "group: local recipient alone");
	is_str(nth(&out, 3)->queueid, fmt("%s.3", id), "group: another domain, another entry");
	is_str(nth(&out, 4)->queueid, fmt("%s.4", id), "group: a repeated address, another entry");
	ok(nth(&out, 0)->gsize == 2 && nth(&out, 2)->gsize == 1, "group: sizes");
	spool_free(&out);
	is_int(count_files(), 8, "group: 4 Q files and 4 M links");
	is_str(slurp(sp(fmt("Q%s.1", id))), fmt("Version: 3\nID: %s.1\n"
	    "Sender: s@x.org\nRecipient: a@y.org\nRecipient: b@y.org\n", id),
	    "group: Q file of two recipients");
	is_str(slurp(sp(fmt("Q%s.2", id))), fmt("Version: 2\nID: %s.2\n"
	    "Sender: s@x.org\nRecipient: root\n", id),
	    "group: Q file of one recipient is version 2");
	m = slurp(sp(fmt("M%s.1", id)));
	snprintf(want, sizeof(want), "%sID: %s\nSender: s@x.org\n"
	    "Recipient: a@y.org\nRecipient: b@y.org\nRecipient: root\n"
	    "Recipient: c@z.org\nRecipient: a@y.org\nEntry: 1 2\n"
	    "DMA-Trailer: 003 %016zx\n", msgtext, id, strlen(msgtext));
	is_str(m, want, "group: trailer in entry order, an Entry line, version 3");

	ok(spool_load(&q, 1, why, sizeof(why)) == 0 && q.n == 5, "group: load 5");
	is_str(print_queue(&q), fmt("ID\t: %s.1\nFrom\t: s@x.org\nTo\t: a@y.org\n"
	    "To\t: b@y.org\n--\nID\t: %s.2\nFrom\t: s@x.org\nTo\t: root\n--\n"
	    "ID\t: %s.3\nFrom\t: s@x.org\nTo\t: c@z.org\n--\nID\t: %s.4\n"
	    "From\t: s@x.org\nTo\t: a@y.org\n", id, id, id, id),
	    "group: -bp shows one block per entry, a To line per recipient");
	a = nth(&q, 0);
	b = nth(&q, 1);
	ok(a->gsize == 2 && b->gsize == 2 && strcmp(b->addr, "b@y.org") == 0,
	    "group: loaded as two recipients of one entry");

	/* Acquired together: one lock, shared; held until the last release. */
	set_mtime(a->qpath, 1000000000);
	is_int(spool_acquire(a, why, sizeof(why)), 0, "group: first acquired");
	is_int(spool_acquire_sibling(b, a, why, sizeof(why)), 0,
	    "group: sibling joins the lock");
	ok(b->qfd >= 0 && b->qfd == a->qfd && b->mfp != NULL && b->mfp != a->mfp,
	    "group: the lock's descriptor shared, a message stream of its own");
	{
		char b1[128], b2[128];
		size_t n1, n2;

		n1 = fread(b1, 1, sizeof(b1) - 1, b->mfp);
		b1[n1] = '\0';
		n2 = fread(b2, 1, sizeof(b2) - 1, a->mfp);
		b2[n2] = '\0';
		is_str(b1, msgtext, "group: the sibling reads the message");
		is_str(b2, msgtext, "group: the first reads it from its start too");
	}
	fd = open(a->qpath, O_RDWR);
	ok(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK,
	    "group: another open file description is refused");
	ok(spool_load(&q2, 0, why, sizeof(why)) == 0 && q2.n == 5, "group: second load");
	is_int(spool_acquire(nth(&q2, 1), why, sizeof(why)), SPOOL_ELOCKED,
	    "group: a recipient of a held entry cannot be acquired alone");
	/* a delivered, b deferred: the file keeps b with the state */
	ok(spool_remove(a) == 0, "group: remove the first");
	ok(exists(a->qpath), "group: Q stays while a sibling is queued");
	b->st.attempts = 1;
	b->st.next = 1700000600;
	b->st.lastfail = 1700000000;
	spool_state_error(&b->st, "451 later");
	ok(spool_save_state(b, why, sizeof(why)) == 0, "group: state saved");
	is_str(slurp(a->qpath), fmt("Version: 3\nID: %s.1\n"
	    "Sender: s@x.org\nRecipient: a@y.org\nRecipient: b@y.org\n", id),
	    "group: nothing written while held");
	spool_release(a);
	ok(flock(fd, LOCK_EX | LOCK_NB) != 0, "group: still locked by the sibling");
	spool_release(b);
	ok(flock(fd, LOCK_EX | LOCK_NB) == 0, "group: unlocked after the last release");
	close(fd);
	is_str(slurp(sp(fmt("Q%s.1", id))), fmt("Version: 3\nID: %s.1\n"
	    "Sender: s@x.org\nRecipient: b@y.org\nAttempts: 1\n"
	    "Last-Attempt: 1700000000\nLast-Error: 451 later\n"
	    "Next-Attempt: 1700000600\n", id),
	    "group: rewritten with the recipient left and the state");
	ok(stat(sp(fmt("Q%s.1", id)), &sb) == 0 && sb.st_mtime == 1000000000,
	    "group: the time queued is kept");
	ok(!exists(sp(fmt("tmp_state_%s.1", id))), "group: no temp file left");
	/* the second load's view of entry 1 is stale: a is gone */
	is_int(spool_acquire(nth(&q2, 0), why, sizeof(why)), SPOOL_ELOCKED,
	    "group: a struck recipient is not acquired again");
	is_int(spool_acquire(nth(&q2, 1), why, sizeof(why)), 0,
	    "group: the one left is");
	ok(nth(&q2, 1)->st.attempts == 1, "group: with the state written");
	ok(spool_remove(nth(&q2, 1)) == 0, "group: remove the last");
	ok(!exists(sp(fmt("Q%s.1", id))) && exists(sp(fmt("M%s.2", id))),
	    "group: Q gone with the last recipient");
	ok(!exists(sp(fmt("M%s.1", id))), "group: and its M link");
	spool_release(nth(&q2, 1));
	spool_free(&q2);
	spool_free(&q);

	/* Power loss: Q files empty, the trailer says who is in each entry */
	write_file(sp(fmt("Q%s.1", id)), "");
	ok(link(sp(fmt("M%s.2", id)), sp(fmt("M%s.1", id))) == 0, "group: M.1 back");
	write_file(sp(fmt("Q%s.3", id)), "");
	write_file(sp(fmt("Q%s.4", id)), "Version: 2\nID: ");
	ok(spool_load(&q, 1, why, sizeof(why)) == 0 && q.n == 5,
	    "group: power loss: 5 recipients loaded");
	if (q.n == 5) {
		ok(strcmp(nth(&q, 0)->addr, "a@y.org") == 0 &&
		    strcmp(nth(&q, 1)->addr, "b@y.org") == 0 &&
		    nth(&q, 0)->gsize == 2, "group: entry 1 from the Entry line");
		is_str(nth(&q, 3)->addr, "c@z.org", "group: entry 3 after the group");
		is_str(nth(&q, 4)->addr, "a@y.org", "group: entry 4 after the group");
		is_int(spool_acquire(nth(&q, 0), why, sizeof(why)), 0,
		    "group: acquired from the trailer (%s)", why);
		is_int(spool_acquire_sibling(nth(&q, 1), nth(&q, 0), why,
		    sizeof(why)), 0, "group: sibling too");
		spool_release(nth(&q, 1));
		spool_release(nth(&q, 0));
	}
	spool_free(&q);

	/* One by one (dma -M): each acquire alone, each remove strikes one. */
	ok(spool_load(&q, 1, why, sizeof(why)) == 0 && q.n == 5, "group: reload");
	for (i = 0; i < 2 && q.n == 5; i++) {
		is_int(spool_acquire(nth(&q, i), why, sizeof(why)), 0,
		    "group: recipient %zu acquired alone", i + 1);
		ok(spool_remove(nth(&q, i)) == 0, "group: and removed");
		spool_release(nth(&q, i));
	}
	ok(!exists(sp(fmt("Q%s.1", id))) && !exists(sp(fmt("M%s.1", id))),
	    "group: the entry is gone after both");
	spool_free(&q);
	empty_dir();

	/* JOB_MAX + 1 recipients at one domain: two entries */
	for (i = 0; i < JOB_MAX + 1; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "r%zu@y.org", i);
		many[i] = addrs[i];
	}
	id = submit_list("s@x.org", many, JOB_MAX + 1, NULL);
	ok(id != NULL, "group: submit %d", JOB_MAX + 1);
	is_int(count_files(), 4, "group: 2 Q files, 2 M links");
	m = slurp(sp(fmt("Q%s.1", id)));
	for (n = 0, i = 0; m != NULL && m[i] != '\0'; i++)
		n += strncmp(m + i, "\nRecipient: ", 12) == 0;
	is_int((int)n, JOB_MAX, "group: the first holds JOB_MAX");
	m = slurp(sp(fmt("M%s.1", id)));
	ok(m != NULL && strstr(m, fmt("\nEntry: 1 %d\n", JOB_MAX)) != NULL &&
	    strstr(m, "\nEntry: 2") == NULL, "group: one Entry line");
	ok(spool_load(&q, 1, why, sizeof(why)) == 0 && q.n == JOB_MAX + 1,
	    "group: all loaded");
	ok(nth(&q, JOB_MAX) != NULL && strcmp(nth(&q, JOB_MAX)->queueid,
	    fmt("%s.2", id)) == 0 && nth(&q, JOB_MAX)->gsize == 1,
	    "group: the last alone in entry 2");
	spool_free(&q);
	empty_dir();
}

int
main(void)
{
	umask(077);
	if (mkdtemp(dir) == NULL || mkdtemp(outside) == NULL) {
		perror("mkdtemp");
		return (2);
	}
	conf_init(&config);
	free(config.spooldir);
	config.spooldir = dir;
	free(config.mailname);
	config.mailname = xstrdup("test.example");
	config.features &= ~NULLCLIENT;
	hostname_init(config.mailname);

	test_roundtrip();
	test_refusal();
	test_parse();
	test_uncommitted_and_stale();
	test_power_loss();
	test_malformed_and_order();
	test_hygiene();
	test_locking();
	test_sibling();
	test_flush();
	test_errors();
	test_state();
	test_group();

	empty_dir();
	rmdir(dir);
	rmdir(outside);
	free(config.mailname);
	config.mailname = NULL;
	config.spooldir = NULL;
	return (done_testing());
}
