/*
 * registry.h - an OCI distribution (registry v2) client over libcurl.
 *
 * One ferry_registry talks to one registry host ("docker.io" is sent to
 * registry-1.docker.io).  It handles authentication (anonymous, Basic,
 * Bearer tokens from a WWW-Authenticate challenge, with the scopes each
 * request needs, refreshed when they expire), TLS (system store, --cert-dir,
 * /etc/docker/certs.d/HOST:PORT/), plain HTTP for loopback and
 * --insecure-registry hosts, and bounded retries of network errors, 5xx and
 * 429.  No secret is ever put into an error message or a debug trace.
 *
 * Memory is bounded: downloads stream through a small buffer; uploads are
 * sent in chunks of at most FERRY_UPLOAD_CHUNK bytes.
 *
 * A ferry_registry is not thread-safe: use one per thread.  Credentials are
 * looked up (files, helpers) only when the registry first asks for them.
 */
#ifndef FERRY_REGISTRY_H
#define FERRY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "registry_opts.h" /* ferry_registry_opts: public */
#include "stream.h"

#define FERRY_UPLOAD_CHUNK (8u << 20)

typedef struct ferry_registry ferry_registry;

/* domain as in a reference: "localhost:5000", "docker.io", "[::1]:5000". */
int ferry_registry_open(const char *domain, const ferry_registry_opts *o, ferry_registry **out, ferry_error *err);
void ferry_registry_free(ferry_registry *r); /* NULL-safe */
/* Probe the registry now (GET /v2/: scheme and auth) rather than at the first request. */
int ferry_registry_connect(ferry_registry *r, ferry_error *err);
/*
 * Another connection to r's registry, for another thread, starting from
 * what r has learnt (scheme, auth challenge, credentials) instead of
 * probing again.  r must not be in use by another thread during the call.
 */
int ferry_registry_open_sibling(const ferry_registry *r, const ferry_registry_opts *o, ferry_registry **out,
				ferry_error *err);
/* Where credentials came from, for messages: "--creds", "/root/.docker/config.json", "none". */
const char *ferry_registry_cred_source(const ferry_registry *r);

/* HEAD /v2/<repo>/blobs/<digest>. *exists false on 404. size may be NULL; UINT64_MAX when not sent. */
int ferry_registry_blob_exists(ferry_registry *r, const char *repo, const ferry_digest *d, bool *exists,
			       uint64_t *size, ferry_error *err);

/* POST ?mount=<digest>&from=<from_repo>: *mounted true on 201; false when the registry wants an upload (202, which is then cancelled). */
int ferry_registry_blob_mount(ferry_registry *r, const char *repo, const ferry_digest *d, const char *from_repo,
			      bool *mounted, ferry_error *err);

/*
 * Upload a blob: bytes written to *out are sent (buffered up to
 * FERRY_UPLOAD_CHUNK, then PATCHed; OCI-Chunk-Min-Length honoured; a small
 * blob goes in one PUT).  ferry_registry_upload_finish() sends what is left
 * with PUT ?digest= and checks the registry's Docker-Content-Digest.  A
 * chunk that fails is retried, resuming from the Range the registry reports.
 * The upload object owns *out (never ferry_ostream_free() it; its finish
 * does nothing).  finish refuses a sha256 d that the written bytes do not
 * have (FERRY_E_INTEGRITY), and cancels the upload on any failure.
 * FERRY_UPLOAD_CHUNK_TEST=N in the environment sets the chunk size (tests).
 */
typedef struct ferry_upload ferry_upload;
int ferry_registry_upload_begin(ferry_registry *r, const char *repo, ferry_upload **up, ferry_ostream **out,
				ferry_error *err);
int ferry_registry_upload_finish(ferry_upload *up, const ferry_digest *d, ferry_error *err); /* frees up */
void ferry_registry_upload_abort(ferry_upload *up);                                           /* frees up */

/*
 * GET a blob as a stream (redirects followed, https->http refused).  The
 * stream resumes with a Range request when the connection breaks, and its
 * read fails with FERRY_E_INTEGRITY at the end if the bytes do not hash to d.
 * *size (may be NULL) is the Content-Length, UINT64_MAX when not sent.
 * Close the stream before freeing r.
 */
int ferry_registry_blob_open(ferry_registry *r, const char *repo, const ferry_digest *d, ferry_istream **in,
			     uint64_t *size, ferry_error *err);

/*
 * GET /v2/<repo>/manifests/<ref> (a tag or digest), accepting OCI and Docker
 * manifests and indexes.  At most FERRY_JSON_MAX bytes.  *media_type is the
 * Content-Type (caller frees), *digest the sha256 of the bytes (checked
 * against ref when ref is a digest, and against Docker-Content-Digest).
 */
int ferry_registry_manifest_get(ferry_registry *r, const char *repo, const char *ref, unsigned char **buf,
				size_t *len, char **media_type, ferry_digest *digest, ferry_error *err);

/* PUT /v2/<repo>/manifests/<ref> with the exact bytes; Docker-Content-Digest checked against the bytes' sha256. */
int ferry_registry_manifest_put(ferry_registry *r, const char *repo, const char *ref, const char *media_type,
				const void *buf, size_t len, ferry_error *err);

/*
 * GET /v2/<repo>/referrers/<d> (OCI 1.1), filtered by artifact_type when
 * not NULL.  *supported: the registry answered with an index (in *buf, at
 * most FERRY_JSON_MAX bytes, caller frees); a registry without the API
 * (404, 400, 405, 501) leaves it false and is no error.
 */
int ferry_registry_referrers(ferry_registry *r, const char *repo, const ferry_digest *d, const char *artifact_type,
			     unsigned char **buf, size_t *len, bool *supported, ferry_error *err);

/* GET /v2/<repo>/tags/list (following Link pagination). Caller frees each tag and the array. */
int ferry_registry_tags(ferry_registry *r, const char *repo, char ***tags, size_t *n, ferry_error *err);
/* GET /v2/_catalog (paginated the same way): every repository, where the registry allows it. */
int ferry_registry_catalog(ferry_registry *r, char ***repos, size_t *n, ferry_error *err);

/*
 * For login: prove the credentials r was opened with (opts->creds) by a
 * GET /v2/ that needs them (with token auth: a token without any scope).
 * Succeeds too when the registry asks for no credentials at all.
 */
int ferry_registry_check_login(ferry_registry *r, ferry_error *err);

/* ---- pieces exposed for tests and for login ---- */

typedef struct ferry_auth_challenge {
	char *scheme; /* "basic", "bearer" (lowercased) */
	char *realm, *service, *scope; /* NULL when absent */
} ferry_auth_challenge;

/* Parse every challenge of a WWW-Authenticate header value (quoted values may hold commas). */
int ferry_auth_parse(const char *header, ferry_auth_challenge **out, size_t *n, ferry_error *err);
void ferry_auth_free(ferry_auth_challenge *c, size_t n);

/* Credentials for a domain, first found wins (see README). *user and *secret are NULL when none; identity tokens set *is_token. */
int ferry_creds_lookup(const char *domain, const char *cli_creds, char **user, char **secret, bool *is_token,
		       char **source, ferry_error *err);

/* login/logout: edit the docker config file ($DOCKER_CONFIG/config.json or ~/.docker/config.json), mode 0600. */
int ferry_creds_store(const char *domain, const char *user, const char *password, ferry_error *err);
int ferry_creds_erase(const char *domain, ferry_error *err);

#endif
