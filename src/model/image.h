/*
 * image.h - images as ferry holds them between a reader and a writer.
 *
 * A source (ferry_source) is a tree plus the images its format reader found
 * in it: a list of named entries, each either one image (a manifest with its
 * config and layers) or a multi-platform index of images.  Manifests and
 * configs are small and held in memory with their exact bytes; layers are
 * only described (where they are in the tree, what they should hash to) and
 * are streamed later by the engine.
 */
#ifndef FERRY_IMAGE_H
#define FERRY_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "ref.h"
#include "source.h" /* ferry_source: opaque in the public API, defined here */
#include "tree.h"

/* How deep indexes may nest (index -> index -> ... -> manifest). */
#define FERRY_INDEX_DEPTH 8
/* Most images (manifests) one source may hold. */
#define FERRY_IMAGES_MAX 100000

/* Referrers carried with an image: at most this many, this many levels deep. */
#define FERRY_REFERRERS_MAX 4096
#define FERRY_REFERRERS_DEPTH 8

/* A name an image carries: a full reference, or (skopeo's habit) only a tag. */
typedef struct ferry_name {
	bool has_ref;
	ferry_ref ref;  /* when has_ref */
	char *bare_tag; /* when !has_ref */
} ferry_name;

typedef struct ferry_blob {
	ferry_descriptor desc; /* digest unset when the source does not say (legacy docker layers) */
	bool size_known;       /* desc.size is meaningful */
	char *path;            /* the entry in the source tree (owned) */
	ferry_digest diff_id;  /* layers: the config's diff_id; unset otherwise */
} ferry_blob;

typedef struct ferry_image ferry_image;
struct ferry_image {
	bool is_index;
	/* The document: exact bytes, or NULL when the source has none (legacy docker). */
	unsigned char *bytes;
	size_t len;
	ferry_descriptor desc; /* digest/size/mediaType of bytes (+ platform/annotations for index children) */

	/* An image manifest */
	ferry_manifest manifest; /* parsed bytes (zeroed when bytes is NULL) */
	ferry_blob config;
	unsigned char *config_bytes;
	size_t config_len;
	ferry_config cfg;
	ferry_blob *layers;
	size_t n_layers;
	/*
	 * An artifact (its config is not an image config: an empty config, an
	 * SBOM's...): config and blobs are carried byte for byte, never parsed
	 * as an image's, and the manifest is never rebuilt.
	 */
	bool is_artifact;

	/* An index */
	ferry_index index; /* parsed bytes */
	ferry_image *children;
	size_t n_children;
};

typedef struct ferry_entry {
	ferry_image img;
	ferry_name *names;
	size_t n_names, cap_names;
} ferry_entry;

struct ferry_format;

/* A blob a delta left out, expected at the far side (index.json's FERRY_ANN_DELTA_EXPECTED). */
typedef struct ferry_expected {
	ferry_digest digest;
	uint64_t size;
} ferry_expected;

struct ferry_source {
	ferry_tree *tree;
	const struct ferry_format *format;
	char *display; /* the location as the user wrote it */
	ferry_entry *entries;
	size_t n_entries, cap_entries;
	/* A delta's expectations: sorted by digest, no duplicates (none: not a delta). */
	ferry_expected *expected;
	size_t n_expected;
};

/*
 * Parse the FERRY_ANN_DELTA_EXPECTED annotation ("DIGEST=SIZE,DIGEST=SIZE",
 * sorted) into src->expected.  At most FERRY_EXPECTED_MAX entries.
 */
#define FERRY_EXPECTED_MAX 100000
int ferry_source_parse_expected(ferry_source *src, const char *value, ferry_error *err);
/* Is d one of src's expected blobs (*size set when it is; size may be NULL)? */
bool ferry_source_expects(const ferry_source *src, const ferry_digest *d, uint64_t *size);
/* The annotation's value for n expected blobs, which are sorted here (caller frees). */
char *ferry_expected_format(ferry_expected *e, size_t n);

void ferry_name_free(ferry_name *n);
void ferry_name_copy(ferry_name *dst, const ferry_name *src);
/* "docker.io/library/nginx:1.25", or ":1.25" for a bare tag; caller frees. */
char *ferry_name_string(const ferry_name *n);
bool ferry_name_eq(const ferry_name *a, const ferry_name *b);
/* A name as a user writes it: a reference (default tag added), or ":TAG" for a bare tag. */
int ferry_name_parse(const char *s, ferry_name *n, ferry_error *err);
/* Does s ("sha256:" + at least 12 hex digits) prefix this entry's manifest or config digest? */
bool ferry_entry_has_digest(const ferry_entry *e, const char *s);
/* Does s (a name as above, or a digest prefix) name this entry? 1 yes, 0 no, -1 s is malformed. */
int ferry_entry_matches(const ferry_entry *e, const char *s, ferry_error *err);
/* Add a name to an entry unless it is already there (takes ownership of *n). */
void ferry_entry_add_name(ferry_entry *e, ferry_name *n);

void ferry_blob_free(ferry_blob *b);
void ferry_image_free(ferry_image *img);
void ferry_entry_free(ferry_entry *e);

/*
 * What kind of artifact a manifest is: its artifactType, else its config's
 * media type when that is not an image config's, else its first blob's when
 * that is not a layer (a cosign signature: its payload type).  NULL: none.
 */
const char *ferry_image_artifact_type(const ferry_image *img);
/* The subject an OCI 1.1 referrer names (NULL: none). */
const ferry_digest *ferry_image_subject(const ferry_image *img);

/*
 * Is this entry a signature, attestation, SBOM or other referrer (an
 * artifact about another image) rather than an image of its own?  If so,
 * *subject is the digest it is about: cosign's tag names it, or an OCI 1.1
 * subject does.
 */
bool ferry_entry_is_artifact(const ferry_entry *e, ferry_digest *subject);
/* Is tag cosign's "sha256-<64 hex>.sig" (or .att, .sbom)?  If so, *subject is the digest it names. */
bool ferry_cosign_tag_subject(const char *tag, ferry_digest *subject);

/*
 * Every entry's referrers, recursively (each at most FERRY_REFERRERS_DEPTH
 * levels down): for ls and inspect.  ferry_referrers_of lists entry i's
 * (entry indexes, subjects first; caller frees).
 */
typedef struct ferry_referrers_map ferry_referrers_map;
ferry_referrers_map *ferry_referrers_map_new(const ferry_source *src);
bool ferry_referrers_map_is_artifact(const ferry_referrers_map *m, size_t i);
size_t *ferry_referrers_of(const ferry_referrers_map *m, size_t i, size_t *n);
void ferry_referrers_map_free(ferry_referrers_map *m);

/* The platform of an image: its index descriptor's, else its config's. NULL if unknown. */
const ferry_platform *ferry_image_platform(const ferry_image *img);

/*
 * Load a document blob (manifest or index) from tree at path, verifying it
 * against desc (size, digest) and recursing into indexes up to
 * FERRY_INDEX_DEPTH, configs included.  Used by every reader whose images
 * are stored as OCI blobs.  Unknown media types inside an index are skipped
 * (*skipped counts them).
 */
int ferry_image_load(ferry_tree *tree, const ferry_descriptor *desc, ferry_image *out, int depth,
		     size_t *n_images, ferry_error *err);

/* The path of a blob in an OCI layout: "blobs/<alg>/<hex>" (caller frees). */
char *ferry_blob_path(const ferry_digest *d);

/*
 * The digest of b's bytes, known without reading them all: its descriptor's,
 * or, for a legacy docker layer (no digest, only its config's diff_id), the
 * diff_id when a look at its first bytes shows a plain tar.  A one-pass tree
 * is not read ahead for that look.  False when it cannot be known so.
 */
bool ferry_blob_known_digest(ferry_tree *tree, const ferry_blob *b, ferry_digest *out);

/* Read a small blob at path fully, check size (if known) and digest (if set). */
int ferry_read_verified(ferry_tree *tree, const char *path, const ferry_descriptor *desc, bool size_known,
			unsigned char **buf, size_t *len, ferry_digest *actual, ferry_error *err);

/*
 * The one entry of src that s names (see ferry_entry_matches); s NULL picks
 * the only entry.  FERRY_E_NOTFOUND when none, FERRY_E_USAGE when ambiguous.
 */
int ferry_source_find(ferry_source *src, const char *s, ferry_entry **out, ferry_error *err);

#endif
