/*
 * error.h - the one error convention of libferry.
 *
 * Every function that can fail returns 0 on success and -1 on failure, and on
 * failure fills the caller's ferry_error with a category code and a message a
 * user can act on: what failed, on which file or blob, and why.  Callers add
 * context on the way up with ferry_error_prefix(), so the final message reads
 * from the outside in ("image docker.io/library/nginx:1: layer sha256:...: ...").
 *
 * The error is a plain value with a fixed buffer: filling it never allocates,
 * so it works after an allocation failure and needs no cleanup.
 */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include <stddef.h>

#include "export.h"

/* Categories double as the CLI's exit codes (documented in README.md). */
typedef enum {
	FERRY_OK = 0,
	FERRY_E_FAILED = 1,    /* generic failure: I/O, system call, internal */
	FERRY_E_USAGE = 2,     /* the caller asked for something malformed */
	FERRY_E_INTEGRITY = 3, /* a digest, size or diff_id did not match */
	FERRY_E_FORMAT = 4,    /* input is not a valid image archive/layout */
	FERRY_E_NOTFOUND = 5,  /* a named image, file or blob does not exist */
	FERRY_E_LIMIT = 6,     /* input exceeds a documented safety cap */
} ferry_code;

#define FERRY_ERROR_MSG_MAX 1024

typedef struct ferry_error {
	ferry_code code;
	char msg[FERRY_ERROR_MSG_MAX];
} ferry_error;

#define FERRY_ERROR_INIT {FERRY_OK, {0}}

/* Fill err (if not NULL) and return -1, so callers can `return ferry_error_set(...)`. */
FERRY_API int ferry_error_set(ferry_error *err, ferry_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like ferry_error_set, appending ": strerror(errnum)". */
FERRY_API int ferry_error_errno(ferry_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend "context: " to the message already in err; the code is kept. */
FERRY_API void ferry_error_prefix(ferry_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prepend "what: " unless the message already starts with it (trees name themselves). */
FERRY_API void ferry_error_prefix_once(ferry_error *err, const char *what);

FERRY_API void ferry_error_clear(ferry_error *err);

#endif
