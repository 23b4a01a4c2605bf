/*
 * pkey.h - the keys ferry checks signatures with, or signs with.
 *
 * Two schemes, the ones cosign's keys use: ECDSA on P-256 over SHA-256 (DER
 * signatures), and Ed25519 (over the message itself).  Keys are PEM files;
 * anything else (RSA, another curve, an encrypted private key) is refused
 * with a message naming the file, since a signature checked with the wrong
 * scheme would only ever read as "bad".
 */
#ifndef FERRY_PKEY_H
#define FERRY_PKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* A PEM key file is a few hundred bytes; this bounds what is read. */
#define FERRY_PKEY_FILE_MAX (64u << 10)

typedef struct ferry_pkey ferry_pkey;

/* A public key (or the public half of a private key file). */
int ferry_pkey_load_public(const char *path, ferry_pkey **out, ferry_error *err);
/* A private key, unencrypted. */
int ferry_pkey_load_private(const char *path, ferry_pkey **out, ferry_error *err);
void ferry_pkey_free(ferry_pkey *k); /* NULL-safe */

/* The file the key came from, as given: how reports name it. */
const char *ferry_pkey_path(const ferry_pkey *k);
/* "ecdsa-p256" or "ed25519". */
const char *ferry_pkey_scheme(const ferry_pkey *k);

/*
 * Does sig verify over msg with k?  A malformed signature is simply not
 * good; -1 only when the check could not run (err says why).
 */
int ferry_pkey_verify(const ferry_pkey *k, const void *msg, size_t len, const unsigned char *sig, size_t sig_len,
		      bool *good, ferry_error *err);

/* Sign msg with a private key; *sig is the caller's to free. */
int ferry_pkey_sign(const ferry_pkey *k, const void *msg, size_t len, unsigned char **sig, size_t *sig_len,
		    ferry_error *err);

#endif
