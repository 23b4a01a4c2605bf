/*
 * tree_overlay.h - a tree that reads another (inner), except for some paths,
 * which are read from other trees: a delta's own tree, with the blobs it
 * left out looked up in the bases given with --base.
 */
#ifndef FERRY_TREE_OVERLAY_H
#define FERRY_TREE_OVERLAY_H

#include "tree.h"

/* Wrap inner (taken over).  Paths read from inner unless added below. */
ferry_tree *ferry_tree_overlay_new(ferry_tree *inner);
/* Read path from tree from (borrowed: keep it alive with ferry_tree_overlay_own) at from_path. */
void ferry_tree_overlay_add(ferry_tree *ov, const char *path, ferry_tree *from, const char *from_path);
/* Is path read from another tree? */
bool ferry_tree_overlay_has(ferry_tree *ov, const char *path);
/* Free p with free_fn when the overlay is freed (the sources the other trees belong to). */
void ferry_tree_overlay_own(ferry_tree *ov, void *p, void (*free_fn)(void *));
/* Is t an overlay? */
bool ferry_tree_is_overlay(const ferry_tree *t);

#endif
