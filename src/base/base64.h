/*
 * base64.h - base64 (standard alphabet, padded) through libcrypto, for
 * HTTP Basic credentials and the "auth" of docker's config.json.
 */
#ifndef FERRY_BASE64_H
#define FERRY_BASE64_H

#include <stddef.h>

/* A new NUL-terminated string. */
char *ferry_base64_encode(const void *buf, size_t len);
/*
 * Decode s (missing padding accepted, as some tools write it); *len bytes,
 * NUL-terminated, caller frees.  NULL on bad input.  The copy made on the
 * way is wiped: what is decoded is usually a secret.
 */
unsigned char *ferry_base64_decode(const char *s, size_t *len);

#endif
