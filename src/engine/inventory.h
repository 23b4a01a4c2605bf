/*
 * inventory.h - what a site has: every blob's digest and size, and every
 * manifest's digest with its names, gathered from locations and inventory
 * files (ferry inventory), and asked by convert --have.
 *
 * The document (README "Air-gapped transfer", stable):
 *   {"ferryInventory": 1,
 *    "blobs": [{"digest": D, "size": N}, ...],                  sorted by digest
 *    "manifests": [{"digest": D, "mediaType": T, "size": N,      sorted by digest
 *                   "names": ["HOST/REPO:TAG", ...]}, ...]}      sorted; mediaType optional
 * Blobs are configs and layers; manifests are image manifests and indexes.
 */
#ifndef FERRY_INVENTORY_H
#define FERRY_INVENTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry.h"
#include "image.h"

/* An inventory file larger than this is refused. */
#define FERRY_INVENTORY_MAX (8u << 20)
/* Most names one manifest may carry in an inventory file. */
#define FERRY_INVENTORY_NAMES_MAX 10000

typedef struct ferry_inventory ferry_inventory;

ferry_inventory *ferry_inventory_new(void);
void ferry_inventory_free(ferry_inventory *inv); /* NULL-safe */

/* Merge an inventory document (bytes of a file; what names it in errors). */
int ferry_inventory_parse(ferry_inventory *inv, const void *buf, size_t len, const char *what, ferry_error *err);
/*
 * Add every image of an open source (manifests read; of a layer, at most
 * the first bytes of a legacy docker one, to see it is a plain tar).
 */
void ferry_inventory_add_source(ferry_inventory *inv, const ferry_source *src);
/*
 * Add a location: an inventory file, an archive or layout, docker://HOST/REPO:TAG,
 * docker://HOST/REPO (every tag) or docker://HOST (every repository of /v2/_catalog).
 */
int ferry_inventory_add_location(ferry_inventory *inv, const char *location, const ferry_registry_opts *ropts,
				 ferry_error *err);

/* Does the inventory list blob d with this size? */
bool ferry_inventory_has_blob(const ferry_inventory *inv, const ferry_digest *d, uint64_t size);
/* Does it list blob d, of whatever size (*size)? */
bool ferry_inventory_blob_size(const ferry_inventory *inv, const ferry_digest *d, uint64_t *size);
size_t ferry_inventory_blob_count(const ferry_inventory *inv);
/* The document, sorted (new reference). */
json_t *ferry_inventory_json(const ferry_inventory *inv);

#endif
