/*
 * store_registry.h - registries as a destination (push).
 *
 * Blobs stream into an upload on one "staging" repository per registry (the
 * first destination repository there); publishing then makes sure every
 * other destination repository has the blobs it needs (HEAD, else a
 * cross-repository mount, else a registry-side copy), pushes child
 * manifests by digest and finally each name's manifest by tag.
 */
#ifndef FERRY_STORE_REGISTRY_H
#define FERRY_STORE_REGISTRY_H

#include "blobcache.h"
#include "format.h"
#include "registry.h"
#include "store.h"

/* dest_names: every name the images will be pushed under (full references). cache may be NULL. */
int ferry_store_open_registry(const ferry_registry_opts *opts, const ferry_name *dest_names, size_t n,
			      ferry_blobcache *cache, ferry_store **out, ferry_error *err);

/* Push the manifests of entries under their names. */
int ferry_store_registry_publish(ferry_store *s, const ferry_out_entry *entries, size_t n, ferry_error *err);

#endif
