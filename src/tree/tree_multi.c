/*
 * tree_multi.c - several OCI-layout trees (the images of a list, each a
 * registry tree) seen as one layout: an index.json listing every image of
 * every tree, and blobs/<alg>/<hex> answered by a tree that holds it.
 *
 * A blob is asked of the tree whose manifest named it first, so a layer
 * that ten images share is one path, read once by the engine (which
 * deduplicates by path) from one repository.  Manifests passing through are
 * read to learn which tree names their children; that is all the routing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "strmap.h"
#include "tree.h"
#include "tree_multi.h"
#include "util.h"

typedef struct mdoc {
	unsigned char *bytes;
	size_t len;
} mdoc;

typedef struct multi_tree {
	ferry_tree base;
	ferry_tree **subs; /* owned */
	size_t n_subs;
	char *index_json;
	size_t index_len;
	ferry_strmap route; /* digest -> (void *)(tree index + 1): the first tree that named it */
	ferry_strmap is_manifest; /* digest -> 1: a manifest or index (read to learn its children) */
	ferry_strmap docs; /* digest -> mdoc*: manifests read so far */
} multi_tree;

#define IDX(p) ((size_t)(uintptr_t)(p) - 1)
#define VAL(i) ((void *)(uintptr_t)((i) + 1))

static void learn(multi_tree *t, const char *digest, size_t sub, bool manifest)
{
	if (!ferry_strmap_has(&t->route, digest))
		ferry_strmap_put(&t->route, digest, VAL(sub));
	if (manifest)
		ferry_strmap_put(&t->is_manifest, digest, VAL(0));
}

static void learn_array(multi_tree *t, json_t *arr, size_t sub, bool manifests)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		const char *d = json_string_value(json_object_get(v, "digest"));
		if (d)
			learn(t, d, sub, manifests);
	}
}

/* "blobs/sha256/<hex>" -> "sha256:<hex>" in buf; false for other paths. */
static bool path_digest(const char *path, char *buf, size_t cap)
{
	if (!ferry_str_startswith(path, "blobs/"))
		return false;
	const char *alg = path + 6, *slash = strchr(alg, '/');
	if (!slash || strchr(slash + 1, '/') || (size_t)snprintf(buf, cap, "%.*s:%s", (int)(slash - alg), alg, slash + 1) >= cap)
		return false;
	return true;
}

/* A manifest of tree sub: read whole, kept, its children learnt. */
static int open_manifest(multi_tree *t, size_t sub, const char *path, const char *digest, ferry_istream **out,
			 uint64_t *size, ferry_error *err)
{
	mdoc *m = ferry_strmap_get(&t->docs, digest);
	if (!m) {
		unsigned char *buf;
		size_t len;
		if (ferry_tree_read_all(t->subs[sub], path, FERRY_JSON_MAX, &buf, &len, err) < 0)
			return -1;
		m = ferry_xcalloc(1, sizeof(*m));
		m->bytes = buf;
		m->len = len;
		ferry_strmap_put(&t->docs, digest, m);
		json_t *j = json_loadb((const char *)buf, len, 0, NULL);
		if (j) { /* not JSON: the reader says so when it parses it */
			learn_array(t, json_object_get(j, "manifests"), sub, true);
			learn_array(t, json_object_get(j, "layers"), sub, false);
			const char *cfg = json_string_value(json_object_get(json_object_get(j, "config"), "digest"));
			if (cfg)
				learn(t, cfg, sub, false);
			json_decref(j);
		}
	}
	*size = m->len;
	*out = ferry_istream_mem(m->bytes, m->len);
	return 0;
}

/* The tree to ask for path: *sub, or false when nothing routes it (then each is tried). */
static bool route(multi_tree *t, const char *path, char *digest, size_t cap, size_t *sub)
{
	if (!path_digest(path, digest, cap))
		return false;
	void *v = ferry_strmap_get(&t->route, digest);
	if (!v)
		return false;
	*sub = IDX(v);
	return true;
}

static int mt_open(ferry_tree *tr, const char *path, ferry_istream **out, uint64_t *size, ferry_error *err)
{
	multi_tree *t = (multi_tree *)tr;
	if (strcmp(path, "index.json") == 0) {
		*size = t->index_len;
		*out = ferry_istream_mem(t->index_json, t->index_len);
		return 0;
	}
	char d[FERRY_DIGEST_STRMAX + 16];
	size_t sub;
	if (route(t, path, d, sizeof(d), &sub)) {
		if (ferry_strmap_has(&t->is_manifest, d))
			return open_manifest(t, sub, path, d, out, size, err);
		return t->subs[sub]->ops->open(t->subs[sub], path, out, size, err);
	}
	for (size_t i = 0; i < t->n_subs; i++) {
		ferry_error e = FERRY_ERROR_INIT;
		if (t->subs[i]->ops->open(t->subs[i], path, out, size, &e) == 0)
			return 0;
		if (e.code != FERRY_E_NOTFOUND || i + 1 == t->n_subs) {
			*err = e;
			return -1;
		}
	}
	return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no %s", tr->display, path);
}

static int mt_stat(ferry_tree *tr, const char *path, bool read_ahead, bool *exists, uint64_t *size,
		   ferry_error *err)
{
	multi_tree *t = (multi_tree *)tr;
	if (strcmp(path, "index.json") == 0) {
		*exists = true;
		*size = t->index_len;
		return 0;
	}
	char d[FERRY_DIGEST_STRMAX + 16];
	size_t sub;
	if (route(t, path, d, sizeof(d), &sub)) {
		mdoc *m = ferry_strmap_get(&t->docs, d);
		if (m) {
			*exists = true;
			*size = m->len;
			return 0;
		}
		return t->subs[sub]->ops->stat(t->subs[sub], path, read_ahead, exists, size, err);
	}
	*exists = false;
	for (size_t i = 0; i < t->n_subs && !*exists; i++) {
		if (t->subs[i]->ops->stat(t->subs[i], path, read_ahead, exists, size, err) < 0)
			return -1;
	}
	return 0;
}

static int mt_open_any(ferry_tree *tr, const char *const *paths, size_t n, size_t *which, ferry_istream **out,
		       uint64_t *size, ferry_error *err)
{
	if (n == 0)
		return ferry_error_set(err, FERRY_E_FAILED, "internal: open_any with no paths");
	*which = 0;
	return mt_open(tr, paths[0], out, size, err);
}

static void mt_want(ferry_tree *tr, const char *const *paths, size_t n)
{
	(void)tr, (void)paths, (void)n;
}

static int mt_finish(ferry_tree *tr, ferry_error *err)
{
	multi_tree *t = (multi_tree *)tr;
	for (size_t i = 0; i < t->n_subs; i++) {
		if (t->subs[i]->ops->finish(t->subs[i], err) < 0)
			return -1;
	}
	return 0;
}

static void mdoc_free(void *p)
{
	mdoc *m = p;
	if (m)
		free(m->bytes);
	free(m);
}

static void mt_free(ferry_tree *tr)
{
	multi_tree *t = (multi_tree *)tr;
	for (size_t i = 0; i < t->n_subs; i++)
		ferry_tree_free(t->subs[i]);
	free(t->subs);
	free(t->index_json);
	ferry_strmap_free(&t->route);
	ferry_strmap_free(&t->is_manifest);
	ferry_strmap_free_with(&t->docs, mdoc_free);
	free(tr->display);
	free(t);
}

static void mt_where(ferry_tree *tr, const char *path, char *buf, size_t len)
{
	multi_tree *t = (multi_tree *)tr;
	char d[FERRY_DIGEST_STRMAX + 16];
	size_t sub;
	if (route(t, path, d, sizeof(d), &sub)) {
		ferry_tree_where(t->subs[sub], path, buf, len);
		return;
	}
	for (size_t i = 0; i < t->n_subs && !*buf; i++)
		ferry_tree_where(t->subs[i], path, buf, len);
}

static const ferry_tree_ops multi_ops = {
	.open = mt_open,
	.stat = mt_stat,
	.open_any = mt_open_any,
	.want = mt_want,
	.finish = mt_finish,
	.free = mt_free,
	.where = mt_where,
};

int ferry_tree_open_multi(ferry_tree **subs, size_t n, const char *display, ferry_tree **out, ferry_error *err)
{
	*out = NULL;
	multi_tree *t = ferry_xcalloc(1, sizeof(*t));
	t->base.ops = &multi_ops;
	t->base.display = ferry_xstrdup(display);
	t->subs = subs;
	t->n_subs = n;
	json_t *all = json_array();
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char *buf;
		size_t len;
		if (ferry_tree_read_all(subs[i], "index.json", FERRY_JSON_MAX, &buf, &len, err) < 0) {
			rc = -1;
			break;
		}
		json_t *ix = json_loadb((const char *)buf, len, 0, NULL);
		free(buf);
		json_t *ms = json_object_get(ix, "manifests");
		if (!json_is_array(ms))
			rc = ferry_error_set(err, FERRY_E_FORMAT, "%s: index.json lists no manifests", subs[i]->display);
		else {
			learn_array(t, ms, i, true);
			json_array_extend(all, ms);
		}
		json_decref(ix);
	}
	json_t *ix = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", FERRY_MT_OCI_INDEX, "manifests", all);
	t->index_json = ferry_json_dump(ix, &t->index_len);
	json_decref(ix);
	if (rc < 0) {
		mt_free(&t->base);
		return -1;
	}
	*out = &t->base;
	return 0;
}
