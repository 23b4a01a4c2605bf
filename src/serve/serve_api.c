/*
 * serve_api.c - the OCI distribution API, read-only, over the index:
 *
 *   GET /v2/                              200 {}
 *   GET /v2/_catalog?n=&last=             repositories, paged (Link: rel="next")
 *   GET /v2/NAME/tags/list?n=&last=       tags, paged
 *   GET|HEAD /v2/NAME/manifests/REF       exact bytes, Accept negotiated
 *   GET|HEAD /v2/NAME/blobs/DIGEST        bytes from the source file, Range
 *   GET /v2/NAME/referrers/DIGEST         an OCI index (?artifactType= filters)
 *
 * Anything else that writes (POST, PUT, PATCH, DELETE) is UNSUPPORTED.  Names
 * and digests from the URL are only ever keys looked up in the index: no
 * part of a URL becomes a path.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ref.h"
#include "serve_api.h"
#include "util.h"

#define NAME_MAX_LEN 255

void serve_api_error(serve_answer *out, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *doc = json_pack("{s:[{s:s, s:s}]}", "errors", "code", code, "message", msg);
	size_t len;
	char *body = ferry_json_dump(doc, &len);
	json_decref(doc);
	out->resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(out->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	out->status = status;
	out->bytes = len;
}

static void answer_json(serve_answer *out, unsigned status, json_t *doc, const char *content_type)
{
	size_t len;
	char *body = ferry_json_dump(doc, &len);
	json_decref(doc);
	out->resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(out->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	out->status = status;
	out->bytes = len;
}

/* A repository name as the spec's grammar allows its characters; the index decides the rest. */
static bool name_ok(const char *name, size_t len)
{
	if (len == 0 || len > NAME_MAX_LEN || name[0] == '/' || name[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/'))
			return false;
		if (c == '/' && name[i + 1] == '/')
			return false;
	}
	return true;
}

/* ---- paging ---- */

static bool page_args(struct MHD_Connection *c, size_t *n, const char **last)
{
	const char *ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
	*last = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "last");
	*n = SERVE_PAGE_MAX;
	if (!ns)
		return true;
	char *end;
	unsigned long long v = strtoull(ns, &end, 10);
	if (!*ns || *end || ns[0] == '-')
		return false;
	*n = v < SERVE_PAGE_MAX ? (size_t)v : SERVE_PAGE_MAX;
	return true;
}

static void answer_page(serve_index *ix, struct MHD_Connection *c, const char *repo, serve_answer *out)
{
	size_t n;
	const char *last;
	if (!page_args(c, &n, &last)) {
		serve_api_error(out, MHD_HTTP_BAD_REQUEST, "PAGINATION_NUMBER_INVALID", "n must be a number");
		return;
	}
	bool more;
	json_t *names = serve_page(ix, repo, last, n, &more);
	char *link = NULL;
	if (more && json_array_size(names)) {
		const char *tail = json_string_value(json_array_get(names, json_array_size(names) - 1));
		link = repo ? ferry_xasprintf("</v2/%s/tags/list?n=%zu&last=%s>; rel=\"next\"", repo, n, tail)
			    : ferry_xasprintf("</v2/_catalog?n=%zu&last=%s>; rel=\"next\"", n, tail);
	}
	json_t *doc = repo ? json_pack("{s:s, s:o}", "name", repo, "tags", names)
			   : json_pack("{s:o}", "repositories", names);
	answer_json(out, MHD_HTTP_OK, doc, "application/json");
	if (link)
		MHD_add_response_header(out->resp, MHD_HTTP_HEADER_LINK, link);
	free(link);
}

/* ---- manifests ---- */

typedef struct accept_scan {
	const char *want;
	bool any_header;
	bool ok;
} accept_scan;

/* Each Accept header is a comma list of types with parameters; docker sends several headers. */
static enum MHD_Result scan_accept(void *ud, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	accept_scan *s = ud;
	if (strcasecmp(key, MHD_HTTP_HEADER_ACCEPT) != 0 || !value)
		return MHD_YES;
	s->any_header = true;
	const char *p = value;
	while (*p) {
		p += strspn(p, " \t,");
		size_t len = strcspn(p, ",;");
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if ((len == strlen(s->want) && strncasecmp(p, s->want, len) == 0) || (len == 3 && !strncmp(p, "*/*", 3)))
			s->ok = true;
		p += strcspn(p, ",");
	}
	return MHD_YES;
}

static void answer_manifest(serve_index *ix, struct MHD_Connection *c, const char *repo, const char *ref,
			    serve_answer *out)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_digest d;
	if (strchr(ref, ':') ? ferry_digest_parse(&d, ref, &err) < 0 : !ferry_tag_valid(ref)) {
		serve_api_error(out, MHD_HTTP_BAD_REQUEST, strchr(ref, ':') ? "DIGEST_INVALID" : "TAG_INVALID",
				"invalid reference \"%.200s\"", ref);
		return;
	}
	const serve_manifest *m = serve_find_manifest(ix, repo, ref);
	if (!m) {
		serve_api_error(out, MHD_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown: %s:%.200s", repo, ref);
		return;
	}
	accept_scan s = {.want = m->media_type};
	MHD_get_connection_values(c, MHD_HEADER_KIND, scan_accept, &s);
	if (s.any_header && !s.ok) {
		serve_api_error(out, MHD_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN",
				"%s:%.200s is a %s, which the Accept header does not take", repo, ref, m->media_type);
		return;
	}
	if (serve_source_check(ix, m->source, &err) < 0) {
		snprintf(out->problem, sizeof(out->problem), "%s", err.msg);
		serve_api_error(out, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", "%s", err.msg);
		return;
	}
	out->resp = MHD_create_response_from_buffer(m->len, (void *)m->bytes, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(out->resp, MHD_HTTP_HEADER_CONTENT_TYPE, m->media_type);
	MHD_add_response_header(out->resp, "Docker-Content-Digest", m->digest.str);
	char etag[FERRY_DIGEST_STRMAX + 2];
	snprintf(etag, sizeof(etag), "\"%s\"", m->digest.str);
	MHD_add_response_header(out->resp, MHD_HTTP_HEADER_ETAG, etag);
	out->status = MHD_HTTP_OK;
	out->bytes = m->len;
}

/* ---- blobs ---- */

/* A digest from the URL, strictly parsed: else DIGEST_INVALID is the answer. */
static bool digest_arg(const char *s, ferry_digest *d, serve_answer *out)
{
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_digest_parse(d, s, &err) == 0)
		return true;
	serve_api_error(out, MHD_HTTP_BAD_REQUEST, "DIGEST_INVALID", "invalid digest \"%.200s\"", s);
	return false;
}

typedef enum { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE } range_kind;

static bool parse_u64(const char *s, size_t len, uint64_t *v)
{
	if (len == 0 || len > 19)
		return false;
	*v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	return true;
}

/*
 * One range "bytes=A-B", "bytes=A-" or "bytes=-N".  Several ranges, reversed
 * or malformed ones are ignored (RFC 9110 allows it: the whole blob is sent);
 * a range starting past the end is 416.
 */
static range_kind parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *len)
{
	if (!h || size == 0 || strncasecmp(h, "bytes=", 6) != 0)
		return RANGE_NONE;
	const char *spec = h + 6;
	if (strchr(spec, ','))
		return RANGE_NONE;
	const char *dash = strchr(spec, '-');
	if (!dash)
		return RANGE_NONE;
	uint64_t a = 0, b = 0;
	bool has_a = parse_u64(spec, (size_t)(dash - spec), &a);
	bool has_b = parse_u64(dash + 1, strlen(dash + 1), &b);
	if ((dash != spec && !has_a) || (dash[1] && !has_b) || (!has_a && !has_b))
		return RANGE_NONE;
	if (!has_a) { /* the last b bytes */
		if (b == 0)
			return RANGE_UNSATISFIABLE;
		*start = b > size ? 0 : size - b;
		*len = size - *start;
		return RANGE_OK;
	}
	if (has_b && b < a)
		return RANGE_NONE;
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	uint64_t end = has_b && b < size - 1 ? b : size - 1;
	*start = a;
	*len = end - a + 1;
	return RANGE_OK;
}

/* A blob sent from a stream (one spanning two volumes): the bytes before the range are read and dropped. */
typedef struct span_reader {
	ferry_istream *in;
	uint64_t skip;
} span_reader;

static ssize_t span_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos; /* MHD reads in order */
	span_reader *r = cls;
	ferry_error err = FERRY_ERROR_INIT;
	while (r->skip) {
		size_t want = r->skip < max ? (size_t)r->skip : max;
		ssize_t n = ferry_read(r->in, buf, want, &err);
		if (n <= 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		r->skip -= (uint64_t)n;
	}
	ssize_t n = ferry_read(r->in, buf, max, &err);
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void span_free(void *cls)
{
	span_reader *r = cls;
	ferry_istream_close(r->in);
	free(r);
}

static struct MHD_Response *span_response(serve_index *ix, const serve_blob *b, uint64_t start, uint64_t len,
					  ferry_error *err)
{
	ferry_istream *in;
	if (serve_blob_stream(ix, b, &in, err) < 0)
		return NULL;
	span_reader *r = ferry_xcalloc(1, sizeof(*r));
	r->in = in;
	r->skip = start;
	struct MHD_Response *resp = MHD_create_response_from_callback(len, 64 * 1024, span_read, r, span_free);
	if (!resp)
		span_free(r);
	return resp;
}

static void answer_blob(serve_index *ix, struct MHD_Connection *c, const char *digest, serve_answer *out)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_digest d;
	if (!digest_arg(digest, &d, out))
		return;
	const serve_blob *b = serve_find_blob(ix, d.str);
	if (!b) {
		serve_api_error(out, MHD_HTTP_NOT_FOUND, "BLOB_UNKNOWN", "blob unknown: %s", d.str);
		return;
	}
	uint64_t start = 0, len = b->size;
	const char *rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	range_kind rk = parse_range(rh, b->size, &start, &len);
	char cr[96];
	if (rk == RANGE_UNSATISFIABLE) {
		serve_api_error(out, MHD_HTTP_RANGE_NOT_SATISFIABLE, "RANGE_INVALID", "range %.100s is outside the blob",
				rh);
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, b->size);
		MHD_add_response_header(out->resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		return;
	}
	int fd;
	uint64_t off;
	if (serve_blob_open(ix, b, &fd, &off, &err) < 0) {
		/* A blob that spans two volumes of a set: read across them. */
		ferry_error_clear(&err);
		out->resp = span_response(ix, b, start, len, &err);
		fd = -1;
	} else {
		/* MHD owns fd from here: sendfile on plain HTTP, pread under TLS. */
		out->resp = MHD_create_response_from_fd_at_offset64(len, fd, off + start);
	}
	if (!out->resp && err.code != FERRY_OK) {
		snprintf(out->problem, sizeof(out->problem), "%s", err.msg);
		serve_api_error(out, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", "%s", err.msg);
		return;
	}
	if (!out->resp) {
		if (fd >= 0)
			close(fd);
		serve_api_error(out, MHD_HTTP_INTERNAL_SERVER_ERROR, "UNKNOWN", "cannot serve %s", d.str);
		return;
	}
	MHD_add_response_header(out->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(out->resp, "Docker-Content-Digest", d.str);
	MHD_add_response_header(out->resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	out->status = MHD_HTTP_OK;
	if (rk == RANGE_OK) {
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, start + len - 1, b->size);
		MHD_add_response_header(out->resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		out->status = MHD_HTTP_PARTIAL_CONTENT;
	}
	out->bytes = len;
}

static void answer_referrers(serve_index *ix, struct MHD_Connection *c, const char *digest, serve_answer *out)
{
	ferry_digest d;
	if (!digest_arg(digest, &d, out))
		return;
	const char *at = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "artifactType");
	answer_json(out, MHD_HTTP_OK, serve_referrers(ix, d.str, at), FERRY_MT_OCI_INDEX);
	if (at)
		MHD_add_response_header(out->resp, "OCI-Filters-Applied", "artifactType");
}

/* ---- routing ---- */

/* The last "/WORD/" in rest: where the name ends. */
static const char *find_route(const char *rest, const char *word)
{
	const char *found = NULL;
	for (const char *p = strstr(rest, word); p; p = strstr(p + 1, word))
		found = p;
	return found;
}

static void route_repo(serve_index *ix, struct MHD_Connection *c, const char *rest, serve_answer *out)
{
	static const char *const routes[] = {"/manifests/", "/blobs/", "/referrers/", "/tags/list"};
	const char *at = NULL;
	size_t which = 0;
	for (size_t i = 0; i < 4; i++) {
		const char *p = find_route(rest, routes[i]);
		if (p && (!at || p > at)) {
			at = p;
			which = i;
		}
	}
	const char *arg = at ? at + strlen(routes[which]) : NULL;
	if (!at || (which == 3 && *arg) || (which < 3 && !*arg)) {
		serve_api_error(out, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no such endpoint");
		return;
	}
	size_t nlen = (size_t)(at - rest);
	if (!name_ok(rest, nlen)) {
		serve_api_error(out, MHD_HTTP_BAD_REQUEST, "NAME_INVALID", "invalid repository name");
		return;
	}
	char *repo = ferry_xstrndup(rest, nlen);
	if (!serve_has_repo(ix, repo))
		serve_api_error(out, MHD_HTTP_NOT_FOUND, "NAME_UNKNOWN", "repository %s is not served here", repo);
	else if (which == 0)
		answer_manifest(ix, c, repo, arg, out);
	else if (which == 1)
		answer_blob(ix, c, arg, out);
	else if (which == 2)
		answer_referrers(ix, c, arg, out);
	else
		answer_page(ix, c, repo, out);
	free(repo);
}

void serve_api_answer(serve_index *ix, struct MHD_Connection *c, const char *method, const char *url,
		      serve_answer *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		serve_api_error(out, MHD_HTTP_METHOD_NOT_ALLOWED, "UNSUPPORTED",
				"ferry serve is read-only: %.20s is not supported", method);
		MHD_add_response_header(out->resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	} else if (!strcmp(url, "/v2/") || !strcmp(url, "/v2")) {
		answer_json(out, MHD_HTTP_OK, json_object(), "application/json");
	} else if (!strcmp(url, "/v2/_catalog")) {
		answer_page(ix, c, NULL, out);
	} else if (!strncmp(url, "/v2/", 4)) {
		route_repo(ix, c, url + 4, out);
	} else {
		serve_api_error(out, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no such endpoint");
	}
	MHD_add_response_header(out->resp, "Docker-Distribution-API-Version", "registry/2.0");
}
