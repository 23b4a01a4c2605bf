/*
 * transfer.c - building the transfer manifest (see transfer.h).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "transfer.h"
#include "util.h"
#include "volumes.h"

typedef struct tblob {
	char digest[FERRY_DIGEST_STRMAX];
	uint64_t size, start;
} tblob;

struct ferry_transfer {
	tblob *blobs, *expects;
	size_t n_blobs, cap_blobs, n_expects, cap_expects;
	json_t *images;
};

ferry_transfer *ferry_transfer_new(void)
{
	ferry_transfer *t = ferry_xcalloc(1, sizeof(*t));
	t->images = json_array();
	return t;
}

void ferry_transfer_free(ferry_transfer *t)
{
	if (!t)
		return;
	free(t->blobs);
	free(t->expects);
	json_decref(t->images);
	free(t);
}

void ferry_transfer_blob(ferry_transfer *t, const ferry_digest *d, uint64_t size, uint64_t start)
{
	tblob *b = FERRY_PUSH(t->blobs, t->n_blobs, t->cap_blobs);
	snprintf(b->digest, sizeof(b->digest), "%s", d->str);
	b->size = size;
	b->start = start;
}

void ferry_transfer_expect(ferry_transfer *t, const ferry_digest *d, uint64_t size)
{
	tblob *b = FERRY_PUSH(t->expects, t->n_expects, t->cap_expects);
	snprintf(b->digest, sizeof(b->digest), "%s", d->str);
	b->size = size;
	b->start = 0;
}

void ferry_transfer_images(ferry_transfer *t, const ferry_out_entry *oes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const ferry_out_entry *oe = &oes[i];
		json_t *o = json_object();
		json_object_set_new(o, "digest", json_string(oe->desc.digest.str));
		json_object_set_new(o, "mediaType", json_string(oe->desc.media_type ? oe->desc.media_type : ""));
		json_t *names = json_array();
		for (size_t k = 0; k < oe->n_names; k++) {
			char *s = ferry_name_string(&oe->names[k]);
			json_array_append_new(names, json_string(s));
			free(s);
		}
		json_object_set_new(o, "names", names);
		json_t *mans = json_array();
		for (size_t k = 0; k < oe->n_images; k++)
			json_array_append_new(mans, json_string(oe->images[k].manifest.digest.str));
		json_object_set_new(o, "manifests", mans);
		json_array_append_new(t->images, o);
	}
}

static int by_digest(const void *a, const void *b)
{
	return strcmp(((const tblob *)a)->digest, ((const tblob *)b)->digest);
}

static json_t *blob_list(tblob *bs, size_t n)
{
	if (n > 1)
		qsort(bs, n, sizeof(*bs), by_digest);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "digest", json_string(bs[i].digest));
		json_object_set_new(o, "size", json_integer((json_int_t)bs[i].size));
		json_array_append_new(a, o);
	}
	return a;
}

/* Volumes, each with the blobs whose bytes lie (partly) in it; t->blobs sorted by digest. */
static json_t *volume_list(ferry_transfer *t, const ferry_volume_info *vols, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		uint64_t vs = vols[i].start, ve = vols[i].start + vols[i].size;
		json_t *o = json_object(), *held = json_array();
		json_object_set_new(o, "name", json_string(vols[i].name));
		json_object_set_new(o, "size", json_integer((json_int_t)vols[i].size));
		json_object_set_new(o, "sha256", json_string(vols[i].sha256));
		for (size_t k = 0; k < t->n_blobs; k++) {
			const tblob *b = &t->blobs[k];
			bool in = b->size ? b->start < ve && b->start + b->size > vs : b->start >= vs && b->start < ve;
			if (in)
				json_array_append_new(held, json_string(b->digest));
		}
		json_object_set_new(o, "blobs", held);
		json_array_append_new(a, o);
	}
	return a;
}

char *ferry_transfer_dump(ferry_transfer *t, const char *name, const ferry_volume_info *vols, size_t n_vols,
			  size_t *len)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "ferryTransfer", json_integer(FERRY_TRANSFER_VERSION));
	json_object_set_new(doc, "archive", json_string(name));
	json_object_set(doc, "images", t->images);
	json_object_set_new(doc, "blobs", blob_list(t->blobs, t->n_blobs));
	json_object_set_new(doc, "volumes", volume_list(t, vols, n_vols));
	json_object_set_new(doc, "expects", blob_list(t->expects, t->n_expects));
	char *s = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(doc);
	char *out = ferry_xasprintf("%s\n", s);
	free(s);
	*len = strlen(out);
	return out;
}

char *ferry_transfer_path(const char *base)
{
	return ferry_xasprintf("%s.transfer.json", base);
}

char *ferry_transfer_sig_path(const char *base)
{
	return ferry_xasprintf("%s.transfer.sig", base);
}
