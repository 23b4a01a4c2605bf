#ifndef FERRY_TREE_REGISTRY_H
#define FERRY_TREE_REGISTRY_H

#include "registry.h"
#include "tree.h"

/* The image (or index) at ref ("HOST/repo:tag" or "@digest"), as an OCI layout tree. opts may be NULL. */
int ferry_tree_open_registry(const char *ref, const ferry_registry_opts *opts, ferry_tree **out,
			     ferry_error *err);

/*
 * The same for a parsed reference (a tag, a digest, or both), through reg,
 * which the tree borrows: several trees may share one connection (one thread).
 * A reference with both is fetched by digest and named by its tag.
 * *digest: what the reference resolved to (the manifest's or index's digest).
 */
struct ferry_ref;
int ferry_tree_open_registry_on(ferry_registry *reg, const struct ferry_ref *ref, ferry_digest *digest,
				ferry_tree **out, ferry_error *err);

#endif
