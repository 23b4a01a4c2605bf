#ifndef FERRY_TREE_MULTI_H
#define FERRY_TREE_MULTI_H

#include "tree.h"

/*
 * One OCI layout made of several (subs[0..n), each with an index.json):
 * its index.json lists the images of all of them, and each blob is read
 * from the tree whose manifest named it first.  Takes subs (the array and
 * the trees) in every case; they are freed with the tree, or on failure.
 */
int ferry_tree_open_multi(ferry_tree **subs, size_t n, const char *display, ferry_tree **out, ferry_error *err);

#endif
