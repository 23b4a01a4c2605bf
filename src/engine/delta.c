/*
 * delta.c - deltas: leaving out the layers the far side has (--have), and
 * completing a delta there, from bases (--base) or from what the
 * destination already has.  A delta that cannot be completed is refused
 * before anything is written, naming which images need which blobs.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "inventory.h"
#include "tree_overlay.h"

int engine_delta_begin(engine *E, const ferry_location *dl, ferry_error *err)
{
	if (!E->o->n_have)
		return 0;
	if (dl->fmt == FERRY_FMT_DOCKER_ARCHIVE)
		return ferry_error_set(err, FERRY_E_USAGE, "--have makes a delta, which leaves blobs out, and docker "
				       "load cannot take a partial archive: write an OCI layout or OCI archive");
	if (dl->fmt == FERRY_FMT_REGISTRY)
		return ferry_error_set(err, FERRY_E_USAGE, "--have makes a delta, which leaves blobs out, and a "
				       "registry cannot hold images with missing blobs: write an OCI layout or OCI "
				       "archive");
	E->have = ferry_inventory_new();
	for (size_t i = 0; i < E->o->n_have; i++) {
		if (ferry_inventory_add_location(E->have, E->o->have[i], E->o->registry_opts, err) < 0) {
			ferry_error_prefix(err, "--have %s", E->o->have[i]);
			return -1;
		}
	}
	return 0;
}

static void free_source(void *p)
{
	ferry_source_free(p);
}

/* The layers of base whose digests are known into map: digest -> path in its tree. */
static void index_base(ferry_tree *tree, ferry_image *img, ferry_strmap *map)
{
	for (size_t i = 0; i < img->n_children; i++)
		index_base(tree, &img->children[i], map);
	for (size_t i = 0; i < img->n_layers; i++) {
		ferry_digest d;
		if (ferry_blob_known_digest(tree, &img->layers[i], &d))
			ferry_strmap_put(map, d.str, img->layers[i].path);
	}
}

int engine_attach_bases(ferry_source *src, const ferry_convert_opts *o, ferry_error *err)
{
	if (!o->n_bases || !src->n_expected)
		return 0;
	ferry_tree *ov = ferry_tree_overlay_new(src->tree);
	src->tree = ov;
	for (size_t b = 0; b < o->n_bases; b++) {
		ferry_source *base = NULL;
		if (ferry_source_open_opts(o->bases[b], o->registry_opts, &base, err) < 0) {
			ferry_error_prefix(err, "--base %s", o->bases[b]);
			return -1;
		}
		ferry_tree_overlay_own(ov, base, free_source);
		ferry_strmap map = {0};
		for (size_t i = 0; i < base->n_entries; i++)
			index_base(base->tree, &base->entries[i].img, &map);
		for (size_t i = 0; i < src->n_expected; i++) {
			const char *path = ferry_strmap_get(&map, src->expected[i].digest.str);
			char *mine = ferry_blob_path(&src->expected[i].digest);
			if (path && !ferry_tree_overlay_has(ov, mine))
				ferry_tree_overlay_add(ov, mine, base->tree, path);
			free(mine);
		}
		ferry_strmap_free(&map);
	}
	return 0;
}

/*
 * What the far side has of job j's layer, as the delta will name it: the
 * layer itself, or for a legacy docker layer (no digest of its own), its
 * uncompressed bytes, by diff_id, when a plain layer would be written plain.
 */
static bool far_side_has(engine *E, const layer_job *j, ferry_digest *d, uint64_t *size, ferry_comp *comp)
{
	const ferry_blob *b = j->blob;
	if (ferry_digest_is_set(&b->desc.digest)) {
		*d = b->desc.digest;
		*size = b->desc.size;
		*comp = engine_comp_of_mt(b->desc.media_type);
		return b->size_known && ferry_inventory_has_blob(E->have, d, *size);
	}
	*d = b->diff_id;
	*comp = FERRY_COMP_NONE;
	return ferry_digest_is_set(d) && engine_layer_target(E, b, FERRY_COMP_NONE) == FERRY_COMP_NONE &&
	       ferry_inventory_blob_size(E->have, d, size);
}

void engine_leave_out(engine *E)
{
	if (!E->have)
		return;
	for (size_t i = 0; i < E->n_jobs; i++) {
		layer_job *j = &E->jobs[i];
		ferry_digest d;
		uint64_t size;
		ferry_comp comp;
		if (j->done || !far_side_has(E, j, &d, &size, &comp))
			continue;
		engine_job_fill(E, j, false, comp, &d, size);
		j->found = comp;
		*FERRY_PUSH(E->left_out, E->n_left_out, E->cap_left_out) = (ferry_expected){d, size};
		E->st->blobs_left_out++;
		E->st->bytes_left_out += size;
		engine_emit(E, FERRY_EV_BLOB_LEFT_OUT, NULL, &d, size, size, j->blob->path);
	}
}

/* Does src's own tree hold path after all (a delta someone completed in place)?  A one-pass tree is not read ahead. */
bool engine_tree_has(ferry_tree *t, const char *path)
{
	bool exists = false;
	uint64_t size;
	ferry_error e = FERRY_ERROR_INIT;
	if (t->one_pass || ferry_tree_overlay_has(t, path))
		return ferry_tree_overlay_has(t, path);
	return t->ops->stat(t, path, false, &exists, &size, &e) == 0 && exists;
}

/* A missing blob: "IMAGE needs DIGEST (N bytes)" appended to msg. */
static void say_missing(char *msg, size_t cap, size_t *n, const char *label, const ferry_blob *b)
{
	size_t len = strlen(msg);
	if (len < cap)
		snprintf(msg + len, cap - len, "%s%s needs %s (%llu bytes)", (*n)++ ? "; " : "", label,
			 b->desc.digest.str, (unsigned long long)b->desc.size);
}

/* img's expected layers not in a base: the destination's, or missing. */
static int check_image(engine *E, const char *label, ferry_image *img, char *msg, size_t cap, size_t *n_missing,
		       ferry_error *err)
{
	for (size_t i = 0; i < img->n_children; i++) {
		if (check_image(E, label, &img->children[i], msg, cap, n_missing, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < img->n_layers; i++) {
		ferry_blob *b = &img->layers[i];
		layer_job *j = engine_job_of(E, b);
		if (!j || j->done || !ferry_source_expects(E->src, &b->desc.digest, NULL) ||
		    engine_tree_has(E->src->tree, b->path))
			continue;
		bool have = false;
		if (ferry_store_has_blob(E->store, &b->desc.digest, &have, err) < 0)
			return -1;
		/* Retagged in place, a delta keeps expecting what it expected. */
		bool keep = !have && E->in_place && E->dfmt->id != FERRY_FMT_DOCKER_ARCHIVE &&
			    E->dfmt->id != FERRY_FMT_REGISTRY;
		if (!have && !keep) {
			say_missing(msg, cap, n_missing, label, b);
			continue;
		}
		ferry_comp said = engine_comp_of_mt(b->desc.media_type);
		engine_job_fill(E, j, false, said, &b->desc.digest, b->desc.size);
		j->found = said;
		if (keep)
			*FERRY_PUSH(E->left_out, E->n_left_out, E->cap_left_out) = (ferry_expected){b->desc.digest,
												   b->desc.size};
		else
			engine_account_blob(E, true, &b->desc.digest, b->desc.size, 0, 0, b->path);
	}
	return 0;
}

int engine_check_expected(engine *E, ferry_error *err)
{
	if (!E->src->n_expected)
		return 0;
	char msg[FERRY_ERROR_MSG_MAX] = "";
	size_t n_missing = 0;
	for (size_t w = 0; w < E->n_works_checked; w++) {
		engine_set_owner(E, w);
		if (check_image(E, E->works[w].label, E->works[w].img, msg, sizeof(msg), &n_missing, err) < 0)
			return -1;
	}
	if (n_missing)
		return ferry_error_set(err, FERRY_E_NOTFOUND,
				       "%s is a delta and %zu blob%s it left out %s in no --base and not at the "
				       "destination, so nothing was written: %s",
				       E->src->display, n_missing, n_missing == 1 ? "" : "s",
				       n_missing == 1 ? "is" : "are", msg);
	return 0;
}

void engine_delta_free(engine *E)
{
	ferry_inventory_free(E->have);
	free(E->left_out);
}
