/*
 * docker_archive.c - what `docker save` writes and `docker load` reads.
 *
 * manifest.json is the authority: an array with one object per image giving
 * the path of its config, its RepoTags and the paths of its layers, base
 * first.  Paths are followed as given (never guessed), which covers every
 * dialect in the wild: Docker <= 24 (<id>/layer.tar, repeated layers as
 * symlinks), Docker 25+ (blobs/sha256/...), containerd (compressed registry
 * blobs), crane (config named "sha256:<hex>", layers "<hex>.tar.gz") and
 * podman (layer.tar symlinks to ../<diffid>.tar).
 *
 * When the archive also carries an OCI index.json whose manifests describe
 * exactly the images of manifest.json (Docker 25+ and ferry itself), those
 * manifests are used as they are, so their digests survive a round trip.
 *
 * Writing lays the archive out like Docker 25+: blobs/sha256/..., an OCI
 * index.json with the manifests, and manifest.json plus repositories for
 * docker load.
 */
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "strmap.h"
#include "util.h"

struct ferry_dm_entry {
	char *config;
	char **tags;
	size_t n_tags;
	char **layers;
	size_t n_layers;
};
typedef struct ferry_dm_entry dm_entry;

void ferry_dm_free(dm_entry *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].config);
		for (size_t j = 0; j < d[i].n_tags; j++)
			free(d[i].tags[j]);
		free(d[i].tags);
		for (size_t j = 0; j < d[i].n_layers; j++)
			free(d[i].layers[j]);
		free(d[i].layers);
	}
	free(d);
}

static int norm_path(const char *raw, char **out, const char *what, size_t idx, ferry_error *err)
{
	if (ferry_path_normalize(raw, out, err) < 0) {
		ferry_error_prefix(err, "manifest.json[%zu]: %s", idx, what);
		return -1;
	}
	return 0;
}

int ferry_dm_parse(const unsigned char *buf, size_t len, dm_entry **out, size_t *n_out,
			       ferry_error *err)
{
	json_t *doc;
	*out = NULL;
	*n_out = 0;
	if (ferry_json_parse(buf, len, "manifest.json", &doc, err) < 0)
		return -1;
	if (!json_is_array(doc)) {
		json_decref(doc);
		return ferry_error_set(err, FERRY_E_FORMAT, "manifest.json is not a JSON array");
	}
	size_t n = json_array_size(doc);
	dm_entry *d = ferry_xcalloc(n ? n : 1, sizeof(*d));
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(doc, i);
		if (!json_is_object(o)) {
			ferry_error_set(err, FERRY_E_FORMAT, "manifest.json[%zu] is not an object", i);
			goto out;
		}
		const char *cfg = ferry_json_str(o, "Config");
		if (!cfg) {
			ferry_error_set(err, FERRY_E_FORMAT, "manifest.json[%zu] has no Config", i);
			goto out;
		}
		if (norm_path(cfg, &d[i].config, "Config", i, err) < 0)
			goto out;
		json_t *tags = json_object_get(o, "RepoTags");
		if (tags && !json_is_null(tags)) {
			if (!json_is_array(tags)) {
				ferry_error_set(err, FERRY_E_FORMAT, "manifest.json[%zu]: RepoTags is not an array", i);
				goto out;
			}
			d[i].n_tags = json_array_size(tags);
			d[i].tags = ferry_xcalloc(d[i].n_tags ? d[i].n_tags : 1, sizeof(char *));
			for (size_t j = 0; j < d[i].n_tags; j++) {
				json_t *t = json_array_get(tags, j);
				if (!json_is_string(t)) {
					ferry_error_set(err, FERRY_E_FORMAT,
							"manifest.json[%zu]: RepoTags[%zu] is not a string", i, j);
					goto out;
				}
				d[i].tags[j] = ferry_xstrdup(json_string_value(t));
			}
		}
		json_t *layers = json_object_get(o, "Layers");
		if (!json_is_array(layers)) {
			ferry_error_set(err, FERRY_E_FORMAT, "manifest.json[%zu] has no Layers array", i);
			goto out;
		}
		d[i].n_layers = json_array_size(layers);
		d[i].layers = ferry_xcalloc(d[i].n_layers ? d[i].n_layers : 1, sizeof(char *));
		for (size_t j = 0; j < d[i].n_layers; j++) {
			json_t *l = json_array_get(layers, j);
			if (!json_is_string(l)) {
				ferry_error_set(err, FERRY_E_FORMAT, "manifest.json[%zu]: Layers[%zu] is not a string",
						i, j);
				goto out;
			}
			if (norm_path(json_string_value(l), &d[i].layers[j], "Layers", i, err) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	json_decref(doc);
	if (rc < 0) {
		ferry_dm_free(d, n);
		return -1;
	}
	*out = d;
	*n_out = n;
	return 0;
}

/* If a config path spells out its digest, the config must hash to it. */
static int check_config_name(const char *path, const ferry_digest *actual, ferry_error *err)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	char hex[65] = {0};
	size_t bl = strlen(base);
	if (bl == 64 + 5 && ferry_str_endswith(base, ".json"))
		memcpy(hex, base, 64);
	else if (bl == 64 + 7 && ferry_str_startswith(base, "sha256:"))
		memcpy(hex, base + 7, 64);
	else if (bl == 64 && ferry_str_startswith(path, "blobs/sha256/"))
		memcpy(hex, base, 64);
	else
		return 0;
	for (int i = 0; i < 64; i++) {
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return 0; /* not a digest-shaped name after all */
	}
	if (strcmp(hex, ferry_digest_hex(actual)) != 0)
		return ferry_error_set(err, FERRY_E_INTEGRITY, "config %s has digest %s", path, actual->str);
	return 0;
}

static int add_repo_tags(ferry_entry *e, const dm_entry *d, ferry_error *err)
{
	for (size_t j = 0; j < d->n_tags; j++) {
		ferry_name n = {0};
		/* bad input data, not a bad command line */
		if (ferry_ref_parse_as(&n.ref, d->tags[j], FERRY_E_FORMAT, err) < 0) {
			ferry_error_prefix(err, "manifest.json: RepoTags");
			return -1;
		}
		ferry_ref_default_tag(&n.ref);
		n.has_ref = true;
		ferry_entry_add_name(e, &n);
	}
	return 0;
}

/* A legacy image: no manifest, only a config and layer paths. */
static int read_legacy(ferry_source *src, const dm_entry *d, ferry_entry *e, ferry_error *err)
{
	ferry_image *img = &e->img;
	ferry_digest actual;
	ferry_descriptor none = {0};
	if (ferry_read_verified(src->tree, d->config, &none, false, &img->config_bytes, &img->config_len, &actual,
				err) < 0)
		return -1;
	if (check_config_name(d->config, &actual, err) < 0)
		return -1;
	if (ferry_config_parse(&img->cfg, img->config_bytes, img->config_len, err) < 0) {
		ferry_error_prefix(err, "config %s", d->config);
		return -1;
	}
	if (img->cfg.n_diff_ids != d->n_layers)
		return ferry_error_set(err, FERRY_E_FORMAT, "config %s lists %zu diff_ids for %zu layers", d->config,
				       img->cfg.n_diff_ids, d->n_layers);
	img->config.desc.digest = actual;
	img->config.desc.size = img->config_len;
	img->config.desc.media_type = ferry_xstrdup(FERRY_MT_OCI_CONFIG);
	img->config.size_known = true;
	img->config.path = ferry_xstrdup(d->config);
	img->n_layers = d->n_layers;
	img->layers = ferry_xcalloc(d->n_layers ? d->n_layers : 1, sizeof(*img->layers));
	for (size_t j = 0; j < d->n_layers; j++) {
		ferry_blob *b = &img->layers[j];
		b->path = ferry_xstrdup(d->layers[j]);
		b->diff_id = img->cfg.diff_ids[j];
		bool exists;
		uint64_t size;
		if (src->tree->ops->stat(src->tree, b->path, false, &exists, &size, err) < 0)
			return -1;
		b->size_known = exists;
		b->desc.size = size;
	}
	return 0;
}

static void free_entries(ferry_source *s)
{
	for (size_t i = 0; i < s->n_entries; i++)
		ferry_entry_free(&s->entries[i]);
	free(s->entries);
}

/* Is every image of manifest.json among the index's images?  Their RepoTags go on the entries found. */
static int match_index(ferry_source *ix, const dm_entry *d, size_t n, bool *all, ferry_error *err)
{
	*all = true;
	for (size_t i = 0; i < n && *all; i++) {
		bool found = false;
		for (size_t j = 0; j < ix->n_entries && !found; j++) {
			const ferry_image *im = &ix->entries[j].img;
			if (im->is_index) {
				for (size_t k = 0; k < im->n_children && !found; k++)
					found = !im->children[k].is_index &&
						strcmp(d[i].config, im->children[k].config.path) == 0;
			} else {
				found = strcmp(d[i].config, im->config.path) == 0;
			}
			if (found && add_repo_tags(&ix->entries[j], &d[i], err) < 0)
				return -1;
		}
		*all = found;
	}
	return 0;
}

/*
 * Use the OCI index when it describes exactly the images of manifest.json
 * (same configs, in some order): *used says whether it was.
 */
static int try_oci_index(ferry_source *src, const dm_entry *d, size_t n, bool *used, ferry_error *err)
{
	*used = false;
	bool exists;
	uint64_t size;
	/* One pass: only if index.json came before manifest.json (Docker 25+ and ferry write it so). */
	if (src->tree->ops->stat(src->tree, "index.json", false, &exists, &size, err) < 0)
		return -1;
	if (!exists)
		return 0;
	ferry_source tmp = {.tree = src->tree, .display = src->display};
	ferry_error unusable = FERRY_ERROR_INIT;
	if (ferry_oci_read_index(&tmp, "index.json", &unusable) < 0 || tmp.n_entries == 0) {
		free_entries(&tmp);
		return 0; /* not usable: fall back to manifest.json alone */
	}
	bool all = false;
	int rc = match_index(&tmp, d, n, &all, err);
	if (rc < 0 || !all) {
		free_entries(&tmp);
		return rc;
	}
	src->entries = tmp.entries;
	src->n_entries = tmp.n_entries;
	src->cap_entries = tmp.n_entries;
	*used = true;
	return 0;
}

static int docker_read(ferry_source *src, ferry_error *err)
{
	unsigned char *buf;
	size_t len;
	if (ferry_tree_read_all(src->tree, "manifest.json", FERRY_JSON_MAX, &buf, &len, err) < 0) {
		ferry_error_prefix(err, "not a docker archive");
		return -1;
	}
	dm_entry *d;
	size_t n;
	int rc = ferry_dm_parse(buf, len, &d, &n, err);
	free(buf);
	if (rc < 0) {
		ferry_error_prefix_once(err, src->display);
		return -1;
	}
	bool used;
	rc = try_oci_index(src, d, n, &used, err);
	if (rc == 0 && !used) {
		for (size_t i = 0; i < n; i++) {
			ferry_entry *e = FERRY_PUSH(src->entries, src->n_entries, src->cap_entries);
			memset(e, 0, sizeof(*e));
			if (read_legacy(src, &d[i], e, err) < 0 || add_repo_tags(e, &d[i], err) < 0) {
				ferry_error_prefix(err, "%s: image %zu", src->display, i + 1);
				rc = -1;
				break;
			}
		}
	}
	ferry_dm_free(d, n);
	return rc;
}

/* ---- writing ---- */

static int docker_write_meta(ferry_store *store, const ferry_out_entry *entries, size_t n, ferry_error *err)
{
	/* index.json (with the manifests) first: a one-pass reader meets it before manifest.json. */
	if (ferry_oci_write_index(store, entries, n, false, err) < 0)
		return -1;
	json_t *mj = json_array();
	json_t *repos = json_object();
	ferry_strmap seen = {0}; /* manifest digest -> its object in mj */
	for (size_t i = 0; i < n; i++) {
		const ferry_out_entry *e = &entries[i];
		/* Artifacts are not images docker load could load: the OCI index carries them. */
		for (size_t k = 0; !e->artifact && k < e->n_images; k++) {
			const ferry_out_image *im = &e->images[k];
			json_t *o = ferry_strmap_get(&seen, im->manifest.digest.str);
			if (!o) {
				o = json_object();
				char *cfg = ferry_blob_path(&im->config);
				json_object_set_new(o, "Config", json_string(cfg));
				free(cfg);
				json_object_set_new(o, "RepoTags", json_array());
				json_t *layers = json_array();
				for (size_t j = 0; j < im->n_layers; j++) {
					char *p = ferry_blob_path(&im->layers[j]);
					json_array_append_new(layers, json_string(p));
					free(p);
				}
				json_object_set_new(o, "Layers", layers);
				json_array_append_new(mj, o);
				ferry_strmap_put(&seen, im->manifest.digest.str, o);
			}
			/* docker load has one image per tag: the tags go on the first image of a multi-platform entry. */
			if (k != 0)
				continue;
			for (size_t j = 0; j < e->n_names; j++) {
				const ferry_name *nm = &e->names[j];
				if (!nm->has_ref || !nm->ref.tag)
					continue;
				char *fam = ferry_ref_familiar(&nm->ref);
				json_array_append_new(json_object_get(o, "RepoTags"), json_string(fam));
				free(fam);
				char *repo = ferry_ref_familiar_name(&nm->ref);
				json_t *r = json_object_get(repos, repo);
				if (!r) {
					r = json_object();
					json_object_set_new(repos, repo, r);
				}
				const ferry_digest *top = im->n_layers ? &im->layers[im->n_layers - 1] : &im->config;
				json_object_set_new(r, nm->ref.tag, json_string(ferry_digest_hex(top)));
				free(repo);
			}
		}
	}
	ferry_strmap_free(&seen);
	size_t len;
	char *s = ferry_json_dump(mj, &len);
	int rc = ferry_store_put_file(store, "manifest.json", s, len, err);
	free(s);
	if (rc == 0) {
		s = ferry_json_dump(repos, &len);
		rc = ferry_store_put_file(store, "repositories", s, len, err);
		free(s);
	}
	json_decref(mj);
	json_decref(repos);
	return rc;
}

/* manifest.json; the highest bid, as Docker 25+ archives carry an oci-layout too. */
static int docker_bid(ferry_tree *t, int best, int *bid, ferry_error *err)
{
	*bid = 0;
	if (best >= 2)
		return 0;
	bool exists;
	uint64_t size;
	/* One pass: the search may read to the end; formats asked after answer from what was seen. */
	if (t->ops->stat(t, "manifest.json", true, &exists, &size, err) < 0)
		return -1;
	*bid = exists ? 2 : 0;
	return 0;
}

const ferry_format ferry_format_docker_archive = {
	.id = FERRY_FMT_DOCKER_ARCHIVE,
	.name = "docker-archive",
	.is_tar = true,
	.bid = docker_bid,
	.unrecognised = "a docker archive (no manifest.json)",
	.layers = FERRY_LAYERS_LOADABLE,
	.needs_repository = true,
	.read = docker_read,
	.write_meta = docker_write_meta,
};
