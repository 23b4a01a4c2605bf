/*
 * signatures.h - cosign key-based signatures, checked offline.
 *
 * A signature is an image of its own.  cosign stores it under the tag
 * "sha256-<hex of the signed digest>.sig" (or, in OCI 1.1 mode, as a
 * manifest whose subject names the signed image); each of its layers is a
 * simple-signing payload, a small JSON document whose
 * critical.image.docker-manifest-digest names the signed manifest, with the
 * base64 signature over the payload's exact bytes in the layer's
 * dev.cosignproject.cosign/signature annotation.  An image counts as signed
 * when one such layer names its digest and verifies with one of the keys.
 */
#ifndef FERRY_SIGNATURES_H
#define FERRY_SIGNATURES_H

#include "ferry.h"
#include "image.h"
#include "pkey.h"

#define FERRY_MT_COSIGN_PAYLOAD "application/vnd.dev.cosign.simplesigning.v1+json"
#define FERRY_ANN_COSIGN_SIGNATURE "dev.cosignproject.cosign/signature"
/* A payload is a few hundred bytes; a larger one is refused before it is read. */
#define FERRY_SIG_PAYLOAD_MAX (256u << 10)
/* A signature is some 70 bytes (ECDSA, DER) or 64 (Ed25519); base64 of more is refused. */
#define FERRY_SIG_B64_MAX 1024

/*
 * Check the signatures of every image of src (artifacts are not images)
 * against keys.  fn hears each image's verdict, in the source's order;
 * *n_unverified counts the images without a good signature.  Every problem
 * (unreadable payload, wrong digest, bad signature) is a verdict, not a
 * failure of the check.
 */
void ferry_source_check_signatures(ferry_source *src, ferry_pkey *const *keys, size_t n_keys, ferry_sig_fn fn,
				   void *ud, size_t *n_unverified);

#endif
