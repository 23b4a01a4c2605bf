/*
 * location.h - turning what the user typed into a format and a path.
 */
#ifndef FERRY_LOCATION_H
#define FERRY_LOCATION_H

#include <stdbool.h>

#include "compress.h"
#include "error.h"
#include "format.h"
#include "registry.h"

typedef struct ferry_location {
	ferry_fmt fmt;   /* FERRY_FMT_AUTO for a source to recognise by content */
	char *path;      /* "-" is stdin/stdout */
	ferry_comp comp; /* destination tar compressed as a whole */
} ferry_location;

/* format (may be NULL) is --format, which wins over names but not over a prefix. */
int ferry_location_parse_dest(const char *s, const char *format, ferry_location *out, ferry_error *err);
int ferry_location_parse_source(const char *s, ferry_location *out, ferry_error *err);
void ferry_location_free(ferry_location *l);

/*
 * Refuse (FERRY_E_USAGE) a destination that is the source: the same file or
 * directory (by device and inode: through symlinks and hard links) or a path
 * inside the source directory.
 */
int ferry_location_check_distinct(const ferry_location *src, const ferry_location *dst, ferry_error *err);

/* Open the source; spool_parent is where a one-pass read may spool (NULL: $TMPDIR). */
int ferry_source_open_at(const ferry_location *loc, const char *display, const char *spool_parent,
			 const ferry_registry_opts *ropts, ferry_source **out, ferry_error *err);

/*
 * An empty source (manifest.json "[]", an index listing no image) is refused
 * (FERRY_E_FORMAT): it is nearly always a failed save, and copying it would
 * report success for nothing.
 */
int ferry_source_require_images(const ferry_source *src, ferry_error *err);

/*
 * Volume sets (transfer_check.c).  ferry_volset_check: is every volume there,
 * with the size its transfer manifest says?  The first that is not fails,
 * named with the blobs it held.
 */
struct ferry_volset;
int ferry_volset_check(struct ferry_volset *vs, ferry_error *err);
/*
 * Every bad volume of the set path names (missing, wrong size, sha256 not as
 * NAME.sha256 or the transfer manifest says) reported through fn and counted
 * in *n_bad.  *is_set false (nothing checked) when path is no volume set.
 */
int ferry_volset_verify(const char *path, void (*fn)(const char *problem, void *ud), void *ud, size_t *n_bad,
			bool *is_set, ferry_error *err);

#endif
