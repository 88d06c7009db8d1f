/*
 * lfeed.c - test driver: deliver the queued entries of one local user
 * through local_deliver_feed(), as one worker of a queue run would.
 *
 *	lfeed user
 *
 * Loads the spool, hands every entry for user to local_deliver_feed()
 * through a feed that locks it in next() and, in done(), removes a
 * delivered entry (then local_done) and releases the others.  Prints one
 * line per entry, "{qid} OK|TEMPFAIL|PERMFAIL {code} {text}", and exits
 * 0.  Used by test/integration/local-batch.sh inside its namespace, as
 * root; reads /etc/dma/dma.conf for the spool directory.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "dma.h"

struct lfeed {
	const char *user;
	struct qitem *cur;		/* next entry to look at */
};

static int
lf_next(void *arg, struct dlv_job *job)
{
	struct lfeed *f = arg;
	struct qitem *it;
	char why[256];

	/* A batch holds several jobs at once: each has its own arrays. */
	while ((it = f->cur) != NULL) {
		f->cur = it->next;
		if (!it->local || strcmp(it->addr, f->user) != 0)
			continue;
		if (spool_acquire(it, why, sizeof(why)) != 0)
			continue;
		log_setqid("%s", it->queueid);
		job->it = xmalloc(sizeof(*job->it));
		job->res = xmalloc(sizeof(*job->res));
		job->why = xmalloc(sizeof(*job->why));
		job->it[0] = it;
		job->n = 1;
		job->res[0] = DLV_TEMPFAIL;
		dsn_set(&job->why[0], "", "not filled");
		return (1);
	}
	return (0);
}

static void
lf_done(void *arg, struct dlv_job *job)
{
	static const char *names[] = { "OK", "TEMPFAIL", "PERMFAIL", "REQUEUE" };
	struct qitem *it = job->it[0];

	(void)arg;
	printf("%s %s %s %s\n", it->queueid, names[job->res[0]],
	    job->why[0].code, job->why[0].text);
	if (job->res[0] == DLV_OK && spool_remove(it) == 0)
		local_done(it);
	else
		spool_release(it);
	free(job->it);
	free(job->res);
	free(job->why);
}

int
main(int argc, char **argv)
{
	struct dlv_feed feed;
	struct lfeed f;
	struct queue q;
	char why[512];

	if (argc != 2) {
		fprintf(stderr, "usage: lfeed user\n");
		return (2);
	}
	signal(SIGXFSZ, SIG_IGN);	/* as dma: EFBIG is a write error */
	log_init("dma");
	conf_init(&config);
	if (conf_load(DMA_CONF_FILE, &config, why, sizeof(why)) != CONF_OK) {
		fprintf(stderr, "lfeed: %s\n", why);
		return (1);
	}
	if (spool_load(&q, 0, why, sizeof(why)) != 0) {
		fprintf(stderr, "lfeed: %s\n", why);
		return (1);
	}
	memset(&f, 0, sizeof(f));
	f.user = argv[1];
	f.cur = q.head;
	feed.next = lf_next;
	feed.done = lf_done;
	feed.arg = &f;
	local_deliver_feed(argv[1], &feed);
	fflush(stdout);
	spool_free(&q);
	return (0);
}
