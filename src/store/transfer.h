/*
 * transfer.h - the transfer manifest: what an archive or volume set ferry
 * wrote holds, so the far side can check it offline (NAME.transfer.json,
 * signed into NAME.transfer.sig with --sign-key).
 *
 * The document (jansson, JSON_SORT_KEYS | JSON_COMPACT, so the same input
 * gives the same bytes):
 *   {"ferryTransfer": 1, "archive": "NAME",
 *    "images":  [{"digest", "mediaType", "names": [...], "manifests": [...]}],
 *    "blobs":   [{"digest", "size"}]             (sorted by digest),
 *    "volumes": [{"name", "size", "sha256", "blobs": [digest...]}],
 *    "expects": [{"digest", "size"}]}           (a delta's expectations)
 * A single archive has one "volume": the archive file itself.
 */
#ifndef FERRY_TRANSFER_H
#define FERRY_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

#define FERRY_TRANSFER_VERSION 1
#define FERRY_TRANSFER_MAX (64u << 20) /* a transfer manifest read back is bounded by this */
#define FERRY_TRANSFER_SIG_MAX 4096    /* a signature file (base64 of at most ~100 bytes) */

struct ferry_out_entry;
struct ferry_volume_info;
typedef struct ferry_transfer ferry_transfer;

ferry_transfer *ferry_transfer_new(void);
void ferry_transfer_free(ferry_transfer *t);
/* A blob whose data lies at [start, start + size) of the archive. */
void ferry_transfer_blob(ferry_transfer *t, const ferry_digest *d, uint64_t size, uint64_t start);
/* The images written (the top-level documents and their manifests). */
void ferry_transfer_images(ferry_transfer *t, const struct ferry_out_entry *oes, size_t n);
/* A blob the archive (a delta, convert --have) leaves out and expects the far side to have. */
void ferry_transfer_expect(ferry_transfer *t, const ferry_digest *d, uint64_t size);
/* The document's bytes (malloc'd), for the archive called name, cut into vols. */
char *ferry_transfer_dump(ferry_transfer *t, const char *name, const struct ferry_volume_info *vols, size_t n_vols,
			  size_t *len);

/* Paths beside an archive or set's base path: NAME.transfer.json and NAME.transfer.sig (malloc'd). */
char *ferry_transfer_path(const char *base);
char *ferry_transfer_sig_path(const char *base);

#endif
