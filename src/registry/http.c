/*
 * registry/http.c - HTTP for the registry client: single requests over one
 * reused curl handle, bounded retries, the /v2/ probe that decides between
 * https and plain http, registry error messages, and blob downloads that
 * stream through the curl multi interface so memory stays bounded.
 */
#include "registry/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

#define USER_AGENT "ferry/0.1"
#define BACKOFF_BASE_MS 250L
#define BACKOFF_MAX_MS 8000L
#define RETRY_AFTER_MAX_S 60L
#define DL_BUF (256u << 10)

/* ---- response headers ---- */

void reg_headers_clear(reg_headers *h)
{
	free(h->location);
	free(h->content_type);
	free(h->digest);
	free(h->range);
	free(h->link);
	free(h->retry_after);
	free(h->content_range);
	free(h->www_auth);
	memset(h, 0, sizeof(*h));
}

static void set_hdr(char **dst, const char *v, size_t n)
{
	free(*dst);
	*dst = ferry_xstrndup(v, n);
}

void reg_headers_line(reg_headers *h, const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or 100 Continue): forget the old one. */
		reg_headers_clear(h);
		const char *sp = memchr(line, ' ', len);
		if (sp && (size_t)(sp - line) + 4 <= len)
			h->status = strtol(sp + 1, NULL, 10);
		return;
	}
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return;
	size_t nlen = (size_t)(colon - line);
	const char *v = colon + 1;
	size_t vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(line, name, nlen) == 0)
	if (IS("Location"))
		set_hdr(&h->location, v, vlen);
	else if (IS("Content-Type"))
		set_hdr(&h->content_type, v, vlen);
	else if (IS("Docker-Content-Digest"))
		set_hdr(&h->digest, v, vlen);
	else if (IS("Range"))
		set_hdr(&h->range, v, vlen);
	else if (IS("Content-Range"))
		set_hdr(&h->content_range, v, vlen);
	else if (IS("Link"))
		set_hdr(&h->link, v, vlen);
	else if (IS("Retry-After"))
		set_hdr(&h->retry_after, v, vlen);
	else if (IS("WWW-Authenticate")) {
		/* Several headers are one comma-separated list of challenges. */
		char *old = h->www_auth;
		h->www_auth = old ? ferry_xasprintf("%s, %.*s", old, (int)vlen, v) : ferry_xstrndup(v, vlen);
		free(old);
	} else if (IS("Content-Length") || IS("OCI-Chunk-Min-Length")) {
		char tmp[32];
		if (vlen == 0 || vlen >= sizeof(tmp))
			return;
		memcpy(tmp, v, vlen);
		tmp[vlen] = '\0';
		char *end;
		errno = 0;
		unsigned long long x = strtoull(tmp, &end, 10);
		if (errno || *end || tmp[0] == '-')
			return;
		if (IS("Content-Length")) {
			h->content_length = x;
			h->has_length = true;
		} else {
			h->chunk_min = x;
		}
	}
#undef IS
}

void reg_resp_clear(reg_resp *p)
{
	reg_headers_clear(&p->h);
	free(p->body);
	free(p->url);
	memset(p, 0, sizeof(*p));
}

/* ---- URLs: libcurl's URL API does the parsing, escaping and resolving ---- */

static CURLU *url_handle(void)
{
	CURLU *h = curl_url();
	if (!h)
		abort(); /* out of memory, as in ferry_xmalloc */
	return h;
}

/* A part of the URL in h (ours to free), or NULL when it has none. */
static char *url_get(CURLU *h, CURLUPart part)
{
	char *s = NULL;
	if (curl_url_get(h, part, &s, 0) != CURLUE_OK)
		return NULL;
	char *out = ferry_xstrdup(s);
	curl_free(s);
	return out;
}

/* Is h's scheme one of ours?  *https says which. */
static bool url_http(CURLU *h, bool *https)
{
	char *scheme = url_get(h, CURLUPART_SCHEME);
	bool ok = scheme && (strcmp(scheme, "https") == 0 || strcmp(scheme, "http") == 0);
	if (https)
		*https = scheme && strcmp(scheme, "https") == 0;
	free(scheme);
	return ok;
}

static bool url_is_https(const char *url)
{
	CURLU *h = url_handle();
	bool https = false;
	if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK)
		url_http(h, &https);
	curl_url_cleanup(h);
	return https;
}

/* Append key=value to h's query, value percent-encoded by curl. */
static CURLUcode url_add_query(CURLU *h, const char *key, const char *value)
{
	char *pair = ferry_xasprintf("%s=%s", key, value);
	CURLUcode rc = curl_url_set(h, CURLUPART_QUERY, pair, CURLU_APPENDQUERY | CURLU_URLENCODE);
	free(pair);
	return rc;
}

char *reg_url_add_query(const char *url, const char *key, const char *value)
{
	CURLU *h = url_handle();
	char *out = NULL;
	if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK && url_add_query(h, key, value) == CURLUE_OK)
		out = url_get(h, CURLUPART_URL);
	curl_url_cleanup(h);
	return out;
}

bool reg_url_same_origin(const char *url, const char *origin)
{
	char *o = reg_url_origin(url);
	bool same = o && strcasecmp(o, origin) == 0;
	free(o);
	return same;
}

int reg_url_parts(const char *url, char **scheme, char **host, char **port)
{
	CURLU *h = url_handle();
	*scheme = *host = *port = NULL;
	if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK && url_http(h, NULL)) {
		*scheme = url_get(h, CURLUPART_SCHEME);
		*host = url_get(h, CURLUPART_HOST);
		*port = url_get(h, CURLUPART_PORT); /* only when the URL names one */
	}
	curl_url_cleanup(h);
	if (*host && **host)
		return 0;
	free(*scheme);
	free(*host);
	free(*port);
	*scheme = *host = *port = NULL;
	return -1;
}

char *reg_url_origin(const char *url)
{
	char *scheme, *host, *port;
	if (reg_url_parts(url, &scheme, &host, &port) < 0)
		return NULL;
	char *out = ferry_xasprintf("%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
	free(scheme);
	free(host);
	free(port);
	return out;
}

char *reg_url_join(const char *request_url, const char *location, ferry_error *err)
{
	if (!location || !*location) {
		ferry_error_set(err, FERRY_E_FAILED, "the registry sent an empty Location");
		return NULL;
	}
	for (const char *p = location; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			ferry_error_set(err, FERRY_E_FAILED, "the registry sent a Location with spaces or control characters");
			return NULL;
		}
	}
	CURLU *h = url_handle();
	char *out = NULL;
	bool from_https, to_https;
	if (curl_url_set(h, CURLUPART_URL, request_url, 0) != CURLUE_OK || !url_http(h, &from_https)) {
		ferry_error_set(err, FERRY_E_FAILED, "cannot resolve a relative Location against a non-http URL");
		goto out;
	}
	/* Set on a handle holding the request's URL, a relative reference is resolved against it. */
	CURLUcode rc = curl_url_set(h, CURLUPART_URL, location, 0);
	if (rc == CURLUE_UNSUPPORTED_SCHEME || (rc == CURLUE_OK && !url_http(h, &to_https)))
		ferry_error_set(err, FERRY_E_FAILED, "the registry sent a Location with an unsupported scheme");
	else if (rc != CURLUE_OK)
		ferry_error_set(err, FERRY_E_FAILED, "the registry sent a Location that is not a URL: %s",
				curl_url_strerror(rc));
	else if (from_https && !to_https)
		ferry_error_set(err, FERRY_E_FAILED,
				"refusing to go from https to plain http (the registry pointed to an http:// URL)");
	else
		out = url_get(h, CURLUPART_URL);
out:
	curl_url_cleanup(h);
	return out;
}

/* scheme://host/v2/, host as the registry is reached ("h", "h:5000", "[::1]:5000"). */
static char *v2_url(const char *scheme, const char *host)
{
	CURLU *h = url_handle();
	char *out = NULL;
	if (curl_url_set(h, CURLUPART_URL, host, CURLU_DEFAULT_SCHEME) == CURLUE_OK &&
	    curl_url_set(h, CURLUPART_SCHEME, scheme, 0) == CURLUE_OK &&
	    curl_url_set(h, CURLUPART_PATH, "/v2/", 0) == CURLUE_OK)
		out = url_get(h, CURLUPART_URL);
	curl_url_cleanup(h);
	return out;
}

/* The URL a request goes to: url (absolute, or a path on r->base) with the query pairs added. */
static char *request_url(ferry_registry *r, const char *url, const char *const *query, ferry_error *err)
{
	CURLU *h = url_handle();
	char *out = NULL;
	CURLUcode rc = curl_url_set(h, CURLUPART_URL, r->base, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_set(h, CURLUPART_URL, url, 0);
	for (size_t i = 0; rc == CURLUE_OK && query && query[i]; i += 2)
		rc = url_add_query(h, query[i], query[i + 1]);
	if (rc == CURLUE_OK && url_http(h, NULL))
		out = url_get(h, CURLUPART_URL);
	else
		ferry_error_set(err, FERRY_E_FAILED, "registry %s: cannot make a URL of %s: %s", r->domain, url,
				rc == CURLUE_OK ? "not http or https" : curl_url_strerror(rc));
	curl_url_cleanup(h);
	return out;
}

/* ---- curl setup and tracing ---- */

/* What watches one transfer: a signal ends it, and so does a stall. */
typedef struct reg_watch {
	int limit;        /* seconds without a byte moving, either way */
	curl_off_t moved; /* bytes moved when last seen */
	double since;     /* when they last moved (CLOCK_MONOTONIC seconds) */
	bool stalled;
} reg_watch;

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Called by curl at least once a second, even on a stalled socket: a signal
 * (ferry_interrupted) ends the transfer there and then, and so does a
 * transfer that moved no byte for its limit (then reported as a timeout).
 */
static int xfer_watch(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal, (void)ultotal;
	reg_watch *w = ud;
	if (ferry_interrupted)
		return 1;
	double now = mono_now();
	if (dlnow + ulnow != w->moved || w->since == 0) {
		w->moved = dlnow + ulnow;
		w->since = now;
	} else if (now - w->since >= w->limit) {
		w->stalled = true;
		return 1;
	}
	return 0;
}

/* Watch the transfer on c with w (which must outlive it); the clock starts now. */
static void watch_transfer(ferry_registry *r, CURL *c, reg_watch *w)
{
	*w = (reg_watch){.limit = r->stall_seconds, .since = mono_now()};
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xfer_watch);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
}

/* A transfer the watch ended for a stall is a timeout: retryable, and said so. */
static CURLcode watched_result(const reg_watch *w, CURLcode cc, char *errbuf)
{
	if (cc != CURLE_ABORTED_BY_CALLBACK || !w->stalled)
		return cc;
	snprintf(errbuf, CURL_ERROR_SIZE, "no data moved for %d seconds (--stall-timeout)", w->limit);
	return CURLE_OPERATION_TIMEDOUT;
}

void reg_curl_setup(ferry_registry *r, CURL *c, const char *url, bool follow)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_SHARE, r->share);
	curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(c, CURLOPT_NOPROXY, r->noproxy);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if (follow) {
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
		/* curl drops our Authorization header when the host changes. */
		curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR,
				 url_is_https(url) ? "https" : "http,https");
	}
	if (!r->tls_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (r->ca_pem) {
		struct curl_blob blob = {.data = r->ca_pem, .len = r->ca_pem_len, .flags = CURL_BLOB_NOCOPY};
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (r->client_cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, r->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, r->client_key);
	}
}

/* Query keys whose values are harmless to print; the rest may be signatures or upload state. */
static bool harmless_key(const char *k, size_t n)
{
	static const char *const keys[] = {"mount", "from", "digest", "n", "last", "service", "scope"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i]) == n && strncmp(keys[i], k, n) == 0)
			return true;
	return false;
}

void reg_trace(ferry_registry *r, const char *method, const char *url, long status, const char *note)
{
	if (!r->debug)
		return;
	const char *q = strchr(url, '?');
	fprintf(stderr, "ferry: registry: %s %.*s", method, (int)(q ? (size_t)(q - url) : strlen(url)), url);
	if (q) {
		char sep = '?';
		for (const char *p = q + 1; *p;) {
			size_t plen = strcspn(p, "&");
			size_t klen = strcspn(p, "=&");
			if (plen > 0) {
				if (harmless_key(p, klen))
					fprintf(stderr, "%c%.*s", sep, (int)plen, p);
				else
					fprintf(stderr, "%c%.*s=<redacted>", sep, (int)klen, p);
				sep = '&';
			}
			p += plen;
			if (*p == '&')
				p++;
		}
	}
	if (status)
		fprintf(stderr, " -> %ld", status);
	if (note)
		fprintf(stderr, " (%s)", note);
	fputc('\n', stderr);
}

/* ---- one request ---- */

struct xfer {
	reg_resp *p;
	size_t max;
	bool over;
	bool head; /* a HEAD request: Content-Length is not what we read */
};

static bool is_2xx(long st)
{
	return st >= 200 && st < 300;
}

static size_t xfer_header(char *b, size_t sz, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = sz * n;
	if (len >= 5 && memcmp(b, "HTTP/", 5) == 0)
		x->p->body_len = 0; /* body of a redirect: not ours */
	reg_headers_line(&x->p->h, b, len);
	const reg_headers *h = &x->p->h;
	/* A body announced bigger than we would keep is refused before it is read. */
	if (x->max > 0 && !x->head && is_2xx(h->status) && h->has_length && h->content_length > x->max) {
		x->over = true;
		return 0; /* aborts the transfer */
	}
	return len;
}

static size_t xfer_body(char *b, size_t sz, size_t n, void *ud)
{
	struct xfer *x = ud;
	reg_resp *p = x->p;
	size_t len = sz * n;
	size_t cap = is_2xx(p->h.status) ? x->max : REG_ERRBODY_MAX;
	if (p->body_len + len > cap) {
		if (is_2xx(p->h.status) && x->max > 0) {
			x->over = true;
			return 0; /* aborts the transfer */
		}
		len = cap - p->body_len; /* keep the start of an error body; drop the rest */
		if (len == 0)
			return sz * n;
	}
	p->body = ferry_xrealloc(p->body, p->body_len + len + 1);
	memcpy(p->body + p->body_len, b, len);
	p->body_len += len;
	p->body[p->body_len] = '\0';
	return sz * n;
}

static void free_headers_wiped(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static bool method_has_body(const char *m)
{
	return strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0 || strcmp(m, "PATCH") == 0;
}

/* authz: a whole "Authorization: ..." line or NULL. */
static CURLcode http_once(ferry_registry *r, const reg_req *q, const char *url, const char *authz, reg_resp *p,
			  char errbuf[CURL_ERROR_SIZE], bool *over)
{
	reg_resp_clear(p);
	if (ferry_interrupted) {
		/* No new request after a signal. */
		snprintf(errbuf, CURL_ERROR_SIZE, "interrupted");
		*over = false;
		return CURLE_ABORTED_BY_CALLBACK;
	}
	CURL *c = r->curl;
	curl_easy_reset(c);
	reg_curl_setup(r, c, url, q->follow);
	/* No overall timeout (layers can be huge), but a stalled transfer ends. */
	reg_watch watch;
	watch_transfer(r, c, &watch);
	errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (q->best_effort)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);

	struct curl_slist *hl = NULL;
	hl = curl_slist_append(hl, "Docker-Distribution-API-Version: registry/2.0");
	hl = curl_slist_append(hl, "Expect:");
	if (authz)
		hl = curl_slist_append(hl, authz);
	char *line = NULL;
	if (q->accept) {
		line = ferry_xasprintf("Accept: %s", q->accept);
		hl = curl_slist_append(hl, line);
		free(line);
	}
	if (method_has_body(q->method)) {
		/* Without this curl would label every body as a form. */
		line = q->content_type ? ferry_xasprintf("Content-Type: %s", q->content_type) : ferry_xstrdup("Content-Type:");
		hl = curl_slist_append(hl, line);
		free(line);
	}
	if (q->extra_header)
		hl = curl_slist_append(hl, q->extra_header);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);

	if (strcmp(q->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(q->method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
		if (method_has_body(q->method)) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(q->body ? q->body_len : 0));
		}
	}
	struct xfer x = {.p = p, .max = q->max_body, .head = strcmp(q->method, "HEAD") == 0};
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, xfer_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, xfer_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);

	CURLcode cc = watched_result(&watch, curl_easy_perform(c), errbuf);
	char *eff = NULL;
	curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
	p->url = ferry_xstrdup(eff ? eff : url);
	*over = x.over;
	/* Don't leave a pointer to our stack or list in the reused handle. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, NULL);
	free_headers_wiped(hl);
	return cc;
}

static bool cc_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

static bool status_retryable(long st)
{
	return st == 408 || st == 429 || (st >= 500 && st != 501 && st != 505);
}

void reg_backoff(int attempt, const char *retry_after)
{
	long ms = BACKOFF_BASE_MS << (attempt < 6 ? attempt : 6);
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	if (retry_after && *retry_after) {
		char *end;
		errno = 0;
		long s = strtol(retry_after, &end, 10);
		if (!errno && end != retry_after && *end == '\0') {
			ms = s * 1000;
		} else {
			time_t t = curl_getdate(retry_after, NULL);
			if (t > 0)
				ms = (long)(t - time(NULL)) * 1000;
		}
		if (ms < 0)
			ms = 0;
		if (ms > RETRY_AFTER_MAX_S * 1000)
			ms = RETRY_AFTER_MAX_S * 1000;
	}
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (!ferry_interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *tls_hint(CURLcode cc)
{
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return " (the registry's TLS certificate is not trusted: put its CA in /etc/docker/certs.d/HOST:PORT/ca.crt"
		       " or a --cert-dir, or use --tls-verify=false)";
	case CURLE_SSL_CERTPROBLEM:
		return " (the client certificate or key of the cert directory cannot be used)";
	case CURLE_UNSUPPORTED_PROTOCOL:
		return " (a redirect from https to plain http, or to another protocol, is refused)";
	default:
		return "";
	}
}

static int net_error(ferry_registry *r, const char *what, CURLcode cc, const char *errbuf, ferry_error *err)
{
	const char *why = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(cc);
	return ferry_error_set(err, FERRY_E_FAILED, "%s%scannot reach registry %s: %s%s", what ? what : "",
			       what ? ": " : "", r->domain, why, tls_hint(cc));
}

/* ---- the /v2/ probe ---- */

static bool ping_learn(ferry_registry *r, const reg_resp *p, ferry_error *err)
{
	long st = p->h.status;
	if (st == 401) {
		ferry_auth_challenge *ch = NULL;
		size_t n = 0;
		r->auth = REG_AUTH_NONE;
		ferry_error unparsed = FERRY_ERROR_INIT; /* then no challenge is known: no auth kind */
		if (p->h.www_auth && ferry_auth_parse(p->h.www_auth, &ch, &n, &unparsed) == 0) {
			for (size_t i = 0; i < n; i++) {
				if (strcmp(ch[i].scheme, "bearer") == 0 && ch[i].realm) {
					r->auth = REG_AUTH_BEARER;
					free(r->realm);
					free(r->service);
					r->realm = ferry_xstrdup(ch[i].realm);
					r->service = ferry_xstrdup(ch[i].service);
					break;
				}
				if (strcmp(ch[i].scheme, "basic") == 0)
					r->auth = REG_AUTH_BASIC;
			}
			ferry_auth_free(ch, n);
		}
		return reg_creds_load(r, err) == 0;
	}
	r->auth = REG_AUTH_NONE;
	return true;
}

/* TLS that cannot even be set up (a plain-HTTP server), as opposed to an untrusted certificate. */
static bool tls_unavailable(CURLcode cc)
{
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_COULDNT_RESOLVE_HOST:
		return false;
	default:
		return true;
	}
}

int reg_ping(ferry_registry *r, ferry_error *err)
{
	if (r->base)
		return 0;
	char *https = v2_url("https", r->host);
	char *http = v2_url("http", r->host);
	if (!https || !http) {
		free(https);
		free(http);
		return ferry_error_set(err, FERRY_E_USAGE, "registry %s: not a host name a URL can hold", r->domain);
	}
	reg_req q = {.method = "GET", .what = "/v2/"};
	reg_resp p = {0};
	char eb[CURL_ERROR_SIZE], eb2[CURL_ERROR_SIZE];
	int rc = -1;
	for (int attempt = 0;; attempt++) {
		bool over;
		CURLcode cc = http_once(r, &q, https, NULL, &p, eb, &over);
		reg_trace(r, "GET", https, cc == CURLE_OK ? p.h.status : 0, cc == CURLE_OK ? NULL : curl_easy_strerror(cc));
		const char *base = https;
		CURLcode cc2 = CURLE_OK;
		if (cc != CURLE_OK && r->may_http && tls_unavailable(cc)) {
			cc2 = http_once(r, &q, http, NULL, &p, eb2, &over);
			reg_trace(r, "GET", http, cc2 == CURLE_OK ? p.h.status : 0,
				  cc2 == CURLE_OK ? NULL : curl_easy_strerror(cc2));
			base = http;
			if (cc2 == CURLE_OK)
				cc = CURLE_OK;
		}
		if (cc == CURLE_OK) {
			if (status_retryable(p.h.status) && attempt < r->retries) {
				reg_backoff(attempt, p.h.retry_after);
				continue;
			}
			if (p.h.status >= 500) {
				ferry_error_set(err, FERRY_E_FAILED, "registry %s is not working: it answered HTTP %ld to GET /v2/",
						r->domain, p.h.status);
				break;
			}
			if (!ping_learn(r, &p, err))
				break;
			r->base = reg_url_origin(base);
			rc = 0;
			break;
		}
		if (cc_retryable(cc) && attempt < r->retries) {
			reg_backoff(attempt, NULL);
			continue;
		}
		if (base == http && cc == CURLE_COULDNT_CONNECT && cc2 == CURLE_COULDNT_CONNECT) {
			net_error(r, NULL, cc2, eb2, err); /* nothing listens: one reason is enough */
		} else if (base == http) {
			ferry_error_set(err, FERRY_E_FAILED, "cannot reach registry %s: over https: %s; over http: %s",
					r->domain, eb[0] ? eb : curl_easy_strerror(cc), eb2[0] ? eb2 : curl_easy_strerror(cc2));
		} else {
			net_error(r, NULL, cc, eb, err);
		}
		break;
	}
	reg_resp_clear(&p);
	free(https);
	free(http);
	return rc;
}

/* ---- requests with auth and retries ---- */

int reg_do(ferry_registry *r, const reg_req *q, reg_resp *p, ferry_error *err)
{
	if (reg_ping(r, err) < 0)
		return -1;
	char *url = request_url(r, q->url, q->query, err);
	if (!url)
		return -1;
	char *scope = ferry_xstrdup(q->scope);
	bool reauthed = false;
	int rc = -1;
	for (int attempt = 0;;) {
		char *authz = NULL;
		if (q->authz) {
			authz = ferry_xasprintf("Authorization: %s", q->authz);
		} else if (!q->no_auth && reg_url_same_origin(url, r->base)) {
			/* Credentials only ever go to the registry itself, never to a host it points at. */
			if (reg_auth_header(r, scope, &authz, err) < 0) {
				if (q->what)
					ferry_error_prefix(err, "%s", q->what);
				break;
			}
		}
		char eb[CURL_ERROR_SIZE];
		bool over = false;
		CURLcode cc = http_once(r, q, url, authz, p, eb, &over);
		ferry_free_secret(authz);
		reg_trace(r, q->method, url, cc == CURLE_OK ? p->h.status : 0, cc == CURLE_OK ? NULL : curl_easy_strerror(cc));
		if (over) {
			ferry_error_set(err, FERRY_E_LIMIT, "%s: the registry sent more than %zu bytes", q->what ? q->what : url,
					q->max_body);
			break;
		}
		if (cc != CURLE_OK) {
			if (!q->no_retry && cc_retryable(cc) && attempt < r->retries) {
				reg_backoff(attempt++, NULL);
				continue;
			}
			net_error(r, q->what, cc, eb, err);
			break;
		}
		long st = p->h.status;
		if (st == 401 && !reauthed && !q->no_auth && !q->authz) {
			reauthed = true;
			char *ns = NULL;
			int again = reg_auth_challenged(r, p->h.www_auth, scope, &ns, err);
			if (again < 0) {
				if (q->what)
					ferry_error_prefix(err, "%s", q->what);
				break;
			}
			if (again) {
				if (ns) {
					free(scope);
					scope = ns;
				}
				continue;
			}
		}
		if (!q->no_retry && status_retryable(st) && attempt < r->retries) {
			reg_backoff(attempt++, p->h.retry_after);
			continue;
		}
		rc = 0;
		break;
	}
	free(scope);
	free(url);
	return rc;
}

/* ---- error messages ---- */

/* Append printable characters of s (at most max) to buf. */
static void append_clean(char *buf, size_t cap, const char *s, size_t max)
{
	size_t n = strlen(buf);
	for (size_t i = 0; s[i] && i < max && n + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf[n++] = (ch < ' ' || ch == 0x7f) ? ' ' : (char)ch;
	}
	buf[n] = '\0';
}

/* "CODE: message; CODE: message" from a registry error body, or a short text body. */
void reg_registry_said(const unsigned char *body, size_t len, char *out, size_t cap)
{
	out[0] = '\0';
	if (!body || len == 0)
		return;
	json_t *j = json_loadb((const char *)body, len, 0, NULL);
	json_t *errs = j ? json_object_get(j, "errors") : NULL;
	if (json_is_array(errs) && json_array_size(errs) > 0) {
		size_t i;
		json_t *e;
		json_array_foreach(errs, i, e) {
			if (i >= 4)
				break;
			const char *code = json_string_value(json_object_get(e, "code"));
			const char *msg = json_string_value(json_object_get(e, "message"));
			if (i > 0)
				append_clean(out, cap, "; ", 2);
			if (code)
				append_clean(out, cap, code, 64);
			if (code && msg)
				append_clean(out, cap, ": ", 2);
			if (msg)
				append_clean(out, cap, msg, 200);
		}
	} else if (!j) {
		/* Plain text (a proxy's page, say): only if it looks like text. */
		bool text = true;
		for (size_t i = 0; i < len && i < 200; i++)
			if (body[i] == 0 || body[i] == '<')
				text = false;
		if (text)
			append_clean(out, cap, (const char *)body, len < 200 ? len : 200);
		while (out[0] && out[strlen(out) - 1] == ' ')
			out[strlen(out) - 1] = '\0';
	}
	json_decref(j);
}

int reg_status_error_h(ferry_registry *r, const char *what, const reg_headers *h, const unsigned char *body, size_t len,
		       ferry_error *err)
{
	char said[600];
	reg_registry_said(body, len, said, sizeof(said));
	long st = h->status;
	const char *w = what ? what : "request";
	const char *src = r->cred_source ? r->cred_source : "none";
	bool have = r->user || r->secret;
	if (st == 401) {
		/*
		 * With tokens, a 401 after the token service accepted the
		 * credentials means they lack rights here (or the repository does
		 * not exist), not that they are wrong.
		 */
		if (have && r->auth == REG_AUTH_BEARER)
			return ferry_error_set(err, FERRY_E_FAILED,
					       "%s: registry %s: the credentials from %s do not give access to this "
					       "(or the repository does not exist) (HTTP 401%s%s)",
					       w, r->domain, src, said[0] ? ": " : "", said);
		if (have)
			return ferry_error_set(err, FERRY_E_FAILED,
					       "%s: registry %s refused the credentials from %s (HTTP 401%s%s)", w, r->domain,
					       src, said[0] ? ": " : "", said);
		if (r->auth == REG_AUTH_BEARER)
			return ferry_error_set(err, FERRY_E_FAILED,
					       "%s: registry %s denied anonymous access: the repository may not exist, or "
					       "needs credentials (log in, or pass --creds USER:PASS)%s%s",
					       w, r->domain, said[0] ? ": " : "", said);
		return ferry_error_set(err, FERRY_E_FAILED,
				       "%s: registry %s requires authentication and no credentials were found for it "
				       "(log in, or pass --creds USER:PASS)%s%s",
				       w, r->domain, said[0] ? ": " : "", said);
	}
	if (st == 403) {
		if (have)
			return ferry_error_set(err, FERRY_E_FAILED,
					       "%s: registry %s denied access with the credentials from %s (HTTP 403%s%s)", w,
					       r->domain, src, said[0] ? ": " : "", said);
		return ferry_error_set(err, FERRY_E_FAILED, "%s: registry %s denied anonymous access (HTTP 403%s%s)", w,
				       r->domain, said[0] ? ": " : "", said);
	}
	ferry_code code = st == 404 ? FERRY_E_NOTFOUND : FERRY_E_FAILED;
	if (said[0])
		return ferry_error_set(err, code, "%s: registry %s said %s (HTTP %ld)", w, r->domain, said, st);
	return ferry_error_set(err, code, "%s: registry %s answered HTTP %ld", w, r->domain, st);
}

int reg_status_error(ferry_registry *r, const reg_req *q, const reg_resp *p, ferry_error *err)
{
	return reg_status_error_h(r, q->what, &p->h, p->body, p->body_len, err);
}

/* ---- streaming download ---- */

struct dl {
	ferry_istream base;
	ferry_registry *r;
	CURLM *multi;
	CURL *easy; /* NULL between transfers */
	char *url, *scope, *what;
	struct curl_slist *hl;
	reg_headers h;
	bool range_checked; /* this transfer's status/Content-Range looked at */

	unsigned char *buf; /* [off, len) not yet read */
	size_t off, len, cap;
	unsigned char *ebody; /* body of an error answer, for the message */
	size_t elen;

	bool paused, done, failed;
	CURLcode result;
	char errbuf[CURL_ERROR_SIZE];
	reg_watch watch;

	uint64_t got;   /* blob bytes taken in (and hashed) */
	uint64_t skip;  /* bytes still to drop: a 200 answered our Range request */
	uint64_t total; /* Content-Length of the full blob, UINT64_MAX when unknown */
	ferry_hasher *hash;
	ferry_digest want;
	bool bad_range;
};

static size_t dl_header(char *b, size_t sz, size_t n, void *ud)
{
	struct dl *s = ud;
	size_t len = sz * n;
	if (len >= 5 && memcmp(b, "HTTP/", 5) == 0) {
		s->elen = 0;
		s->range_checked = false;
	}
	reg_headers_line(&s->h, b, len);
	return len;
}

static size_t dl_body(char *b, size_t sz, size_t n, void *ud)
{
	struct dl *s = ud;
	size_t len = sz * n;
	if (!is_2xx(s->h.status)) {
		size_t keep = s->elen + len > REG_ERRBODY_MAX ? REG_ERRBODY_MAX - s->elen : len;
		if (keep) {
			s->ebody = ferry_xrealloc(s->ebody, s->elen + keep + 1);
			memcpy(s->ebody + s->elen, b, keep);
			s->elen += keep;
			s->ebody[s->elen] = '\0';
		}
		return len;
	}
	if (!s->range_checked) {
		s->range_checked = true;
		if (s->got > 0 && s->h.status == 206) {
			/* Content-Range: bytes START-END/TOTAL must start where we stopped. */
			const char *cr = s->h.content_range;
			uint64_t start = 0;
			if (!cr || sscanf(cr, "bytes %" SCNu64 "-", &start) != 1 || start != s->got) {
				s->bad_range = true;
				return 0;
			}
		} else if (s->got > 0) {
			s->skip = s->got; /* the server ignored Range: drop what we have */
		} else if (s->h.status == 200 && s->h.has_length) {
			s->total = s->h.content_length;
		}
	}
	size_t drop = s->skip < len ? (size_t)s->skip : len;
	size_t dlen = len - drop;
	if (dlen > s->cap - s->len && s->off > 0) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	if (dlen > s->cap - s->len) {
		if (s->len > s->off) {
			/* Full: curl keeps this piece and hands it over again when resumed. */
			s->paused = true;
			return CURL_WRITEFUNC_PAUSE;
		}
		s->cap = dlen;
		s->buf = ferry_xrealloc(s->buf, s->cap);
	}
	s->skip -= drop;
	memcpy(s->buf + s->len, b + drop, dlen);
	s->len += dlen;
	ferry_hasher_update(s->hash, b + drop, dlen);
	s->got += dlen;
	return len;
}

static void dl_stop(struct dl *s)
{
	if (s->easy) {
		curl_multi_remove_handle(s->multi, s->easy);
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
	}
	free_headers_wiped(s->hl);
	s->hl = NULL;
}

static int dl_start(struct dl *s, ferry_error *err)
{
	dl_stop(s);
	if (ferry_interrupted)
		return ferry_error_set(err, FERRY_E_FAILED, "%s: interrupted", s->what);
	reg_headers_clear(&s->h);
	s->elen = 0;
	s->done = s->paused = s->bad_range = s->range_checked = false;
	s->result = CURLE_OK;
	s->skip = 0;

	char *authz = NULL;
	if (reg_auth_header(s->r, s->scope, &authz, err) < 0)
		return -1;
	s->easy = curl_easy_init();
	if (!s->easy) {
		ferry_free_secret(authz);
		return ferry_error_set(err, FERRY_E_FAILED, "cannot set up an HTTP transfer (libcurl)");
	}
	reg_curl_setup(s->r, s->easy, s->url, true);
	watch_transfer(s->r, s->easy, &s->watch);
	s->errbuf[0] = '\0';
	curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
	s->hl = curl_slist_append(NULL, "Docker-Distribution-API-Version: registry/2.0");
	if (authz)
		s->hl = curl_slist_append(s->hl, authz);
	ferry_free_secret(authz);
	if (s->got > 0) {
		char range[64];
		snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", s->got);
		s->hl = curl_slist_append(s->hl, range);
	}
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hl);
	curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, dl_header);
	curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, dl_body);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK)
		return ferry_error_set(err, FERRY_E_FAILED, "cannot start an HTTP transfer (libcurl)");
	return 0;
}

/* Run the transfer until there are bytes to read or it has ended. */
static void dl_drive(struct dl *s)
{
	/* Only time spent here waiting for bytes counts as a stall, not the reader's own pauses. */
	s->watch.since = 0;
	while (s->off == s->len && !s->done) {
		if (s->paused) {
			s->paused = false;
			curl_easy_pause(s->easy, CURLPAUSE_CONT);
			if (s->off < s->len)
				break;
		}
		int running = 0;
		CURLMcode mc = curl_multi_perform(s->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(s->multi, &left)))
			if (m->msg == CURLMSG_DONE) {
				s->done = true;
				s->result = watched_result(&s->watch, m->data.result, s->errbuf);
			}
		if (mc != CURLM_OK && !s->done) {
			s->done = true;
			s->result = CURLE_FAILED_INIT;
		}
		if (s->off < s->len || s->done)
			break;
		curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
	}
}

/*
 * (Re)start the GET from s->got and run it until blob bytes flow or it has
 * ended well; deals with 401 challenges, retries, and error answers.
 */
static int dl_begin(struct dl *s, ferry_error *err)
{
	bool reauthed = false;
	int attempt = 0;
	for (;;) {
		if (dl_start(s, err) < 0)
			return -1;
		dl_drive(s);
		reg_trace(s->r, "GET", s->url, s->h.status, s->got ? "resumed" : NULL);
		if (s->off < s->len)
			return 0;
		if (s->bad_range)
			return ferry_error_set(err, FERRY_E_FAILED,
					       "%s: registry %s answered a resumed download with the wrong range (%s)",
					       s->what, s->r->domain, s->h.content_range ? s->h.content_range : "none");
		if (s->result != CURLE_OK) {
			if (cc_retryable(s->result) && attempt < s->r->retries) {
				reg_backoff(attempt++, NULL);
				continue;
			}
			return net_error(s->r, s->what, s->result, s->errbuf, err);
		}
		long st = s->h.status;
		if (is_2xx(st)) {
			/* an empty body, all done */
			if (st == 200 && s->got == 0 && s->h.has_length)
				s->total = s->h.content_length;
			return 0;
		}
		if (st == 401 && !reauthed) {
			reauthed = true;
			char *ns = NULL;
			int again = reg_auth_challenged(s->r, s->h.www_auth, s->scope, &ns, err);
			if (again < 0) {
				ferry_error_prefix(err, "%s", s->what);
				return -1;
			}
			if (again) {
				if (ns) {
					free(s->scope);
					s->scope = ns;
				}
				continue;
			}
		}
		if (status_retryable(st) && attempt < s->r->retries) {
			reg_backoff(attempt++, s->h.retry_after);
			continue;
		}
		return reg_status_error_h(s->r, s->what, &s->h, s->ebody, s->elen, err);
	}
}

static int dl_eof(struct dl *s, ferry_error *err)
{
	if (s->total != UINT64_MAX && s->got != s->total)
		return ferry_error_set(err, FERRY_E_INTEGRITY, "%s: registry %s sent %" PRIu64 " bytes, expected %" PRIu64,
				       s->what, s->r->domain, s->got, s->total);
	ferry_digest d;
	ferry_hasher_final(s->hash, &d);
	ferry_hasher_free(s->hash);
	s->hash = NULL;
	if (!ferry_digest_eq(&d, &s->want))
		return ferry_error_set(err, FERRY_E_INTEGRITY, "%s: registry %s sent bytes with digest %s", s->what,
				       s->r->domain, d.str);
	return 0;
}

static ssize_t dl_read(ferry_istream *is, void *buf, size_t len, ferry_error *err)
{
	struct dl *s = (struct dl *)is;
	if (s->failed)
		return ferry_error_set(err, FERRY_E_FAILED, "%s: read after a failed download", s->what);
	int attempt = 0;
	uint64_t got_at_failure = s->got;
	for (;;) {
		if (s->off < s->len) {
			size_t n = s->len - s->off < len ? s->len - s->off : len;
			memcpy(buf, s->buf + s->off, n);
			s->off += n;
			if (s->off == s->len)
				s->off = s->len = 0;
			return (ssize_t)n;
		}
		if (!s->done) {
			dl_drive(s);
			continue;
		}
		if (!s->hash)
			return 0; /* end already checked */
		if (s->result == CURLE_OK && is_2xx(s->h.status)) {
			if (dl_eof(s, err) < 0)
				break;
			return 0;
		}
		if (s->bad_range) {
			ferry_error_set(err, FERRY_E_FAILED, "%s: download from registry %s failed", s->what, s->r->domain);
			break;
		}
		/* Cut off mid-blob: resume from where we are. */
		if (s->result != CURLE_OK && cc_retryable(s->result)) {
			if (s->got > got_at_failure) {
				got_at_failure = s->got;
				attempt = 0;
			}
			if (attempt < s->r->retries) {
				reg_trace(s->r, "GET", s->url, 0, curl_easy_strerror(s->result));
				reg_backoff(attempt++, NULL);
				if (dl_begin(s, err) < 0)
					break;
				continue;
			}
		}
		if (s->result != CURLE_OK)
			net_error(s->r, s->what, s->result, s->errbuf, err);
		else
			reg_status_error_h(s->r, s->what, &s->h, s->ebody, s->elen, err);
		break;
	}
	s->failed = true;
	return -1;
}

static void dl_close(ferry_istream *is)
{
	struct dl *s = (struct dl *)is;
	dl_stop(s);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	reg_headers_clear(&s->h);
	ferry_hasher_free(s->hash);
	free(s->buf);
	free(s->ebody);
	free(s->url);
	free(s->scope);
	free(s->what);
	free(s);
}

int reg_download_open(ferry_registry *r, const char *url, const char *scope, const ferry_digest *d, const char *what,
		      ferry_istream **in, uint64_t *size, ferry_error *err)
{
	*in = NULL;
	if (reg_ping(r, err) < 0)
		return -1;
	struct dl *s = ferry_xcalloc(1, sizeof(*s));
	s->base.read = dl_read;
	s->base.close = dl_close;
	s->r = r;
	s->url = request_url(r, url, NULL, err);
	if (!s->url) {
		free(s);
		return -1;
	}
	s->scope = ferry_xstrdup(scope);
	s->what = ferry_xstrdup(what);
	s->cap = DL_BUF;
	s->buf = ferry_xmalloc(s->cap);
	s->total = UINT64_MAX;
	s->want = *d;
	s->hash = ferry_hasher_new(d->alg);
	s->multi = curl_multi_init();
	if (!s->multi) {
		dl_close(&s->base);
		return ferry_error_set(err, FERRY_E_FAILED, "cannot set up an HTTP transfer (libcurl)");
	}
	if (dl_begin(s, err) < 0) {
		dl_close(&s->base);
		return -1;
	}
	if (size)
		*size = s->total;
	*in = &s->base;
	return 0;
}
