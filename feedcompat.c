/*
 * feedcompat.c - one entry at a time through smtp_deliver, behind the
 * feed interface of the queue runner; replaced by the batching version
 * in smtp.c (local.c has its own local_deliver_feed).
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "dma.h"


int
smtp_deliver_feed(const char *domain __unused, const struct authuser *auth,
    int may_yield __unused, struct dlv_feed *f)
{
	struct dlv_job job;
	size_t i;

	authusers = (struct authuser *)(uintptr_t)auth;
	while (f->next(f->arg, &job)) {
		for (i = 0; i < job.n; i++)
			job.res[i] = smtp_deliver(job.it[i], &job.why[i]);
		f->done(f->arg, &job);
	}
	return (0);
}
