/*
 * digest.h - content digests ("sha256:<64 hex>", "sha512:<128 hex>").
 *
 * A digest string from an archive is hostile until ferry_digest_parse() has
 * accepted it: only then may it become part of a path (blobs/<alg>/<hex>).
 * Parsing is strict: a known algorithm, lowercase hex, exact length.
 */
#ifndef FERRY_DIGEST_H
#define FERRY_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "export.h"

typedef enum { FERRY_ALG_SHA256 = 0, FERRY_ALG_SHA512 = 1 } ferry_alg;

/* "sha512:" + 128 hex + NUL */
#define FERRY_DIGEST_STRMAX 136

typedef struct ferry_digest {
	ferry_alg alg;
	char str[FERRY_DIGEST_STRMAX]; /* the full "alg:hex" form; "" when unset */
} ferry_digest;

FERRY_API int ferry_digest_parse(ferry_digest *d, const char *s, ferry_error *err);
FERRY_API bool ferry_digest_is_set(const ferry_digest *d);
FERRY_API bool ferry_digest_eq(const ferry_digest *a, const ferry_digest *b);
FERRY_API const char *ferry_digest_hex(const ferry_digest *d);      /* the encoded part */
FERRY_API const char *ferry_alg_name(ferry_alg alg);                 /* "sha256" */
/* Short form for messages: "sha256:0123456789ab". Returns buf. */
FERRY_API const char *ferry_digest_short(const ferry_digest *d, char buf[24]);

typedef struct ferry_hasher ferry_hasher;

FERRY_API ferry_hasher *ferry_hasher_new(ferry_alg alg);             /* caller frees */
FERRY_API void ferry_hasher_update(ferry_hasher *h, const void *buf, size_t len);
FERRY_API void ferry_hasher_final(ferry_hasher *h, ferry_digest *out); /* then only free */
FERRY_API void ferry_hasher_free(ferry_hasher *h);

FERRY_API void ferry_digest_buffer(ferry_alg alg, const void *buf, size_t len, ferry_digest *out);

#endif
