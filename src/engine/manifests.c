/*
 * manifests.c - configs, manifests and indexes: copied byte for byte where possible, rebuilt otherwise.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

/* A config (or a manifest, for stores that keep them as blobs) from memory, counted if it went in. */
static int put_bytes_blob(engine *E, const ferry_digest *d, const void *buf, size_t len, ferry_error *err)
{
	bool written;
	if (ferry_store_put_bytes(E->store, d, buf, len, &written, err) < 0)
		return -1;
	if (written)
		engine_count_doc(E);
	return 0;
}

static void add_out_image(ferry_out_entry *oe, const ferry_descriptor *mdesc, const ferry_image *img,
			  const ferry_descriptor *layers)
{
	ferry_out_image *oi = FERRY_PUSH(oe->images, oe->n_images, oe->cap_images);
	memset(oi, 0, sizeof(*oi));
	ferry_descriptor_copy(&oi->manifest, mdesc);
	oi->config = img->config.desc.digest;
	oi->n_layers = img->n_layers;
	oi->layers = ferry_xcalloc(img->n_layers ? img->n_layers : 1, sizeof(ferry_digest));
	for (size_t i = 0; i < img->n_layers; i++)
		oi->layers[i] = layers[i].digest;
}

static int write_doc(engine *E, const char *label, const ferry_descriptor *src_desc, const unsigned char *bytes,
		     size_t len, const char *mt, ferry_descriptor *out, ferry_error *err)
{
	ferry_descriptor_copy(out, src_desc);
	free(out->media_type);
	out->media_type = ferry_xstrdup(mt);
	ferry_digest_buffer(FERRY_ALG_SHA256, bytes, len, &out->digest);
	out->size = len;
	bool written;
	if (ferry_store_put_manifest(E->store, &out->digest, mt, bytes, len, &written, err) < 0) {
		ferry_error_prefix(err, "%s: writing manifest", label);
		return -1;
	}
	if (written)
		engine_count_doc(E);
	return 0;
}

/* An index: its children first, then its own bytes as they were if nothing under it changed. */
static int write_index(engine *E, const char *label, ferry_image *img, ferry_out_entry *oe, ferry_descriptor *out,
		       ferry_error *err)
{
	ferry_index ix = {0};
	ix.media_type = ferry_xstrdup(E->o->docker_manifests ? FERRY_MT_DOCKER_LIST : FERRY_MT_OCI_INDEX);
	ix.n_manifests = img->n_children;
	ix.manifests = ferry_xcalloc(img->n_children ? img->n_children : 1, sizeof(ferry_descriptor));
	ix.annotations = img->index.annotations ? json_incref(img->index.annotations) : NULL;
	bool same = img->bytes != NULL;
	for (size_t i = 0; i < img->n_children; i++) {
		if (engine_write_image(E, label, &img->children[i], oe, &ix.manifests[i], err) < 0) {
			ferry_index_free(&ix);
			return -1;
		}
		same = same && ferry_digest_eq(&ix.manifests[i].digest, &img->children[i].desc.digest);
	}
	/* A full index whose children are unchanged and that skipped nothing keeps its bytes. */
	same = same && img->n_children == img->index.n_manifests;
	int rc;
	if (same) {
		rc = write_doc(E, label, &img->desc, img->bytes, img->len,
			       img->desc.media_type ? img->desc.media_type : img->index.media_type, out, err);
	} else {
		char *s;
		size_t len;
		ferry_index_serialize(&ix, &s, &len, err);
		rc = write_doc(E, label, &img->desc, (unsigned char *)s, len, ix.media_type, out, err);
		free(s);
	}
	ferry_index_free(&ix);
	return rc;
}

/* A manifest built anew for layers as written (layers: their descriptors, media types set here). */
static int rebuild_manifest(engine *E, const char *label, ferry_image *img, ferry_descriptor *layers,
			    ferry_descriptor *out, ferry_error *err)
{
	bool docker = E->o->docker_manifests;
	ferry_manifest m = {0};
	m.media_type = ferry_xstrdup(docker ? FERRY_MT_DOCKER_MANIFEST : FERRY_MT_OCI_MANIFEST);
	ferry_descriptor_copy(&m.config, &img->config.desc);
	free(m.config.media_type);
	m.config.media_type = ferry_xstrdup(docker ? FERRY_MT_DOCKER_CONFIG : FERRY_MT_OCI_CONFIG);
	m.n_layers = img->n_layers;
	m.layers = layers;
	m.annotations = img->manifest.annotations ? json_incref(img->manifest.annotations) : NULL;
	int rc = 0;
	for (size_t i = 0; i < img->n_layers && rc == 0; i++) {
		layer_job *j = engine_job_of(E, &img->layers[i]);
		if (docker && j->comp == FERRY_COMP_ZSTD)
			rc = ferry_error_set(err, FERRY_E_USAGE, "%s: Docker schema 2 manifests cannot describe zstd layers",
					     label);
		free(layers[i].media_type);
		layers[i].media_type = ferry_xstrdup(engine_layer_mt(j->comp, docker));
	}
	if (rc == 0) {
		char *s;
		size_t len;
		ferry_manifest_serialize(&m, &s, &len, err);
		rc = write_doc(E, label, &img->desc, (unsigned char *)s, len, m.media_type, out, err);
		free(s);
	}
	m.layers = NULL; /* borrowed from layers[] */
	m.n_layers = 0;
	ferry_manifest_free(&m);
	return rc;
}

int engine_write_image(engine *E, const char *label, ferry_image *img, ferry_out_entry *oe, ferry_descriptor *out,
		       ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	if (img->is_index)
		return write_index(E, label, img, oe, out, err);
	/* The config: bytes never change, so the image ID stays the same. */
	if (put_bytes_blob(E, &img->config.desc.digest, img->config_bytes, img->config_len, err) < 0) {
		ferry_error_prefix(err, "%s: writing config", label);
		return -1;
	}
	ferry_descriptor *layers = ferry_xcalloc(img->n_layers ? img->n_layers : 1, sizeof(*layers));
	/* An artifact is carried as it is: docker manifests cannot describe it. */
	bool keep = img->bytes != NULL && (img->is_artifact || !(E->o->docker_manifests &&
							 strcmp(img->manifest.media_type, FERRY_MT_DOCKER_MANIFEST) != 0));
	for (size_t i = 0; i < img->n_layers; i++) {
		layer_job *j = engine_job_of(E, &img->layers[i]);
		ferry_descriptor_copy(&layers[i], &j->out);
		if (j->transformed || !ferry_digest_eq(&j->out.digest, &img->layers[i].desc.digest))
			keep = false;
	}
	int rc = keep ? write_doc(E, label, &img->desc, img->bytes, img->len, img->manifest.media_type, out, err)
		      : rebuild_manifest(E, label, img, layers, out, err);
	if (rc == 0) {
		/* Carry the platform, so index and docker writers can use it. */
		const ferry_platform *p = ferry_image_platform(img);
		if (p && !out->platform) {
			out->platform = ferry_xcalloc(1, sizeof(*out->platform));
			ferry_platform_copy(out->platform, p);
		}
		add_out_image(oe, out, img, layers);
		engine_count_image(E, label, &out->digest, img->config.desc.digest.str);
	}
	for (size_t i = 0; i < img->n_layers; i++)
		ferry_descriptor_free(&layers[i]);
	free(layers);
	return rc;
}
