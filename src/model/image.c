#include "image.h"

#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "format.h"
#include "strmap.h"
#include "util.h"

void ferry_name_free(ferry_name *n)
{
	if (!n)
		return;
	if (n->has_ref)
		ferry_ref_free(&n->ref);
	free(n->bare_tag);
	memset(n, 0, sizeof(*n));
}

void ferry_name_copy(ferry_name *dst, const ferry_name *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->has_ref = src->has_ref;
	if (src->has_ref)
		ferry_ref_copy(&dst->ref, &src->ref);
	dst->bare_tag = ferry_xstrdup(src->bare_tag);
}

char *ferry_name_string(const ferry_name *n)
{
	if (n->has_ref)
		return ferry_ref_string(&n->ref);
	return ferry_xasprintf(":%s", n->bare_tag ? n->bare_tag : "");
}

bool ferry_name_eq(const ferry_name *a, const ferry_name *b)
{
	if (a->has_ref != b->has_ref)
		return false;
	if (a->has_ref)
		return ferry_ref_eq(&a->ref, &b->ref);
	return a->bare_tag && b->bare_tag && strcmp(a->bare_tag, b->bare_tag) == 0;
}

int ferry_name_parse(const char *s, ferry_name *n, ferry_error *err)
{
	memset(n, 0, sizeof(*n));
	if (s[0] == ':') {
		if (!ferry_tag_valid(s + 1))
			return ferry_error_set(err, FERRY_E_USAGE, "invalid tag \"%s\"", s + 1);
		n->bare_tag = ferry_xstrdup(s + 1);
		return 0;
	}
	if (ferry_ref_parse(&n->ref, s, err) < 0)
		return -1;
	ferry_ref_default_tag(&n->ref);
	n->has_ref = true;
	return 0;
}

bool ferry_entry_has_digest(const ferry_entry *e, const char *s)
{
	if (!ferry_str_startswith(s, "sha256:") && !ferry_str_startswith(s, "sha512:"))
		return false;
	if (strlen(s) < 7 + 12) /* a shorter prefix is too easily ambiguous */
		return false;
	return (e->img.desc.digest.str[0] && ferry_str_startswith(e->img.desc.digest.str, s)) ||
	       (!e->img.is_index && e->img.config.desc.digest.str[0] &&
		ferry_str_startswith(e->img.config.desc.digest.str, s));
}

int ferry_entry_matches(const ferry_entry *e, const char *s, ferry_error *err)
{
	if (ferry_str_startswith(s, "sha256:") || ferry_str_startswith(s, "sha512:")) {
		if (strlen(s) < 7 + 12)
			return ferry_error_set(err, FERRY_E_USAGE, "digest prefix \"%s\" is too short (12 hex digits at least)", s);
		return ferry_entry_has_digest(e, s) ? 1 : 0;
	}
	ferry_name want;
	if (ferry_name_parse(s, &want, err) < 0)
		return -1;
	bool hit = false;
	for (size_t i = 0; i < e->n_names && !hit; i++)
		hit = ferry_name_eq(&e->names[i], &want);
	ferry_name_free(&want);
	return hit ? 1 : 0;
}

int ferry_source_find(ferry_source *src, const char *s, ferry_entry **out, ferry_error *err)
{
	*out = NULL;
	if (!s) {
		/* The only image: its signatures and other referrers are not images. */
		size_t n = 0;
		ferry_digest subject;
		for (size_t i = 0; i < src->n_entries; i++) {
			if (!ferry_entry_is_artifact(&src->entries[i], &subject) && n++ == 0)
				*out = &src->entries[i];
		}
		if (n != 1) {
			*out = NULL;
			return ferry_error_set(err, FERRY_E_USAGE, "%s holds %zu images: name the one you mean", src->display,
					       n);
		}
		return 0;
	}
	for (size_t i = 0; i < src->n_entries; i++) {
		int m = ferry_entry_matches(&src->entries[i], s, err);
		if (m < 0)
			return -1;
		if (m && *out && *out != &src->entries[i])
			return ferry_error_set(err, FERRY_E_USAGE, "%s names more than one image in %s", s, src->display);
		if (m)
			*out = &src->entries[i];
	}
	if (!*out)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image named %s", src->display, s);
	return 0;
}

void ferry_entry_add_name(ferry_entry *e, ferry_name *n)
{
	for (size_t i = 0; i < e->n_names; i++) {
		if (ferry_name_eq(&e->names[i], n)) {
			ferry_name_free(n);
			return;
		}
	}
	*FERRY_PUSH(e->names, e->n_names, e->cap_names) = *n;
	memset(n, 0, sizeof(*n));
}

void ferry_blob_free(ferry_blob *b)
{
	if (!b)
		return;
	ferry_descriptor_free(&b->desc);
	free(b->path);
	memset(b, 0, sizeof(*b));
}

void ferry_image_free(ferry_image *img)
{
	if (!img)
		return;
	free(img->bytes);
	ferry_descriptor_free(&img->desc);
	ferry_manifest_free(&img->manifest);
	ferry_blob_free(&img->config);
	free(img->config_bytes);
	ferry_config_free(&img->cfg);
	for (size_t i = 0; i < img->n_layers; i++)
		ferry_blob_free(&img->layers[i]);
	free(img->layers);
	ferry_index_free(&img->index);
	for (size_t i = 0; i < img->n_children; i++)
		ferry_image_free(&img->children[i]);
	free(img->children);
	memset(img, 0, sizeof(*img));
}

void ferry_entry_free(ferry_entry *e)
{
	if (!e)
		return;
	ferry_image_free(&e->img);
	for (size_t i = 0; i < e->n_names; i++)
		ferry_name_free(&e->names[i]);
	free(e->names);
	memset(e, 0, sizeof(*e));
}

const ferry_platform *ferry_image_platform(const ferry_image *img)
{
	if (img->desc.platform)
		return img->desc.platform;
	if (img->cfg.platform.os || img->cfg.platform.architecture)
		return &img->cfg.platform;
	return NULL;
}

char *ferry_blob_path(const ferry_digest *d)
{
	return ferry_xasprintf("blobs/%s/%s", ferry_alg_name(d->alg), ferry_digest_hex(d));
}

bool ferry_blob_known_digest(ferry_tree *tree, const ferry_blob *b, ferry_digest *out)
{
	if (ferry_digest_is_set(&b->desc.digest)) {
		*out = b->desc.digest;
		return true;
	}
	if (!ferry_digest_is_set(&b->diff_id) || !b->size_known || tree->one_pass)
		return false;
	ferry_istream *in;
	uint64_t size;
	ferry_error ignored = FERRY_ERROR_INIT;
	if (tree->ops->open(tree, b->path, &in, &size, &ignored) < 0)
		return false;
	unsigned char magic[8];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(magic) && (n = ferry_read(in, magic + got, sizeof(magic) - got, &ignored)) > 0)
		got += (size_t)n;
	ferry_istream_close(in);
	/* A tar is at least two 512-byte blocks; gzip and zstd are the compressions docker ever used. */
	if (got < sizeof(magic) || ferry_comp_sniff(magic, got) != FERRY_COMP_NONE)
		return false;
	*out = b->diff_id;
	return true;
}

int ferry_read_verified(ferry_tree *tree, const char *path, const ferry_descriptor *desc, bool size_known,
			unsigned char **buf, size_t *len, ferry_digest *actual, ferry_error *err)
{
	if (ferry_tree_read_all(tree, path, FERRY_JSON_MAX, buf, len, err) < 0)
		return -1;
	ferry_alg alg = ferry_digest_is_set(&desc->digest) ? desc->digest.alg : FERRY_ALG_SHA256;
	ferry_digest_buffer(alg, *buf, *len, actual);
	if (size_known && *len != desc->size) {
		free(*buf);
		*buf = NULL;
		return ferry_error_set(err, FERRY_E_INTEGRITY, "%s: blob %s is %zu bytes, its descriptor says %llu",
				       tree->display, desc->digest.str, *len, (unsigned long long)desc->size);
	}
	if (ferry_digest_is_set(&desc->digest) && !ferry_digest_eq(actual, &desc->digest)) {
		free(*buf);
		*buf = NULL;
		return ferry_error_set(err, FERRY_E_INTEGRITY, "%s: blob %s has digest %s", tree->display,
				       desc->digest.str, actual->str);
	}
	return 0;
}

/* An artifact's blobs: described, with no diff_ids (they are not layers of a filesystem). */
static int artifact_blobs(ferry_image *img)
{
	const ferry_manifest *m = &img->manifest;
	img->n_layers = m->n_layers;
	img->layers = ferry_xcalloc(m->n_layers ? m->n_layers : 1, sizeof(*img->layers));
	for (size_t i = 0; i < m->n_layers; i++) {
		ferry_blob *b = &img->layers[i];
		ferry_descriptor_copy(&b->desc, &m->layers[i]);
		b->size_known = true;
		b->path = ferry_blob_path(&m->layers[i].digest);
	}
	return 0;
}

const char *ferry_image_artifact_type(const ferry_image *img)
{
	if (img->is_index || !img->bytes)
		return NULL;
	const ferry_manifest *m = &img->manifest;
	if (m->artifact_type)
		return m->artifact_type;
	if (img->is_artifact)
		return m->config.media_type;
	if (m->n_layers && m->layers[0].media_type && !ferry_media_type_is_layer(m->layers[0].media_type))
		return m->layers[0].media_type;
	return NULL;
}

const ferry_digest *ferry_image_subject(const ferry_image *img)
{
	return !img->is_index && img->manifest.subject ? &img->manifest.subject->digest : NULL;
}

static int load_manifest(ferry_tree *tree, ferry_image *img, ferry_error *err)
{
	if (ferry_manifest_parse(&img->manifest, img->bytes, img->len, err) < 0)
		return -1;
	ferry_manifest *m = &img->manifest;
	ferry_descriptor_copy(&img->config.desc, &m->config);
	img->config.size_known = true;
	img->config.path = ferry_blob_path(&m->config.digest);
	ferry_digest actual;
	if (ferry_read_verified(tree, img->config.path, &m->config, true, &img->config_bytes, &img->config_len,
				&actual, err) < 0) {
		ferry_error_prefix(err, "config");
		return -1;
	}
	const char *cmt = m->config.media_type;
	img->is_artifact = cmt && strcmp(cmt, FERRY_MT_OCI_CONFIG) != 0 && strcmp(cmt, FERRY_MT_DOCKER_CONFIG) != 0;
	if (img->is_artifact)
		return artifact_blobs(img);
	if (ferry_config_parse(&img->cfg, img->config_bytes, img->config_len, err) < 0) {
		ferry_error_prefix(err, "config %s", m->config.digest.str);
		return -1;
	}
	if (img->cfg.n_diff_ids != m->n_layers)
		return ferry_error_set(err, FERRY_E_FORMAT, "config %s lists %zu diff_ids for %zu layers",
				       m->config.digest.str, img->cfg.n_diff_ids, m->n_layers);
	img->n_layers = m->n_layers;
	img->layers = ferry_xcalloc(m->n_layers ? m->n_layers : 1, sizeof(*img->layers));
	for (size_t i = 0; i < m->n_layers; i++) {
		ferry_blob *b = &img->layers[i];
		ferry_descriptor_copy(&b->desc, &m->layers[i]);
		b->size_known = true;
		b->path = ferry_blob_path(&m->layers[i].digest);
		b->diff_id = img->cfg.diff_ids[i];
	}
	return 0;
}

int ferry_image_load(ferry_tree *tree, const ferry_descriptor *desc, ferry_image *out, int depth,
		     size_t *n_images, ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	ferry_descriptor_copy(&out->desc, desc);
	if (depth > FERRY_INDEX_DEPTH)
		return ferry_error_set(err, FERRY_E_LIMIT, "indexes nested deeper than %d levels at %s",
				       FERRY_INDEX_DEPTH, desc->digest.str);
	if (++*n_images > FERRY_IMAGES_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "more than %d images", FERRY_IMAGES_MAX);
	char *path = ferry_blob_path(&desc->digest);
	ferry_digest actual;
	int rc = ferry_read_verified(tree, path, desc, true, &out->bytes, &out->len, &actual, err);
	free(path);
	if (rc < 0)
		return -1;
	json_t *doc;
	if (ferry_json_parse(out->bytes, out->len, desc->digest.str, &doc, err) < 0)
		return -1;
	const char *mt = json_is_object(doc) ? ferry_json_str(doc, "mediaType") : NULL;
	ferry_doc_kind kind = ferry_doc_kind_of(mt ? mt : desc->media_type, doc);
	if (!out->desc.media_type)
		out->desc.media_type = ferry_xstrdup(mt); /* before doc (which owns mt) goes */
	json_decref(doc);
	if (kind == FERRY_DOC_MANIFEST) {
		if (load_manifest(tree, out, err) < 0) {
			ferry_error_prefix(err, "manifest %s", desc->digest.str);
			return -1;
		}
		return 0;
	}
	if (kind != FERRY_DOC_INDEX)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: unsupported media type %s", desc->digest.str,
				       mt ? mt : desc->media_type ? desc->media_type : "(none)");
	out->is_index = true;
	if (ferry_index_parse(&out->index, out->bytes, out->len, err) < 0) {
		ferry_error_prefix(err, "index %s", desc->digest.str);
		return -1;
	}
	out->children = ferry_xcalloc(out->index.n_manifests ? out->index.n_manifests : 1, sizeof(ferry_image));
	for (size_t i = 0; i < out->index.n_manifests; i++) {
		const ferry_descriptor *cd = &out->index.manifests[i];
		/* Unknown things in an index (attestations, artifacts) are not images: skip them. */
		if (cd->media_type && !ferry_media_type_is_index(cd->media_type) &&
		    !ferry_media_type_is_manifest(cd->media_type))
			continue;
		if (ferry_image_load(tree, cd, &out->children[out->n_children], depth + 1, n_images, err) < 0) {
			ferry_image_free(&out->children[out->n_children]);
			ferry_error_prefix(err, "index %s", desc->digest.str);
			return -1;
		}
		out->n_children++;
	}
	return 0;
}

void ferry_source_free(ferry_source *src)
{
	if (!src)
		return;
	for (size_t i = 0; i < src->n_entries; i++)
		ferry_entry_free(&src->entries[i]);
	free(src->entries);
	free(src->expected);
	ferry_tree_free(src->tree);
	free(src->display);
	free(src);
}

/* ---- artifacts and referrers ---- */

/* "sha256-<64 hex>.sig" (or .att, .sbom): cosign's tag for an artifact about sha256:<hex>. */
bool ferry_cosign_tag_subject(const char *tag, ferry_digest *subject)
{
	static const char *const suffixes[] = {".sig", ".att", ".sbom"};
	if (!tag || strncmp(tag, "sha256-", 7) != 0)
		return false;
	const char *hex = tag + 7;
	size_t n = strspn(hex, "0123456789abcdef");
	if (n != 64)
		return false;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcmp(hex + n, suffixes[i]) == 0) {
			char s[7 + 64 + 1];
			snprintf(s, sizeof(s), "sha256:%.64s", hex);
			ferry_error ignored = FERRY_ERROR_INIT;
			return ferry_digest_parse(subject, s, &ignored) == 0;
		}
	}
	return false;
}

bool ferry_entry_is_artifact(const ferry_entry *e, ferry_digest *subject)
{
	for (size_t i = 0; i < e->n_names; i++) {
		const ferry_name *nm = &e->names[i];
		if (ferry_cosign_tag_subject(nm->has_ref ? nm->ref.tag : nm->bare_tag, subject))
			return true;
	}
	/* OCI 1.1: a manifest with a subject is a referrer of that subject. */
	const ferry_digest *d = ferry_image_subject(&e->img);
	if (d)
		*subject = *d;
	return d != NULL;
}

