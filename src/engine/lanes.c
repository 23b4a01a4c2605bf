/*
 * lanes.c - two lanes of layer jobs: turns, parking, and the scheduler that runs them.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine_int.h"

/* Wait until it is this lane's job's turn to write; false when another lane failed. */
bool lane_wait_turn(engine *E, lane *L)
{
	if (!E->lanes || !E->ordered)
		return true;
	pthread_mutex_lock(&E->mu);
	while (E->turn != L->ticket && !E->lane_failed)
		pthread_cond_wait(&E->turn_cv, &E->mu);
	bool ok = E->turn == L->ticket;
	pthread_mutex_unlock(&E->mu);
	L->stopped = !ok;
	return ok;
}

static int drain(engine *E, ferry_error *err);

/*
 * Pass the turn on, or, when writing failed, stop every lane: the next blob
 * must not go after a broken one (and be the failure reported instead).
 * Passing it on may make parked blobs due: this thread then hands them
 * over, and fails if that does.
 */
int lane_end_turn(engine *E, lane *L, bool ok, ferry_error *err)
{
	if (!E->lanes || !E->ordered)
		return 0;
	pthread_mutex_lock(&E->mu);
	if (ok)
		E->turn++;
	else
		E->lane_failed = true;
	L->had_turn = true;
	pthread_cond_broadcast(&E->turn_cv);
	pthread_mutex_unlock(&E->mu);
	return ok ? drain(E, err) : 0;
}

void engine_lock(pthread_mutex_t *m, engine *E)
{
	if (E->lanes)
		pthread_mutex_lock(m);
}

void engine_unlock(pthread_mutex_t *m, engine *E)
{
	if (E->lanes)
		pthread_mutex_unlock(m);
}

/* The store is shared between lanes that take turns; one with concurrent_blobs guards itself. */
void engine_lock_store(engine *E)
{
	if (E->lanes && E->ordered)
		pthread_mutex_lock(&E->store_mu);
}

void engine_unlock_store(engine *E)
{
	if (E->lanes && E->ordered)
		pthread_mutex_unlock(&E->store_mu);
}

static void free_parked(parked *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

/* Hand a parked blob over to the store (its turn has come) and count it. */
static int hand_over_parked(engine *E, parked *p, ferry_error *err)
{
	if (p->fd < 0)
		return 0;
	engine_lock_store(E);
	bool existed = p->pre || engine_written_has(E, &p->d);
	int rc = existed ? 0 : ferry_store_has_blob(E->store, &p->d, &existed, err);
	if (rc == 0 && !existed) {
		/* The store takes the spool (a tar copies it in on a thread of its own while this lane goes on). */
		int fd = p->fd;
		p->fd = -1;
		rc = ferry_store_put_spool(E->store, fd, &p->d, p->size, err);
	}
	engine_unlock_store(E);
	if (rc == 0)
		engine_account_blob(E, existed, &p->d, p->size, p->read, p->size, p->path);
	return rc;
}

/*
 * Hand over the parked blobs whose turn has come, in ticket order.  One
 * thread drains at a time; one that finds another at it leaves the work to
 * it, and the drainer looks again after every blob, so nothing due is left
 * behind.  Fails (and stops every lane) if a hand-over does.
 */
static int drain(engine *E, ferry_error *err)
{
	pthread_mutex_lock(&E->mu);
	if (E->draining) {
		pthread_mutex_unlock(&E->mu);
		return 0;
	}
	E->draining = true;
	int rc = 0;
	while (rc == 0 && !E->lane_failed && E->parked && E->parked->ticket == E->turn) {
		parked *p = E->parked;
		E->parked = p->next;
		E->n_parked--;
		pthread_mutex_unlock(&E->mu);
		rc = hand_over_parked(E, p, err);
		free_parked(p);
		pthread_mutex_lock(&E->mu);
		if (rc == 0)
			E->turn++;
		else
			E->lane_failed = true;
		pthread_cond_broadcast(&E->turn_cv);
	}
	E->draining = false;
	pthread_mutex_unlock(&E->mu);
	return rc;
}

/*
 * Queue a finished job's blob (p, taken) for its turn, first waiting while
 * PARKED_MAX others wait (disk is the bound: each is a spool), then hand
 * over whatever is due.  *origin: where a failure came from.
 */
int lane_park(engine *E, lane *L, parked *p, fail_origin *origin, ferry_error *err)
{
	pthread_mutex_lock(&E->mu);
	while (E->n_parked >= PARKED_MAX && E->turn != p->ticket && !E->lane_failed)
		pthread_cond_wait(&E->turn_cv, &E->mu);
	if (E->lane_failed) {
		pthread_mutex_unlock(&E->mu);
		int rc = ferry_error_set(err, FERRY_E_FAILED, "layer %s: stopped (another layer failed)", p->path);
		free_parked(p);
		L->stopped = true;
		*origin = FROM_RUN;
		return rc;
	}
	parked **at = &E->parked;
	while (*at && (*at)->ticket < p->ticket)
		at = &(*at)->next;
	p->next = *at;
	*at = p;
	E->n_parked++;
	L->had_turn = true;
	pthread_mutex_unlock(&E->mu);
	*origin = FROM_DEST;
	return drain(E, err);
}

/*
 * Two layers at once pays where one layer keeps about one core busy
 * (hashing a layer kept as it is, or decompressing one: a stream each, a
 * thread each), the source's streams can be read side by side, and the
 * store can take the blobs: a directory writes them side by side, a tar that
 * would spool them anyway takes them one by one, in order.  Compressing
 * already uses every core.  A registry takes a stream at about one core of
 * its own: two layers sent as they are go up side by side, each on a
 * connection of its own, if they are for one image's repository (blobs go
 * to the repository of the image that owns them: see ferry_store_set_owner).
 */
bool engine_lanes_pay(engine *E, const size_t *idx, size_t n_jobs)
{
	/* The one_lane test hook: tests compare the bytes of one-lane and two-lane runs. */
	if (n_jobs < 2 || !E->src->tree->concurrent || ferry_testhooks()->one_lane)
		return false;
	/* What each layer becomes, as far as its media type tells. */
	bool all_kept = true, all_plain = true, compresses = false;
	for (size_t i = 0; i < n_jobs; i++) {
		const layer_job *j = &E->jobs[idx[i]];
		ferry_comp said = engine_comp_of_mt(j->blob->desc.media_type), to = engine_layer_target(E, j->blob, said);
		all_kept = all_kept && to == said;
		all_plain = all_plain && to == FERRY_COMP_NONE;
		compresses = compresses || (to != said && to != FERRY_COMP_NONE);
		if (E->store->remote && j->owner != E->jobs[idx[0]].owner)
			return false;
	}
	if (E->store->remote)
		return E->store->concurrent_blobs && all_kept;
	if (E->store->concurrent_blobs)
		return !compresses;
	return E->store->spools && all_plain;
}

/* The layers still to do, taken by the lanes one at a time (under E->mu). */
typedef struct job_list {
	engine *E;
	const char **paths;
	size_t *idx;
	size_t n;
	uint64_t tickets; /* jobs taken so far */
	bool failed;
	ferry_error err;    /* the first lane's failure */
	fail_origin origin; /* where it came from */
	const layer_job *failed_job;
} job_list;

static void *lane_main(void *arg)
{
	job_list *jl = arg;
	engine *E = jl->E;
	ferry_tree *tree = E->src->tree;
	lane L = {.buf = ferry_xmalloc(FERRY_IO_CHUNK)};
	for (;;) {
		ferry_error e = FERRY_ERROR_INIT;
		size_t which, job = 0;
		ferry_istream *in = NULL;
		uint64_t size;
		fail_origin origin = FROM_SOURCE;
		pthread_mutex_lock(&E->mu);
		if (jl->failed || jl->n == 0) {
			pthread_mutex_unlock(&E->mu);
			break;
		}
		int rc = tree->ops->open_any(tree, jl->paths, jl->n, &which, &in, &size, &e);
		bool taken = rc == 0;
		if (taken) {
			job = jl->idx[which];
			engine_job_taken(jl->paths, jl->idx, jl->n, which);
			jl->n--;
			L.ticket = jl->tickets++;
			L.had_turn = false;
			L.stopped = false;
		}
		pthread_mutex_unlock(&E->mu);
		if (rc == 0) {
			rc = engine_run_job(E, &L, &E->jobs[job], in, size, &origin, &e);
			/* A job that wrote nothing still passes its turn on, in order. */
			if (rc == 0 && E->ordered && !L.had_turn) {
				parked *p = ferry_xcalloc(1, sizeof(*p));
				p->ticket = L.ticket;
				p->fd = -1;
				p->path = E->jobs[job].blob->path;
				rc = lane_park(E, &L, p, &origin, &e);
			}
		}
		if (rc < 0) {
			pthread_mutex_lock(&E->mu);
			/* The lane that failed reports; one that merely stopped for it does not. */
			if (!jl->failed && !L.stopped) {
				jl->failed = true;
				jl->err = e;
				jl->origin = origin;
				jl->failed_job = taken ? &E->jobs[job] : NULL;
			}
			E->lane_failed = true;
			pthread_cond_broadcast(&E->turn_cv);
			pthread_mutex_unlock(&E->mu);
			break;
		}
	}
	free(L.buf);
	return NULL;
}

/* Run every listed job on two lanes: this thread and one more. */
int engine_run_lanes(engine *E, const char **paths, size_t *idx, size_t n, ferry_error *err)
{
	job_list jl = {.E = E, .paths = paths, .idx = idx, .n = n};
	pthread_mutex_init(&E->mu, NULL);
	pthread_mutex_init(&E->store_mu, NULL);
	pthread_cond_init(&E->turn_cv, NULL);
	E->turn = 0;
	E->lane_failed = false;
	E->parked = NULL;
	E->n_parked = 0;
	E->draining = false;
	E->ordered = !E->store->concurrent_blobs;
	E->lanes = true;
	pthread_t t;
	bool two = pthread_create(&t, NULL, lane_main, &jl) == 0;
	lane_main(&jl);
	if (two)
		pthread_join(t, NULL);
	E->lanes = false;
	if (!jl.failed && E->lane_failed) { /* cannot happen: a lane that stops the others reports */
		jl.failed = true;
		jl.origin = FROM_RUN;
		ferry_error_set(&jl.err, FERRY_E_FAILED, "writing layers: stopped");
	}
	/* Blobs still parked after a failure are dropped; without one there are none (every turn came). */
	if (!jl.failed && E->parked) {
		jl.failed = true;
		jl.origin = FROM_RUN;
		ferry_error_set(&jl.err, FERRY_E_FAILED, "writing layers: %s never had its turn", E->parked->path);
	}
	while (E->parked) {
		parked *p = E->parked;
		E->parked = p->next;
		free_parked(p);
	}
	pthread_mutex_destroy(&E->mu);
	pthread_mutex_destroy(&E->store_mu);
	pthread_cond_destroy(&E->turn_cv);
	if (!jl.failed)
		return 0;
	if (jl.origin == FROM_SOURCE && jl.failed_job)
		engine_source_failed(E, jl.failed_job, &jl.err);
	else if (jl.origin == FROM_SOURCE)
		ferry_error_prefix(&jl.err, "%s", E->src->display);
	*err = jl.err;
	return -1;
}
