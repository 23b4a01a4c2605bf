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

static int run_job(engine *E, lane *L, layer_job *j, ferry_istream *in, uint64_t in_size, ferry_error *err)
{
	ferry_blob *b = j->blob;
	const ferry_descriptor *d = &b->desc;
	bool have_digest = ferry_digest_is_set(&d->digest);
	if (b->size_known && in_size != d->size)
		return ferry_error_set(err, FERRY_E_INTEGRITY, "layer %s: %s is %llu bytes, its descriptor says %llu",
				       have_digest ? d->digest.str : b->path, b->path, (unsigned long long)in_size,
				       (unsigned long long)d->size);
	ssize_t head = read_head(in, L->buf, FERRY_IO_CHUNK, err);
	if (head < 0)
		return -1;
	ferry_comp sniffed = ferry_comp_sniff(L->buf, (size_t)head);
	ferry_comp want = E->keep || (E->plain_only && sniffed != FERRY_COMP_NONE) ? sniffed : E->target;
	bool transform = want != sniffed;
	ferry_digest expect = {0};
	int64_t expect_size = -1;
	if (!transform) {
		if (have_digest)
			expect = d->digest;
		else if (sniffed == FERRY_COMP_NONE && ferry_digest_is_set(&b->diff_id))
			expect = b->diff_id; /* an uncompressed layer's digest is its diff_id */
		expect_size = (int64_t)in_size;
	} else if (want == FERRY_COMP_NONE && ferry_digest_is_set(&b->diff_id)) {
		expect = b->diff_id;
	}
	ferry_ostream *store_out;
	engine_lock_store(E);
	bool pre = ferry_digest_is_set(&expect) && E->store->ops->has_blob(E->store, &expect);
	engine_unlock_store(E);
	if (pre && !transform) {
		/*
		 * Kept as it is and already in the destination (a legacy layer,
		 * whose digest is its diff_id): nothing to read or write.
		 */
		j->done = true;
		j->comp = sniffed;
		ferry_descriptor_copy(&j->out, d);
		j->out.digest = expect;
		j->out.size = in_size;
		if (!j->out.media_type)
			j->out.media_type = ferry_xstrdup(engine_layer_mt(sniffed, E->o->docker_manifests));
		engine_lock(&E->mu, E);
		bool ours = ferry_strmap_has(&E->written, expect.str);
		if (ours)
			E->st->blobs_dedup++;
		else
			E->st->blobs_existing++;
		engine_unlock(&E->mu, E);
		engine_emit(E, ours ? FERRY_EV_BLOB_DEDUP : FERRY_EV_BLOB_EXISTS, NULL, &expect, 0, in_size, b->path);
		return 0;
	}
	engine_emit(E, FERRY_EV_BLOB_START, NULL, have_digest ? &d->digest : NULL, 0, in_size, b->path);
	/*
	 * Bytes the destination already has (another path to the same layer) are
	 * still read and checked, but into a spool the store then drops: a tar
	 * store must not get a second header for them.
	 */
	bool passed_expect = !pre && ferry_digest_is_set(&expect) && expect_size >= 0;
	/*
	 * On lanes, what the store would spool goes to a spool of this lane,
	 * handed over once its digest is known; a blob the store takes as it
	 * comes holds the store until it ends.
	 */
	int spool_fd = -1;
	ferry_ostream *lane_sink = NULL;
	if (E->lanes && E->ordered && !passed_expect) {
		if ((spool_fd = ferry_spool_open(E->store_path, err)) < 0)
			return -1;
		char *what = ferry_xasprintf("the spool of layer %s for %s", have_digest ? d->digest.str : b->path,
					     E->store->display);
		store_out = lane_sink = ferry_ostream_fd(spool_fd, what);
		free(what);
	} else {
		if (!lane_wait_turn(E, L))
			return ferry_error_set(err, FERRY_E_FAILED, "layer %s: stopped (another layer failed)", b->path);
		engine_lock_store(E);
		if (E->store->ops->blob_begin(E->store, pre || !ferry_digest_is_set(&expect) ? NULL : &expect,
					      pre ? -1 : expect_size, &store_out, err) < 0) {
			engine_unlock_store(E);
			lane_end_turn(E, L, false, NULL);
			return -1;
		}
	}
	ferry_alg out_alg = !transform && have_digest ? d->digest.alg : FERRY_ALG_SHA256;
	/*
	 * Two cores: writing runs on a thread of its own, and so does compressing;
	 * reading, hashing and decompressing stay on this one.
	 */
	/*
	 * A registry takes a chunk per request and answers only once it has it
	 * all: a deeper queue lets compressing go on meanwhile.
	 */
	ferry_ostream *to_store = ferry_ostream_async(store_out, E->store->remote ? 8 : 4, FERRY_IO_CHUNK);
	ferry_ostream *out_hash = NULL, *encode = NULL, *to_mid = NULL, *diff_hash = NULL, *decode = NULL,
		      *src_hash = NULL, *to_decode = NULL;
	ferry_ostream *head_stage;
	/* Compressing a plain layer: its digest is its diff_id, hashed once, and nothing to decode. */
	bool plain_src = transform && sniffed == FERRY_COMP_NONE && want != FERRY_COMP_NONE &&
			 (!have_digest || d->digest.alg == FERRY_ALG_SHA256);
	if (!transform) {
		head_stage = out_hash = ferry_ostream_hash(out_alg, to_store);
	} else if (plain_src) {
		out_hash = ferry_ostream_hash(out_alg, to_store);
		encode = ferry_ostream_encode(want, E->level, out_hash);
		to_mid = ferry_ostream_async(encode, 4, FERRY_IO_CHUNK);
		head_stage = src_hash = ferry_ostream_hash(FERRY_ALG_SHA256, to_mid);
	} else {
		/*
		 * Decompressing is the slow part this thread keeps; hashing the
		 * uncompressed bytes (and compressing them again) moves to another.
		 * Decompressed only, the uncompressed digest is the output's.
		 */
		ferry_ostream *after_diff = to_store;
		if (want != FERRY_COMP_NONE) {
			out_hash = ferry_ostream_hash(out_alg, to_store);
			after_diff = encode = ferry_ostream_encode(want, E->level, out_hash);
		}
		diff_hash = ferry_ostream_hash(FERRY_ALG_SHA256, after_diff);
		to_mid = ferry_ostream_async(diff_hash, 4, FERRY_IO_CHUNK);
		if (!out_hash)
			out_hash = diff_hash;
		uint64_t cap = in_size * FERRY_INFLATE_RATIO;
		if (cap < FERRY_INFLATE_MIN)
			cap = FERRY_INFLATE_MIN;
		decode = ferry_ostream_decode(to_mid, cap);
		/* Decompressing alone is the longest stage: hashing what is read moves off its thread. */
		to_decode = ferry_ostream_async(decode, 4, FERRY_IO_CHUNK);
		src_hash = ferry_ostream_hash(have_digest ? d->digest.alg : FERRY_ALG_SHA256, to_decode);
		head_stage = src_hash;
	}
	progress_stage prog = {{progress_write, progress_finish, progress_free}, head_stage, E,
			       have_digest ? &d->digest : NULL, b->path, 0, in_size, 0};
	head_stage = &prog.base;
	int rc = ferry_write(head_stage, L->buf, (size_t)head, err);
	if (rc == 0)
		rc = ferry_pump(in, head_stage, err);
	if (rc == 0)
		rc = ferry_finish(head_stage, err);
	/* Join the threads (abandoning their work after an error) before reading what they hashed. */
	ferry_ostream_free(to_decode);
	ferry_ostream_free(to_mid);
	ferry_ostream_free(to_store);
	ferry_digest src_d, out_d, diff_d = {0};
	uint64_t src_n, out_n, diff_n = 0;
	ferry_hash_result(out_hash, &out_d, &out_n);
	if (plain_src) {
		ferry_hash_result(src_hash, &src_d, &src_n);
		diff_d = src_d;
		diff_n = src_n;
	} else if (transform) {
		ferry_hash_result(src_hash, &src_d, &src_n);
		ferry_hash_result(diff_hash, &diff_d, &diff_n);
	} else {
		src_d = out_d;
		src_n = out_n;
		if (sniffed == FERRY_COMP_NONE && out_alg == FERRY_ALG_SHA256)
			diff_d = out_d;
	}
	const char *what = have_digest ? d->digest.str : b->path;
	if (rc < 0 && err && (err->code == FERRY_E_FORMAT || err->code == FERRY_E_LIMIT)) {
		/* Undecodable: if the bytes are not what the digest names, that is the thing to say. */
		ferry_digest again;
		ferry_error e2 = FERRY_ERROR_INIT;
		int hr = have_digest && !E->src->tree->one_pass ? rehash(E, b, &again, &e2) : -1;
		if (hr == 0 && !ferry_digest_eq(&again, &d->digest))
			ferry_error_set(err, FERRY_E_INTEGRITY, "layer %s: content hashes to %s", what, again.str);
		else if (hr < 0 && e2.code == FERRY_E_INTEGRITY)
			*err = e2;
		else
			ferry_error_prefix(err, "layer %s", what);
	}
	if (rc == 0 && have_digest && !ferry_digest_eq(&src_d, &d->digest))
		rc = ferry_error_set(err, FERRY_E_INTEGRITY, "layer %s: content hashes to %s", what, src_d.str);
	if (rc == 0 && src_n != in_size)
		rc = ferry_error_set(err, FERRY_E_INTEGRITY, "layer %s: read %llu bytes, expected %llu", what,
				     (unsigned long long)src_n, (unsigned long long)in_size);
	if (rc == 0 && ferry_digest_is_set(&diff_d) && ferry_digest_is_set(&b->diff_id) &&
	    !ferry_digest_eq(&diff_d, &b->diff_id))
		rc = ferry_error_set(err, FERRY_E_INTEGRITY,
				     "layer %s: uncompressed content hashes to %s, the config's diff_id is %s", what,
				     diff_d.str, b->diff_id.str);
	if (rc == 0 && ferry_digest_is_set(&expect) && !ferry_digest_eq(&expect, &out_d))
		rc = ferry_error_set(err, FERRY_E_INTEGRITY, "layer %s: content hashes to %s, expected %s", what,
				     out_d.str, expect.str);
	ferry_ostream_free(src_hash);
	ferry_ostream_free(decode);
	ferry_ostream_free(encode);
	if (out_hash != diff_hash)
		ferry_ostream_free(out_hash);
	ferry_ostream_free(diff_hash);
	/*
	 * Did these bytes exist already (written by this run through another
	 * path, or there before)?  A remote store is not asked: that would cost a
	 * request per blob just for the count.
	 */
	bool existed = false, counted = false;
	ferry_event_kind ev = FERRY_EV_BLOB_WRITTEN;
	if (lane_sink) {
		ferry_ostream_free(lane_sink);
		if (rc < 0) {
			close(spool_fd);
			return -1;
		}
	} else {
		existed = rc == 0 && (pre || engine_written_has(E, &out_d) ||
				      (!passed_expect && !E->store->remote && E->store->ops->has_blob(E->store, &out_d)));
		/*
		 * Lanes writing side by side: the blob lands and counts as this
		 * run's in one step, so that a lane finding it in the store
		 * (the pre check) also finds it counted, and calls it a dedup.
		 */
		bool one_step = E->lanes && !E->ordered && !E->store->remote;
		if (one_step)
			pthread_mutex_lock(&E->mu);
		int rc2 = E->store->ops->blob_end(E->store, store_out, rc == 0, &out_d, out_n, rc == 0 ? err : NULL);
		if (one_step) {
			if (rc == 0 && rc2 == 0) {
				ev = engine_count_blob(E, existed, &out_d, out_n, src_n);
				counted = true;
			}
			pthread_mutex_unlock(&E->mu);
		}
		engine_unlock_store(E);
		if (rc < 0 || rc2 < 0) {
			lane_end_turn(E, L, false, NULL);
			return -1;
		}
	}
	if (transform && want != FERRY_COMP_NONE && E->cache && ferry_digest_is_set(&b->diff_id))
		ferry_blobcache_put_compressed(E->cache, &b->diff_id, want, E->level, &out_d, out_n);
	j->done = true;
	j->transformed = transform;
	j->comp = want;
	ferry_descriptor_copy(&j->out, d);
	j->out.digest = out_d;
	j->out.size = out_n;
	if (transform || !j->out.media_type) {
		free(j->out.media_type);
		j->out.media_type = ferry_xstrdup(engine_layer_mt(want, E->o->docker_manifests));
	}
	if (lane_sink) {
		/* Its turn may not have come: park it, and take the next layer meanwhile. */
		parked *p = ferry_xcalloc(1, sizeof(*p));
		p->ticket = L->ticket;
		p->fd = spool_fd;
		p->d = out_d;
		p->size = out_n;
		p->read = src_n;
		p->pre = pre;
		p->path = b->path;
		return lane_park(E, L, p, err);
	}
	/* Counted before the turn passes on: a later blob with these bytes then counts as a dedup. */
	if (counted)
		engine_emit(E, ev, NULL, &out_d, out_n, out_n, b->path);
	else
		engine_account_blob(E, existed, &out_d, out_n, src_n, b->path);
	return lane_end_turn(E, L, true, err);
}

/*
 * Run job j from in (closed here).  When the store lost the upload (a
 * network fault, after which the registry forgot the session), it runs
 * again from a fresh read of the source, up to three more times, if the
 * source can be read again.
 */
int engine_run_job(engine *E, lane *L, layer_job *j, ferry_istream *in, uint64_t size, ferry_error *err)
{
	ferry_tree *tree = E->src->tree;
	int rc = run_job(E, L, j, in, size, err);
	for (int attempt = 0;; attempt++) {
		engine_lock(&E->mu, E); /* the tree is shared between lanes */
		ferry_istream_close(in);
		engine_unlock(&E->mu, E);
		if (rc == 0 || attempt >= 3 || tree->one_pass || !E->store->ops->retryable ||
		    !E->store->ops->retryable(E->store))
			return rc;
		char msg[FERRY_ERROR_MSG_MAX + 64];
		snprintf(msg, sizeof(msg), "%s; sending the blob again", err ? err->msg : "upload failed");
		engine_emit(E, FERRY_EV_WARNING, NULL, NULL, 0, 0, msg);
		engine_lock(&E->mu, E);
		int o = tree->ops->open(tree, j->blob->path, &in, &size, err);
		engine_unlock(&E->mu, E);
		if (o < 0)
			return -1;
		rc = run_job(E, L, j, in, size, err);
	}
}
