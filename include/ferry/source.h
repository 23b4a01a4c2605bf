/*
 * source.h - reading a location: the images it holds, read-only.
 *
 * A ferry_source is opaque: open one, free it.
 */
#ifndef FERRY_SOURCE_H
#define FERRY_SOURCE_H

#include <stddef.h>

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

#endif
