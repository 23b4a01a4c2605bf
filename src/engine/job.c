/*
 * job.c - one layer job: from the source through the hash/decode/encode chain into the store.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"

/* A decompressed layer may be at most this many times its compressed size (and at least 1 GiB). */
#define FERRY_INFLATE_RATIO 1100u
#define FERRY_INFLATE_MIN (1ull << 30)

/* The most a layer of this many bytes may decompress to: more is a bomb. */
static uint64_t inflate_cap(uint64_t size)
{
	uint64_t cap = size * FERRY_INFLATE_RATIO;
	return cap < FERRY_INFLATE_MIN ? FERRY_INFLATE_MIN : cap;
}

/* A layer kept compressed for docker load is still decompressed to check its diff_id, as docker load will. */
static bool check_kept_diff_id(const engine *E, ferry_comp found, const ferry_blob *b)
{
	return E->dfmt->layers == FERRY_LAYERS_LOADABLE && found != FERRY_COMP_NONE &&
	       ferry_digest_is_set(&b->diff_id);
}

/* A pass-through stage that reports how far a blob has got. */
typedef struct progress_stage {
	ferry_ostream base;
	ferry_ostream *next;
	engine *E;
	const ferry_digest *digest;
	const char *path;
	uint64_t done, total, last;
} progress_stage;

static int progress_write(ferry_ostream *s, const void *buf, size_t len, ferry_error *err)
{
	progress_stage *p = (progress_stage *)s;
	if (ferry_write(p->next, buf, len, err) < 0)
		return -1;
	p->done += len;
	if (p->done - p->last >= FERRY_IO_CHUNK) {
		p->last = p->done;
		engine_emit(p->E, FERRY_EV_BLOB_PROGRESS, NULL, p->digest, p->done, p->total, p->path);
	}
	return 0;
}

static int progress_finish(ferry_ostream *s, ferry_error *err)
{
	return ferry_finish(((progress_stage *)s)->next, err);
}

static void progress_free(ferry_ostream *s)
{
	(void)s; /* lives on the caller's stack */
}

/* Fill the first buffer: enough bytes to sniff the compression. */
static ssize_t read_head(ferry_istream *in, unsigned char *buf, size_t cap, ferry_error *err)
{
	size_t got = 0;
	while (got < 8) {
		ssize_t n = ferry_read(in, buf + got, cap - got, err);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Hash a blob of the source again, from its start (random-access sources
 * only).  A source that checks digests itself (a registry) may answer with
 * an integrity error instead: that is in *e.
 */
static int rehash(engine *E, const ferry_blob *b, ferry_digest *out, ferry_error *e_out)
{
	ferry_error e = FERRY_ERROR_INIT;
	ferry_istream *in;
	uint64_t size;
	ferry_tree *t = E->src->tree;
	engine_lock(&E->mu, E);
	int rc = t->ops->open(t, b->path, &in, &size, &e);
	engine_unlock(&E->mu, E);
	if (rc < 0) {
		*e_out = e;
		return -1;
	}
	ferry_ostream *h = ferry_ostream_hash(b->desc.digest.alg, NULL);
	rc = ferry_pump(in, h, &e);
	if (rc == 0)
		rc = ferry_finish(h, &e);
	uint64_t n;
	if (rc == 0)
		ferry_hash_result(h, out, &n);
	ferry_ostream_free(h);
	engine_lock(&E->mu, E);
	ferry_istream_close(in);
	engine_unlock(&E->mu, E);
	*e_out = e;
	return rc;
}

/*
 * The store's end of the chain: records whether a failure came from the
 * store (its message names the destination), not from reading or decoding.
 * Written from the async writer's thread; read once that thread is joined.
 */
typedef struct dest_stage {
	ferry_ostream base;
	ferry_ostream *next;
	bool failed;
} dest_stage;

static int dest_write(ferry_ostream *s, const void *buf, size_t len, ferry_error *err)
{
	dest_stage *d = (dest_stage *)s;
	if (ferry_write(d->next, buf, len, err) < 0)
		d->failed = true;
	return d->failed ? -1 : 0;
}

static int dest_finish(ferry_ostream *s, ferry_error *err)
{
	dest_stage *d = (dest_stage *)s;
	if (ferry_finish(d->next, err) < 0)
		d->failed = true;
	return d->failed ? -1 : 0;
}

static void dest_free(ferry_ostream *s)
{
	(void)s; /* lives in the job's run; the store's stream is the store's */
}

/* The stages between the source and the store; NULL where a variant has none. */
typedef struct chain {
	ferry_ostream *head; /* where the source's bytes go */
	ferry_ostream *to_store, *out_hash, *encode, *to_mid, *diff_hash, *decode, *src_hash, *to_decode,
		*tee;
	bool plain_src; /* compressing a plain layer: its digest is its diff_id */
	dest_stage dest;
	progress_stage prog;
} chain;

/* One attempt at a layer job: what it learns of the blob on the way, and how it ends. */
typedef struct job_run {
	engine *E;
	lane *L;
	layer_job *j;
	const ferry_blob *b;
	const ferry_descriptor *d;
	bool have_digest;
	const char *what; /* the layer in messages: its digest, else its path */
	uint64_t in_size;
	size_t head; /* bytes of L->buf read */
	ferry_comp sniffed, want;
	bool transform;
	ferry_digest expect; /* what the output must hash to, when known */
	int64_t expect_size;
	bool pre;           /* the destination had expect before the job began */
	bool passed_expect; /* the store was told expect and its size */
	ferry_ostream *store_out; /* the store's blob, or the lane's spool */
	int spool_fd;             /* the lane's spool, -1 when the store takes the blob as it comes */
	chain c;
	ferry_digest src_d, out_d, diff_d;
	uint64_t src_n, out_n;
	bool resend;        /* the store lost the blob's upload: it may be sent again */
	fail_origin origin; /* where a failure came from */
} job_run;

static int job_fail(job_run *R, fail_origin origin)
{
	R->origin = origin;
	return -1;
}

/* Check the size, read the first bytes, and decide what the layer becomes. */
static int job_sniff(job_run *R, ferry_istream *in, ferry_error *err)
{
	engine *E = R->E;
	const ferry_descriptor *d = R->d;
	if (R->b->size_known && R->in_size != d->size) {
		ferry_error_set(err, FERRY_E_INTEGRITY, "layer %s: %s is %llu bytes, its descriptor says %llu", R->what,
				R->b->path, (unsigned long long)R->in_size, (unsigned long long)d->size);
		return job_fail(R, FROM_SOURCE);
	}
	ssize_t head = read_head(in, R->L->buf, FERRY_IO_CHUNK, err);
	if (head < 0)
		return job_fail(R, FROM_SOURCE);
	R->head = (size_t)head;
	R->sniffed = ferry_comp_sniff(R->L->buf, R->head);
	R->want = engine_layer_target(E, R->b, R->sniffed);
	R->transform = R->want != R->sniffed;
	R->j->found = R->sniffed;
	R->expect_size = -1;
	if (!R->transform) {
		if (R->have_digest)
			R->expect = d->digest;
		else if (R->sniffed == FERRY_COMP_NONE && ferry_digest_is_set(&R->b->diff_id))
			R->expect = R->b->diff_id; /* an uncompressed layer's digest is its diff_id */
		R->expect_size = (int64_t)R->in_size;
	} else if (R->want == FERRY_COMP_NONE && ferry_digest_is_set(&R->b->diff_id)) {
		R->expect = R->b->diff_id;
	}
	return 0;
}

/*
 * Does the destination have the output already?  Kept as it is and there (a
 * legacy layer, whose digest is its diff_id): nothing to read or write, and
 * *done says so.
 */
static int job_existing(job_run *R, bool *done, ferry_error *err)
{
	engine *E = R->E;
	*done = false;
	if (ferry_digest_is_set(&R->expect)) {
		engine_lock_store(E);
		int rc = ferry_store_has_blob(E->store, &R->expect, &R->pre, err);
		engine_unlock_store(E);
		if (rc < 0)
			return job_fail(R, FROM_DEST);
	}
	if (!R->pre || R->transform)
		return 0;
	engine_job_fill(E, R->j, false, R->sniffed, &R->expect, R->in_size);
	engine_account_blob(E, true, &R->expect, R->in_size, 0, 0, R->b->path);
	*done = true;
	return 0;
}

/*
 * Where the bytes go.  On lanes, what the store would spool goes to a spool
 * of this lane, handed over once its digest is known; a blob the store takes
 * as it comes holds the store (and the turn) until it ends.
 */
static int job_open_sink(job_run *R, ferry_error *err)
{
	engine *E = R->E;
	/*
	 * Bytes the destination already has (another path to the same layer) are
	 * still read and checked, but into a spool the store then drops: a tar
	 * store must not get a second header for them.
	 */
	R->passed_expect = !R->pre && ferry_digest_is_set(&R->expect) && R->expect_size >= 0;
	if (E->lanes && E->ordered && !R->passed_expect) {
		if ((R->spool_fd = ferry_spool_open(E->store_path, err)) < 0)
			return job_fail(R, FROM_DEST);
		char *what = ferry_xasprintf("the spool of layer %s for %s", R->what, E->store->display);
		R->store_out = ferry_ostream_fd(R->spool_fd, what);
		free(what);
		return 0;
	}
	if (!lane_wait_turn(E, R->L)) {
		ferry_error_set(err, FERRY_E_FAILED, "layer %s: stopped (another layer failed)", R->b->path);
		return job_fail(R, FROM_RUN);
	}
	engine_lock_store(E);
	bool pass = !R->pre && ferry_digest_is_set(&R->expect);
	if (ferry_store_blob_begin(E->store, pass ? &R->expect : NULL, R->pre ? -1 : R->expect_size, &R->store_out,
				   err) < 0) {
		engine_unlock_store(E);
		lane_end_turn(E, R->L, false, err);
		return job_fail(R, FROM_DEST);
	}
	return 0;
}

/*
 * Kept as it is: one hash serves as the source check and the output digest.
 * A compressed layer kept for docker load is also decompressed beside the
 * store, on a thread of its own, only to check its diff_id.
 */
static void chain_keep(job_run *R, ferry_alg out_alg)
{
	chain *c = &R->c;
	ferry_ostream *to = c->to_store;
	if (check_kept_diff_id(R->E, R->sniffed, R->b)) {
		c->diff_hash = ferry_ostream_hash(FERRY_ALG_SHA256, NULL);
		c->decode = ferry_ostream_decode(c->diff_hash, inflate_cap(R->in_size));
		c->to_decode = ferry_ostream_async(c->decode, 4, FERRY_IO_CHUNK);
		to = c->tee = ferry_ostream_tee(c->to_store, c->to_decode);
	}
	c->head = c->out_hash = ferry_ostream_hash(out_alg, to);
}

/* Compressing a plain layer: its digest is its diff_id, hashed once, and nothing to decode. */
static void chain_compress(job_run *R, ferry_alg out_alg)
{
	chain *c = &R->c;
	c->out_hash = ferry_ostream_hash(out_alg, c->to_store);
	c->encode = ferry_ostream_encode(R->want, R->E->level, c->out_hash);
	c->to_mid = ferry_ostream_async(c->encode, 4, FERRY_IO_CHUNK);
	c->head = c->src_hash = ferry_ostream_hash(FERRY_ALG_SHA256, c->to_mid);
}

/*
 * Decompressing (and maybe compressing again).  Decompressing is the slow
 * part this thread keeps; hashing the uncompressed bytes (and compressing
 * them again) moves to another.  Decompressed only, the uncompressed digest
 * is the output's.
 */
static void chain_decode(job_run *R, ferry_alg out_alg)
{
	chain *c = &R->c;
	ferry_ostream *after_diff = c->to_store;
	if (R->want != FERRY_COMP_NONE) {
		c->out_hash = ferry_ostream_hash(out_alg, c->to_store);
		after_diff = c->encode = ferry_ostream_encode(R->want, R->E->level, c->out_hash);
	}
	c->diff_hash = ferry_ostream_hash(FERRY_ALG_SHA256, after_diff);
	c->to_mid = ferry_ostream_async(c->diff_hash, 4, FERRY_IO_CHUNK);
	if (!c->out_hash)
		c->out_hash = c->diff_hash;
	c->decode = ferry_ostream_decode(c->to_mid, inflate_cap(R->in_size));
	/* Decompressing alone is the longest stage: hashing what is read moves off its thread. */
	c->to_decode = ferry_ostream_async(c->decode, 4, FERRY_IO_CHUNK);
	c->head = c->src_hash = ferry_ostream_hash(R->have_digest ? R->d->digest.alg : FERRY_ALG_SHA256, c->to_decode);
}

/*
 * Two cores: writing runs on a thread of its own, and so does compressing;
 * reading, hashing and decompressing stay on this one.  A registry takes a
 * chunk per request and answers only once it has it all: a deeper queue
 * lets compressing go on meanwhile.
 */
static void chain_build(job_run *R)
{
	engine *E = R->E;
	chain *c = &R->c;
	c->dest = (dest_stage){{dest_write, dest_finish, dest_free}, R->store_out, false};
	c->to_store = ferry_ostream_async(&c->dest.base, E->store->remote ? 8 : 4, FERRY_IO_CHUNK);
	ferry_alg out_alg = !R->transform && R->have_digest ? R->d->digest.alg : FERRY_ALG_SHA256;
	c->plain_src = R->transform && R->sniffed == FERRY_COMP_NONE && R->want != FERRY_COMP_NONE &&
		       (!R->have_digest || R->d->digest.alg == FERRY_ALG_SHA256);
	if (!R->transform)
		chain_keep(R, out_alg);
	else if (c->plain_src)
		chain_compress(R, out_alg);
	else
		chain_decode(R, out_alg);
	c->prog = (progress_stage){{progress_write, progress_finish, progress_free}, c->head, E,
				   R->have_digest ? &R->d->digest : NULL, R->b->path, 0, R->in_size, 0};
	c->head = &c->prog.base;
}

/* Send the source's bytes down the chain, join its threads, and take what was hashed. */
static int job_pump(job_run *R, ferry_istream *in, ferry_error *err)
{
	chain *c = &R->c;
	int rc = ferry_write(c->head, R->L->buf, R->head, err);
	if (rc == 0)
		rc = ferry_pump(in, c->head, err);
	if (rc == 0)
		rc = ferry_finish(c->head, err);
	/* Join the threads (abandoning their work after an error) before reading what they hashed. */
	ferry_ostream_free(c->to_decode);
	ferry_ostream_free(c->to_mid);
	ferry_ostream_free(c->to_store);
	c->to_decode = c->to_mid = c->to_store = NULL;
	uint64_t diff_n;
	ferry_hash_result(c->out_hash, &R->out_d, &R->out_n);
	if (c->plain_src) {
		ferry_hash_result(c->src_hash, &R->src_d, &R->src_n);
		R->diff_d = R->src_d;
	} else if (R->transform) {
		ferry_hash_result(c->src_hash, &R->src_d, &R->src_n);
		ferry_hash_result(c->diff_hash, &R->diff_d, &diff_n);
	} else {
		R->src_d = R->out_d;
		R->src_n = R->out_n;
		bool sha256 = !R->have_digest || R->d->digest.alg == FERRY_ALG_SHA256;
		if (c->diff_hash)
			ferry_hash_result(c->diff_hash, &R->diff_d, &diff_n);
		else if (R->sniffed == FERRY_COMP_NONE && sha256)
			R->diff_d = R->out_d;
	}
	if (rc < 0)
		R->origin = c->dest.failed ? FROM_DEST : ferry_interrupted ? FROM_RUN : FROM_SOURCE;
	return rc;
}

static void chain_free(chain *c)
{
	ferry_ostream_free(c->src_hash);
	ferry_ostream_free(c->tee);
	ferry_ostream_free(c->decode);
	ferry_ostream_free(c->encode);
	if (c->out_hash != c->diff_hash)
		ferry_ostream_free(c->out_hash);
	ferry_ostream_free(c->diff_hash);
}

/* Undecodable: if the bytes are not what the digest names, that is the thing to say. */
static void explain_undecodable(job_run *R, ferry_error *err)
{
	ferry_digest again;
	ferry_error e2 = FERRY_ERROR_INIT;
	int hr = R->have_digest && !R->E->src->tree->one_pass ? rehash(R->E, R->b, &again, &e2) : -1;
	if (hr == 0 && !ferry_digest_eq(&again, &R->d->digest))
		ferry_error_set(err, FERRY_E_INTEGRITY, "layer %s: content hashes to %s", R->what, again.str);
	else if (hr < 0 && e2.code == FERRY_E_INTEGRITY)
		*err = e2;
	else
		ferry_error_prefix(err, "layer %s", R->what);
}

/* Every digest, size and diff_id against what names it. */
static int job_check(job_run *R, ferry_error *err)
{
	const ferry_blob *b = R->b;
	const char *what = R->what;
	if (R->have_digest && !ferry_digest_eq(&R->src_d, &R->d->digest))
		ferry_error_set(err, FERRY_E_INTEGRITY, "layer %s: content hashes to %s", what, R->src_d.str);
	else if (R->src_n != R->in_size)
		ferry_error_set(err, FERRY_E_INTEGRITY, "layer %s: read %llu bytes, expected %llu", what,
				(unsigned long long)R->src_n, (unsigned long long)R->in_size);
	else if (ferry_digest_is_set(&R->diff_d) && ferry_digest_is_set(&b->diff_id) &&
		 !ferry_digest_eq(&R->diff_d, &b->diff_id))
		ferry_error_set(err, FERRY_E_INTEGRITY,
				"layer %s: uncompressed content hashes to %s, the config's diff_id is %s", what,
				R->diff_d.str, b->diff_id.str);
	else if (ferry_digest_is_set(&R->expect) && !ferry_digest_eq(&R->expect, &R->out_d))
		ferry_error_set(err, FERRY_E_INTEGRITY, "layer %s: content hashes to %s, expected %s", what,
				R->out_d.str, R->expect.str);
	else
		return 0;
	return job_fail(R, FROM_SOURCE);
}

/*
 * End the store's blob (or the lane's spool).  *existed: these bytes were
 * there already (written by this run through another path, or before); a
 * remote store is not asked, which would cost a request per blob just for
 * the count.  *counted: counted here already (lanes side by side), and *ev
 * is what to say of it.
 */
static int job_end_store(job_run *R, int rc, bool *existed, bool *counted, ferry_event_kind *ev, ferry_error *err)
{
	engine *E = R->E;
	*existed = *counted = false;
	if (R->spool_fd >= 0) {
		ferry_ostream_free(R->store_out);
		return rc;
	}
	if (rc == 0) {
		bool ask = !R->passed_expect && !E->store->remote;
		*existed = R->pre || engine_written_has(E, &R->out_d);
		if (!*existed && ask && ferry_store_has_blob(E->store, &R->out_d, existed, err) < 0)
			rc = job_fail(R, FROM_DEST);
	}
	/*
	 * Lanes writing side by side: the blob lands and counts as this run's in
	 * one step, so that a lane finding it in the store (the pre check) also
	 * finds it counted, and calls it a dedup.
	 */
	bool one_step = E->lanes && !E->ordered && !E->store->remote;
	if (one_step)
		pthread_mutex_lock(&E->mu);
	int rc2 = ferry_store_blob_end(E->store, R->store_out, rc == 0, &R->out_d, R->out_n, &R->resend, err);
	if (one_step) {
		if (rc == 0 && rc2 == 0) {
			*ev = engine_count_blob(E, *existed, &R->out_d, R->out_n, R->src_n);
			*counted = true;
		}
		pthread_mutex_unlock(&E->mu);
	}
	engine_unlock_store(E);
	if (rc == 0 && rc2 < 0)
		rc = job_fail(R, FROM_DEST);
	if (rc < 0)
		lane_end_turn(E, R->L, false, err);
	return rc;
}

/* The layer is written: note what it became, then park it for its turn or count it and pass the turn on. */
static int job_done(job_run *R, bool existed, bool counted, ferry_event_kind ev, ferry_error *err)
{
	engine *E = R->E;
	const ferry_blob *b = R->b;
	if (R->transform && R->want != FERRY_COMP_NONE && E->cache && ferry_digest_is_set(&b->diff_id))
		ferry_blobcache_put_compressed(E->cache, &b->diff_id, R->want, E->level, &R->out_d, R->out_n);
	engine_job_fill(E, R->j, R->transform, R->want, &R->out_d, R->out_n);
	if (R->spool_fd >= 0) {
		/* Its turn may not have come: park it, and take the next layer meanwhile. */
		parked *p = ferry_xcalloc(1, sizeof(*p));
		p->ticket = R->L->ticket;
		p->fd = R->spool_fd;
		p->d = R->out_d;
		p->size = R->out_n;
		p->read = R->src_n;
		p->pre = R->pre;
		p->path = b->path;
		R->spool_fd = -1;
		return lane_park(E, R->L, p, &R->origin, err);
	}
	/* Counted before the turn passes on: a later blob with these bytes then counts as a dedup. */
	if (counted)
		engine_emit(E, ev, NULL, &R->out_d, R->out_n, R->out_n, b->path);
	else
		engine_account_blob(E, existed, &R->out_d, R->out_n, R->src_n, R->out_n, b->path);
	R->origin = FROM_DEST;
	return lane_end_turn(E, R->L, true, err);
}

/* One attempt at job j, reading in (in_size bytes); R says how it ended. */
static int run_job(job_run *R, ferry_istream *in, ferry_error *err)
{
	bool done;
	if (job_sniff(R, in, err) < 0 || job_existing(R, &done, err) < 0)
		return -1;
	if (done)
		return 0;
	engine_emit(R->E, FERRY_EV_BLOB_START, NULL, R->have_digest ? &R->d->digest : NULL, 0, R->in_size, R->b->path);
	if (job_open_sink(R, err) < 0)
		return -1;
	chain_build(R);
	int rc = job_pump(R, in, err);
	if (rc < 0 && R->origin == FROM_SOURCE && (err->code == FERRY_E_FORMAT || err->code == FERRY_E_LIMIT))
		explain_undecodable(R, err);
	if (rc == 0)
		rc = job_check(R, err);
	chain_free(&R->c);
	bool existed, counted;
	ferry_event_kind ev = FERRY_EV_BLOB_WRITTEN;
	if (job_end_store(R, rc, &existed, &counted, &ev, err) < 0) {
		if (R->spool_fd >= 0)
			close(R->spool_fd);
		return -1;
	}
	return job_done(R, existed, counted, ev, err);
}

static void job_run_init(job_run *R, engine *E, lane *L, layer_job *j, uint64_t in_size)
{
	memset(R, 0, sizeof(*R));
	R->E = E;
	R->L = L;
	R->j = j;
	R->b = j->blob;
	R->d = &j->blob->desc;
	R->have_digest = ferry_digest_is_set(&R->d->digest);
	R->what = R->have_digest ? R->d->digest.str : R->b->path;
	R->in_size = in_size;
	R->spool_fd = -1;
}

/*
 * Run job j from in (closed here).  When the store lost the upload (a
 * network fault, after which the registry forgot the session), it runs
 * again from a fresh read of the source, up to three more times, if the
 * source can be read again.  *origin: where a failure came from.
 */
int engine_run_job(engine *E, lane *L, layer_job *j, ferry_istream *in, uint64_t size, fail_origin *origin,
		   ferry_error *err)
{
	ferry_tree *tree = E->src->tree;
	job_run R;
	job_run_init(&R, E, L, j, size);
	int rc = run_job(&R, in, err);
	for (int attempt = 0;; attempt++) {
		engine_lock(&E->mu, E); /* the tree is shared between lanes */
		ferry_istream_close(in);
		engine_unlock(&E->mu, E);
		*origin = R.origin;
		if (rc == 0 || attempt >= 3 || tree->one_pass || !R.resend)
			return rc;
		char msg[FERRY_ERROR_MSG_MAX + 64];
		snprintf(msg, sizeof(msg), "%s; sending the blob again", err->msg);
		engine_emit(E, FERRY_EV_WARNING, NULL, NULL, 0, 0, msg);
		engine_lock(&E->mu, E);
		int o = tree->ops->open(tree, j->blob->path, &in, &size, err);
		engine_unlock(&E->mu, E);
		if (o < 0) {
			*origin = FROM_SOURCE;
			return -1;
		}
		job_run_init(&R, E, L, j, size);
		rc = run_job(&R, in, err);
	}
}
