/*
 * tree_registry.c - an image in a registry, seen as an OCI layout.
 *
 * The tree answers for "oci-layout", an "index.json" naming the one
 * reference that was asked for, and "blobs/<alg>/<hex>" (manifests and
 * blobs fetched on demand, layers streamed), so the OCI reader, the engine
 * and verify work on a registry exactly as on a directory.  Pulling is then
 * just converting from this tree.
 */
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
