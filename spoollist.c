/*
 * spoollist.c - reading the whole queue: the listing of the spool
 * directory into entries (spool_load), the cleanup a queue run makes
 * on the way (crashed submissions rolled back, orphaned message files
 * removed, malformed entries set aside), and the -bp / -bp -v output.
 *
 * Side effects: reads the spool directory; with cleanup, removes and
 * renames files there by the rules of spool.c's header; syslog.
 */
#include <sys/types.h>
#include <sys/file.h>
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

/* Names collected from one readdir pass. */
struct names {
	char	**v;
	size_t	 n;
	size_t	 cap;
};

/* names_add - remember a directory entry name */
static void
names_add(struct names *nm, const char *name)
{
	if (nm->n == nm->cap) {
		nm->cap = nm->cap ? nm->cap * 2 : 64;
		nm->v = xrealloc(nm->v, nm->cap * sizeof(*nm->v));
	}
	nm->v[nm->n++] = xstrdup(name);
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* names_has - name is in nm, sorted by names_sort */
static int
names_has(const struct names *nm, const char *name)
{
	return (nm->n > 0 && bsearch(&name, nm->v, nm->n, sizeof(*nm->v),
	    name_cmp) != NULL);
}

static void
names_sort(struct names *nm)
{
	if (nm->n > 1)
		qsort(nm->v, nm->n, sizeof(*nm->v), name_cmp);
}

static void
names_free(struct names *nm)
{
	size_t i;

	for (i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
}

/* remove_logged - unlink path and log it at LOG_NOTICE */
static int
remove_logged(const char *path, const char *what)
{
	if (unlink(path) != 0) {
		if (errno != ENOENT)
			log_msg(LOG_WARNING, "can not remove %s `%s': %s",
			    what, path, strerror(errno));
		return (0);
	}
	log_msg(LOG_NOTICE, "removed %s `%s'", what, path);
	return (1);
}

/* stale_time - t is more than the age rule away from now (either way) */
static int
stale_time(time_t t, time_t now)
{
	return (now - t > STALE_TMP_AGE || t - now > STALE_TMP_AGE);
}

/*
 * clean_tmp - roll back a crashed submission whose temp file is name.
 *
 * Nothing young is touched: a submitter may be between its open and its
 * lock.  A file old by its mtime (a future mtime counts as old, so nobody
 * can make a leftover immortal with touch) is judged by its lock when it
 * can be opened: a live submitter holds the lock.  After locking, the
 * path must still name the locked inode, else the submitter committed
 * (the unlink of tmp_ is the commit point) between our open and our lock.
 * A temp file this runner cannot open (another owner, mode 0600: left by
 * an older version or planted) is never a live submission, because
 * spool_create makes every temp file 0660 from the start: it is removed
 * by name.  Q/M files go first and the temp file last, so the entries
 * stay hidden until the last one is gone.  Returns 1 if something was
 * removed.
 */
static int
clean_tmp(const char *name, const struct names *all, time_t now)
{
	char path[PATH_MAX], msgid[32], other[PATH_MAX];
	struct stat st, lst, mst;
	size_t i, mlen;
	int fd = -1, removed = 0;

	if (spool_path(path, sizeof(path), "", name) != 0 ||
	    lstat(path, &st) != 0 || S_ISDIR(st.st_mode) ||
	    !stale_time(st.st_mtime, now))
		return (0);
	if (S_ISREG(st.st_mode)) {
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 && errno != EACCES && errno != EPERM)
			return (0);
	}
	if (fd >= 0) {
		if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 ||
		    lstat(path, &lst) != 0 || st.st_dev != lst.st_dev ||
		    st.st_ino != lst.st_ino || !stale_time(st.st_mtime, now))
			goto out;
	} else {
		/*
		 * XXX Without a lock the name is removed by what lstat saw:
		 * re-checked just before the unlink, it can only be wrong
		 * if the inode was freed and reused in between, which needs
		 * another runner to remove this very name first.
		 */
		if (lstat(path, &lst) != 0 || st.st_dev != lst.st_dev ||
		    st.st_ino != lst.st_ino || !stale_time(lst.st_mtime, now))
			return (0);
	}
	if (S_ISREG(st.st_mode) && xsnprintf(msgid, sizeof(msgid), "%llx",
	    (unsigned long long)st.st_ino) == 0 &&
	    strcmp(name + 4, msgid) == 0) {
		mlen = strlen(msgid);
		for (i = 0; i < all->n; i++) {
			const char *n = all->v[i];

			if ((n[0] != 'Q' && n[0] != 'M') ||
			    strncmp(n + 1, msgid, mlen) != 0 ||
			    n[1 + mlen] != '.' || !spool_qid_ok(n + 1) ||
			    spool_path(other, sizeof(other), "", n) != 0)
				continue;
			/* An M file must be a link to this very inode. */
			if (n[0] == 'M' && (lstat(other, &mst) != 0 ||
			    mst.st_dev != st.st_dev || mst.st_ino != st.st_ino))
				continue;
			removed |= remove_logged(other, n[0] == 'Q' ?
			    "stale queue file" : "stale message file");
		}
	}
	removed |= remove_logged(path, "stale temp file");
out:
	if (fd >= 0)
		close(fd);
	return (removed);
}

/*
 * clean_orphan_m - remove M{qid} that has neither Q{qid} nor tmp_{msgid}.
 * An M whose Q was listed with it is not looked at (the common case: no
 * stat per entry); if that Q goes since, a later run sees the M alone.
 */
static int
clean_orphan_m(const char *name, const struct names *all)
{
	char path[PATH_MAX], tmpname[QID_MAX + 8], msgid[QID_MAX];
	const char *qid = name + 1;
	size_t mlen;

	if (!spool_qid_ok(qid))
		return (0);
	if (xsnprintf(path, sizeof(path), "Q%s", qid) == 0 &&
	    names_has(all, path))
		return (0);
	mlen = (size_t)(strchr(qid, '.') - qid);
	memcpy(msgid, qid, mlen);
	msgid[mlen] = '\0';
	if (spool_path(path, sizeof(path), "Q", qid) != 0 || spool_exists(path))
		return (0);
	if (xsnprintf(tmpname, sizeof(tmpname), "tmp_%s", msgid) != 0 ||
	    spool_path(path, sizeof(path), "", tmpname) != 0 || spool_exists(path))
		return (0);
	if (spool_path(path, sizeof(path), "M", qid) != 0)
		return (0);
	return (remove_logged(path, "orphaned message file"));
}

/* rename_bad - rename path to bad_{suffix} in the spool, logged */
static void
rename_bad(const char *path, const char *qid, const char *suffix)
{
	char bad[PATH_MAX], name[QID_MAX + 16];

	if (xsnprintf(name, sizeof(name), "bad_%s%s", qid, suffix) == 0 &&
	    spool_path(bad, sizeof(bad), "", name) == 0 &&
	    rename(path, bad) == 0)
		log_msg(LOG_NOTICE, "moved `%s' to `%s'", path, bad);
}

/*
 * set_aside - rename a malformed entry to bad_{qid} / bad_{qid}.msg, but
 * only once it is proved committed and malformed.
 *
 * What load_entry read may not be what is there now: the entry may have
 * been delivered since and its inode number (hence qid) reused by a new
 * submission whose Q file is still being written.  So, under the entry's
 * lock: the path must still name the locked inode, no tmp_{msgid} may
 * exist (its unlink is the commit point, and a submitter writes its Q
 * files only before it), and the file read again must still be malformed.
 * The lock keeps deliverers and other runners away until the rename.
 */
static void
set_aside(const struct qitem *it, const char *qid)
{
	struct qitem *chk;
	struct stat fst, pst;
	char why[WHY_MAX];
	int fd, r;

	fd = open(it->qpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		/* A symlink is never a submission's Q file: no lock needed. */
		if (errno != ELOOP || lstat(it->qpath, &pst) != 0 ||
		    !S_ISLNK(pst.st_mode) || spool_uncommitted(qid))
			return;
	} else if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &fst) != 0 ||
	    fst.st_nlink == 0 || lstat(it->qpath, &pst) != 0 ||
	    fst.st_dev != pst.st_dev || fst.st_ino != pst.st_ino ||
	    spool_uncommitted(qid)) {
		close(fd);
		return;
	} else {
		struct queue q1;

		chk = spool_item_new(qid, "", "");
		r = spool_parse_entry(fd, qid, chk, why, sizeof(why));
		q1.head = chk;		/* with its siblings, if any */
		q1.n = 1;
		spool_free(&q1);
		if (r != 1) {
			close(fd);
			return;
		}
	}
	rename_bad(it->qpath, qid, "");
	rename_bad(it->mpath, qid, ".msg");
	if (fd >= 0)
		close(fd);
}

/*
 * load_entry - read Q{qid} into a new qitem (one per recipient of a group
 * entry, chained), or NULL if it is not a deliverable entry
 * (uncommitted, gone, malformed, unreadable).
 */
static struct qitem *
load_entry(const char *qid, int cleanup, char *committed)
{
	struct qitem *it;
	struct stat st;
	char why[WHY_MAX];
	size_t mlen = strcspn(qid, ".");
	int fd = -1, malformed = 0, r;

	/*
	 * An entry whose submission is not committed does not exist yet.
	 * Committed is for good, so one look per message: the names come
	 * sorted, its entries one after the other (committed holds the
	 * last msgid found committed).  A message removed and its inode
	 * number reused by a new submission during this pass would escape
	 * the look; spool_acquire looks again under the lock.
	 */
	if (strncmp(committed, qid, mlen) != 0 || committed[mlen] != '\0') {
		if (spool_uncommitted(qid))
			return (NULL);
		if (mlen < QID_MAX) {
			memcpy(committed, qid, mlen);
			committed[mlen] = '\0';
		}
	}

	it = spool_item_new(qid, "", "");
	fd = open(it->qpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP) {
			malformed = 1;
			snprintf(why, sizeof(why), "malformed queue file "
			    "`%s': a symbolic link", it->qpath);
		} else if (errno != ENOENT)
			log_msg(LOG_INFO, "could not pick up queue file: "
			    "`%s'/`%s': %s", it->qpath, it->mpath,
			    strerror(errno));
		goto fail;
	}
	if ((r = spool_parse_entry(fd, qid, it, why, sizeof(why))) < 0) {
		log_msg(LOG_INFO, "could not pick up queue file: `%s'/`%s': %s",
		    it->qpath, it->mpath, strerror(errno));
		goto fail;
	}
	if (r > 0) {
		malformed = 1;
		goto fail;
	}
	if (lstat(it->mpath, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_msg(LOG_INFO, "could not pick up queue file: `%s'/`%s': %s",
		    it->qpath, it->mpath, lstat(it->mpath, &st) != 0 ?
		    strerror(errno) : "not a regular file");
		goto fail;
	}
	close(fd);
	return (it);	/* with the siblings of a group entry after it */

fail:
	if (fd >= 0)
		close(fd);
	while (it->next != NULL) {	/* siblings: the load failed after all */
		struct qitem *nx = it->next;

		it->next = nx->next;
		spool_item_free(nx);
	}
	/* Checked again under the lock: it may be a new, partial file. */
	if (malformed && !spool_uncommitted(qid)) {
		log_msg(LOG_ERR, "%s%s", why, cleanup ?
		    "; setting the entry aside" : "");
		if (cleanup)
			set_aside(it, qid);
	}
	spool_item_free(it);
	return (NULL);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct qitem *x = *(const struct qitem *const *)a;
	const struct qitem *y = *(const struct qitem *const *)b;

	int c;

	if (x->qtime != y->qtime)
		return (x->qtime < y->qtime ? -1 : 1);
	if ((c = spool_qid_cmp(x->queueid, y->queueid)) != 0)
		return (c);
	return (x->gidx < y->gidx ? -1 : x->gidx > y->gidx);
}

/*
 * spool_load - list the committed entries, oldest first.
 *
 * No locks are taken: what is loaded is a snapshot, and spool_acquire
 * re-checks each entry under its lock before delivery.
 */
int
spool_load(struct queue *q, int cleanup, char *why, size_t whylen)
{
	struct names all = { NULL, 0, 0 };
	struct qitem *it, **v = NULL;
	char committed[QID_MAX] = "";
	struct dirent *de;
	DIR *d;
	size_t i, n = 0, cap = 0;
	time_t now = time(NULL);
	int removed = 0;

	q->head = NULL;
	q->n = 0;
	d = opendir(spool_dir());
	if (d == NULL) {
		snprintf(why, whylen, "reading queue: %s", strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == 'Q' || de->d_name[0] == 'M' ||
		    strncmp(de->d_name, "tmp_", 4) == 0)
			names_add(&all, de->d_name);
	}
	closedir(d);
	names_sort(&all);

	if (cleanup) {
		for (i = 0; i < all.n; i++) {
			if (strncmp(all.v[i], "tmp_", 4) == 0)
				removed |= clean_tmp(all.v[i], &all, now);
		}
	}
	for (i = 0; i < all.n; i++) {
		if (all.v[i][0] != 'Q' || !spool_qid_ok(all.v[i] + 1))
			continue;
		for (it = load_entry(all.v[i] + 1, cleanup, committed);
		    it != NULL; it = it->next) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = it;
		}
	}
	if (cleanup) {
		for (i = 0; i < all.n; i++) {
			if (all.v[i][0] == 'M')
				removed |= clean_orphan_m(all.v[i], &all);
		}
		if (removed)
			spool_dir_sync();
	}
	names_free(&all);

	if (n > 0)
		qsort(v, n, sizeof(*v), entry_cmp);
	for (i = n; i > 0; i--) {
		v[i - 1]->next = q->head;
		q->head = v[i - 1];
	}
	q->n = n;
	free(v);
	return (0);
}

/* spool_free - release and free every entry of q */
void
spool_free(struct queue *q)
{
	struct qitem *it, *next;

	for (it = q->head; it != NULL; it = next) {
		next = it->next;
		spool_item_free(it);
	}
	q->head = NULL;
	q->n = 0;
}

/* fmt_time - t as "YYYY-MM-DD HH:MM:SS", local time */
static void
fmt_time(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "@%lld", (long long)t);
}

/* fmt_age - seconds as "42s", "5m07s", "2h05m" or "3d04h05m" */
static void
fmt_age(char *buf, size_t len, time_t s)
{
	long long a = s < 0 ? 0 : (long long)s;

	if (a >= 86400)
		snprintf(buf, len, "%lldd%02lldh%02lldm", a / 86400,
		    a % 86400 / 3600, a % 3600 / 60);
	else if (a >= 3600)
		snprintf(buf, len, "%lldh%02lldm", a / 3600, a % 3600 / 60);
	else if (a >= 60)
		snprintf(buf, len, "%lldm%02llds", a / 60, a % 60);
	else
		snprintf(buf, len, "%llds", a);
}

/*
 * print_queue - the -bp / mailq listing of q, with full (-bp -v /
 * mailq -v) the delivery state of each entry too (see QUEUE LISTING in
 * dma.8).  Nothing of a message's content is shown, only its size.
 */
static void
print_queue(FILE *out, const struct queue *q, int full, time_t now)
{
	const struct qitem *it;
	char t1[64], t2[64];
	off_t size;

	if (q->head == NULL) {
		fputs("Mail queue is empty\n", out);
		return;
	}
	for (it = q->head; it != NULL; it = it->next) {
		fprintf(out, "ID\t: %s\nFrom\t: %s\nTo\t: %s\n",
		    it->queueid, it->sender, it->addr);
		/* A group entry: one block, a To line per recipient. */
		while (it->gsize > 1 && it->next != NULL &&
		    strcmp(it->next->queueid, it->queueid) == 0) {
			it = it->next;
			fprintf(out, "To\t: %s\n", it->addr);
		}
		if (!full)
			goto next;
		fmt_time(t1, sizeof(t1), it->qtime);
		fmt_age(t2, sizeof(t2), now - it->qtime);
		fprintf(out, "Queued\t: %s (age %s)\n", t1, t2);
		if ((size = spool_msg_size(it)) >= 0)
			fprintf(out, "Size\t: %lld\n", (long long)size);
		else
			fputs("Size\t: ?\n", out);
		fprintf(out, "Attempts: %u\n", it->st.attempts);
		if (it->st.lastfail != 0) {
			fmt_time(t1, sizeof(t1), it->st.lastfail);
			fprintf(out, "Failed\t: %s %s\n", t1,
			    it->st.error != NULL ? it->st.error : "");
		} else
			fputs("Failed\t: -\n", out);
		if (it->st.held)
			fputs("Next\t: (held)\n", out);
		else if (it->st.next <= now)
			fputs("Next\t: now\n", out);
		else {
			fmt_time(t1, sizeof(t1), it->st.next);
			fprintf(out, "Next\t: %s\n", t1);
		}
next:
		if (it->next != NULL)
			fputs("--\n", out);
	}
}

/* spool_print - the -bp / mailq listing */
void
spool_print(FILE *out, const struct queue *q)
{
	print_queue(out, q, 0, 0);
}

/* spool_print_verbose - the -bp -v / mailq -v listing */
void
spool_print_verbose(FILE *out, const struct queue *q, time_t now)
{
	print_queue(out, q, 1, now);
}
