/*
 * layers.c - the layer list: one job per distinct layer, what the destination has already, and running the rest.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

const char *engine_layer_mt(ferry_comp c, bool docker)
{
	switch (c) {
	case FERRY_COMP_GZIP:
		return docker ? FERRY_MT_DOCKER_LAYER_GZIP : FERRY_MT_OCI_LAYER_GZIP;
	case FERRY_COMP_ZSTD:
		return FERRY_MT_OCI_LAYER_ZSTD;
	default:
		return docker ? FERRY_MT_DOCKER_LAYER : FERRY_MT_OCI_LAYER;
	}
}

ferry_comp engine_comp_of_mt(const char *mt)
{
	if (!mt)
		return FERRY_COMP_NONE;
	if (ferry_str_endswith(mt, "gzip"))
		return FERRY_COMP_GZIP;
	if (ferry_str_endswith(mt, "zstd"))
		return FERRY_COMP_ZSTD;
	return FERRY_COMP_NONE;
}

static const char *canonical(engine *E, const char *path)
{
	ferry_tree *t = E->src->tree;
	return t->ops->canonical ? t->ops->canonical(t, path) : path;
}

void engine_add_jobs(engine *E, ferry_image *img, size_t owner)
{
	if (img->is_index) {
		for (size_t i = 0; i < img->n_children; i++)
			engine_add_jobs(E, &img->children[i], owner);
		return;
	}
	for (size_t i = 0; i < img->n_layers; i++) {
		ferry_blob *b = &img->layers[i];
		/* A symlinked copy of a layer (legacy archives) is the same job. */
		const char *key = canonical(E, b->path);
		uintptr_t have = (uintptr_t)ferry_strmap_get(&E->job_by_path, key);
		if (have) {
			ferry_strmap_put(&E->job_by_path, b->path, (void *)have);
			continue;
		}
		layer_job *j = FERRY_PUSH(E->jobs, E->n_jobs, E->cap_jobs);
		memset(j, 0, sizeof(*j));
		j->blob = b;
		j->owner = owner;
		ferry_strmap_put(&E->job_by_path, key, (void *)(uintptr_t)E->n_jobs);
		ferry_strmap_put(&E->job_by_path, b->path, (void *)(uintptr_t)E->n_jobs);
	}
}

layer_job *engine_job_of(engine *E, const ferry_blob *b)
{
	uintptr_t v = (uintptr_t)ferry_strmap_get(&E->job_by_path, b->path);
	return v ? &E->jobs[v - 1] : NULL;
}

/* Tell the store which image the next blobs are for (a registry uploads them into its repository). */
void engine_set_owner(engine *E, size_t w)
{
	if (E->store->ops->set_owner)
		E->store->ops->set_owner(E->store, E->works[w].names, E->works[w].n_names);
}

int engine_run_jobs(engine *E, ferry_error *err)
{
	ferry_tree *tree = E->src->tree;
	const char **paths = ferry_xcalloc(E->n_jobs + 1, sizeof(char *));
	size_t *idx = ferry_xcalloc(E->n_jobs + 1, sizeof(size_t));
	int rc = 0;
	/* A layer kept as it is and already in the destination is not read at all. */
	for (size_t i = 0; i < E->n_jobs; i++) {
		layer_job *j = &E->jobs[i];
		const ferry_descriptor *d = &j->blob->desc;
		ferry_comp said = engine_comp_of_mt(d->media_type);
		bool kept = E->keep || (E->plain_only && said != FERRY_COMP_NONE);
		engine_set_owner(E, j->owner);
		if (kept && ferry_digest_is_set(&d->digest) && d->media_type &&
		    E->store->ops->has_blob(E->store, &d->digest)) {
			j->done = true;
			j->comp = said;
			ferry_descriptor_copy(&j->out, d);
			E->st->blobs_existing++;
			engine_emit(E, FERRY_EV_BLOB_EXISTS, NULL, &d->digest, 0, d->size, j->blob->path);
			continue;
		}
		/*
		 * A layer to be compressed that an earlier run already compressed
		 * (compression is deterministic, so the diff_id fixes the result):
		 * if the destination has that blob, neither read nor compress it.
		 */
		ferry_digest cd;
		uint64_t csize;
		if (!kept && E->target != FERRY_COMP_NONE && said == FERRY_COMP_NONE && E->cache &&
		    ferry_digest_is_set(&j->blob->diff_id) &&
		    ferry_blobcache_compressed(E->cache, &j->blob->diff_id, E->target, E->level, &cd, &csize) &&
		    E->store->ops->has_blob(E->store, &cd)) {
			j->done = true;
			j->transformed = true;
			j->comp = E->target;
			ferry_descriptor_copy(&j->out, d);
			j->out.digest = cd;
			j->out.size = csize;
			free(j->out.media_type);
			j->out.media_type = ferry_xstrdup(engine_layer_mt(E->target, E->o->docker_manifests));
			E->st->blobs_existing++;
			engine_emit(E, FERRY_EV_BLOB_EXISTS, NULL, &cd, 0, csize, j->blob->path);
		}
	}
	size_t n = 0;
	for (size_t i = 0; i < E->n_jobs; i++) {
		if (!E->jobs[i].done) {
			paths[n] = E->jobs[i].blob->path;
			idx[n++] = i;
		}
	}
	tree->ops->want(tree, paths, n);
	if (engine_lanes_pay(E, idx, n)) {
		engine_set_owner(E, E->jobs[idx[0]].owner);
		rc = engine_run_lanes(E, paths, idx, n, err);
		n = 0;
	}
	lane L = {.buf = ferry_xmalloc(FERRY_IO_CHUNK)};
	while (n > 0 && rc == 0) {
		size_t which;
		ferry_istream *in;
		uint64_t size;
		if (tree->ops->open_any(tree, paths, n, &which, &in, &size, err) < 0) {
			rc = -1;
			break;
		}
		layer_job *j = &E->jobs[idx[which]];
		engine_set_owner(E, j->owner);
		rc = engine_run_job(E, &L, j, in, size, err);
		if (rc < 0) {
			/* Writing errors name the destination already; the rest are about the source. */
			if (err && err->code != FERRY_E_FAILED)
				ferry_error_prefix(err, "%s", E->src->display);
			break;
		}
		paths[which] = paths[n - 1];
		idx[which] = idx[n - 1];
		n--;
	}
	free(L.buf);
	free(paths);
	free(idx);
	return rc;
}
