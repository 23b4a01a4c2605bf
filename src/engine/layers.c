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

ferry_comp engine_layer_target(const engine *E, const ferry_blob *b, ferry_comp found)
{
	/* An artifact's blob (a signature payload, an SBOM) is not a layer: its bytes are never changed. */
	if (b && b->desc.media_type && !ferry_media_type_is_layer(b->desc.media_type))
		return found;
	if (E->o->compress_set)
		return E->o->compress;
	switch (E->dfmt->layers) {
	case FERRY_LAYERS_COMPRESSED:
		return found == FERRY_COMP_NONE ? FERRY_COMP_GZIP : found;
	case FERRY_LAYERS_LOADABLE:
		return found == FERRY_COMP_ZSTD && !E->o->keep_zstd ? FERRY_COMP_NONE : found;
	case FERRY_LAYERS_KEEP:
		break;
	}
	return found;
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
		const char *key = ferry_tree_canonical(E->src->tree, b->path);
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
	ferry_store_set_owner(E->store, E->works[w].names, E->works[w].n_names);
}

void engine_job_fill(engine *E, layer_job *j, bool transformed, ferry_comp comp, const ferry_digest *d,
		     uint64_t size)
{
	j->done = true;
	j->transformed = transformed;
	j->comp = comp;
	ferry_descriptor_copy(&j->out, &j->blob->desc);
	j->out.digest = *d;
	j->out.size = size;
	if (transformed || !j->out.media_type) {
		free(j->out.media_type);
		j->out.media_type = ferry_xstrdup(engine_layer_mt(comp, E->o->docker_manifests));
	}
}

/*
 * What job j would write, when that can be known without reading it: the
 * layer itself when it is kept as it is, or (compression is deterministic,
 * so the diff_id fixes the result) what an earlier run compressed it to.
 */
static bool known_output(engine *E, const layer_job *j, bool *transformed, ferry_comp *comp, ferry_digest *d,
			 uint64_t *size)
{
	const ferry_descriptor *desc = &j->blob->desc;
	ferry_comp said = engine_comp_of_mt(desc->media_type), want = engine_layer_target(E, j->blob, said);
	bool kept = want == said;
	*transformed = !kept;
	if (kept && ferry_digest_is_set(&desc->digest) && desc->media_type) {
		*comp = said;
		*d = desc->digest;
		*size = desc->size;
		return true;
	}
	*comp = want;
	return !kept && want != FERRY_COMP_NONE && said == FERRY_COMP_NONE && E->cache &&
	       ferry_digest_is_set(&j->blob->diff_id) &&
	       ferry_blobcache_compressed(E->cache, &j->blob->diff_id, want, E->level, d, size);
}

/* The layers whose output the destination has already are done without being read at all. */
static int skip_present(engine *E, ferry_error *err)
{
	for (size_t i = 0; i < E->n_jobs; i++) {
		layer_job *j = &E->jobs[i];
		bool transformed, have = false;
		ferry_comp comp;
		ferry_digest d;
		uint64_t size;
		if (j->done) /* left out of a delta, or found at the destination for one */
			continue;
		engine_set_owner(E, j->owner);
		if (!known_output(E, j, &transformed, &comp, &d, &size))
			continue;
		if (ferry_store_has_blob(E->store, &d, &have, err) < 0)
			return -1;
		if (!have)
			continue;
		engine_job_fill(E, j, transformed, comp, &d, size);
		j->found = engine_comp_of_mt(j->blob->desc.media_type); /* either way, what its media type says */
		engine_account_blob(E, true, &d, size, 0, 0, j->blob->path);
	}
	return 0;
}

/* Run the listed jobs one after another, on this thread. */
static int run_one_lane(engine *E, const char **paths, size_t *idx, size_t n, ferry_error *err)
{
	ferry_tree *tree = E->src->tree;
	lane L = {.buf = ferry_xmalloc(FERRY_IO_CHUNK)};
	int rc = 0;
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
		fail_origin origin;
		rc = engine_run_job(E, &L, j, in, size, &origin, err);
		if (rc < 0) {
			if (origin == FROM_SOURCE)
				engine_source_failed(E, j, err);
			break;
		}
		engine_job_taken(paths, idx, n, which);
		n--;
	}
	free(L.buf);
	return rc;
}

/*
 * Job j failed for what the source gave: name the source, and for bytes
 * that do not match their digest, where they lie (a volume set: which
 * volumes to copy again).
 */
void engine_source_failed(engine *E, const layer_job *j, ferry_error *err)
{
	char where[FERRY_PATH_MAX + 64];
	ferry_tree_where(E->src->tree, j->blob->path, where, sizeof(where));
	if (err->code == FERRY_E_INTEGRITY && *where) {
		char msg[FERRY_ERROR_MSG_MAX];
		memcpy(msg, err->msg, sizeof(msg));
		ferry_error_set(err, FERRY_E_INTEGRITY, "%s (%s; ferry verify names every bad volume)", msg, where);
	}
	ferry_error_prefix(err, "%s", E->src->display);
}

/*
 * Drop the job at which from the list of n, keeping the others in order:
 * a source that can be read in any order is read in the jobs' order, image
 * by image, and a tar gets its blobs in that order.
 */
void engine_job_taken(const char **paths, size_t *idx, size_t n, size_t which)
{
	memmove(&paths[which], &paths[which + 1], (n - which - 1) * sizeof(*paths));
	memmove(&idx[which], &idx[which + 1], (n - which - 1) * sizeof(*idx));
}

int engine_prepare_jobs(engine *E, ferry_error *err)
{
	engine_leave_out(E);
	if (engine_check_expected(E, err) < 0)
		return -1;
	return skip_present(E, err);
}

int engine_run_jobs(engine *E, size_t first_work, size_t end_work, ferry_error *err)
{
	ferry_tree *tree = E->src->tree;
	const char **paths = ferry_xcalloc(E->n_jobs + 1, sizeof(char *));
	size_t *idx = ferry_xcalloc(E->n_jobs + 1, sizeof(size_t));
	size_t n = 0;
	for (size_t i = 0; i < E->n_jobs; i++) {
		const layer_job *j = &E->jobs[i];
		if (!j->done && j->owner >= first_work && j->owner < end_work) {
			paths[n] = j->blob->path;
			idx[n++] = i;
		}
	}
	int rc = 0;
	if (n > 0) {
		tree->ops->want(tree, paths, n);
		if (engine_lanes_pay(E, idx, n)) {
			engine_set_owner(E, E->jobs[idx[0]].owner);
			rc = engine_run_lanes(E, paths, idx, n, err);
		} else {
			rc = run_one_lane(E, paths, idx, n, err);
		}
	}
	free(paths);
	free(idx);
	return rc;
}
