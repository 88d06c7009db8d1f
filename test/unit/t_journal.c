/*
 * t_journal.c - the append journal of local delivery (journal.c): a
 * journal written before batches existed (32 records of 11 fields) is
 * read, its records taken as batches of one; records of a batch carry
 * it and come back in order; done and void records.  Works in a
 * mkdtemp directory given as the spool directory.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"
#include "tap.h"

static char tmpdir[] = "/tmp/t_journal.XXXXXX";

/* old_slot - one record in the format without the batch field */
static void
old_slot(char *buf, char state, int seq, long start, long end, const char *qid)
{
	int n;

	n = snprintf(buf, JOURNAL_SLOTSIZE,
	    "%c %d %ld 77 %ld 0 %ld %s 88 1700000000.000000005",
	    state, seq, (long)time(NULL), start, end, qid);
	memset(buf + n, ' ', (size_t)(JOURNAL_SLOTSIZE - 1 - n));
	buf[JOURNAL_SLOTSIZE - 1] = '\n';
}

/* write_file - the journal of user := len bytes of buf */
static int
write_file(const char *user, const char *buf, size_t len)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/J%s", tmpdir, user);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0660);
	if (fd < 0)
		return (-1);
	if (write(fd, buf, len) != (ssize_t)len) {
		close(fd);
		return (-1);
	}
	return (close(fd));
}

static void
jid_of(struct jid *id, const char *qid)
{
	memset(id, 0, sizeof(*id));
	strlcpy(id->qid, qid, sizeof(id->qid));
	id->mino = 88;
	id->mtime.tv_sec = 1700000000;
	id->mtime.tv_nsec = 5;
}

static void
test_old_format(void)
{
	static char buf[32 * JOURNAL_SLOTSIZE];
	struct jslot *v[JOURNAL_SLOTS];
	struct journal j;
	struct jid id;
	struct stat st;
	char path[PATH_MAX];
	uintmax_t bseq = 0;
	int n;

	memset(buf, 0, sizeof(buf));
	old_slot(buf, 'A', 5, 0, 100, "aa.1");
	old_slot(buf + JOURNAL_SLOTSIZE, 'D', 6, 100, 200, "bb.1");
	old_slot(buf + 2 * JOURNAL_SLOTSIZE, 'A', 7, 200, 300, "cc.1");
	ok(write_file("old", buf, sizeof(buf)) == 0, "old journal written");
	ok(journal_open(&j, "old") == 0, "old journal: opened");
	jid_of(&id, "aa.1");
	ok(journal_find(&j, &id) != NULL, "old journal: an 'A' record is found");
	jid_of(&id, "bb.1");
	ok(journal_find(&j, &id) != NULL, "old journal: a 'D' record too");
	jid_of(&id, "zz.1");
	ok(journal_find(&j, &id) == NULL, "old journal: an unknown entry is not");
	n = journal_last(&j, v);
	is_int(n, 1, "old journal: the last batch is the last record alone");
	ok(n == 1 && v[0]->seq == 7 && v[0]->bseq == 7 && v[0]->start == 200 &&
	    v[0]->end == 300, "old journal: its fields");
	/* A batch of three added after the old records. */
	jid_of(&id, "dd.1");
	ok(journal_add(&j, &id, 77, 300, 0, 400, &bseq) != NULL, "add 1");
	is_int(bseq, 8, "the batch is named by its first seq");
	jid_of(&id, "ee.1");
	ok(journal_add(&j, &id, 77, 400, 0, 500, &bseq) != NULL, "add 2");
	jid_of(&id, "ff.1");
	ok(journal_add(&j, &id, 77, 500, 0, 600, &bseq) != NULL, "add 3");
	ok(journal_sync(&j) == 0, "synced");
	journal_close(&j);
	ok(journal_open(&j, "old") == 0, "reopened");
	n = journal_last(&j, v);
	is_int(n, 3, "the last batch has three records");
	ok(n == 3 && v[0]->seq == 8 && v[1]->seq == 9 && v[2]->seq == 10 &&
	    v[0]->bseq == 8 && v[2]->bseq == 8 && v[2]->end == 600,
	    "in order, with their batch");
	jid_of(&id, "cc.1");
	ok(journal_find(&j, &id) != NULL, "the old records are kept");
	journal_close(&j);
	jid_of(&id, "ee.1");
	ok(journal_done("old", &id) == 0, "done");
	ok(journal_open(&j, "old") == 0, "reopened");
	ok(journal_find(&j, &id) != NULL,
	    "a done record is still found (its entry may come back)");
	n = journal_last(&j, v);
	ok(n == 3 && v[1]->state == 'D', "and shows 'D' in its batch");
	ok(journal_void(&j, v[2]) == 0, "void");
	journal_close(&j);
	ok(journal_open(&j, "old") == 0, "reopened");
	jid_of(&id, "ff.1");
	ok(journal_find(&j, &id) == NULL, "a void record is not found");
	journal_close(&j);
	snprintf(path, sizeof(path), "%s/Jold", tmpdir);
	ok(stat(path, &st) == 0 && st.st_size == 32 * JOURNAL_SLOTSIZE,
	    "the old file keeps its size while its slots suffice");
}

static void
test_full(void)
{
	struct jslot *v[JOURNAL_SLOTS];
	struct journal j;
	struct jid id;
	char qid[32];
	uintmax_t bseq;
	int i, b, n, bad = 0;

	/* Four batches of LOCAL_BATCH: the journal keeps all of them. */
	for (b = 0; b < 4; b++) {
		if (journal_open(&j, "full") != 0) {
			bad = 1;
			break;
		}
		bseq = 0;
		for (i = 0; i < LOCAL_BATCH; i++) {
			snprintf(qid, sizeof(qid), "q%d.%d", b, i);
			jid_of(&id, qid);
			if (journal_add(&j, &id, 1, 0, 0, 1, &bseq) == NULL)
				bad = 1;
		}
		journal_close(&j);
	}
	ok(!bad, "four batches of %d records written", LOCAL_BATCH);
	ok(journal_open(&j, "full") == 0, "opened");
	for (b = 0; b < 4; b++) {
		snprintf(qid, sizeof(qid), "q%d.0", b);
		jid_of(&id, qid);
		if (journal_find(&j, &id) == NULL)
			bad = 1;
	}
	ok(!bad, "the first record of every batch is still there");
	n = journal_last(&j, v);
	journal_close(&j);
	/* All but the last batch done: a new batch takes empty slots first,
	 * then the oldest done ones; the newest done records stay. */
	for (b = 0; b < 3 && !bad; b++) {
		for (i = 0; i < LOCAL_BATCH; i++) {
			snprintf(qid, sizeof(qid), "q%d.%d", b, i);
			jid_of(&id, qid);
			if (journal_done("full", &id) != 0)
				bad = 1;
		}
	}
	ok(!bad, "three batches done");
	bseq = 0;
	ok(journal_open(&j, "full") == 0, "opened");
	for (i = 0; i < LOCAL_BATCH * 2; i++) {
		snprintf(qid, sizeof(qid), "r.%d", i);
		jid_of(&id, qid);
		if (journal_add(&j, &id, 1, 0, 0, 1, &bseq) == NULL)
			bad = 1;
	}
	ok(!bad, "a batch of %d more added", LOCAL_BATCH * 2);
	jid_of(&id, "q0.0");
	ok(journal_find(&j, &id) == NULL, "the oldest done record was reused");
	jid_of(&id, "q2.0");
	ok(journal_find(&j, &id) != NULL, "a newer done record is kept");
	jid_of(&id, "q3.0");
	ok(journal_find(&j, &id) != NULL, "the undone records are kept");
	journal_close(&j);
	ok(journal_open(&j, "full") == 0, "opened");
	is_int(n, LOCAL_BATCH, "the last batch has %d records", LOCAL_BATCH);
	journal_close(&j);
}

int
main(void)
{
	char cmd[PATH_MAX + 16];

	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return (1);
	}
	config.spooldir = tmpdir;
	test_old_format();
	test_full();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return (done_testing());
}
