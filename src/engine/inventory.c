/*
 * inventory.c - gathering, merging, reading and writing inventories (inventory.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inventory.h"
#include "location.h"
#include "readfile.h"
#include "registry.h"
#include "stream.h"
#include "strmap.h"
#include "tmpname.h"
#include "util.h"

typedef struct inv_manifest {
	char *media_type; /* NULL: not said */
	uint64_t size;
	ferry_strmap names; /* name -> (void *)1 */
} inv_manifest;

struct ferry_inventory {
	ferry_strmap blobs;     /* digest -> uint64_t * (size) */
	ferry_strmap manifests; /* digest -> inv_manifest * */
};

ferry_inventory *ferry_inventory_new(void)
{
	return ferry_xcalloc(1, sizeof(ferry_inventory));
}

static void free_manifest(void *p)
{
	inv_manifest *m = p;
	free(m->media_type);
	ferry_strmap_free(&m->names);
	free(m);
}

void ferry_inventory_free(ferry_inventory *inv)
{
	if (!inv)
		return;
	ferry_strmap_free_with(&inv->blobs, free);
	ferry_strmap_free_with(&inv->manifests, free_manifest);
	free(inv);
}

/* Blob d of size bytes; a second size for one digest is a lie somewhere (FERRY_E_INTEGRITY). */
static int add_blob(ferry_inventory *inv, const ferry_digest *d, uint64_t size, ferry_error *err)
{
	uint64_t *have = ferry_strmap_get(&inv->blobs, d->str);
	if (have) {
		if (*have != size)
			return ferry_error_set(err, FERRY_E_INTEGRITY, "blob %s is listed with sizes %llu and %llu",
					       d->str, (unsigned long long)*have, (unsigned long long)size);
		return 0;
	}
	uint64_t *v = ferry_xmalloc(sizeof(*v));
	*v = size;
	ferry_strmap_put(&inv->blobs, d->str, v);
	return 0;
}

static inv_manifest *add_manifest(ferry_inventory *inv, const ferry_digest *d, const char *mt, uint64_t size)
{
	inv_manifest *m = ferry_strmap_get(&inv->manifests, d->str);
	if (!m) {
		m = ferry_xcalloc(1, sizeof(*m));
		m->size = size;
		ferry_strmap_put(&inv->manifests, d->str, m);
	}
	if (!m->media_type && mt)
		m->media_type = ferry_xstrdup(mt);
	return m;
}

static void add_image(ferry_inventory *inv, ferry_tree *tree, const ferry_image *img, inv_manifest **top)
{
	inv_manifest *m = NULL;
	if (img->bytes && ferry_digest_is_set(&img->desc.digest))
		m = add_manifest(inv, &img->desc.digest, img->desc.media_type, img->desc.size);
	if (top)
		*top = m;
	for (size_t i = 0; i < img->n_children; i++)
		add_image(inv, tree, &img->children[i], NULL);
	if (img->is_index)
		return;
	/* Sizes from the source's own manifests: a conflict is impossible within one, so errors are dropped. */
	if (ferry_digest_is_set(&img->config.desc.digest))
		add_blob(inv, &img->config.desc.digest, img->config_len, NULL);
	for (size_t i = 0; i < img->n_layers; i++) {
		const ferry_blob *b = &img->layers[i];
		ferry_digest d;
		if (b->size_known && ferry_blob_known_digest(tree, b, &d))
			add_blob(inv, &d, b->desc.size, NULL);
	}
}

void ferry_inventory_add_source(ferry_inventory *inv, const ferry_source *src)
{
	for (size_t i = 0; i < src->n_entries; i++) {
		const ferry_entry *e = &src->entries[i];
		inv_manifest *m = NULL;
		add_image(inv, src->tree, &e->img, &m);
		for (size_t k = 0; m && k < e->n_names; k++) {
			char *s = ferry_name_string(&e->names[k]);
			ferry_strmap_put(&m->names, s, (void *)1);
			free(s);
		}
	}
}

bool ferry_inventory_has_blob(const ferry_inventory *inv, const ferry_digest *d, uint64_t size)
{
	const uint64_t *have = ferry_strmap_get(&inv->blobs, d->str);
	return have && *have == size;
}

bool ferry_inventory_blob_size(const ferry_inventory *inv, const ferry_digest *d, uint64_t *size)
{
	const uint64_t *have = ferry_strmap_get(&inv->blobs, d->str);
	if (have)
		*size = *have;
	return have != NULL;
}

size_t ferry_inventory_blob_count(const ferry_inventory *inv)
{
	return inv->blobs.len;
}

/* ---- the document ---- */

static int by_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of m, sorted (the array is the caller's; the strings are m's). */
static const char **sorted_keys(const ferry_strmap *m)
{
	const char **keys = ferry_xcalloc(m->len + 1, sizeof(char *));
	size_t n = 0;
	const char *k;
	for (size_t it = 0; ferry_strmap_next(m, &it, &k, NULL);)
		keys[n++] = k;
	qsort(keys, n, sizeof(char *), by_str);
	return keys;
}

json_t *ferry_inventory_json(const ferry_inventory *inv)
{
	json_t *doc = json_object(), *blobs = json_array(), *mans = json_array();
	json_object_set_new(doc, "ferryInventory", json_integer(1));
	const char **keys = sorted_keys(&inv->blobs);
	for (size_t i = 0; i < inv->blobs.len; i++) {
		const uint64_t *size = ferry_strmap_get(&inv->blobs, keys[i]);
		json_array_append_new(blobs, json_pack("{s:s, s:I}", "digest", keys[i], "size", (json_int_t)*size));
	}
	free(keys);
	keys = sorted_keys(&inv->manifests);
	for (size_t i = 0; i < inv->manifests.len; i++) {
		const inv_manifest *m = ferry_strmap_get(&inv->manifests, keys[i]);
		json_t *o = json_pack("{s:s}", "digest", keys[i]);
		if (m->media_type)
			json_object_set_new(o, "mediaType", json_string(m->media_type));
		json_object_set_new(o, "size", json_integer((json_int_t)m->size));
		json_t *names = json_array();
		const char **nk = sorted_keys(&m->names);
		for (size_t k = 0; k < m->names.len; k++)
			json_array_append_new(names, json_string(nk[k]));
		free(nk);
		json_object_set_new(o, "names", names);
		json_array_append_new(mans, o);
	}
	free(keys);
	json_object_set_new(doc, "blobs", blobs);
	json_object_set_new(doc, "manifests", mans);
	return doc;
}

/* ---- reading one ---- */

/* {"digest": valid, "size": integer >= 0}: the digest and size. */
static int parse_digest_size(json_t *o, const char *what, ferry_digest *d, uint64_t *size, ferry_error *err)
{
	json_t *jd = json_object_get(o, "digest"), *js = json_object_get(o, "size");
	if (!json_is_object(o) || !json_is_string(jd) || !json_is_integer(js) || json_integer_value(js) < 0)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: an entry is not {\"digest\": string, \"size\": "
				       "integer >= 0}", what);
	if (ferry_digest_parse(d, json_string_value(jd), err) < 0) {
		ferry_error_prefix(err, "%s", what);
		return -1;
	}
	*size = (uint64_t)json_integer_value(js);
	return 0;
}

static int parse_manifest(ferry_inventory *inv, json_t *o, const char *what, ferry_error *err)
{
	ferry_digest d;
	uint64_t size;
	if (parse_digest_size(o, what, &d, &size, err) < 0)
		return -1;
	json_t *mt = json_object_get(o, "mediaType"), *names = json_object_get(o, "names");
	if ((mt && !json_is_string(mt)) || (names && !json_is_array(names)))
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: manifest %s: mediaType must be a string and "
				       "names an array", what, d.str);
	if (json_array_size(names) > FERRY_INVENTORY_NAMES_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: manifest %s has more than %d names", what, d.str,
				       FERRY_INVENTORY_NAMES_MAX);
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v) {
		if (!json_is_string(v) || json_string_length(v) > FERRY_PATH_MAX)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: manifest %s: a name is not a string", what,
					       d.str);
	}
	inv_manifest *m = add_manifest(inv, &d, json_string_value(mt), size);
	json_array_foreach(names, i, v)
		ferry_strmap_put(&m->names, json_string_value(v), (void *)1);
	return 0;
}

int ferry_inventory_parse(ferry_inventory *inv, const void *buf, size_t len, const char *what, ferry_error *err)
{
	if (len > FERRY_INVENTORY_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s is %zu bytes, over the %u byte limit of an inventory",
				       what, len, FERRY_INVENTORY_MAX);
	json_error_t je;
	json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s is not valid JSON: %s (line %d)", what, je.text,
				       je.line);
	json_t *ver = json_object_get(doc, "ferryInventory"), *blobs = json_object_get(doc, "blobs"),
	       *mans = json_object_get(doc, "manifests");
	int rc = 0;
	if (!json_is_object(doc) || !json_is_integer(ver) || json_integer_value(ver) != 1 ||
	    !json_is_array(blobs) || (mans && !json_is_array(mans))) {
		rc = ferry_error_set(err, FERRY_E_FORMAT, "%s is not a ferry inventory (version 1: "
				     "{\"ferryInventory\": 1, \"blobs\": [...], \"manifests\": [...]})", what);
	}
	size_t i;
	json_t *v;
	json_array_foreach(blobs, i, v) {
		ferry_digest d;
		uint64_t size;
		if (rc < 0 || parse_digest_size(v, what, &d, &size, err) < 0 || add_blob(inv, &d, size, err) < 0) {
			rc = -1;
			break;
		}
	}
	json_array_foreach(mans, i, v) {
		if (rc < 0 || parse_manifest(inv, v, what, err) < 0) {
			rc = -1;
			break;
		}
	}
	json_decref(doc);
	if (rc < 0)
		ferry_error_prefix_once(err, what);
	return rc;
}

/* ---- gathering ---- */

/* Is path a regular file that starts (after blanks) with '{', as an inventory does and no archive can? */
static bool looks_like_inventory(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	int c;
	while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\r' || c == '\t')
		;
	fclose(f);
	return c == '{';
}

static int add_source_at(ferry_inventory *inv, const char *location, const ferry_registry_opts *ropts,
			 ferry_error *err)
{
	ferry_source *src = NULL;
	if (ferry_source_open_opts(location, ropts, &src, err) < 0)
		return -1;
	ferry_inventory_add_source(inv, src);
	ferry_source_free(src);
	return 0;
}

/* Every tag of domain/repo. */
static int add_repo(ferry_inventory *inv, ferry_registry *r, const char *domain, const char *repo,
		    const ferry_registry_opts *ropts, ferry_error *err)
{
	char **tags;
	size_t n;
	if (ferry_registry_tags(r, repo, &tags, &n, err) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		char *loc = ferry_xasprintf("docker://%s/%s:%s", domain, repo, tags[i]);
		if (rc == 0 && add_source_at(inv, loc, ropts, err) < 0)
			rc = -1;
		free(loc);
		free(tags[i]);
	}
	free(tags);
	return rc;
}

/* docker://HOST (repo NULL: the whole catalog) or docker://HOST/REPO (every tag). */
static int add_registry(ferry_inventory *inv, const char *domain, const char *repo,
			const ferry_registry_opts *ropts, ferry_error *err)
{
	ferry_registry_opts def;
	ferry_registry_opts_init(&def);
	ferry_registry *r = NULL;
	if (ferry_registry_open(domain, ropts ? ropts : &def, &r, err) < 0)
		return -1;
	int rc = 0;
	if (repo) {
		rc = add_repo(inv, r, domain, repo, ropts, err);
	} else {
		char **repos;
		size_t n;
		rc = ferry_registry_catalog(r, &repos, &n, err);
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = add_repo(inv, r, domain, repos[i], ropts, err);
		for (size_t i = 0; i < n; i++)
			free(repos[i]);
		free(repos);
	}
	ferry_registry_free(r);
	return rc;
}

int ferry_inventory_add_location(ferry_inventory *inv, const char *location, const ferry_registry_opts *ropts,
				 ferry_error *err)
{
	if (ferry_str_startswith(location, "docker://")) {
		const char *rest = location + strlen("docker://");
		const char *slash = strchr(rest, '/');
		if (!slash)
			return add_registry(inv, rest, NULL, ropts, err);
		const char *last = strrchr(rest, '/') + 1;
		if (!strchr(last, ':') && !strchr(last, '@')) {
			char *domain = ferry_xstrndup(rest, (size_t)(slash - rest));
			int rc = add_registry(inv, domain, slash + 1, ropts, err);
			free(domain);
			return rc;
		}
		return add_source_at(inv, location, ropts, err);
	}
	if (!looks_like_inventory(location))
		return add_source_at(inv, location, ropts, err);
	char *buf;
	size_t len;
	if (ferry_read_file(location, FERRY_INVENTORY_MAX, &buf, &len, err) < 0)
		return -1;
	int rc = ferry_inventory_parse(inv, buf, len, location, err);
	free(buf);
	return rc;
}

/* ---- the public entry point ---- */

static int write_out(const char *path, const char *text, ferry_error *err)
{
	if (!path || !strcmp(path, "-")) {
		if (fputs(text, stdout) == EOF || fflush(stdout) == EOF)
			return ferry_error_errno(err, errno, "writing the inventory to stdout");
		return 0;
	}
	char *dir = ferry_dest_parent(path), *base = ferry_dest_base(path);
	char *tmp = ferry_tmp_template(dir, base);
	free(dir);
	free(base);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		ferry_error_errno(err, errno, "%s", path);
		free(tmp);
		return -1;
	}
	size_t len = strlen(text);
	bool ok = ferry_write_all(fd, text, len, path, err) == 0;
	if (ok && (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0)) {
		ferry_error_errno(err, errno, "writing %s", path);
		ok = false;
	}
	close(fd);
	if (!ok)
		unlink(tmp);
	free(tmp);
	return ok ? 0 : -1;
}

int ferry_inventory_write(const char *const *locations, size_t n, const ferry_registry_opts *ropts,
			  const char *out_path, size_t *n_blobs, size_t *n_manifests, ferry_error *err)
{
	ferry_inventory *inv = ferry_inventory_new();
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = ferry_inventory_add_location(inv, locations[i], ropts, err);
	if (rc == 0) {
		json_t *doc = ferry_inventory_json(inv);
		char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		json_decref(doc);
		char *line = ferry_xasprintf("%s\n", text);
		free(text);
		rc = write_out(out_path, line, err);
		free(line);
	}
	if (n_blobs)
		*n_blobs = inv->blobs.len;
	if (n_manifests)
		*n_manifests = inv->manifests.len;
	ferry_inventory_free(inv);
	return rc;
}
