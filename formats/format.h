/*
 * format.h - the on-disk formats, each a reader/writer pair behind one small
 * vtable (as libarchive registers its formats).  A reader fills a
 * ferry_source from a tree; a writer lays out the metadata of a finished
 * conversion in a store (the engine has already put every blob there).
 */
#ifndef FERRY_FORMAT_H
#define FERRY_FORMAT_H

#include <stdbool.h>

#include "image.h"
#include "store.h"

/* One image manifest as written. */
typedef struct ferry_out_image {
	ferry_descriptor manifest; /* with platform when known */
	ferry_digest config;
	ferry_digest *layers;
	size_t n_layers;
} ferry_out_image;

/* One named top-level document (a manifest or an index) as written. */
typedef struct ferry_out_entry {
	ferry_descriptor desc;
	ferry_name *names;
	size_t n_names, cap_names;
	ferry_out_image *images; /* every manifest under desc (one for a plain image) */
	size_t n_images, cap_images;
	/*
	 * An artifact about another entry's image (a referrer, a cosign
	 * signature): not an image for loaders (docker-archive leaves it out of
	 * manifest.json), written after its subject, and (unnamed) listed in
	 * index.json with FERRY_ANN_REFERRER_SUBJECT.
	 */
	bool artifact;
	ferry_digest subject;
} ferry_out_entry;

typedef enum {
	FERRY_FMT_AUTO = 0,
	FERRY_FMT_DOCKER_ARCHIVE,
	FERRY_FMT_OCI,
	FERRY_FMT_OCI_ARCHIVE,
	FERRY_FMT_REGISTRY, /* docker://: a registry (push and pull) */
} ferry_fmt;

/*
 * How a format's layers are stored when --compress does not say (with it,
 * every layer is written in that compression, whatever the format).
 */
typedef enum ferry_layer_policy {
	FERRY_LAYERS_KEEP = 0, /* every layer's bytes as they are (OCI layouts and archives) */
	FERRY_LAYERS_COMPRESSED, /* registries: plain layers gzip-compressed, compressed ones kept */
	/*
	 * docker-archive: what docker load reads.  Plain and gzip layers are
	 * kept as they are, so manifests keep their digests; zstd layers are
	 * decompressed (Docker 20.10 cannot read them) unless keep_zstd asks
	 * otherwise.  A layer kept compressed is still decompressed on the way
	 * to check its diff_id, as docker load will: an archive that would not
	 * load is refused here, not found out at the far end.
	 */
	FERRY_LAYERS_LOADABLE,
} ferry_layer_policy;

typedef struct ferry_format {
	ferry_fmt id;
	const char *name; /* "docker-archive", "oci", "oci-archive" */
	bool is_tar;      /* stored in a tar file (else a directory) */
	ferry_layer_policy layers; /* what its consumers need of layers */
	bool needs_repository;    /* names must be full references */
	/*
	 * How sure the format is that tree t (a directory when !is_tar, else a
	 * tar) is in it: *bid 0 = not mine, higher wins (see ferry_format_bid).
	 * best is the highest bid so far: a format that cannot beat it sets 0
	 * without looking, so a one-pass tar is not read ahead for nothing.
	 * NULL: the format is never recognised by content.
	 */
	int (*bid)(ferry_tree *t, int best, int *bid, ferry_error *err);
	/* "a docker archive (no manifest.json)": what a tree that no format wanted is not */
	const char *unrecognised;
	int (*read)(ferry_source *src, ferry_error *err);
	int (*write_meta)(ferry_store *store, const ferry_out_entry *entries, size_t n, ferry_error *err);
} ferry_format;

extern const ferry_format ferry_format_docker_archive;
extern const ferry_format ferry_format_oci;
extern const ferry_format ferry_format_oci_archive;
extern const ferry_format ferry_format_registry;

/* The table (format.c). by_name knows the file formats only (--format), not "docker". */
const ferry_format *ferry_format_by_id(ferry_fmt id);
const ferry_format *ferry_format_by_name(const char *name);
/*
 * The format of an opened tree: every file format of its kind (directory
 * or tar) bids, the highest wins.  FERRY_E_FORMAT naming display when none
 * bids.
 */
int ferry_format_bid(ferry_tree *t, bool is_dir, const char *display, const ferry_format **out,
		     ferry_error *err);

/* Shared by the OCI and docker-archive formats. */
int ferry_oci_read_index(ferry_source *src, const char *index_path, ferry_error *err);
int ferry_oci_write_index(ferry_store *store, const ferry_out_entry *entries, size_t n, bool merge,
			  ferry_error *err);

/* The same, with index.json's FERRY_ANN_DELTA_EXPECTED annotation (NULL: none): a delta. */
int ferry_oci_write_index_ann(ferry_store *store, const ferry_out_entry *entries, size_t n, bool merge,
			      const char *expected, ferry_error *err);

void ferry_out_entry_free(ferry_out_entry *e);

/*
 * docker-archive's manifest.json, parsed and checked (an array of objects
 * with Config, RepoTags, Layers; paths normalised).  Exposed for the fuzzer.
 */
struct ferry_dm_entry;
int ferry_dm_parse(const unsigned char *buf, size_t len, struct ferry_dm_entry **out, size_t *n, ferry_error *err);
void ferry_dm_free(struct ferry_dm_entry *d, size_t n);

#endif
