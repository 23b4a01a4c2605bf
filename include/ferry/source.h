/*
 * source.h - reading a location: the images it holds, read-only.
 *
 * A ferry_source is opaque: open one, list its images with the accessors
 * below, free it.  Image i is the i-th entry as the source lists it (an
 * index counts as one image); i must be below ferry_source_count(), k below
 * the matching *_count().  Strings returned as char * are the caller's to
 * free(); the rest live as long as the source.
 */
#ifndef FERRY_SOURCE_H
#define FERRY_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "export.h"
#include "registry_opts.h"

typedef struct ferry_source ferry_source;

/* Open a source location and read its images (metadata only). Caller frees with ferry_source_free. */
FERRY_API int ferry_source_open(const char *location, ferry_source **out, ferry_error *err);
/* The same, with registry options for docker:// locations (NULL: defaults). */
FERRY_API int ferry_source_open_opts(const char *location, const ferry_registry_opts *ropts, ferry_source **out,
				     ferry_error *err);
/* Free everything a source holds. NULL-safe. */
FERRY_API void ferry_source_free(ferry_source *src);

/* The format that read it: "docker-archive", "oci", "oci-archive", "docker". */
FERRY_API const char *ferry_source_format(const ferry_source *src);
/* How many images (entries) it holds. */
FERRY_API size_t ferry_source_count(const ferry_source *src);

/* Image i's names: "docker.io/library/nginx:1.25", or ":TAG" for a bare tag. May be none. */
FERRY_API size_t ferry_source_name_count(const ferry_source *src, size_t i);
FERRY_API char *ferry_source_name(const ferry_source *src, size_t i, size_t k);

/* Image i's manifest (or index) digest; NULL when the source has no manifest (a legacy docker save). */
FERRY_API const ferry_digest *ferry_source_digest(const ferry_source *src, size_t i);

/* Image i's platforms, one per manifest ("linux/arm64/v8", "unknown"): one for an image, more for an index. */
FERRY_API size_t ferry_source_platform_count(const ferry_source *src, size_t i);
FERRY_API char *ferry_source_platform(const ferry_source *src, size_t i, size_t k);

/*
 * A delta (convert --have) leaves out blobs the far side has, and says so:
 * call fn for each blob it expects from elsewhere (none: not a delta).
 * Returns how many.
 */
typedef void (*ferry_expected_fn)(const ferry_digest *digest, uint64_t size, void *ud);
FERRY_API size_t ferry_source_expected_each(const ferry_source *src, ferry_expected_fn fn, void *ud);

#endif
