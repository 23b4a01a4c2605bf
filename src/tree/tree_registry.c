/*
 * tree_registry.c - an image in a registry, seen as an OCI layout.
 *
 * The tree answers for "oci-layout", an "index.json" naming the one
 * reference that was asked for, and "blobs/<alg>/<hex>" (manifests and
 * blobs fetched on demand, layers streamed), so the OCI reader, the engine
 * and verify work on a registry exactly as on a directory.  Pulling is then
 * just converting from this tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "ref.h"
#include "registry.h"
#include "strmap.h"
#include "tree.h"
#include "tree_registry.h"
#include "util.h"

typedef struct doc {
	unsigned char *bytes;
	size_t len;
} doc;

typedef struct reg_tree {
	ferry_tree base;
	ferry_registry *reg; /* owned unless borrowed */
	bool borrowed;
	ferry_digest top; /* what the reference resolved to */
	char *repo;
	char *repo_full; /* "domain/repo", for the names of cosign tags */
	bool no_referrers; /* --no-referrers: do not look for them */
	char *index_json;
	size_t index_len;
	ferry_strmap docs; /* digest -> doc*: manifests fetched so far */
} reg_tree;

static const char LAYOUT[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

/* "blobs/sha256/<hex>" -> digest; anything else is not in the tree. */
static bool blob_digest(const char *path, ferry_digest *d)
{
	if (!ferry_str_startswith(path, "blobs/"))
		return false;
	const char *alg = path + 6;
	const char *slash = strchr(alg, '/');
	if (!slash)
		return false;
	char buf[FERRY_DIGEST_STRMAX + 8];
	snprintf(buf, sizeof(buf), "%.*s:%s", (int)(slash - alg), alg, slash + 1);
	ferry_error not_blob = FERRY_ERROR_INIT; /* another path: not an error */
	return ferry_digest_parse(d, buf, &not_blob) == 0;
}

static void keep_doc(reg_tree *t, const ferry_digest *d, unsigned char *bytes, size_t len)
{
	doc *x = ferry_xcalloc(1, sizeof(*x));
	x->bytes = bytes;
	x->len = len;
	doc *old = ferry_strmap_put(&t->docs, d->str, x);
	if (old) {
		free(old->bytes);
		free(old);
	}
}

static int rt_open(ferry_tree *tr, const char *path, ferry_istream **out, uint64_t *size, ferry_error *err)
{
	reg_tree *t = (reg_tree *)tr;
	if (strcmp(path, "oci-layout") == 0) {
		*size = strlen(LAYOUT);
		*out = ferry_istream_mem(LAYOUT, strlen(LAYOUT));
		return 0;
	}
	if (strcmp(path, "index.json") == 0) {
		*size = t->index_len;
		*out = ferry_istream_mem(t->index_json, t->index_len);
		return 0;
	}
	ferry_digest d;
	if (!blob_digest(path, &d))
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no %s", tr->display, path);
	doc *x = ferry_strmap_get(&t->docs, d.str);
	if (x) {
		*size = x->len;
		*out = ferry_istream_mem(x->bytes, x->len);
		return 0;
	}
	ferry_error e2 = FERRY_ERROR_INIT;
	if (ferry_registry_blob_open(t->reg, t->repo, &d, out, size, &e2) == 0)
		return 0;
	if (e2.code != FERRY_E_NOTFOUND) {
		*err = e2;
		return -1;
	}
	/* Not a blob: the children of an index are fetched as manifests. */
	unsigned char *bytes;
	size_t len;
	char *mt = NULL;
	ferry_digest got;
	if (ferry_registry_manifest_get(t->reg, t->repo, d.str, &bytes, &len, &mt, &got, err) < 0)
		return -1;
	free(mt);
	keep_doc(t, &d, bytes, len);
	*size = len;
	*out = ferry_istream_mem(bytes, len);
	return 0;
}

static int rt_stat(ferry_tree *tr, const char *path, bool read_ahead, bool *exists, uint64_t *size,
		   ferry_error *err)
{
	(void)read_ahead;
	reg_tree *t = (reg_tree *)tr;
	*exists = false;
	*size = 0;
	if (strcmp(path, "oci-layout") == 0 || strcmp(path, "index.json") == 0) {
		*exists = true;
		*size = strcmp(path, "oci-layout") == 0 ? strlen(LAYOUT) : t->index_len;
		return 0;
	}
	ferry_digest d;
	if (!blob_digest(path, &d))
		return 0;
	doc *x = ferry_strmap_get(&t->docs, d.str);
	if (x) {
		*exists = true;
		*size = x->len;
		return 0;
	}
	return ferry_registry_blob_exists(t->reg, t->repo, &d, exists, size, err);
}

static int rt_open_any(ferry_tree *tr, const char *const *paths, size_t n, size_t *which, ferry_istream **out,
		       uint64_t *size, ferry_error *err)
{
	if (n == 0)
		return ferry_error_set(err, FERRY_E_FAILED, "internal: open_any with no paths");
	*which = 0;
	return rt_open(tr, paths[0], out, size, err);
}

static void rt_want(ferry_tree *tr, const char *const *paths, size_t n)
{
	(void)tr, (void)paths, (void)n;
}

static int rt_finish(ferry_tree *tr, ferry_error *err)
{
	(void)tr, (void)err;
	return 0;
}

static void doc_free(void *p)
{
	doc *x = p;
	if (x)
		free(x->bytes);
	free(x);
}

static void rt_free(ferry_tree *tr)
{
	reg_tree *t = (reg_tree *)tr;
	ferry_strmap_free_with(&t->docs, doc_free);
	if (!t->borrowed)
		ferry_registry_free(t->reg);
	free(t->repo);
	free(t->repo_full);
	free(t->index_json);
	free(tr->display);
	free(t);
}

static const ferry_tree_ops reg_ops = {
	.open = rt_open,
	.stat = rt_stat,
	.open_any = rt_open_any,
	.want = rt_want,
	.finish = rt_finish,
	.free = rt_free,
};

/* ---- referrers: what travels with the image ---- */

/* A registry image's referrers are looked for this many levels down, and at most this many kept. */
#define REG_REFERRERS_MAX 4096
#define REG_REFERRERS_DEPTH 8

typedef struct finder {
	reg_tree *t;
	json_t *manifests; /* the index.json entries being built */
	ferry_strmap seen; /* digests listed already */
	char **next;       /* digests whose referrers are still to be looked for (owned) */
	size_t n_next, cap_next;
	int api;           /* the referrers API: -1 unknown, 0 absent, 1 answers */
	size_t found;
} finder;

static void look_for(finder *F, const char *digest)
{
	*FERRY_PUSH(F->next, F->n_next, F->cap_next) = ferry_xstrdup(digest);
}

/* One more index.json entry (a referrer, unnamed; or a cosign tag, named): false when full. */
static bool list(finder *F, const ferry_descriptor *d, const char *subject, const char *tag)
{
	if (ferry_strmap_has(&F->seen, d->digest.str))
		return true;
	if (F->found >= REG_REFERRERS_MAX)
		return false;
	F->found++;
	ferry_strmap_put(&F->seen, d->digest.str, (void *)1);
	ferry_descriptor e = {0};
	ferry_descriptor_copy(&e, d);
	json_decref(e.annotations);
	e.annotations = json_object();
	if (tag) {
		char *full = ferry_xasprintf("%s:%s", F->t->repo_full, tag);
		json_object_set_new(e.annotations, FERRY_ANN_CONTAINERD_NAME, json_string(full));
		json_object_set_new(e.annotations, FERRY_ANN_REF_NAME, json_string(tag));
		free(full);
	} else {
		json_object_set_new(e.annotations, FERRY_ANN_REFERRER_SUBJECT, json_string(subject));
	}
	json_array_append_new(F->manifests, ferry_descriptor_to_json(&e));
	ferry_descriptor_free(&e);
	look_for(F, d->digest.str);
	return true;
}

/* The manifests an index (a referrers answer, or the sha256-<hex> tag) lists as referrers of subject. */
static void list_index(finder *F, const unsigned char *buf, size_t len, const char *subject)
{
	ferry_index ix;
	ferry_error bad = FERRY_ERROR_INIT; /* an unreadable answer lists nothing */
	if (ferry_index_parse(&ix, buf, len, &bad) < 0)
		return;
	for (size_t i = 0; i < ix.n_manifests; i++) {
		const ferry_descriptor *d = &ix.manifests[i];
		if (d->media_type && !ferry_media_type_is_manifest(d->media_type) && !ferry_media_type_is_index(d->media_type))
			continue;
		if (!list(F, d, subject, NULL))
			break;
	}
	ferry_index_free(&ix);
}

/* A manifest by tag, if there is one (any failure: none). */
static bool get_tag(finder *F, const char *tag, ferry_descriptor *d)
{
	unsigned char *bytes;
	size_t len;
	char *mt = NULL;
	ferry_error none = FERRY_ERROR_INIT;
	if (ferry_registry_manifest_get(F->t->reg, F->t->repo, tag, &bytes, &len, &mt, &d->digest, &none) < 0)
		return false;
	keep_doc(F->t, &d->digest, bytes, len);
	d->media_type = mt;
	d->size = len;
	return true;
}

/*
 * The referrers of one digest: the referrers API where the registry answers
 * it, else the referrers tag schema (an index tagged sha256-<hex>), and
 * cosign's sha256-<hex>.sig, .att and .sbom tags.  Best effort: a failure
 * finds nothing (the image itself is what the user asked for).
 */
static void find_referrers(finder *F, const char *digest)
{
	ferry_digest d;
	ferry_error none = FERRY_ERROR_INIT;
	if (ferry_digest_parse(&d, digest, &none) < 0 || d.alg != FERRY_ALG_SHA256)
		return;
	if (F->api != 0) {
		unsigned char *buf = NULL;
		size_t len = 0;
		bool supported = false;
		if (ferry_registry_referrers(F->t->reg, F->t->repo, &d, NULL, &buf, &len, &supported, &none) == 0)
			F->api = supported;
		if (supported)
			list_index(F, buf, len, digest);
		free(buf);
	}
	char tag[8 + FERRY_DIGEST_STRMAX];
	ferry_descriptor x = {0};
	if (F->api != 1) {
		snprintf(tag, sizeof(tag), "sha256-%s", ferry_digest_hex(&d));
		if (get_tag(F, tag, &x)) {
			doc *ix = ferry_strmap_get(&F->t->docs, x.digest.str);
			list_index(F, ix->bytes, ix->len, digest);
		}
		ferry_descriptor_free(&x);
	}
	static const char *const suffixes[] = {".sig", ".att", ".sbom"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(tag, sizeof(tag), "sha256-%s%s", ferry_digest_hex(&d), suffixes[i]);
		memset(&x, 0, sizeof(x));
		if (get_tag(F, tag, &x))
			list(F, &x, digest, tag);
		ferry_descriptor_free(&x);
	}
}

/* Level by level from the image (and, for an index, its manifests), as deep as REG_REFERRERS_DEPTH. */
static void find_all(finder *F, const ferry_digest *root)
{
	look_for(F, root->str);
	doc *x = ferry_strmap_get(&F->t->docs, root->str);
	ferry_index ix;
	ferry_error not_index = FERRY_ERROR_INIT;
	if (x && ferry_index_parse(&ix, x->bytes, x->len, &not_index) == 0) {
		for (size_t i = 0; i < ix.n_manifests && i < REG_REFERRERS_MAX; i++)
			look_for(F, ix.manifests[i].digest.str);
		ferry_index_free(&ix);
	}
	for (int depth = 0; depth < REG_REFERRERS_DEPTH && F->n_next; depth++) {
		char **now = F->next;
		size_t n = F->n_next;
		F->next = NULL;
		F->n_next = F->cap_next = 0;
		for (size_t i = 0; i < n; i++) {
			find_referrers(F, now[i]);
			free(now[i]);
		}
		free(now);
	}
	for (size_t i = 0; i < F->n_next; i++)
		free(F->next[i]);
	free(F->next);
}

/* The manifest ref names, fetched and kept, and the index.json naming it. */
static int resolve(reg_tree *t, const ferry_ref *ref, bool name_by_tag, ferry_error *err)
{
	unsigned char *bytes;
	size_t len;
	char *mt = NULL;
	ferry_digest d;
	const char *want = ferry_digest_is_set(&ref->digest) ? ref->digest.str : ref->tag;
	if (ferry_registry_manifest_get(t->reg, t->repo, want, &bytes, &len, &mt, &d, err) < 0)
		return -1;
	keep_doc(t, &d, bytes, len);
	t->top = d;
	/* The index.json of this one-image "layout": the reference as its name. */
	ferry_descriptor desc = {0};
	desc.media_type = mt;
	desc.digest = d;
	desc.size = len;
	desc.annotations = json_object();
	ferry_ref named;
	ferry_ref_copy(&named, ref);
	if (name_by_tag && named.tag)
		named.digest.str[0] = '\0'; /* pinned by digest, named by its tag */
	char *full = ferry_ref_string(&named);
	ferry_ref_free(&named);
	json_object_set_new(desc.annotations, FERRY_ANN_CONTAINERD_NAME, json_string(full));
	free(full);
	if (ref->tag)
		json_object_set_new(desc.annotations, FERRY_ANN_REF_NAME, json_string(ref->tag));
	json_t *ix = json_object();
	json_object_set_new(ix, "schemaVersion", json_integer(2));
	json_object_set_new(ix, "mediaType", json_string(FERRY_MT_OCI_INDEX));
	json_t *ms = json_array();
	json_array_append_new(ms, ferry_descriptor_to_json(&desc));
	if (!t->no_referrers) {
		finder F = {.t = t, .manifests = ms, .api = -1};
		ferry_strmap_put(&F.seen, d.str, (void *)1);
		find_all(&F, &d);
		ferry_strmap_free(&F.seen);
	}
	json_object_set_new(ix, "manifests", ms);
	t->index_json = ferry_json_dump(ix, &t->index_len);
	json_decref(ix);
	ferry_descriptor_free(&desc);
	return 0;
}

static reg_tree *new_tree(const ferry_ref *ref)
{
	reg_tree *t = ferry_xcalloc(1, sizeof(*t));
	t->base.ops = &reg_ops;
	char *s = ferry_ref_string(ref);
	t->base.display = ferry_xasprintf("docker://%s", s);
	free(s);
	t->repo = ferry_xstrdup(ref->path);
	t->repo_full = ferry_ref_name(ref);
	return t;
}

int ferry_tree_open_registry(const char *refstr, const ferry_registry_opts *opts, ferry_tree **out,
			     ferry_error *err)
{
	*out = NULL;
	ferry_ref ref;
	if (ferry_ref_parse(&ref, refstr, err) < 0)
		return -1;
	ferry_ref_default_tag(&ref);
	ferry_registry_opts def;
	ferry_registry_opts_init(&def);
	reg_tree *t = new_tree(&ref);
	free(t->base.display);
	t->base.display = ferry_xasprintf("docker://%s", refstr);
	if (opts)
		t->no_referrers = opts->no_referrers;
	int rc = -1;
	if (ferry_registry_open(ref.domain, opts ? opts : &def, &t->reg, err) == 0 && resolve(t, &ref, false, err) == 0)
		rc = 0;
	ferry_ref_free(&ref);
	if (rc < 0) {
		rt_free(&t->base);
		return -1;
	}
	*out = &t->base;
	return 0;
}

int ferry_tree_open_registry_on(ferry_registry *reg, const ferry_ref *ref, ferry_digest *digest, ferry_tree **out,
				ferry_error *err)
{
	*out = NULL;
	reg_tree *t = new_tree(ref);
	t->reg = reg;
	t->borrowed = true;
	if (resolve(t, ref, true, err) < 0) {
		rt_free(&t->base);
		return -1;
	}
	*digest = t->top;
	*out = &t->base;
	return 0;
}
