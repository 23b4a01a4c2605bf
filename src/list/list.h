/*
 * list.h - image lists: what `--images-from LIST` reads.
 *
 * A list is either plain lines (`REF` or `REF@sha256:...`, `#` comments,
 * blank lines skipped) or skopeo sync's YAML (registries -> images,
 * images-by-tag-regex, images-by-semver, tls-verify, cert-dir,
 * credentials).  Parsing only checks and records: tags are listed and
 * selected later, against the registry (ferry_list_select).  Every list is
 * hostile: sizes, counts and lengths are bounded, YAML aliases are refused,
 * and a key ferry does not support is refused by name.
 */
#ifndef FERRY_LIST_H
#define FERRY_LIST_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define FERRY_LIST_BYTES_MAX (4u << 20) /* a list file */
#define FERRY_LIST_ITEMS_MAX 100000     /* entries of a list, and images a run selects */
#define FERRY_LIST_LINE_MAX 4096        /* a plain line, or a YAML scalar */

typedef enum {
	FERRY_LIST_REF,    /* ref: one image, by tag and/or digest */
	FERRY_LIST_REGEX,  /* every tag of repo matching pattern (POSIX ERE, unanchored like skopeo's) */
	FERRY_LIST_SEMVER, /* every tag of repo that is a version within pattern (a range) */
	FERRY_LIST_ALL,    /* every tag of repo (skopeo's `repo: []`) */
} ferry_list_kind;

/* A registry block of a YAML list: how to talk to it. */
typedef struct ferry_list_registry {
	char *domain;
	bool tls_verify_set, tls_verify;
	char *cert_dir;
	char *creds; /* "user:password", or NULL */
} ferry_list_registry;

typedef struct ferry_list_item {
	ferry_list_kind kind;
	char *ref;     /* REF: "host/repo:tag", "host/repo@sha256:..", "host/repo:tag@sha256:.."; else "host/repo" */
	char *pattern; /* REGEX, SEMVER */
	size_t registry; /* index into registries, or SIZE_MAX (a plain line) */
	unsigned line;   /* where it was written, for messages */
} ferry_list_item;

typedef struct ferry_list {
	ferry_list_item *items;
	size_t n_items, cap_items;
	ferry_list_registry *registries;
	size_t n_registries, cap_registries;
} ferry_list;

/* Parse a list held in memory; display names it in messages.  FERRY_E_USAGE for what is wrong in it. */
int ferry_list_parse(const char *buf, size_t len, const char *display, ferry_list *out, ferry_error *err);
/* Read and parse the file at path ("-": stdin). */
int ferry_list_load(const char *path, ferry_list *out, ferry_error *err);
void ferry_list_free(ferry_list *l);

/*
 * Compile an images-by-tag-regex pattern (POSIX ERE, no subexpressions
 * kept) into re, to regfree later.  Refused before regcomp: a pattern over
 * 256 characters, back-references, and repetitions whose counts multiply
 * past 1000 along a nesting (Go's limit, so skopeo's lists pass).  -1 with
 * why filled when refused or malformed.
 */
int ferry_tag_regex_compile(const char *pat, regex_t *re, char *why, size_t len);

/* Does tag match item (a REGEX, SEMVER or ALL item)?  A bad regex fails at parse time, not here. */
bool ferry_list_tag_matches(const ferry_list_item *item, const char *tag);

/* ---- semver ranges (src/list/semver.c), as skopeo's images-by-semver reads them ---- */

/* Is range a well-formed range?  err says what is wrong with it. */
int ferry_semver_range_check(const char *range, ferry_error *err);
/* Is version (a tag: "1.2.3", "v1.2", "1.2.3-rc.1") a version within range?  False when it is no version. */
bool ferry_semver_match(const char *range, const char *version);

#endif
