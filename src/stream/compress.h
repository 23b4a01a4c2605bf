/*
 * compress.h - layer (de)compression as ferry_ostream stages.
 *
 * Media types lie (a layer labelled tar+gzip may be a plain tar), so decoding
 * never trusts them: the decode stage sniffs the first bytes and picks gzip,
 * zstd or pass-through itself.  Encoding is deterministic: the same input and
 * level give byte-identical output on every run (no timestamps, no names, a
 * fixed OS byte, input regrouped into fixed blocks for ISA-L, multi-threaded
 * zstd (whose output does not depend on the thread count) without checksums).
 */
#ifndef FERRY_COMPRESS_H
#define FERRY_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "compression.h" /* ferry_comp, ferry_comp_name, ferry_comp_parse: public */
#include "error.h"
#include "stream.h"

/* gzip level 1 through ISA-L: ~10x zlib's level 6 for a ~15% larger result (README, Speed). */
#define FERRY_GZIP_DEFAULT_LEVEL 1
#define FERRY_ZSTD_DEFAULT_LEVEL 3

/* What the magic bytes say: gzip 1f 8b, zstd 28 b5 2f fd; anything else NONE. */
ferry_comp ferry_comp_sniff(const void *buf, size_t len);

/*
 * Decoding stage.  Sniffs the first bytes written to it, then decodes gzip
 * (every member of a multi-member stream) or zstd (every frame), or passes
 * the bytes through unchanged if they are neither.  Decoded bytes go to next.
 *  - max_out (0 = unlimited) caps the decoded size: more is FERRY_E_LIMIT
 *    (a decompression bomb).
 *  - A stream that is corrupt, or ends inside a member/frame, fails with
 *    FERRY_E_FORMAT on write or finish.
 *  - Trailing garbage after a complete gzip member that is not another gzip
 *    member is FERRY_E_FORMAT.
 */
ferry_ostream *ferry_ostream_decode(ferry_ostream *next, uint64_t max_out);
/* What the decode stage found (valid once at least one byte was written or after finish). */
ferry_comp ferry_decode_detected(ferry_ostream *decode_stage);

/*
 * Encoding stage: compresses with comp at level (0 = default) and writes the
 * compressed bytes to next.  FERRY_COMP_NONE gives a pass-through stage.
 */
ferry_ostream *ferry_ostream_encode(ferry_comp comp, int level, ferry_ostream *next);

#endif
