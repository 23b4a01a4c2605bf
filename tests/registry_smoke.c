/*
 * registry_smoke.c - the registry client against a real registry.
 *
 *   registry_smoke HOST:PORT
 *
 * Pushes a layer in several chunks and a config in one PUT, checks HEAD,
 * mounts the layer into a second repository, puts an OCI manifest under two
 * tags, gets it back by tag and by digest, lists the tags, downloads the
 * layer and checks its bytes, and checks the errors for a missing manifest
 * and blob.  Prints TAP; exits 1 if anything failed.
 *
 * Environment:
 *   FERRY_SMOKE_CERT_DIR     --cert-dir (ca.crt, client.cert/client.key)
 *   FERRY_SMOKE_CREDS        --creds USER:PASS (else the credential files)
 *   FERRY_SMOKE_BAD_CREDS=1  also check that wrong --creds fail with a message
 *                            naming "--creds" and not the password
 *   FERRY_SMOKE_SCHEME       http or https: the scheme the client must end up on
 *   FERRY_SMOKE_SIZE         layer size in bytes (default 3 MiB + 4321)
 *   FERRY_SMOKE_TLS_VERIFY=0 --tls-verify=false
 *   FERRY_SMOKE_DEBUG=1      trace requests to stderr
 *   FERRY_UPLOAD_CHUNK_TEST  chunk size for uploads (default here: 1 MiB, so
 *                            the layer goes in several PATCHes)
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "model.h"
#include "registry.h"
#include "registry/internal.h"
#include "stream.h"
#include "util.h"

static int n_test, n_failed;

static void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s %d - ", cond ? "ok" : "not ok", ++n_test);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	if (!cond)
		n_failed++;
}

static void diag(const ferry_error *err)
{
	printf("# %s\n", err->msg);
}

static unsigned char *make_bytes(size_t n, uint32_t seed)
{
	unsigned char *b = ferry_xmalloc(n ? n : 1);
	uint32_t x = seed;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 16);
	}
	return b;
}

/* Upload buf in uneven pieces. */
static int push_blob(ferry_registry *r, const char *repo, const unsigned char *buf, size_t len, ferry_digest *d,
		     ferry_error *err)
{
	ferry_digest_buffer(FERRY_ALG_SHA256, buf, len, d);
	ferry_upload *up;
	ferry_ostream *out;
	if (ferry_registry_upload_begin(r, repo, &up, &out, err) < 0)
		return -1;
	size_t off = 0, step = 1;
	while (off < len) {
		size_t n = len - off < step ? len - off : step;
		if (ferry_write(out, buf + off, n, err) < 0) {
			ferry_registry_upload_abort(up);
			return -1;
		}
		off += n;
		step = step * 3 + 7;
		if (step > 700000)
			step = 12345;
	}
	return ferry_registry_upload_finish(up, d, err);
}

int main(int argc, char **argv)
{
	const char *domain = argc > 1 ? argv[1] : getenv("FERRY_SMOKE_REGISTRY");
	if (!domain) {
		fprintf(stderr, "usage: registry_smoke HOST:PORT\n");
		return 2;
	}
	setenv("FERRY_UPLOAD_CHUNK_TEST", "1048576", 0);
	const char *e;
	size_t size = (3u << 20) + 4321;
	if ((e = getenv("FERRY_SMOKE_SIZE")))
		size = (size_t)strtoull(e, NULL, 10);

	ferry_registry_opts o;
	ferry_registry_opts_init(&o);
	o.cert_dir = getenv("FERRY_SMOKE_CERT_DIR");
	if (o.cert_dir && !*o.cert_dir)
		o.cert_dir = NULL;
	o.creds = getenv("FERRY_SMOKE_CREDS");
	if (o.creds && !*o.creds)
		o.creds = NULL;
	o.debug = (e = getenv("FERRY_SMOKE_DEBUG")) && *e == '1';
	o.tls_verify = !((e = getenv("FERRY_SMOKE_TLS_VERIFY")) && *e == '0');

	ferry_error err = FERRY_ERROR_INIT;
	ferry_registry *r = NULL;
	if (ferry_registry_open(domain, &o, &r, &err) < 0) {
		ok(false, "open %s", domain);
		diag(&err);
		printf("1..%d\n", n_test);
		return 1;
	}

	if (o.creds) {
		int lc = ferry_registry_check_login(r, &err);
		ok(lc == 0, "the credentials pass the login check");
		if (lc < 0)
			diag(&err);
	}

	char repo[64], other[64];
	snprintf(repo, sizeof(repo), "smoke/app-%d", (int)getpid());
	snprintf(other, sizeof(other), "smoke/other-%d", (int)getpid());

	/* layer: several chunks */
	unsigned char *layer = make_bytes(size, (uint32_t)getpid());
	ferry_digest ld;
	ferry_digest_buffer(FERRY_ALG_SHA256, layer, size, &ld);
	bool exists = true;
	uint64_t got_size = 0;
	int rc = ferry_registry_blob_exists(r, repo, &ld, &exists, &got_size, &err);
	ok(rc == 0 && !exists, "HEAD of a blob not pushed yet says absent");
	if (rc < 0)
		diag(&err);
	if ((e = getenv("FERRY_SMOKE_SCHEME")))
		ok(r->base && ferry_str_startswith(r->base, e) && r->base[strlen(e)] == ':', "talks %s (%s)", e,
		   r->base ? r->base : "nothing");
	ok(strcmp(ferry_registry_cred_source(r), o.creds ? "--creds" : ferry_registry_cred_source(r)) == 0,
	   "credentials from %s", ferry_registry_cred_source(r));

	rc = push_blob(r, repo, layer, size, &ld, &err);
	ok(rc == 0, "push a %zu-byte layer in chunks", size);
	if (rc < 0)
		diag(&err);
	rc = ferry_registry_blob_exists(r, repo, &ld, &exists, &got_size, &err);
	ok(rc == 0 && exists && got_size == size, "HEAD finds it with its size (%" PRIu64 ")", got_size);

	/* pushing the same bytes again works too */
	ferry_digest again;
	rc = push_blob(r, repo, layer, size, &again, &err);
	ok(rc == 0, "push the same layer again");
	if (rc < 0)
		diag(&err);

	/* a digest that does not match the bytes is refused before the registry sees it */
	{
		ferry_upload *up;
		ferry_ostream *out;
		ferry_digest wrong;
		ferry_digest_buffer(FERRY_ALG_SHA256, "x", 1, &wrong);
		rc = ferry_registry_upload_begin(r, repo, &up, &out, &err);
		if (rc == 0 && ferry_write(out, "abc", 3, &err) == 0)
			rc = ferry_registry_upload_finish(up, &wrong, &err);
		else if (rc == 0)
			ferry_registry_upload_abort(up);
		ok(rc < 0 && err.code == FERRY_E_INTEGRITY, "a wrong digest at finish is refused: %s", err.msg);
	}

	/* config: one PUT */
	char config[256];
	snprintf(config, sizeof(config),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
		 ld.str);
	ferry_digest cd;
	rc = push_blob(r, repo, (const unsigned char *)config, strlen(config), &cd, &err);
	ok(rc == 0, "push the config in one PUT");
	if (rc < 0)
		diag(&err);

	/* mount into another repository */
	bool mounted = false;
	rc = ferry_registry_blob_mount(r, other, &ld, repo, &mounted, &err);
	ok(rc == 0 && mounted, "mount the layer into %s", other);
	if (rc < 0)
		diag(&err);
	rc = ferry_registry_blob_exists(r, other, &ld, &exists, NULL, &err);
	ok(rc == 0 && exists, "the mounted layer is there");
	ferry_digest nothere;
	ferry_digest_buffer(FERRY_ALG_SHA256, "not pushed", 10, &nothere);
	rc = ferry_registry_blob_mount(r, other, &nothere, repo, &mounted, &err);
	ok(rc == 0 && !mounted, "mounting a blob the source lacks gives an upload, not an error");
	if (rc < 0)
		diag(&err);

	/* manifest */
	char *manifest = ferry_xasprintf(
		"{\"schemaVersion\":2,\"mediaType\":\"" FERRY_MT_OCI_MANIFEST "\","
		"\"config\":{\"mediaType\":\"" FERRY_MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
		"\"layers\":[{\"mediaType\":\"" FERRY_MT_OCI_LAYER "\",\"digest\":\"%s\",\"size\":%zu}]}",
		cd.str, strlen(config), ld.str, size);
	ferry_digest md;
	ferry_digest_buffer(FERRY_ALG_SHA256, manifest, strlen(manifest), &md);
	rc = ferry_registry_manifest_put(r, repo, "v1", FERRY_MT_OCI_MANIFEST, manifest, strlen(manifest), &err);
	ok(rc == 0, "put the manifest as v1");
	if (rc < 0)
		diag(&err);
	rc = ferry_registry_manifest_put(r, repo, "v2", FERRY_MT_OCI_MANIFEST, manifest, strlen(manifest), &err);
	ok(rc == 0, "put it as v2");
	rc = ferry_registry_manifest_put(r, repo, md.str, FERRY_MT_OCI_MANIFEST, manifest, strlen(manifest), &err);
	ok(rc == 0, "put it by digest");
	if (rc < 0)
		diag(&err);

	unsigned char *buf = NULL;
	size_t len = 0;
	char *mt = NULL;
	ferry_digest gd;
	rc = ferry_registry_manifest_get(r, repo, "v1", &buf, &len, &mt, &gd, &err);
	ok(rc == 0 && len == strlen(manifest) && memcmp(buf, manifest, len) == 0, "get v1: the same bytes");
	if (rc < 0)
		diag(&err);
	ok(rc == 0 && strcmp(mt, FERRY_MT_OCI_MANIFEST) == 0, "get v1: media type %s", mt ? mt : "-");
	ok(rc == 0 && ferry_digest_eq(&gd, &md), "get v1: digest %s", gd.str);
	free(buf);
	free(mt);
	buf = NULL;
	mt = NULL;
	rc = ferry_registry_manifest_get(r, repo, md.str, &buf, &len, &mt, &gd, &err);
	ok(rc == 0 && len == strlen(manifest) && ferry_digest_eq(&gd, &md), "get by digest");
	if (rc < 0)
		diag(&err);
	free(buf);
	free(mt);

	rc = ferry_registry_manifest_get(r, repo, "nope", &buf, &len, &mt, &gd, &err);
	ok(rc < 0 && err.code == FERRY_E_NOTFOUND && strstr(err.msg, "MANIFEST_UNKNOWN") && strstr(err.msg, domain),
	   "a missing tag: %s", err.msg);

	char **tags = NULL;
	size_t nt = 0;
	rc = ferry_registry_tags(r, repo, &tags, &nt, &err);
	bool v1 = false, v2 = false;
	for (size_t i = 0; i < nt; i++) {
		v1 = v1 || strcmp(tags[i], "v1") == 0;
		v2 = v2 || strcmp(tags[i], "v2") == 0;
		free(tags[i]);
	}
	free(tags);
	ok(rc == 0 && nt == 2 && v1 && v2, "tags: v1 and v2 (%zu tags)", nt);
	if (rc < 0)
		diag(&err);
	rc = ferry_registry_tags(r, "smoke/never-pushed", &tags, &nt, &err);
	ok(rc < 0 && err.code == FERRY_E_NOTFOUND, "tags of a missing repository: %s", err.msg);

	/* download */
	ferry_istream *in = NULL;
	uint64_t dsize = 0;
	rc = ferry_registry_blob_open(r, other, &ld, &in, &dsize, &err);
	ok(rc == 0 && dsize == size, "open the layer from %s (size %" PRIu64 ")", other, dsize);
	if (rc == 0) {
		ferry_ostream *h = ferry_ostream_hash(FERRY_ALG_SHA256, NULL);
		unsigned char *back = ferry_xmalloc(size + 1);
		size_t have = 0;
		ssize_t n;
		while ((n = ferry_read(in, back + have, have < size ? size + 1 - have : 1, &err)) > 0)
			have += (size_t)n;
		ok(n == 0 && have == size && memcmp(back, layer, size) == 0, "downloaded bytes are the layer");
		if (n < 0)
			diag(&err);
		ferry_write(h, back, have, &err);
		ferry_finish(h, &err);
		ferry_digest dd;
		uint64_t hs;
		ferry_hash_result(h, &dd, &hs);
		ok(ferry_digest_eq(&dd, &ld), "downloaded digest %s", dd.str);
		ferry_ostream_free(h);
		free(back);
		ferry_istream_close(in);
	} else {
		diag(&err);
	}
	/* stream the layer from one repository into another over the same client */
	char copy[64];
	snprintf(copy, sizeof(copy), "smoke/copy-%d", (int)getpid());
	rc = ferry_registry_blob_open(r, repo, &ld, &in, NULL, &err);
	if (rc == 0) {
		ferry_upload *up;
		ferry_ostream *out;
		rc = ferry_registry_upload_begin(r, copy, &up, &out, &err);
		if (rc == 0) {
			rc = ferry_pump(in, out, &err);
			if (rc == 0)
				rc = ferry_registry_upload_finish(up, &ld, &err);
			else
				ferry_registry_upload_abort(up);
		}
		ferry_istream_close(in);
	}
	ok(rc == 0, "stream the layer from %s into %s", repo, copy);
	if (rc < 0)
		diag(&err);
	rc = ferry_registry_blob_exists(r, copy, &ld, &exists, &got_size, &err);
	ok(rc == 0 && exists && got_size == size, "the copy is there");

	/* an empty blob, up and down */
	ferry_digest ed;
	rc = push_blob(r, repo, (const unsigned char *)"", 0, &ed, &err);
	ok(rc == 0, "push an empty blob");
	if (rc < 0)
		diag(&err);
	rc = ferry_registry_blob_open(r, repo, &ed, &in, &dsize, &err);
	if (rc == 0) {
		char one;
		ssize_t n = ferry_read(in, &one, 1, &err);
		ok(n == 0 && dsize == 0, "read it back: nothing, size %" PRIu64, dsize);
		ferry_istream_close(in);
	} else {
		ok(false, "open the empty blob");
		diag(&err);
	}

	rc = ferry_registry_blob_open(r, repo, &nothere, &in, NULL, &err);
	ok(rc < 0 && err.code == FERRY_E_NOTFOUND, "a missing blob: %s", err.msg);

	ferry_registry_free(r);

	if ((e = getenv("FERRY_SMOKE_BAD_CREDS")) && *e == '1') {
		o.creds = "ferry:definitely-wrong-pw";
		rc = ferry_registry_open(domain, &o, &r, &err);
		if (rc == 0)
			rc = ferry_registry_blob_exists(r, repo, &ld, &exists, NULL, &err);
		ok(rc < 0 && strstr(err.msg, "--creds") && !strstr(err.msg, "definitely-wrong-pw"),
		   "wrong credentials: %s", err.msg);
		ferry_registry_free(r);
		r = NULL;
		rc = ferry_registry_open(domain, &o, &r, &err);
		if (rc == 0)
			rc = ferry_registry_check_login(r, &err);
		ok(rc < 0 && !strstr(err.msg, "definitely-wrong-pw"), "wrong credentials fail the login check: %s",
		   err.msg);
		ferry_registry_free(r);
	}

	free(manifest);
	free(layer);
	printf("1..%d\n", n_test);
	return n_failed ? 1 : 0;
}
