/*
 * engine_int.h - the engine's own header: the digesting layer engine behind
 * convert, tag and untag, and the state its parts (plan, layers, job, lanes,
 * manifests, account, convert) share.
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
#ifndef FERRY_ENGINE_INT_H
#define FERRY_ENGINE_INT_H

#include <pthread.h>

#include "blobcache.h"
#include "engine.h"
#include "format.h"
#include "store_registry.h"
#include "location.h"
#include "strmap.h"
#include "testhooks.h"
#include "tmpname.h"
#include "util.h"

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
	ferry_image *subset; /* owned, shallow: an index narrowed to the kept platforms (img points at it) */
	bool artifact;        /* a referrer or cosign artifact, carried with its subject */
	ferry_digest subject; /* what it is about (when artifact) */
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
	bool writing_artifact;    /* the work being written is a referrer: counted apart from images */
	const char *store_path;   /* the destination file (NULL: stdout), for spools beside it */
	size_t n_works_checked;       /* works (for engine_check_expected) */
	bool in_place;                /* tag/untag rewriting a location: a delta stays a delta */
	struct ferry_inventory *have; /* --have: what the far side has (NULL: not a delta) */
	ferry_expected *left_out;     /* the layers left out for it */
	size_t n_left_out, cap_left_out;
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

/*
 * Where a layer job's failure came from, said by the code that failed: a
 * source's message gets the source's name in front; the destination's, and
 * a stop (a signal, or another lane's failure), name their place already.
 */
typedef enum { FROM_SOURCE, FROM_DEST, FROM_RUN } fail_origin;

/* ---- plan.c: which images go out, under which names ---- */
int engine_plan(engine *E, work **out, size_t *n_out, ferry_error *err);
int engine_push_names(const char *dest, work *works, size_t n, ferry_error *err);
void engine_free_works(work *w, size_t n);

/* ---- referrers.c: the artifacts that travel with their images ---- */
/*
 * The source entries (indexes, in order: each after its subject) that are
 * referrers of the works' images, recursively, not already taken, filtered
 * by --referrer-type; none under --no-referrers.  Caller frees.
 */
size_t *engine_referrers(engine *E, const work *works, size_t n_works, const bool *taken, size_t *n_out);
bool engine_referrer_type_wanted(const ferry_convert_opts *o, const ferry_image *img);
/* Cosign-tagged artifacts take the repositories of the image they are about (after retagging). */
void engine_referrers_follow(work *w, size_t n);

/* ---- layers.c: the layer list ---- */
const char *engine_layer_mt(ferry_comp c, bool docker);
ferry_comp engine_comp_of_mt(const char *mt);
/*
 * The destination's compression policy: what a layer whose bytes are in
 * compression found is written as.  --compress decides for every layer;
 * else the format does (formats/format.h).  A blob that is not a layer
 * (an artifact's: media type not a layer type) is always kept as it is.
 */
ferry_comp engine_layer_target(const engine *E, const ferry_blob *b, ferry_comp found);
void engine_add_jobs(engine *E, ferry_image *img, size_t owner);
layer_job *engine_job_of(engine *E, const ferry_blob *b);
void engine_set_owner(engine *E, size_t w);
/* Job j is done: its output is blob d (size bytes) in comp, transformed or as the source has it. */
void engine_job_fill(engine *E, layer_job *j, bool transformed, ferry_comp comp, const ferry_digest *d,
		     uint64_t size);
/* Before any job runs: leave out what a delta need not carry, check what it expects, skip what the destination has. */
int engine_prepare_jobs(engine *E, ferry_error *err);
/* Run the jobs of works [first_work, end_work) that are not done. */
int engine_run_jobs(engine *E, size_t first_work, size_t end_work, ferry_error *err);
void engine_source_failed(engine *E, const layer_job *j, ferry_error *err);
void engine_job_taken(const char **paths, size_t *idx, size_t n, size_t which);

/* ---- job.c: one layer job ---- */
int engine_run_job(engine *E, lane *L, layer_job *j, ferry_istream *in, uint64_t size, fail_origin *origin,
		   ferry_error *err);

/* ---- lanes.c: two lanes, taking turns at the store ---- */
bool lane_wait_turn(engine *E, lane *L);
int lane_end_turn(engine *E, lane *L, bool ok, ferry_error *err);
int lane_park(engine *E, lane *L, parked *p, fail_origin *origin, ferry_error *err);
void engine_lock(pthread_mutex_t *m, engine *E);
void engine_unlock(pthread_mutex_t *m, engine *E);
void engine_lock_store(engine *E);
void engine_unlock_store(engine *E);
bool engine_lanes_pay(engine *E, const size_t *idx, size_t n_jobs);
int engine_run_lanes(engine *E, const char **paths, size_t *idx, size_t n, ferry_error *err);

/* ---- account.c: events and stats (the only place the stats change) ---- */
void engine_emit(engine *E, ferry_event_kind kind, const char *name, const ferry_digest *d, uint64_t bytes,
		 uint64_t total, const char *msg);
bool engine_written_has(engine *E, const ferry_digest *d);
/* Count a layer blob that reached the store, or that it had (existed); returns what to say of it.  Under mu. */
ferry_event_kind engine_count_blob(engine *E, bool existed, const ferry_digest *d, uint64_t size, uint64_t read);
/* The same, taking mu, and say so (done: bytes of it this run moved, for the event). */
void engine_account_blob(engine *E, bool existed, const ferry_digest *d, uint64_t size, uint64_t read,
			 uint64_t done, const char *path);
/* A config or manifest went in as a new blob. */
void engine_count_doc(engine *E);
/* An image (manifest d, config digest config) is written. */
void engine_count_image(engine *E, const char *label, const ferry_digest *d, const char *config);

/* ---- delta.c: deltas (--have) and completing them (--base, or a destination that has the blobs) ---- */
/* --have: refuse a destination that cannot be a delta, and gather the inventory. */
int engine_delta_begin(engine *E, const ferry_location *dl, ferry_error *err);
/* Leave out the layers the far side has. */
void engine_leave_out(engine *E);
/* Every blob src expects is in a base or at the destination; else say which images need which (FERRY_E_NOTFOUND). */
int engine_check_expected(engine *E, ferry_error *err);
void engine_delta_free(engine *E);

/* ---- manifests.c ---- */
int engine_write_image(engine *E, const char *label, ferry_image *img, ferry_out_entry *oe, ferry_descriptor *out,
		       ferry_error *err);

#endif
