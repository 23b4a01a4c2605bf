#include "store_registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.h"
#include "model.h"
#include "strmap.h"
#include "testhooks.h"
#include "util.h"
#include "workpool.h"

/*
 * Blobs up to this size are collected in memory and handed to a worker,
 * which uploads them (POST + PUT) while the engine goes on with the next
 * one: pushing many small images is bound by request latency, not bytes.
 * Bigger blobs stream through the calling thread in chunks as they come;
 * the engine may write two at once from two threads (its lanes), each then
 * through a connection of its own.
 */
#define SMALL_BLOB_MAX (4u << 20)
#define CHEAP_BLOB_MAX (1u << 20) /* sent without asking first when nothing says the registry has it */
#define PUSH_WORKERS 8
#define PUSH_QUEUED_MAX (16u << 20) /* bytes of small blobs waiting for a worker */

typedef struct reg_dest {
	char *domain;
	char *staging; /* repository blobs go to when no owner is set */
	char *owner;   /* repository of the image the current blobs are for */
	ferry_registry *reg;   /* the opening thread's connection */
	ferry_registry **wreg; /* one per worker, opened by that worker when first needed */
	/* Under the store's mutex: */
	ferry_registry **conns; /* reg and its siblings, for checks and streamed blobs */
	bool *busy;             /* conns[i] is taken */
	size_t n_conns;
	ferry_strmap present; /* "repo digest" -> 1: in that repository (or on its way there) */
	ferry_strmap placed;  /* digest -> the repository this run first put it in (owned) */
} reg_dest;

typedef struct man {
	char *media_type;
	unsigned char *bytes;
	size_t len;
} man;

struct reg_store;

/*
 * A blob being written: in memory until it outgrows small_max, then
 * streamed to every registry, each through the writing thread's connection.
 * Several may be open at once, on different threads (concurrent_blobs).
 */
typedef struct rs_blob {
	ferry_ostream tee; /* what the caller writes to: fans the blob out to every registry */
	struct reg_store *rs;
	struct rs_blob *next; /* in the store's list of open blobs */
	unsigned char *small;
	size_t small_len, small_cap;
	bool streaming;
	bool upload_failed;    /* its upload broke: worth one more try from scratch */
	ferry_registry **conn; /* per registry: the connection this blob streams through */
	ferry_upload **up;     /* per registry, while streaming */
	ferry_ostream **up_out;
} rs_blob;

typedef struct reg_store {
	ferry_store base;
	reg_dest *dests;
	size_t n_dests;
	ferry_strmap manifests; /* digest -> man*; written before publishing, then only read */
	ferry_blobcache *cache; /* borrowed; thread-safe */
	const ferry_registry_opts *opts;
	size_t small_max; /* SMALL_BLOB_MAX, or what the test hook push_small says */
	rs_blob *blobs;   /* open blobs, under mu */
	ferry_workpool *pool;
	atomic_bool abandon; /* freed before commit: queued work is not wanted any more */
	pthread_mutex_t mu; /* dests' maps, events, and the workers' first failure */
	pthread_mutex_t workers_mu; /* starting the workers' connections */
	pthread_cond_t landed; /* a queued upload ended (or one failed) */
	bool failed;
	ferry_error fail;
} reg_store;

/* Values in reg_dest.present. */
#define HERE ((void *)1)    /* the registry has it */
#define ON_WAY ((void *)2)  /* a queued upload, a mount or a check by another thread is bringing it */
#define ABSENT ((void *)3)  /* a thread looked and could not bring it: the next one may try */

static char *pkey(const char *repo, const ferry_digest *d)
{
	return ferry_xasprintf("%s %s", repo, d->str);
}

/* repo has d, or a queued upload is bringing it. */
static bool known(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d)
{
	char *k = pkey(repo, d);
	pthread_mutex_lock(&rs->mu);
	void *v = ferry_strmap_get(&rd->present, k);
	pthread_mutex_unlock(&rs->mu);
	free(k);
	return v == HERE || v == ON_WAY;
}

/*
 * Take the job of bringing d into repo: true when no other thread has it
 * there or is bringing it (it is then ON_WAY, ours, until settle()).  A
 * registry writes a repository's link to a blob on every mount or upload,
 * and a manifest PUT that reads the link while another request rewrites it
 * fails (MANIFEST_BLOB_UNKNOWN, DIGEST_INVALID): one thread at a time, and
 * a manifest only after its blobs are settled in its own repository.
 */
static bool claim_key(reg_store *rs, reg_dest *rd, const char *k)
{
	pthread_mutex_lock(&rs->mu);
	void *v = ferry_strmap_get(&rd->present, k);
	bool mine = v == NULL || v == ABSENT;
	if (mine)
		ferry_strmap_put(&rd->present, k, ON_WAY);
	pthread_mutex_unlock(&rs->mu);
	return mine;
}

/* The end of a claim: here (HERE), or not brought (ABSENT); whoever waits is woken. */
static void settle_key(reg_store *rs, reg_dest *rd, const char *k, bool here)
{
	pthread_mutex_lock(&rs->mu);
	ferry_strmap_put(&rd->present, k, here ? HERE : ABSENT);
	pthread_cond_broadcast(&rs->landed);
	pthread_mutex_unlock(&rs->mu);
}

static bool claim(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d)
{
	char *k = pkey(repo, d);
	bool mine = claim_key(rs, rd, k);
	free(k);
	return mine;
}

static void settle(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d, bool here)
{
	char *k = pkey(repo, d);
	settle_key(rs, rd, k, here);
	free(k);
}

/*
 * Does repo have d, now?  A blob on its way is waited for: publishing starts
 * while the last uploads are still running, and a manifest or a mount must
 * not go before the blob it needs.  false also when the push has failed.
 */
static bool landed_key(reg_store *rs, reg_dest *rd, const char *k)
{
	pthread_mutex_lock(&rs->mu);
	void *v;
	while ((v = ferry_strmap_get(&rd->present, k)) == ON_WAY && !rs->failed)
		pthread_cond_wait(&rs->landed, &rs->mu);
	pthread_mutex_unlock(&rs->mu);
	return v == HERE;
}

static bool landed(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d)
{
	char *k = pkey(repo, d);
	bool here = landed_key(rs, rd, k);
	free(k);
	return here;
}

/* A queued upload of d to repo ended. */
static void arrived(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d)
{
	char *k = pkey(repo, d);
	pthread_mutex_lock(&rs->mu);
	ferry_strmap_put(&rd->present, k, HERE);
	pthread_cond_broadcast(&rs->landed);
	pthread_mutex_unlock(&rs->mu);
	free(k);
}

/*
 * repo has d (or will, once a queued upload is done).  placed: this run put
 * it there, so other repositories of this run are unlikely to have it yet.
 */
static void mark_local(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d, bool placed,
		       void *state)
{
	char *k = pkey(repo, d);
	pthread_mutex_lock(&rs->mu);
	ferry_strmap_put(&rd->present, k, state);
	if (placed && !ferry_strmap_has(&rd->placed, d->str))
		ferry_strmap_put(&rd->placed, d->str, ferry_xstrdup(repo));
	pthread_mutex_unlock(&rs->mu);
	free(k);
}

static void mark(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d, bool placed)
{
	mark_local(rs, rd, repo, d, placed, HERE);
	if (rs->cache)
		ferry_blobcache_put_location(rs->cache, rd->domain, repo, d);
}

/*
 * A repository other than repo to mount d from (caller frees): one this run
 * put it in (*fresh true: repo most likely lacks it, so mounting is the
 * first thing to try), else the cache's (from an earlier run, which may
 * well have put it in repo too).
 */
static char *mount_source(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d, bool *fresh)
{
	pthread_mutex_lock(&rs->mu);
	const char *w = ferry_strmap_get(&rd->placed, d->str);
	char *from = w && strcmp(w, repo) != 0 ? ferry_xstrdup(w) : NULL;
	pthread_mutex_unlock(&rs->mu);
	*fresh = from != NULL;
	if (!from && rs->cache) {
		from = ferry_blobcache_location(rs->cache, rd->domain, d);
		if (from && strcmp(from, repo) == 0) {
			free(from);
			from = NULL;
		}
	}
	return from;
}

static void report(reg_store *rs, ferry_event_kind kind, const ferry_digest *d, const char *a, const char *b)
{
	if (!rs->base.on_event)
		return;
	char msg[512];
	snprintf(msg, sizeof(msg), "%s%s%s", a, b ? " " : "", b ? b : "");
	ferry_event ev = {.kind = kind, .digest = d, .message = msg, .name = kind == FERRY_EV_MANIFEST_PUSHED ? msg : NULL};
	/* Workers report too: one event at a time reaches the caller. */
	pthread_mutex_lock(&rs->mu);
	rs->base.on_event(&ev, rs->base.event_ud);
	pthread_mutex_unlock(&rs->mu);
}

/* Queued work that is no longer wanted: the push was interrupted or is being abandoned. */
static bool stopping(reg_store *rs)
{
	return ferry_interrupted || atomic_load(&rs->abandon);
}

/* A worker's failure: the first one is what the push reports. */
static void record_failure(reg_store *rs, const ferry_error *e)
{
	pthread_mutex_lock(&rs->mu);
	if (!rs->failed) {
		rs->failed = true;
		rs->fail = *e;
	}
	pthread_cond_broadcast(&rs->landed);
	pthread_mutex_unlock(&rs->mu);
}

static bool has_failed(reg_store *rs)
{
	pthread_mutex_lock(&rs->mu);
	bool failed = rs->failed;
	pthread_mutex_unlock(&rs->mu);
	return failed;
}

static int take_failure(reg_store *rs, ferry_error *err)
{
	pthread_mutex_lock(&rs->mu);
	bool failed = rs->failed;
	if (failed)
		*err = rs->fail;
	pthread_mutex_unlock(&rs->mu);
	return failed ? -1 : 0;
}

/* Copy d from repository src to repo through us (a registry that will not mount). */
static int copy_blob(ferry_registry *r, const char *src, const char *repo, const ferry_digest *d, ferry_error *err)
{
	ferry_istream *in;
	ferry_upload *up;
	ferry_ostream *out;
	uint64_t size;
	int rc = ferry_registry_blob_open(r, src, d, &in, &size, err);
	if (rc < 0)
		return -1;
	rc = ferry_registry_upload_begin(r, repo, &up, &out, err);
	if (rc == 0) {
		rc = ferry_pump(in, out, err);
		if (rc == 0)
			rc = ferry_registry_upload_finish(up, d, err);
		else
			ferry_registry_upload_abort(up);
	}
	ferry_istream_close(in);
	return rc;
}

static int try_mount(reg_store *rs, reg_dest *rd, ferry_registry *r, const char *repo, const ferry_digest *d,
		     const char *from, bool *mounted, ferry_error *err)
{
	if (ferry_registry_blob_mount(r, repo, d, from, mounted, err) < 0)
		return -1;
	if (*mounted) {
		mark(rs, rd, repo, d, true);
		report(rs, FERRY_EV_BLOB_MOUNTED, d, from, repo);
	}
	return 0;
}

/*
 * Make sure repo of rd has blob d, talking through r: known, else HEAD and
 * a mount from where it was seen (in this order, or mount first for a blob
 * this run just put elsewhere), else copied across.  *have false (and 0
 * returned) when it is nowhere to be found.
 */
/* ensure_blob's work, by the thread that claimed (repo, d). */
static int bring_blob(reg_store *rs, reg_dest *rd, ferry_registry *r, const char *repo, const ferry_digest *d,
		      bool *have, ferry_error *err)
{
	bool fresh, mounted = false, exists = false;
	char *from = mount_source(rs, rd, repo, d, &fresh);
	uint64_t size;
	int rc = 0;
	if (from && fresh && !landed(rs, rd, from, d)) {
		free(from);
		return take_failure(rs, err) < 0 ? -1 : ferry_error_set(err, FERRY_E_FAILED, "blob %s was not uploaded", d->str);
	}
	if (from && fresh)
		rc = try_mount(rs, rd, r, repo, d, from, &mounted, err);
	if (rc == 0 && !mounted) {
		rc = ferry_registry_blob_exists(r, repo, d, &exists, &size, err);
		if (rc == 0 && exists)
			mark(rs, rd, repo, d, false);
	}
	if (rc == 0 && !mounted && !exists && from && !fresh)
		rc = try_mount(rs, rd, r, repo, d, from, &mounted, err);
	if (rc == 0 && !mounted && !exists) {
		*have = false;
		if (from) {
			/* The registry would not mount: copy the blob through us, registry to registry. */
			rc = ferry_registry_blob_exists(r, from, d, have, &size, err);
			if (rc == 0 && *have)
				rc = copy_blob(r, from, repo, d, err);
			if (rc == 0 && *have)
				mark(rs, rd, repo, d, true);
		}
	}
	free(from);
	return rc;
}

/*
 * Make sure repo of rd has blob d, talking through r: known, else HEAD and
 * a mount from where it was seen (in this order, or mount first for a blob
 * this run just put elsewhere), else copied across.  *have false (and 0
 * returned) when it is nowhere to be found.  Only one thread works on a
 * (repo, blob) at a time (claim); the others wait for its outcome.
 */
static int ensure_blob(reg_store *rs, reg_dest *rd, ferry_registry *r, const char *repo, const ferry_digest *d,
		       bool *have, ferry_error *err)
{
	*have = true;
	while (!claim(rs, rd, repo, d)) {
		if (landed(rs, rd, repo, d))
			return 0;
		if (take_failure(rs, err) < 0)
			return -1;
		/* The thread that had it could not bring it: try ourselves. */
	}
	int rc = bring_blob(rs, rd, r, repo, d, have, err);
	settle(rs, rd, repo, d, rc == 0 && *have);
	return rc;
}

static reg_dest *dest_of(reg_store *rs, const char *domain)
{
	for (size_t i = 0; i < rs->n_dests; i++) {
		if (strcmp(rs->dests[i].domain, domain) == 0)
			return &rs->dests[i];
	}
	return NULL;
}

/* Where blobs of the current image go in rd. */
static const char *upload_repo(const reg_dest *rd)
{
	return rd->owner ? rd->owner : rd->staging;
}

/*
 * A connection to rd that no one else is using, until conn_give: one of its
 * siblings when reg is taken (a streamed blob holds one from its begin to its
 * end, whatever threads write it; a check holds one for the call).  A curl
 * handle is for one thread at a time.
 */
static ferry_registry *conn_take(reg_store *rs, reg_dest *rd, ferry_error *err)
{
	pthread_mutex_lock(&rs->mu);
	ferry_registry *r = NULL;
	for (size_t i = 0; i < rd->n_conns && !r; i++) {
		if (!rd->busy[i]) {
			rd->busy[i] = true;
			r = rd->conns[i];
		}
	}
	pthread_mutex_unlock(&rs->mu);
	if (r)
		return r;
	/* Opened from reg's probe; reg itself is in use, but only its settled fields are read. */
	if (ferry_registry_open_sibling(rd->reg, rs->opts, &r, err) < 0)
		return NULL;
	pthread_mutex_lock(&rs->mu);
	rd->conns = ferry_xrealloc(rd->conns, (rd->n_conns + 1) * sizeof(*rd->conns));
	rd->busy = ferry_xrealloc(rd->busy, (rd->n_conns + 1) * sizeof(*rd->busy));
	rd->conns[rd->n_conns] = r;
	rd->busy[rd->n_conns++] = true;
	pthread_mutex_unlock(&rs->mu);
	return r;
}

static void conn_give(reg_store *rs, reg_dest *rd, ferry_registry *r)
{
	pthread_mutex_lock(&rs->mu);
	for (size_t i = 0; i < rd->n_conns; i++)
		if (rd->conns[i] == r)
			rd->busy[i] = false;
	pthread_mutex_unlock(&rs->mu);
}

/*
 * Give rd its workers' connections, before any job for it is queued: from
 * the calling thread's connection, after its probe, so that they start from
 * what the probe learnt instead of each probing again.
 */
static int start_workers(reg_store *rs, reg_dest *rd, ferry_error *err)
{
	/* Lanes may both get here first. */
	pthread_mutex_lock(&rs->workers_mu);
	int rc = 0;
	if (!rd->wreg[PUSH_WORKERS - 1]) {
		ferry_registry *r = conn_take(rs, rd, err);
		rc = r ? ferry_registry_connect(r, err) : -1;
		for (unsigned w = 0; w < PUSH_WORKERS && rc == 0; w++) {
			if (!rd->wreg[w])
				rc = ferry_registry_open_sibling(r, rs->opts, &rd->wreg[w], err);
		}
		if (r)
			conn_give(rs, rd, r);
	}
	pthread_mutex_unlock(&rs->workers_mu);
	return rc;
}

/*
 * A registry that cannot be reached at all fails the check (and so the
 * push, at once); any other failed check is a "no": the blob is then simply
 * sent (and that failure reported).
 */
static int rs_has_blob(ferry_store *s, const ferry_digest *d, bool *exists, ferry_error *err)
{
	reg_store *rs = (reg_store *)s;
	*exists = false;
	for (size_t i = 0; i < rs->n_dests; i++) {
		reg_dest *rd = &rs->dests[i];
		const char *repo = upload_repo(rd);
		bool have = false;
		ferry_error e = FERRY_ERROR_INIT;
		ferry_registry *r = conn_take(rs, rd, &e);
		int rc = r ? ensure_blob(rs, rd, r, repo, d, &have, &e) : -1;
		if (r)
			conn_give(rs, rd, r);
		if (rc < 0 && e.code == FERRY_E_FAILED) { /* could not talk to it at all */
			*err = e;
			return -1;
		}
		if (rc < 0 || !have)
			return 0;
	}
	*exists = true;
	return 0;
}

/*
 * Asking costs a request, and so does sending a small blob (one POST, one
 * PUT): ask only about what this run or the cache has seen at a registry,
 * which a re-push then finds there without sending anything.
 */
static bool rs_cheap_to_send(ferry_store *s, const ferry_digest *d, uint64_t size)
{
	reg_store *rs = (reg_store *)s;
	if (size > CHEAP_BLOB_MAX)
		return false;
	for (size_t i = 0; i < rs->n_dests; i++) {
		reg_dest *rd = &rs->dests[i];
		pthread_mutex_lock(&rs->mu);
		bool seen = ferry_strmap_has(&rd->placed, d->str);
		pthread_mutex_unlock(&rs->mu);
		char *cached = seen || !rs->cache ? NULL : ferry_blobcache_location(rs->cache, rd->domain, d);
		seen = seen || cached;
		free(cached);
		if (seen)
			return false;
	}
	return true;
}

static void abort_uploads(rs_blob *b)
{
	for (size_t i = 0; i < b->rs->n_dests; i++) {
		if (b->up[i])
			ferry_registry_upload_abort(b->up[i]);
		b->up[i] = NULL;
		b->up_out[i] = NULL;
	}
}

static int send_to_all(rs_blob *b, const void *buf, size_t len, ferry_error *err)
{
	reg_store *rs = b->rs;
	for (size_t i = 0; i < rs->n_dests; i++) {
		if (ferry_write(b->up_out[i], buf, len, err) < 0) {
			b->upload_failed = true;
			ferry_error_prefix(err, "%s", rs->dests[i].domain);
			return -1;
		}
	}
	return 0;
}

/* The blob outgrew memory: open an upload on every registry and send what was collected. */
static int start_streaming(rs_blob *b, ferry_error *err)
{
	reg_store *rs = b->rs;
	for (size_t i = 0; i < rs->n_dests; i++) {
		reg_dest *rd = &rs->dests[i];
		if (!b->conn[i])
			b->conn[i] = conn_take(rs, rd, err);
		if (!b->conn[i] ||
		    ferry_registry_upload_begin(b->conn[i], upload_repo(rd), &b->up[i], &b->up_out[i], err) < 0) {
			b->up[i] = NULL;
			abort_uploads(b);
			b->upload_failed = err->code == FERRY_E_FAILED;
			ferry_error_prefix(err, "%s", rd->domain);
			return -1;
		}
	}
	b->streaming = true;
	int rc = send_to_all(b, b->small, b->small_len, err);
	b->small_len = 0;
	return rc;
}

static int tee_write(ferry_ostream *o, const void *buf, size_t len, ferry_error *err)
{
	rs_blob *b = (rs_blob *)o;
	if (!b->streaming && b->small_len + len <= b->rs->small_max) {
		if (b->small_len + len > b->small_cap) {
			size_t c = b->small_cap ? b->small_cap : 64 << 10;
			while (c < b->small_len + len)
				c *= 2;
			b->small = ferry_xrealloc(b->small, c);
			b->small_cap = c;
		}
		memcpy(b->small + b->small_len, buf, len);
		b->small_len += len;
		return 0;
	}
	if (!b->streaming && start_streaming(b, err) < 0)
		return -1;
	return send_to_all(b, buf, len, err);
}

static int tee_finish(ferry_ostream *o, ferry_error *err)
{
	(void)o, (void)err;
	return 0; /* each upload is completed in blob_end, once the digest is known */
}

static void tee_free(ferry_ostream *o)
{
	(void)o; /* the blob is freed by blob_end */
}

/* Take b off the list of open blobs, abort what it started, and free it (it ended on this thread). */
static void blob_free(rs_blob *b)
{
	reg_store *rs = b->rs;
	pthread_mutex_lock(&rs->mu);
	rs_blob **at = &rs->blobs;
	while (*at && *at != b)
		at = &(*at)->next;
	if (*at)
		*at = b->next;
	pthread_mutex_unlock(&rs->mu);
	abort_uploads(b);
	for (size_t i = 0; i < rs->n_dests; i++)
		if (b->conn[i])
			conn_give(rs, &rs->dests[i], b->conn[i]);
	free(b->conn);
	free(b->up);
	free(b->up_out);
	free(b->small);
	free(b);
}

static int rs_blob_begin(ferry_store *s, const ferry_digest *expect, int64_t size, ferry_ostream **out,
			 ferry_error *err)
{
	(void)expect, (void)size;
	reg_store *rs = (reg_store *)s;
	/* A queued upload that failed fails the push: say so now rather than after the rest. */
	if (take_failure(rs, err) < 0)
		return -1;
	rs_blob *b = ferry_xcalloc(1, sizeof(*b));
	b->tee.write = tee_write;
	b->tee.finish = tee_finish;
	b->tee.free = tee_free;
	b->rs = rs;
	b->conn = ferry_xcalloc(rs->n_dests, sizeof(*b->conn));
	b->up = ferry_xcalloc(rs->n_dests, sizeof(*b->up));
	b->up_out = ferry_xcalloc(rs->n_dests, sizeof(*b->up_out));
	pthread_mutex_lock(&rs->mu);
	b->next = rs->blobs;
	rs->blobs = b;
	pthread_mutex_unlock(&rs->mu);
	*out = &b->tee;
	return 0;
}

typedef struct small_upload {
	reg_store *rs;
	reg_dest *rd;
	char *repo;
	ferry_digest digest;
	unsigned char *bytes;
	size_t len;
} small_upload;

/* A worker's job: one in-memory blob, POST + PUT, tried again from scratch if the network loses it. */
static void run_small_upload(void *arg, unsigned w)
{
	small_upload *u = arg;
	ferry_error e = FERRY_ERROR_INIT;
	ferry_registry *r = u->rd->wreg[w];
	int rc = -1;
	if (stopping(u->rs))
		ferry_error_set(&e, FERRY_E_FAILED, "interrupted");
	for (int attempt = 0; !stopping(u->rs); attempt++) {
		ferry_upload *up;
		ferry_ostream *out;
		e = (ferry_error)FERRY_ERROR_INIT;
		rc = ferry_registry_upload_begin(r, u->repo, &up, &out, &e);
		if (rc == 0) {
			rc = ferry_write(out, u->bytes, u->len, &e);
			if (rc == 0)
				rc = ferry_registry_upload_finish(up, &u->digest, &e);
			else
				ferry_registry_upload_abort(up);
		}
		if (rc == 0 || e.code == FERRY_E_INTEGRITY || attempt >= 2)
			break;
	}
	if (rc == 0) {
		arrived(u->rs, u->rd, u->repo, &u->digest);
		if (u->rs->cache)
			ferry_blobcache_put_location(u->rs->cache, u->rd->domain, u->repo, &u->digest);
	} else {
		ferry_error_prefix(&e, "%s", u->rd->domain);
		record_failure(u->rs, &e);
	}
	free(u->repo);
	free(u->bytes);
	free(u);
}

static int rs_blob_end(ferry_store *s, ferry_ostream *out, bool ok, const ferry_digest *actual, uint64_t size,
		       bool *resend, ferry_error *err)
{
	(void)size;
	reg_store *rs = (reg_store *)s;
	rs_blob *b = (rs_blob *)out;
	if (!ok) {
		*resend = b->upload_failed;
		blob_free(b);
		return 0;
	}
	int rc = 0;
	if (!b->streaming) {
		for (size_t i = 0; i < rs->n_dests && rc == 0; i++) {
			reg_dest *rd = &rs->dests[i];
			const char *repo = upload_repo(rd);
			if (known(rs, rd, repo, actual))
				continue;
			if (start_workers(rs, rd, err) < 0) {
				ferry_error_prefix(err, "%s", rd->domain);
				rc = -1;
				break;
			}
			small_upload *u = ferry_xcalloc(1, sizeof(*u));
			u->rs = rs;
			u->rd = rd;
			u->repo = ferry_xstrdup(repo);
			u->digest = *actual;
			u->len = b->small_len;
			if (b->small && i + 1 == rs->n_dests) {
				/* The last one takes the buffer itself. */
				u->bytes = b->small;
				b->small = NULL;
			} else {
				u->bytes = ferry_xmalloc(u->len ? u->len : 1);
				if (u->len)
					memcpy(u->bytes, b->small, u->len);
			}
			/* Counted as there from now on, so the same blob is not queued twice; a failure fails the push. */
			mark_local(rs, rd, repo, actual, true, ON_WAY);
			ferry_workpool_submit(rs->pool, run_small_upload, u, u->len);
		}
		blob_free(b);
		return rc;
	}
	for (size_t i = 0; i < rs->n_dests; i++) {
		reg_dest *rd = &rs->dests[i];
		ferry_upload *up = b->up[i];
		b->up[i] = NULL;
		b->up_out[i] = NULL;
		if (!up)
			continue;
		if (rc < 0) {
			ferry_registry_upload_abort(up);
		} else if (ferry_registry_upload_finish(up, actual, err) < 0) {
			if (err->code != FERRY_E_INTEGRITY)
				b->upload_failed = true;
			ferry_error_prefix(err, "%s", rd->domain);
			rc = -1;
		} else {
			mark(rs, rd, upload_repo(rd), actual, true);
		}
	}
	*resend = b->upload_failed;
	blob_free(b);
	return rc;
}

static void rs_set_owner(ferry_store *s, const ferry_name *names, size_t n)
{
	reg_store *rs = (reg_store *)s;
	for (size_t i = 0; i < rs->n_dests; i++) {
		reg_dest *rd = &rs->dests[i];
		free(rd->owner);
		rd->owner = NULL;
		for (size_t k = 0; k < n && !rd->owner; k++) {
			if (names[k].has_ref && strcmp(names[k].ref.domain, rd->domain) == 0)
				rd->owner = ferry_xstrdup(names[k].ref.path);
		}
	}
}

static int rs_put_file(ferry_store *s, const char *name, const void *buf, size_t len, ferry_error *err)
{
	(void)s, (void)name, (void)buf, (void)len, (void)err;
	return 0; /* a registry has no index.json: names are pushed as tags */
}

static int rs_put_manifest(ferry_store *s, const ferry_digest *d, const char *media_type, const void *buf,
			   size_t len, ferry_error *err)
{
	(void)err;
	reg_store *rs = (reg_store *)s;
	if (ferry_strmap_has(&rs->manifests, d->str))
		return 0;
	man *m = ferry_xcalloc(1, sizeof(*m));
	m->media_type = ferry_xstrdup(media_type);
	m->bytes = ferry_xmalloc(len ? len : 1);
	memcpy(m->bytes, buf, len);
	m->len = len;
	ferry_strmap_put(&rs->manifests, d->str, m);
	return 0;
}

static int rs_read_existing(ferry_store *s, const char *name, unsigned char **buf, size_t *len,
			    ferry_error *err)
{
	(void)s, (void)buf, (void)len;
	return ferry_error_set(err, FERRY_E_NOTFOUND, "no %s", name);
}

static int rs_commit(ferry_store *s, ferry_error *err)
{
	reg_store *rs = (reg_store *)s;
	ferry_workpool_wait(rs->pool);
	return take_failure(rs, err);
}

static void man_free(void *v)
{
	man *m = v;
	free(m->media_type);
	free(m->bytes);
	free(m);
}

static void rs_free(ferry_store *s)
{
	reg_store *rs = (reg_store *)s;
	/* Jobs still queued give up at once; running ones end (their registries are freed below). */
	atomic_store(&rs->abandon, true);
	ferry_workpool_free(rs->pool);
	while (rs->blobs)
		blob_free(rs->blobs); /* begun and never ended: the caller gave up */
	for (size_t i = 0; i < rs->n_dests; i++) {
		reg_dest *rd = &rs->dests[i];
		/* conns[0] is reg, freed below. */
		for (size_t c = 1; c < rd->n_conns; c++)
			ferry_registry_free(rd->conns[c]);
		free(rd->conns);
		free(rd->busy);
		free(rd->domain);
		free(rd->staging);
		free(rd->owner);
		ferry_registry_free(rd->reg);
		for (unsigned w = 0; rd->wreg && w < PUSH_WORKERS; w++)
			ferry_registry_free(rd->wreg[w]);
		free(rd->wreg);
		ferry_strmap_free(&rd->present);
		ferry_strmap_free_with(&rd->placed, free);
	}
	free(rs->dests);
	ferry_strmap_free_with(&rs->manifests, man_free);
	pthread_mutex_destroy(&rs->mu);
	pthread_mutex_destroy(&rs->workers_mu);
	pthread_cond_destroy(&rs->landed);
	free(s->display);
	free(rs);
}

/* Push one manifest (by digest or tag) to repo, once. */
static int push_manifest(reg_store *rs, reg_dest *rd, ferry_registry *r, const char *repo, const ferry_digest *d,
			 const char *tag, ferry_error *err)
{
	man *m = ferry_strmap_get(&rs->manifests, d->str);
	if (!m)
		return ferry_error_set(err, FERRY_E_FAILED, "internal: manifest %s was not kept", d->str);
	char *k = ferry_xasprintf("M %s %s %s", repo, d->str, tag ? tag : "");
	int rc = 0;
	/* Once, by one thread: the others wait (an index must not go while its child is being rewritten). */
	bool mine;
	while (!(mine = claim_key(rs, rd, k)) && !landed_key(rs, rd, k)) {
		if ((rc = take_failure(rs, err)) < 0)
			break;
	}
	if (mine) {
		rc = ferry_registry_manifest_put(r, repo, tag ? tag : d->str, m->media_type, m->bytes, m->len, err);
		settle_key(rs, rd, k, rc == 0);
		if (rc == 0) {
			char *where = ferry_xasprintf("%s/%s%s%s", rd->domain, repo, tag ? ":" : "@", tag ? tag : d->str);
			report(rs, FERRY_EV_MANIFEST_PUSHED, d, where, NULL);
			free(where);
		}
	}
	free(k);
	return rc;
}

/* A manifest after its children (an index's manifests, nested indexes included), children by digest. */
static int push_tree(reg_store *rs, reg_dest *rd, ferry_registry *r, const char *repo, const ferry_digest *d,
		     const char *tag, int depth, ferry_error *err)
{
	man *m = ferry_strmap_get(&rs->manifests, d->str);
	if (m && depth < 16 && ferry_media_type_is_index(m->media_type)) {
		ferry_index ix;
		if (ferry_index_parse(&ix, m->bytes, m->len, err) < 0)
			return -1;
		int rc = 0;
		for (size_t i = 0; i < ix.n_manifests && rc == 0; i++) {
			/* Children ferry did not write (skipped artifacts) are not ours to push. */
			if (ferry_strmap_has(&rs->manifests, ix.manifests[i].digest.str))
				rc = push_tree(rs, rd, r, repo, &ix.manifests[i].digest, NULL, depth + 1, err);
		}
		ferry_index_free(&ix);
		if (rc < 0)
			return -1;
	}
	return push_manifest(rs, rd, r, repo, d, tag, err);
}

/* Blobs and child manifests of one entry into repo, then the entry under tag. */
static int publish_one(reg_store *rs, reg_dest *rd, ferry_registry *r, const char *repo, const char *tag,
		       const ferry_out_entry *e, ferry_error *err)
{
	for (size_t i = 0; i < e->n_images; i++) {
		const ferry_out_image *im = &e->images[i];
		for (size_t j = 0; j <= im->n_layers; j++) {
			const ferry_digest *d = j < im->n_layers ? &im->layers[j] : &im->config;
			bool have;
			if (ensure_blob(rs, rd, r, repo, d, &have, err) < 0)
				return -1;
			if (!have)
				return ferry_error_set(err, FERRY_E_FAILED, "%s/%s: blob %s is missing and could not be sent",
						       rd->domain, repo, d->str);
		}
	}
	return push_tree(rs, rd, r, repo, &e->desc.digest, tag, 0, err);
}

typedef struct publish_job {
	reg_store *rs;
	reg_dest *rd;
	const ferry_name *name;     /* borrowed: lives until publishing returns */
	const ferry_out_entry *entry; /* borrowed likewise */
} publish_job;

static void run_publish(void *arg, unsigned w)
{
	publish_job *j = arg;
	ferry_error e = FERRY_ERROR_INIT;
	/* After a failure the push is over: the rest is not started. */
	if (stopping(j->rs)) {
		ferry_error_set(&e, FERRY_E_FAILED, "interrupted");
		record_failure(j->rs, &e);
	} else if (!has_failed(j->rs)) {
		int rc = publish_one(j->rs, j->rd, j->rd->wreg[w], j->name->ref.path, j->name->ref.tag, j->entry, &e);
		if (rc < 0) {
			char *full = ferry_ref_string(&j->name->ref);
			ferry_error_prefix(&e, "pushing %s", full);
			free(full);
			record_failure(j->rs, &e);
		}
	}
	free(j);
}

/* ---- referrers: pushed after their subjects ---- */

/* The entry an artifact is about (its subject among the entries' manifests), or NULL. */
static const ferry_out_entry *subject_entry(const ferry_out_entry *entries, size_t n, const ferry_out_entry *a)
{
	for (size_t i = 0; i < n; i++) {
		const ferry_out_entry *e = &entries[i];
		if (e == a)
			continue;
		if (ferry_digest_eq(&e->desc.digest, &a->subject))
			return e;
		for (size_t k = 0; k < e->n_images; k++) {
			if (ferry_digest_eq(&e->images[k].manifest.digest, &a->subject))
				return e;
		}
	}
	return NULL;
}

/* The descriptor a referrers index lists for manifest m (digest d): with its artifactType and annotations. */
static json_t *referrer_descriptor(const man *m, const ferry_digest *d)
{
	json_t *o = json_pack("{s:s, s:s, s:I}", "mediaType", m->media_type, "digest", d->str, "size",
			      (json_int_t)m->len);
	json_t *doc;
	ferry_error bad = FERRY_ERROR_INIT;
	if (ferry_json_parse(m->bytes, m->len, "manifest", &doc, &bad) < 0)
		return o;
	const char *at = ferry_json_str(doc, "artifactType");
	if (!at)
		at = ferry_json_str(json_object_get(doc, "config"), "mediaType");
	if (at)
		json_object_set_new(o, "artifactType", json_string(at));
	json_t *ann = json_object_get(doc, "annotations");
	if (json_is_object(ann))
		json_object_set(o, "annotations", ann);
	json_decref(doc);
	return o;
}

/*
 * A registry without the referrers API learns of a referrer through the
 * referrers tag schema: the index tagged sha256-<hex of subject> lists it.
 * Fetched, merged (kept as it was when it lists it already), pushed back.
 */
static int tag_schema_add(reg_store *rs, reg_dest *rd, ferry_registry *r, const char *repo, const ferry_digest *subject,
			  const ferry_digest *d, ferry_error *err)
{
	bool supported = false;
	unsigned char *buf = NULL;
	size_t len = 0;
	if (ferry_registry_referrers(r, repo, subject, NULL, &buf, &len, &supported, err) < 0)
		return -1;
	free(buf);
	if (supported) /* the registry indexes subjects itself */
		return 0;
	char tag[8 + FERRY_DIGEST_STRMAX];
	snprintf(tag, sizeof(tag), "sha256-%s", ferry_digest_hex(subject));
	char *mt = NULL;
	ferry_digest have;
	json_t *ix = NULL;
	ferry_error e2 = FERRY_ERROR_INIT;
	if (ferry_registry_manifest_get(r, repo, tag, &buf, &len, &mt, &have, &e2) == 0) {
		int rc = ferry_json_parse(buf, len, "referrers tag schema index", &ix, err);
		free(buf);
		free(mt);
		if (rc < 0)
			return -1;
	} else if (e2.code != FERRY_E_NOTFOUND) {
		*err = e2;
		return -1;
	}
	if (!json_is_object(ix)) {
		json_decref(ix);
		ix = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", FERRY_MT_OCI_INDEX, "manifests");
	}
	json_t *ms = json_object_get(ix, "manifests");
	if (!json_is_array(ms)) {
		ms = json_array();
		json_object_set_new(ix, "manifests", ms);
	}
	size_t i;
	json_t *v;
	json_array_foreach(ms, i, v)
	{
		const char *ld = ferry_json_str(v, "digest");
		if (ld && strcmp(ld, d->str) == 0) {
			json_decref(ix);
			return 0;
		}
	}
	int rc = 0;
	if (json_array_size(ms) >= FERRY_REFERRERS_INDEX_MAX) {
		rc = ferry_error_set(err, FERRY_E_LIMIT, "%s/%s:%s lists %d referrers already: refused to grow it",
				     rd->domain, repo, tag, FERRY_REFERRERS_INDEX_MAX);
	} else {
		json_array_append_new(ms, referrer_descriptor(ferry_strmap_get(&rs->manifests, d->str), d));
		size_t out_len;
		char *out = ferry_json_dump(ix, &out_len);
		rc = ferry_registry_manifest_put(r, repo, tag, FERRY_MT_OCI_INDEX, out, out_len, err);
		free(out);
	}
	json_decref(ix);
	return rc;
}

/* An unnamed referrer: by digest into every repository its subject went to, and listed there. */
static int publish_referrer(reg_store *rs, const ferry_out_entry *entries, size_t n, const ferry_out_entry *a,
			    ferry_error *err)
{
	const ferry_out_entry *s = a;
	/* A referrer of a referrer goes where the first named image (within a few levels) went. */
	for (int depth = 0; depth < 16 && s && s->n_names == 0 && s->artifact; depth++)
		s = subject_entry(entries, n, s);
	if (!s || !ferry_strmap_has(&rs->manifests, a->desc.digest.str))
		return 0; /* its subject is not being pushed: nothing to attach it to */
	for (size_t k = 0; k < s->n_names; k++) {
		const ferry_name *nm = &s->names[k];
		if (!nm->has_ref)
			continue;
		reg_dest *rd = dest_of(rs, nm->ref.domain);
		if (!rd)
			continue;
		int rc = publish_one(rs, rd, rd->reg, nm->ref.path, NULL, a, err);
		if (rc == 0)
			rc = tag_schema_add(rs, rd, rd->reg, nm->ref.path, &a->subject, &a->desc.digest, err);
		if (rc < 0) {
			char *full = ferry_ref_string(&nm->ref);
			ferry_error_prefix(err, "pushing a referrer of %s", full);
			free(full);
			return -1;
		}
	}
	return 0;
}

/* Artifacts after every image: named ones (cosign tags) as the tags they are, the others as referrers. */
static int publish_artifacts(reg_store *rs, const ferry_out_entry *entries, size_t n, ferry_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const ferry_out_entry *e = &entries[i];
		if (!e->artifact)
			continue;
		if (e->n_names == 0 && publish_referrer(rs, entries, n, e, err) < 0)
			return -1;
		for (size_t k = 0; k < e->n_names; k++) {
			const ferry_name *nm = &e->names[k];
			reg_dest *rd = dest_of(rs, nm->ref.domain);
			if (publish_one(rs, rd, rd->reg, nm->ref.path, nm->ref.tag, e, err) < 0) {
				char *full = ferry_ref_string(&nm->ref);
				ferry_error_prefix(err, "pushing %s", full);
				free(full);
				return -1;
			}
		}
	}
	return 0;
}

static int rs_publish(ferry_store *s, const ferry_out_entry *entries, size_t n, ferry_error *err)
{
	reg_store *rs = (reg_store *)s;
	for (size_t i = 0; i < n; i++) {
		const ferry_out_entry *e = &entries[i];
		for (size_t k = 0; k < e->n_names; k++) {
			const ferry_name *nm = &e->names[k];
			if (!nm->has_ref)
				return ferry_error_set(err, FERRY_E_USAGE,
						       "an image named only by the tag \"%s\" has no repository to push to "
						       "(give it one with --repository NAME)",
						       nm->bare_tag);
			if (!dest_of(rs, nm->ref.domain))
				return ferry_error_set(err, FERRY_E_FAILED, "internal: no connection to %s", nm->ref.domain);
		}
	}
	/*
	 * Publishing starts while the last uploads still run (they were queued
	 * first, so they are all under way): a name waits only for its own blobs.
	 */
	if (take_failure(rs, err) < 0)
		return -1;
	for (size_t i = 0; i < rs->n_dests; i++) {
		if (start_workers(rs, &rs->dests[i], err) < 0) {
			ferry_error_prefix(err, "%s", rs->dests[i].domain);
			return -1;
		}
	}
	/* Names are independent: several are pushed at once, each by one worker. */
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; !entries[i].artifact && k < entries[i].n_names; k++) {
			publish_job *j = ferry_xcalloc(1, sizeof(*j));
			j->rs = rs;
			j->name = &entries[i].names[k];
			j->rd = dest_of(rs, j->name->ref.domain);
			j->entry = &entries[i];
			ferry_workpool_submit(rs->pool, run_publish, j, 0);
		}
	}
	ferry_workpool_wait(rs->pool);
	if (take_failure(rs, err) < 0)
		return -1;
	/* Referrers after their subjects, one at a time: the tag schema's indexes are merged, not raced. */
	return publish_artifacts(rs, entries, n, err);
}

static const ferry_store_registry_ext reg_store_ext = {
	.cheap_to_send = rs_cheap_to_send,
	.set_owner = rs_set_owner,
	.put_manifest = rs_put_manifest,
	.publish = rs_publish,
};

static const ferry_store_ops reg_store_ops = {
	.has_blob = rs_has_blob,
	.blob_begin = rs_blob_begin,
	.blob_end = rs_blob_end,
	.put_file = rs_put_file,
	.read_existing = rs_read_existing,
	.commit = rs_commit,
	.free = rs_free,
	.registry = &reg_store_ext, /* no spools: small blobs wait in memory, big ones stream */
};

int ferry_store_open_registry(const ferry_registry_opts *opts, const ferry_name *names, size_t n,
			      ferry_blobcache *cache, ferry_store **out, ferry_error *err)
{
	*out = NULL;
	reg_store *rs = ferry_xcalloc(1, sizeof(*rs));
	rs->base.ops = &reg_store_ops;
	rs->base.display = ferry_xstrdup("registry");
	rs->base.remote = true;
	rs->cache = cache;
	rs->opts = opts;
	pthread_mutex_init(&rs->mu, NULL);
	pthread_mutex_init(&rs->workers_mu, NULL);
	pthread_cond_init(&rs->landed, NULL);
	rs->pool = ferry_workpool_new(PUSH_WORKERS, PUSH_QUEUED_MAX);
	rs->small_max = ferry_testhook_or(ferry_testhooks()->push_small, 0, SMALL_BLOB_MAX, SMALL_BLOB_MAX);
	for (size_t i = 0; i < n; i++) {
		if (!names[i].has_ref || dest_of(rs, names[i].ref.domain))
			continue;
		rs->dests = ferry_xrealloc(rs->dests, (rs->n_dests + 1) * sizeof(*rs->dests));
		reg_dest *rd = &rs->dests[rs->n_dests];
		memset(rd, 0, sizeof(*rd));
		if (ferry_registry_open(names[i].ref.domain, opts, &rd->reg, err) < 0) {
			rs_free(&rs->base);
			return -1;
		}
		rd->domain = ferry_xstrdup(names[i].ref.domain);
		rd->staging = ferry_xstrdup(names[i].ref.path);
		rd->conns = ferry_xcalloc(1, sizeof(*rd->conns));
		rd->busy = ferry_xcalloc(1, sizeof(*rd->busy));
		rd->conns[0] = rd->reg;
		rd->n_conns = 1;
		rd->wreg = ferry_xcalloc(PUSH_WORKERS, sizeof(*rd->wreg));
		rs->n_dests++;
	}
	if (rs->n_dests == 0) {
		rs_free(&rs->base);
		return ferry_error_set(err, FERRY_E_USAGE, "nothing to push: no image has a name with a registry");
	}
	/*
	 * Blobs side by side (the engine's lanes) for one registry only: each
	 * streamed blob holds an upload chunk per registry, and memory should
	 * not grow with the number of registries.
	 */
	rs->base.concurrent_blobs = rs->n_dests == 1;
	*out = &rs->base;
	return 0;
}
