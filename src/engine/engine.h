/*
 * engine.h - internal entry points of the conversion engine.
 */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include "ferry.h"
#include "location.h"

/*
 * Convert an open source into the destination dl.  replace_index writes the
 * destination's index.json from scratch (in-place retagging of an OCI layout)
 * instead of adding to it.
 */
int ferry_convert_in(ferry_source *src, const ferry_location *dl, const ferry_convert_opts *o, bool replace_index,
		     ferry_convert_stats *stats, ferry_error *err);

/* The same into a store the caller opened (taken, freed whatever happens); NULL: open dl's. */
struct ferry_store;
int ferry_convert_into(ferry_source *src, struct ferry_store *store, const ferry_location *dl,
		       const ferry_convert_opts *o, bool replace_index, ferry_convert_stats *stats, ferry_error *err);

/*
 * --base (o->bases): read the blobs the delta src expects from the bases
 * (delta.c: src's tree becomes an overlay of its own and theirs).  Nothing
 * to do when src is not a delta or there are no bases.
 */
int engine_attach_bases(ferry_source *src, const ferry_convert_opts *o, ferry_error *err);
/*
 * Can a delta's tree give path: from a base, or (a tree that is not read in
 * one pass) because it holds the blob after all?
 */
struct ferry_tree;
bool engine_tree_has(struct ferry_tree *t, const char *path);

#endif
