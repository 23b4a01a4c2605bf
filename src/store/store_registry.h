/*
 * store_registry.h - registries as a destination (push).
 *
 * Each blob goes into the repository of the first image that uses it (the
 * engine says which with ferry_store_set_owner(); else the first destination repository
 * there).  Small blobs (configs, small layers) are collected in memory and
 * uploaded by a few worker threads, each with its own connection, while the
 * engine goes on; big ones stream in chunks as they are produced.
 * Publishing, several names at once, starts while the last uploads run (a
 * name waits only for the blobs it needs) and makes sure
 * every destination repository has the blobs it needs (a mount from where
 * this run put them, HEAD, a mount from where the cache saw them, else a
 * registry-side copy), pushes child manifests by digest and finally each
 * name's manifest by tag.  The first failure fails the push.
 *
 * Artifacts go after every image, one at a time: cosign's tags as the tags
 * they are; OCI 1.1 referrers by digest into each repository their subject
 * went to, and, where the registry has no referrers API (it does not answer
 * GET /v2/<name>/referrers/<digest>), listed in the referrers tag schema's
 * index (tag sha256-<hex of subject>: fetched, merged, pushed back).
 */
#ifndef FERRY_STORE_REGISTRY_H
#define FERRY_STORE_REGISTRY_H

#include "blobcache.h"
#include "format.h"
#include "registry.h"
#include "store.h"

/* The referrers tag schema index of one subject grows to this many entries, no more. */
#define FERRY_REFERRERS_INDEX_MAX 4096

/* dest_names: every name the images will be pushed under (full references). cache may be NULL. */
int ferry_store_open_registry(const ferry_registry_opts *opts, const ferry_name *dest_names, size_t n,
			      ferry_blobcache *cache, ferry_store **out, ferry_error *err);

/*
 * What only a registry does (set_owner, put_manifest, publish, ...) is its
 * extension: see ferry_store_registry() in store.h.
 */

#endif
