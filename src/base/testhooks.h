/*
 * testhooks.h - the settings only tests use, in one place.  They are read
 * from the environment once, at the first ask (pthread_once), and never
 * again; production code asks ferry_testhooks() instead of the environment.
 *
 * Every hook:
 *   FERRY_LANES_TEST=1         layer jobs run on one lane only (tests compare
 *                              the bytes of one-lane and two-lane runs);
 *                              2, the default, lets two lanes run
 *   FERRY_PUSH_SMALL_TEST=N    a push keeps blobs of up to N bytes in memory
 *                              for its workers (default 4 MiB; 0 streams
 *                              every blob)
 *   FERRY_UPLOAD_CHUNK_TEST=N  registry uploads go in N-byte chunks, so small
 *                              blobs take the PATCH path
 * A value that is not a number in the caller's range is ignored.
 */
#ifndef FERRY_TESTHOOKS_H
#define FERRY_TESTHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FERRY_HOOK_UNSET SIZE_MAX

typedef struct ferry_testhook_values {
	bool one_lane;       /* FERRY_LANES_TEST=1 */
	size_t push_small;   /* FERRY_PUSH_SMALL_TEST, or FERRY_HOOK_UNSET */
	size_t upload_chunk; /* FERRY_UPLOAD_CHUNK_TEST, or FERRY_HOOK_UNSET */
} ferry_testhook_values;

/* The hooks, read on the first call (thread-safe). */
const ferry_testhook_values *ferry_testhooks(void);

/* hook when it is set and within [lo, hi], else def. */
size_t ferry_testhook_or(size_t hook, size_t lo, size_t hi, size_t def);

#endif
