/*
 * gzip_parallel.h - gzip on several cores, pigz-style: ISA-L for levels 1-3,
 * zlib for 4-9.
 *
 * The input is cut into fixed 1 MiB blocks; each is compressed on a worker
 * thread as a piece of one deflate stream (primed with the previous block's
 * last 32 KiB, ended byte-aligned with a full flush, the last one final), and
 * the pieces are written in order between one gzip header and trailer.
 * Every piece depends only on its block and the one before, so the output is
 * the same whatever the number of threads or the sizes of the writes.
 */
#ifndef FERRY_GZIP_PARALLEL_H
#define FERRY_GZIP_PARALLEL_H

#include "stream.h"

typedef struct ferry_pgz ferry_pgz;

/* level 1-9 (1-3 ISA-L's, 4-9 zlib's); threads 0: one per core, at most 4. header: the 10 bytes to start with. */
ferry_pgz *ferry_pgz_new(int level, int threads, const unsigned char header[10], ferry_ostream *next);
int ferry_pgz_write(ferry_pgz *z, const void *buf, size_t len, ferry_error *err);
int ferry_pgz_finish(ferry_pgz *z, ferry_error *err);
void ferry_pgz_free(ferry_pgz *z); /* NULL-safe */

#endif
