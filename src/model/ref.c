#include "ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"
#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

/* Long inputs are cut in messages so one bad argument cannot fill the buffer. */
#define SHOW "%.300s"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return true;
	return false;
}

/*
 * docker's rule for whether the first component of a name is a registry
 * rather than the first part of a Docker Hub path.  Path components can hold
 * neither ':' nor uppercase, so either one settles it.
 */
static bool looks_like_domain(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) || has_upper(s, n) ||
	       (n == strlen("localhost") && memcmp(s, "localhost", n) == 0);
}

/* [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )* */
static bool component_valid(const char *c, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_lower_alnum(c[0]))
		return false;
	while (i < n) {
		while (i < n && is_lower_alnum(c[i]))
			i++;
		if (i == n)
			return true;
		if (c[i] == '.') {
			i++;
		} else if (c[i] == '_') {
			i++;
			if (i < n && c[i] == '_')
				i++;
		} else if (c[i] == '-') {
			while (i < n && c[i] == '-')
				i++;
		} else {
			return false;
		}
		/* A separator must be followed by an alphanumeric. */
		if (i == n || !is_lower_alnum(c[i]))
			return false;
	}
	return true;
}

/* Check a '/'-separated path of n bytes; what says what it is ("repository name", "prefix path"). */
static int path_check(const char *p, size_t n, const char *what, ferry_code bad, ferry_error *err)
{
	if (n == 0)
		return ferry_error_set(err, bad, "missing %s", what);
	if (has_upper(p, n))
		return ferry_error_set(err, bad, "%s must be lowercase", what);
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		size_t len = i - start;
		if (len == 0)
			return ferry_error_set(err, bad,
					       "%s \"%.*s\" has an empty component (leading, trailing or double '/')",
					       what, (int)(n > 300 ? 300 : n), p);
		if (!component_valid(p + start, len))
			return ferry_error_set(err, bad,
					       "invalid %s component \"%.*s\": use lowercase letters and digits, "
					       "separated by '.', '_', '__' or '-'",
					       what, (int)(len > 300 ? 300 : len), p + start);
		start = i + 1;
	}
	return 0;
}

bool ferry_tag_valid(const char *tag)
{
	if (!tag || !tag[0])
		return false;
	size_t n = strlen(tag);
	if (n > TAG_MAX_LEN)
		return false;
	if (!(is_alnum(tag[0]) || tag[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = tag[i];
		if (!(is_alnum(c) || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static int domain_check(const char *domain, ferry_code bad, ferry_error *err)
{
	if (!domain || !domain[0])
		return ferry_error_set(err, bad, "empty domain");

	const char *p = domain;
	if (*p == '[') {
		/* IPv6 literal: docker only asks for hex digits and colons. */
		const char *q = p + 1;
		while (is_hex(*q) || *q == ':')
			q++;
		if (*q != ']' || q == p + 1)
			return ferry_error_set(err, bad,
					       "invalid domain \"" SHOW "\": bad IPv6 address in brackets", domain);
		p = q + 1;
	} else {
		for (;;) {
			const char *start = p;
			while (is_alnum(*p) || *p == '-')
				p++;
			if (p == start || *start == '-' || p[-1] == '-')
				return ferry_error_set(err, bad,
						       "invalid domain \"" SHOW "\": host name parts are letters, digits "
						       "and inner '-', separated by '.'", domain);
			if (*p != '.')
				break;
			p++;
		}
	}
	if (*p == ':') {
		const char *start = ++p;
		while (is_digit(*p))
			p++;
		if (p == start || *p)
			return ferry_error_set(err, bad,
					       "invalid domain \"" SHOW "\": port must be a number", domain);
	}
	if (*p)
		return ferry_error_set(err, bad,
				       "invalid domain \"" SHOW "\": unexpected character '%c'", domain, *p);
	return 0;
}

int ferry_domain_check(const char *domain, ferry_error *err)
{
	return domain_check(domain, FERRY_E_USAGE, err);
}

/*
 * Turn a checked domain and path into r's normalised fields: the legacy Hub
 * name becomes docker.io, and a one-component Hub path gets "library/".
 * Returns new strings via *domain_out / *path_out (caller owns them).
 */
static void normalise(const char *domain, size_t dlen, const char *path, size_t plen,
		      char **domain_out, char **path_out)
{
	if (dlen == strlen(LEGACY_DOMAIN) && memcmp(domain, LEGACY_DOMAIN, dlen) == 0) {
		domain = DEFAULT_DOMAIN;
		dlen = strlen(DEFAULT_DOMAIN);
	}
	*domain_out = ferry_xstrndup(domain, dlen);
	if (strcmp(*domain_out, DEFAULT_DOMAIN) == 0 && !memchr(path, '/', plen))
		*path_out = ferry_xasprintf(OFFICIAL_PREFIX "%.*s", (int)plen, path);
	else
		*path_out = ferry_xstrndup(path, plen);
}

static int name_length_check(const char *domain, const char *path, ferry_code bad, ferry_error *err)
{
	size_t n = strlen(domain) + 1 + strlen(path);
	if (n > NAME_MAX_LEN)
		return ferry_error_set(err, bad,
				       "repository name too long (%zu characters, at most %d)", n, NAME_MAX_LEN);
	return 0;
}

static bool is_image_id(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

int ferry_ref_parse(ferry_ref *r, const char *s, ferry_error *err)
{
	return ferry_ref_parse_as(r, s, FERRY_E_USAGE, err);
}

int ferry_ref_parse_as(ferry_ref *r, const char *s, ferry_code bad, ferry_error *err)
{
	memset(r, 0, sizeof(*r));
	if (!s || !s[0])
		return ferry_error_set(err, bad, "invalid reference \"\": empty");
	/* As docker does: a bare image ID is never a repository name. */
	if (is_image_id(s))
		return ferry_error_set(err, bad,
				       "invalid reference \"%s\": a 64-character hex string is an image ID, "
				       "not a repository name", s);

	/* Split the domain off first: its ":port" must not be taken for a tag. */
	const char *domain = DEFAULT_DOMAIN;
	size_t dlen = strlen(DEFAULT_DOMAIN);
	const char *rest = s;
	const char *slash = strchr(s, '/');
	if (slash && looks_like_domain(s, (size_t)(slash - s))) {
		domain = s;
		dlen = (size_t)(slash - s);
		rest = slash + 1;
		char *d = ferry_xstrndup(domain, dlen);
		int rc = domain_check(d, bad, err);
		free(d);
		if (rc < 0) {
			ferry_error_prefix(err, "invalid reference \"" SHOW "\"", s);
			return -1;
		}
	}

	/* Neither path nor tag may hold '@', and a path never holds ':'. */
	const char *at = strchr(rest, '@');
	size_t before_at = at ? (size_t)(at - rest) : strlen(rest);
	const char *colon = memchr(rest, ':', before_at);
	size_t plen = colon ? (size_t)(colon - rest) : before_at;
	char *tag = NULL;
	ferry_digest dg;
	memset(&dg, 0, sizeof(dg));

	if (path_check(rest, plen, "repository name", bad, err) < 0)
		goto fail;
	if (colon) {
		tag = ferry_xstrndup(colon + 1, before_at - plen - 1);
		if (!ferry_tag_valid(tag)) {
			ferry_error_set(err, bad,
					"invalid tag \"" SHOW "\": a tag is up to 128 letters, digits, "
					"'_', '.' or '-', not starting with '.' or '-'", tag);
			goto fail;
		}
	}
	if (at && ferry_digest_parse_as(&dg, at + 1, bad, err) < 0)
		goto fail;

	normalise(domain, dlen, rest, plen, &r->domain, &r->path);
	r->tag = tag;
	r->digest = dg;
	if (name_length_check(r->domain, r->path, bad, err) < 0) {
		ferry_ref_free(r);
		tag = NULL; /* freed with r */
		goto fail;
	}
	return 0;

fail:
	free(tag);
	ferry_error_prefix(err, "invalid reference \"" SHOW "\"", s);
	return -1;
}

void ferry_ref_default_tag(ferry_ref *r)
{
	if (!r->tag && !ferry_digest_is_set(&r->digest))
		r->tag = ferry_xstrdup("latest");
}

void ferry_ref_free(ferry_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	memset(r, 0, sizeof(*r));
}

void ferry_ref_copy(ferry_ref *dst, const ferry_ref *src)
{
	dst->domain = ferry_xstrdup(src->domain);
	dst->path = ferry_xstrdup(src->path);
	dst->tag = ferry_xstrdup(src->tag);
	dst->digest = src->digest;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool ferry_ref_eq(const ferry_ref *a, const ferry_ref *b)
{
	return str_eq(a->domain, b->domain) && str_eq(a->path, b->path) &&
	       str_eq(a->tag, b->tag) && ferry_digest_eq(&a->digest, &b->digest);
}

/* Append ":tag" and "@digest" (when present) to name, which is consumed. */
static char *with_suffix(char *name, const ferry_ref *r)
{
	const char *dg = r->digest.str;
	char *s = ferry_xasprintf("%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "",
				  dg[0] ? "@" : "", dg);
	free(name);
	return s;
}

char *ferry_ref_name(const ferry_ref *r)
{
	return ferry_xasprintf("%s/%s", r->domain, r->path);
}

char *ferry_ref_string(const ferry_ref *r)
{
	return with_suffix(ferry_ref_name(r), r);
}

char *ferry_ref_familiar_name(const ferry_ref *r)
{
	if (strcmp(r->domain, DEFAULT_DOMAIN) != 0)
		return ferry_ref_name(r);

	const char *path = r->path;
	if (ferry_str_startswith(path, OFFICIAL_PREFIX) &&
	    !strchr(path + strlen(OFFICIAL_PREFIX), '/'))
		path += strlen(OFFICIAL_PREFIX);

	/*
	 * Unlike docker, keep "docker.io/" when dropping it would make the
	 * first path component read as a registry ("docker.io/foo.com/x"):
	 * the familiar form must parse back to the same reference.
	 */
	const char *slash = strchr(path, '/');
	if (slash && looks_like_domain(path, (size_t)(slash - path)))
		return ferry_ref_name(r);
	return ferry_xstrdup(path);
}

char *ferry_ref_familiar(const ferry_ref *r)
{
	return with_suffix(ferry_ref_familiar_name(r), r);
}

/*
 * A new domain must read as a domain when the result is parsed again,
 * or "myhost/app" would silently mean docker.io/myhost/app.
 */
static int registry_check(const char *domain, size_t dlen, const char *what, const char *input,
			  ferry_error *err)
{
	char *d = ferry_xstrndup(domain, dlen);
	int rc = ferry_domain_check(d, err);
	if (rc == 0 && !looks_like_domain(d, dlen))
		rc = ferry_error_set(err, FERRY_E_USAGE,
				     "\"%s\" would be read as a Docker Hub user, not a registry: "
				     "a registry needs a '.' or a ':port', or must be \"localhost\"", d);
	free(d);
	if (rc < 0)
		ferry_error_prefix(err, "invalid %s \"" SHOW "\"", what, input);
	return rc;
}

/* Replace r's domain and path with the normalised pair, if it fits; r is unchanged on error. */
static int replace_name(ferry_ref *r, const char *domain, size_t dlen, const char *path,
			size_t plen, const char *what, const char *input, ferry_error *err)
{
	char *nd, *np;
	normalise(domain, dlen, path, plen, &nd, &np);
	if (name_length_check(nd, np, FERRY_E_USAGE, err) < 0) {
		ferry_error_prefix(err, "%s \"" SHOW "\" applied to %s/%s", what, input, r->domain, r->path);
		free(nd);
		free(np);
		return -1;
	}
	free(r->domain);
	free(r->path);
	r->domain = nd;
	r->path = np;
	return 0;
}

int ferry_ref_set_domain(ferry_ref *r, const char *domain, ferry_error *err)
{
	if (!domain)
		domain = "";
	if (registry_check(domain, strlen(domain), "registry", domain, err) < 0)
		return -1;
	return replace_name(r, domain, strlen(domain), r->path, strlen(r->path), "registry", domain, err);
}

int ferry_ref_set_prefix(ferry_ref *r, const char *prefix, ferry_error *err)
{
	if (!prefix)
		prefix = "";
	const char *slash = strchr(prefix, '/');
	size_t dlen = slash ? (size_t)(slash - prefix) : strlen(prefix);
	if (registry_check(prefix, dlen, "prefix", prefix, err) < 0)
		return -1;

	/* A bare HOST[:PORT] prefix is allowed and acts like --registry. */
	if (!slash)
		return replace_name(r, prefix, dlen, r->path, strlen(r->path), "prefix", prefix, err);

	const char *ppath = slash + 1;
	if (path_check(ppath, strlen(ppath), "prefix path", FERRY_E_USAGE, err) < 0) {
		ferry_error_prefix(err, "invalid prefix \"" SHOW "\"", prefix);
		return -1;
	}
	char *path = ferry_xasprintf("%s/%s", ppath, r->path);
	int rc = replace_name(r, prefix, dlen, path, strlen(path), "prefix", prefix, err);
	free(path);
	return rc;
}
