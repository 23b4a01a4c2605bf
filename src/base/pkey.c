/*
 * pkey.c - ECDSA P-256 and Ed25519 keys through libcrypto.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "pkey.h"
#include "util.h"

struct ferry_pkey {
	EVP_PKEY *pkey;
	bool ed25519; /* else ECDSA P-256 with SHA-256 */
	bool private_key;
	char *path;
};

/* Read a key file whole, refusing anything but a small regular file. */
static BIO *open_key_file(const char *path, ferry_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = errno;
		return ferry_error_errno(err, e, "cannot read key %s", path), NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)FERRY_PKEY_FILE_MAX)
		return ferry_error_set(err, FERRY_E_USAGE, "key %s is not a PEM key file (%s)", path,
				       S_ISREG(st.st_mode) ? "too large" : "not a regular file"),
		       NULL;
	BIO *bio = BIO_new_file(path, "r");
	if (!bio) {
		ERR_clear_error();
		return ferry_error_errno(err, errno ? errno : EIO, "cannot read key %s", path), NULL;
	}
	return bio;
}

/* Accept only the two schemes cosign keys use. */
static int classify(ferry_pkey *k, ferry_error *err)
{
	int id = EVP_PKEY_get_base_id(k->pkey);
	if (id == EVP_PKEY_ED25519) {
		k->ed25519 = true;
		return 0;
	}
	if (id == EVP_PKEY_EC) {
		char curve[64] = "";
		size_t len = 0;
		if (EVP_PKEY_get_utf8_string_param(k->pkey, "group", curve, sizeof(curve), &len) == 1 &&
		    strcmp(curve, "prime256v1") == 0)
			return 0;
		return ferry_error_set(err, FERRY_E_USAGE, "key %s is on curve %s; ferry checks P-256 (prime256v1)",
				       k->path, *curve ? curve : "(unknown)");
	}
	return ferry_error_set(err, FERRY_E_USAGE, "key %s is a %s key; ferry checks ECDSA P-256 and Ed25519 keys",
			       k->path, OBJ_nid2sn(id));
}

static int load(const char *path, bool private_key, ferry_pkey **out, ferry_error *err)
{
	*out = NULL;
	BIO *bio = open_key_file(path, err);
	if (!bio)
		return -1;
	/* No password callback: an encrypted key fails here instead of prompting. */
	EVP_PKEY *pk = private_key ? PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"")
				   : PEM_read_bio_PUBKEY(bio, NULL, NULL, (void *)"");
	if (!pk && !private_key) {
		/* A private key file also holds the public half. */
		ERR_clear_error();
		(void)BIO_reset(bio);
		pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	}
	BIO_free(bio);
	if (!pk) {
		unsigned long e = ERR_get_error();
		ERR_clear_error();
		return ferry_error_set(err, FERRY_E_USAGE, "key %s: not a PEM %s key%s%s", path,
				       private_key ? "private (unencrypted)" : "public", e ? ": " : "",
				       e ? ERR_reason_error_string(e) : "");
	}
	ferry_pkey *k = ferry_xcalloc(1, sizeof(*k));
	k->pkey = pk;
	k->private_key = private_key;
	k->path = ferry_xstrdup(path);
	if (classify(k, err) < 0) {
		ferry_pkey_free(k);
		return -1;
	}
	*out = k;
	return 0;
}

int ferry_pkey_load_public(const char *path, ferry_pkey **out, ferry_error *err)
{
	return load(path, false, out, err);
}

int ferry_pkey_load_private(const char *path, ferry_pkey **out, ferry_error *err)
{
	return load(path, true, out, err);
}

void ferry_pkey_free(ferry_pkey *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->path);
	free(k);
}

const char *ferry_pkey_path(const ferry_pkey *k)
{
	return k->path;
}

const char *ferry_pkey_scheme(const ferry_pkey *k)
{
	return k->ed25519 ? "ed25519" : "ecdsa-p256";
}

/* Ed25519 signs the message itself (no digest); ECDSA here always uses SHA-256. */
static const EVP_MD *md_of(const ferry_pkey *k)
{
	return k->ed25519 ? NULL : EVP_sha256();
}

int ferry_pkey_verify(const ferry_pkey *k, const void *msg, size_t len, const unsigned char *sig, size_t sig_len,
		      bool *good, ferry_error *err)
{
	*good = false;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestVerifyInit(ctx, NULL, md_of(k), NULL, k->pkey) != 1) {
		EVP_MD_CTX_free(ctx);
		ERR_clear_error();
		return ferry_error_set(err, FERRY_E_FAILED, "cannot check signatures with key %s", k->path);
	}
	int rc = EVP_DigestVerify(ctx, sig, sig_len, msg, len);
	EVP_MD_CTX_free(ctx);
	/* 0 is a bad signature, < 0 a malformed one: both are just "not good". */
	ERR_clear_error();
	*good = rc == 1;
	return 0;
}

int ferry_pkey_sign(const ferry_pkey *k, const void *msg, size_t len, unsigned char **sig, size_t *sig_len,
		    ferry_error *err)
{
	*sig = NULL;
	*sig_len = 0;
	if (!k->private_key)
		return ferry_error_set(err, FERRY_E_USAGE, "key %s is a public key; signing needs the private key",
				       k->path);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = 0;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, md_of(k), NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &n, msg, len) != 1)
		goto fail;
	unsigned char *buf = ferry_xmalloc(n);
	if (EVP_DigestSign(ctx, buf, &n, msg, len) != 1) {
		free(buf);
		goto fail;
	}
	EVP_MD_CTX_free(ctx);
	*sig = buf;
	*sig_len = n;
	return 0;
fail:
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ferry_error_set(err, FERRY_E_FAILED, "cannot sign with key %s", k->path);
}
