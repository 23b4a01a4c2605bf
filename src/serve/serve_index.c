/*
 * serve_index.c - what ferry serve answers from: the images of every
 * location, gathered once at start-up into repositories, tags, manifests and
 * blobs by digest, plus the referrers of each manifest.
 *
 * A legacy docker-archive image has no manifest: one is built for serving,
 * OCI, with the layers as they are in the archive (uncompressed tars under
 * the uncompressed layer media type, so their digest is their diff_id and
 * nothing is recompressed or copied).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "location.h"
#include "serve.h"
#include "strmap.h"
#include "util.h"
#include "volumes.h"

typedef struct serve_source {
	ferry_source *src;
	char *path;     /* the tar file, or the layout's index.json */
	struct stat st; /* its identity and size at start-up */
} serve_source;

typedef struct serve_tag {
	char *tag;
	const serve_manifest *m;
} serve_tag;

typedef struct serve_repo {
	char *name;
	serve_tag *tags;
	size_t n_tags, cap_tags;
} serve_repo;

struct serve_index {
	serve_source *sources;
	size_t n_sources;
	serve_repo **repos; /* sorted by name once built */
	size_t n_repos, cap_repos;
	ferry_strmap repo_by_name; /* -> serve_repo * */
	ferry_strmap manifests;    /* digest -> serve_manifest * */
	ferry_strmap blobs;        /* digest -> serve_blob * */
	ferry_strmap referrers;    /* subject digest -> json_t * array of descriptors */
	unsigned char **built;     /* manifests built for serving */
	size_t n_built, cap_built;
	const serve_opts *o;
};

/* ---- blobs and manifests ---- */

static void add_blob(serve_index *ix, size_t source, const ferry_digest *d, uint64_t size, const char *path)
{
	if (ferry_strmap_has(&ix->blobs, d->str))
		return; /* the first location holding it serves it */
	serve_blob *b = ferry_xcalloc(1, sizeof(*b));
	b->digest = *d;
	b->size = size;
	b->path = path;
	b->source = source;
	ferry_strmap_put(&ix->blobs, d->str, b);
}

/* Record m as a referrer of its subject, if it names one. */
static void add_referrer(serve_index *ix, const serve_manifest *m)
{
	json_t *doc;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_json_parse(m->bytes, m->len, "manifest", &doc, &err) < 0)
		return;
	const char *subject = ferry_json_str(json_object_get(doc, "subject"), "digest");
	ferry_digest sd;
	if (subject && ferry_digest_parse(&sd, subject, &err) == 0) {
		json_t *desc = json_pack("{s:s, s:s, s:I}", "mediaType", m->media_type, "digest", m->digest.str,
					 "size", (json_int_t)m->len);
		const char *at = ferry_json_str(doc, "artifactType");
		if (!at)
			at = ferry_json_str(json_object_get(doc, "config"), "mediaType");
		if (at)
			json_object_set_new(desc, "artifactType", json_string(at));
		json_t *ann = json_object_get(doc, "annotations");
		if (json_is_object(ann))
			json_object_set(desc, "annotations", ann);
		json_t *list = ferry_strmap_get(&ix->referrers, sd.str);
		if (!list) {
			list = json_array();
			ferry_strmap_put(&ix->referrers, sd.str, list);
		}
		json_array_append_new(list, desc);
	}
	json_decref(doc);
}

static const serve_manifest *add_manifest(serve_index *ix, size_t source, const unsigned char *bytes, size_t len,
					  const char *media_type, const ferry_digest *d)
{
	serve_manifest *m = ferry_strmap_get(&ix->manifests, d->str);
	if (m)
		return m;
	m = ferry_xcalloc(1, sizeof(*m));
	m->bytes = bytes;
	m->len = len;
	m->media_type = media_type;
	m->digest = *d;
	m->source = source;
	ferry_strmap_put(&ix->manifests, d->str, m);
	add_referrer(ix, m);
	return m;
}

/* A legacy layer's blob: its digest is its diff_id when it is an uncompressed tar, else its hash. */
static int legacy_layer(ferry_tree *tree, const ferry_blob *b, ferry_descriptor *out, ferry_error *err)
{
	int fd;
	uint64_t off, size;
	if (ferry_tree_locate(tree, b->path, &fd, &off, &size, err) < 0)
		return -1;
	unsigned char magic[4] = {0};
	ssize_t got = pread(fd, magic, sizeof(magic), (off_t)off);
	out->size = size;
	int rc = 0;
	if (got == 4 && magic[0] == 0x1f && magic[1] == 0x8b)
		out->media_type = ferry_xstrdup(FERRY_MT_OCI_LAYER_GZIP);
	else if (got == 4 && !memcmp(magic, "\x28\xb5\x2f\xfd", 4))
		out->media_type = ferry_xstrdup(FERRY_MT_OCI_LAYER_ZSTD);
	if (!out->media_type) {
		out->media_type = ferry_xstrdup(FERRY_MT_OCI_LAYER);
		out->digest = b->diff_id; /* an uncompressed layer is its diff_id's bytes */
	} else {
		/* Compressed in a legacy archive (rare): its digest is only known by hashing it. */
		ferry_istream *in = ferry_istream_fd_range(fd, off, size, false);
		ferry_hasher *h = ferry_hasher_new(FERRY_ALG_SHA256);
		unsigned char *buf = ferry_xmalloc(FERRY_IO_CHUNK);
		ssize_t n;
		while ((n = ferry_read(in, buf, FERRY_IO_CHUNK, err)) > 0)
			ferry_hasher_update(h, buf, (size_t)n);
		rc = n < 0 ? -1 : 0;
		ferry_hasher_final(h, &out->digest);
		ferry_hasher_free(h);
		free(buf);
		ferry_istream_close(in);
	}
	close(fd);
	if (rc < 0)
		ferry_error_prefix(err, "layer %s", b->path);
	return rc;
}

/* Build an OCI manifest for a legacy docker-archive image (whose blobs are then served as they are). */
static int build_legacy(serve_index *ix, size_t source, ferry_image *img, const serve_manifest **out,
			ferry_error *err)
{
	ferry_tree *tree = ix->sources[source].src->tree;
	ferry_manifest m = {0};
	m.media_type = FERRY_MT_OCI_MANIFEST;
	m.config = img->config.desc;
	m.n_layers = img->n_layers;
	m.layers = ferry_xcalloc(img->n_layers ? img->n_layers : 1, sizeof(*m.layers));
	int rc = 0;
	for (size_t i = 0; i < img->n_layers && rc == 0; i++) {
		rc = legacy_layer(tree, &img->layers[i], &m.layers[i], err);
		if (rc == 0)
			add_blob(ix, source, &m.layers[i].digest, m.layers[i].size, img->layers[i].path);
	}
	char *bytes = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = ferry_manifest_serialize(&m, &bytes, &len, err);
	for (size_t i = 0; i < img->n_layers; i++)
		ferry_descriptor_free(&m.layers[i]);
	free(m.layers);
	if (rc < 0)
		return -1;
	*FERRY_PUSH(ix->built, ix->n_built, ix->cap_built) = (unsigned char *)bytes;
	ferry_digest d;
	ferry_digest_buffer(FERRY_ALG_SHA256, bytes, len, &d);
	add_blob(ix, source, &img->config.desc.digest, img->config_len, img->config.path);
	*out = add_manifest(ix, source, (unsigned char *)bytes, len, FERRY_MT_OCI_MANIFEST, &d);
	return 0;
}

/* Index an image (or an index and everything under it); *out is its manifest. */
static int add_image(serve_index *ix, size_t source, ferry_image *img, const serve_manifest **out,
		     ferry_error *err)
{
	if (!img->bytes)
		return build_legacy(ix, source, img, out, err);
	for (size_t i = 0; i < img->n_children; i++) {
		const serve_manifest *child;
		if (add_image(ix, source, &img->children[i], &child, err) < 0)
			return -1;
	}
	if (!img->is_index) {
		add_blob(ix, source, &img->config.desc.digest, img->config.desc.size, img->config.path);
		for (size_t i = 0; i < img->n_layers; i++) {
			const ferry_blob *b = &img->layers[i];
			if (!ferry_digest_is_set(&b->desc.digest))
				return ferry_error_set(err, FERRY_E_FORMAT, "layer %s has no digest", b->path);
			add_blob(ix, source, &b->desc.digest, b->desc.size, b->path);
		}
	}
	const char *mt = img->desc.media_type ? img->desc.media_type
			 : img->is_index       ? img->index.media_type
					       : img->manifest.media_type;
	*out = add_manifest(ix, source, img->bytes, img->len, mt ? mt : FERRY_MT_OCI_MANIFEST, &img->desc.digest);
	return 0;
}

/* ---- names ---- */

static serve_repo *repo_get(serve_index *ix, const char *name)
{
	serve_repo *r = ferry_strmap_get(&ix->repo_by_name, name);
	if (r)
		return r;
	r = ferry_xcalloc(1, sizeof(*r));
	r->name = ferry_xstrdup(name);
	ferry_strmap_put(&ix->repo_by_name, name, r);
	*FERRY_PUSH(ix->repos, ix->n_repos, ix->cap_repos) = r;
	return r;
}

static int add_tag(serve_index *ix, const char *repo, const char *tag, const serve_manifest *m, ferry_error *err)
{
	serve_repo *r = repo_get(ix, repo);
	for (size_t i = 0; tag && i < r->n_tags; i++) {
		const serve_manifest *old = r->tags[i].m;
		if (strcmp(r->tags[i].tag, tag) != 0)
			continue;
		if (ferry_digest_eq(&old->digest, &m->digest))
			return 0; /* the same image twice */
		return ferry_error_set(err, FERRY_E_USAGE, "%s:%s is %s in %s but %s in %s", repo, tag,
				       old->digest.str, ix->sources[old->source].src->display, m->digest.str,
				       ix->sources[m->source].src->display);
	}
	if (tag) {
		serve_tag *t = FERRY_PUSH(r->tags, r->n_tags, r->cap_tags);
		t->tag = ferry_xstrdup(tag);
		t->m = m;
	}
	return 0;
}

/* The repository and tag a name is served under, --registry/--prefix/--repository applied. */
static int name_to_ref(const serve_index *ix, const ferry_name *n, ferry_ref *ref, bool *skip, ferry_error *err)
{
	*skip = false;
	if (n->has_ref) {
		ferry_ref_copy(ref, &n->ref);
	} else if (ix->o->repository) {
		if (ferry_ref_parse(ref, ix->o->repository, err) < 0)
			return -1;
		free(ref->tag);
		ref->tag = ferry_xstrdup(n->bare_tag);
	} else {
		*skip = true;
		return 0;
	}
	if ((ix->o->registry && ferry_ref_set_domain(ref, ix->o->registry, err) < 0) ||
	    (ix->o->prefix && ferry_ref_set_prefix(ref, ix->o->prefix, err) < 0)) {
		ferry_ref_free(ref);
		return -1;
	}
	return 0;
}

static int add_names(serve_index *ix, const ferry_entry *e, const serve_manifest *m, ferry_error *err)
{
	for (size_t i = 0; i < e->n_names; i++) {
		ferry_ref ref = {0};
		bool skip;
		if (name_to_ref(ix, &e->names[i], &ref, &skip, err) < 0)
			return -1;
		if (skip) {
			fprintf(stderr, "ferry: warning: %s: image %s has only the bare tag \"%s\": served by digest "
				"only (give --repository NAME)\n",
				ix->sources[m->source].src->display, m->digest.str, e->names[i].bare_tag);
			continue;
		}
		int rc = add_tag(ix, ref.path, ref.tag, m, err);
		ferry_ref_free(&ref);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- building ---- */

/*
 * The file whose change means an archive changed: the archive, or for a
 * volume set its NAME.sha256 (a new set renames a new one into place), else
 * its first volume.
 */
static char *set_witness(const char *path)
{
	ferry_volset *vs = NULL;
	ferry_error ignored = FERRY_ERROR_INIT;
	if (ferry_volset_open(path, &vs, &ignored) < 0 || !vs)
		return ferry_xstrdup(path);
	char *sum = ferry_xasprintf("%s.sha256", ferry_volset_base(vs));
	if (access(sum, F_OK) != 0) {
		free(sum);
		sum = ferry_xstrdup(ferry_volset_path(vs, 0));
	}
	ferry_volset_free(vs);
	return sum;
}

static int open_source(serve_index *ix, const char *location, ferry_error *err)
{
	ferry_location loc;
	if (ferry_location_parse_source(location, &loc, err) < 0)
		return -1;
	int rc = -1;
	if (loc.fmt == FERRY_FMT_REGISTRY || strcmp(loc.path, "-") == 0) {
		ferry_error_set(err, FERRY_E_USAGE, "%s: only archives and layouts on disk can be served", location);
		goto out;
	}
	serve_source *s = &ix->sources[ix->n_sources];
	memset(s, 0, sizeof(*s));
	if (ferry_source_open_at(&loc, location, NULL, NULL, &s->src, err) < 0)
		goto out;
	ix->n_sources++;
	s->path = s->src->format->is_tar ? set_witness(loc.path) : ferry_xasprintf("%s/index.json", loc.path);
	if (stat(s->path, &s->st) < 0) {
		ferry_error_errno(err, errno, "%s", s->path);
		goto out;
	}
	if (s->src->tree->one_pass) {
		ferry_error_set(err, FERRY_E_USAGE,
				"%s is compressed as a whole: blobs can only be served from an uncompressed tar "
				"(decompress it first, or convert it to an OCI layout)",
				location);
		goto out;
	}
	rc = 0;
out:
	ferry_location_free(&loc);
	return rc;
}

static int cmp_repo(const void *a, const void *b)
{
	return strcmp((*(serve_repo *const *)a)->name, (*(serve_repo *const *)b)->name);
}

static int cmp_tag(const void *a, const void *b)
{
	return strcmp(((const serve_tag *)a)->tag, ((const serve_tag *)b)->tag);
}

int serve_index_build(const char *const *locations, size_t n, const serve_opts *o, serve_index **out,
		      ferry_error *err)
{
	serve_index *ix = ferry_xcalloc(1, sizeof(*ix));
	ix->o = o;
	ix->sources = ferry_xcalloc(n ? n : 1, sizeof(*ix->sources));
	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		if (open_source(ix, locations[i], err) < 0)
			goto fail;
		ferry_source *src = ix->sources[i].src;
		for (size_t k = 0; k < src->n_entries; k++) {
			const serve_manifest *m;
			if (add_image(ix, i, &src->entries[k].img, &m, err) < 0 ||
			    add_names(ix, &src->entries[k], m, err) < 0) {
				ferry_error_prefix_once(err, src->display);
				goto fail;
			}
		}
	}
	/* qsort must not see the NULL of an empty list */
	if (ix->n_repos > 1)
		qsort(ix->repos, ix->n_repos, sizeof(*ix->repos), cmp_repo);
	for (size_t i = 0; i < ix->n_repos; i++)
		if (ix->repos[i]->n_tags > 1)
			qsort(ix->repos[i]->tags, ix->repos[i]->n_tags, sizeof(serve_tag), cmp_tag);
	*out = ix;
	return 0;
fail:
	serve_index_free(ix);
	return -1;
}

static void free_json(void *v)
{
	json_decref(v);
}

void serve_index_free(serve_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->n_repos; i++) {
		for (size_t k = 0; k < ix->repos[i]->n_tags; k++)
			free(ix->repos[i]->tags[k].tag);
		free(ix->repos[i]->tags);
		free(ix->repos[i]->name);
		free(ix->repos[i]);
	}
	free(ix->repos);
	ferry_strmap_free(&ix->repo_by_name); /* the repositories are freed above */
	ferry_strmap_free_with(&ix->manifests, free);
	ferry_strmap_free_with(&ix->blobs, free);
	ferry_strmap_free_with(&ix->referrers, free_json);
	for (size_t i = 0; i < ix->n_built; i++)
		free(ix->built[i]);
	free(ix->built);
	for (size_t i = 0; i < ix->n_sources; i++) {
		ferry_source_free(ix->sources[i].src);
		free(ix->sources[i].path);
	}
	free(ix->sources);
	free(ix);
}

/* ---- lookups ---- */

json_t *serve_index_names(const serve_index *ix)
{
	json_t *a = json_array();
	for (size_t i = 0; i < ix->n_repos; i++) {
		const serve_repo *r = ix->repos[i];
		for (size_t k = 0; k < r->n_tags; k++) {
			char *s = ferry_xasprintf("%s:%s %s", r->name, r->tags[k].tag, r->tags[k].m->digest.str);
			json_array_append_new(a, json_string(s));
			free(s);
		}
	}
	return a;
}

bool serve_has_repo(const serve_index *ix, const char *repo)
{
	return ferry_strmap_has(&ix->repo_by_name, repo);
}

const serve_manifest *serve_find_manifest(const serve_index *ix, const char *repo, const char *reference)
{
	const serve_repo *r = ferry_strmap_get(&ix->repo_by_name, repo);
	if (!r)
		return NULL;
	if (strchr(reference, ':'))
		return ferry_strmap_get(&ix->manifests, reference);
	for (size_t i = 0; i < r->n_tags; i++) {
		if (strcmp(r->tags[i].tag, reference) == 0)
			return r->tags[i].m;
	}
	return NULL;
}

const serve_blob *serve_find_blob(const serve_index *ix, const char *digest)
{
	return ferry_strmap_get(&ix->blobs, digest);
}

json_t *serve_page(const serve_index *ix, const char *repo, const char *last, size_t n, bool *more)
{
	const serve_repo *r = repo ? ferry_strmap_get(&ix->repo_by_name, repo) : NULL;
	size_t total = r ? r->n_tags : ix->n_repos;
	json_t *a = json_array();
	*more = false;
	for (size_t i = 0; i < total; i++) {
		const char *name = r ? r->tags[i].tag : ix->repos[i]->name;
		if (last && strcmp(name, last) <= 0)
			continue;
		if (json_array_size(a) >= n) {
			*more = true;
			break;
		}
		json_array_append_new(a, json_string(name));
	}
	return a;
}

json_t *serve_referrers(const serve_index *ix, const char *digest, const char *artifact_type)
{
	json_t *list = ferry_strmap_get(&ix->referrers, digest);
	json_t *manifests = json_array();
	size_t i;
	json_t *d;
	json_array_foreach(list, i, d)
	{
		const char *at = ferry_json_str(d, "artifactType");
		if (!artifact_type || (at && strcmp(at, artifact_type) == 0))
			json_array_append(manifests, d);
	}
	return json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", FERRY_MT_OCI_INDEX, "manifests",
			 manifests);
}

/* ---- stale files ---- */

int serve_source_check(serve_index *ix, size_t source, ferry_error *err)
{
	const serve_source *s = &ix->sources[source];
	struct stat now;
	if (stat(s->path, &now) < 0)
		return ferry_error_errno(err, errno, "%s has gone since ferry serve started", s->path);
	if (now.st_dev != s->st.st_dev || now.st_ino != s->st.st_ino || now.st_size != s->st.st_size ||
	    now.st_mtim.tv_sec != s->st.st_mtim.tv_sec || now.st_mtim.tv_nsec != s->st.st_mtim.tv_nsec)
		return ferry_error_set(err, FERRY_E_INTEGRITY,
				       "%s changed since ferry serve started: not serving stale bytes "
				       "(restart ferry serve)",
				       s->path);
	return 0;
}

int serve_blob_open(serve_index *ix, const serve_blob *b, int *fd, uint64_t *offset, ferry_error *err)
{
	*fd = -1;
	if (serve_source_check(ix, b->source, err) < 0)
		return -1;
	uint64_t size;
	if (ferry_tree_locate(ix->sources[b->source].src->tree, b->path, fd, offset, &size, err) < 0)
		return -1;
	/* A layout's blob is its own file: it must still be the size the manifest says. */
	if (size != b->size) {
		close(*fd);
		*fd = -1;
		return ferry_error_set(err, FERRY_E_INTEGRITY,
				       "%s: %s is %llu bytes, not %llu: not serving stale bytes (restart ferry serve)",
				       ix->sources[b->source].src->display, b->path, (unsigned long long)size,
				       (unsigned long long)b->size);
	}
	return 0;
}

int serve_blob_stream(serve_index *ix, const serve_blob *b, ferry_istream **in, ferry_error *err)
{
	*in = NULL;
	if (serve_source_check(ix, b->source, err) < 0)
		return -1;
	ferry_tree *t = ix->sources[b->source].src->tree;
	uint64_t size;
	if (t->ops->open(t, b->path, in, &size, err) < 0)
		return -1;
	if (size != b->size) {
		ferry_istream_close(*in);
		*in = NULL;
		return ferry_error_set(err, FERRY_E_INTEGRITY, "%s: %s is %llu bytes, not %llu",
				       ix->sources[b->source].src->display, b->path, (unsigned long long)size,
				       (unsigned long long)b->size);
	}
	return 0;
}
