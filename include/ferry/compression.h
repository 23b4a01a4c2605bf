/*
 * compression.h - the codecs a conversion can write layers with
 * (ferry_convert_opts.compress).
 */
#ifndef FERRY_COMPRESSION_H
#define FERRY_COMPRESSION_H

#include "error.h"
#include "export.h"

typedef enum {
	FERRY_COMP_NONE = 0,
	FERRY_COMP_GZIP = 1,
	FERRY_COMP_ZSTD = 2,
} ferry_comp;

FERRY_API const char *ferry_comp_name(ferry_comp c); /* "none", "gzip", "zstd" */

/*
 * Parse a --compress argument: "none", "gzip", "gzip:LEVEL" (1-9), "zstd",
 * "zstd:LEVEL" (1-19).  Level 0 out means the default for that codec.
 */
FERRY_API int ferry_comp_parse(const char *spec, ferry_comp *comp, int *level, ferry_error *err);

#endif
