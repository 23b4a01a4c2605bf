/*
 * oci.c - OCI image layouts (directories) and OCI archives (a tar of one).
 *
 * Reading: index.json names the images.  Tools name them differently, and
 * all of these are read:
 *   - Docker, containerd: the tag in org.opencontainers.image.ref.name and the
 *     full reference in io.containerd.image.name;
 *   - crane: a full reference in org.opencontainers.image.ref.name;
 *   - skopeo: whatever the user typed, usually a bare tag;
 *   - nothing at all.
 * Writing: both annotations on every entry, one entry per name.
 */
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "format.h"
#include "strmap.h"
#include "util.h"

#define OCI_LAYOUT_FILE "oci-layout"
#define OCI_LAYOUT_JSON "{\"imageLayoutVersion\":\"1.0.0\"}"

/* The names an index.json entry gives its image. */
static int names_of(const ferry_descriptor *d, ferry_entry *e, ferry_error *err)
{
	const char *full = ferry_descriptor_annotation(d, FERRY_ANN_CONTAINERD_NAME);
	const char *refname = ferry_descriptor_annotation(d, FERRY_ANN_REF_NAME);
	ferry_name n = {0};
	if (full) {
		/* bad input data, not a bad command line */
		if (ferry_ref_parse_as(&n.ref, full, FERRY_E_FORMAT, err) < 0) {
			ferry_error_prefix(err, "index.json: %s", FERRY_ANN_CONTAINERD_NAME);
			return -1;
		}
		ferry_ref_default_tag(&n.ref);
		n.has_ref = true;
		ferry_entry_add_name(e, &n);
		return 0;
	}
	if (!refname)
		return 0;
	/* A plain tag (skopeo, or docker without the containerd name) has no repository. */
	if (ferry_tag_valid(refname) && !strchr(refname, '/')) {
		n.bare_tag = ferry_xstrdup(refname);
		ferry_entry_add_name(e, &n);
		return 0;
	}
	if (ferry_ref_parse_as(&n.ref, refname, FERRY_E_FORMAT, err) < 0) {
		ferry_error_prefix(err, "index.json: %s", FERRY_ANN_REF_NAME);
		return -1;
	}
	ferry_ref_default_tag(&n.ref);
	n.has_ref = true;
	ferry_entry_add_name(e, &n);
	return 0;
}

/* "sha256-<64 hex>", nothing after: the referrers tag schema's tag for an index of referrers. */
static bool tag_schema_tag(const ferry_entry *e)
{
	if (e->n_names != 1 || !e->img.is_index)
		return false;
	const ferry_name *nm = &e->names[0];
	const char *t = nm->has_ref ? nm->ref.tag : nm->bare_tag;
	return t && strncmp(t, "sha256-", 7) == 0 && strlen(t) == 7 + 64 && strspn(t + 7, "0123456789abcdef") == 64;
}

/*
 * regctl's layouts keep referrers as the registry tag schema does: an index
 * tagged sha256-<hex of the subject> lists them.  Each becomes an entry of
 * its own (a referrer, its subject in its manifest); the index itself is not
 * an image, and goes (ferry writes the referrers themselves).
 */
static void expand_tag_schema(ferry_source *src, ferry_strmap *seen)
{
	for (size_t i = 0; i < src->n_entries;) {
		if (!tag_schema_tag(&src->entries[i])) {
			i++;
			continue;
		}
		ferry_entry old = src->entries[i];
		memmove(&src->entries[i], &src->entries[i + 1], (src->n_entries - i - 1) * sizeof(*src->entries));
		src->n_entries--;
		for (size_t c = 0; c < old.img.n_children; c++) {
			ferry_image *child = &old.img.children[c];
			if (!child->is_index && ferry_image_subject(child) && !ferry_strmap_has(seen, child->desc.digest.str)) {
				ferry_strmap_put(seen, child->desc.digest.str, (void *)1);
				ferry_entry *e = FERRY_PUSH(src->entries, src->n_entries, src->cap_entries);
				memset(e, 0, sizeof(*e));
				e->img = *child;
				json_decref(e->img.desc.annotations);
				e->img.desc.annotations = NULL;
				memset(child, 0, sizeof(*child));
			}
		}
		ferry_entry_free(&old);
	}
}

int ferry_oci_read_index(ferry_source *src, const char *index_path, ferry_error *err)
{
	unsigned char *buf;
	size_t len;
	if (ferry_tree_read_all(src->tree, index_path, FERRY_JSON_MAX, &buf, &len, err) < 0)
		return -1;
	ferry_index ix;
	int rc = ferry_index_parse(&ix, buf, len, err);
	free(buf);
	if (rc < 0) {
		ferry_error_prefix(err, "%s: %s", src->display, index_path);
		return -1;
	}
	const char *expected = ix.annotations ? ferry_json_str(ix.annotations, FERRY_ANN_DELTA_EXPECTED) : NULL;
	if (expected && ferry_source_parse_expected(src, expected, err) < 0) {
		ferry_error_prefix(err, "%s: %s", src->display, index_path);
		ferry_index_free(&ix);
		return -1;
	}
	size_t n_images = 0;
	/* digest -> 1 + its entry's index: an index.json may list thousands (referrers). */
	ferry_strmap seen = {0};
	for (size_t j = 0; j < src->n_entries; j++)
		ferry_strmap_put(&seen, src->entries[j].img.desc.digest.str, (void *)(uintptr_t)(j + 1));
	for (size_t i = 0; i < ix.n_manifests && rc == 0; i++) {
		const ferry_descriptor *d = &ix.manifests[i];
		if (d->media_type && !ferry_media_type_is_index(d->media_type) &&
		    !ferry_media_type_is_manifest(d->media_type))
			continue; /* not an image: skipped, as the spec asks */
		/* The same document under several names is one entry with several names. */
		uintptr_t at = (uintptr_t)ferry_strmap_get(&seen, d->digest.str);
		ferry_entry *e = at ? &src->entries[at - 1] : NULL;
		if (!e) {
			ferry_strmap_put(&seen, d->digest.str, (void *)(uintptr_t)(src->n_entries + 1));
			e = FERRY_PUSH(src->entries, src->n_entries, src->cap_entries);
			memset(e, 0, sizeof(*e));
			if (ferry_image_load(src->tree, d, &e->img, 0, &n_images, err) < 0) {
				ferry_error_prefix_once(err, src->display);
				rc = -1;
				break;
			}
			/* index.json annotations name the entry, not the image itself. */
			json_decref(e->img.desc.annotations);
			e->img.desc.annotations = NULL;
		}
		if (names_of(d, e, err) < 0) {
			ferry_error_prefix_once(err, src->display);
			rc = -1;
		}
	}
	if (rc == 0)
		expand_tag_schema(src, &seen);
	ferry_strmap_free(&seen);
	ferry_index_free(&ix);
	return rc;
}

static int oci_read(ferry_source *src, ferry_error *err)
{
	unsigned char *buf;
	size_t len;
	if (ferry_tree_read_all(src->tree, OCI_LAYOUT_FILE, 4096, &buf, &len, err) < 0) {
		ferry_error_prefix(err, "not an OCI layout");
		return -1;
	}
	json_t *doc;
	int rc = ferry_json_parse(buf, len, OCI_LAYOUT_FILE, &doc, err);
	free(buf);
	if (rc < 0)
		return -1;
	const char *v = ferry_json_str(doc, "imageLayoutVersion");
	if (!v || strcmp(v, "1.0.0") != 0) {
		ferry_error_set(err, FERRY_E_FORMAT, "%s: unsupported imageLayoutVersion %s", src->display,
				v ? v : "(none)");
		json_decref(doc);
		return -1;
	}
	json_decref(doc);
	return ferry_oci_read_index(src, "index.json", err);
}

/* An index.json entry for one name of an output entry. */
static json_t *index_entry(const ferry_out_entry *e, const ferry_name *n)
{
	ferry_descriptor d;
	ferry_descriptor_copy(&d, &e->desc);
	json_decref(d.annotations);
	d.annotations = NULL;
	if (d.platform) {
		/* Platforms belong in multi-platform indexes, not on named top-level entries. */
		ferry_platform_free(d.platform);
		free(d.platform);
		d.platform = NULL;
	}
	if (n) {
		d.annotations = json_object();
		if (n->has_ref) {
			char *full = ferry_ref_string(&n->ref);
			json_object_set_new(d.annotations, FERRY_ANN_CONTAINERD_NAME, json_string(full));
			free(full);
			if (n->ref.tag)
				json_object_set_new(d.annotations, FERRY_ANN_REF_NAME, json_string(n->ref.tag));
		} else {
			json_object_set_new(d.annotations, FERRY_ANN_REF_NAME, json_string(n->bare_tag));
		}
	} else if (e->artifact && ferry_digest_is_set(&e->subject)) {
		/* A referrer: no name, and the subject it is about, for tools that look. */
		d.annotations = json_object();
		json_object_set_new(d.annotations, FERRY_ANN_REFERRER_SUBJECT, json_string(e->subject.str));
	}
	json_t *j = ferry_descriptor_to_json(&d);
	ferry_descriptor_free(&d);
	return j;
}

/* Does an existing index.json entry carry one of the names being written? */
static bool entry_renamed(json_t *old, const ferry_out_entry *entries, size_t n)
{
	json_t *ann = json_object_get(old, "annotations");
	const char *full = ferry_json_str(ann, FERRY_ANN_CONTAINERD_NAME);
	const char *tag = ferry_json_str(ann, FERRY_ANN_REF_NAME);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < entries[i].n_names; j++) {
			const ferry_name *nm = &entries[i].names[j];
			if (nm->has_ref && full) {
				char *s = ferry_ref_string(&nm->ref);
				bool same = strcmp(s, full) == 0;
				free(s);
				if (same)
					return true;
			} else if (!nm->has_ref && !full && tag && strcmp(tag, nm->bare_tag) == 0) {
				return true;
			}
		}
	}
	return false;
}

int ferry_oci_write_index(ferry_store *store, const ferry_out_entry *entries, size_t n, bool merge,
			  ferry_error *err)
{
	return ferry_oci_write_index_ann(store, entries, n, merge, NULL, err);
}

int ferry_oci_write_index_ann(ferry_store *store, const ferry_out_entry *entries, size_t n, bool merge,
			      const char *expected, ferry_error *err)
{
	json_t *ms = json_array();
	if (merge) {
		unsigned char *buf;
		size_t len;
		ferry_error e2 = FERRY_ERROR_INIT;
		if (ferry_store_read_existing(store, "index.json", &buf, &len, &e2) == 0) {
			json_t *old;
			int rc = ferry_json_parse(buf, len, "existing index.json", &old, err);
			free(buf);
			if (rc < 0) {
				json_decref(ms);
				return -1;
			}
			json_t *om = json_object_get(old, "manifests");
			size_t i;
			json_t *v;
			json_array_foreach(om, i, v)
			{
				if (!entry_renamed(v, entries, n))
					json_array_append(ms, v);
			}
			json_decref(old);
		} else if (e2.code != FERRY_E_NOTFOUND) {
			*err = e2;
			json_decref(ms);
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (entries[i].n_names == 0)
			json_array_append_new(ms, index_entry(&entries[i], NULL));
		for (size_t j = 0; j < entries[i].n_names; j++)
			json_array_append_new(ms, index_entry(&entries[i], &entries[i].names[j]));
	}
	json_t *ix = json_object();
	json_object_set_new(ix, "schemaVersion", json_integer(2));
	json_object_set_new(ix, "mediaType", json_string(FERRY_MT_OCI_INDEX));
	json_object_set_new(ix, "manifests", ms);
	if (expected)
		json_object_set_new(ix, "annotations", json_pack("{s:s}", FERRY_ANN_DELTA_EXPECTED, expected));
	size_t len;
	char *s = ferry_json_dump(ix, &len);
	json_decref(ix);
	int rc = ferry_store_put_file(store, OCI_LAYOUT_FILE, OCI_LAYOUT_JSON, strlen(OCI_LAYOUT_JSON), err);
	if (rc == 0)
		rc = ferry_store_put_file(store, "index.json", s, len, err);
	free(s);
	return rc;
}

static int oci_write_meta(ferry_store *store, const ferry_out_entry *entries, size_t n, ferry_error *err)
{
	return ferry_oci_write_index(store, entries, n, true, err);
}

/* A directory is read as an OCI layout: the reader says what is missing when it is not one. */
static int oci_dir_bid(ferry_tree *t, int best, int *bid, ferry_error *err)
{
	(void)t;
	(void)best;
	(void)err;
	*bid = 1;
	return 0;
}

/* An oci-layout file; below a docker archive's manifest.json, since Docker 25+ archives hold both. */
static int oci_archive_bid(ferry_tree *t, int best, int *bid, ferry_error *err)
{
	*bid = 0;
	if (best >= 1)
		return 0; /* cannot win: a one-pass tar is not searched again */
	bool exists;
	uint64_t size;
	if (t->ops->stat(t, OCI_LAYOUT_FILE, true, &exists, &size, err) < 0)
		return -1;
	*bid = exists ? 1 : 0;
	return 0;
}

const ferry_format ferry_format_oci = {
	.id = FERRY_FMT_OCI,
	.name = "oci",
	.is_tar = false,
	.bid = oci_dir_bid,
	.unrecognised = "an OCI layout (no oci-layout)",
	.read = oci_read,
	.write_meta = oci_write_meta,
};

const ferry_format ferry_format_oci_archive = {
	.id = FERRY_FMT_OCI_ARCHIVE,
	.name = "oci-archive",
	.is_tar = true,
	.bid = oci_archive_bid,
	.unrecognised = "an OCI archive (no oci-layout)",
	.read = oci_read,
	.write_meta = oci_write_meta,
};

void ferry_out_entry_free(ferry_out_entry *e)
{
	ferry_descriptor_free(&e->desc);
	for (size_t i = 0; i < e->n_names; i++)
		ferry_name_free(&e->names[i]);
	free(e->names);
	for (size_t i = 0; i < e->n_images; i++) {
		ferry_descriptor_free(&e->images[i].manifest);
		free(e->images[i].layers);
	}
	free(e->images);
	memset(e, 0, sizeof(*e));
}
