/*
 * util.h - allocation helpers and small string utilities.
 *
 * Allocation failure aborts (as git's xmalloc does): every allocation ferry
 * makes is small and bounded (blobs are streamed, never held), so running out
 * of memory means the machine is already lost, and threading ENOMEM through
 * every caller would hide the real error paths.
 */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *ferry_xmalloc(size_t n);
void *ferry_xcalloc(size_t nmemb, size_t size);
void *ferry_xrealloc(void *p, size_t n);
char *ferry_xstrdup(const char *s);           /* NULL in, NULL out */
char *ferry_xstrndup(const char *s, size_t n);
char *ferry_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *arr (of elements of size elt) so that index n fits; *cap tracks capacity. */
void ferry_grow(void **arr, size_t *cap, size_t n, size_t elt);
#define FERRY_PUSH(arr, n, cap) \
	(ferry_grow((void **)&(arr), &(cap), (n) + 1, sizeof(*(arr))), &(arr)[(n)++])

bool ferry_str_endswith(const char *s, const char *suffix);
/* A size from the environment (test hooks): def unless name holds a decimal number in [lo, hi]. */
size_t ferry_env_size(const char *name, size_t lo, size_t hi, size_t def);
bool ferry_str_startswith(const char *s, const char *prefix);
/* Free a string holding a secret (a password, a token), wiping it first.  NULL-safe. */
void ferry_free_secret(char *s);
/* Is hostname (no port, no brackets) a loopback name or address? */
bool ferry_is_loopback(const char *hostname);

#endif
