/*
 * registry/client.c - opening a registry and the blob, manifest and tag
 * operations of registry.h.
 */
#include "registry/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "readfile.h"
#include "ref.h"
#include "testhooks.h"
#include "util.h"

#define CERTS_D "/etc/docker/certs.d"
#define PEM_FILE_MAX (1u << 20)
#define SYSTEM_CA_MAX (16u << 20)
#define TAG_PAGES_MAX 10000
#define MANIFEST_ACCEPT                                                                                  \
	FERRY_MT_OCI_INDEX ", " FERRY_MT_OCI_MANIFEST ", " FERRY_MT_DOCKER_LIST ", " FERRY_MT_DOCKER_MANIFEST

void ferry_registry_opts_init(ferry_registry_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls_verify = true;
	o->retries = 3;
	o->stall_seconds = FERRY_STALL_SECONDS;
}

/* ---- TLS material ---- */

static void pem_append(ferry_registry *r, const char *text, size_t len)
{
	r->ca_pem = ferry_xrealloc(r->ca_pem, r->ca_pem_len + len + 2);
	memcpy(r->ca_pem + r->ca_pem_len, text, len);
	r->ca_pem_len += len;
	if (len > 0 && text[len - 1] != '\n')
		r->ca_pem[r->ca_pem_len++] = '\n';
	r->ca_pem[r->ca_pem_len] = '\0';
}

/* The trust store curl would use by default, so extra CAs add to it rather than replace it. */
static void add_system_cas(ferry_registry *r)
{
	char *path = NULL;
	curl_easy_getinfo(r->curl, CURLINFO_CAINFO, &path);
	char *buf = NULL;
	size_t len = 0;
	/* No readable system bundle: only the extra CAs are trusted, which is all there is to trust. */
	ferry_error none = FERRY_ERROR_INIT;
	if (path && ferry_read_file(path, SYSTEM_CA_MAX, &buf, &len, &none) == 0) {
		pem_append(r, buf, len);
		free(buf);
	}
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/*
 * Docker's cert directory layout: *.crt are CAs; X.cert + X.key a client
 * certificate.  An explicit --cert-dir must exist; /etc/docker/certs.d/HOST
 * need not.
 */
static int load_cert_dir(ferry_registry *r, const char *dir, bool must_exist, ferry_error *err)
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, name_cmp);
	if (n < 0) {
		if (!must_exist && (errno == ENOENT || errno == ENOTDIR))
			return 0;
		return ferry_error_errno(err, errno, "cannot read certificate directory %s", dir);
	}
	int rc = 0;
	bool have_ca = false;
	for (int i = 0; i < n && rc == 0; i++) {
		const char *name = ents[i]->d_name;
		char *path = ferry_xasprintf("%s/%s", dir, name);
		if (ferry_str_endswith(name, ".crt")) {
			char *buf = NULL;
			size_t len = 0;
			if (ferry_read_file(path, PEM_FILE_MAX, &buf, &len, err) < 0) {
				rc = -1;
			} else {
				if (!have_ca)
					add_system_cas(r);
				have_ca = true;
				pem_append(r, buf, len);
				free(buf);
			}
		} else if (ferry_str_endswith(name, ".cert")) {
			char *key = ferry_xasprintf("%.*s.key", (int)(strlen(path) - 5), path);
			if (access(key, R_OK) != 0) {
				rc = ferry_error_set(err, FERRY_E_USAGE, "certificate directory %s: %s has no matching %s", dir,
						     name, strrchr(key, '/') + 1);
				free(key);
			} else if (r->client_cert) {
				free(key); /* first pair wins, as the names are sorted */
			} else {
				r->client_cert = ferry_xstrdup(path);
				r->client_key = key;
			}
		} else if (ferry_str_endswith(name, ".key")) {
			char *cert = ferry_xasprintf("%.*s.cert", (int)(strlen(path) - 4), path);
			if (access(cert, F_OK) != 0)
				rc = ferry_error_set(err, FERRY_E_USAGE, "certificate directory %s: %s has no matching %s", dir,
						     name, strrchr(cert, '/') + 1);
			free(cert);
		}
		free(path);
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return rc;
}

/* ---- open / free ---- */

static bool insecure_match(const ferry_registry *r, const char *entry)
{
	const char *e = entry;
	if (strncasecmp(e, "https://", 8) == 0)
		e += 8;
	else if (strncasecmp(e, "http://", 7) == 0)
		e += 7;
	size_t n = strcspn(e, "/");
	if ((strlen(r->domain) == n && strncasecmp(e, r->domain, n) == 0) ||
	    (strlen(r->host) == n && strncasecmp(e, r->host, n) == 0))
		return true;
	/* An entry without a port covers every port of that host. */
	return strlen(r->hostname) == n && strncasecmp(e, r->hostname, n) == 0;
}

static void set_noproxy(ferry_registry *r)
{
	const char *env = getenv("no_proxy");
	if (!env || !*env)
		env = getenv("NO_PROXY");
	/* Like Go's HTTP client, never send loopback traffic to a proxy. */
	if (env && strcmp(env, "*") == 0)
		snprintf(r->noproxy, sizeof(r->noproxy), "*");
	else if (env && *env && strlen(env) < sizeof(r->noproxy) - 64)
		snprintf(r->noproxy, sizeof(r->noproxy), "%s,localhost,127.0.0.0/8,::1", env);
	else
		snprintf(r->noproxy, sizeof(r->noproxy), "localhost,127.0.0.0/8,::1");
}

int ferry_registry_open(const char *domain, const ferry_registry_opts *o, ferry_registry **out, ferry_error *err)
{
	*out = NULL;
	ferry_registry_opts defaults;
	if (!o) {
		ferry_registry_opts_init(&defaults);
		o = &defaults;
	}
	if (ferry_domain_check(domain, err) < 0)
		return -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ferry_error_set(err, FERRY_E_FAILED, "cannot initialise libcurl");
	ferry_registry *r = ferry_xcalloc(1, sizeof(*r));
	r->tc = reg_token_cache_new();
	bool hub = strcasecmp(domain, "docker.io") == 0 || strcasecmp(domain, "index.docker.io") == 0;
	r->domain = ferry_xstrdup(hub ? "docker.io" : domain);
	r->host = ferry_xstrdup(hub ? "registry-1.docker.io" : domain);
	if (r->host[0] == '[')
		r->hostname = ferry_xstrndup(r->host + 1, strcspn(r->host, "]") - 1);
	else
		r->hostname = ferry_xstrndup(r->host, strcspn(r->host, ":"));
	r->tls_verify = o->tls_verify;
	r->retries = o->retries < 0 ? 0 : o->retries;
	r->stall_seconds = o->stall_seconds > 0 ? o->stall_seconds : FERRY_STALL_SECONDS;
	r->debug = o->debug;
	r->insecure = ferry_xcalloc(o->n_insecure + 1, sizeof(char *));
	for (size_t i = 0; i < o->n_insecure; i++)
		r->insecure[r->n_insecure++] = ferry_xstrdup(o->insecure[i]);
	r->may_http = ferry_is_loopback(r->hostname);
	for (size_t i = 0; !r->may_http && i < r->n_insecure; i++)
		r->may_http = insecure_match(r, r->insecure[i]);
	r->cli_creds = ferry_xstrdup(o->creds);
	r->cred_source = ferry_xstrdup(o->creds ? (o->creds_label ? o->creds_label : "--creds") : "none");
	set_noproxy(r);

	r->curl = curl_easy_init();
	r->share = curl_share_init();
	if (!r->curl || !r->share) {
		ferry_registry_free(r);
		return ferry_error_set(err, FERRY_E_FAILED, "cannot initialise libcurl");
	}
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

	int rc;
	if (o->cert_dir) {
		rc = load_cert_dir(r, o->cert_dir, true, err);
	} else {
		char *dir = ferry_xasprintf(CERTS_D "/%s", domain);
		rc = load_cert_dir(r, dir, false, err);
		free(dir);
	}
	if (rc == 0 && o->creds)
		rc = reg_creds_load(r, err); /* only checks the USER:PASS form */
	if (rc < 0) {
		ferry_registry_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

int ferry_registry_connect(ferry_registry *r, ferry_error *err)
{
	return reg_ping(r, err);
}

int ferry_registry_open_sibling(const ferry_registry *r, const ferry_registry_opts *o, ferry_registry **out,
				ferry_error *err)
{
	if (ferry_registry_open(r->domain, o, out, err) < 0)
		return -1;
	ferry_registry *s = *out;
	if (!r->base)
		return 0; /* nothing learnt yet: it probes for itself */
	s->base = ferry_xstrdup(r->base);
	s->auth = r->auth;
	/* One token per scope for all of them, not one per connection. */
	reg_token_cache_unref(s->tc);
	s->tc = reg_token_cache_ref(r->tc);
	s->realm = r->realm ? ferry_xstrdup(r->realm) : NULL;
	s->service = r->service ? ferry_xstrdup(r->service) : NULL;
	if (r->creds_loaded && !s->creds_loaded) {
		s->creds_loaded = true;
		s->user = r->user ? ferry_xstrdup(r->user) : NULL;
		s->secret = r->secret ? ferry_xstrdup(r->secret) : NULL;
		s->is_token = r->is_token;
		free(s->cred_source);
		s->cred_source = ferry_xstrdup(r->cred_source);
	}
	return 0;
}

void ferry_registry_free(ferry_registry *r)
{
	if (!r)
		return;
	reg_token_cache_unref(r->tc);
	if (r->curl)
		curl_easy_cleanup(r->curl);
	if (r->share)
		curl_share_cleanup(r->share);
	curl_global_cleanup();
	for (size_t i = 0; i < r->n_insecure; i++)
		free(r->insecure[i]);
	free(r->insecure);
	free(r->domain);
	free(r->host);
	free(r->hostname);
	free(r->base);
	free(r->ca_pem);
	free(r->client_cert);
	free(r->client_key);
	ferry_free_secret(r->cli_creds);
	free(r->user);
	ferry_free_secret(r->secret);
	free(r->cred_source);
	free(r->realm);
	free(r->service);
	free(r);
}

const char *ferry_registry_cred_source(const ferry_registry *r)
{
	return r->cred_source ? r->cred_source : "none";
}

int ferry_registry_check_login(ferry_registry *r, ferry_error *err)
{
	/* GET /v2/ with credentials; with tokens, one without any scope proves them. */
	reg_req q = {.method = "GET", .url = "/v2/", .what = "login"};
	reg_resp p = {0};
	int rc = reg_do(r, &q, &p, err);
	if (rc == 0 && p.h.status == 200 && r->auth != REG_AUTH_NONE && !r->user && !r->secret)
		rc = ferry_error_set(err, FERRY_E_USAGE, "login: no credentials given for registry %s", r->domain);
	else if (rc == 0 && p.h.status != 200)
		rc = reg_status_error(r, &q, &p, err);
	reg_resp_clear(&p);
	return rc;
}

/* ---- argument checks ---- */

static bool alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/*
 * A repository path goes into URLs: only the reference grammar's characters,
 * and every '/'-separated component starts and ends alphanumeric, so there
 * is no "." or ".." component for URL normalisation to fold away.
 */
static int check_repo(const char *repo, ferry_error *err)
{
	size_t n = repo ? strlen(repo) : 0;
	bool ok = n > 0 && n <= 255;
	for (size_t i = 0; ok && i < n; i++) {
		char c = repo[i];
		bool first = i == 0 || repo[i - 1] == '/';
		bool last = i + 1 == n || repo[i + 1] == '/';
		if (c == '/')
			ok = !first && !last;
		else if (first || last)
			ok = alnum_lower(c);
		else
			ok = alnum_lower(c) || c == '.' || c == '_' || c == '-';
	}
	if (!ok)
		return ferry_error_set(err, FERRY_E_USAGE, "invalid repository name \"%.300s\"", repo ? repo : "");
	return 0;
}

/* A manifest reference: a tag or a digest; *d set (alg) when it is a digest. */
static int check_manifest_ref(const char *ref, ferry_digest *d, bool *is_digest, ferry_error *err)
{
	*is_digest = false;
	if (ref && strchr(ref, ':')) {
		if (ferry_digest_parse(d, ref, err) < 0)
			return -1;
		*is_digest = true;
		return 0;
	}
	if (!ref || !ferry_tag_valid(ref))
		return ferry_error_set(err, FERRY_E_USAGE, "invalid tag \"%.200s\"", ref ? ref : "");
	return 0;
}

static char *scope_pull(const char *repo)
{
	return ferry_xasprintf("repository:%s:pull", repo);
}

static char *scope_push(const char *repo)
{
	return ferry_xasprintf("repository:%s:pull,push", repo);
}

/* ---- blobs ---- */

/* What a request about blob d in repo needs: its URL, pull scope and name for messages (caller frees). */
typedef struct blob_req {
	char *url, *scope, *what;
} blob_req;

static int blob_req_make(blob_req *b, const char *repo, const ferry_digest *d, ferry_error *err)
{
	if (check_repo(repo, err) < 0)
		return -1;
	char sh[24];
	b->url = ferry_xasprintf("/v2/%s/blobs/%s", repo, d->str);
	b->scope = scope_pull(repo);
	b->what = ferry_xasprintf("blob %s in %s", ferry_digest_short(d, sh), repo);
	return 0;
}

static void blob_req_free(blob_req *b)
{
	free(b->url);
	free(b->scope);
	free(b->what);
}

int ferry_registry_blob_exists(ferry_registry *r, const char *repo, const ferry_digest *d, bool *exists,
			       uint64_t *size, ferry_error *err)
{
	*exists = false;
	blob_req b;
	if (blob_req_make(&b, repo, d, err) < 0)
		return -1;
	char *url = b.url, *scope = b.scope, *what = b.what;
	reg_req q = {.method = "HEAD", .url = url, .scope = scope, .follow = true, .what = what};
	reg_resp p = {0};
	int rc = reg_do(r, &q, &p, err);
	if (rc == 0) {
		if (p.h.status == 200) {
			*exists = true;
			if (size)
				*size = p.h.has_length ? p.h.content_length : UINT64_MAX;
		} else if (p.h.status != 404) {
			rc = reg_status_error(r, &q, &p, err);
		}
	}
	reg_resp_clear(&p);
	blob_req_free(&b);
	return rc;
}

/* Best effort: cancel an upload session we do not want. */
static void cancel_upload(ferry_registry *r, const char *location, const char *scope)
{
	reg_req q = {.method = "DELETE",
		     .url = location,
		     .scope = scope,
		     .no_retry = true,
		     .best_effort = true,
		     .what = "cancel upload"};
	reg_resp p = {0};
	ferry_error ignored = FERRY_ERROR_INIT;
	reg_do(r, &q, &p, &ignored);
	reg_resp_clear(&p);
}

int ferry_registry_blob_mount(ferry_registry *r, const char *repo, const ferry_digest *d, const char *from_repo,
			      bool *mounted, ferry_error *err)
{
	*mounted = false;
	if (check_repo(repo, err) < 0 || check_repo(from_repo, err) < 0)
		return -1;
	char *url = ferry_xasprintf("/v2/%s/blobs/uploads/", repo);
	const char *const query[] = {"mount", d->str, "from", from_repo, NULL};
	/* Reading the source repository is part of the request. */
	char *scope = ferry_xasprintf("repository:%s:pull,push repository:%s:pull", repo, from_repo);
	char sh[24];
	char *what = ferry_xasprintf("mount of blob %s from %s into %s", ferry_digest_short(d, sh), from_repo, repo);
	reg_req q = {.method = "POST", .url = url, .query = query, .scope = scope, .what = what};
	reg_resp p = {0};
	int rc = reg_do(r, &q, &p, err);
	if (rc == 0) {
		if (p.h.status == 201) {
			*mounted = true;
		} else if (p.h.status == 202) {
			if (p.h.location) {
				/* Not mounted, so an upload was opened: closed if its Location can be followed. */
				ferry_error refused = FERRY_ERROR_INIT;
				char *loc = reg_url_join(p.url, p.h.location, &refused);
				if (loc)
					cancel_upload(r, loc, scope);
				free(loc);
			}
		} else {
			rc = reg_status_error(r, &q, &p, err);
		}
	}
	reg_resp_clear(&p);
	free(url);
	free(scope);
	free(what);
	return rc;
}

int ferry_registry_blob_open(ferry_registry *r, const char *repo, const ferry_digest *d, ferry_istream **in,
			     uint64_t *size, ferry_error *err)
{
	*in = NULL;
	blob_req b;
	if (blob_req_make(&b, repo, d, err) < 0)
		return -1;
	int rc = reg_download_open(r, b.url, b.scope, d, b.what, in, size, err);
	blob_req_free(&b);
	return rc;
}

/* ---- uploads ---- */

struct ferry_upload {
	ferry_ostream os; /* what the caller writes to; owned by the upload */
	ferry_registry *r;
	char *repo, *scope, *what;
	char *location;     /* absolute URL of the upload session */
	unsigned char *buf; /* bytes not yet sent */
	size_t len, alloc;
	size_t chunk;      /* PATCH when this much is buffered */
	uint64_t sent;     /* bytes the registry has (all before buf) */
	bool chunked;      /* a PATCH was sent: finish with an empty PUT */
	bool failed;
	ferry_error fail; /* why, repeated to later calls */
	ferry_hasher *hash;
};

static size_t chunk_size(void)
{
	/* A test hook: small chunks exercise the PATCH path with small blobs. */
	return ferry_testhook_or(ferry_testhooks()->upload_chunk, 1, REG_CHUNK_MAX, FERRY_UPLOAD_CHUNK);
}

static int upload_fail(ferry_upload *up, ferry_error *err)
{
	up->failed = true;
	if (err)
		up->fail = *err;
	return -1;
}

/* "0-N" or "bytes=0-N": the registry holds N+1 bytes.  false when absent or malformed. */
static bool parse_range(const char *range, uint64_t *have)
{
	if (!range)
		return false;
	const char *p = range;
	if (strncasecmp(p, "bytes=", 6) == 0)
		p += 6;
	uint64_t a, b;
	char tail;
	if (sscanf(p, "%" SCNu64 "-%" SCNu64 "%c", &a, &b, &tail) != 2 || a != 0)
		return false;
	/* distribution says "0-0" for an empty upload as well as for one byte */
	*have = b == 0 ? 0 : b + 1;
	return true;
}

static int set_location(ferry_upload *up, const reg_resp *p, ferry_error *err)
{
	if (!p->h.location)
		return 0; /* keep the old one */
	char *loc = reg_url_join(p->url, p->h.location, err);
	if (!loc)
		return -1;
	free(up->location);
	up->location = loc;
	return 0;
}

/* Ask the registry how much of the upload it has (GET on the session). */
static int upload_status(ferry_upload *up, uint64_t *have, ferry_error *err)
{
	reg_req q = {.method = "GET", .url = up->location, .scope = up->scope, .what = up->what};
	reg_resp p = {0};
	int rc = reg_do(up->r, &q, &p, err);
	if (rc == 0 && p.h.status != 204 && p.h.status != 200)
		rc = reg_status_error(up->r, &q, &p, err);
	if (rc == 0)
		rc = set_location(up, &p, err);
	if (rc == 0 && !parse_range(p.h.range, have))
		*have = 0;
	reg_resp_clear(&p);
	return rc;
}

static bool retryable(long st)
{
	return st == 408 || st == 429 || st >= 500;
}

/* PATCH the buffer; on failure ask where the registry stands and send the rest. */
static int upload_flush(ferry_upload *up, ferry_error *err)
{
	size_t done = 0; /* bytes of buf the registry has */
	int attempt = 0;
	while (done < up->len) {
		char cr[96];
		uint64_t start = up->sent + done, end = up->sent + up->len - 1;
		snprintf(cr, sizeof(cr), "Content-Range: %" PRIu64 "-%" PRIu64, start, end);
		reg_req q = {.method = "PATCH",
			     .url = up->location,
			     .scope = up->scope,
			     .content_type = "application/octet-stream",
			     .extra_header = cr,
			     .body = up->buf + done,
			     .body_len = up->len - done,
			     .no_retry = true,
			     .what = up->what};
		reg_resp p = {0};
		ferry_error e = FERRY_ERROR_INIT;
		int rc = reg_do(up->r, &q, &p, &e);
		long st = rc == 0 ? p.h.status : 0;
		if (rc == 0 && (st == 202 || st == 204 || st == 201 || st == 200)) {
			rc = set_location(up, &p, err);
			uint64_t have;
			/* A Range of "0-0" says nothing useful (see parse_range): trust only a real one. */
			if (rc == 0 && parse_range(p.h.range, &have) && have > 0 && have < end + 1) {
				/* It kept less than we sent: send the rest. */
				if (have < up->sent + done || attempt >= up->r->retries) {
					reg_resp_clear(&p);
					return ferry_error_set(err, FERRY_E_FAILED,
							       "%s: registry %s kept %" PRIu64 " bytes of the upload, %" PRIu64
							       " were sent",
							       up->what, up->r->domain, have, end + 1);
				}
				done = (size_t)(have - up->sent);
				attempt++;
				reg_resp_clear(&p);
				continue;
			}
			if (p.h.chunk_min > up->chunk && p.h.chunk_min <= REG_CHUNK_MAX)
				up->chunk = (size_t)p.h.chunk_min;
			reg_resp_clear(&p);
			if (rc < 0)
				return -1;
			done = up->len;
			break;
		}
		/* 416: the registry holds a different amount than we think (a lost answer). */
		if ((rc < 0 || retryable(st) || st == 416) && attempt < up->r->retries) {
			reg_backoff(attempt++, rc == 0 ? p.h.retry_after : NULL);
			reg_resp_clear(&p);
			uint64_t have = 0;
			if (upload_status(up, &have, err) < 0) {
				ferry_error_prefix(err, "cannot resume the upload after a failed chunk");
				return -1;
			}
			if (have < up->sent || have > up->sent + up->len)
				return ferry_error_set(err, FERRY_E_FAILED,
						       "%s: cannot resume: registry %s holds %" PRIu64
						       " bytes of the upload, the chunk in memory covers %" PRIu64 "-%" PRIu64,
						       up->what, up->r->domain, have, up->sent, up->sent + up->len);
			done = (size_t)(have - up->sent);
			continue;
		}
		if (rc < 0)
			*err = e;
		else
			reg_status_error(up->r, &q, &p, err);
		reg_resp_clear(&p);
		return -1;
	}
	up->sent += up->len;
	up->len = 0;
	up->chunked = true;
	return 0;
}

static int upload_write(ferry_ostream *os, const void *buf, size_t len, ferry_error *err)
{
	ferry_upload *up = (ferry_upload *)os;
	if (up->failed) {
		if (err)
			*err = up->fail;
		return -1;
	}
	ferry_hasher_update(up->hash, buf, len);
	const unsigned char *b = buf;
	while (len > 0) {
		size_t room = up->chunk - up->len;
		size_t n = len < room ? len : room;
		if (up->len + n > up->alloc) {
			/* Grow as needed so small blobs stay small in memory. */
			size_t a = up->alloc ? up->alloc : 64 << 10;
			while (a < up->len + n)
				a *= 2;
			if (a > up->chunk)
				a = up->chunk;
			up->buf = ferry_xrealloc(up->buf, a);
			up->alloc = a;
		}
		memcpy(up->buf + up->len, b, n);
		up->len += n;
		b += n;
		len -= n;
		if (up->len == up->chunk && upload_flush(up, err) < 0)
			return upload_fail(up, err);
	}
	return 0;
}

static int upload_os_finish(ferry_ostream *os, ferry_error *err)
{
	/* The data is sent by ferry_registry_upload_finish(), which knows the digest. */
	ferry_upload *up = (ferry_upload *)os;
	if (up->failed) {
		if (err)
			*err = up->fail;
		return -1;
	}
	return 0;
}

static void upload_os_free(ferry_ostream *os)
{
	(void)os; /* owned by the upload */
}

static void upload_free(ferry_upload *up)
{
	ferry_hasher_free(up->hash);
	free(up->buf);
	free(up->repo);
	free(up->scope);
	free(up->what);
	free(up->location);
	free(up);
}

int ferry_registry_upload_begin(ferry_registry *r, const char *repo, ferry_upload **upp, ferry_ostream **out,
				ferry_error *err)
{
	*upp = NULL;
	*out = NULL;
	if (check_repo(repo, err) < 0)
		return -1;
	ferry_upload *up = ferry_xcalloc(1, sizeof(*up));
	up->os.write = upload_write;
	up->os.finish = upload_os_finish;
	up->os.free = upload_os_free;
	up->r = r;
	up->repo = ferry_xstrdup(repo);
	up->scope = scope_push(repo);
	up->what = ferry_xasprintf("blob upload to %s", repo);
	up->chunk = chunk_size();
	up->hash = ferry_hasher_new(FERRY_ALG_SHA256);

	char *url = ferry_xasprintf("/v2/%s/blobs/uploads/", repo);
	reg_req q = {.method = "POST", .url = url, .scope = up->scope, .what = up->what};
	reg_resp p = {0};
	int rc = reg_do(r, &q, &p, err);
	if (rc == 0 && p.h.status != 202 && p.h.status != 201 && p.h.status != 200)
		rc = reg_status_error(r, &q, &p, err);
	if (rc == 0 && !p.h.location)
		rc = ferry_error_set(err, FERRY_E_FAILED, "%s: registry %s started an upload without a Location", up->what,
				     r->domain);
	if (rc == 0 && !(up->location = reg_url_join(p.url, p.h.location, err)))
		rc = -1;
	if (rc == 0 && p.h.chunk_min > up->chunk) {
		if (p.h.chunk_min > REG_CHUNK_MAX)
			rc = ferry_error_set(err, FERRY_E_LIMIT,
					     "%s: registry %s wants chunks of at least %" PRIu64 " bytes (ferry holds at "
					     "most %u in memory)",
					     up->what, r->domain, p.h.chunk_min, REG_CHUNK_MAX);
		else
			up->chunk = (size_t)p.h.chunk_min;
	}
	reg_resp_clear(&p);
	free(url);
	if (rc < 0) {
		upload_free(up);
		return -1;
	}
	*upp = up;
	*out = &up->os;
	return 0;
}

/* Docker-Content-Digest, when sent, must name what we mean. */
static int check_header_digest(ferry_registry *r, const char *what, const char *hdr, const ferry_digest *want,
			       const void *bytes, size_t len, ferry_error *err)
{
	if (!hdr || !*hdr)
		return 0;
	ferry_digest got;
	ferry_error unknown = FERRY_ERROR_INIT;
	if (ferry_digest_parse(&got, hdr, &unknown) < 0)
		return 0; /* an algorithm we do not know: nothing to compare */
	if (bytes && got.alg != want->alg) {
		ferry_digest again;
		ferry_digest_buffer(got.alg, bytes, len, &again);
		if (ferry_digest_eq(&again, &got))
			return 0;
	} else if (ferry_digest_eq(&got, want) || got.alg != want->alg) {
		return 0;
	}
	return ferry_error_set(err, FERRY_E_INTEGRITY, "%s: registry %s reports digest %s, expected %s", what, r->domain,
			       got.str, want->str);
}

int ferry_registry_upload_finish(ferry_upload *up, const ferry_digest *d, ferry_error *err)
{
	ferry_registry *r = up->r;
	int rc = -1;
	reg_resp p = {0};
	if (up->failed) {
		if (err)
			*err = up->fail;
		goto abort;
	}
	if (d->alg == FERRY_ALG_SHA256) {
		ferry_digest mine;
		ferry_hasher_final(up->hash, &mine);
		ferry_hasher_free(up->hash);
		up->hash = NULL;
		if (!ferry_digest_eq(&mine, d)) {
			ferry_error_set(err, FERRY_E_INTEGRITY, "%s: the bytes written have digest %s, not %s", up->what,
					mine.str, d->str);
			goto abort;
		}
	}
	if (up->chunked && up->len > 0 && upload_flush(up, err) < 0)
		goto abort;
	const char *const query[] = {"digest", d->str, NULL};
	char sh[24];
	char *what = ferry_xasprintf("blob %s upload to %s", ferry_digest_short(d, sh), up->repo);
	/* Small blob: one PUT with the body.  Chunked: an empty closing PUT. */
	reg_req q = {.method = "PUT",
		     .url = up->location,
		     .query = query,
		     .scope = up->scope,
		     .content_type = "application/octet-stream",
		     .body = up->chunked ? NULL : up->buf,
		     .body_len = up->chunked ? 0 : up->len,
		     .what = what};
	rc = reg_do(r, &q, &p, err);
	if (rc == 0) {
		long st = p.h.status;
		if (st == 201 || st == 202 || st == 204 || st == 200) {
			rc = check_header_digest(r, what, p.h.digest, d, NULL, 0, err);
		} else if (st == 404) {
			/* A retried PUT whose first try went through finds its session gone. */
			bool exists = false;
			ferry_error e2 = FERRY_ERROR_INIT;
			if (ferry_registry_blob_exists(r, up->repo, d, &exists, NULL, &e2) == 0 && exists)
				rc = 0;
			else
				rc = reg_status_error(r, &q, &p, err);
		} else {
			rc = reg_status_error(r, &q, &p, err);
		}
	}
	free(what);
	reg_resp_clear(&p);
	if (rc == 0) {
		upload_free(up);
		return 0;
	}
abort:
	cancel_upload(r, up->location, up->scope);
	upload_free(up);
	return -1;
}

void ferry_registry_upload_abort(ferry_upload *up)
{
	if (!up)
		return;
	cancel_upload(up->r, up->location, up->scope);
	upload_free(up);
}

/* ---- manifests ---- */

/* The media type of a manifest answer: Content-Type without parameters, else the document's mediaType. */
static char *manifest_media_type(const reg_resp *p)
{
	char *ct = NULL;
	if (p->h.content_type) {
		size_t n = strcspn(p->h.content_type, ";");
		while (n > 0 && (p->h.content_type[n - 1] == ' ' || p->h.content_type[n - 1] == '\t'))
			n--;
		ct = ferry_xstrndup(p->h.content_type, n);
	}
	if (ct && *ct && strcasecmp(ct, "application/json") != 0 && strcasecmp(ct, "text/plain") != 0 &&
	    strcasecmp(ct, "application/octet-stream") != 0)
		return ct;
	free(ct);
	json_t *j = json_loadb((const char *)p->body, p->body_len, 0, NULL);
	const char *mt = json_string_value(json_object_get(j, "mediaType"));
	char *out = mt && *mt ? ferry_xstrdup(mt) : NULL;
	json_decref(j);
	return out;
}

int ferry_registry_manifest_get(ferry_registry *r, const char *repo, const char *ref, unsigned char **buf,
				size_t *len, char **media_type, ferry_digest *digest, ferry_error *err)
{
	*buf = NULL;
	*len = 0;
	*media_type = NULL;
	ferry_digest want;
	bool by_digest = false;
	if (check_repo(repo, err) < 0 || check_manifest_ref(ref, &want, &by_digest, err) < 0)
		return -1;
	char *url = ferry_xasprintf("/v2/%s/manifests/%s", repo, ref);
	char *scope = scope_pull(repo);
	char *what = ferry_xasprintf("manifest %s%s%s", repo, by_digest ? "@" : ":", ref);
	reg_req q = {.method = "GET",
		     .url = url,
		     .scope = scope,
		     .accept = MANIFEST_ACCEPT,
		     .max_body = FERRY_JSON_MAX,
		     .follow = true,
		     .what = what};
	reg_resp p = {0};
	int rc = reg_do(r, &q, &p, err);
	if (rc < 0) {
		if (err && err->code == FERRY_E_LIMIT)
			ferry_error_set(err, FERRY_E_LIMIT, "%s: larger than %u bytes, refused", what, FERRY_JSON_MAX);
		goto out;
	}
	if (p.h.status != 200) {
		rc = reg_status_error(r, &q, &p, err);
		goto out;
	}
	rc = -1;
	if (p.body_len == 0) {
		ferry_error_set(err, FERRY_E_FORMAT, "%s: registry %s sent an empty manifest", what, r->domain);
		goto out;
	}
	ferry_digest_buffer(by_digest ? want.alg : FERRY_ALG_SHA256, p.body, p.body_len, digest);
	if (by_digest && !ferry_digest_eq(digest, &want)) {
		ferry_error_set(err, FERRY_E_INTEGRITY, "%s: registry %s sent a manifest with digest %s", what, r->domain,
				digest->str);
		goto out;
	}
	if (check_header_digest(r, what, p.h.digest, digest, p.body, p.body_len, err) < 0)
		goto out;
	char *mt = manifest_media_type(&p);
	if (!mt) {
		ferry_error_set(err, FERRY_E_FORMAT, "%s: registry %s sent no media type for it", what, r->domain);
		goto out;
	}
	*media_type = mt;
	*buf = p.body;
	*len = p.body_len;
	p.body = NULL;
	rc = 0;
out:
	reg_resp_clear(&p);
	free(url);
	free(scope);
	free(what);
	return rc;
}

int ferry_registry_manifest_put(ferry_registry *r, const char *repo, const char *ref, const char *media_type,
				const void *buf, size_t len, ferry_error *err)
{
	ferry_digest want;
	bool by_digest = false;
	if (check_repo(repo, err) < 0 || check_manifest_ref(ref, &want, &by_digest, err) < 0)
		return -1;
	if (!media_type || !*media_type || strpbrk(media_type, "\r\n"))
		return ferry_error_set(err, FERRY_E_USAGE, "manifest %s:%s: a media type is needed", repo, ref);
	ferry_digest mine;
	ferry_digest_buffer(by_digest ? want.alg : FERRY_ALG_SHA256, buf, len, &mine);
	char *what = ferry_xasprintf("manifest %s%s%s", repo, by_digest ? "@" : ":", ref);
	if (by_digest && !ferry_digest_eq(&mine, &want)) {
		int e = ferry_error_set(err, FERRY_E_INTEGRITY, "%s: the manifest bytes have digest %s", what, mine.str);
		free(what);
		return e;
	}
	char *url = ferry_xasprintf("/v2/%s/manifests/%s", repo, ref);
	char *scope = scope_push(repo);
	reg_req q = {.method = "PUT",
		     .url = url,
		     .scope = scope,
		     .content_type = media_type,
		     .body = buf,
		     .body_len = len,
		     .what = what};
	reg_resp p = {0};
	int rc = reg_do(r, &q, &p, err);
	if (rc == 0) {
		long st = p.h.status;
		if (st == 201 || st == 200 || st == 202 || st == 204)
			rc = check_header_digest(r, what, p.h.digest, &mine, buf, len, err);
		else
			rc = reg_status_error(r, &q, &p, err);
	}
	reg_resp_clear(&p);
	free(url);
	free(scope);
	free(what);
	return rc;
}

/* ---- tags ---- */

/* The URL of a Link header's rel="next", or NULL. */
static char *link_next(const char *link)
{
	const char *p = link;
	while (p && *p) {
		const char *lt = strchr(p, '<');
		if (!lt)
			return NULL;
		const char *gt = strchr(lt, '>');
		if (!gt)
			return NULL;
		const char *end = strchr(gt, ',');
		/* a '<' inside the parameters would start the next link */
		size_t plen = end ? (size_t)(end - gt) : strlen(gt);
		char *params = ferry_xstrndup(gt + 1, plen > 0 ? plen - 1 : 0);
		bool next = strcasestr(params, "rel=\"next\"") || strcasestr(params, "rel=next");
		free(params);
		if (next)
			return ferry_xstrndup(lt + 1, (size_t)(gt - lt - 1));
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

/*
 * GET url and the pages its Link headers lead to, each {"<key>": [strings]}
 * (null or absent: none).  Takes url, scope and what.
 */
static int list_paged(ferry_registry *r, char *url, char *scope, char *what, const char *key, char ***out,
		      size_t *n, ferry_error *err)
{
	char **list = NULL;
	size_t cnt = 0, cap = 0;
	int rc = 0;
	for (int page = 0; url; page++) {
		if (page >= TAG_PAGES_MAX) {
			rc = ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %d pages", what, TAG_PAGES_MAX);
			break;
		}
		reg_req q = {.method = "GET",
			     .url = url,
			     .scope = scope,
			     .max_body = FERRY_JSON_MAX,
			     .follow = true,
			     .what = what};
		reg_resp p = {0};
		rc = reg_do(r, &q, &p, err);
		if (rc == 0 && p.h.status != 200)
			rc = reg_status_error(r, &q, &p, err);
		json_t *j = NULL;
		if (rc == 0) {
			json_error_t je;
			j = json_loadb((const char *)p.body, p.body_len, 0, &je);
			json_t *t = json_object_get(j, key);
			if (!json_is_object(j) || !(json_is_array(t) || json_is_null(t) || !t)) {
				rc = ferry_error_set(err, FERRY_E_FORMAT, "%s: registry %s sent something else than "
						     "{\"%s\":[...]}", what, r->domain, key);
			} else {
				size_t i;
				json_t *v;
				json_array_foreach(t, i, v) {
					if (!json_is_string(v)) {
						rc = ferry_error_set(err, FERRY_E_FORMAT, "%s: an entry is not a string", what);
						break;
					}
					*FERRY_PUSH(list, cnt, cap) = ferry_xstrdup(json_string_value(v));
				}
			}
		}
		json_decref(j);
		char *next = NULL;
		if (rc == 0 && p.h.link) {
			char *target = link_next(p.h.link);
			if (target) {
				next = reg_url_join(p.url, target, err);
				if (!next)
					rc = -1;
				else if (!reg_url_same_origin(next, r->base)) {
					/* Our credentials go with the request: stay on the registry. */
					rc = ferry_error_set(err, FERRY_E_FAILED,
							     "%s: registry %s paginates to another host, refused", what,
							     r->domain);
					free(next);
					next = NULL;
				}
				free(target);
			}
		}
		reg_resp_clear(&p);
		free(url);
		url = next;
		if (rc < 0)
			break;
	}
	free(url);
	free(scope);
	free(what);
	if (rc < 0) {
		for (size_t i = 0; i < cnt; i++)
			free(list[i]);
		free(list);
		return -1;
	}
	*out = list;
	*n = cnt;
	return 0;
}

int ferry_registry_referrers(ferry_registry *r, const char *repo, const ferry_digest *d, const char *artifact_type,
			     unsigned char **buf, size_t *len, bool *supported, ferry_error *err)
{
	*buf = NULL;
	*len = 0;
	*supported = false;
	if (check_repo(repo, err) < 0)
		return -1;
	char *url = ferry_xasprintf("/v2/%s/referrers/%s", repo, d->str);
	char *scope = scope_pull(repo);
	char *what = ferry_xasprintf("referrers of %s@%s", repo, d->str);
	const char *query[] = {"artifactType", artifact_type, NULL};
	reg_req q = {.method = "GET",
		     .url = url,
		     .query = artifact_type ? query : NULL,
		     .scope = scope,
		     .accept = FERRY_MT_OCI_INDEX,
		     .max_body = FERRY_JSON_MAX,
		     .follow = true,
		     .what = what};
	reg_resp p = {0};
	int rc = reg_do(r, &q, &p, err);
	if (rc < 0) {
		if (err && err->code == FERRY_E_LIMIT)
			ferry_error_set(err, FERRY_E_LIMIT, "%s: larger than %u bytes, refused", what, FERRY_JSON_MAX);
		goto out;
	}
	long st = p.h.status;
	if (st == 200) {
		*supported = true;
		*buf = p.body;
		*len = p.body_len;
		p.body = NULL;
	} else if (st != 404 && st != 400 && st != 405 && st != 501) {
		/* Anything else is a failure to say, not a registry without the API. */
		rc = reg_status_error(r, &q, &p, err);
	}
out:
	reg_resp_clear(&p);
	free(url);
	free(scope);
	free(what);
	return rc;
}

int ferry_registry_tags(ferry_registry *r, const char *repo, char ***tags, size_t *n, ferry_error *err)
{
	*tags = NULL;
	*n = 0;
	if (check_repo(repo, err) < 0)
		return -1;
	return list_paged(r, ferry_xasprintf("/v2/%s/tags/list", repo), scope_pull(repo),
			  ferry_xasprintf("tags of %s", repo), "tags", tags, n, err);
}

int ferry_registry_catalog(ferry_registry *r, char ***repos, size_t *n, ferry_error *err)
{
	*repos = NULL;
	*n = 0;
	return list_paged(r, ferry_xasprintf("/v2/_catalog"), ferry_xstrdup("registry:catalog:*"),
			  ferry_xasprintf("catalog of %s", r->domain), "repositories", repos, n, err);
}
