/*
 * journal.c - the append journal of local delivery: what was being
 * appended to which mailbox, so that an append cut short by a crash, a
 * signal or a power loss can be found and undone, and an append that
 * completed is not repeated.
 *
 * One file per mailbox, {spooldir}/J{user}, of JOURNAL_SLOTS fixed-size
 * text records (one line each, padded with spaces):
 *
 *	state seq when ino start fixlen end qid mino mtime.nsec [bseq]
 *
 *   seq	increases by one per append; the record with the highest
 *		seq is the current one (the last append begun)
 *   state	'A' an append was begun, 'D' done: complete and its queue
 *		entry removed, 'V' void (undone or unknowable)
 *   when	time the append began
 *   ino	inode of the mailbox appended to
 *   start	its size before the append
 *   fixlen	newlines written first to end a damaged last message
 *   end	its size once the append is complete
 *   qid, mino, mtime	the queue entry: its id and the inode and
 *		modification time of its message file (a queue id alone
 *		can come back when an inode number is reused)
 *   bseq	the seq of the first record of the batch this one belongs
 *		to.  Records written before batches existed have no bseq
 *		and read as a batch of one (bseq = seq); a journal of 32
 *		records (the older JOURNAL_SLOTS) reads as one whose other
 *		slots are empty.
 *
 * One record per message, not one per batch: journal_find and
 * journal_done name a single queue entry, a message of a batch can fail
 * or be cut back on its own while the others stay, and the crash repair
 * can tell for each message of an interrupted batch whether it is whole.
 * A batch costs a record write per message but one fdatasync for all.
 *
 * The records of a batch (up to LOCAL_BATCH plus one job) are written
 * and fdatasync'ed together before the first byte of the batch reaches
 * the mailbox, with the offsets its messages will have, so after any
 * crash the mailbox can be compared with them: the messages are appended
 * in seq order, so those whose `end' the mailbox reaches are whole, and
 * the first that it does not reach was cut short (local.c cuts the
 * mailbox back to its `start' and voids it and the later ones).  Records
 * of earlier batches were checked that way by the batch that followed
 * them, so an 'A' record outside the current batch means a complete
 * append whose queue entry may still exist (its process died before
 * removing it, or before saying so with journal_done): such a record is
 * kept, however many appends follow, until journal_done or until it is
 * older than JOURNAL_KEEP, so that the entry is not appended twice.
 * JOURNAL_SLOTS leaves room for a whole batch beside such records.  A
 * 'D' record is reused only when no empty or void slot is left, and is
 * still found by journal_find: the removal of a queue entry is not
 * synced at once, so a power loss can bring back an entry whose record
 * already says 'D', and it must not be appended again either.
 *
 * Side effects: creates and writes J files in the spool directory (which
 * only group mail can enter: no user can forge a record).  Only local.c
 * calls this, and only while it holds the kernel locks of the mailbox,
 * which serialise every access to that mailbox's journal, except
 * journal_done, which writes one byte of the record of an append of its
 * own process.  spool.c never
 * touches J files; they are never removed (64 KiB per local user).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"

/* jdir - the spool directory, where J files live */
static const char *
jdir(void)
{
	return (config.spooldir != NULL ? config.spooldir : SPOOL_PATH);
}

/* parse_slot - one record; 0 ok, -1 empty or malformed (ignored) */
static int
parse_slot(const char *p, struct jslot *s)
{
	char line[JOURNAL_SLOTSIZE + 1], qid[JOURNAL_QID_MAX], state;
	uintmax_t seq, ino, mino, bseq;
	intmax_t when, start, fixlen, end, msec;
	long mnsec;
	int n = 0;

	memcpy(line, p, JOURNAL_SLOTSIZE);
	line[JOURNAL_SLOTSIZE] = '\0';
	if (line[JOURNAL_SLOTSIZE - 1] != '\n')
		return (-1);
	if (sscanf(line, "%c %ju %jd %ju %jd %jd %jd %63s %ju %jd.%ld %n",
	    &state, &seq, &when, &ino, &start, &fixlen, &end, qid, &mino, &msec,
	    &mnsec, &n) != 11)
		return (-1);
	bseq = seq;		/* a record without bseq: a batch of one */
	if (n != JOURNAL_SLOTSIZE) {
		int m = 0;

		if (sscanf(line + n, "%ju %n", &bseq, &m) != 1 ||
		    n + m != JOURNAL_SLOTSIZE)
			return (-1);
	}
	if ((state != 'A' && state != 'D' && state != 'V') || start < 0 || fixlen < 0 ||
	    fixlen > 2 || end < start + fixlen || mnsec < 0 || mnsec > 999999999 ||
	    bseq > seq || bseq == 0)
		return (-1);
	s->seq = seq;
	s->bseq = bseq;
	s->state = state;
	s->when = (time_t)when;
	s->ino = (ino_t)ino;
	s->start = (off_t)start;
	s->fixlen = (off_t)fixlen;
	s->end = (off_t)end;
	s->id.mino = (ino_t)mino;
	s->id.mtime.tv_sec = (time_t)msec;
	s->id.mtime.tv_nsec = mnsec;
	strlcpy(s->id.qid, qid, sizeof(s->id.qid));
	return (0);
}

/* write_slot - format slot i and write it in place */
static int
write_slot(struct journal *j, int i)
{
	const struct jslot *s = &j->slot[i];
	char line[JOURNAL_SLOTSIZE + 1];
	int n;

	n = snprintf(line, sizeof(line),
	    "%c %ju %jd %ju %jd %jd %jd %s %ju %jd.%09ld %ju",
	    s->state, (uintmax_t)s->seq, (intmax_t)s->when, (uintmax_t)s->ino,
	    (intmax_t)s->start,
	    (intmax_t)s->fixlen, (intmax_t)s->end, s->id.qid,
	    (uintmax_t)s->id.mino, (intmax_t)s->id.mtime.tv_sec,
	    (long)s->id.mtime.tv_nsec, s->bseq);
	if (n < 0 || n >= JOURNAL_SLOTSIZE) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memset(line + n, ' ', (size_t)(JOURNAL_SLOTSIZE - 1 - n));
	line[JOURNAL_SLOTSIZE - 1] = '\n';
	if (pwrite(j->fd, line, JOURNAL_SLOTSIZE, (off_t)i * JOURNAL_SLOTSIZE) !=
	    JOURNAL_SLOTSIZE) {
		if (errno == 0)
			errno = EIO;
		return (-1);
	}
	return (0);
}

int
journal_open(struct journal *j, const char *user)
{
	char path[PATH_MAX], buf[JOURNAL_SLOTS * JOURNAL_SLOTSIZE];
	struct stat st;
	ssize_t n;
	int i, dfd, saved;

	memset(j, 0, sizeof(*j));
	j->cur = -1;
	if (xsnprintf(path, sizeof(path), "%s/J%s", jdir(), user) != 0) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	j->fd = open(path, O_RDWR | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (j->fd < 0 && errno == ENOENT) {
		j->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_NOCTTY | O_CLOEXEC, 0660);
		if (j->fd < 0)
			return (-1);
		/* Group mail must be able to write it whoever delivers next;
		 * its name must survive a power loss with the first record. */
		if (fchmod(j->fd, 0660) != 0)
			goto fail;
		dfd = open(jdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			goto fail;
		i = fsync(dfd);
		saved = errno;
		close(dfd);
		errno = saved;
		if (i != 0)
			goto fail;
	}
	if (j->fd < 0)
		return (-1);
	if (fstat(j->fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		errno = EPERM;
		goto fail;
	}
	n = pread(j->fd, buf, sizeof(buf), 0);
	if (n < 0)
		goto fail;
	for (i = 0; i < JOURNAL_SLOTS; i++) {
		struct jslot *s = &j->slot[i];

		if ((i + 1) * JOURNAL_SLOTSIZE > n ||
		    parse_slot(buf + i * JOURNAL_SLOTSIZE, s) != 0) {
			memset(s, 0, sizeof(*s));
			continue;
		}
		if (j->cur < 0 || s->seq > j->slot[j->cur].seq)
			j->cur = i;
	}
	return (0);
fail:
	saved = errno;
	close(j->fd);
	j->fd = -1;
	errno = saved;
	return (-1);
}

void
journal_close(struct journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

int
journal_last(struct journal *j, struct jslot **v)
{
	uintmax_t bseq;
	int i, k, n = 0;

	if (j->cur < 0)
		return (0);
	bseq = j->slot[j->cur].bseq;
	for (i = 0; i < JOURNAL_SLOTS; i++) {
		if (j->slot[i].seq == 0 || j->slot[i].bseq != bseq)
			continue;
		/* insertion by seq: at most JOURNAL_SLOTS records */
		for (k = n; k > 0 && v[k - 1]->seq > j->slot[i].seq; k--)
			v[k] = v[k - 1];
		v[k] = &j->slot[i];
		n++;
	}
	return (n);
}

int
journal_void(struct journal *j, struct jslot *s)
{
	s->state = 'V';
	return (write_slot(j, (int)(s - j->slot)));
}

/* same_id - a and b name the same queue entry */
static int
same_id(const struct jid *a, const struct jid *b)
{
	return (a->mino == b->mino && a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec && strcmp(a->qid, b->qid) == 0);
}

const struct jslot *
journal_find(const struct journal *j, const struct jid *id)
{
	int i;

	for (i = 0; i < JOURNAL_SLOTS; i++) {
		if ((j->slot[i].state == 'A' || j->slot[i].state == 'D') &&
		    same_id(&j->slot[i].id, id))
			return (&j->slot[i]);
	}
	return (NULL);
}

/*
 * free_slot - where the next record goes: an empty or void slot, else
 * the oldest done one, else the oldest record older than JOURNAL_KEEP,
 * else (more entries cut off by crashes than slots) the oldest.  Done
 * records are kept as long as there is room: the removal of their queue
 * entries is not synced, and an entry that a power loss brings back is
 * then still known as delivered.
 */
static int
free_slot(const struct journal *j, time_t now)
{
	int i, oldest = 0, done = -1;

	for (i = 0; i < JOURNAL_SLOTS; i++) {
		const struct jslot *s = &j->slot[i];

		if (s->seq == 0 || s->state == 'V')
			return (i);
		if (s->state == 'D' && (done < 0 || s->seq < j->slot[done].seq))
			done = i;
		if (s->seq < j->slot[oldest].seq)
			oldest = i;
	}
	if (done >= 0)
		return (done);
	if (j->slot[oldest].when + JOURNAL_KEEP >= now)
		log_msg(LOG_WARNING, "delivery journal full: forgetting that %s "
		    "was delivered", j->slot[oldest].id.qid);
	return (oldest);
}

struct jslot *
journal_add(struct journal *j, const struct jid *id, ino_t ino, off_t start,
    off_t fixlen, off_t end, uintmax_t *bseq)
{
	struct jslot *s;
	uintmax_t seq = 1;
	time_t now = time(NULL);
	int i;

	if (j->cur >= 0)
		seq = j->slot[j->cur].seq + 1;
	i = free_slot(j, now);
	s = &j->slot[i];
	memset(s, 0, sizeof(*s));
	s->seq = seq;
	s->bseq = *bseq != 0 ? *bseq : seq;
	s->state = 'A';
	s->when = now;
	s->ino = ino;
	s->start = start;
	s->fixlen = fixlen;
	s->end = end;
	s->id = *id;
	if (write_slot(j, i) != 0) {
		int saved = errno;

		memset(s, 0, sizeof(*s));
		errno = saved;
		return (NULL);
	}
	*bseq = s->bseq;
	j->cur = i;
	return (s);
}

int
journal_sync(struct journal *j)
{
	return (fdatasync(j->fd));
}

/*
 * journal_done - without the mailbox lock, so it changes only the state
 * byte (the first of the record) of the record it finds, read again just
 * before: another delivery reuses a record only once it is not 'A'.
 */
int
journal_done(const char *user, const struct jid *id)
{
	char buf[JOURNAL_SLOTSIZE];
	struct journal j;
	struct jslot s;
	off_t off;
	int i, r = 0;

	if (journal_open(&j, user) != 0)
		return (-1);
	for (i = 0; i < JOURNAL_SLOTS; i++) {
		if (j.slot[i].state != 'A' || !same_id(&j.slot[i].id, id))
			continue;
		off = (off_t)i * JOURNAL_SLOTSIZE;
		if (pread(j.fd, buf, sizeof(buf), off) == (ssize_t)sizeof(buf) &&
		    parse_slot(buf, &s) == 0 && s.state == 'A' &&
		    s.seq == j.slot[i].seq && same_id(&s.id, id) &&
		    pwrite(j.fd, "D", 1, off) != 1)
			r = -1;
		break;
	}
	journal_close(&j);
	return (r);
}
