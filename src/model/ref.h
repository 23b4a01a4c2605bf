/*
 * ref.h - image references, with docker's grammar and normalisation.
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path
 *
 * The first component of a name is a domain when it contains '.' or ':', is
 * "localhost", or has an uppercase letter; otherwise the domain is docker.io,
 * and a single-component path on docker.io gets "library/".  "index.docker.io"
 * is docker.io.  Path components are [a-z0-9]+ joined by '.', '_', '__' or
 * one or more '-'; the whole name (domain/path) is at most 255 characters.  A
 * tag matches [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.  A digest is parsed by
 * ferry_digest_parse().
 */
#ifndef FERRY_REF_H
#define FERRY_REF_H

#include <stdbool.h>

#include "digest.h"
#include "error.h"

typedef struct ferry_ref {
	char *domain;        /* "docker.io", "localhost:5000", "[::1]:5000" */
	char *path;          /* "library/nginx", "team/app" */
	char *tag;           /* NULL when absent */
	ferry_digest digest; /* unset (str[0]==0) when absent */
} ferry_ref;

/*
 * Parse and normalise s into r (r's fields are allocated; free with
 * ferry_ref_free).  No default tag is added: see ferry_ref_default_tag.
 * On error (FERRY_E_USAGE) the message names the bad part, e.g.
 * `invalid reference "Foo/Bar": repository name must be lowercase`.
 */
int ferry_ref_parse(ferry_ref *r, const char *s, ferry_error *err);
/*
 * The same, for a reference whose origin decides the category of a bad one:
 * FERRY_E_USAGE for a command line, FERRY_E_FORMAT for a name an archive holds.
 */
int ferry_ref_parse_as(ferry_ref *r, const char *s, ferry_code bad, ferry_error *err);
/* ferry_digest_parse() (digest.c), failing with category bad instead of FERRY_E_FORMAT. */
int ferry_digest_parse_as(ferry_digest *d, const char *s, ferry_code bad, ferry_error *err);
/* Give r the tag "latest" if it has neither tag nor digest. */
void ferry_ref_default_tag(ferry_ref *r);
void ferry_ref_free(ferry_ref *r);
void ferry_ref_copy(ferry_ref *dst, const ferry_ref *src); /* deep copy */
bool ferry_ref_eq(const ferry_ref *a, const ferry_ref *b);

/* The following return new strings; the caller frees them. */
char *ferry_ref_string(const ferry_ref *r);   /* "docker.io/library/nginx:1.25[@sha256:...]" */
char *ferry_ref_familiar(const ferry_ref *r); /* "nginx:1.25": docker.io/ and library/ dropped */
char *ferry_ref_name(const ferry_ref *r);     /* "docker.io/library/nginx" (no tag/digest) */
char *ferry_ref_familiar_name(const ferry_ref *r); /* "nginx" */

bool ferry_tag_valid(const char *tag);
/* Validate a domain ("host", "host:port", "[v6]:port"); FERRY_E_USAGE if bad. */
int ferry_domain_check(const char *domain, ferry_error *err);

/* --registry HOST[:PORT]: replace the domain, keep the path. */
int ferry_ref_set_domain(ferry_ref *r, const char *domain, ferry_error *err);
/*
 * --prefix HOST[:PORT]/PATH: the domain becomes HOST[:PORT] and the path
 * becomes PATH/<old path> ("docker.io/library/nginx:1.25" with prefix
 * "reg:5000/mirror" gives "reg:5000/mirror/library/nginx:1.25").  The prefix
 * must contain a domain; the result must stay within 255 characters.
 */
int ferry_ref_set_prefix(ferry_ref *r, const char *prefix, ferry_error *err);

#endif
