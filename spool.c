/*
 * spool.c - the queue: file format, queue ids, atomic create/link of a
 * submission, reading one entry.  With spoolacq.c (acquiring an entry:
 * locks, the message as deliverers read it, group entries, the state
 * rewrite, removal and release), spoollist.c (listing, cleanup of stale
 * files, -bp) and spoolstate.c (daemon lock, flush file), which share
 * spoolint.h and call into this file, never the other way, it is the
 * spool module.
 *
 * The module owns every file in the spool directory (config.spooldir);
 * no other module creates, renames or removes anything there.  Side effects:
 * files in the spool directory, flock(2) locks on them, syslog.
 * Runs setgid mail (egid mail gives access to the 2770 spool directory)
 * as the submitting user, or as whoever runs the queue; files are created
 * 0660 from the start (the umask is lifted for the open) so that no crash
 * can leave one group mail cannot open.
 *
 * File format, version 2 (SPOOL_VERSION) and 3 (SPOOL_VERSION_GROUP).
 * The message file, the temp file that becomes M{qid} by hard links,
 * holds the message followed by its envelope as a trailer:
 *
 *	{message bytes}			(mail_read writes these first)
 *	ID: {msgid}\n
 *	Sender: {sender}\n		(empty for a bounce)
 *	Recipient: {addr}\n		(one per recipient, in entry order)
 *	...
 *	Entry: {n} {k}\n		(version 3: entry {msgid}.{n} has k
 *	...				 recipients, k > 1)
 *	DMA-Trailer: 00V {16 hex}\n	(fixed size: version, offset of "ID:")
 *
 * An entry {msgid}.{n} is one Q file.  A local recipient is an entry of
 * its own; the remote recipients of one domain share one, up to JOB_MAX
 * (one SMTP transaction: they have one next hop under any configuration)
 * and GROUP_TEXT_MAX bytes of addresses, each address once.  So the
 * Recipient lines of the trailer are the entries' recipients one entry
 * after the other; an entry without an Entry line is one recipient (all
 * of version 2, where line n is the recipient of {msgid}.{n}), and the
 * version is 3 when there is an Entry line.
 *
 * The trailer goes after the message because -t learns the recipients
 * only while the message is read, and because one fsync of that one file
 * then makes message and envelope durable.  Readers get the message only
 * (spool_acquire's mfp shows [0, offset), with seek and rewind).  A Q file
 * is a copy of one entry's part of it, "Version: 2\n" first (3 when it
 * has several recipients), then "ID: {qid}", "Sender: " and one
 * "Recipient: " line per recipient; it is not fsync'ed.
 * Q files are read by upstream's rules (spec 4.4): "Key: value" lines in
 * any order, unknown keys ignored (a later version adds keys, such as a
 * delivery state, without a migration), every line complete; below
 * version 3 the last of a repeated key wins.  No Version
 * line means version 1, upstream dma 0.13's format and ours before the
 * trailer: the M file is the message alone.  qids of the form
 * {hex}.{hex} of any length are accepted, so upstream's pointer-valued
 * ones are too.  A Q file that does not parse (empty, cut, zeros: what a
 * power loss leaves of an unsynced file) is replaced by the trailer of
 * its M file; if that does not parse either the entry is malformed.
 *
 * In memory every recipient is a struct qitem; those of one Q file (a
 * group entry) share its queueid and come one after the other.  They
 * are acquired together (spool_acquire_sibling: one lock, through
 * duplicated descriptors) or one by one, and the file is changed when
 * the last of them is released: removed when every recipient in it was
 * removed (at that spool_remove), else rewritten like a state
 * (spool_save_state) without the recipients removed.
 *
 * Spool states of one message {msgid} (hex inode of the temp file) and
 * its per-recipient entries {qid} = {msgid}.{n}:
 *
 *   tmp_{msgid}  Q{qid}  M{qid}   state
 *   -----------  ------  ------   ------------------------------------
 *   yes, locked  any     any      being received or committed; invisible
 *   yes, unlock  any     any      submitter died; rolled back by cleanup
 *   no           yes     yes      queued (Q unlocked) or being
 *                                 delivered (Q flock'ed by one process)
 *   no           no      yes      delivered, M removal pending / crashed
 *   no           no      no       delivered or bounced
 *
 * Transitions and their commit points:
 *   spool_create	tmp_XXXXXXXXXX (random) created 0660, locked, then
 *			linked to tmp_{msgid} (the random name is removed at
 *			once).
 *   spool_commit	the trailer appended and the temp file fsync'ed
 *			(fsync 1); for each entry Q{qid} written (no
 *			fsync), then M{qid} linked to the temp file;
 *			unlink(tmp_{msgid}) is the COMMIT POINT; directory
 *			fsync (fsync 2) before success is reported.  If that
 *			fsync fails the entries stay queued (a run may
 *			already deliver them) and the submitter gets a
 *			temporary failure: SPOOL_ESYNC.
 *   spool_acquire	flock(Q, LOCK_EX|LOCK_NB) and a check that the path
 *			still names the locked inode.
 *   spool_save_state	under the entry's lock, after a failed attempt or for
 *			dma -Mf/-Mt: tmp_state_{qid} written, fsync'ed, given
 *			Q's mtime (the time queued) and renamed over Q{qid};
 *			the lock stays on the replaced file, so it is the
 *			holder's last act before spool_release.  For a group
 *			entry it is done by the last spool_release.
 *   spool_remove	unlink(Q) is the delivery COMMIT POINT, then unlink(M).
 *			No directory fsync (spool_sync is the runner's
 *			choice): a removal lost to a power loss offers the
 *			message again, and local delivery's journal knows it.
 *			For a recipient of a group entry the commit point is
 *			the rename of the rewritten Q (the last release), or
 *			the unlink of Q with the last recipient; a crash
 *			before it offers the whole entry again.
 *
 * Why two fsyncs are enough.  Assumed of the file system: metadata
 * journaling that keeps the order of directory operations (ext4 and xfs
 * do: a crash recovers a prefix of the creates, links and unlinks, in
 * order), and fsync of a file makes its data and size durable.  Then,
 * after a power loss:
 *   - before fsync 2 returned the submitter was told nothing; if the
 *     unlink of tmp_{msgid} did not survive, tmp_{msgid} is there and a
 *     run rolls the message back (all its Q/M); if it survived, so did
 *     every Q name and M link made before it: all recipients are queued.
 *   - the data of M is durable since fsync 1, before any name of it was
 *     made; a Q file may be empty, cut or zero-filled, and is then
 *     replaced by M's trailer.  Nothing is lost, nothing is half-queued.
 * Without that ordering (ext2, some network file systems) a power loss
 * before success is reported may leave only some recipients queued (the
 * submitter, not told success, may send it again); once success is
 * reported, fsync 2 has made every name durable on any file system.
 *
 * Invariants:
 *   - Q{qid} is created before M{qid} and removed before it, so an M
 *     without Q and without tmp_{msgid} is garbage.
 *   - While tmp_{msgid} exists no entry of {msgid} is listed or delivered,
 *     so a half-written message is never seen by a queue run.
 *   - Only the holder of the flock on Q{qid} delivers or removes it; the
 *     lock is per open file description and inherited across fork.
 *   - Q files and trailers are written only here, with envelope fields
 *     free of control characters (so a field cannot add a line), and
 *     every field read back is checked again (envfield_ok, qid_ok).
 *
 * Who removes stale files: queue runs (spool_load with cleanup set).
 *   - tmp_* whose mtime is more than STALE_TMP_AGE from now (either way)
 *     and that is not locked, or that this runner cannot open at all (a
 *     live submission's temp file is always 0660): the file and every
 *     Q{msgid}.* / M{msgid}.* of the same inode (roll back), by name.
 *   - M{qid} without Q{qid} and without tmp_{msgid}.
 *   - A malformed entry (neither Q{qid} nor the trailer of M{qid} gives
 *     an envelope) is not removed but renamed to bad_{qid}, its M
 *     file to bad_{qid}.msg, for the administrator; only under the lock of
 *     Q{qid}, with the path still naming the locked inode, no tmp_{msgid}
 *     and the file read again, so a new submission that reused the inode
 *     number is never set aside half-written.
 *   The submitter itself removes its files on failure (spool_abort).
 *
 * Other names: J* files belong to local delivery's append journal and
 * bad_* files to the administrator; spool.c lists, reads and removes
 * neither (only Q*, M*, tmp_* and the flush file are its own).
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"
#include "spoolint.h"
const char *
spool_dir(void)
{
	return (config.spooldir != NULL ? config.spooldir : SPOOL_PATH);
}

/* spool_path - "{spooldir}/{prefix}{name}" into buf; -1 if too long */
int
spool_path(char *buf, size_t len, const char *prefix, const char *name)
{
	if (xsnprintf(buf, len, "%s/%s%s", spool_dir(), prefix, name) != 0) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/* spool_dir_sync - fsync the spool directory so link/unlink are durable */
int
spool_dir_sync(void)
{
	int fd, r, saved;

	fd = open(spool_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return (-1);
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return (r);
}

/* hexpart_ok - s[0..len) is one or more lower-case hex digits */
static int
hexpart_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return (0);
	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	}
	return (1);
}

/* spool_qid_ok - s matches ^[0-9a-f]+\.[0-9a-f]+$ and is not absurdly long */
int
spool_qid_ok(const char *s)
{
	const char *dot;
	size_t len;

	len = strlen(s);
	if (len >= QID_MAX || (dot = strchr(s, '.')) == NULL)
		return (0);
	return (hexpart_ok(s, (size_t)(dot - s)) &&
	    hexpart_ok(dot + 1, len - (size_t)(dot - s) - 1));
}

/* hexcmp - compare two hex numbers given as strings of any length */
static int
hexcmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c;

	while (alen > 1 && *a == '0') {
		a++;
		alen--;
	}
	while (blen > 1 && *b == '0') {
		b++;
		blen--;
	}
	if (alen != blen)
		return (alen < blen ? -1 : 1);
	c = memcmp(a, b, alen);
	return (c < 0 ? -1 : c > 0);
}

/* spool_qid_cmp - numeric order of two well-formed queue ids */
int
spool_qid_cmp(const char *a, const char *b)
{
	const char *da = strchr(a, '.'), *db = strchr(b, '.');
	int c;

	c = hexcmp(a, (size_t)(da - a), b, (size_t)(db - b));
	if (c != 0)
		return (c);
	return (hexcmp(da + 1, strlen(da + 1), db + 1, strlen(db + 1)));
}

/* spool_write_all - write len bytes to fd, retrying short writes */
int
spool_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		buf += w;
		len -= (size_t)w;
	}
	return (0);
}

/*
 * read_capped - read fd from offset 0 into buf; -1, or size (cap+1 = too
 * big).  size is what fstat said: a short read that reaches it is the
 * end of the file (Q files are never appended to), which saves the
 * second read that would only return 0.
 */
static ssize_t
read_capped(int fd, char *buf, size_t cap, off_t size)
{
	size_t got = 0;

	while (got < cap + 1) {
		size_t want = cap + 1 - got;
		ssize_t r = pread(fd, buf + got, want, (off_t)got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if ((size_t)r < want && (off_t)got >= size)
			break;
	}
	return ((ssize_t)got);
}

/*
 * spool_create_exact - create path exclusively with exactly the given mode.
 *
 * The umask (077 since main) is lifted for the open itself so that the
 * file never exists with a narrower mode: a crash right after the open
 * must not leave a file that group mail (another user's queue run) cannot
 * open.  Symlinks are not followed.
 */
int
spool_create_exact(const char *path, int flags, mode_t mode)
{
	mode_t old;
	int fd, saved;

	old = umask(0);
	fd = open(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	saved = errno;
	umask(old);
	errno = saved;
	return (fd);
}

/*
 * create_random_tmp - tmp_ plus 10 random characters, created 0660 into
 * path.  Returns the descriptor or -1.
 */
static int
create_random_tmp(char *path, size_t len)
{
	static const char set[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[10];
	char name[16];
	int fd, tries, i;

	for (tries = 0; tries < 100; tries++) {
		if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(rnd)) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			for (i = 0; i < (int)sizeof(rnd); i++)
				rnd[i] = (unsigned char)((ts.tv_nsec >> (i % 4 * 8)) ^
				    getpid() ^ (tries * 31 + i * 7));
		}
		for (i = 0; i < (int)sizeof(rnd); i++)
			name[i] = set[rnd[i] % (sizeof(set) - 1)];
		name[sizeof(rnd)] = '\0';
		if (spool_path(path, len, "tmp_", name) != 0)
			return (-1);
		fd = spool_create_exact(path, O_RDWR, 0660);
		if (fd >= 0 || errno != EEXIST)
			return (fd);
	}
	return (-1);
}

/*
 * spool_create - start receiving a message.
 *
 * The random name is replaced by tmp_{msgid} at once so that a queue run
 * can tell which Q/M files belong to a crashed submission.  link+unlink
 * (not rename) is used so that an existing name is never replaced.  The
 * file has its final mode from the start (create_exact).  The flock is
 * held until the message is committed or aborted; it is what tells a
 * queue run that the submitter is alive.
 */
int
spool_create(struct spool_tmp *t, char *why, size_t whylen)
{
	char tpl[PATH_MAX];
	struct stat st;
	int saved;

	memset(t, 0, sizeof(*t));
	t->fd = create_random_tmp(tpl, sizeof(tpl));
	if (t->fd < 0) {
		saved = errno;
		goto fail;
	}
	if (flock(t->fd, LOCK_EX) != 0 || fstat(t->fd, &st) != 0) {
		saved = errno;
		unlink(tpl);
		goto fail;
	}
	if (xsnprintf(t->msgid, sizeof(t->msgid), "%llx",
	    (unsigned long long)st.st_ino) != 0 ||
	    spool_path(t->path, sizeof(t->path), "tmp_", t->msgid) != 0) {
		saved = ENAMETOOLONG;
		unlink(tpl);
		goto fail;
	}
	if (link(tpl, t->path) != 0) {
		saved = errno;
		unlink(tpl);
		goto fail;
	}
	unlink(tpl);
	t->fp = fdopen(t->fd, "w");
	if (t->fp == NULL) {
		saved = errno;
		unlink(t->path);
		goto fail;
	}
	return (0);

fail:
	if (t->fd >= 0)
		close(t->fd);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	snprintf(why, whylen, "can not create temp file in `%s': %s",
	    spool_dir(), strerror(saved));
	return (-1);
}

/*
 * The entries of one message (commit_groups): a local recipient is an
 * entry of its own; remote recipients of one domain share one Q file, up
 * to JOB_MAX of them (one transaction) and GROUP_TEXT_MAX bytes, each
 * address once per file.  Entry g (1-based, in order of first
 * appearance) is {msgid}.{g}; its recipients are rcpt[first[g-1]] and
 * the ones after it in member order.
 */
struct cgroups {
	const struct rcpt **rcpt;	/* recipients in entry order */
	size_t	 n;			/* recipients */
	size_t	*first;			/* per entry: index of its first */
	size_t	*size;			/* per entry: its recipients */
	size_t	 ng;			/* entries */
};

/* domain_of - the domain of a remote address (after the last '@') */
static const char *
domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return (at != NULL ? at + 1 : "");
}

/* group_takes - r may join the entry of recipients v[0..n) (bytes long) */
static int
group_takes(const struct rcpt *const *v, size_t n, size_t bytes,
    const struct rcpt *r)
{
	size_t i;

	if (v[0]->local || r->local || n >= JOB_MAX ||
	    bytes + strlen(r->addr) + 12 > GROUP_TEXT_MAX ||
	    strcasecmp(domain_of(v[0]->addr), domain_of(r->addr)) != 0)
		return (0);
	for (i = 0; i < n; i++) {
		if (strcmp(v[i]->addr, r->addr) == 0)
			return (0);
	}
	return (1);
}

/* commit_groups - split the recipients of l into entries (above) */
static void
commit_groups(const struct rcptlist *l, struct cgroups *g)
{
	const struct rcpt *r, ***mem;
	size_t *cnt, *bytes, n = 0, i, j, k, open = 0;

	for (r = l->head; r != NULL; r = r->next)
		n++;
	g->n = n;
	g->ng = 0;
	g->rcpt = xcalloc(n + 1, sizeof(*g->rcpt));
	g->first = xcalloc(n + 1, sizeof(*g->first));
	g->size = xcalloc(n + 1, sizeof(*g->size));
	mem = xcalloc(n + 1, sizeof(*mem));
	cnt = xcalloc(n + 1, sizeof(*cnt));
	bytes = xcalloc(n + 1, sizeof(*bytes));
	for (r = l->head; r != NULL; r = r->next) {
		/*
		 * Entries still taking recipients are [open, ng); a full one
		 * stays full.  Most messages have one or two domains, so
		 * the search is short.
		 */
		for (k = open; k < g->ng; k++) {
			if (group_takes(mem[k], cnt[k], bytes[k], r))
				break;
		}
		if (k == g->ng) {
			mem[k] = xcalloc(r->local ? 1 : JOB_MAX, sizeof(**mem));
			g->ng++;
		}
		mem[k][cnt[k]++] = r;
		bytes[k] += strlen(r->addr) + 12;
		while (open < g->ng && (mem[open][0]->local ||
		    cnt[open] >= JOB_MAX))
			open++;
	}
	for (k = 0, i = 0; k < g->ng; k++) {
		g->first[k] = i;
		g->size[k] = cnt[k];
		for (j = 0; j < cnt[k]; j++)
			g->rcpt[i++] = mem[k][j];
		free(mem[k]);
	}
	free(mem);
	free(cnt);
	free(bytes);
}

static void
cgroups_free(struct cgroups *g)
{
	free(g->rcpt);
	free(g->first);
	free(g->size);
	memset(g, 0, sizeof(*g));
}

/*
 * write_qfile - create Q file path exclusively: the version line, then
 * ID, Sender and the n Recipient lines of v (version 2 for one,
 * SPOOL_VERSION_GROUP for several).  Not fsync'ed: its content is a copy
 * of what the fsync'ed trailer of the message file says (see the top of
 * this file), so a Q file emptied or cut by a power loss loses nothing.
 */
static int
write_qfile(const char *path, const char *qid, const char *sender,
    const struct rcpt *const *v, size_t n)
{
	char *buf;
	size_t len = 0, cap, i;
	int fd, saved, w;

	cap = 64 + QID_MAX + strlen(sender);
	for (i = 0; i < n; i++)
		cap += strlen(v[i]->addr) + 12;
	buf = xmalloc(cap);
	w = snprintf(buf, cap, "Version: %d\nID: %s\nSender: %s\n",
	    n > 1 ? SPOOL_VERSION_GROUP : SPOOL_VERSION, qid, sender);
	len = (size_t)w;
	for (i = 0; i < n; i++) {
		w = snprintf(buf + len, cap - len, "Recipient: %s\n", v[i]->addr);
		len += (size_t)w;
	}
	fd = spool_create_exact(path, O_WRONLY, 0660);
	if (fd < 0) {
		free(buf);
		return (-1);
	}
	if (spool_write_all(fd, buf, len) != 0) {
		saved = errno;
		close(fd);
		unlink(path);
		free(buf);
		errno = saved;
		return (-1);
	}
	free(buf);
	if (close(fd) != 0) {
		saved = errno;
		unlink(path);
		errno = saved;
		return (-1);
	}
	return (0);
}

/*
 * write_trailer - append the envelope to the message in t: ID, Sender,
 * one Recipient line per recipient in entry order, an "Entry: {g} {k}"
 * line for every entry g of k > 1 recipients (then the version is
 * SPOOL_VERSION_GROUP), and the fixed-size last line naming the version
 * and the offset where the trailer starts (the length of the message).
 */
static int
write_trailer(struct spool_tmp *t, const char *sender, const struct cgroups *g)
{
	off_t mlen;
	size_t i;
	unsigned ver = SPOOL_VERSION;

	if (fflush(t->fp) != 0 || ferror(t->fp))
		return (-1);
	if ((mlen = lseek(t->fd, 0, SEEK_END)) < 0)
		return (-1);
	fprintf(t->fp, "ID: %s\nSender: %s\n", t->msgid, sender);
	for (i = 0; i < g->n; i++)
		fprintf(t->fp, "Recipient: %s\n", g->rcpt[i]->addr);
	for (i = 0; i < g->ng; i++) {
		if (g->size[i] > 1) {
			fprintf(t->fp, "Entry: %zx %zu\n", i + 1, g->size[i]);
			ver = SPOOL_VERSION_GROUP;
		}
	}
	fprintf(t->fp, TAIL_FMT, ver, (unsigned long long)mlen);
	if (fflush(t->fp) != 0 || ferror(t->fp))
		return (-1);
	return (0);
}

/* spool_item_new - a fresh entry for qid with paths filled in */
struct qitem *
spool_item_new(const char *qid, const char *sender, const char *addr)
{
	struct qitem *it;
	char qpath[PATH_MAX], mpath[PATH_MAX];

	it = xcalloc(1, sizeof(*it));
	it->queueid = xstrdup(qid);
	it->sender = xstrdup(sender);
	it->addr = xstrdup(addr);
	it->qfd = -1;
	it->mfp = NULL;
	it->mfd = -1;
	/* Paths are allocated to size: a run may hold 10,000s of entries. */
	if (spool_path(qpath, sizeof(qpath), "Q", qid) != 0 ||
	    spool_path(mpath, sizeof(mpath), "M", qid) != 0) {
		/* qid is short and spooldir fitted tmp_{msgid}: cannot happen */
		qpath[0] = mpath[0] = '\0';
	}
	it->qpath = xstrdup(qpath);
	it->mpath = xstrdup(mpath);
	return (it);
}

/*
 * commit_files - append the envelope trailer and fsync the temp file,
 * write Q and link M for every entry of g, then pass the commit point
 * and fsync the directory: two fsyncs whatever the number of
 * recipients.  Returns 0, -1 with errno set (nothing committed), or
 * SPOOL_ESYNC with errno set (committed, the directory fsync failed);
 * t->nq counts the complete Q/M pairs made, for spool_abort to remove.
 */
static int
commit_files(struct spool_tmp *t, const char *sender, const struct cgroups *g)
{
	char qid[QID_MAX], qpath[PATH_MAX], mpath[PATH_MAX];
	size_t k;
	int saved;

	if (write_trailer(t, sender, g) != 0 || fsync(t->fd) != 0)
		return (-1);
	for (k = 0; k < g->ng; k++) {
		if (xsnprintf(qid, sizeof(qid), "%s.%x", t->msgid, t->nq + 1) != 0 ||
		    spool_path(qpath, sizeof(qpath), "Q", qid) != 0 ||
		    spool_path(mpath, sizeof(mpath), "M", qid) != 0) {
			errno = ENAMETOOLONG;
			return (-1);
		}
		if (write_qfile(qpath, qid, sender, g->rcpt + g->first[k],
		    g->size[k]) != 0)
			return (-1);
		if (link(t->path, mpath) != 0) {
			saved = errno;
			unlink(qpath);
			errno = saved;
			return (-1);
		}
		t->nq++;
	}
	/*
	 * COMMIT POINT: from here on a queue run may deliver the entries.
	 * No directory fsync is needed before it: the journal of the
	 * file system keeps the order of the directory operations, so a
	 * durable unlink means durable Q names and M links.
	 */
	if (unlink(t->path) != 0)
		return (-1);
	/*
	 * 2026-12: the entries are visible now and a concurrent run may be
	 * delivering them, so a failing fsync must not roll them back (that
	 * removed mail in delivery).  The caller is told SPOOL_ESYNC.
	 */
	return (spool_dir_sync() != 0 ? SPOOL_ESYNC : 0);
}

/*
 * spool_commit - make a queued message visible to the runner.
 *
 * Every envelope field is checked before anything is written: a CR or LF
 * in a sender or recipient would let a submitter inject lines into the
 * Q file.  On failure the message is aborted completely (spool_abort),
 * on success t is closed and emptied so a later spool_abort is harmless.
 * Entries returned in out have qfd = -1 and mfp = NULL: the caller must
 * spool_acquire each one before delivering it, exactly like a queue run
 * (holding 10000 locked descriptors would exhaust the fd table).
 */
int
spool_commit(struct spool_tmp *t, const char *sender, const struct rcptlist *l,
    struct queue *out, char *why, size_t whylen)
{
	const struct rcpt *r;
	struct qitem *it, **tailp;
	struct cgroups g;
	char qid[QID_MAX], safe[256];
	size_t k, i;
	time_t now;
	int ret;

	if (out != NULL) {
		out->head = NULL;
		out->n = 0;
	}
	/* Reject control characters in envelope fields (Q file injection). */
	if (sender == NULL || !envfield_ok(sender)) {
		snprintf(why, whylen, "invalid sender in envelope");
		spool_abort(t);
		return (-1);
	}
	if (l == NULL || l->head == NULL) {
		snprintf(why, whylen, "no recipients");
		spool_abort(t);
		return (-1);
	}
	for (r = l->head; r != NULL; r = r->next) {
		if (r->addr == NULL || r->addr[0] == '\0' || !envfield_ok(r->addr)) {
			snprintf(why, whylen, "invalid recipient in envelope");
			spool_abort(t);
			return (-1);
		}
	}
	commit_groups(l, &g);
	if (t->fp == NULL || (ret = commit_files(t, sender, &g)) < 0) {
		snprintf(why, whylen, "can not create spools: %s",
		    t->fp == NULL ? strerror(EBADF) : strerror(errno));
		cgroups_free(&g);
		spool_abort(t);
		return (-1);
	}
	if (ret == SPOOL_ESYNC) {
		snprintf(why, whylen, "message queued as %s.*, but can not sync "
		    "spool directory `%s': %s; it may not survive a crash",
		    t->msgid, spool_dir(), strerror(errno));
		log_msg(LOG_ERR, "%s", why);
	}

	now = time(NULL);
	tailp = out != NULL ? &out->head : NULL;
	for (k = 0; k < g.ng; k++) {
		if (xsnprintf(qid, sizeof(qid), "%s.%zx", t->msgid, k + 1) != 0)
			continue;	/* fitted in commit_files */
		for (i = g.first[k]; i < g.first[k] + g.size[k]; i++) {
			r = g.rcpt[i];
			log_msg(LOG_INFO, "mail to=<%s> queued as %s",
			    log_safe(safe, sizeof(safe), r->addr), qid);
			if (tailp == NULL)
				continue;
			it = spool_item_new(qid, sender, r->addr);
			it->local = r->local;
			it->qtime = now;
			it->gsize = (unsigned)g.size[k];
			it->version = g.size[k] > 1 ? SPOOL_VERSION_GROUP :
			    SPOOL_VERSION;
			*tailp = it;
			tailp = &it->next;
			out->n++;
		}
	}
	cgroups_free(&g);
	fclose(t->fp);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	return (ret);
}

/*
 * spool_abort - drop a submission: Q/M pairs made so far and the temp
 * file.  Not synced: if a power loss brings the temp file back, a queue
 * run rolls the whole submission back.
 */
void
spool_abort(struct spool_tmp *t)
{
	char qid[QID_MAX], path[PATH_MAX];
	unsigned i;

	for (i = 1; i <= t->nq; i++) {
		if (xsnprintf(qid, sizeof(qid), "%s.%x", t->msgid, i) != 0)
			continue;
		if (spool_path(path, sizeof(path), "Q", qid) == 0)
			unlink(path);
		if (spool_path(path, sizeof(path), "M", qid) == 0)
			unlink(path);
	}
	if (t->path[0] != '\0')
		unlink(t->path);
	if (t->fp != NULL)
		fclose(t->fp);
	else if (t->path[0] != '\0' && t->fd >= 0)
		close(t->fd);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
}

void
spool_rlist_free(struct rlist *rl)
{
	size_t i;

	for (i = 0; i < rl->n; i++)
		free(rl->v[i]);
	free(rl->v);
	rl->v = NULL;
	rl->n = 0;
}

/*
 * rcpt_lines - the values of the "Recipient" lines of buf (whole lines,
 * checked by spool_parse_lines already) whose ordinal, from 1, is in
 * [from, from + count), appended to rl; *total counts them all.  0, or
 * -1 if one is not a valid field.
 */
static int
rcpt_lines(const char *buf, size_t len, size_t from, size_t count,
    struct rlist *rl, size_t *total)
{
	static const char key[] = "Recipient:";
	const char *p = buf, *end = buf + len, *nl, *v;
	char *val;

	*total = 0;
	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL;
	    p = nl + 1) {
		if ((size_t)(nl - p) < sizeof(key) - 1 ||
		    memcmp(p, key, sizeof(key) - 1) != 0)
			continue;
		++*total;
		if (*total < from || *total - from >= count)
			continue;
		for (v = p + sizeof(key) - 1; v < nl && (*v == ' ' || *v == '\t'); v++)
			;
		val = xstrndup(v, (size_t)(nl - v));
		if (!envfield_ok(val) || val[0] == '\0') {
			free(val);
			return (-1);
		}
		rl->v = xrealloc(rl->v, (rl->n + 1) * sizeof(*rl->v));
		rl->v[rl->n++] = val;
	}
	return (0);
}

/*
 * entry_range - where the recipients of entry g ({msgid}.{g}) are among
 * the Recipient lines of a trailer: from *first (1-based), *count of
 * them.  An entry of several recipients has an "Entry: {g} {k}" line
 * (version 3); every other entry is one recipient.  0, or -1 if an
 * Entry line does not parse.
 */
static int
entry_range(const char *buf, size_t len, unsigned long long g, size_t *first,
    size_t *count)
{
	static const char key[] = "Entry:";
	const char *p = buf, *end = buf + len, *nl;
	unsigned long long eg, k;
	char line[64], *ep, *ep2;
	size_t before = 0;

	*count = 1;
	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL;
	    p = nl + 1) {
		if ((size_t)(nl - p) < sizeof(key) - 1 ||
		    memcmp(p, key, sizeof(key) - 1) != 0)
			continue;
		if ((size_t)(nl - p) >= sizeof(line))
			return (-1);
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		errno = 0;
		eg = strtoull(line + sizeof(key) - 1, &ep, 16);
		if (*ep != ' ')
			return (-1);
		k = strtoull(ep + 1, &ep2, 10);
		if (errno != 0 || *ep2 != '\0' || eg == 0 || k < 2 ||
		    k > JOB_MAX)
			return (-1);
		if (eg < g)
			before += (size_t)k - 1;
		else if (eg == g)
			*count = (size_t)k;
	}
	*first = (size_t)g + before;
	return (0);
}

void
spool_state_copy(struct qstate *dst, const struct qstate *src)
{
	free(dst->error);
	*dst = *src;
	dst->error = src->error != NULL ? xstrdup(src->error) : NULL;
}

/*
 * field_set - keep value v (length n) of a known key in *slot (the last
 * one wins, as upstream reads); 0, or -1 if it is not a valid field.
 */
static int
field_set(char **slot, const char *v, size_t n)
{
	free(*slot);
	*slot = xstrndup(v, n);
	return (envfield_ok(*slot) ? 0 : -1);
}

/*
 * spool_parse_lines - read "Key: value" lines of buf (a Q file or the body of
 * a trailer) into val[] for keys[] (NULL-terminated, case-sensitive);
 * counts "Recipient" lines in *nrcpt and keeps the nth in val of
 * "Recipient" when want > 0 (else the last).  Unknown keys are ignored.
 * Every line ends with a newline and has a colon; blanks after the colon
 * are skipped.  0, or -1 with why.
 */
int
spool_parse_lines(const char *buf, size_t len, const char *const *keys,
    char **val, unsigned want, unsigned *nrcpt, char *why, size_t whylen)
{
	const char *p = buf, *end = buf + len, *nl, *colon, *v;
	size_t klen;
	int i, isrcpt;

	if (memchr(buf, '\0', len) != NULL) {
		snprintf(why, whylen, "NUL byte");
		return (-1);
	}
	*nrcpt = 0;
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			snprintf(why, whylen, "unterminated last line");
			return (-1);
		}
		colon = memchr(p, ':', (size_t)(nl - p));
		if (colon == NULL) {
			snprintf(why, whylen, "line without `:'");
			return (-1);
		}
		klen = (size_t)(colon - p);
		for (v = colon + 1; v < nl && (*v == ' ' || *v == '\t'); v++)
			;
		for (i = 0; keys[i] != NULL; i++) {
			if (strlen(keys[i]) == klen && memcmp(p, keys[i], klen) == 0)
				break;
		}
		if (keys[i] == NULL)
			continue;	/* unknown key: later versions add some */
		isrcpt = strcmp(keys[i], "Recipient") == 0;
		if (isrcpt && ++*nrcpt != want && want > 0)
			continue;
		if (field_set(&val[i], v, (size_t)(nl - v)) != 0) {
			snprintf(why, whylen, "invalid `%s' value", keys[i]);
			return (-1);
		}
	}
	return (0);
}

/*
 * spool_parse_qfile - read a Q file: ours (version 2: "Version: 2"
 * first) and upstream's (no version line; 0.13 and ours before it) by
 * the same rules, those of upstream: "Key: value" lines in any order,
 * ID, Sender (may be empty) and Recipient required, unknown keys
 * ignored, the last of a repeated key wins.  Every line must end with a
 * newline, so a file cut short by a power loss is not taken for a whole
 * one.
 */
int
spool_parse_qfile(const char *buf, size_t len, struct qitem *it, char *why,
    size_t whylen)
{
	static const char *const keys[] = { "ID", "Sender", "Recipient",
	    "Version", NULL };
	char *val[4] = { NULL, NULL, NULL, NULL };
	unsigned nrcpt;
	long ver = 1;
	char *ep;
	int i;

	if (len == 0) {
		snprintf(why, whylen, "empty queue file");
		return (-1);
	}
	if (spool_parse_lines(buf, len, keys, val, 0, &nrcpt, why, whylen) != 0)
		goto fail;
	if (val[3] != NULL) {
		errno = 0;
		ver = strtol(val[3], &ep, 10);
		if (val[3][0] < '1' || val[3][0] > '9' || *ep != '\0' ||
		    errno != 0 || ver > 999) {
			snprintf(why, whylen, "invalid `Version' value");
			goto fail;
		}
	}
	if (val[0] == NULL || !spool_qid_ok(val[0])) {
		snprintf(why, whylen, val[0] == NULL ? "no `ID' line" :
		    "invalid queue id");
		goto fail;
	}
	if (val[1] == NULL) {
		snprintf(why, whylen, "no `Sender' line");
		goto fail;
	}
	if (val[2] == NULL || val[2][0] == '\0') {
		snprintf(why, whylen, val[2] == NULL ? "no `Recipient' line" :
		    "empty recipient");
		goto fail;
	}
	it->queueid = val[0];
	it->sender = val[1];
	it->addr = val[2];
	it->version = (int)ver;
	free(val[3]);
	return (0);

fail:
	for (i = 0; i < 4; i++)
		free(val[i]);
	return (-1);
}

/*
 * Delivery state keys of a Q file (version 2 readers before them ignore
 * them, like every unknown key):
 *
 *	Attempts: {n}			failed attempts
 *	Last-Attempt: {epoch}		time of the last failed one
 *	Last-Error: {text}		its reason, one printable line
 *	Next-Attempt: {epoch}		scheduled runs wait until then
 *	Held: yes			dma -Mf; dma -Mt removes it
 *	Warned: {epoch}			the delay warning was sent
 *
 * An entry without them was never attempted.  A value that does not
 * parse counts as absent: the state is advice, never a reason to set
 * an entry aside.
 */
static const char *const state_keys[] = { "Attempts", "Last-Attempt",
    "Last-Error", "Next-Attempt", "Held", "Warned", NULL };
#define NSTATE_KEYS	6

/* state_num - a decimal value of a state key, 0 when absent or bad */
static long long
state_num(const char *v)
{
	long long n;
	char *ep;

	if (v == NULL || v[0] < '0' || v[0] > '9')
		return (0);
	errno = 0;
	n = strtoll(v, &ep, 10);
	if (errno != 0 || *ep != '\0' || n < 0)
		return (0);
	return (n);
}

/* parse_state - the delivery state keys of a Q file's bytes into st */
static void
parse_state(const char *buf, size_t len, struct qstate *st)
{
	char *val[NSTATE_KEYS + 1], why[64];
	unsigned nrcpt;
	long long n;
	int i;

	memset(st, 0, sizeof(*st));
	memset(val, 0, sizeof(val));
	if (spool_parse_lines(buf, len, state_keys, val, 0, &nrcpt, why,
	    sizeof(why)) == 0) {
		n = state_num(val[0]);
		st->attempts = n > 1000000 ? 1000000 : (unsigned)n;
		st->lastfail = (time_t)state_num(val[1]);
		if (val[2] != NULL && val[2][0] != '\0')
			spool_state_error(st, val[2]);
		st->next = (time_t)state_num(val[3]);
		st->held = val[4] != NULL && strcmp(val[4], "yes") == 0;
		st->warned = (time_t)state_num(val[5]);
	}
	for (i = 0; i < NSTATE_KEYS; i++)
		free(val[i]);
}

/* spool_state_move - replace *dst by *src, which is left empty */
void
spool_state_move(struct qstate *dst, struct qstate *src)
{
	free(dst->error);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

/*
 * spool_state_error - keep a failure text as one line: control bytes
 * (the line breaks of a multi-line reply too) become blanks, runs of
 * blanks one blank, bytes outside printable ASCII '?', at most
 * QSTATE_TEXT_MAX - 1 bytes.
 */
void
spool_state_error(struct qstate *st, const char *text)
{
	char buf[QSTATE_TEXT_MAX];
	size_t n = 0;
	const unsigned char *p;
	char c;

	for (p = (const unsigned char *)text; *p != '\0' &&
	    n < sizeof(buf) - 1; p++) {
		if (*p < 0x20 || *p == 0x7f)
			c = ' ';
		else if (*p > 0x7e)
			c = '?';
		else
			c = (char)*p;
		if (c == ' ' && (n == 0 || buf[n - 1] == ' '))
			continue;
		buf[n++] = c;
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	free(st->error);
	st->error = xstrdup(buf);
}

/* spool_msg_size - the size of the message of it, trailer excluded */
off_t
spool_msg_size(const struct qitem *it)
{
	struct stat st;
	char why[128];
	off_t mlen;
	int fd;

	fd = open(it->mpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return (-1);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return (-1);
	}
	mlen = st.st_size;
	if (it->version >= 2 && spool_trailer_tail(fd, st.st_size, &mlen, why,
	    sizeof(why)) != 0)
		mlen = -1;
	close(fd);
	return (mlen);
}

/*
 * spool_trailer_tail - check the last TAIL_LEN bytes of the message file fd
 * (size bytes): the version and the offset where the trailer starts,
 * which is the length of the message.  0, or -1 with why.
 */
int
spool_trailer_tail(int fd, off_t size, off_t *mlen, char *why, size_t whylen)
{
	char tail[TAIL_LEN + 1], *ep;
	unsigned long long off;
	ssize_t r;
	size_t plen = strlen(TAIL_PREFIX);

	if (size < (off_t)TAIL_LEN) {
		snprintf(why, whylen, "no envelope trailer (file too short)");
		return (-1);
	}
	do
		r = pread(fd, tail, TAIL_LEN, size - (off_t)TAIL_LEN);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)TAIL_LEN) {
		snprintf(why, whylen, "can not read envelope trailer: %s",
		    r < 0 ? strerror(errno) : "short read");
		return (-1);
	}
	tail[TAIL_LEN] = '\0';
	if (memcmp(tail, TAIL_PREFIX, plen) != 0 ||
	    tail[TAIL_LEN - 1] != '\n' || tail[plen + 3] != ' ' ||
	    strspn(tail + plen, "0123456789") != 3 ||
	    strspn(tail + plen + 4, "0123456789abcdef") != 16) {
		snprintf(why, whylen, "no envelope trailer");
		return (-1);
	}
	if (strtoul(tail + plen, NULL, 10) < 2) {
		snprintf(why, whylen, "envelope trailer of version < 2");
		return (-1);
	}
	off = strtoull(tail + plen + 4, &ep, 16);
	if (off > (unsigned long long)(size - (off_t)TAIL_LEN)) {
		snprintf(why, whylen, "envelope trailer offset beyond the file");
		return (-1);
	}
	*mlen = (off_t)off;
	return (0);
}

/*
 * trailer_envelope - the envelope of entry qid from the trailer of its
 * message file mpath: the sender and the recipients of entry n, n from
 * the qid "{msgid}.{n}" (entry_range) into e (addr: the first) and, if
 * rl is not NULL, all of them into rl.  The trailer is read whole but
 * capped.  0, or -1 with why.
 */
static int
trailer_envelope(const char *mpath, const char *qid, struct qitem *e,
    struct rlist *rl, char *why, size_t whylen)
{
	char *buf = NULL, *ep, msgid[QID_MAX];
	struct stat st;
	unsigned long long n;
	size_t tlen, mlen_id;
	off_t mlen;
	ssize_t r;
	int fd, ret = -1;

	mlen_id = strcspn(qid, ".");
	memcpy(msgid, qid, mlen_id);
	msgid[mlen_id] = '\0';
	errno = 0;
	n = strtoull(qid + mlen_id + 1, &ep, 16);
	if (errno != 0 || n == 0 || n > UINT_MAX) {
		snprintf(why, whylen, "queue id `%s' names no recipient", qid);
		return (-1);
	}
	fd = open(mpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "can not open: %s", fd >= 0 ?
		    "not a regular file" : strerror(errno));
		goto out;
	}
	if (spool_trailer_tail(fd, st.st_size, &mlen, why, whylen) != 0)
		goto out;
	tlen = (size_t)(st.st_size - (off_t)TAIL_LEN - mlen);
	if (tlen > TRAILER_MAX) {
		snprintf(why, whylen, "envelope trailer too long");
		goto out;
	}
	buf = xmalloc(tlen + 1);
	do
		r = pread(fd, buf, tlen, mlen);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)tlen) {
		snprintf(why, whylen, "can not read envelope trailer: %s",
		    r < 0 ? strerror(errno) : "short read");
		goto out;
	}
	ret = spool_trailer_entry(buf, tlen, msgid, n, e, rl, why, whylen);
	if (ret == 0)
		e->queueid = xstrdup(qid);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return (ret);
}

/*
 * spool_trailer_entry - the envelope of entry n of message msgid from
 * the trailer text buf (tlen bytes, the last line excluded): the sender
 * and the first recipient of the entry into e (sender, addr, version),
 * all its recipients into rl if rl is not NULL (entry_range).  0, or -1
 * with why and nothing set.
 */
int
spool_trailer_entry(const char *buf, size_t tlen, const char *msgid,
    unsigned long long n, struct qitem *e, struct rlist *rl, char *why,
    size_t whylen)
{
	static const char *const keys[] = { "ID", "Sender", "Recipient", NULL };
	char *val[3] = { NULL, NULL, NULL };
	struct rlist got = { NULL, 0 };
	size_t first, count, total;
	unsigned nrcpt;
	int i, ret = -1;

	if (spool_parse_lines(buf, tlen, keys, val, 0, &nrcpt, why,
	    whylen) != 0)
		goto out;
	if (val[0] == NULL || strcmp(val[0], msgid) != 0) {
		snprintf(why, whylen, "envelope trailer of another message");
		goto out;
	}
	if (entry_range(buf, tlen, n, &first, &count) != 0) {
		snprintf(why, whylen, "invalid `Entry' line in the envelope "
		    "trailer");
		goto out;
	}
	if (val[1] == NULL || rcpt_lines(buf, tlen, first, count, &got,
	    &total) != 0 || got.n != count) {
		snprintf(why, whylen, val[1] == NULL ? "no sender in the "
		    "envelope trailer" : "no recipient %llu in the envelope "
		    "trailer", n);
		goto out;
	}
	e->sender = val[1];
	e->addr = xstrdup(got.v[0]);
	e->version = count > 1 ? SPOOL_VERSION_GROUP : SPOOL_VERSION;
	val[1] = NULL;
	if (rl != NULL) {
		*rl = got;
		got.v = NULL;
		got.n = 0;
	}
	ret = 0;
out:
	spool_rlist_free(&got);
	for (i = 0; i < 3; i++)
		free(val[i]);
	return (ret);
}

/* spool_exists - lstat says the path names something (errors count as yes) */
int
spool_exists(const char *path)
{
	struct stat st;

	return (lstat(path, &st) == 0 || errno != ENOENT);
}

/* spool_uncommitted - tmp_{msgid} of the entry's message still exists */
int
spool_uncommitted(const char *qid)
{
	char name[QID_MAX + 8], path[PATH_MAX];
	size_t mlen = strcspn(qid, ".");

	if (xsnprintf(name, sizeof(name), "tmp_%.*s", (int)mlen, qid) != 0 ||
	    spool_path(path, sizeof(path), "", name) != 0)
		return (1);
	return (spool_exists(path));
}

/*
 * spool_read_envelope - the envelope of entry qid: from its Q file (open as
 * fd, st its fstat) or, when that is empty, cut or otherwise unreadable (a power loss
 * after the commit: Q files are not fsync'ed), from the trailer of its
 * message file mpath.  Fills e (queueid, sender, addr, version) and, if
 * rl is not NULL, rl with every recipient of the entry (the Recipient
 * lines of a version 3 file; the one recipient, e->addr, of any other).
 * Returns 0, 1 if neither gives one (why says both reasons), -1 on a
 * read error of the Q file (errno set).
 */
int
spool_read_envelope(int fd, const struct stat *st, const char *qid,
    const char *qpath, const char *mpath, struct qitem *e, struct rlist *rl,
    char *why, size_t whylen)
{
	char qwhy[128], mwhy[128], *buf;
	size_t total;
	ssize_t len;
	int ret = 1;

	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "malformed queue file `%s': not a "
		    "regular file", qpath);
		return (1);
	}
	buf = xmalloc(QFILE_MAX + 1);
	len = read_capped(fd, buf, QFILE_MAX, st->st_size);
	if (len < 0) {
		free(buf);
		return (-1);
	}
	qwhy[0] = '\0';
	if (len > QFILE_MAX) {
		snprintf(qwhy, sizeof(qwhy), "too long");
	} else if (spool_parse_qfile(buf, (size_t)len, e, qwhy,
	    sizeof(qwhy)) == 0) {
		if (strcmp(e->queueid, qid) != 0)
			snprintf(qwhy, sizeof(qwhy), "ID is not `%s'", qid);
		else if (rl == NULL)
			ret = 0;
		else if (e->version < SPOOL_VERSION_GROUP) {
			rl->v = xcalloc(1, sizeof(*rl->v));
			rl->v[0] = xstrdup(e->addr);
			rl->n = 1;
			ret = 0;
		} else if (rcpt_lines(buf, (size_t)len, 1, SIZE_MAX, rl,
		    &total) == 0 && rl->n > 0 && rl->n <= JOB_MAX)
			ret = 0;
		else {
			spool_rlist_free(rl);
			snprintf(qwhy, sizeof(qwhy), "invalid recipients");
		}
		if (ret == 0)
			parse_state(buf, (size_t)len, &e->st);
	}
	free(buf);
	if (ret == 0) {
		e->qfresh = 1;
		return (0);
	}
	free(e->queueid);
	free(e->sender);
	free(e->addr);
	e->queueid = e->sender = e->addr = NULL;
	if (trailer_envelope(mpath, qid, e, rl, mwhy, sizeof(mwhy)) == 0) {
		log_msg(LOG_NOTICE, "queue file `%s' unreadable (%s): envelope "
		    "taken from the trailer of `%s'", qpath, qwhy, mpath);
		return (0);
	}
	snprintf(why, whylen, "malformed queue file `%s' (%s) and no "
	    "envelope in `%s' (%s)", qpath, qwhy, mpath, mwhy);
	return (1);
}

/*
 * spool_qid_remember - note which Q file (inode, size, times) it was read from;
 * only when the envelope came from it (e->qfresh), not from the trailer
 * because Q was unreadable.
 */
void
spool_qid_remember(struct qitem *it, const struct stat *st)
{
	it->qdev = st->st_dev;
	it->qino = st->st_ino;
	it->qsize = st->st_size;
	it->qmtim = st->st_mtim;
	it->qctim = st->st_ctim;
}

/*
 * spool_q_unchanged - st is the Q file it was last read from, untouched since:
 * the same inode (Q files are only ever replaced by a new file) with the
 * same size and times (any write in place changes mtime and ctime).
 */
int
spool_q_unchanged(const struct qitem *it, const struct stat *st)
{
	return (it->qino != 0 && st->st_dev == it->qdev &&
	    st->st_ino == it->qino && st->st_size == it->qsize &&
	    st->st_mtim.tv_sec == it->qmtim.tv_sec &&
	    st->st_mtim.tv_nsec == it->qmtim.tv_nsec &&
	    st->st_ctim.tv_sec == it->qctim.tv_sec &&
	    st->st_ctim.tv_nsec == it->qctim.tv_nsec);
}

/*
 * spool_parse_entry - read the envelope of qid (Q file open as fd, else the
 * trailer of it->mpath) into it (sender, addr, local, queueid,
 * version).  An entry of several recipients (version 3) gives one qitem
 * per recipient: it is the first, the others are new qitems chained
 * after it through it->next, each with gsize set to their number.
 * Returns 0, 1 if it is malformed (why set), -1 on a read error (errno
 * set).
 */
int
spool_parse_entry(int fd, const char *qid, struct qitem *it, char *why,
    size_t whylen)
{
	struct qitem tmp, *sib, **tail;
	struct rlist rl = { NULL, 0 };
	struct stat st;
	char canon[ENVFIELD_MAX + 1];
	int *local = NULL, ret;
	size_t i;

	if (fstat(fd, &st) != 0)
		return (-1);
	memset(&tmp, 0, sizeof(tmp));
	ret = spool_read_envelope(fd, &st, qid, it->qpath, it->mpath, &tmp, &rl, why,
	    whylen);
	if (ret == 0) {
		local = xcalloc(rl.n, sizeof(*local));
		for (i = 0; i < rl.n && ret == 0; i++) {
			local[i] = rcpt_canonical(rl.v[i], canon, sizeof(canon));
			if (local[i] < 0 || canon[0] == '\0') {
				snprintf(why, whylen, "malformed queue file `%s': "
				    "invalid recipient", it->qpath);
				ret = 1;
				break;
			}
			free(rl.v[i]);
			rl.v[i] = xstrdup(canon);
		}
	}
	if (ret == 0) {
		free(it->queueid);
		free(it->sender);
		free(it->addr);
		it->queueid = tmp.queueid;
		it->sender = tmp.sender;
		it->addr = rl.v[0];
		rl.v[0] = NULL;
		it->local = local[0];
		it->version = tmp.version;
		spool_state_move(&it->st, &tmp.st);
		it->qtime = st.st_mtime;
		it->gsize = (unsigned)rl.n;
		it->gidx = 0;
		if (tmp.qfresh)
			spool_qid_remember(it, &st);
		tmp.queueid = tmp.sender = NULL;
		tail = &it->next;
		for (i = 1; i < rl.n; i++) {
			sib = spool_item_new(it->queueid, it->sender, rl.v[i]);
			sib->local = local[i];
			sib->version = it->version;
			spool_state_copy(&sib->st, &it->st);
			sib->qtime = it->qtime;
			sib->gsize = it->gsize;
			sib->gidx = i;
			if (tmp.qfresh)
				spool_qid_remember(sib, &st);
			sib->next = *tail;
			*tail = sib;
			tail = &sib->next;
		}
	}
	free(local);
	spool_rlist_free(&rl);
	free(tmp.queueid);
	free(tmp.sender);
	free(tmp.addr);
	free(tmp.st.error);
	return (ret);
}
