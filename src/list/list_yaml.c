/*
 * list_yaml.c - skopeo sync's YAML list, parsed with libyaml:
 *
 *   registry.example:5000:
 *     images:                 # repository -> tags or digests ([]: every tag)
 *       team/app: ["1.0", "sha256:..."]
 *     images-by-tag-regex:    # repository -> POSIX extended regex (unanchored)
 *       team/web: ^v1\.
 *     images-by-semver:       # repository -> a version range
 *       team/db: ">= 3.12.0, < 4"
 *     tls-verify: false
 *     cert-dir: /etc/certs
 *     credentials: {username: u, password: p}
 *
 * Anything else is refused, naming the key.  Aliases are refused: a list is
 * written by hand, and aliases are how a small YAML file grows huge.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "list.h"
#include "ref.h"
#include "util.h"

ferry_list_item *ferry_list_add(ferry_list *l, ferry_list_kind kind, const char *ref, const char *pattern,
				size_t registry, unsigned line, const char *display, ferry_error *err);
char *ferry_list_norm_ref(const char *s, bool want_tag, const char *display, unsigned line, ferry_error *err);

typedef struct yctx {
	yaml_document_t *doc;
	const char *display;
	ferry_list *out;
	ferry_error *err;
} yctx;

static unsigned line_of(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

static int bad(yctx *y, const yaml_node_t *n, const char *what)
{
	return ferry_error_set(y->err, FERRY_E_USAGE, "%s:%u: %s", y->display, line_of(n), what);
}

/* A scalar's text, or NULL (err set) when n is not a scalar or is too long. */
static const char *scalar(yctx *y, const yaml_node_t *n, const char *what)
{
	if (!n || n->type != YAML_SCALAR_NODE) {
		bad(y, n, what);
		return NULL;
	}
	if (n->data.scalar.length > FERRY_LIST_LINE_MAX || strlen((const char *)n->data.scalar.value) !=
									  n->data.scalar.length) {
		bad(y, n, "value too long, or holding a NUL byte");
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = (const char *)n->data.scalar.value;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null");
}

static int add_ref(yctx *y, size_t reg, const char *repo, const char *tag, const yaml_node_t *at)
{
	const char *dom = y->out->registries[reg].domain;
	bool digest = strchr(tag, ':') != NULL;
	char *s = ferry_xasprintf("%s/%s%s%s", dom, repo, digest ? "@" : ":", tag);
	char *ref = ferry_list_norm_ref(s, true, y->display, line_of(at), y->err);
	free(s);
	if (!ref)
		return -1;
	ferry_list_item *it = ferry_list_add(y->out, FERRY_LIST_REF, ref, NULL, reg, line_of(at), y->display, y->err);
	free(ref);
	return it ? 0 : -1;
}

static int add_repo(yctx *y, size_t reg, ferry_list_kind kind, const char *repo, const char *pattern,
		    const yaml_node_t *at)
{
	char *s = ferry_xasprintf("%s/%s", y->out->registries[reg].domain, repo);
	char *name = ferry_list_norm_ref(s, false, y->display, line_of(at), y->err);
	free(s);
	if (!name)
		return -1;
	ferry_list_item *it = ferry_list_add(y->out, kind, name, pattern, reg, line_of(at), y->display, y->err);
	free(name);
	return it ? 0 : -1;
}

/* images: repository -> [tag | digest ...] */
static int take_images(yctx *y, size_t reg, yaml_node_t *m)
{
	if (m->type != YAML_MAPPING_NODE)
		return bad(y, m, "images: a map of repository to tags");
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
		const char *repo = scalar(y, k, "images: a repository name");
		if (!repo)
			return -1;
		if (is_null(v) || (v->type == YAML_SEQUENCE_NODE && v->data.sequence.items.start == v->data.sequence.items.top)) {
			if (add_repo(y, reg, FERRY_LIST_ALL, repo, NULL, k) < 0)
				return -1;
			continue;
		}
		if (v->type != YAML_SEQUENCE_NODE)
			return bad(y, v, "images: each repository takes a list of tags or digests");
		for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
			yaml_node_t *t = yaml_document_get_node(y->doc, *i);
			const char *tag = scalar(y, t, "images: a tag or digest");
			if (!tag || add_ref(y, reg, repo, tag, t) < 0)
				return -1;
		}
	}
	return 0;
}

/* images-by-tag-regex / images-by-semver: repository -> pattern */
static int take_patterns(yctx *y, size_t reg, yaml_node_t *m, ferry_list_kind kind)
{
	const char *key = kind == FERRY_LIST_REGEX ? "images-by-tag-regex" : "images-by-semver";
	char msg[128];
	if (m->type != YAML_MAPPING_NODE) {
		snprintf(msg, sizeof(msg), "%s: a map of repository to %s", key,
			 kind == FERRY_LIST_REGEX ? "regex" : "range");
		return bad(y, m, msg);
	}
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
		const char *repo = scalar(y, k, "a repository name");
		const char *pat = repo ? scalar(y, v, "a pattern") : NULL;
		if (!pat)
			return -1;
		if (kind == FERRY_LIST_REGEX) {
			regex_t re;
			char why[128];
			if (ferry_tag_regex_compile(pat, &re, why, sizeof(why)) < 0) {
				return ferry_error_set(y->err, FERRY_E_USAGE, "%s:%u: bad regex \"%s\": %s", y->display,
						       line_of(v), pat, why);
			}
			regfree(&re);
		} else {
			ferry_error e = FERRY_ERROR_INIT;
			if (ferry_semver_range_check(pat, &e) < 0)
				return ferry_error_set(y->err, FERRY_E_USAGE, "%s:%u: %s", y->display, line_of(v), e.msg);
		}
		if (add_repo(y, reg, kind, repo, pat, k) < 0)
			return -1;
	}
	return 0;
}

static int take_bool(yctx *y, yaml_node_t *v, bool *out)
{
	const char *s = scalar(y, v, "tls-verify: true or false");
	if (!s)
		return -1;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		*out = false;
	else
		return bad(y, v, "tls-verify: true or false");
	return 0;
}

static int take_creds(yctx *y, ferry_list_registry *r, yaml_node_t *m)
{
	if (m->type != YAML_MAPPING_NODE)
		return bad(y, m, "credentials: username and password");
	const char *user = NULL, *pass = NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
		const char *key = scalar(y, k, "credentials: username and password");
		if (!key)
			return -1;
		const char **dst = !strcmp(key, "username") ? &user : !strcmp(key, "password") ? &pass : NULL;
		if (!dst)
			return ferry_error_set(y->err, FERRY_E_USAGE, "%s:%u: credentials: unsupported key \"%s\"",
					       y->display, line_of(k), key);
		if (!(*dst = scalar(y, v, "credentials: a string"))) /* never the value in a message */
			return -1;
	}
	if (!user || !pass || strchr(user, ':'))
		return bad(y, m, "credentials: a username (without ':') and a password");
	r->creds = ferry_xasprintf("%s:%s", user, pass);
	return 0;
}

static int take_registry(yctx *y, yaml_node_t *k, yaml_node_t *m)
{
	const char *dom = scalar(y, k, "a registry name");
	if (!dom)
		return -1;
	ferry_error e = FERRY_ERROR_INIT;
	if (ferry_domain_check(dom, &e) < 0)
		return ferry_error_set(y->err, FERRY_E_USAGE, "%s:%u: %s", y->display, line_of(k), e.msg);
	if (m->type != YAML_MAPPING_NODE)
		return bad(y, m, "a registry takes a map (images, tls-verify, ...)");
	ferry_list *l = y->out;
	size_t reg = l->n_registries;
	ferry_list_registry *r = FERRY_PUSH(l->registries, l->n_registries, l->cap_registries);
	memset(r, 0, sizeof(*r));
	r->domain = ferry_xstrdup(dom);
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *kk = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
		const char *key = scalar(y, kk, "a key");
		if (!key)
			return -1;
		r = &l->registries[reg]; /* the list's arrays may move as items are added */
		int rc;
		if (!strcmp(key, "images"))
			rc = take_images(y, reg, v);
		else if (!strcmp(key, "images-by-tag-regex"))
			rc = take_patterns(y, reg, v, FERRY_LIST_REGEX);
		else if (!strcmp(key, "images-by-semver"))
			rc = take_patterns(y, reg, v, FERRY_LIST_SEMVER);
		else if (!strcmp(key, "tls-verify"))
			rc = take_bool(y, v, &r->tls_verify), r->tls_verify_set = true;
		else if (!strcmp(key, "cert-dir")) {
			const char *d = scalar(y, v, "cert-dir: a directory");
			rc = d ? 0 : -1;
			if (d) {
				free(r->cert_dir);
				r->cert_dir = ferry_xstrdup(d);
			}
		} else if (!strcmp(key, "credentials"))
			rc = take_creds(y, r, v);
		else
			rc = ferry_error_set(y->err, FERRY_E_USAGE, "%s:%u: %s: unsupported key \"%s\"", y->display,
					     line_of(kk), dom, key);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Refuse aliases before building the document: libyaml would share, then we would walk, their nodes. */
static int refuse_aliases(const char *buf, size_t len, const char *display, ferry_error *err)
{
	yaml_parser_t p;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	int rc = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			rc = ferry_error_set(err, FERRY_E_USAGE, "%s:%zu: not valid YAML: %s", display,
					     p.problem_mark.line + 1, p.problem ? p.problem : "parse error");
			break;
		}
		yaml_event_type_t t = ev.type;
		unsigned line = (unsigned)ev.start_mark.line + 1;
		yaml_event_delete(&ev);
		if (t == YAML_ALIAS_EVENT) {
			rc = ferry_error_set(err, FERRY_E_USAGE, "%s:%u: YAML aliases are not supported in a list", display,
					     line);
			break;
		}
		if (t == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p);
	return rc;
}

int ferry_list_parse_yaml(const char *buf, size_t len, const char *display, ferry_list *out, ferry_error *err)
{
	if (refuse_aliases(buf, len, display, err) < 0)
		return -1;
	yaml_parser_t p;
	yaml_document_t doc;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, &doc)) {
		ferry_error_set(err, FERRY_E_USAGE, "%s:%zu: not valid YAML: %s", display, p.problem_mark.line + 1,
				p.problem ? p.problem : "parse error");
		yaml_parser_delete(&p);
		return -1;
	}
	yctx y = {&doc, display, out, err};
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	int rc = 0;
	if (!root || root->type != YAML_MAPPING_NODE)
		rc = ferry_error_set(err, FERRY_E_USAGE, "%s: a YAML list is a map of registries", display);
	for (yaml_node_pair_t *pr = rc ? NULL : root->data.mapping.pairs.start;
	     pr && pr < root->data.mapping.pairs.top && rc == 0; pr++)
		rc = take_registry(&y, yaml_document_get_node(&doc, pr->key), yaml_document_get_node(&doc, pr->value));
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rc;
}
