/*
 * registry/internal.h - what the registry client's files share.
 *
 *   http.c    one request (TLS, headers, body, redirects), retries with
 *             backoff, the first /v2/ probe (scheme and auth kind), the
 *             streaming blob download, error messages from registry answers
 *   auth.c    WWW-Authenticate parsing, Basic and Bearer, the token cache
 *   creds.c   credential files and helpers, login/logout
 *   client.c  the blob, manifest and tag operations of registry.h
 *
 * A ferry_registry is not thread-safe: use one per thread.
 */
#ifndef FERRY_REGISTRY_INTERNAL_H
#define FERRY_REGISTRY_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "registry.h"

/* Response bodies of failed requests are kept up to this size for messages. */
#define REG_ERRBODY_MAX (64u << 10)
/* OCI-Chunk-Min-Length is honoured up to this size (the chunk is held in memory). */
#define REG_CHUNK_MAX (128u << 20)

typedef enum { REG_AUTH_UNKNOWN = 0, REG_AUTH_NONE, REG_AUTH_BASIC, REG_AUTH_BEARER } reg_auth_kind;

struct reg_token {
	char *scope;    /* canonical scope set: sorted, space separated */
	char *token;    /* the bearer token (secret); NULL while fetching */
	time_t expires; /* when to stop using it */
};

/*
 * Bearer tokens by scope, shared by a connection and its siblings (the
 * push's worker connections), which use it from their own threads: a token
 * is fetched once, by whoever needs it first, while the others wait for it.
 */
struct reg_token_cache {
	pthread_mutex_t mu;
	pthread_cond_t fetched; /* an entry stopped fetching */
	int refs;
	struct reg_token *tokens;
	size_t n, cap;
};

struct ferry_registry {
	char *domain;   /* as opened: "docker.io", "localhost:5000" */
	char *host;     /* where requests go: "registry-1.docker.io", "[::1]:5000" */
	char *hostname; /* host without port or brackets: "::1" */
	char *base;     /* "https://host" once the /v2/ probe decided, else NULL */
	bool may_http;  /* loopback or --insecure-registry: plain HTTP allowed */

	bool tls_verify;
	int retries;
	int stall_seconds;
	bool debug;
	char **insecure; /* copy of opts->insecure */
	size_t n_insecure;
	char *ca_pem; /* system bundle + the cert dir's *.crt, or NULL: curl's default */
	size_t ca_pem_len;
	char *client_cert, *client_key; /* paths, or NULL */

	/* credentials, looked up the first time the registry asks for them */
	char *cli_creds;
	bool creds_loaded;
	char *user, *secret; /* secret: a password or an identity token */
	bool is_token;
	char *cred_source;

	reg_auth_kind auth;
	char *realm, *service; /* Bearer challenge of the /v2/ probe */
	struct reg_token_cache *tc; /* shared with siblings (ferry_registry_open_sibling) */

	CURL *curl;    /* reused for sequential requests (keeps connections) */
	CURLSH *share; /* connections, DNS and TLS sessions shared with downloads */
	char noproxy[1024];
};

/* Headers of one HTTP response (the last one when redirects were followed). */
typedef struct reg_headers {
	long status;
	char *location, *content_type, *digest, *range, *link, *retry_after, *content_range;
	char *www_auth; /* every WWW-Authenticate value, joined with ", " */
	uint64_t content_length;
	bool has_length;
	uint64_t chunk_min; /* OCI-Chunk-Min-Length, 0 when absent */
} reg_headers;

void reg_headers_clear(reg_headers *h);
/* Feed one raw header line (as curl's header callback gets it). */
void reg_headers_line(reg_headers *h, const char *line, size_t len);

typedef struct reg_req {
	const char *method;       /* GET HEAD PUT POST PATCH DELETE */
	const char *url;          /* absolute, or a path joined to r->base */
	const char *const *query; /* key, value, ..., NULL: appended to url's query, values escaped */
	const char *scope;        /* scopes the request needs, space separated; NULL: none */
	const char *content_type; /* of the body; NULL sends none */
	const char *accept;
	const char *extra_header; /* one more "Name: value", or NULL */
	const void *body;
	size_t body_len;
	size_t max_body;       /* keep up to this much of a 2xx body; more is FERRY_E_LIMIT */
	bool follow;           /* follow redirects (never https -> http) */
	bool no_retry;         /* the caller deals with failures itself */
	bool no_auth;          /* send no credentials (token service requests) */
	bool best_effort;      /* a cleanup nobody waits for: give up after a few seconds */
	const char *authz;     /* an Authorization value to send as is (token fetch) */
	const char *what;      /* for messages: "manifest team/app:1" */
} reg_req;

typedef struct reg_resp {
	reg_headers h;
	unsigned char *body;
	size_t body_len;
	char *url; /* the URL the final response came from */
} reg_resp;

void reg_resp_clear(reg_resp *p);

/*
 * Send a request: probes /v2/ first if needed, adds credentials, follows
 * 401 challenges once, retries network failures, 5xx and 429.  Returns 0
 * when an HTTP answer came (whatever its status: the caller checks it), -1
 * when none did (err says why).
 */
int reg_do(ferry_registry *r, const reg_req *q, reg_resp *p, ferry_error *err);

/* Make err describe a non-success answer: the registry's own error codes, 401/403 with the credential source. */
int reg_status_error(ferry_registry *r, const reg_req *q, const reg_resp *p, ferry_error *err);
/* "CODE: message; ..." from a registry's error body (or a short text body), cleaned for printing. */
void reg_registry_said(const unsigned char *body, size_t len, char *out, size_t cap);
int reg_status_error_h(ferry_registry *r, const char *what, const reg_headers *h, const unsigned char *body,
		       size_t len, ferry_error *err);

/* Make sure the /v2/ probe ran (scheme and auth kind known). */
int reg_ping(ferry_registry *r, ferry_error *err);

/* Sleep before retry `attempt` (0-based), honouring a Retry-After value. */
void reg_backoff(int attempt, const char *retry_after);

/* "Authorization: ..." header for a request needing scope (NULL: none needed); *hdr NULL when anonymous. */
int reg_auth_header(ferry_registry *r, const char *scope, char **hdr, ferry_error *err);
/*
 * A 401 came: learn from its challenge.  Returns 1 when the request should
 * be sent again (with *new_scope instead of scope when not NULL), 0 when
 * that cannot help, -1 on error (credential files unreadable).
 */
int reg_auth_challenged(ferry_registry *r, const char *www_auth, const char *scope, char **new_scope,
			ferry_error *err);
/* A new token cache (one reference), another reference to one, and the end of one. */
struct reg_token_cache *reg_token_cache_new(void);
struct reg_token_cache *reg_token_cache_ref(struct reg_token_cache *tc);
void reg_token_cache_unref(struct reg_token_cache *tc);
/* Forget every token (another token service took over). */
void reg_tokens_clear(ferry_registry *r);
/* Look up credentials once (no-op later). */
int reg_creds_load(ferry_registry *r, ferry_error *err);

/* Download stream for GET url (follows redirects, resumes with Range on network errors, verifies d). */
int reg_download_open(ferry_registry *r, const char *url, const char *scope, const ferry_digest *d, const char *what,
		      ferry_istream **in, uint64_t *size, ferry_error *err);

/* Common curl options for r (TLS, proxy bypass for loopback, timeouts, user agent). */
void reg_curl_setup(ferry_registry *r, CURL *c, const char *url, bool follow);
/* Trace a request when debugging; the query is redacted except for harmless keys. */
void reg_trace(ferry_registry *r, const char *method, const char *url, long status, const char *note);

/* ---- URL helpers (exposed for tests) ---- */

/*
 * All through libcurl's URL API.  Resolve a Location/Link value against the
 * URL of the request that returned it; NULL + err when refused.
 */
char *reg_url_join(const char *request_url, const char *location, ferry_error *err);
/* url with key=value added to its query (value percent-encoded); NULL when url is not a URL. */
char *reg_url_add_query(const char *url, const char *key, const char *value);
/* "https://host:port" part of url (caller frees), NULL when not http(s). */
char *reg_url_origin(const char *url);
/*
 * The scheme ("http" or "https"), host ("[v6]" in brackets) and port (NULL
 * when the URL names none) of an http(s) url, to be freed; -1 when url is
 * not one.
 */
int reg_url_parts(const char *url, char **scheme, char **host, char **port);
/* Is url on origin (a reg_url_origin() string, like r->base)? */
bool reg_url_same_origin(const char *url, const char *origin);


#endif
