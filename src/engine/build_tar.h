/*
 * build_tar.h - the deterministic layer tar of ferry_build (build_tar.c).
 */
#ifndef FERRY_BUILD_TAR_H
#define FERRY_BUILD_TAR_H

#include <stdint.h>

#include "build.h"

/*
 * Write the layer holding opts->files (and their parent directories) to fd
 * as an uncompressed tar: entries sorted by path, owner opts->uid:gid, no
 * user or group names, mtime opts->created.  digest and size say what was
 * written (hashed as it goes: the bytes are never read back).  Paths must
 * have been checked (ferry_build_path_ok).
 */
int ferry_build_tar(const ferry_build_opts *opts, int fd, ferry_digest *digest, uint64_t *size, ferry_error *err);

/* Is p a path ferry_build accepts: relative, non-empty components, no "." or "..", not too long? */
bool ferry_build_path_ok(const char *p);

#endif
