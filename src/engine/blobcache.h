/*
 * blobcache.h - what ferry remembers between runs about blobs, so that a
 * second push of the same archive neither recompresses nor re-sends
 * anything:
 *   - which compressed blob an uncompressed layer became (diff_id + codec +
 *     level -> digest and size; deterministic compression makes this a fact,
 *     not a guess);
 *   - in which repositories of which registries a blob was last seen (for
 *     cross-repository mounts).
 * Kept in $XDG_CACHE_HOME/ferry/blob-info (or ~/.cache/ferry/blob-info), a
 * small text file rewritten atomically.  Losing it costs time, never
 * correctness: every entry is re-checked against the registry before use.
 */
#ifndef FERRY_BLOBCACHE_H
#define FERRY_BLOBCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "compress.h"
#include "digest.h"
#include "error.h"

typedef struct ferry_blobcache ferry_blobcache;

/* Never fails: an unreadable cache is an empty one. path NULL: the default place. */
ferry_blobcache *ferry_blobcache_open(const char *path);
bool ferry_blobcache_compressed(ferry_blobcache *c, const ferry_digest *diff_id, ferry_comp comp, int level,
				ferry_digest *out, uint64_t *size);
void ferry_blobcache_put_compressed(ferry_blobcache *c, const ferry_digest *diff_id, ferry_comp comp, int level,
				    const ferry_digest *out, uint64_t size);
/*
 * A repository (of domain) where d was seen, or NULL (caller frees).  The
 * cache may be used from several threads at once.
 */
char *ferry_blobcache_location(ferry_blobcache *c, const char *domain, const ferry_digest *d);
void ferry_blobcache_put_location(ferry_blobcache *c, const char *domain, const char *repo, const ferry_digest *d);
/* Write back if anything changed (best effort: a cache that cannot be written is not an error). */
void ferry_blobcache_close(ferry_blobcache *c); /* NULL-safe; frees */

#endif
