#ifndef FERRY_TREE_REGISTRY_H
#define FERRY_TREE_REGISTRY_H

#include "registry.h"
#include "tree.h"

/* The image (or index) at ref ("HOST/repo:tag" or "@digest"), as an OCI layout tree. opts may be NULL. */
int ferry_tree_open_registry(const char *ref, const ferry_registry_opts *opts, ferry_tree **out,
			     ferry_error *err);

#endif
