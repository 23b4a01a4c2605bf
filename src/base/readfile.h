/*
 * readfile.h - reading a whole small file or descriptor into memory, with a
 * cap: job files, state files, credential files, PEM files, an existing
 * index.json.  Anything big is streamed instead (stream.h).
 */
#ifndef FERRY_READFILE_H
#define FERRY_READFILE_H

#include <stddef.h>

#include "error.h"

/*
 * Read fd from where it is to its end.  More than cap bytes is FERRY_E_LIMIT
 * ("<what> is larger than <cap> bytes"); a read error names what.  *buf is
 * NUL-terminated (the NUL not counted in *len) and the caller frees it; on
 * failure it is NULL.  fd stays open.
 */
int ferry_read_fd_all(int fd, size_t cap, char **buf, size_t *len, const char *what, ferry_error *err);

/* A regular file of at most cap bytes, read whole as above (links followed). */
int ferry_read_file(const char *path, size_t cap, char **buf, size_t *len, ferry_error *err);

#endif
