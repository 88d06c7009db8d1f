/*
 * runq.c - the queue runner: every delivery of dma goes through here
 * (dma -q, the detached delivery after a submission or -bs, -D, -v).
 *
 * Owns: the processes that deliver, how many run at once, the retry
 * policy (backoff, the 5-day rule) and bounces.  Side effects: fork,
 * waitpid, syslog; spool changes only through spool.c.
 *
 * Shape of a run:
 *
 *	entries --group--> destinations --split--> jobs
 *
 * A destination is a mailbox (local), the SMARTHOST, or a recipient
 * domain whose MX hosts are used.  A job is the entries of one message
 * for one destination (at most JOB_MAX): one SMTP transaction, or one
 * append per entry for a mailbox.  A round starts workers, at most
 * MAXWORKERS in all, one per mailbox and MAXSESSIONS per remote
 * destination; a worker takes the jobs of its destination one after the
 * other from a counter shared by all workers of that destination (so two
 * workers never take the same job) and hands them to local.c or smtp.c
 * through a struct dlv_feed.  The worker locks an entry in next(), just
 * before it is delivered, and unlocks it in done(): this process holds
 * no entry lock and no descriptor per entry, whatever the queue size,
 * and a stopped or dead worker holds only the entries it is delivering.
 *
 * What a worker did is written into memory shared with this process (a
 * state byte per entry, and per worker the entries it holds), so:
 *   - a worker killed by a signal (the OOM killer) leaves its entries
 *     queued; they count as a failed attempt and, once older than
 *     MAXQUEUETIME, are bounced from here like any other;
 *   - a session refused for concurrency (SMTP_YIELD) lowers that
 *     destination's number of sessions for the run, and the job it took
 *     is offered again at once to the remaining sessions, not counted;
 *   - bounces made by workers are picked up by a rescan of the spool and
 *     delivered in the same run.
 * fork failures are retried with growing pauses (FORK_TRIES); then the
 * run ends with the entries left queued, none of them locked.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"

#define SLOT_MAX	256	/* entries a worker may hold at once */
#define FORK_TRIES	5	/* pauses of 1, 2, 4, 8 s, then give up */
#define WORKER_YIELD	90	/* exit status: session refused (SMTP_YIELD) */

/* Per-round state of an entry, in shared memory. */
enum est {
	E_DUE = 0,		/* not taken yet */
	E_BUSY,			/* taken by a worker */
	E_DONE,			/* delivered, bounced or gone */
	E_DEFER,		/* attempted, failed temporarily */
	E_REQUEUE,		/* handed back unattempted */
	E_SKIP,			/* locked by another process, or unreadable */
};

/* An entry of the run, in this process. */
struct sent {
	struct qitem *it;
	time_t	 next;		/* due at */
	int	 backoff;
	int	 live;		/* still ours to deliver */
	int	 rounds;	/* rounds it was due in */
	char	*key;		/* destination: "L"user, "S", "D"domain */
};

enum dkind { D_LOCAL, D_SMART, D_DOMAIN };

/* A destination of one round. */
struct dest {
	enum dkind kind;
	const char *name;	/* user or domain; NULL for the smarthost */
	const char *key;
	size_t	 job0, njobs;	/* its jobs in round.job */
	size_t	 nmsgs;		/* messages they are parts of */
	int	 limit;		/* workers at once */
	int	 running;
};

struct job {
	size_t	 first, n;	/* entries round.ent[first .. first+n) */
	size_t	 msgno;		/* which message of its destination */
};

/* What a worker holds, in shared memory. */
struct slot {
	pid_t	 pid;
	int	 dest;
	unsigned n;
	unsigned idx[SLOT_MAX];
};

struct shared {
	int	 bounced;	/* a worker queued a bounce */
};

struct round {
	size_t	 n;		/* entries of the round */
	size_t	*ent;		/* index into run.e, grouped */
	struct dest *dest;
	size_t	 ndest;
	struct job *job;
	size_t	 njobs;
	/* shared with the workers */
	unsigned char *state;	/* enum est per round entry */
	unsigned *counter;	/* next job per destination */
	unsigned *alive;	/* its workers alive, per destination */
	struct slot *slot;	/* per worker slot */
	struct shared *sh;
	size_t	 shlen;
	void	*shmem;
};

/* A destination that refused sessions: its lowered limit, for the run. */
struct dlimit {
	char	*key;
	int	 limit;
};

#define ROUNDS_MAX	10	/* rounds of an entry a worker never got to */
#define DONE_BATCH	(JOURNAL_SLOTS / 4)	/* see done_later */

struct run {
	const struct runq_opts *o;
	struct dlimit *lim;
	size_t	 nlim;
	struct sent *e;
	size_t	 n, cap;
	time_t	 start;
	int	 nrounds;
	int	 nslots;
	int	 gaveup;	/* fork kept failing */
	struct qitem *done[DONE_BATCH];	/* in a worker: see done_later */
	size_t	 ndone;
};

/* The context of a worker (in the child). */
struct worker {
	struct run *run;
	struct round *rd;
	int	 d;		/* destination */
	struct slot *slot;
};

/* ---- finishing entries: bounces (report.c), retries ---------------- */

/* entry_age - seconds since the entry entered the queue */
static time_t
entry_age(const struct qitem *it)
{
	return (time(NULL) - it->qtime);
}

/*
 * bounce - report_bounce for the locked entries its[0..n) of one
 * message, then remove them.  0 when they are finished, -1 when no
 * report could be made (nothing removed: never deleted without one).
 */
static int
bounce(struct run *run, struct qitem **its, size_t n, const char *reason,
    int *made)
{
	size_t i;
	int r;

	*made = 0;
	r = report_bounce(its, n, reason, run->o->aliases, run->o->uid);
	if (r < 0)
		return (-1);
	for (i = 0; i < n; i++)
		spool_remove(its[i]);
	*made = r;
	return (0);
}

/* entry_lost - the Q file was removed under us (by an administrator) */
static int
entry_lost(const struct qitem *it)
{
	struct stat st;

	return (it->qfd >= 0 && fstat(it->qfd, &st) == 0 && st.st_nlink == 0);
}

/*
 * done_flush - the spool directory is synced, so the removals before it
 * survive a power loss: tell local delivery's journal they are done.
 */
static void
done_flush(struct run *run)
{
	size_t i;

	if (run->ndone == 0)
		return;
	if (spool_sync() == 0) {
		for (i = 0; i < run->ndone; i++)
			local_done(run->done[i]);
	}
	run->ndone = 0;
}

/*
 * done_later - it was delivered to its mailbox and removed; its journal
 * record is marked done after the next spool sync, not before: a power
 * loss could bring back a removal that was not synced, and then only the
 * record keeps the message from being appended twice.  One sync per
 * DONE_BATCH removals keeps the journal's records in use well below its
 * JOURNAL_SLOTS.
 */
static void
done_later(struct run *run, struct qitem *it)
{
	if (run->ndone == DONE_BATCH)
		done_flush(run);
	run->done[run->ndone++] = it;
}

/*
 * retry_delay - the wait after a failed attempt, from the state before
 * it: RETRYDELAY after the first failure, then the previous wait grown
 * by a random factor from 1.5 to 2.5 (the backoff of a waiting run,
 * round_end), at most MAXRETRYDELAY.
 */
static time_t
retry_delay(const struct qstate *st)
{
	long long prev = 0, d;

	if (st->lastfail > 0 && st->next > st->lastfail)
		prev = (long long)(st->next - st->lastfail);
	if (prev <= 0)
		d = config.retrydelay;
	else
		d = prev + prev / 2 + random() % prev;
	if (d > config.maxretrydelay)
		d = config.maxretrydelay;
	return ((time_t)(d > 0 ? d : 1));
}

/* warn_due - the deferred entry it is due its DELAYWARNING notice */
static int
warn_due(const struct qitem *it)
{
	return (config.delaywarning > 0 && it->st.warned == 0 &&
	    it->sender[0] != '\0' && entry_age(it) >= config.delaywarning);
}

/*
 * record_failure - a failed attempt of the locked entry it goes into its
 * queue file: count, time, reason and the time of the next attempt, so
 * a listing shows them and a scheduled run (the queue daemon) waits.
 * Called only on the way out (the rewrite replaces the locked file).
 */
static void
record_failure(struct run *run, struct qitem *it, const struct dsn *why,
    int *noticed)
{
	char buf[512];
	time_t now = time(NULL);

	it->st.next = now + retry_delay(&it->st);
	it->st.attempts++;
	it->st.lastfail = now;
	spool_state_error(&it->st, why->text);
	/* DELAYWARNING: once per entry (see group_warnings), never for a
	 * bounce. */
	if (warn_due(it) &&
	    report_delay(&it, 1, why->text, run->o->aliases, run->o->uid)) {
		it->st.warned = now;
		*noticed = 1;
	}
	if (spool_save_state(it, buf, sizeof(buf)) != 0)
		log_msg(LOG_WARNING, "%s", buf);
}

/*
 * finish - act on the outcome r (reason why) of the locked entry it and
 * unlock it.  Returns its new state.
 */
static enum est
finish(struct run *run, struct qitem *it, enum dlv r, struct dsn *why, int *bounced)
{
	enum est st = E_DONE;
	int made = 0;

	log_setqid("%s", it->queueid);
	switch (r) {
	case DLV_OK:
		log_msg(LOG_INFO, "<%s> delivery successful", it->addr);
		if (spool_remove(it) == 0 && it->local)
			done_later(run, it);
		break;
	case DLV_REQUEUE:
		st = E_REQUEUE;
		break;
	case DLV_TEMPFAIL:
		/* A held entry (delivered by dma -M) never expires. */
		if (it->st.held || entry_age(it) <= config.maxqueuetime) {
			log_msg(LOG_NOTICE, "<%s> delivery deferred: %s", it->addr,
			    why->text);
			st = entry_lost(it) ? E_DONE : E_DEFER;
			if (st == E_DEFER)
				record_failure(run, it, why, bounced);
			break;
		}
		log_msg(LOG_NOTICE, "<%s> deferred for too long: %s", it->addr, why->text);
		dsn_set(why, "4.4.7", "Could not deliver for the last %d seconds. "
		    "Giving up.", config.maxqueuetime);
		/* FALLTHROUGH */
	case DLV_PERMFAIL:
	default:
		if (bounce(run, &it, 1, why->text, &made) != 0)
			st = E_DEFER;	/* no report possible: keep the original */
		if (made)
			*bounced = 1;
		break;
	}
	spool_release(it);
	return (st);
}

/* ---- the worker side ------------------------------------------------ */

static void
slot_add(struct slot *s, unsigned idx)
{
	s->idx[s->n++] = idx;
}

static void
slot_del(struct slot *s, unsigned idx)
{
	unsigned i;

	for (i = 0; i < s->n; i++) {
		if (s->idx[i] == idx) {
			s->idx[i] = s->idx[--s->n];
			return;
		}
	}
}

/* feed_next - take the next job of our destination and lock its entries */
static int
feed_next(void *arg, struct dlv_job *job)
{
	struct worker *w = arg;
	struct round *rd = w->rd;
	struct dest *d = &rd->dest[w->d];
	char why[512];
	size_t j, i, k;
	int a;

	for (;;) {
		j = __atomic_fetch_add(&rd->counter[w->d], 1, __ATOMIC_SEQ_CST);
		if (j >= d->njobs)
			return (0);
		struct job *jb = &rd->job[d->job0 + j];

		if (w->slot->n + jb->n > SLOT_MAX)
			return (0);	/* cannot happen: JOB_MAX < SLOT_MAX */
		job->it = xcalloc(jb->n, sizeof(*job->it));
		job->res = xcalloc(jb->n, sizeof(*job->res));
		job->why = xcalloc(jb->n, sizeof(*job->why));
		job->n = 0;
		for (i = 0; i < jb->n; i++) {
			k = jb->first + i;
			struct qitem *it = w->run->e[rd->ent[k]].it;

			rd->state[k] = E_BUSY;
			slot_add(w->slot, (unsigned)k);
			/*
			 * A job is one message: its M opened once, and the
			 * lock of a group entry's Q file taken once.
			 */
			a = job->n > 0 ? spool_acquire_sibling(it,
			    job->it[job->n - 1], why, sizeof(why)) :
			    spool_acquire(it, why, sizeof(why));
			if (a == 0 && it->st.held && !w->run->o->force) {
				spool_release(it);	/* held since the load */
				a = SPOOL_ELOCKED;
			}
			if (a != 0) {
				if (a != SPOOL_ELOCKED) {
					log_setqid("%s", it->queueid);
					log_msg(LOG_INFO, "could not acquire queue file: %s", why);
				}
				rd->state[k] = E_SKIP;
				slot_del(w->slot, (unsigned)k);
				continue;
			}
			job->it[job->n] = it;
			job->res[job->n] = DLV_TEMPFAIL;
			dsn_set(&job->why[job->n], "", "unknown bounce reason");
			job->n++;
		}
		if (job->n == 0) {
			free(job->it);
			free(job->res);
			free(job->why);
			continue;
		}
		for (i = 0; i < job->n; i++) {
			log_setqid("%s", job->it[i]->queueid);
			log_msg(LOG_INFO, "<%s> trying delivery", job->it[i]->addr);
		}
		log_setqid("%s", job->it[0]->queueid);
		return (1);
	}
}

/* round_index - the round entry of the locked entry it */
static size_t
round_index(struct worker *w, const struct qitem *it)
{
	struct round *rd = w->rd;
	unsigned i;

	for (i = 0; i < w->slot->n; i++) {
		if (w->run->e[rd->ent[w->slot->idx[i]]].it == it)
			return (w->slot->idx[i]);
	}
	return ((size_t)-1);
}

/* bounces_now - finish() would bounce the entry it with outcome r */
static int
bounces_now(const struct qitem *it, enum dlv r)
{
	if (r == DLV_PERMFAIL)
		return (1);
	return (r == DLV_TEMPFAIL && !it->st.held &&
	    entry_age(it) > config.maxqueuetime && !entry_lost(it));
}

/*
 * group_bounces - no bounce storm: the entries of one job (one message)
 * that bounce for the same reason (all of them, when the relay refused
 * for days) get one report together.  Those finished are marked in
 * done[]; the rest go through finish() one by one.
 */
static void
group_bounces(struct run *run, struct dlv_job *job, unsigned char *done,
    int *bounced)
{
	struct qitem **g;
	char **rs;
	size_t i, j, n;
	int made;

	rs = xcalloc(job->n, sizeof(*rs));
	for (i = 0; i < job->n; i++) {
		if (!bounces_now(job->it[i], job->res[i]))
			continue;
		if (job->res[i] == DLV_TEMPFAIL)
			rs[i] = xasprintf("Could not deliver for the last %d "
			    "seconds. Giving up.", config.maxqueuetime);
		else
			rs[i] = xstrdup(job->why[i].text);
	}
	g = xcalloc(job->n, sizeof(*g));
	for (i = 0; i < job->n; i++) {
		if (rs[i] == NULL || done[i])
			continue;
		n = 0;
		for (j = i; j < job->n; j++) {
			if (rs[j] != NULL && !done[j] && strcmp(rs[i], rs[j]) == 0)
				g[n++] = job->it[j];
		}
		if (n < 2)
			continue;
		for (j = i; j < job->n; j++) {
			if (rs[j] == NULL || done[j] || strcmp(rs[i], rs[j]) != 0)
				continue;
			log_setqid("%s", job->it[j]->queueid);
			if (job->res[j] == DLV_TEMPFAIL)
				log_msg(LOG_NOTICE, "<%s> deferred for too long: %s",
				    job->it[j]->addr, job->why[j].text);
		}
		log_setqid("%s", job->it[i]->queueid);
		if (bounce(run, g, n, rs[i], &made) != 0)
			continue;	/* one by one, then */
		if (made)
			*bounced = 1;
		for (j = i; j < job->n; j++) {
			if (rs[j] != NULL && !done[j] && strcmp(rs[i], rs[j]) == 0)
				done[j] = 1;
		}
	}
	for (i = 0; i < job->n; i++)
		free(rs[i]);
	free(rs);
	free(g);
}

/* defers_now - finish() would keep the entry it with outcome r queued */
static int
defers_now(const struct qitem *it, enum dlv r)
{
	return (r == DLV_TEMPFAIL && (it->st.held ||
	    entry_age(it) <= config.maxqueuetime) && !entry_lost(it));
}

/*
 * group_warnings - no notice storm either: the entries of one job that
 * stay queued after failing for the same reason and are due their
 * DELAYWARNING notice get one together (a message to 1000 recipients
 * behind a dead relay: one notice per job, not 1000).  Each is marked
 * warned, so finish() sends none of its own and records it.
 */
static void
group_warnings(struct run *run, struct dlv_job *job, const unsigned char *done,
    int *noticed)
{
	struct qitem **g;
	unsigned char *cand, *sent;
	time_t now = time(NULL);
	size_t i, j, n;

	cand = xcalloc(job->n, 1);
	sent = xcalloc(job->n, 1);
	for (i = 0; i < job->n; i++)
		cand[i] = !done[i] && defers_now(job->it[i], job->res[i]) &&
		    warn_due(job->it[i]);
	g = xcalloc(job->n, sizeof(*g));
	for (i = 0; i < job->n; i++) {
		if (!cand[i] || sent[i])
			continue;
		n = 0;
		for (j = i; j < job->n; j++) {
			if (cand[j] && !sent[j] &&
			    strcmp(job->why[i].text, job->why[j].text) == 0)
				g[n++] = job->it[j];
		}
		if (n < 2)
			continue;
		log_setqid("%s", job->it[i]->queueid);
		if (!report_delay(g, n, job->why[i].text, run->o->aliases,
		    run->o->uid))
			continue;	/* one by one, then */
		*noticed = 1;
		for (j = i; j < job->n; j++) {
			if (cand[j] && !sent[j] &&
			    strcmp(job->why[i].text, job->why[j].text) == 0) {
				job->it[j]->st.warned = now;
				sent[j] = 1;
			}
		}
	}
	free(cand);
	free(sent);
	free(g);
}

/* feed_done - act on the outcomes of a job and release its entries */
static void
feed_done(void *arg, struct dlv_job *job)
{
	struct worker *w = arg;
	unsigned char *done;
	size_t i, k;
	int bounced = 0;
	enum est st;

	done = xcalloc(job->n + 1, 1);
	if (job->n > 1) {
		group_bounces(w->run, job, done, &bounced);
		group_warnings(w->run, job, done, &bounced);
	}
	for (i = 0; i < job->n; i++) {
		if (done[i]) {
			spool_release(job->it[i]);
			st = E_DONE;
		} else
			st = finish(w->run, job->it[i], job->res[i], &job->why[i],
			    &bounced);
		k = round_index(w, job->it[i]);
		if (k != (size_t)-1) {
			w->rd->state[k] = (unsigned char)st;
			slot_del(w->slot, (unsigned)k);
		}
	}
	if (bounced)
		w->rd->sh->bounced = 1;
	free(done);
	free(job->it);
	free(job->res);
	free(job->why);
	memset(job, 0, sizeof(*job));
}

/*
 * load_auth - read AUTHPATH for the remote deliveries of one worker.
 *
 * 2026-12: only here: listing the queue, intake and local delivery never
 * hold the relay passwords.  A missing or broken file defers the entries
 * (the error names the file and line, never its text); the
 * administrator can fix it before the messages bounce.
 */
static enum dlv
load_auth(struct authuser **auth, struct dsn *why)
{
	char buf[512];

	*auth = NULL;
	if (config.authpath == NULL)
		return (DLV_OK);
	if (conf_load_auth(config.authpath, auth, buf, sizeof(buf)) == CONF_OK)
		return (DLV_OK);
	log_msg(LOG_ERR, "remote delivery deferred: %s", buf);
	dsn_set(why, "4.3.5", "%s", buf);
	return (DLV_TEMPFAIL);
}

/*
 * feed_may_yield - a session refused for concurrency may be handed
 * back: another worker of the destination is alive to take the job.
 */
static int
feed_may_yield(void *arg)
{
	struct worker *w = arg;

	return (__atomic_load_n(&w->rd->alive[w->d], __ATOMIC_SEQ_CST) > 1);
}

/* worker_body - deliver jobs of destination d until none is left */
static int
worker_body(struct run *run, struct round *rd, int d, int slot, int may_yield)
{
	struct worker w;
	struct dlv_feed f;
	struct dlv_job job;
	struct authuser *auth;
	struct dsn why;
	struct dest *dst = &rd->dest[d];
	size_t i;
	int ret = 0;

	w.run = run;
	w.rd = rd;
	w.d = d;
	w.slot = &rd->slot[slot];
	f.next = feed_next;
	f.done = feed_done;
	f.may_yield = feed_may_yield;
	f.arg = &w;
	if (dst->kind == D_LOCAL) {
		local_deliver_feed(dst->name, &f);
	} else if (load_auth(&auth, &why) != DLV_OK) {
		while (feed_next(&w, &job)) {
			for (i = 0; i < job.n; i++) {
				job.res[i] = DLV_TEMPFAIL;
				job.why[i] = why;
			}
			feed_done(&w, &job);
		}
	} else {
		ret = smtp_deliver_feed(dst->name, auth, may_yield, &f);
		conf_free_auth(auth);	/* wipes the passwords */
	}
	/*
	 * Removals need no durability (an entry that comes back after a
	 * power loss is offered again; local delivery's journal knows it
	 * was appended), but one directory sync per worker keeps that to
	 * the last moments; then the journal records of the local
	 * deliveries are marked done.
	 */
	if (run->ndone > 0)
		done_flush(run);
	else
		spool_sync();
	return (ret == SMTP_YIELD ? WORKER_YIELD : EX_OK);
}

/* ---- the parent side ------------------------------------------------ */

/* dest_key - the destination of it, malloc'ed */
static char *
dest_key(const struct qitem *it)
{
	const char *at;
	char *k;
	size_t i;

	if (it->local)
		return (xasprintf("L%s", it->addr));
	if (config.smarthost != NULL)
		return (xstrdup("S"));
	at = strrchr(it->addr, '@');
	k = xasprintf("D%s", at != NULL ? at + 1 : "");
	for (i = 1; k[i] != '\0'; i++) {
		if (k[i] >= 'A' && k[i] <= 'Z')
			k[i] = (char)(k[i] - 'A' + 'a');
	}
	return (k);
}

/* msgid_len - length of the message part of a queue id ({msgid}.{n}) */
static size_t
msgid_len(const char *qid)
{
	const char *dot = strrchr(qid, '.');

	return (dot != NULL ? (size_t)(dot - qid) : strlen(qid));
}

static const struct run *sort_run;	/* for ent_cmp only */

/* ent_cmp - by destination, then queue order */
static int
ent_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(sort_run->e[x].key, sort_run->e[y].key);

	if (c != 0)
		return (c);
	return (x < y ? -1 : x > y);
}

/* same_message - a and b belong in one job */
static int
same_message(const struct qitem *a, const struct qitem *b)
{
	size_t n = msgid_len(a->queueid);

	return (n == msgid_len(b->queueid) &&
	    strncmp(a->queueid, b->queueid, n) == 0 &&
	    strcmp(a->sender, b->sender) == 0);
}

/* limit_of - sessions at once for the destination key in this run */
static int
limit_of(const struct run *run, const char *key)
{
	size_t i;

	for (i = 0; i < run->nlim; i++) {
		if (strcmp(run->lim[i].key, key) == 0)
			return (run->lim[i].limit);
	}
	return (config.maxsessions > 0 ? config.maxsessions : 1);
}

/* limit_set - remember a lowered limit of the destination key */
static void
limit_set(struct run *run, const char *key, int limit)
{
	size_t i;

	for (i = 0; i < run->nlim; i++) {
		if (strcmp(run->lim[i].key, key) == 0) {
			run->lim[i].limit = limit;
			return;
		}
	}
	run->lim = xrealloc(run->lim, (run->nlim + 1) * sizeof(*run->lim));
	run->lim[run->nlim].key = xstrdup(key);
	run->lim[run->nlim++].limit = limit;
}

static void *
shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return (p == MAP_FAILED ? NULL : p);
}

/*
 * entry_run - the entries of the round from k on that share the Q file
 * of the kth (a group entry), 0 when k continues the file of k - 1: the
 * recipients of one Q file go into one job, whose worker holds its lock.
 */
static size_t
entry_run(const struct run *run, const struct round *rd, size_t k)
{
	const struct qitem *it = run->e[rd->ent[k]].it, *o;
	size_t n;

	if (it->gsize <= 1)
		return (1);
	if (k > 0 && strcmp(run->e[rd->ent[k - 1]].it->queueid,
	    it->queueid) == 0)
		return (0);
	for (n = 1; k + n < rd->n; n++) {
		o = run->e[rd->ent[k + n]].it;
		if (strcmp(o->queueid, it->queueid) != 0 ||
		    strcmp(run->e[rd->ent[k + n]].key,
		    run->e[rd->ent[k]].key) != 0)
			break;
	}
	return (n);
}

/*
 * round_build - group the entries due at now into destinations and
 * jobs.  0, or -1 when nothing is due or the shared memory can not be had.
 */
static int
round_build(struct run *run, struct round *rd, time_t now)
{
	size_t i, k, nd = 0, nj = 0, off;

	memset(rd, 0, sizeof(*rd));
	rd->ent = xcalloc(run->n + 1, sizeof(*rd->ent));
	for (i = 0; i < run->n; i++) {
		if (run->e[i].live && run->e[i].next <= now) {
			rd->ent[rd->n++] = i;
			run->e[i].rounds++;
		}
	}
	if (rd->n == 0) {
		free(rd->ent);
		return (-1);
	}
	sort_run = run;
	qsort(rd->ent, rd->n, sizeof(*rd->ent), ent_cmp);
	rd->dest = xcalloc(rd->n, sizeof(*rd->dest));
	rd->job = xcalloc(rd->n, sizeof(*rd->job));
	for (k = 0; k < rd->n; k++) {
		struct sent *e = &run->e[rd->ent[k]];
		struct sent *p = k > 0 ? &run->e[rd->ent[k - 1]] : NULL;

		if (p == NULL || strcmp(p->key, e->key) != 0) {
			struct dest *d = &rd->dest[nd++];

			d->kind = e->key[0] == 'L' ? D_LOCAL :
			    e->key[0] == 'S' ? D_SMART : D_DOMAIN;
			d->name = d->kind == D_SMART ? NULL : e->key + 1;
			d->job0 = nj;
			d->limit = d->kind == D_LOCAL ? 1 : limit_of(run, e->key);
			d->key = e->key;
			p = NULL;
		}
		if (p == NULL || !same_message(p->it, e->it))
			rd->dest[nd - 1].nmsgs++;
		if (p == NULL || !same_message(p->it, e->it) ||
		    rd->job[nj - 1].n >= JOB_MAX ||
		    rd->job[nj - 1].n + entry_run(run, rd, k) > JOB_MAX) {
			rd->job[nj].first = k;
			rd->job[nj].n = 0;
			rd->job[nj].msgno = rd->dest[nd - 1].nmsgs - 1;
			nj++;
			rd->dest[nd - 1].njobs++;
		}
		rd->job[nj - 1].n++;
	}
	rd->ndest = nd;
	rd->njobs = nj;

	/* One shared mapping: header, counters, slots, states. */
	off = sizeof(struct shared);
	off = (off + 63) & ~(size_t)63;
	rd->shlen = off + 2 * nd * sizeof(unsigned);
	rd->shlen = (rd->shlen + 63) & ~(size_t)63;
	rd->shlen += (size_t)run->nslots * sizeof(struct slot) + rd->n;
	if ((rd->shmem = shared_alloc(rd->shlen)) == NULL) {
		log_msg(LOG_ERR, "can not map shared memory: %s", strerror(errno));
		free(rd->ent);
		free(rd->dest);
		free(rd->job);
		return (-1);
	}
	rd->sh = rd->shmem;
	rd->counter = (unsigned *)(void *)((char *)rd->shmem + off);
	rd->alive = rd->counter + nd;
	off = (off + 2 * nd * sizeof(unsigned) + 63) & ~(size_t)63;
	rd->slot = (struct slot *)(void *)((char *)rd->shmem + off);
	rd->state = (unsigned char *)rd->shmem + off +
	    (size_t)run->nslots * sizeof(struct slot);
	return (0);
}

static void
round_free(struct round *rd)
{
	munmap(rd->shmem, rd->shlen);
	free(rd->ent);
	free(rd->dest);
	free(rd->job);
}

/*
 * orphan_record - count the attempt of a dead worker in the state of its
 * entry it (from a child: the lock and the rewrite are a worker's work),
 * so the next attempt of a scheduled run is put off as after any failure.
 */
static void
orphan_record(struct run *run, struct round *rd, struct qitem *it,
    const char *what)
{
	struct dsn why;
	char buf[256];
	pid_t pid;
	int st, b = 0;

	if ((pid = fork()) == 0) {
		if (spool_acquire(it, buf, sizeof(buf)) != 0)
			_exit(EX_TEMPFAIL);
		dsn_set(&why, "4.3.0", "the delivery process was %s", what);
		record_failure(run, it, &why, &b);
		spool_release(it);
		spool_sync();
		if (b)
			rd->sh->bounced = 1;
		_exit(EX_OK);
	}
	if (pid > 0)
		(void)waitpid(pid, &st, 0);
}

/*
 * orphan - a worker died (signal, or an exit it never makes by itself)
 * while holding entries: they stay queued as a failed attempt, and one
 * past MAXQUEUETIME (and not held) is bounced now, from a child of its
 * own, so a message
 * that kills every worker still gets its report after five days.
 */
static void
orphan(struct run *run, struct round *rd, struct slot *s, int status)
{
	char what[64];
	unsigned i;

	if (WIFSIGNALED(status))
		snprintf(what, sizeof(what), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(what, sizeof(what), "exited with status %d",
		    WEXITSTATUS(status));
	for (i = 0; i < s->n; i++) {
		size_t k = s->idx[i];
		struct qitem *it = run->e[rd->ent[k]].it;
		struct dsn why;
		pid_t pid;
		int st, b = 0;

		rd->state[k] = E_DEFER;
		log_setqid("%s", it->queueid);
		log_msg(LOG_ERR, "<%s> delivery process %ld %s", it->addr,
		    (long)s->pid, what);
		if (entry_age(it) <= config.maxqueuetime || it->st.held) {
			orphan_record(run, rd, it, what);
			continue;
		}
		if ((pid = fork()) == 0) {
			char buf[256];

			if (spool_acquire(it, buf, sizeof(buf)) != 0 ||
			    it->st.held)
				_exit(EX_TEMPFAIL);
			dsn_set(&why, "4.4.7", "Could not deliver for the last %d "
			    "seconds (the delivery process was %s). Giving up.",
			    config.maxqueuetime, what);
			log_msg(LOG_NOTICE, "<%s> deferred for too long: delivery "
			    "process %s", it->addr, what);
			_exit(finish(run, it, DLV_PERMFAIL, &why, &b) == E_DONE ?
			    EX_OK : EX_TEMPFAIL);
		}
		if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		    WEXITSTATUS(st) == EX_OK) {
			rd->state[k] = E_DONE;
			rd->sh->bounced = 1;
		}
	}
	s->n = 0;
}

/* start - fork a worker for destination d; 0, or -1 (fork failed) */
static int
start(struct run *run, struct round *rd, int d)
{
	struct dest *dst = &rd->dest[d];
	int sl, may_yield;
	pid_t pid;

	for (sl = 0; sl < run->nslots; sl++) {
		if (rd->slot[sl].pid == 0)
			break;
	}
	if (sl == run->nslots)
		return (-1);	/* cannot happen: running < nslots */
	may_yield = 1;		/* asked again when refused (feed_may_yield) */
	rd->slot[sl].n = 0;
	rd->slot[sl].dest = d;
	__atomic_add_fetch(&rd->alive[d], 1, __ATOMIC_SEQ_CST);
	if ((pid = fork()) == -1) {
		__atomic_sub_fetch(&rd->alive[d], 1, __ATOMIC_SEQ_CST);
		return (-1);
	}
	if (pid == 0)
		_exit(worker_body(run, rd, d, sl, may_yield));
	rd->slot[sl].pid = pid;
	dst->running++;
	return (0);
}

/*
 * msgs_left - messages of d with jobs nobody has taken yet.  A message
 * of many recipients is several jobs, but one session delivers them in
 * a row, so more sessions are opened only for more messages.
 */
static size_t
msgs_left(const struct round *rd, int d)
{
	const struct dest *dst = &rd->dest[d];
	size_t taken = __atomic_load_n(&rd->counter[d], __ATOMIC_SEQ_CST);

	if (taken >= dst->njobs)
		return (0);
	return (dst->nmsgs - rd->job[dst->job0 + taken].msgno);
}

/* reap - account for the worker pid that ended with status */
static void
reap(struct run *run, struct round *rd, pid_t pid, int status, int *running)
{
	int sl;

	for (sl = 0; sl < run->nslots; sl++) {
		struct slot *s = &rd->slot[sl];
		struct dest *d;

		if (s->pid != pid)
			continue;
		d = &rd->dest[s->dest];
		d->running--;
		__atomic_sub_fetch(&rd->alive[s->dest], 1, __ATOMIC_SEQ_CST);
		(*running)--;
		if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_YIELD) {
			if (d->limit > 1)
				d->limit--;
			limit_set(run, d->key, d->limit);
			log_msg(LOG_NOTICE, "%s refused one more session: %d at "
			    "once from now on", d->name != NULL ? d->name :
			    config.smarthost, d->limit);
		} else if (!WIFEXITED(status) || WEXITSTATUS(status) != EX_OK) {
			orphan(run, rd, s, status);
		}
		s->n = 0;	/* a worker that exits normally holds nothing */
		s->pid = 0;
		return;
	}
}

/*
 * round_run - deliver the jobs of one round: keep starting workers while
 * jobs are left and limits allow, until all have ended.
 */
static void
round_run(struct run *run, struct round *rd)
{
	int running = 0, status, fails = 0;
	size_t d;
	pid_t pid;

	/*
	 * The delivery of one submitted message to one destination needs
	 * no second process: the submitter's own (detached) process does
	 * it.  A queue run always forks, so that a message that kills its
	 * deliverer is still seen dying and bounced in time.
	 */
	if (run->o->inproc && rd->ndest == 1 && rd->dest[0].nmsgs == 1 &&
	    run->nrounds == 1) {
		rd->slot[0].pid = getpid();
		rd->slot[0].dest = 0;
		(void)worker_body(run, rd, 0, 0, 0);	/* may_yield 0: no yield */
		rd->slot[0].pid = 0;
		rd->slot[0].n = 0;
		return;
	}
	for (;;) {
		int forkfail = 0;

		for (d = 0; d < rd->ndest && !run->gaveup; d++) {
			struct dest *dst = &rd->dest[d];

			while (running < run->nslots && dst->running < dst->limit &&
			    msgs_left(rd, (int)d) > (size_t)dst->running) {
				if (start(run, rd, (int)d) != 0) {
					forkfail = 1;
					break;
				}
				running++;
				fails = 0;
			}
			if (forkfail)
				break;
		}
		if (forkfail && running == 0) {
			if (++fails >= FORK_TRIES) {
				log_msg(LOG_ERR, "can not fork: %s; giving up this "
				    "run, the messages stay queued", strerror(errno));
				run->gaveup = 1;
				return;
			}
			log_msg(LOG_WARNING, "can not fork: %s; trying again in "
			    "%d s", strerror(errno), 1 << (fails - 1));
			sleep(1U << (fails - 1));
			continue;
		}
		if (running == 0)
			return;
		pid = waitpid(-1, &status, 0);
		if (pid == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		reap(run, rd, pid, status, &running);
	}
}

/* round_end - carry the round's outcomes over to the run */
static void
round_end(struct run *run, struct round *rd, time_t now)
{
	size_t k;

	for (k = 0; k < rd->n; k++) {
		struct sent *e = &run->e[rd->ent[k]];

		switch (rd->state[k]) {
		case E_DONE:
		case E_SKIP:
			e->live = 0;
			break;
		case E_REQUEUE:
			e->next = now;
			if (e->rounds >= ROUNDS_MAX)	/* never taken: next run */
				e->live = 0;
			break;
		case E_DEFER:
		case E_BUSY:
		case E_DUE:
		default:
			if (!run->o->retry) {
				/* untaken (a worker died early): again, a few times */
				e->live = rd->state[k] == E_DUE && !run->gaveup &&
				    e->rounds < ROUNDS_MAX;
				break;
			}
			e->next = now + e->backoff;
			e->backoff = e->backoff + e->backoff / 2 +
			    (int)(random() % e->backoff);
			if (e->backoff > config.maxretrydelay)
				e->backoff = config.maxretrydelay;
			break;
		}
	}
}

/* add - make it an entry of the run */
static void
add(struct run *run, struct qitem *it)
{
	struct sent *e;

	if (run->n == run->cap) {
		run->cap = run->cap ? run->cap * 2 : 64;
		run->e = xrealloc(run->e, run->cap * sizeof(*run->e));
	}
	e = &run->e[run->n++];
	memset(e, 0, sizeof(*e));
	e->it = it;
	e->next = run->o->scheduled ? it->st.next : 0;
	e->backoff = config.retrydelay;
	e->live = !it->st.held || run->o->force;
	e->key = dest_key(it);
}

/*
 * same_entry - a (of the run) and b (loaded again) are one entry: the
 * same queue id in the same Q file.  A queue id is the inode number of
 * the message's first file, so once a message is gone a new one may
 * get its id: a bounce queued by another run at that moment is new.
 */
static int
same_entry(const struct qitem *a, const struct qitem *b)
{
	if (strcmp(a->queueid, b->queueid) != 0)
		return (0);
	if (a->qino == 0 || b->qino == 0)
		return (1);
	return (a->qdev == b->qdev && a->qino == b->qino &&
	    a->qctim.tv_sec == b->qctim.tv_sec &&
	    a->qctim.tv_nsec == b->qctim.tv_nsec);
}

/*
 * add_bounces - the bounces workers queued in this run: entries of the
 * spool queued since the run started that are not ours yet.
 */
static void
add_bounces(struct run *run, struct queue *extra)
{
	struct queue q;
	struct qitem *it, *nx, **tail = &extra->head;
	char why[512];
	size_t i;

	while (*tail != NULL)
		tail = &(*tail)->next;
	if (spool_load(&q, 0, why, sizeof(why)) != 0) {
		log_msg(LOG_ERR, "%s", why);
		return;
	}
	for (it = q.head; it != NULL; it = nx) {
		nx = it->next;
		it->next = NULL;
		for (i = 0; i < run->n; i++) {
			if (same_entry(run->e[i].it, it))
				break;
		}
		if (i < run->n || it->qtime < run->start - 1 ||
		    it->sender[0] != '\0') {
			q.head = it;	/* free just this one */
			q.n = 1;
			spool_free(&q);
			continue;
		}
		*tail = it;
		tail = &it->next;
		extra->n++;
		add(run, it);
	}
}

/*
 * nap - nothing is due before next: sleep until then in SLEEP_TIMEOUT
 * steps.  Returns 1 when a queue run (dma -q) touched the flush file
 * meanwhile: everything is due again at once.
 */
static int
nap(time_t next)
{
	time_t start = time(NULL);

	while (time(NULL) < next) {
		time_t left = next - time(NULL);

		sleep((unsigned)(left < SLEEP_TIMEOUT ? left : SLEEP_TIMEOUT));
		if (spool_flush_time() >= start)
			return (1);
	}
	return (0);
}

void
runq_run(struct queue *q, const struct runq_opts *o)
{
	struct run run;
	struct round rd;
	struct queue extra;
	struct qitem *it;
	size_t i;

	memset(&run, 0, sizeof(run));
	run.o = o;
	run.start = time(NULL);
	run.nslots = config.maxworkers > 0 ? config.maxworkers : 1;
	extra.head = NULL;
	extra.n = 0;
	for (it = q->head; it != NULL; it = it->next)
		add(&run, it);
	for (;;) {
		time_t now = time(NULL), due = 0;
		int live = 0;

		if (round_build(&run, &rd, now) == 0) {
			run.nrounds++;
			round_run(&run, &rd);
			round_end(&run, &rd, time(NULL));
			if (rd.sh->bounced)
				add_bounces(&run, &extra);
			round_free(&rd);
			if (run.gaveup)
				break;
			continue;
		}
		for (i = 0; i < run.n; i++) {
			if (!run.e[i].live)
				continue;
			live++;
			if (due == 0 || run.e[i].next < due)
				due = run.e[i].next;
		}
		if (live == 0 || !o->retry)
			break;
		if (nap(due)) {
			for (i = 0; i < run.n; i++) {
				run.e[i].next = 0;
				run.e[i].backoff = config.retrydelay;
			}
		}
	}
	for (i = 0; i < run.n; i++)
		free(run.e[i].key);
	for (i = 0; i < run.nlim; i++)
		free(run.lim[i].key);
	free(run.lim);
	free(run.e);
	spool_free(&extra);
}
