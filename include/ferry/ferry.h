/*
 * ferry.h - the public API of libferry.
 *
 * Everything the ferry command does is a call here; the CLI only parses
 * arguments and prints.  Locations are strings as the user writes them:
 * "docker-archive:PATH", "oci:DIR", "oci-archive:PATH", or a bare path whose
 * format is recognised by content (sources) or by name (destinations).
 */
#ifndef FERRY_H
#define FERRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compress.h"
#include "digest.h"
#include "error.h"
#include "image.h"

#define FERRY_VERSION "0.1.0"

/* ---- progress: what the engine reports while it works ---- */

typedef enum {
	FERRY_EV_BLOB_START,   /* a blob starts streaming (total = its size when known) */
	FERRY_EV_BLOB_PROGRESS, /* bytes of it read so far (about every MiB) */
	FERRY_EV_BLOB_WRITTEN, /* a blob was written (bytes = bytes written) */
	FERRY_EV_BLOB_EXISTS,  /* the destination already had it: nothing read or written */
	FERRY_EV_BLOB_DEDUP,   /* another image of this run already wrote it */
	FERRY_EV_BLOB_MOUNTED, /* a registry mounted it from another repository (message: "from/repo to/repo") */
	FERRY_EV_MANIFEST_PUSHED, /* a manifest was pushed (name = "repo:tag" or "repo@digest") */
	FERRY_EV_IMAGE_DONE,   /* an image's manifest was written (name = its first name, message = its config digest) */
	FERRY_EV_WARNING,      /* message says what */
} ferry_event_kind;

/*
 * For blob events, digest is the blob's digest when known (a legacy layer's
 * is only known once read), and message is its path in the source.
 */
typedef struct ferry_event {
	ferry_event_kind kind;
	const char *name;           /* image, when the event is about one */
	const ferry_digest *digest; /* blob or manifest */
	uint64_t bytes;
	uint64_t total;
	const char *message;
} ferry_event;

typedef void (*ferry_event_fn)(const ferry_event *ev, void *ud);

/* ---- convert ---- */

typedef struct ferry_tag_rule {
	const char *from; /* an image's current name */
	const char *to;   /* its new (or additional) name */
	bool add;         /* keep the old name too */
} ferry_tag_rule;

typedef struct ferry_convert_opts {
	const char *format; /* destination format override: docker-archive, oci, oci-archive */
	bool compress_set;  /* --compress given (else: each format's policy, see formats/format.h) */
	ferry_comp compress;
	int level;
	/* docker-archive: keep zstd layers as they are (by default they are decompressed for docker load) */
	bool keep_zstd;
	bool docker_manifests; /* build Docker schema 2 manifests instead of OCI ones */
	const ferry_tag_rule *tag_rules;
	size_t n_tag_rules;
	const char *const *remove_names; /* names to drop (untag) */
	size_t n_remove_names;
	const char *registry;   /* --registry HOST[:PORT] */
	const char *prefix;     /* --prefix HOST[:PORT]/PATH */
	const char *repository; /* --repository NAME, for images named by a bare tag */
	const char *const *images; /* --image: only these */
	size_t n_images;
	const char *platform; /* --platform OS/ARCH[/VARIANT] */
	ferry_event_fn on_event;
	void *event_ud;
	/* Registries (docker:// locations): auth, TLS, retries. NULL: defaults. */
	const struct ferry_registry_opts *registry_opts;
	/* The blob-info cache file (NULL: $XDG_CACHE_HOME/ferry/blob-info); "" disables it. */
	const char *cache_path;
} ferry_convert_opts;

typedef struct ferry_convert_stats {
	size_t images;        /* image manifests written */
	size_t blobs_written;
	size_t blobs_existing;
	size_t blobs_dedup;
	uint64_t bytes_read;
	uint64_t bytes_written;
} ferry_convert_stats;

int ferry_convert(const char *src, const char *dst, const ferry_convert_opts *opts, ferry_convert_stats *stats,
		  ferry_error *err);

/* ---- reading a location ---- */

/* Open a source location and read its images (metadata only). Caller frees with ferry_source_free. */
int ferry_source_open(const char *location, ferry_source **out, ferry_error *err);
/* The same, with registry options for docker:// locations (NULL: defaults). */
int ferry_source_open_opts(const char *location, const struct ferry_registry_opts *ropts, ferry_source **out,
			   ferry_error *err);

/* ---- verify ---- */

typedef void (*ferry_problem_fn)(const char *problem, void *ud);

/*
 * Re-read and re-hash every blob reachable in location: sizes, digests,
 * diff_ids, media types, structure.  Every problem is reported through fn;
 * *n_problems counts them.  Returns -1 only when the location cannot be read
 * at all (err says why).
 */
int ferry_verify(const char *location, ferry_problem_fn fn, void *ud, size_t *n_problems, ferry_error *err);
/* The same, with registry options for docker:// locations. */
int ferry_verify_opts(const char *location, const struct ferry_registry_opts *ropts, ferry_problem_fn fn, void *ud,
		      size_t *n_problems, ferry_error *err);
/*
 * The same, telling warnings from problems.  A layer labelled compressed
 * whose bytes are a plain tar (skopeo 1.9's
 * --dest-oci-accept-uncompressed-layers writes those, and loaders that sniff
 * read them) is a warning: passed to warn (may be NULL) and not counted.
 * strict makes it a problem like any other.  The functions above drop warnings.
 */
int ferry_verify_full(const char *location, const struct ferry_registry_opts *ropts, bool strict, ferry_problem_fn fn,
		      ferry_problem_fn warn, void *ud, size_t *n_problems, ferry_error *err);

/* ---- tags in place ---- */

int ferry_tag(const char *location, const char *ref, const char *const *new_refs, size_t n, ferry_error *err);
int ferry_untag(const char *location, const char *const *refs, size_t n, ferry_error *err);

#endif
