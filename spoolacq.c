/*
 * spoolacq.c - holding a queue entry: acquire (the lock on its Q file and
 * the checks made under it), the message as deliverers read it (the bytes
 * before the envelope trailer), group entries (the recipients of one Q
 * file acquired together), the rewrite of an entry's state, removal and
 * release.  Part of the spool module with spool.c (the file format, which
 * this file reads through spoolint.h, never the other way), spoollist.c
 * and spoolstate.c; the rules of the spool are at the top of spool.c.
 *
 * Side effects: flock(2) locks on Q files; Q files rewritten (only by a
 * rename over them, under the entry's lock) and removed, M links removed.
 * Runs setgid mail like the rest of the module: every Q file it reads
 * back is checked as spool.c's readers check it (anyone in group mail
 * could have written it).
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

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

/*
 * A group entry while acquired: its Q file as read under the lock, the
 * recipients struck so far (spool_remove) and the state to write
 * (spool_save_state).  Shared by the siblings acquired with the first;
 * the last spool_release writes what changed and frees it.
 */
struct qgroup {
	unsigned refs;
	struct rlist rl;	/* recipients of the file, as stored */
	char	**canon;	/* the same, as rcpt_canonical makes them */
	unsigned char *taken;	/* acquired by one of the siblings */
	unsigned char *gone;	/* removed (delivered or bounced) */
	size_t	 ngone;
	struct qstate st;	/* the file's state, or the last one saved */
	int	 dirty;		/* st is to be written */
	int	 qfd;		/* the locked Q file: the members' qfd */
	int	 mfd;		/* the message, read by the siblings' mfp
				   (a duplicate of the first's), or -1 */
};

void
spool_item_free(struct qitem *it)
{
	spool_release(it);
	free(it->queueid);
	free(it->sender);
	free(it->addr);
	free(it->qpath);
	free(it->mpath);
	free(it->st.error);
	free(it);
}

static int check_group(struct qitem *, const struct stat *, char *, size_t);

/*
 * check_locked - after the flock: is the entry still there and unchanged?
 * Returns 0, SPOOL_ELOCKED (gone, replaced or not committed), or -1.
 *
 * Inode numbers are reused quickly: between our load and our lock the
 * entry may have been delivered by another runner and its qid taken by a
 * new message, perhaps one still being received.  Such an entry is not
 * ours to deliver with the fields we loaded; the next run will see it.
 */
static int
check_locked(struct qitem *it, int commit_known, char *why, size_t whylen)
{
	struct qitem cur;
	struct stat fst, pst;
	char canon[ENVFIELD_MAX + 1], pwhy[WHY_MAX];
	int r, ret = -1;

	if (fstat(it->qfd, &fst) != 0) {
		snprintf(why, whylen, "can not stat `%s': %s", it->qpath,
		    strerror(errno));
		return (-1);
	}
	/* Another runner delivered it between our load and our lock. */
	if (fst.st_nlink == 0 || lstat(it->qpath, &pst) != 0 ||
	    pst.st_dev != fst.st_dev || pst.st_ino != fst.st_ino ||
	    (!commit_known && spool_uncommitted(it->queueid)))
		return (SPOOL_ELOCKED);
	if (it->gsize > 1)
		return (check_group(it, &fst, why, whylen));
	/* What was read at load time still holds. */
	if (spool_q_unchanged(it, &fst)) {
		it->qtime = fst.st_mtime;
		return (0);
	}
	memset(&cur, 0, sizeof(cur));
	r = spool_read_envelope(it->qfd, &fst, it->queueid, it->qpath, it->mpath,
	    &cur, NULL, pwhy, sizeof(pwhy));
	if (r < 0) {
		snprintf(why, whylen, "can not read `%s': %s", it->qpath,
		    strerror(errno));
	} else if (r > 0 || rcpt_canonical(cur.addr, canon, sizeof(canon)) < 0) {
		snprintf(why, whylen, "malformed queue file `%s'", it->qpath);
	} else if (strcmp(cur.sender, it->sender) != 0 ||
	    (strcmp(canon, it->addr) != 0 && strcmp(cur.addr, it->addr) != 0)) {
		log_msg(LOG_INFO, "queue file `%s' changed since it was loaded",
		    it->qpath);
		ret = SPOOL_ELOCKED;
	} else {
		it->qtime = fst.st_mtime;
		it->version = cur.version;
		if (cur.qfresh)
			spool_qid_remember(it, &fst);
		spool_state_move(&it->st, &cur.st);
		ret = 0;
	}
	free(cur.queueid);
	free(cur.sender);
	free(cur.addr);
	free(cur.st.error);
	return (ret);
}

/*
 * A message file of version 2 as its readers see it: the bytes [0, len)
 * (the message without the envelope trailer), with seek and rewind.
 */
struct mview {
	int	 fd;
	off_t	 len;
	off_t	 pos;
	int	 own;		/* fd is closed with the stream */
};

static ssize_t
mview_read(void *c, char *buf, size_t size)
{
	struct mview *v = c;
	ssize_t r;

	if (v->pos >= v->len)
		return (0);
	if ((off_t)size > v->len - v->pos)
		size = (size_t)(v->len - v->pos);
	do
		r = pread(v->fd, buf, size, v->pos);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		v->pos += r;
	return (r);
}

static int
mview_seek(void *c, off64_t *off, int whence)
{
	struct mview *v = c;
	off_t base;

	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = v->pos;
		break;
	case SEEK_END:
		base = v->len;
		break;
	default:
		errno = EINVAL;
		return (-1);
	}
	if (*off < -base) {
		errno = EINVAL;
		return (-1);
	}
	v->pos = base + *off;
	*off = v->pos;
	return (0);
}

static int
mview_close(void *c)
{
	struct mview *v = c;
	int r;

	r = v->own ? close(v->fd) : 0;
	free(v);
	return (r);
}

/*
 * mview_open - a read-only stream of the first len bytes of fd; takes
 * fd (closed on failure too) unless borrow is set (then the caller keeps
 * it open for the stream's life and closes it).
 */
static FILE *
mview_new(int fd, off_t len, int borrow)
{
	static const cookie_io_functions_t io = {
		.read = mview_read,
		.write = NULL,
		.seek = mview_seek,
		.close = mview_close,
	};
	struct mview *v;
	FILE *fp;
	int saved;

	v = xcalloc(1, sizeof(*v));
	v->fd = fd;
	v->len = len;
	v->own = !borrow;
	fp = fopencookie(v, "r", io);
	if (fp == NULL) {
		saved = errno;
		free(v);
		if (!borrow)
			close(fd);
		errno = saved;
	}
	return (fp);
}

static FILE *
mview_open(int fd, off_t len)
{
	return (mview_new(fd, len, 0));
}

/*
 * open_message - open M read-only into it->mfp: the whole file for an
 * entry of upstream's format, the message before the envelope trailer
 * for version 2.
 */
static int
open_message(struct qitem *it, char *why, size_t whylen)
{
	struct stat st;
	char twhy[128];
	off_t mlen;
	int fd;

	fd = open(it->mpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "can not open `%s': %s", it->mpath,
		    fd >= 0 && !S_ISREG(st.st_mode) ? "not a regular file" :
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return (-1);
	}
	if (it->version >= 2) {
		if (spool_trailer_tail(fd, st.st_size, &mlen, twhy,
		    sizeof(twhy)) != 0) {
			snprintf(why, whylen, "can not read `%s': %s",
			    it->mpath, twhy);
			close(fd);
			return (-1);
		}
		it->mfp = mview_open(fd, mlen);
		if (it->mfp != NULL) {
			it->mfd = fd;
			it->mlen = mlen;
		}
	} else {
		it->mfp = fdopen(fd, "r");
		if (it->mfp == NULL)
			close(fd);
	}
	if (it->mfp == NULL) {
		snprintf(why, whylen, "can not open `%s': %s", it->mpath,
		    strerror(errno));
		return (-1);
	}
	it->mino = st.st_ino;
	it->mmtime = st.st_mtim;
	return (0);
}

/*
 * share_message - its M is a link of held's M (same inode): share
 * held's message through a duplicate descriptor.  0, or 1 if M is
 * another file (then open it the usual way), -1 with why.
 */
static int
share_message(struct qitem *it, const struct qitem *held, char *why,
    size_t whylen)
{
	struct stat st;
	int fd;

	if (lstat(it->mpath, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_ino != held->mino)
		return (1);
	fd = fcntl(held->mfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0 || (it->mfp = mview_open(fd, held->mlen)) == NULL) {
		snprintf(why, whylen, "can not open `%s': %s", it->mpath,
		    strerror(errno));
		return (-1);
	}
	it->mfd = fd;
	it->mlen = held->mlen;
	it->mino = held->mino;
	it->mmtime = held->mmtime;
	return (0);
}

/* group_find - the unclaimed recipient of g that is it->addr, or -1 */
static ssize_t
group_find(const struct qgroup *g, const struct qitem *it)
{
	size_t i;

	for (i = 0; i < g->rl.n; i++) {
		if (!g->taken[i] && !g->gone[i] &&
		    (strcmp(g->canon[i], it->addr) == 0 ||
		    strcmp(g->rl.v[i], it->addr) == 0))
			return ((ssize_t)i);
	}
	return (-1);
}

static void
group_free(struct qgroup *g)
{
	size_t i;

	for (i = 0; i < g->rl.n; i++)
		free(g->canon[i]);
	free(g->canon);
	spool_rlist_free(&g->rl);
	free(g->taken);
	free(g->gone);
	free(g->st.error);
	if (g->qfd >= 0)
		close(g->qfd);
	if (g->mfd >= 0)
		close(g->mfd);
	free(g);
}

/*
 * check_group - check_locked for a recipient of a group entry: the Q
 * file, read again under the lock, must still name the sender and the
 * recipient; it becomes it->grp, which siblings may join.
 */
static int
check_group(struct qitem *it, const struct stat *fst, char *why,
    size_t whylen)
{
	struct qitem cur;
	struct qgroup *g;
	struct rlist rl = { NULL, 0 };
	char canon[ENVFIELD_MAX + 1], pwhy[WHY_MAX];
	ssize_t idx;
	size_t i;
	int r;

	memset(&cur, 0, sizeof(cur));
	r = spool_read_envelope(it->qfd, fst, it->queueid, it->qpath, it->mpath,
	    &cur, &rl, pwhy, sizeof(pwhy));
	if (r != 0) {
		if (r < 0)
			snprintf(why, whylen, "can not read `%s': %s",
			    it->qpath, strerror(errno));
		else
			snprintf(why, whylen, "malformed queue file `%s'",
			    it->qpath);
		free(cur.queueid);
		free(cur.sender);
		free(cur.addr);
		free(cur.st.error);
		return (-1);
	}
	g = xcalloc(1, sizeof(*g));
	g->qfd = g->mfd = -1;
	g->rl = rl;
	g->canon = xcalloc(rl.n, sizeof(*g->canon));
	g->taken = xcalloc(rl.n, 1);
	g->gone = xcalloc(rl.n, 1);
	for (i = 0; i < rl.n; i++) {
		if (rcpt_canonical(rl.v[i], canon, sizeof(canon)) < 0)
			canon[0] = '\0';
		g->canon[i] = xstrdup(canon);
	}
	if (strcmp(cur.sender, it->sender) != 0 ||
	    (idx = group_find(g, it)) < 0) {
		/* Delivered or struck by another runner since the load. */
		free(cur.queueid);
		free(cur.sender);
		free(cur.addr);
		free(cur.st.error);
		group_free(g);
		return (SPOOL_ELOCKED);
	}
	g->refs = 1;
	g->taken[idx] = 1;
	g->qfd = it->qfd;	/* the group's now; it->qfd borrows it */
	spool_state_copy(&g->st, &cur.st);
	it->grp = g;
	it->gidx = (size_t)idx;
	it->qtime = fst->st_mtime;
	it->version = cur.version;
	spool_state_move(&it->st, &cur.st);
	free(cur.queueid);
	free(cur.sender);
	free(cur.addr);
	return (0);
}

/*
 * join_group - acquire it, a recipient of the group entry that held (of
 * this process) has acquired: share held's lock and message.
 */
static int
join_group(struct qitem *it, const struct qitem *held, char *why,
    size_t whylen)
{
	struct qgroup *g = held->grp;
	ssize_t idx;

	if ((idx = group_find(g, it)) < 0)
		return (SPOOL_ELOCKED);
	/*
	 * The same M name as held's, which nobody removes while the lock
	 * of its Q file is held: held's open message is this one.  One
	 * duplicate of its descriptor serves every sibling.
	 */
	if (g->mfd < 0 &&
	    (g->mfd = fcntl(held->mfd, F_DUPFD_CLOEXEC, 0)) < 0) {
		snprintf(why, whylen, "can not open `%s': %s", it->mpath,
		    strerror(errno));
		return (-1);
	}
	if ((it->mfp = mview_new(g->mfd, held->mlen, 1)) == NULL) {
		snprintf(why, whylen, "can not open `%s': %s", it->mpath,
		    strerror(errno));
		return (-1);
	}
	g->refs++;
	g->taken[idx] = 1;
	it->grp = g;
	it->gidx = (size_t)idx;
	it->qfd = g->qfd;
	it->mfd = g->mfd;
	it->mlen = held->mlen;
	it->mino = held->mino;
	it->mmtime = held->mmtime;
	it->version = held->version;
	it->qtime = held->qtime;
	spool_state_copy(&it->st, &g->st);
	return (0);
}

/*
 * acquire - spool_acquire, or with held (an entry of the same message,
 * version 2, acquired and open) spool_acquire_sibling.
 */
static int
acquire(struct qitem *it, const struct qitem *held, char *why, size_t whylen)
{
	int r;

	if (held != NULL && held->grp != NULL && it->gsize > 1 &&
	    it->qfd < 0 && strcmp(held->queueid, it->queueid) == 0)
		return (join_group(it, held, why, whylen));
	if (it->qfd < 0) {
		it->qfd = open(it->qpath,
		    O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (it->qfd < 0) {
			if (errno == ENOENT)
				return (SPOOL_ELOCKED);
			snprintf(why, whylen, "can not open `%s': %s",
			    it->qpath, strerror(errno));
			return (-1);
		}
	}
	if (flock(it->qfd, LOCK_EX | LOCK_NB) != 0) {
		r = (errno == EWOULDBLOCK) ? SPOOL_ELOCKED : -1;
		if (r < 0)
			snprintf(why, whylen, "can not lock `%s': %s",
			    it->qpath, strerror(errno));
		spool_release(it);
		return (r);
	}
	/*
	 * held's commit was checked under its lock, and its open M keeps
	 * the inode number, which is the msgid, from naming a new message.
	 */
	r = check_locked(it, held != NULL, why, whylen);
	if (r == 0 && it->mfp == NULL && held != NULL && it->version >= 2) {
		r = share_message(it, held, why, whylen);
		if (r > 0) {
			/* Not a link of held's M: checked in full. */
			r = spool_uncommitted(it->queueid) ? SPOOL_ELOCKED : 0;
		}
	}
	if (r == 0 && it->mfp == NULL)
		r = open_message(it, why, whylen);
	if (r != 0)
		spool_release(it);
	return (r);
}

/*
 * spool_acquire - become the one process that delivers this entry.
 *
 * flock is per open file description, so a second open of the same Q
 * (here or in another process) gets EWOULDBLOCK.  On any result other
 * than 0 the entry's handles are released (qfd = -1, mfp = NULL).
 */
int
spool_acquire(struct qitem *it, char *why, size_t whylen)
{
	return (acquire(it, NULL, why, whylen));
}

int
spool_acquire_sibling(struct qitem *it, const struct qitem *held, char *why,
    size_t whylen)
{
	size_t mlen = strcspn(it->queueid, ".");

	if (held == NULL || held->mfp == NULL || held->mfd < 0 ||
	    held->version < 2 || strncmp(held->queueid, it->queueid, mlen) != 0 ||
	    held->queueid[mlen] != '.')
		held = NULL;
	return (acquire(it, held, why, whylen));
}

/*
 * write_state - rewrite the locked entry's Q file with its state st; for
 * a group entry g, with the recipients of g not struck.
 *
 * A Q file is rewritten only here, and only after a failed attempt or
 * by an administrator (never on the path of a successful delivery).  The
 * new file is tmp_state_{qid} (never a submission's tmp_{msgid}: 's' is
 * no hex digit), locked while written so that a cleanup never takes it
 * for a stale temp file, fsync'ed and given the old file's modification
 * time (the time queued, which the age rules read), then renamed over
 * Q{qid}: a crash leaves the old file or the new one, never a mix.  A
 * leftover temp file is removed by the cleanup of a later run.
 */
static int
write_state(const struct qitem *it, const struct qgroup *g,
    const struct qstate *st, char *why, size_t whylen)
{
	char tmp[PATH_MAX], name[QID_MAX + 16], *buf;
	struct timespec ts[2];
	size_t len, i;
	int fd, saved;

	if (xsnprintf(name, sizeof(name), "tmp_state_%s", it->queueid) != 0 ||
	    spool_path(tmp, sizeof(tmp), "", name) != 0) {
		snprintf(why, whylen, "queue id `%s' too long", it->queueid);
		return (-1);
	}
	if (it->version >= 2)
		buf = xasprintf("Version: %d\nID: %s\nSender: %s\n",
		    g != NULL ? SPOOL_VERSION_GROUP : SPOOL_VERSION,
		    it->queueid, it->sender);
	else
		buf = xasprintf("ID: %s\nSender: %s\n", it->queueid,
		    it->sender);
	for (i = 0; i < (g != NULL ? g->rl.n : 1); i++) {
		char *more;

		if (g != NULL && g->gone[i])
			continue;
		more = xasprintf("%sRecipient: %s\n", buf,
		    g != NULL ? g->rl.v[i] : it->addr);
		free(buf);
		buf = more;
	}
	if (st->attempts > 0 || st->lastfail != 0 || st->next != 0) {
		char *more = xasprintf("%sAttempts: %u\nLast-Attempt: %lld\n"
		    "Last-Error: %s\nNext-Attempt: %lld\n", buf, st->attempts,
		    (long long)st->lastfail, st->error != NULL ? st->error : "",
		    (long long)st->next);

		free(buf);
		buf = more;
	}
	if (st->held) {
		char *more = xasprintf("%sHeld: yes\n", buf);

		free(buf);
		buf = more;
	}
	if (st->warned != 0) {
		char *more = xasprintf("%sWarned: %lld\n", buf,
		    (long long)st->warned);

		free(buf);
		buf = more;
	}
	len = strlen(buf);
	/* Under the entry's lock nobody else writes this name. */
	(void)unlink(tmp);
	fd = spool_create_exact(tmp, O_WRONLY, 0660);
	if (fd < 0)
		goto fail;
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = it->qtime;
	ts[1].tv_nsec = 0;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0 || spool_write_all(fd, buf, len) != 0 ||
	    fsync(fd) != 0 || futimens(fd, ts) != 0 ||
	    rename(tmp, it->qpath) != 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		goto fail;
	}
	close(fd);
	free(buf);
	return (0);
fail:
	snprintf(why, whylen, "can not write the state of `%s': %s",
	    it->qpath, strerror(errno));
	free(buf);
	return (-1);
}

/*
 * spool_save_state - rewrite the locked entry's Q file with its state.
 * For a recipient of a group entry the state is kept, and written with
 * the file's recipients when the last sibling is released: siblings
 * attempted together share one state.
 */
int
spool_save_state(struct qitem *it, char *why, size_t whylen)
{
	if (it->grp != NULL) {
		spool_state_copy(&it->grp->st, &it->st);
		it->grp->dirty = 1;
		return (0);
	}
	return (write_state(it, NULL, &it->st, why, whylen));
}

/*
 * group_write - the last sibling of the group entry g is released (it,
 * still locked): strike the recipients removed, write the state saved.
 * Nothing to do when all are removed (Q is gone) or nothing changed.  A
 * failure is logged: the recipients struck stay queued, and are
 * delivered again.
 */
static void
group_write(const struct qitem *it, const struct qgroup *g)
{
	char why[WHY_MAX];

	if (g->ngone == g->rl.n || (g->ngone == 0 && !g->dirty))
		return;
	if (write_state(it, g, &g->st, why, sizeof(why)) != 0)
		log_msg(LOG_ERR, "%s", why);
}

/*
 * spool_remove - the entry is done (delivered or bounced).
 * Unlinking Q is the commit point: once it is gone no runner can pick
 * the entry up again, whatever happens to M.  The directory is not
 * synced (spool_sync, at the runner's choice): a removal lost to a power
 * loss offers the message again, and local delivery's journal knows it.
 */
int
spool_remove(struct qitem *it)
{
	struct qgroup *g = it->grp;
	int ret = 0;

	if (g != NULL) {
		if (!g->gone[it->gidx]) {
			g->gone[it->gidx] = 1;
			g->ngone++;
		}
		if (g->ngone < g->rl.n)
			return (0);	/* struck by spool_release */
	}

	if (unlink(it->qpath) != 0 && errno != ENOENT) {
		log_msg(LOG_ERR, "can not remove `%s': %s", it->qpath,
		    strerror(errno));
		return (-1);
	}
	if (unlink(it->mpath) != 0 && errno != ENOENT) {
		log_msg(LOG_ERR, "can not remove `%s': %s", it->mpath,
		    strerror(errno));
		ret = -1;
	}
	return (ret);
}

/* spool_sync - make the removals and creations so far durable */
int
spool_sync(void)
{
	if (spool_dir_sync() != 0) {
		log_msg(LOG_ERR, "can not sync `%s': %s", spool_dir(),
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/* spool_release - drop the lock and the message handle */
void
spool_release(struct qitem *it)
{
	if (it->mfp != NULL) {
		fclose(it->mfp);
		it->mfp = NULL;
		it->mfd = -1;
	}
	if (it->grp != NULL) {
		struct qgroup *g = it->grp;

		it->grp = NULL;
		it->qfd = -1;		/* the group's */
		if (--g->refs == 0) {
			group_write(it, g);	/* still under the lock */
			group_free(g);
		}
	}
	if (it->qfd >= 0) {
		close(it->qfd);
		it->qfd = -1;
	}
}
