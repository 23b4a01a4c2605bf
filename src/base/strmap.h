/*
 * strmap.h - a small string-keyed hash map (open addressing, FNV-1a).
 * Keys are copied and owned by the map; values are opaque pointers the
 * caller owns (or hands to ferry_strmap_free_with).  Walk it with
 * ferry_strmap_next, never through its fields.
 */
#ifndef FERRY_STRMAP_H
#define FERRY_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ferry_strmap {
	char **keys;
	void **vals;
	size_t cap, len;
} ferry_strmap;

void *ferry_strmap_get(const ferry_strmap *m, const char *key);
bool ferry_strmap_has(const ferry_strmap *m, const char *key);
/* Insert or replace; returns the previous value (or NULL). */
void *ferry_strmap_put(ferry_strmap *m, const char *key, void *val);
/*
 * Every pair once, in no particular order, while the map is not changed:
 *     for (size_t it = 0; ferry_strmap_next(m, &it, &key, &val);) ...
 * it starts at 0; key and val may be NULL when not wanted.
 */
bool ferry_strmap_next(const ferry_strmap *m, size_t *it, const char **key, void **val);
/* Frees the keys (not the values). */
void ferry_strmap_free(ferry_strmap *m);
/* Frees the keys, and every value with free_val. */
void ferry_strmap_free_with(ferry_strmap *m, void (*free_val)(void *));

#endif
