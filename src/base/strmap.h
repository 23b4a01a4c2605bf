/*
 * strmap.h - a small string-keyed hash map (open addressing, FNV-1a).
 * Keys are copied and owned by the map; values are opaque pointers the
 * caller owns.
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
/* Frees the keys (not the values). */
void ferry_strmap_free(ferry_strmap *m);

#endif
