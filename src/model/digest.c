#include "digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "util.h"

static const struct {
	const char *name;
	size_t hexlen;
} algs[] = {
	[FERRY_ALG_SHA256] = {"sha256", 64},
	[FERRY_ALG_SHA512] = {"sha512", 128},
};

const char *ferry_alg_name(ferry_alg alg)
{
	return algs[alg].name;
}

int ferry_digest_parse(ferry_digest *d, const char *s, ferry_error *err)
{
	return ferry_digest_parse_as(d, s, FERRY_E_FORMAT, err);
}

int ferry_digest_parse_as(ferry_digest *d, const char *s, ferry_code bad, ferry_error *err)
{
	memset(d, 0, sizeof(*d));
	if (!s)
		return ferry_error_set(err, bad, "missing digest");
	const char *colon = strchr(s, ':');
	if (!colon)
		return ferry_error_set(err, bad, "invalid digest \"%.80s\": no algorithm", s);
	size_t alen = (size_t)(colon - s);
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (strlen(algs[i].name) != alen || memcmp(s, algs[i].name, alen) != 0)
			continue;
		const char *hex = colon + 1;
		size_t n = strlen(hex);
		if (n != algs[i].hexlen)
			return ferry_error_set(err, bad,
					       "invalid digest \"%.80s\": %s needs %zu hex digits, found %zu",
					       s, algs[i].name, algs[i].hexlen, n);
		for (size_t j = 0; j < n; j++) {
			char c = hex[j];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
				return ferry_error_set(err, bad,
						       "invalid digest \"%.80s\": not lowercase hex", s);
		}
		d->alg = (ferry_alg)i;
		memcpy(d->str, s, alen + 1 + n + 1);
		return 0;
	}
	return ferry_error_set(err, bad, "invalid digest \"%.80s\": unsupported algorithm", s);
}

bool ferry_digest_is_set(const ferry_digest *d)
{
	return d->str[0] != '\0';
}

bool ferry_digest_eq(const ferry_digest *a, const ferry_digest *b)
{
	return strcmp(a->str, b->str) == 0;
}

const char *ferry_digest_hex(const ferry_digest *d)
{
	const char *c = strchr(d->str, ':');
	return c ? c + 1 : d->str;
}

const char *ferry_digest_short(const ferry_digest *d, char buf[24])
{
	snprintf(buf, 24, "%s:%.12s", ferry_alg_name(d->alg), ferry_digest_hex(d));
	return buf;
}

struct ferry_hasher {
	ferry_alg alg;
	EVP_MD_CTX *ctx;
};

ferry_hasher *ferry_hasher_new(ferry_alg alg)
{
	ferry_hasher *h = ferry_xcalloc(1, sizeof(*h));
	h->alg = alg;
	h->ctx = EVP_MD_CTX_new();
	const EVP_MD *md = alg == FERRY_ALG_SHA512 ? EVP_sha512() : EVP_sha256();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
		fprintf(stderr, "ferry: cannot initialise %s\n", ferry_alg_name(alg));
		abort();
	}
	return h;
}

void ferry_hasher_update(ferry_hasher *h, const void *buf, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, buf, len);
}

void ferry_hasher_final(ferry_hasher *h, ferry_digest *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, md, &n);
	static const char hexd[] = "0123456789abcdef";
	memset(out, 0, sizeof(*out));
	out->alg = h->alg;
	size_t p = (size_t)snprintf(out->str, sizeof(out->str), "%s:", ferry_alg_name(h->alg));
	for (unsigned int i = 0; i < n; i++) {
		out->str[p++] = hexd[md[i] >> 4];
		out->str[p++] = hexd[md[i] & 15];
	}
	out->str[p] = '\0';
}

void ferry_hasher_free(ferry_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void ferry_digest_buffer(ferry_alg alg, const void *buf, size_t len, ferry_digest *out)
{
	ferry_hasher *h = ferry_hasher_new(alg);
	ferry_hasher_update(h, buf, len);
	ferry_hasher_final(h, out);
	ferry_hasher_free(h);
}
