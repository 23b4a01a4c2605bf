/*
 * store.h - where a conversion writes: blobs by digest plus a few named
 * metadata files, published atomically at commit.
 *
 * Three stores: a directory (an OCI layout, store_dir.c), a tar file
 * (docker-archive or OCI archive, optionally compressed as a whole, or a
 * stream on stdout: store_tar.c) and registries (store_registry.c).
 * Until ferry_store_commit() succeeds nothing is visible at the destination;
 * freeing an uncommitted store removes everything it wrote, so a failed run
 * leaves the destination as it was.
 */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "compress.h"
#include "digest.h"
#include "error.h"
#include "stream.h"

typedef struct ferry_store ferry_store;
struct ferry_name;
struct ferry_out_entry;
typedef struct ferry_store_registry_ext ferry_store_registry_ext;

/*
 * A store's operations.  Nobody calls them directly: each is reached through
 * its function below (ferry_store_has_blob(), ...), in store.c, which also
 * gives an optional op that is NULL its default.  Every op that can fail
 * returns 0 or -1 with err filled.
 */
typedef struct ferry_store_ops {
	/* ---- required: every store sets each of these ---- */

	/* *exists: the destination has blob d.  Fails only when it cannot tell (a registry out of reach). */
	int (*has_blob)(ferry_store *s, const ferry_digest *d, bool *exists, ferry_error *err);
	/*
	 * Start a blob.  expect (may be NULL) and size (-1 = unknown) are what the
	 * caller expects to write; when both are known the bytes may go straight
	 * to their final place.  Bytes go to *out (owned by the store).  One blob
	 * at a time, unless the store says concurrent_blobs.
	 */
	int (*blob_begin)(ferry_store *s, const ferry_digest *expect, int64_t size, ferry_ostream **out,
			  ferry_error *err);
	/*
	 * End the blob written to out (what blob_begin gave): keep it under
	 * actual if ok, else drop it.  *resend (false unless set): this blob
	 * failed for a reason a fresh start may not meet (a network fault that
	 * lost a registry's upload session), so sending it again from a fresh
	 * read of the source may succeed.  Set whether ok or not.
	 */
	int (*blob_end)(ferry_store *s, ferry_ostream *out, bool ok, const ferry_digest *actual, uint64_t size,
			bool *resend, ferry_error *err);
	/* A metadata file (index.json, manifest.json, ...), written at commit or at once. */
	int (*put_file)(ferry_store *s, const char *name, const void *buf, size_t len, ferry_error *err);
	/* The destination's current version of a metadata file, if it has one (else FERRY_E_NOTFOUND). */
	int (*read_existing)(ferry_store *s, const char *name, unsigned char **buf, size_t *len, ferry_error *err);
	/* Publish everything atomically (see the top of this file). */
	int (*commit)(ferry_store *s, ferry_error *err);
	/* Free the store, discarding uncommitted work. */
	void (*free)(ferry_store *s);

	/* ---- optional: NULL means the default in store.c ---- */

	/*
	 * Take a finished spool, an unlinked file fd holding exactly size bytes
	 * that the caller verified hash to d, as that blob.  The store owns fd
	 * from the call on, failed or not, and may copy it in the background (a
	 * later call or commit reports a failure).  Set exactly by the stores that
	 * say spools.  Default: an internal error (fd is closed).
	 */
	int (*put_spool)(ferry_store *s, int fd, const ferry_digest *d, uint64_t size, ferry_error *err);
	/* What only a registry does (see below).  Default (NULL): every other store. */
	const ferry_store_registry_ext *registry;
} ferry_store_ops;

/*
 * The registry's extension, reached through ferry_store_registry() (NULL for
 * any other store) and the functions below that take its defaults.
 */
struct ferry_store_registry_ext {
	/*
	 * True when sending this blob costs no more than asking has_blob first
	 * (a small blob the registry has not been seen with): the caller then
	 * just writes it.  Default: false (ask first).
	 */
	bool (*cheap_to_send)(ferry_store *s, const ferry_digest *d, uint64_t size);
	/*
	 * The names of the image the next blobs are for (a registry uploads them
	 * straight into that image's repository, which saves a cross-repository
	 * mount when publishing).  Borrowed for the call.  Default: nothing.
	 */
	void (*set_owner)(ferry_store *s, const struct ferry_name *names, size_t n);
	/*
	 * A manifest or index document, kept to be pushed by digest and tag.
	 * Default: stored as a blob (what layouts and archives do).
	 */
	int (*put_manifest)(ferry_store *s, const ferry_digest *d, const char *media_type, const void *buf,
			    size_t len, ferry_error *err);
	/* Push the manifests of entries under their names (the registry format's write_meta). */
	int (*publish)(ferry_store *s, const struct ferry_out_entry *entries, size_t n, ferry_error *err);
};

struct ferry_event;
struct ferry_store {
	const ferry_store_ops *ops; /* only store.c calls them */
	char *display;
	/* Set by the engine: stores that do things of their own (mounts, pushes) report them here. */
	void (*on_event)(const struct ferry_event *ev, void *ud);
	void *event_ud;
	/*
	 * Capabilities, fixed when the store is opened; the engine plans by them.
	 *
	 * remote: asking has_blob costs a network request (a registry), so the
	 * engine asks only where the answer saves sending a blob.
	 */
	bool remote;
	/*
	 * spools: a blob of unknown digest or size is spooled by the store before
	 * it goes in (a tar: the header needs the size first).  The engine may
	 * then produce several such blobs at once, each into a spool of its own,
	 * and hand them over one by one with their digest and size known
	 * (put_spool, which such a store must have).
	 */
	bool spools;
	/*
	 * concurrent_blobs: several blobs may be open at once, begun, written,
	 * ended and asked for (has_blob) on different threads (a directory: each
	 * blob is a file of its own).  The rest of the store is for one thread.
	 */
	bool concurrent_blobs;
};

/* ---- the store's operations, each dispatched in one place (store.c) ---- */

int ferry_store_has_blob(ferry_store *s, const ferry_digest *d, bool *exists, ferry_error *err);
int ferry_store_blob_begin(ferry_store *s, const ferry_digest *expect, int64_t size, ferry_ostream **out,
			   ferry_error *err);
/*
 * When ok is false the blob is dropped and err is left as it is (it holds
 * why the caller gave up).  resend may be NULL.
 */
int ferry_store_blob_end(ferry_store *s, ferry_ostream *out, bool ok, const ferry_digest *actual, uint64_t size,
			 bool *resend, ferry_error *err);
int ferry_store_put_spool(ferry_store *s, int fd, const ferry_digest *d, uint64_t size, ferry_error *err);
int ferry_store_put_file(ferry_store *s, const char *name, const void *buf, size_t len, ferry_error *err);
int ferry_store_read_existing(ferry_store *s, const char *name, unsigned char **buf, size_t *len, ferry_error *err);
int ferry_store_commit(ferry_store *s, ferry_error *err);

/*
 * A whole blob from memory, unless the store has it already (asked first,
 * unless sending costs no more than asking).  *written: it was sent.
 */
int ferry_store_put_bytes(ferry_store *s, const ferry_digest *d, const void *buf, size_t len, bool *written,
			  ferry_error *err);
/* A manifest or index document (*written: it went in as a new blob). */
int ferry_store_put_manifest(ferry_store *s, const ferry_digest *d, const char *media_type, const void *buf,
			     size_t len, bool *written, ferry_error *err);
void ferry_store_set_owner(ferry_store *s, const struct ferry_name *names, size_t n);

/* The registry's extension: NULL when s is not a registry. */
const ferry_store_registry_ext *ferry_store_registry(const ferry_store *s);
/* Push entries under their names: a registry only (else an internal error). */
int ferry_store_publish(ferry_store *s, const struct ferry_out_entry *entries, size_t n, ferry_error *err);

/*
 * An OCI layout directory.  A new directory is built under a temporary
 * sibling name and renamed into place at commit; an existing layout is added
 * to (blobs already present are kept, index.json is replaced atomically).
 */
int ferry_store_open_dir(const char *dir, ferry_store **out, ferry_error *err);

/*
 * A tar file at path ("-" for stdout), compressed as a whole with comp.
 * Written to a temporary sibling and renamed over path at commit.
 */
int ferry_store_open_tar(const char *path, ferry_comp comp, ferry_store **out, ferry_error *err);
/*
 * The same, with what issue 13 adds: split (bytes, 0: one file) cuts the
 * archive into volumes PATH.001... (volumes.h); sign_key (a private key
 * file, NULL: none) signs a transfer manifest written beside it (transfer.h),
 * which a volume set always has.
 */
typedef struct ferry_tar_opts {
	uint64_t split;
	const char *sign_key;
} ferry_tar_opts;
int ferry_store_open_tar_opts(const char *path, ferry_comp comp, const ferry_tar_opts *o, ferry_store **out,
			      ferry_error *err);
/* The images written, for the transfer manifest (nothing for any other store or without one). */
void ferry_store_tar_images(ferry_store *s, const struct ferry_out_entry *oes, size_t n);
/* A blob a delta leaves out and expects at the far side, for the transfer manifest's "expects" (likewise). */
void ferry_store_tar_expect(ferry_store *s, const ferry_digest *d, uint64_t size);

void ferry_store_free(ferry_store *s); /* NULL-safe; discards uncommitted work */

#endif
