/*
 * report.c - the reports dma sends about queued mail: a bounce (failure
 * report) for entries that will not be delivered, and a "delivery
 * delayed" notice for one that is still tried.  Each is a new message
 * from the null sender, written by mail.c and queued here like any
 * submission, to the original sender or, when that address cannot take
 * mail, to postmaster and then root, so that no report is lost.
 *
 * Callers (runq.c) hold the locks of the entries reported on and decide
 * what becomes of them; this module never removes an entry.  Side
 * effects: new spool entries (spool.c), syslog.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "dma.h"

/*
 * report_rcpts - the recipient of a report: the original sender, or,
 * when that address cannot receive mail (a local name that is no user),
 * postmaster and then root.  0, or -1 when none of them can.
 */
static int
report_rcpts(struct rcptlist *l, const char *sender, const struct alias *aliases)
{
	static const char *fallback[] = { "postmaster", "root" };
	char why[512];
	size_t i;

	l->refuse_remote = 1;	/* LOCALONLY: postmaster instead */
	if (rcpt_add(l, sender, 1, why, sizeof(why)) == RCPT_OK)
		return (0);
	log_msg(LOG_WARNING, "can not bounce to <%s>: %s", sender, why);
	for (i = 0; i < 2; i++) {
		rcpt_free(l);
		rcpt_init(l, aliases);
		if (rcpt_add(l, fallback[i], 1, why, sizeof(why)) == RCPT_OK)
			return (0);
	}
	return (-1);
}

/*
 * report_open - the recipients of a report to sender in l and a new
 * spool file for it in t; on failure (logged at pri, naming what) -1
 * with nothing left open.
 */
static int
report_open(struct spool_tmp *t, struct rcptlist *l, const char *sender,
    const struct alias *aliases, int pri, const char *what)
{
	char why[1024];

	rcpt_init(l, aliases);
	if (report_rcpts(l, sender, aliases) != 0) {
		log_msg(pri, "error creating %s: no valid recipient for <%s>",
		    what, sender);
		rcpt_free(l);
		return (-1);
	}
	if (spool_create(t, why, sizeof(why)) != 0) {
		log_msg(pri, "error creating %s: %s", what, why);
		rcpt_free(l);
		return (-1);
	}
	return (0);
}

int
report_bounce(struct qitem *const *its, size_t n, const char *reason,
    const struct alias *aliases, uid_t uid)
{
	struct spool_tmp t;
	struct rcptlist l;
	char why[1024];

	if (its[0]->sender[0] == '\0') {
		if (n == 1)
			log_msg(LOG_WARNING, "can not bounce a bounce message, "
			    "discarding: %s", reason);
		else
			log_msg(LOG_WARNING, "can not bounce a bounce message, "
			    "discarding %zu recipients: %s", n, reason);
		return (0);
	}
	if (report_open(&t, &l, its[0]->sender, aliases, LOG_CRIT,
	    "bounce") != 0)
		return (-1);
	if (n == 1)
		log_msg(LOG_ERR, "delivery failed, bouncing as %s", t.msgid);
	else
		log_msg(LOG_ERR, "delivery to %zu recipients failed, bouncing "
		    "as %s", n, t.msgid);
	why[0] = '\0';
	if (mail_bounce_write_group(t.fp, its, n, t.msgid, reason, its[0]->mfp,
	    (config.features & FULLBOUNCE) != 0) != 0)
		xsnprintf(why, sizeof(why), "can not write bounce: %s",
		    strerror(errno));
	if (why[0] == '\0') {
		/* Logged like every message that is queued. */
		log_msg(LOG_INFO, "new mail from user=%s uid=%lu envelope_from=<>",
		    username(), (unsigned long)uid);
		if (spool_commit(&t, "", &l, NULL, why, sizeof(why)) != -1)
			why[0] = '\0';	/* queued (SPOOL_ESYNC is logged) */
	}
	rcpt_free(&l);
	if (why[0] != '\0') {
		log_msg(LOG_CRIT, "error creating bounce: %s", why);
		spool_abort(&t);
		return (-1);
	}
	return (1);
}

int
report_delay(struct qitem *const *its, size_t n, const char *reason,
    const struct alias *aliases, uid_t uid)
{
	struct spool_tmp t;
	struct rcptlist l;
	char why[1024];
	size_t i;
	int ok = 0;

	if (report_open(&t, &l, its[0]->sender, aliases, LOG_ERR,
	    "delay notice") != 0)
		return (0);
	if (mail_delay_write(t.fp, its, n, t.msgid, reason, config.maxqueuetime,
	    its[0]->mfp) == 0) {
		log_msg(LOG_INFO, "new mail from user=%s uid=%lu envelope_from=<>",
		    username(), (unsigned long)uid);
		ok = spool_commit(&t, "", &l, NULL, why, sizeof(why)) != -1;
	} else
		xsnprintf(why, sizeof(why), "can not write: %s", strerror(errno));
	if (ok) {
		for (i = 0; i < n; i++) {
			log_setqid("%s", its[i]->queueid);
			log_msg(LOG_NOTICE, "<%s> delivery delayed: notice sent "
			    "to <%s> as %s", its[i]->addr, its[i]->sender,
			    t.msgid);
		}
	} else {
		log_msg(LOG_ERR, "error creating delay notice: %s", why);
		spool_abort(&t);
	}
	rcpt_free(&l);
	return (ok);
}
