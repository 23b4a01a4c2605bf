/*
 * store.h - where a conversion writes: blobs by digest plus a few named
 * metadata files, published atomically at commit.
 *
 * Two stores: a directory (an OCI layout) and a tar file (docker-archive or
 * OCI archive, optionally compressed as a whole, or a stream on stdout).
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

typedef struct ferry_store_ops {
	bool (*has_blob)(ferry_store *s, const ferry_digest *d);
	/*
	 * Optional: true when sending this blob costs no more than asking
	 * has_blob first (a small blob, for a registry that has not been seen
	 * with it): the caller then just writes it.
	 */
	bool (*cheap_to_send)(ferry_store *s, const ferry_digest *d, uint64_t size);
	/*
	 * Start a blob.  expect (may be NULL) and size (-1 = unknown) are what the
	 * caller expects to write; when both are known the bytes may go straight
	 * to their final place.  Bytes go to *out (owned by the store).  One blob
	 * at a time, unless the store says concurrent_blobs.
	 */
	int (*blob_begin)(ferry_store *s, const ferry_digest *expect, int64_t size, ferry_ostream **out,
			  ferry_error *err);
	/* End the blob written to out (what blob_begin gave): keep it under actual if ok, else drop it. */
	int (*blob_end)(ferry_store *s, ferry_ostream *out, bool ok, const ferry_digest *actual, uint64_t size,
			ferry_error *err);
	/*
	 * Optional (stores that spool): take a finished spool, an unlinked file
	 * fd holding exactly size bytes that the caller verified hash to d, as
	 * that blob.  The store owns fd from the call on, failed or not, and may
	 * copy it in the background (a later call or commit reports a failure).
	 */
	int (*put_spool)(ferry_store *s, int fd, const ferry_digest *d, uint64_t size, ferry_error *err);
	/*
	 * A manifest or index document (optional: NULL means "store it as a
	 * blob", which is what layouts and archives do; a registry keeps them
	 * to push by digest and tag).
	 */
	int (*put_manifest)(ferry_store *s, const ferry_digest *d, const char *media_type, const void *buf,
			    size_t len, ferry_error *err);
	/* A metadata file (index.json, manifest.json, ...), written at commit or at once. */
	int (*put_file)(ferry_store *s, const char *name, const void *buf, size_t len, ferry_error *err);
	/* The destination's current version of a metadata file, if it has one (else FERRY_E_NOTFOUND). */
	int (*read_existing)(ferry_store *s, const char *name, unsigned char **buf, size_t *len, ferry_error *err);
	/*
	 * Optional: did the last blob fail for a reason a fresh start may not meet
	 * (a network fault that lost a registry's upload session)?  The engine
	 * then reads the blob again from the source, if the source allows it.
	 */
	bool (*retryable)(ferry_store *s);
	/*
	 * Optional: the names of the image the next blobs are for (a registry
	 * uploads them straight into that image's repository, which saves a
	 * cross-repository mount when publishing).  Borrowed for the call.
	 */
	void (*set_owner)(ferry_store *s, const struct ferry_name *names, size_t n);
	int (*commit)(ferry_store *s, ferry_error *err);
	void (*free)(ferry_store *s);
} ferry_store_ops;

struct ferry_event;
struct ferry_store {
	const ferry_store_ops *ops;
	char *display;
	/* Set by the engine: stores that do things of their own (mounts, pushes) report them here. */
	void (*on_event)(const struct ferry_event *ev, void *ud);
	void *event_ud;
	bool remote; /* has_blob costs a network request */
	/*
	 * A blob of unknown digest or size is spooled by the store before it
	 * goes in (a tar: the header needs the size first).  The engine may then
	 * produce several such blobs at once, each into a spool of its own, and
	 * hand them over one by one with their digest and size known (put_spool).
	 */
	bool spools;
	/*
	 * Several blobs may be open at once, begun, written, ended and asked
	 * for (has_blob) on different threads (a directory: each blob is a file
	 * of its own).  The rest of the store is for one thread.
	 */
	bool concurrent_blobs;
};

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

/* The directory temporary files for a destination should go in (caller frees). */
char *ferry_dest_parent(const char *path);

void ferry_store_free(ferry_store *s); /* NULL-safe; discards uncommitted work */

#endif
