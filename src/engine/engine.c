/*
 * engine.c - the digesting layer engine behind convert, tag and untag.
 *
 * A conversion reads the source's metadata, decides which images go out and
 * under which names, then streams every distinct layer exactly once through
 * a chain of stages:
 *
 *   source -> hash(source digest) -> [decode -> hash(diff_id) -> encode -> hash(out)] -> store
 *
 * The bracketed part only exists when the destination needs the layer in
 * another compression; otherwise the bytes go through untouched and one hash
 * serves as both the source check and the output digest.  Every digest, size
 * and diff_id is checked against what names it before the blob is kept.
 * Layers are taken in whatever order the source can give them cheapest
 * (archive order for a one-pass read), and a layer shared by several images,
 * or already present in the destination, is written once or not at all.
 * Where one layer cannot keep both cores busy (decompressing into a tar)
 * two layers run at once, each into a spool of its own, and reach the store
 * in the order they were taken, so the output never depends on timing.
 * Manifests are copied byte for byte when their layers are, and rebuilt with
 * correct digests otherwise; config bytes are never changed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobcache.h"
#include "engine.h"
#include "format.h"
#include "store_registry.h"
#include "location.h"
#include "strmap.h"
#include "tmpname.h"
#include "util.h"

/* A decompressed layer may be at most this many times its compressed size (and at least 1 GiB). */
#define FERRY_INFLATE_RATIO 1100u
#define FERRY_INFLATE_MIN (1ull << 30)

typedef struct layer_job {
	ferry_blob *blob; /* the first image's blob at this path (borrowed) */
	size_t owner;     /* index of that image's work */
	bool done;
	bool transformed;
	ferry_comp found; /* compression of the source's bytes */
	ferry_comp comp;  /* compression of the bytes written */
	ferry_descriptor out;
} layer_job;

typedef struct work {
	ferry_image *img; /* borrowed from the source */
	ferry_name *names;
	size_t n_names;
	const char *label; /* for messages */
	char *label_owned;
} work;

typedef struct engine {
	const ferry_convert_opts *o;
	ferry_source *src;
	ferry_store *store;
	const ferry_format *dfmt;
	int level; /* the level of what is compressed, the default made explicit */
	ferry_blobcache *cache;
	layer_job *jobs;
	size_t n_jobs, cap_jobs;
	ferry_strmap job_by_path; /* path -> job index + 1 */
	ferry_convert_stats *st;
	ferry_strmap written; /* digests of the layers this run wrote */
	work *works; /* borrowed from ferry_convert_in */
	/*
	 * Layers run on two lanes at once when that pays (see lanes_pay) and
	 * then share what follows.  Lock order: store_mu before mu.
	 */
	bool lanes;
	/*
	 * Lanes take turns at the store (a tar: one blob after another, in
	 * ticket order); a store with concurrent_blobs (a directory) takes
	 * blobs side by side, in any order, without store_mu.
	 */
	bool ordered;
	pthread_mutex_t mu;       /* stats, written, events, the tree and the job list */
	pthread_mutex_t store_mu; /* the store, when ordered */
	/*
	 * Blobs reach the store in the order their jobs were taken, as they
	 * would on one lane, so that the output does not depend on timing: a
	 * job waits for its turn (under mu) before it writes.
	 */
	pthread_cond_t turn_cv;
	uint64_t turn;    /* the ticket whose turn it is */
	bool lane_failed; /* a lane failed: nobody waits for a turn any more */
	/*
	 * A lane whose blob is spooled before its turn parks it here and takes
	 * the next layer instead of waiting; whoever brings a parked blob's turn
	 * round hands it over (one drainer at a time).  Sorted by ticket.
	 */
	struct parked *parked;
	size_t n_parked;
	bool draining;
	const char *store_path;   /* the destination file (NULL: stdout), for spools beside it */
} engine;

/*
 * At most this many spooled blobs wait for their turn: with the two being
 * written, at most four spools exist at a time.
 */
#define PARKED_MAX 2

/* A finished layer waiting for its turn to reach the store. */
typedef struct parked {
	struct parked *next;
	uint64_t ticket;
	int fd;           /* its spool (owned); -1: the job had nothing to write */
	ferry_digest d;   /* what the spool holds */
	uint64_t size;    /* its bytes */
	uint64_t read;    /* bytes read from the source for it */
	bool pre;         /* the destination had it before the job began */
	const char *path; /* the layer's path in the source (borrowed from its job) */
} parked;

/* What one lane of layer jobs has of its own. */
typedef struct lane {
	unsigned char *buf; /* FERRY_IO_CHUNK bytes: the start of each layer */
	uint64_t ticket;    /* the job's place in the order blobs reach the store */
	bool had_turn;      /* the job has taken (and ended) its turn */
	bool stopped;       /* it gave up waiting: another lane failed, and reports why */
} lane;

/* Wait until it is this lane's job's turn to write; false when another lane failed. */
static bool wait_turn(engine *E, lane *L)
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
static int end_turn(engine *E, lane *L, bool ok, ferry_error *err)
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

static void lock(pthread_mutex_t *m, engine *E)
{
	if (E->lanes)
		pthread_mutex_lock(m);
}

static void unlock(pthread_mutex_t *m, engine *E)
{
	if (E->lanes)
		pthread_mutex_unlock(m);
}

/* The store is shared between lanes that take turns; one with concurrent_blobs guards itself. */
static void lock_store(engine *E)
{
	if (E->lanes && E->ordered)
		pthread_mutex_lock(&E->store_mu);
}

static void unlock_store(engine *E)
{
	if (E->lanes && E->ordered)
		pthread_mutex_unlock(&E->store_mu);
}

static void emit(engine *E, ferry_event_kind kind, const char *name, const ferry_digest *d, uint64_t bytes,
		 uint64_t total, const char *msg)
{
	if (!E->o->on_event)
		return;
	ferry_event ev = {kind, name, d, bytes, total, msg};
	lock(&E->mu, E);
	E->o->on_event(&ev, E->o->event_ud);
	unlock(&E->mu, E);
}

static const char *layer_mt(ferry_comp c, bool docker)
{
	switch (c) {
	case FERRY_COMP_GZIP:
		return docker ? FERRY_MT_DOCKER_LAYER_GZIP : FERRY_MT_OCI_LAYER_GZIP;
	case FERRY_COMP_ZSTD:
		return FERRY_MT_OCI_LAYER_ZSTD;
	default:
		return docker ? FERRY_MT_DOCKER_LAYER : FERRY_MT_OCI_LAYER;
	}
}

static ferry_comp comp_of_mt(const char *mt)
{
	if (!mt)
		return FERRY_COMP_NONE;
	if (ferry_str_endswith(mt, "gzip"))
		return FERRY_COMP_GZIP;
	if (ferry_str_endswith(mt, "zstd"))
		return FERRY_COMP_ZSTD;
	return FERRY_COMP_NONE;
}

/*
 * The destination's compression policy: what a layer whose bytes are in
 * compression `found` is written as.  --compress decides for every layer;
 * else the format does (formats/format.h).
 */
static ferry_comp layer_target(const engine *E, ferry_comp found)
{
	if (E->o->compress_set)
		return E->o->compress;
	switch (E->dfmt->layers) {
	case FERRY_LAYERS_COMPRESSED:
		return found == FERRY_COMP_NONE ? FERRY_COMP_GZIP : found;
	case FERRY_LAYERS_LOADABLE:
		return found == FERRY_COMP_ZSTD && !E->o->keep_zstd ? FERRY_COMP_NONE : found;
	case FERRY_LAYERS_KEEP:
		break;
	}
	return found;
}

/* A layer kept compressed for docker load is still decompressed to check its diff_id, as docker load will. */
static bool check_kept_diff_id(const engine *E, ferry_comp found, const ferry_blob *b)
{
	return E->dfmt->layers == FERRY_LAYERS_LOADABLE && found != FERRY_COMP_NONE &&
	       ferry_digest_is_set(&b->diff_id);
}

/* ---- names: selection and retagging ---- */

static bool names_have(const ferry_name *names, size_t n, const ferry_name *want)
{
	for (size_t i = 0; i < n; i++) {
		if (ferry_name_eq(&names[i], want))
			return true;
	}
	return false;
}

static void push_name(ferry_name **names, size_t *n, ferry_name *nm)
{
	if (names_have(*names, *n, nm)) {
		ferry_name_free(nm);
		return;
	}
	*names = ferry_xrealloc(*names, (*n + 1) * sizeof(**names));
	(*names)[(*n)++] = *nm;
	memset(nm, 0, sizeof(*nm));
}

static void free_names(ferry_name *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ferry_name_free(&names[i]);
	free(names);
}

static bool entry_selected(const ferry_entry *e, const ferry_convert_opts *o, bool *matched, ferry_error *err)
{
	if (o->n_images == 0)
		return true;
	bool sel = false;
	for (size_t i = 0; i < o->n_images; i++) {
		int m = ferry_entry_matches(e, o->images[i], err);
		if (m < 0)
			return false;
		if (m) {
			matched[i] = true;
			sel = true;
		}
	}
	return sel;
}

/* Apply --repository, untag, --tag/--add-tag, --registry/--prefix to one entry's names. */
static int retag(const ferry_entry *e, const ferry_convert_opts *o, bool *rule_used, ferry_name **out,
		 size_t *n_out, bool *lost_all, ferry_error *err)
{
	ferry_name *names = NULL;
	size_t n = 0;
	*lost_all = false;
	for (size_t i = 0; i < e->n_names; i++) {
		ferry_name nm;
		ferry_name_copy(&nm, &e->names[i]);
		if (!nm.has_ref && o->repository) {
			char *s = ferry_xasprintf("%s:%s", o->repository, nm.bare_tag);
			ferry_name full;
			int rc = ferry_name_parse(s, &full, err);
			free(s);
			ferry_name_free(&nm);
			if (rc < 0) {
				ferry_error_prefix(err, "--repository");
				free_names(names, n);
				return -1;
			}
			nm = full;
		}
		push_name(&names, &n, &nm);
	}
	size_t before = n;
	for (size_t r = 0; r < o->n_remove_names; r++) {
		if (ferry_entry_has_digest(e, o->remove_names[r])) { /* untag by digest: every name of that image */
			if (n)
				rule_used[r] = true;
			free_names(names, n);
			names = NULL;
			n = 0;
			continue;
		}
		ferry_name rm;
		if (ferry_name_parse(o->remove_names[r], &rm, err) < 0) {
			free_names(names, n);
			return -1;
		}
		for (size_t i = 0; i < n;) {
			if (ferry_name_eq(&names[i], &rm)) {
				ferry_name_free(&names[i]);
				memmove(&names[i], &names[i + 1], (n - i - 1) * sizeof(*names));
				n--;
				rule_used[r] = true;
			} else {
				i++;
			}
		}
		ferry_name_free(&rm);
	}
	if (before > 0 && n == 0)
		*lost_all = true;
	for (size_t r = 0; r < o->n_tag_rules; r++) {
		ferry_name from, to;
		if (ferry_entry_has_digest(e, o->tag_rules[r].from)) {
			if (ferry_name_parse(o->tag_rules[r].to, &to, err) < 0) {
				free_names(names, n);
				return -1;
			}
			rule_used[o->n_remove_names + r] = true;
			if (!o->tag_rules[r].add) {
				free_names(names, n);
				names = NULL;
				n = 0;
			}
			push_name(&names, &n, &to);
			continue;
		}
		if (ferry_name_parse(o->tag_rules[r].from, &from, err) < 0) {
			free_names(names, n);
			return -1;
		}
		if (ferry_name_parse(o->tag_rules[r].to, &to, err) < 0) {
			ferry_name_free(&from);
			free_names(names, n);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			if (!ferry_name_eq(&names[i], &from))
				continue;
			rule_used[o->n_remove_names + r] = true;
			if (!o->tag_rules[r].add) {
				ferry_name_free(&names[i]);
				memmove(&names[i], &names[i + 1], (n - i - 1) * sizeof(*names));
				n--;
			}
			ferry_name t2;
			ferry_name_copy(&t2, &to);
			push_name(&names, &n, &t2);
			break;
		}
		ferry_name_free(&from);
		ferry_name_free(&to);
	}
	for (size_t i = 0; i < n; i++) {
		if (!names[i].has_ref)
			continue;
		if (o->registry && ferry_ref_set_domain(&names[i].ref, o->registry, err) < 0) {
			ferry_error_prefix(err, "--registry");
			free_names(names, n);
			return -1;
		}
		if (o->prefix && ferry_ref_set_prefix(&names[i].ref, o->prefix, err) < 0) {
			ferry_error_prefix(err, "--prefix");
			free_names(names, n);
			return -1;
		}
	}
	*out = names;
	*n_out = n;
	return 0;
}

static ferry_image *pick_platform(ferry_image *img, const ferry_platform *want)
{
	if (!img->is_index) {
		const ferry_platform *p = ferry_image_platform(img);
		return p && ferry_platform_match(p, want) ? img : NULL;
	}
	for (size_t i = 0; i < img->n_children; i++) {
		ferry_image *c = pick_platform(&img->children[i], want);
		if (c)
			return c;
	}
	return NULL;
}

static void free_works(work *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free_names(w[i].names, w[i].n_names);
		free(w[i].label_owned);
	}
	free(w);
}

/* The same image? By manifest digest, or (legacy archives have no manifests) by config digest. */
static bool same_image(const ferry_image *a, const ferry_image *b)
{
	if (ferry_digest_is_set(&a->desc.digest) || ferry_digest_is_set(&b->desc.digest))
		return ferry_digest_eq(&a->desc.digest, &b->desc.digest);
	return !a->is_index && !b->is_index && ferry_digest_eq(&a->config.desc.digest, &b->config.desc.digest);
}

static int plan_works(engine *E, work **out, size_t *n_out, ferry_error *err)
{
	const ferry_convert_opts *o = E->o;
	ferry_platform want = {0};
	if (o->platform && ferry_platform_parse(&want, o->platform, err) < 0)
		return -1;
	bool *img_matched = ferry_xcalloc(o->n_images + 1, sizeof(bool));
	bool *rule_used = ferry_xcalloc(o->n_remove_names + o->n_tag_rules + 1, sizeof(bool));
	work *w = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;
	ferry_error_clear(err);
	for (size_t i = 0; i < E->src->n_entries; i++) {
		ferry_entry *e = &E->src->entries[i];
		if (!entry_selected(e, o, img_matched, err)) {
			if (err && err->code)
				goto out;
			continue;
		}
		ferry_name *names;
		size_t nn;
		bool lost_all;
		if (retag(e, o, rule_used, &names, &nn, &lost_all, err) < 0)
			goto out;
		if (lost_all) { /* untagged completely: the image leaves the index */
			free_names(names, nn);
			continue;
		}
		ferry_image *img = &e->img;
		/* Messages name the image as it is written out. */
		char *label = nn ? ferry_name_string(&names[0])
			      : e->n_names ? ferry_name_string(&e->names[0])
					 : ferry_xasprintf("image %s", e->img.desc.digest.str[0]
									       ? e->img.desc.digest.str
									       : e->img.config.desc.digest.str);
		if (o->platform) {
			img = pick_platform(img, &want);
			if (!img) {
				char *ps = ferry_platform_string(&want);
				char msg[512];
				snprintf(msg, sizeof(msg), "%s has no %s image: left out", label, ps);
				emit(E, FERRY_EV_WARNING, label, NULL, 0, 0, msg);
				free(ps);
				free(label);
				free_names(names, nn);
				continue;
			}
		}
		work *wk = FERRY_PUSH(w, n, cap);
		wk->img = img;
		wk->names = names;
		wk->n_names = nn;
		wk->label_owned = label;
		wk->label = label;
	}
	for (size_t i = 0; i < o->n_images; i++) {
		if (!img_matched[i]) {
			ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image named %s", E->src->display, o->images[i]);
			goto out;
		}
	}
	for (size_t r = 0; r < o->n_remove_names; r++) {
		if (!rule_used[r]) {
			ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image named %s", E->src->display,
					o->remove_names[r]);
			goto out;
		}
	}
	for (size_t r = 0; r < o->n_tag_rules; r++) {
		if (!rule_used[o->n_remove_names + r]) {
			ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image named %s", E->src->display,
					o->tag_rules[r].from);
			goto out;
		}
	}
	/* Two different images must not end up with one name. */
	for (size_t a = 0; a < n; a++) {
		for (size_t b = a + 1; b < n; b++) {
			for (size_t i = 0; i < w[a].n_names; i++) {
				if (names_have(w[b].names, w[b].n_names, &w[a].names[i]) && !same_image(w[a].img, w[b].img)) {
					char *s = ferry_name_string(&w[a].names[i]);
					ferry_error_set(err, FERRY_E_USAGE, "two different images would both be named %s", s);
					free(s);
					goto out;
				}
			}
		}
	}
	if (n == 0 && E->src->n_entries > 0 && o->platform) {
		ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image for platform %s", E->src->display, o->platform);
		goto out;
	}
	rc = 0;
out:
	ferry_platform_free(&want);
	free(img_matched);
	free(rule_used);
	if (rc < 0) {
		free_works(w, n);
		return -1;
	}
	*out = w;
	*n_out = n;
	return 0;
}

/* ---- layers ---- */

static const char *canonical(engine *E, const char *path)
{
	ferry_tree *t = E->src->tree;
	return t->ops->canonical ? t->ops->canonical(t, path) : path;
}

static void add_jobs(engine *E, ferry_image *img, size_t owner)
{
	if (img->is_index) {
		for (size_t i = 0; i < img->n_children; i++)
			add_jobs(E, &img->children[i], owner);
		return;
	}
	for (size_t i = 0; i < img->n_layers; i++) {
		ferry_blob *b = &img->layers[i];
		/* A symlinked copy of a layer (legacy archives) is the same job. */
		const char *key = canonical(E, b->path);
		uintptr_t have = (uintptr_t)ferry_strmap_get(&E->job_by_path, key);
		if (have) {
			ferry_strmap_put(&E->job_by_path, b->path, (void *)have);
			continue;
		}
		layer_job *j = FERRY_PUSH(E->jobs, E->n_jobs, E->cap_jobs);
		memset(j, 0, sizeof(*j));
		j->blob = b;
		j->owner = owner;
		ferry_strmap_put(&E->job_by_path, key, (void *)(uintptr_t)E->n_jobs);
		ferry_strmap_put(&E->job_by_path, b->path, (void *)(uintptr_t)E->n_jobs);
	}
}

static layer_job *job_of(engine *E, const ferry_blob *b)
{
	uintptr_t v = (uintptr_t)ferry_strmap_get(&E->job_by_path, b->path);
	return v ? &E->jobs[v - 1] : NULL;
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
		emit(p->E, FERRY_EV_BLOB_PROGRESS, NULL, p->digest, p->done, p->total, p->path);
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

/* The most a layer of this many bytes may decompress to: more is a bomb. */
static uint64_t inflate_cap(uint64_t size)
{
	uint64_t cap = size * FERRY_INFLATE_RATIO;
	return cap < FERRY_INFLATE_MIN ? FERRY_INFLATE_MIN : cap;
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
	lock(&E->mu, E);
	int rc = t->ops->open(t, b->path, &in, &size, &e);
	unlock(&E->mu, E);
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
	lock(&E->mu, E);
	ferry_istream_close(in);
	unlock(&E->mu, E);
	*e_out = e;
	return rc;
}

static bool written_has(engine *E, const ferry_digest *d)
{
	lock(&E->mu, E);
	bool has = ferry_strmap_has(&E->written, d->str);
	unlock(&E->mu, E);
	return has;
}

/* Count a blob that reached the store, or that it had (existed); returns what to say of it.  Under mu. */
static ferry_event_kind count_blob(engine *E, bool existed, const ferry_digest *d, uint64_t size, uint64_t read)
{
	ferry_event_kind ev = FERRY_EV_BLOB_WRITTEN;
	E->st->bytes_read += read;
	/* Lanes writing side by side: the same bytes from two paths, both ended; the second is the dedup. */
	if (!existed && ferry_strmap_has(&E->written, d->str))
		existed = true;
	if (existed) {
		/* Another path of this run (a symlinked copy, another image) wrote these bytes, or the destination had them. */
		bool ours = ferry_strmap_has(&E->written, d->str);
		ev = ours ? FERRY_EV_BLOB_DEDUP : FERRY_EV_BLOB_EXISTS;
		if (ours)
			E->st->blobs_dedup++;
		else
			E->st->blobs_existing++;
	} else {
		ferry_strmap_put(&E->written, d->str, (void *)1);
		E->st->bytes_written += size;
		E->st->blobs_written++;
	}
	return ev;
}

/* Count a blob that reached the store, or that it had (existed), and say so. */
static void account_blob(engine *E, bool existed, const ferry_digest *d, uint64_t size, uint64_t read,
			 const char *path)
{
	lock(&E->mu, E);
	ferry_event_kind ev = count_blob(E, existed, d, size, read);
	unlock(&E->mu, E);
	emit(E, ev, NULL, d, size, size, path);
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
	lock_store(E);
	bool existed = p->pre || written_has(E, &p->d) || E->store->ops->has_blob(E->store, &p->d);
	int rc = 0;
	if (!existed) {
		/* The store takes the spool (a tar copies it in on a thread of its own while this lane goes on). */
		int fd = p->fd;
		p->fd = -1;
		rc = E->store->ops->put_spool(E->store, fd, &p->d, p->size, err);
	}
	unlock_store(E);
	if (rc == 0)
		account_blob(E, existed, &p->d, p->size, p->read, p->path);
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
 * over whatever is due.
 */
static int park(engine *E, lane *L, parked *p, ferry_error *err)
{
	pthread_mutex_lock(&E->mu);
	while (E->n_parked >= PARKED_MAX && E->turn != p->ticket && !E->lane_failed)
		pthread_cond_wait(&E->turn_cv, &E->mu);
	if (E->lane_failed) {
		pthread_mutex_unlock(&E->mu);
		int rc = ferry_error_set(err, FERRY_E_FAILED, "layer %s: stopped (another layer failed)", p->path);
		free_parked(p);
		L->stopped = true;
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
	return drain(E, err);
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
	ferry_comp want = layer_target(E, sniffed);
	bool transform = want != sniffed;
	j->found = sniffed;
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
	lock_store(E);
	bool pre = ferry_digest_is_set(&expect) && E->store->ops->has_blob(E->store, &expect);
	unlock_store(E);
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
			j->out.media_type = ferry_xstrdup(layer_mt(sniffed, E->o->docker_manifests));
		lock(&E->mu, E);
		bool ours = ferry_strmap_has(&E->written, expect.str);
		if (ours)
			E->st->blobs_dedup++;
		else
			E->st->blobs_existing++;
		unlock(&E->mu, E);
		emit(E, ours ? FERRY_EV_BLOB_DEDUP : FERRY_EV_BLOB_EXISTS, NULL, &expect, 0, in_size, b->path);
		return 0;
	}
	emit(E, FERRY_EV_BLOB_START, NULL, have_digest ? &d->digest : NULL, 0, in_size, b->path);
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
		if (!wait_turn(E, L))
			return ferry_error_set(err, FERRY_E_FAILED, "layer %s: stopped (another layer failed)", b->path);
		lock_store(E);
		if (E->store->ops->blob_begin(E->store, pre || !ferry_digest_is_set(&expect) ? NULL : &expect,
					      pre ? -1 : expect_size, &store_out, err) < 0) {
			unlock_store(E);
			end_turn(E, L, false, NULL);
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
		      *src_hash = NULL, *to_decode = NULL, *tee = NULL;
	ferry_ostream *head_stage;
	/* Compressing a plain layer: its digest is its diff_id, hashed once, and nothing to decode. */
	bool plain_src = transform && sniffed == FERRY_COMP_NONE && want != FERRY_COMP_NONE &&
			 (!have_digest || d->digest.alg == FERRY_ALG_SHA256);
	if (!transform && check_kept_diff_id(E, sniffed, b)) {
		/* Kept as it is, and decompressed beside the store on a thread of its own only to be checked. */
		diff_hash = ferry_ostream_hash(FERRY_ALG_SHA256, NULL);
		decode = ferry_ostream_decode(diff_hash, inflate_cap(in_size));
		to_decode = ferry_ostream_async(decode, 4, FERRY_IO_CHUNK);
		tee = ferry_ostream_tee(to_store, to_decode);
		head_stage = out_hash = ferry_ostream_hash(out_alg, tee);
	} else if (!transform) {
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
		decode = ferry_ostream_decode(to_mid, inflate_cap(in_size));
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
		if (diff_hash)
			ferry_hash_result(diff_hash, &diff_d, &diff_n);
		else if (sniffed == FERRY_COMP_NONE && out_alg == FERRY_ALG_SHA256)
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
	ferry_ostream_free(tee);
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
		existed = rc == 0 && (pre || written_has(E, &out_d) ||
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
				ev = count_blob(E, existed, &out_d, out_n, src_n);
				counted = true;
			}
			pthread_mutex_unlock(&E->mu);
		}
		unlock_store(E);
		if (rc < 0 || rc2 < 0) {
			end_turn(E, L, false, NULL);
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
		j->out.media_type = ferry_xstrdup(layer_mt(want, E->o->docker_manifests));
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
		return park(E, L, p, err);
	}
	/* Counted before the turn passes on: a later blob with these bytes then counts as a dedup. */
	if (counted)
		emit(E, ev, NULL, &out_d, out_n, out_n, b->path);
	else
		account_blob(E, existed, &out_d, out_n, src_n, b->path);
	return end_turn(E, L, true, err);
}

/*
 * Run job j from in (closed here).  When the store lost the upload (a
 * network fault, after which the registry forgot the session), it runs
 * again from a fresh read of the source, up to three more times, if the
 * source can be read again.
 */
static int run_job_retrying(engine *E, lane *L, layer_job *j, ferry_istream *in, uint64_t size, ferry_error *err)
{
	ferry_tree *tree = E->src->tree;
	int rc = run_job(E, L, j, in, size, err);
	for (int attempt = 0;; attempt++) {
		lock(&E->mu, E); /* the tree is shared between lanes */
		ferry_istream_close(in);
		unlock(&E->mu, E);
		if (rc == 0 || attempt >= 3 || tree->one_pass || !E->store->ops->retryable ||
		    !E->store->ops->retryable(E->store))
			return rc;
		char msg[FERRY_ERROR_MSG_MAX + 64];
		snprintf(msg, sizeof(msg), "%s; sending the blob again", err ? err->msg : "upload failed");
		emit(E, FERRY_EV_WARNING, NULL, NULL, 0, 0, msg);
		lock(&E->mu, E);
		int o = tree->ops->open(tree, j->blob->path, &in, &size, err);
		unlock(&E->mu, E);
		if (o < 0)
			return -1;
		rc = run_job(E, L, j, in, size, err);
	}
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
 * to the repository of the image that owns them: see set_owner).
 */
static bool lanes_pay(engine *E, const size_t *idx, size_t n_jobs)
{
	/* FERRY_LANES_TEST=1: one lane (tests compare the two runs' bytes). */
	if (n_jobs < 2 || !E->src->tree->concurrent || ferry_env_size("FERRY_LANES_TEST", 1, 2, 2) != 2)
		return false;
	/* What each layer becomes, as far as its media type tells. */
	bool all_kept = true, all_plain = true, compresses = false;
	for (size_t i = 0; i < n_jobs; i++) {
		const layer_job *j = &E->jobs[idx[i]];
		ferry_comp said = comp_of_mt(j->blob->desc.media_type), to = layer_target(E, said);
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
	return E->store->spools && E->store->ops->put_spool && all_plain;
}

/* The layers still to do, taken by the lanes one at a time (under E->mu). */
typedef struct job_list {
	engine *E;
	const char **paths;
	size_t *idx;
	size_t n;
	uint64_t tickets; /* jobs taken so far */
	bool failed;
	ferry_error err; /* the first lane's failure */
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
		pthread_mutex_lock(&E->mu);
		if (jl->failed || jl->n == 0) {
			pthread_mutex_unlock(&E->mu);
			break;
		}
		int rc = tree->ops->open_any(tree, jl->paths, jl->n, &which, &in, &size, &e);
		if (rc == 0) {
			job = jl->idx[which];
			jl->paths[which] = jl->paths[jl->n - 1];
			jl->idx[which] = jl->idx[jl->n - 1];
			jl->n--;
			L.ticket = jl->tickets++;
			L.had_turn = false;
			L.stopped = false;
		}
		pthread_mutex_unlock(&E->mu);
		if (rc == 0) {
			rc = run_job_retrying(E, &L, &E->jobs[job], in, size, &e);
			/* A job that wrote nothing still passes its turn on, in order. */
			if (rc == 0 && E->ordered && !L.had_turn) {
				parked *p = ferry_xcalloc(1, sizeof(*p));
				p->ticket = L.ticket;
				p->fd = -1;
				p->path = E->jobs[job].blob->path;
				rc = park(E, &L, p, &e);
			}
		}
		if (rc < 0) {
			pthread_mutex_lock(&E->mu);
			/* The lane that failed reports; one that merely stopped for it does not. */
			if (!jl->failed && !L.stopped) {
				jl->failed = true;
				jl->err = e;
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
static int run_lanes(engine *E, const char **paths, size_t *idx, size_t n, ferry_error *err)
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
		ferry_error_set(&jl.err, FERRY_E_FAILED, "writing layers: stopped");
	}
	/* Blobs still parked after a failure are dropped; without one there are none (every turn came). */
	if (!jl.failed && E->parked) {
		jl.failed = true;
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
	/* Writing errors name the destination already; the rest are about the source. */
	if (jl.err.code != FERRY_E_FAILED)
		ferry_error_prefix(&jl.err, "%s", E->src->display);
	if (err)
		*err = jl.err;
	return -1;
}

/* Tell the store which image the next blobs are for (a registry uploads them into its repository). */
static void set_owner(engine *E, size_t w)
{
	if (E->store->ops->set_owner)
		E->store->ops->set_owner(E->store, E->works[w].names, E->works[w].n_names);
}

static int run_jobs(engine *E, ferry_error *err)
{
	ferry_tree *tree = E->src->tree;
	const char **paths = ferry_xcalloc(E->n_jobs + 1, sizeof(char *));
	size_t *idx = ferry_xcalloc(E->n_jobs + 1, sizeof(size_t));
	int rc = 0;
	/* A layer kept as it is and already in the destination is not read at all. */
	for (size_t i = 0; i < E->n_jobs; i++) {
		layer_job *j = &E->jobs[i];
		const ferry_descriptor *d = &j->blob->desc;
		ferry_comp said = comp_of_mt(d->media_type), want = layer_target(E, said);
		bool kept = want == said;
		set_owner(E, j->owner);
		if (kept && ferry_digest_is_set(&d->digest) && d->media_type &&
		    E->store->ops->has_blob(E->store, &d->digest)) {
			j->done = true;
			j->found = j->comp = said;
			ferry_descriptor_copy(&j->out, d);
			E->st->blobs_existing++;
			emit(E, FERRY_EV_BLOB_EXISTS, NULL, &d->digest, 0, d->size, j->blob->path);
			continue;
		}
		/*
		 * A layer to be compressed that an earlier run already compressed
		 * (compression is deterministic, so the diff_id fixes the result):
		 * if the destination has that blob, neither read nor compress it.
		 */
		ferry_digest cd;
		uint64_t csize;
		if (!kept && want != FERRY_COMP_NONE && said == FERRY_COMP_NONE && E->cache &&
		    ferry_digest_is_set(&j->blob->diff_id) &&
		    ferry_blobcache_compressed(E->cache, &j->blob->diff_id, want, E->level, &cd, &csize) &&
		    E->store->ops->has_blob(E->store, &cd)) {
			j->done = true;
			j->transformed = true;
			j->found = said;
			j->comp = want;
			ferry_descriptor_copy(&j->out, d);
			j->out.digest = cd;
			j->out.size = csize;
			free(j->out.media_type);
			j->out.media_type = ferry_xstrdup(layer_mt(want, E->o->docker_manifests));
			E->st->blobs_existing++;
			emit(E, FERRY_EV_BLOB_EXISTS, NULL, &cd, 0, csize, j->blob->path);
		}
	}
	size_t n = 0;
	for (size_t i = 0; i < E->n_jobs; i++) {
		if (!E->jobs[i].done) {
			paths[n] = E->jobs[i].blob->path;
			idx[n++] = i;
		}
	}
	tree->ops->want(tree, paths, n);
	if (lanes_pay(E, idx, n)) {
		set_owner(E, E->jobs[idx[0]].owner);
		rc = run_lanes(E, paths, idx, n, err);
		n = 0;
	}
	lane L = {.buf = ferry_xmalloc(FERRY_IO_CHUNK)};
	while (n > 0 && rc == 0) {
		size_t which;
		ferry_istream *in;
		uint64_t size;
		if (tree->ops->open_any(tree, paths, n, &which, &in, &size, err) < 0) {
			rc = -1;
			break;
		}
		layer_job *j = &E->jobs[idx[which]];
		set_owner(E, j->owner);
		rc = run_job_retrying(E, &L, j, in, size, err);
		if (rc < 0) {
			/* Writing errors name the destination already; the rest are about the source. */
			if (err && err->code != FERRY_E_FAILED)
				ferry_error_prefix(err, "%s", E->src->display);
			break;
		}
		paths[which] = paths[n - 1];
		idx[which] = idx[n - 1];
		n--;
	}
	free(L.buf);
	free(paths);
	free(idx);
	return rc;
}

/* ---- manifests ---- */

static int put_bytes_blob(engine *E, const ferry_digest *d, const void *buf, size_t len, ferry_error *err)
{
	bool ask = !E->store->ops->cheap_to_send || !E->store->ops->cheap_to_send(E->store, d, len);
	if (ask && E->store->ops->has_blob(E->store, d))
		return 0;
	ferry_ostream *out;
	if (E->store->ops->blob_begin(E->store, d, (int64_t)len, &out, err) < 0)
		return -1;
	int rc = ferry_write(out, buf, len, err);
	if (rc == 0)
		rc = ferry_finish(out, err);
	if (E->store->ops->blob_end(E->store, out, rc == 0, d, len, rc == 0 ? err : NULL) < 0)
		return -1;
	if (rc == 0)
		E->st->blobs_written++;
	return rc;
}

static void add_out_image(ferry_out_entry *oe, const ferry_descriptor *mdesc, const ferry_image *img,
			  const ferry_descriptor *layers)
{
	oe->images = ferry_xrealloc(oe->images, (oe->n_images + 1) * sizeof(*oe->images));
	ferry_out_image *oi = &oe->images[oe->n_images++];
	memset(oi, 0, sizeof(*oi));
	ferry_descriptor_copy(&oi->manifest, mdesc);
	oi->config = img->config.desc.digest;
	oi->n_layers = img->n_layers;
	oi->layers = ferry_xcalloc(img->n_layers ? img->n_layers : 1, sizeof(ferry_digest));
	for (size_t i = 0; i < img->n_layers; i++)
		oi->layers[i] = layers[i].digest;
}

static int write_doc(engine *E, const char *label, const ferry_descriptor *src_desc, const unsigned char *bytes,
		     size_t len, const char *mt, ferry_descriptor *out, ferry_error *err)
{
	ferry_descriptor_copy(out, src_desc);
	free(out->media_type);
	out->media_type = ferry_xstrdup(mt);
	ferry_digest_buffer(FERRY_ALG_SHA256, bytes, len, &out->digest);
	out->size = len;
	if (E->store->ops->put_manifest) {
		if (E->store->ops->put_manifest(E->store, &out->digest, mt, bytes, len, err) < 0) {
			ferry_error_prefix(err, "%s: writing manifest", label);
			return -1;
		}
		return 0;
	}
	if (put_bytes_blob(E, &out->digest, bytes, len, err) < 0) {
		ferry_error_prefix(err, "%s: writing manifest", label);
		return -1;
	}
	return 0;
}

static int write_image(engine *E, const char *label, ferry_image *img, ferry_out_entry *oe, ferry_descriptor *out,
		       ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	if (img->is_index) {
		ferry_index ix = {0};
		ix.media_type = ferry_xstrdup(E->o->docker_manifests ? FERRY_MT_DOCKER_LIST : FERRY_MT_OCI_INDEX);
		ix.n_manifests = img->n_children;
		ix.manifests = ferry_xcalloc(img->n_children ? img->n_children : 1, sizeof(ferry_descriptor));
		ix.annotations = img->index.annotations ? json_incref(img->index.annotations) : NULL;
		bool same = img->bytes != NULL;
		for (size_t i = 0; i < img->n_children; i++) {
			if (write_image(E, label, &img->children[i], oe, &ix.manifests[i], err) < 0) {
				ferry_index_free(&ix);
				return -1;
			}
			same = same && ferry_digest_eq(&ix.manifests[i].digest, &img->children[i].desc.digest);
		}
		/* A full index whose children are unchanged and that skipped nothing keeps its bytes. */
		same = same && img->n_children == img->index.n_manifests;
		int rc;
		if (same) {
			rc = write_doc(E, label, &img->desc, img->bytes, img->len,
				       img->desc.media_type ? img->desc.media_type : img->index.media_type, out, err);
		} else {
			char *s;
			size_t len;
			ferry_index_serialize(&ix, &s, &len, err);
			rc = write_doc(E, label, &img->desc, (unsigned char *)s, len, ix.media_type, out, err);
			free(s);
		}
		ferry_index_free(&ix);
		return rc;
	}
	/* The config: bytes never change, so the image ID stays the same. */
	if (put_bytes_blob(E, &img->config.desc.digest, img->config_bytes, img->config_len, err) < 0) {
		ferry_error_prefix(err, "%s: writing config", label);
		return -1;
	}
	ferry_descriptor *layers = ferry_xcalloc(img->n_layers ? img->n_layers : 1, sizeof(*layers));
	bool keep = img->bytes != NULL && !(E->o->docker_manifests &&
					     strcmp(img->manifest.media_type, FERRY_MT_DOCKER_MANIFEST) != 0);
	for (size_t i = 0; i < img->n_layers; i++) {
		layer_job *j = job_of(E, &img->layers[i]);
		ferry_descriptor_copy(&layers[i], &j->out);
		if (j->transformed || !ferry_digest_eq(&j->out.digest, &img->layers[i].desc.digest))
			keep = false;
	}
	int rc;
	if (keep) {
		rc = write_doc(E, label, &img->desc, img->bytes, img->len, img->manifest.media_type, out, err);
	} else {
		bool docker = E->o->docker_manifests;
		ferry_manifest m = {0};
		m.media_type = ferry_xstrdup(docker ? FERRY_MT_DOCKER_MANIFEST : FERRY_MT_OCI_MANIFEST);
		ferry_descriptor_copy(&m.config, &img->config.desc);
		free(m.config.media_type);
		m.config.media_type = ferry_xstrdup(docker ? FERRY_MT_DOCKER_CONFIG : FERRY_MT_OCI_CONFIG);
		m.n_layers = img->n_layers;
		m.layers = layers;
		m.annotations = img->manifest.annotations ? json_incref(img->manifest.annotations) : NULL;
		rc = 0;
		for (size_t i = 0; i < img->n_layers && rc == 0; i++) {
			layer_job *j = job_of(E, &img->layers[i]);
			if (docker && j->comp == FERRY_COMP_ZSTD)
				rc = ferry_error_set(err, FERRY_E_USAGE,
						     "%s: Docker schema 2 manifests cannot describe zstd layers", label);
			free(layers[i].media_type);
			layers[i].media_type = ferry_xstrdup(layer_mt(j->comp, docker));
		}
		if (rc == 0) {
			char *s;
			size_t len;
			ferry_manifest_serialize(&m, &s, &len, err);
			rc = write_doc(E, label, &img->desc, (unsigned char *)s, len, m.media_type, out, err);
			free(s);
		}
		m.layers = NULL; /* borrowed from layers[], freed below */
		m.n_layers = 0;
		ferry_manifest_free(&m);
	}
	if (rc == 0) {
		/* Carry the platform, so index and docker writers can use it. */
		const ferry_platform *p = ferry_image_platform(img);
		if (p && !out->platform) {
			out->platform = ferry_xcalloc(1, sizeof(*out->platform));
			ferry_platform_copy(out->platform, p);
		}
		add_out_image(oe, out, img, layers);
		E->st->images++;
		emit(E, FERRY_EV_IMAGE_DONE, label, &out->digest, 0, 0, img->config.desc.digest.str);
	}
	for (size_t i = 0; i < img->n_layers; i++)
		ferry_descriptor_free(&layers[i]);
	free(layers);
	return rc;
}

/* Which of img's layers were zstd in the source: *kept says some stayed so, *undone that some were decompressed. */
static void zstd_layers(engine *E, const ferry_image *img, bool *kept, bool *undone)
{
	for (size_t i = 0; i < img->n_children; i++)
		zstd_layers(E, &img->children[i], kept, undone);
	for (size_t i = 0; i < img->n_layers; i++) {
		const layer_job *j = job_of(E, &img->layers[i]);
		*kept = *kept || j->comp == FERRY_COMP_ZSTD;
		*undone = *undone || (j->found == FERRY_COMP_ZSTD && j->comp == FERRY_COMP_NONE);
	}
}

/*
 * docker-archive: say what zstd costs an image.  Decompressed (the default)
 * its manifest digest changes; kept, older docker load cannot read it.
 */
static void say_zstd(engine *E, const work *w, const ferry_descriptor *out)
{
	bool kept = false, undone = false;
	if (E->dfmt->layers != FERRY_LAYERS_LOADABLE)
		return;
	zstd_layers(E, w->img, &kept, &undone);
	char msg[FERRY_ERROR_MSG_MAX];
	if (undone && !E->o->compress_set && ferry_digest_is_set(&w->img->desc.digest) &&
	    !ferry_digest_eq(&w->img->desc.digest, &out->digest)) {
		snprintf(msg, sizeof(msg),
			 "%s: zstd layers decompressed for docker load, so its digest changes from %s to %s "
			 "(--keep-zstd keeps them)",
			 w->label, w->img->desc.digest.str, out->digest.str);
		emit(E, FERRY_EV_WARNING, w->label, NULL, 0, 0, msg);
	}
	if (kept) {
		snprintf(msg, sizeof(msg), "%s: has zstd layers, which Docker 20.10's docker load cannot read", w->label);
		emit(E, FERRY_EV_WARNING, w->label, NULL, 0, 0, msg);
	}
}

/* ---- the whole conversion ---- */

static int open_store(engine *E, const ferry_location *dl, work *works, size_t n_works, ferry_error *err)
{
	if (dl->fmt == FERRY_FMT_OCI)
		return ferry_store_open_dir(dl->path, &E->store, err);
	if (dl->fmt != FERRY_FMT_REGISTRY)
		return ferry_store_open_tar(dl->path, dl->comp, &E->store, err);
	size_t n = 0;
	for (size_t i = 0; i < n_works; i++)
		n += works[i].n_names;
	ferry_name *names = ferry_xcalloc(n ? n : 1, sizeof(*names));
	n = 0;
	for (size_t i = 0; i < n_works; i++) {
		for (size_t k = 0; k < works[i].n_names; k++)
			names[n++] = works[i].names[k]; /* shallow: borrowed for the call */
	}
	ferry_registry_opts def;
	ferry_registry_opts_init(&def);
	int rc = ferry_store_open_registry(E->o->registry_opts ? E->o->registry_opts : &def, names, n, E->cache,
					   &E->store, err);
	free(names);
	return rc;
}

/*
 * docker://DEST for a push: "" keeps every image's own name, a full
 * reference (with a tag or digest) names the one image being pushed,
 * HOST[:PORT] moves every name to that registry and HOST[:PORT]/PATH puts
 * every repository under that prefix.
 */
static int push_names(const char *dest, work *works, size_t n, ferry_error *err)
{
	if (!*dest)
		return 0;
	/* No '/' at all: a registry host ("HOST:PORT" would otherwise read as name:tag). */
	ferry_ref full;
	bool parsed = strchr(dest, '/') && ferry_ref_parse(&full, dest, NULL) == 0;
	bool is_full = parsed && (full.tag || ferry_digest_is_set(&full.digest));
	if (parsed && !is_full)
		ferry_ref_free(&full);
	if (is_full) {
		if (n != 1) {
			ferry_ref_free(&full);
			return ferry_error_set(err, FERRY_E_USAGE,
					       "docker://%s names one image, but %zu images are selected (use --image, "
					       "or a docker://HOST[/PATH] destination)",
					       dest, n);
		}
		free_names(works[0].names, works[0].n_names);
		works[0].names = ferry_xcalloc(1, sizeof(ferry_name));
		works[0].names[0].has_ref = true;
		works[0].names[0].ref = full;
		works[0].n_names = 1;
		return 0;
	}
	bool prefix = strchr(dest, '/') != NULL;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < works[i].n_names; k++) {
			ferry_name *nm = &works[i].names[k];
			if (!nm->has_ref)
				continue;
			int rc = prefix ? ferry_ref_set_prefix(&nm->ref, dest, err) : ferry_ref_set_domain(&nm->ref, dest, err);
			if (rc < 0) {
				ferry_error_prefix(err, "docker://%s", dest);
				return -1;
			}
		}
	}
	return 0;
}

int ferry_convert_in(ferry_source *src, const ferry_location *dl, const ferry_convert_opts *o, bool replace_index,
		     ferry_convert_stats *stats, ferry_error *err)
{
	ferry_convert_stats dummy;
	if (!stats)
		stats = &dummy;
	memset(stats, 0, sizeof(*stats));
	engine E = {0};
	E.o = o;
	E.src = src;
	E.st = stats;
	E.dfmt = ferry_format_by_id(dl->fmt);
	const char *cpath = o->cache_path;
	if (!cpath || *cpath)
		E.cache = ferry_blobcache_open(cpath);
	/* Without --compress, what a policy compresses is gzipped at its default level. */
	E.level = o->level ? o->level
		: o->compress_set && o->compress == FERRY_COMP_ZSTD ? FERRY_ZSTD_DEFAULT_LEVEL
								     : FERRY_GZIP_DEFAULT_LEVEL;
	work *works = NULL;
	size_t n_works = 0;
	ferry_out_entry *oes = NULL;
	size_t n_oes = 0;
	int rc = -1;
	if (ferry_source_require_images(src, err) < 0 || plan_works(&E, &works, &n_works, err) < 0)
		goto out;
	if (dl->fmt == FERRY_FMT_REGISTRY && push_names(dl->path, works, n_works, err) < 0)
		goto out;
	if (open_store(&E, dl, works, n_works, err) < 0)
		goto out;
	E.store->on_event = o->on_event;
	E.store->event_ud = o->event_ud;
	E.store_path = strcmp(dl->path, "-") == 0 ? NULL : dl->path;
	E.works = works;
	for (size_t i = 0; i < n_works; i++)
		add_jobs(&E, works[i].img, i);
	if (run_jobs(&E, err) < 0)
		goto out;
	oes = ferry_xcalloc(n_works ? n_works : 1, sizeof(*oes));
	for (size_t i = 0; i < n_works; i++) {
		work *w = &works[i];
		ferry_out_entry *oe = &oes[n_oes++];
		set_owner(&E, i);
		if (write_image(&E, w->label, w->img, oe, &oe->desc, err) < 0)
			goto out;
		say_zstd(&E, w, &oe->desc);
		for (size_t k = 0; k < w->n_names; k++) {
			ferry_name nm;
			ferry_name_copy(&nm, &w->names[k]);
			if (E.dfmt->needs_repository && !nm.has_ref) {
				char msg[512];
				snprintf(msg, sizeof(msg),
					 "%s is named only by the tag \"%s\" and has no repository: written untagged "
					 "(give it one with --repository NAME)",
					 w->label, nm.bare_tag);
				emit(&E, FERRY_EV_WARNING, w->label, NULL, 0, 0, msg);
			}
			oe->names = ferry_xrealloc(oe->names, (oe->n_names + 1) * sizeof(*oe->names));
			oe->names[oe->n_names++] = nm;
		}
	}
	if (replace_index ? ferry_oci_write_index(E.store, oes, n_oes, false, err) < 0
			  : E.dfmt->write_meta(E.store, oes, n_oes, err) < 0)
		goto out;
	/* Read a one-pass source to its end: a damaged tail must fail the run, not pass unseen. */
	if (src->tree->ops->finish(src->tree, err) < 0)
		goto out;
	if (E.store->ops->commit(E.store, err) < 0)
		goto out;
	rc = 0;
out:
	for (size_t i = 0; i < n_oes; i++)
		ferry_out_entry_free(&oes[i]);
	free(oes);
	free_works(works, n_works);
	for (size_t i = 0; i < E.n_jobs; i++)
		ferry_descriptor_free(&E.jobs[i].out);
	free(E.jobs);
	ferry_strmap_free(&E.job_by_path);
	ferry_strmap_free(&E.written);
	ferry_store_free(E.store);
	ferry_blobcache_close(E.cache);
	return rc;
}

int ferry_convert(const char *src_s, const char *dst_s, const ferry_convert_opts *o, ferry_convert_stats *stats,
		  ferry_error *err)
{
	ferry_location sl, dl;
	if (ferry_location_parse_dest(dst_s, o->format, &dl, err) < 0)
		return -1;
	if (ferry_location_parse_source(src_s, &sl, err) < 0) {
		ferry_location_free(&dl);
		return -1;
	}
	char *spool_parent =
		strcmp(dl.path, "-") == 0 || dl.fmt == FERRY_FMT_REGISTRY ? NULL : ferry_dest_parent(dl.path);
	ferry_source *src = NULL;
	int rc = ferry_source_open_at(&sl, src_s, spool_parent, o->registry_opts, &src, err);
	if (rc == 0)
		rc = ferry_convert_in(src, &dl, o, false, stats, err);
	ferry_source_free(src);
	free(spool_parent);
	ferry_location_free(&sl);
	ferry_location_free(&dl);
	return rc;
}

/* ---- tags in place ---- */

static int retag_in_place(const char *location, const ferry_convert_opts *o, ferry_error *err)
{
	ferry_location sl;
	if (ferry_location_parse_source(location, &sl, err) < 0)
		return -1;
	ferry_source *src = NULL;
	char *parent = strcmp(sl.path, "-") == 0 ? NULL : ferry_dest_parent(sl.path);
	int rc = -1;
	if (strcmp(sl.path, "-") == 0) {
		ferry_error_set(err, FERRY_E_USAGE, "tag and untag change a file in place: stdin cannot be used");
		goto out;
	}
	if (sl.fmt == FERRY_FMT_REGISTRY) {
		ferry_error_set(err, FERRY_E_USAGE, "tag and untag change files in place; to retag in a registry, push");
		goto out;
	}
	if (ferry_source_open_at(&sl, location, parent, NULL, &src, err) < 0)
		goto out;
	if (src->tree->one_pass) {
		ferry_error_set(err, FERRY_E_USAGE,
				"%s is compressed as a whole: convert it to retag it (tag rewrites it in place)",
				location);
		goto out;
	}
	ferry_location dl = {.fmt = src->format->id, .path = sl.path, .comp = FERRY_COMP_NONE};
	/* An OCI layout keeps exactly the entries that remain; archives are rewritten whole. */
	rc = ferry_convert_in(src, &dl, o, src->format->id == FERRY_FMT_OCI, NULL, err);
out:
	ferry_source_free(src);
	free(parent);
	ferry_location_free(&sl);
	return rc;
}

int ferry_tag(const char *location, const char *ref, const char *const *new_refs, size_t n, ferry_error *err)
{
	ferry_tag_rule *rules = ferry_xcalloc(n ? n : 1, sizeof(*rules));
	for (size_t i = 0; i < n; i++)
		rules[i] = (ferry_tag_rule){.from = ref, .to = new_refs[i], .add = true};
	/* Names change, blobs do not: zstd layers stay zstd too. */
	ferry_convert_opts o = {.tag_rules = rules, .n_tag_rules = n, .keep_zstd = true};
	int rc = retag_in_place(location, &o, err);
	free(rules);
	return rc;
}

int ferry_untag(const char *location, const char *const *refs, size_t n, ferry_error *err)
{
	ferry_convert_opts o = {.remove_names = refs, .n_remove_names = n, .keep_zstd = true};
	return retag_in_place(location, &o, err);
}
