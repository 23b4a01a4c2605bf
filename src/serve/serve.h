/*
 * serve.h - ferry serve: archives and layouts as a read-only registry (the
 * OCI distribution API), for the far side of an air gap.
 *
 * At start-up every location is opened with the library and its images are
 * gathered into one index: repositories and tags, manifests by digest (their
 * exact bytes, held in memory) and blobs by digest (where their bytes lie in
 * the tar or the layout).  Requests are answered from that index only; blob
 * bytes go from the source file to the socket (sendfile), never copied or
 * extracted, so memory stays flat however many clients pull.
 */
#ifndef FERRY_SERVE_H
#define FERRY_SERVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ferry.h"
#include "image.h"

/* Most repositories or tags one catalog or tags/list answer holds when the client gives no n. */
#define SERVE_PAGE_MAX 10000

typedef struct serve_opts {
	const char *listen;     /* HOST:PORT; NULL: 127.0.0.1:5000 */
	const char *tls_cert;   /* PEM files; both or neither */
	const char *tls_key;
	const char *htpasswd;   /* bcrypt entries (htpasswd -B); NULL: no auth */
	const char *registry;   /* --registry HOST[:PORT], as convert applies it to names */
	const char *prefix;     /* --prefix HOST[:PORT]/PATH */
	const char *repository; /* --repository NAME for images named by a bare tag */
	bool quiet;             /* no banner and no access log */
	bool json;              /* banner and access log as JSON lines on stdout */
} serve_opts;

/* ---- the index (serve_index.c) ---- */

typedef struct serve_index serve_index;

typedef struct serve_manifest {
	const unsigned char *bytes; /* exact bytes (owned by the source, or by the index when built) */
	size_t len;
	const char *media_type;
	ferry_digest digest;
	size_t source;
} serve_manifest;

typedef struct serve_blob {
	ferry_digest digest;
	uint64_t size;
	const char *path; /* entry in the source's tree */
	size_t source;
} serve_blob;

/* Open every location and index it; a name two locations serve with different digests is an error. */
int serve_index_build(const char *const *locations, size_t n, const serve_opts *o, serve_index **out,
		      ferry_error *err);
void serve_index_free(serve_index *ix);

/* "NAME:TAG digest" lines for the banner, sorted (a JSON array of strings). */
json_t *serve_index_names(const serve_index *ix);
bool serve_has_repo(const serve_index *ix, const char *repo);
/* A tag or a digest ("sha256:..."), in repo; NULL when unknown. */
const serve_manifest *serve_find_manifest(const serve_index *ix, const char *repo, const char *reference);
const serve_blob *serve_find_blob(const serve_index *ix, const char *digest);
/*
 * One page of names after last (NULL: from the start), at most n; *more is
 * set when names remain.  repo NULL: the catalog; else repo's tags.
 */
json_t *serve_page(const serve_index *ix, const char *repo, const char *last, size_t n, bool *more);
/* An OCI index of the manifests whose subject is digest (only artifactType ones when set). */
json_t *serve_referrers(const serve_index *ix, const char *digest, const char *artifact_type);

/* Is source still the file (or layout) indexed at start-up?  FERRY_E_INTEGRITY when not. */
int serve_source_check(serve_index *ix, size_t source, ferry_error *err);
/* A blob's bytes: a new fd and the offset where they start (the source checked first). */
int serve_blob_open(serve_index *ix, const serve_blob *b, int *fd, uint64_t *offset, ferry_error *err);
/*
 * A blob no one file holds whole (one that spans two volumes of a set): its
 * bytes as a stream read across the files (the source checked first).
 */
int serve_blob_stream(serve_index *ix, const serve_blob *b, ferry_istream **in, ferry_error *err);

/* ---- Basic auth against an htpasswd file (serve_auth.c) ---- */

typedef struct serve_auth serve_auth;

/* Only bcrypt entries ($2y$, $2b$, $2a$) are accepted. */
int serve_auth_load(const char *path, serve_auth **out, ferry_error *err);
bool serve_auth_check(serve_auth *a, const char *user, const char *password);
void serve_auth_free(serve_auth *a);

/* ---- the HTTP server (serve_http.c, serve_api.c) ---- */

/*
 * Serve until SIGTERM (requests in flight finish, then 0) or SIGINT (stop at
 * once, FERRY_E_FAILED "interrupted").  Blocks SIGINT, SIGTERM and SIGHUP in
 * the calling thread and takes them with sigwait.
 */
int serve_run(serve_index *ix, const serve_opts *o, ferry_error *err);

#endif
