/*
 * ferry.h - the public API of libferry.
 *
 * Everything the ferry command does is a call here; the CLI only parses
 * arguments and prints.  Locations are strings as the user writes them:
 * "docker-archive:PATH", "oci:DIR", "oci-archive:PATH", or a bare path whose
 * format is recognised by content (sources) or by name (destinations).
 *
 * This header and the ones it includes are all that is installed: programs
 * include <ferry/ferry.h>.  They hold no internal or third-party types, and
 * only what they declare FERRY_API is exported by libferry.so.0.
 */
#ifndef FERRY_H
#define FERRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "build.h"
#include "compression.h"
#include "digest.h"
#include "error.h"
#include "export.h"
#include "registry_opts.h"
#include "source.h"

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
	FERRY_EV_BLOB_LEFT_OUT, /* a delta left it out: the far side has it (bytes = its size) */
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
	/*
	 * More platforms (--platform repeated), kept along with platform: a
	 * multi-platform index keeps just the children of these platforms and is
	 * rewritten (a new digest, and a warning says so); one platform alone
	 * still picks that image out of its index.
	 */
	const char *const *platforms;
	size_t n_platforms;
	/*
	 * Referrers (OCI 1.1 subject) and cosign artifacts (sha256-<hex>.sig,
	 * .att, .sbom) travel with the images selected, unless no_referrers;
	 * referrer_types (--referrer-type) keeps only those artifactTypes.
	 */
	bool no_referrers;
	const char *const *referrer_types;
	size_t n_referrer_types;
	ferry_event_fn on_event;
	void *event_ud;
	/* Registries (docker:// locations): auth, TLS, retries. NULL: defaults. */
	const ferry_registry_opts *registry_opts;
	/* The blob-info cache file (NULL: $XDG_CACHE_HOME/ferry/blob-info); "" disables it. */
	const char *cache_path;
	/*
	 * --have: inventory files or locations of what the far side has.  Their
	 * layers are left out and the destination (an OCI layout or archive) is
	 * a delta whose index.json lists them (README "Air-gapped transfer").
	 */
	const char *const *have;
	size_t n_have;
	/* --base: locations supplying the blobs a delta source left out. */
	const char *const *bases;
	size_t n_bases;
	/* Archive destinations: cut into volumes DST.001... of at most split bytes (0: one file). */
	uint64_t split;
	/* Archive destinations: sign a transfer manifest DST.transfer.json with this private key (PEM). */
	const char *sign_key;
} ferry_convert_opts;

/*
 * Parse a --split size: k/M/G/T (1024-based), kB/MB/GB/TB (1000-based), or
 * fat32, dvd, bd.  At least 1M.
 */
FERRY_API int ferry_parse_split_size(const char *s, uint64_t *bytes, ferry_error *err);

typedef struct ferry_convert_stats {
	size_t images;        /* image manifests written (referrers not counted) */
	size_t referrers;     /* referrer and cosign artifact manifests written with them */
	size_t blobs_written;
	size_t blobs_existing;
	size_t blobs_dedup;
	uint64_t bytes_read;
	uint64_t bytes_written;
	size_t blobs_left_out; /* --have: layers the far side has, not written */
	uint64_t bytes_left_out;
} ferry_convert_stats;

FERRY_API int ferry_convert(const char *src, const char *dst, const ferry_convert_opts *opts,
			    ferry_convert_stats *stats, ferry_error *err);

/* ---- image lists ---- */

/* An image of a list that was skipped (--keep-going): its reference and why. */
typedef void (*ferry_list_failure_fn)(const char *image, const char *why, void *ud);

typedef struct ferry_list_opts {
	/* An image that cannot be resolved or read is reported and skipped; the others go on. */
	bool keep_going;
	ferry_list_failure_fn on_failure;
	void *failure_ud;
	/* Write the tag -> digest map actually used here: a list that, given again, pins every image. */
	const char *lock_path;
} ferry_list_opts;

/*
 * Copy every image a list names (LIST: plain lines of references, or
 * skopeo sync's YAML; see README "Image lists") into dst in ONE run: a blob
 * that several images share is fetched and written once.  dst is any
 * destination ferry_convert takes, a registry included (push).  Tags are
 * resolved to digests first; *n_failed (may be NULL) counts the images
 * skipped with keep_going.  Fails when no image is left to copy.
 */
FERRY_API int ferry_convert_list(const char *list, const char *dst, const ferry_convert_opts *o,
				 const ferry_list_opts *lo, ferry_convert_stats *stats, size_t *n_failed,
				 ferry_error *err);

/* ---- verify ---- */

typedef void (*ferry_problem_fn)(const char *problem, void *ud);

/*
 * Re-read and re-hash every blob reachable in location: sizes, digests,
 * diff_ids, media types, structure.  Every problem is reported through fn;
 * *n_problems counts them.  Returns -1 only when the location cannot be read
 * at all (err says why).
 */
FERRY_API int ferry_verify(const char *location, ferry_problem_fn fn, void *ud, size_t *n_problems, ferry_error *err);
/* The same, with registry options for docker:// locations. */
FERRY_API int ferry_verify_opts(const char *location, const ferry_registry_opts *ropts, ferry_problem_fn fn,
				void *ud, size_t *n_problems, ferry_error *err);
/*
 * The same, telling warnings from problems.  A layer labelled compressed
 * whose bytes are a plain tar (skopeo 1.9's
 * --dest-oci-accept-uncompressed-layers writes those, and loaders that sniff
 * read them) is a warning: passed to warn (may be NULL) and not counted.
 * strict makes it a problem like any other.  The functions above drop warnings.
 */
FERRY_API int ferry_verify_full(const char *location, const ferry_registry_opts *ropts, bool strict,
				ferry_problem_fn fn, ferry_problem_fn warn, void *ud, size_t *n_problems,
				ferry_error *err);

/*
 * The same for a delta (convert --have): the blobs it left out are reported
 * through expected (may be NULL), not as problems, unless a base in
 * bases[0..n_bases) has them: then they are checked like the rest.
 */
FERRY_API int ferry_verify_bases(const char *location, const ferry_registry_opts *ropts, bool strict,
				 const char *const *bases, size_t n_bases, ferry_problem_fn fn, ferry_problem_fn warn,
				 ferry_problem_fn expected, void *ud, size_t *n_problems, ferry_error *err);

/* ---- signatures (cosign, key-based), checked offline ---- */

typedef enum {
	FERRY_SIG_SIGNED,   /* a signature names its digest and verifies with one of the keys */
	FERRY_SIG_UNSIGNED, /* no signature names it */
	FERRY_SIG_BAD,      /* signatures name it, and none of them counts (problem says why) */
} ferry_sig_status;

typedef struct ferry_sig_result {
	const char *image;          /* its first name, or its digest when it has none */
	const ferry_digest *digest; /* what a signature must name: the manifest's or index's digest */
	ferry_sig_status status;
	const char *key;     /* SIGNED: the key file that verified a signature */
	const char *problem; /* BAD: why the first signature that failed does not count */
	size_t n_signatures; /* signatures found for it */
} ferry_sig_result;

typedef void (*ferry_sig_fn)(const ferry_sig_result *r, void *ud);

/*
 * Check every image of location (signatures and other artifacts aside) for
 * a cosign signature that verifies with one of the public keys in
 * key_paths (PEM: ECDSA P-256 or Ed25519).  fn hears each verdict;
 * *n_unverified counts the images that are not SIGNED.  Never touches the
 * network beyond reading the location itself.
 */
FERRY_API int ferry_verify_signatures(const char *location, const struct ferry_registry_opts *ropts,
				      const char *const *key_paths, size_t n_keys, ferry_sig_fn fn, void *ud,
				      size_t *n_unverified, ferry_error *err);

/*
 * Check an archive or volume set against its signed transfer manifest
 * (LOCATION.transfer.json and .transfer.sig, written by convert --sign-key),
 * offline: the signature must verify with one of the public keys (*signer:
 * which), then every volume's (or the archive's) sha256 must be the one the
 * manifest lists; each that is not is a problem through fn.  Fails with
 * FERRY_E_NOTFOUND when there is no transfer manifest (the caller may check
 * cosign signatures instead), FERRY_E_INTEGRITY when it is not signed or no
 * key verifies it.
 */
FERRY_API int ferry_verify_transfer(const char *location, const char *const *key_paths, size_t n_keys,
				    ferry_problem_fn fn, void *ud, size_t *n_problems, const char **signer,
				    ferry_error *err);

/* ---- blobs nothing references (OCI layouts) ---- */

typedef void (*ferry_blob_fn)(const char *digest, uint64_t size, void *ud);

/*
 * Call fn for every blob in the OCI layout directory location that nothing
 * reachable from its index.json references (what an interrupted, killed or
 * untagging run left).  Fails, naming nothing, when a reachable manifest or
 * index cannot be read: then nobody can tell what is unreferenced.
 */
int ferry_unreferenced(const char *location, ferry_blob_fn fn, void *ud, ferry_error *err);
/* Remove them (fn is told of each removed), under the layout's lock; dry_run only reports. */
int ferry_prune(const char *location, bool dry_run, ferry_blob_fn fn, void *ud, ferry_error *err);

/* ---- what a site has: inventories ---- */

/*
 * Gather an inventory of locations[0..n) (archives, layouts, inventory files,
 * docker://HOST/REPO[:TAG], docker://HOST for the whole catalog) and write it
 * to out_path ("-" or NULL: stdout), atomically.  Reads manifests and
 * configs, never layer bytes.  The schema is in README.md ("Air-gapped
 * transfer").  *n_blobs and *n_manifests (may be NULL) count what it lists.
 */
FERRY_API int ferry_inventory_write(const char *const *locations, size_t n, const ferry_registry_opts *ropts,
				    const char *out_path, size_t *n_blobs, size_t *n_manifests, ferry_error *err);

/* ---- tags in place ---- */

FERRY_API int ferry_tag(const char *location, const char *ref, const char *const *new_refs, size_t n, ferry_error *err);
FERRY_API int ferry_untag(const char *location, const char *const *refs, size_t n, ferry_error *err);

#endif
