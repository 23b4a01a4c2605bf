/*
 * signatures.c - which images of a source carry a good cosign signature.
 *
 * Nothing here touches the network: the signatures are the ones the source
 * holds (carried with their images), and the keys are files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "location.h"
#include "signatures.h"
#include "strmap.h"
#include "util.h"

/* ---- one signature layer ---- */

/* The payload must be a cosign simple-signing document naming want. */
static int check_payload(const unsigned char *buf, size_t len, const ferry_digest *want, ferry_error *err)
{
	json_t *doc = NULL;
	if (ferry_json_parse(buf, len, "signature payload", &doc, err) < 0)
		return -1;
	json_t *critical = json_object_get(doc, "critical");
	json_t *image = json_is_object(critical) ? json_object_get(critical, "image") : NULL;
	const char *type = json_is_object(critical) ? ferry_json_str(critical, "type") : NULL;
	const char *named = json_is_object(image) ? ferry_json_str(image, "docker-manifest-digest") : NULL;
	int rc = 0;
	if (!type || strcmp(type, "cosign container image signature") != 0)
		rc = ferry_error_set(err, FERRY_E_FORMAT, "payload is not a cosign container image signature");
	else if (!named)
		rc = ferry_error_set(err, FERRY_E_FORMAT, "payload names no critical.image.docker-manifest-digest");
	else if (strcmp(named, want->str) != 0)
		rc = ferry_error_set(err, FERRY_E_INTEGRITY, "payload signs %.80s, not %s", named, want->str);
	json_decref(doc);
	return rc;
}

/*
 * One layer of a signature image: read its payload (bounded), check that it
 * names want, and try each key.  *key is the key that verified it; a layer
 * that does not verify fills err with why.
 */
static int check_layer(ferry_tree *tree, const ferry_blob *layer, const ferry_digest *want, ferry_pkey *const *keys,
		       size_t n_keys, const ferry_pkey **key, ferry_error *err)
{
	*key = NULL;
	const char *b64 = ferry_descriptor_annotation(&layer->desc, FERRY_ANN_COSIGN_SIGNATURE);
	if (!b64)
		return ferry_error_set(err, FERRY_E_FORMAT, "layer %s carries no %s annotation", layer->desc.digest.str,
				       FERRY_ANN_COSIGN_SIGNATURE);
	if (strlen(b64) > FERRY_SIG_B64_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "signature of layer %s is over %u characters of base64",
				       layer->desc.digest.str, FERRY_SIG_B64_MAX);
	if (layer->desc.size > FERRY_SIG_PAYLOAD_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "payload %s is %llu bytes, over the byte limit of %u",
				       layer->desc.digest.str, (unsigned long long)layer->desc.size, FERRY_SIG_PAYLOAD_MAX);
	size_t sig_len = 0;
	unsigned char *sig = ferry_base64_decode(b64, &sig_len);
	if (!sig)
		return ferry_error_set(err, FERRY_E_FORMAT, "signature of layer %s is not base64", layer->desc.digest.str);
	unsigned char *payload = NULL;
	size_t len = 0;
	ferry_digest actual;
	int rc = ferry_read_verified(tree, layer->path, &layer->desc, true, &payload, &len, &actual, err);
	if (rc == 0)
		rc = check_payload(payload, len, want, err);
	for (size_t k = 0; rc == 0 && k < n_keys && !*key; k++) {
		bool good = false;
		rc = ferry_pkey_verify(keys[k], payload, len, sig, sig_len, &good, err);
		if (good)
			*key = keys[k];
	}
	if (rc == 0 && !*key)
		rc = ferry_error_set(err, FERRY_E_INTEGRITY, "signature does not verify with %s",
				     n_keys == 1 ? ferry_pkey_path(keys[0]) : "any of the given keys");
	free(payload);
	free(sig);
	return rc;
}

/* ---- the whole source ---- */

/* The artifacts about one digest: indexes into src->entries, chained. */
typedef struct sig_list {
	size_t entry;
	struct sig_list *next;
} sig_list;

/* Index every artifact entry by the digest it is about (nodes[i] is entry i's). */
static void index_artifacts(ferry_source *src, ferry_strmap *by_subject, sig_list *nodes, bool *is_artifact)
{
	for (size_t i = 0; i < src->n_entries; i++) {
		ferry_digest subject;
		if (!ferry_entry_is_artifact(&src->entries[i], &subject))
			continue;
		is_artifact[i] = true;
		sig_list *l = &nodes[i];
		l->entry = i;
		l->next = ferry_strmap_get(by_subject, subject.str);
		ferry_strmap_put(by_subject, subject.str, l);
	}
}

/* The verdict for one image: the first good signature wins, else the first reason none counts. */
static void judge(ferry_source *src, const sig_list *sigs, const ferry_digest *d, ferry_pkey *const *keys,
		  size_t n_keys, ferry_sig_result *r, char *why, size_t why_len)
{
	r->status = FERRY_SIG_UNSIGNED;
	for (const sig_list *l = sigs; l; l = l->next) {
		const ferry_image *sig = &src->entries[l->entry].img;
		for (size_t i = 0; !sig->is_index && i < sig->n_layers; i++) {
			const ferry_blob *layer = &sig->layers[i];
			if (!layer->desc.media_type || strcmp(layer->desc.media_type, FERRY_MT_COSIGN_PAYLOAD) != 0)
				continue;
			r->n_signatures++;
			const ferry_pkey *key = NULL;
			ferry_error lerr = FERRY_ERROR_INIT;
			if (check_layer(src->tree, layer, d, keys, n_keys, &key, &lerr) == 0) {
				r->status = FERRY_SIG_SIGNED;
				r->key = ferry_pkey_path(key);
				return;
			}
			if (r->status != FERRY_SIG_BAD) {
				r->status = FERRY_SIG_BAD;
				snprintf(why, why_len, "%s", lerr.msg);
				r->problem = why;
			}
		}
	}
}

void ferry_source_check_signatures(ferry_source *src, ferry_pkey *const *keys, size_t n_keys, ferry_sig_fn fn,
				   void *ud, size_t *n_unverified)
{
	*n_unverified = 0;
	ferry_strmap by_subject = {0};
	size_t n = src->n_entries ? src->n_entries : 1;
	bool *is_artifact = ferry_xcalloc(n, sizeof(*is_artifact));
	sig_list *nodes = ferry_xcalloc(n, sizeof(*nodes));
	index_artifacts(src, &by_subject, nodes, is_artifact);
	for (size_t i = 0; i < src->n_entries; i++) {
		if (is_artifact[i])
			continue;
		ferry_entry *e = &src->entries[i];
		char *label = e->n_names ? ferry_name_string(&e->names[0]) : ferry_xstrdup(e->img.desc.digest.str);
		char why[FERRY_ERROR_MSG_MAX];
		ferry_sig_result r = {.image = label, .digest = &e->img.desc.digest};
		judge(src, ferry_strmap_get(&by_subject, e->img.desc.digest.str), &e->img.desc.digest, keys, n_keys,
		      &r, why, sizeof(why));
		if (r.status != FERRY_SIG_SIGNED)
			(*n_unverified)++;
		if (fn)
			fn(&r, ud);
		free(label);
	}
	ferry_strmap_free(&by_subject);
	free(nodes);
	free(is_artifact);
}

/* ---- the public entry point ---- */

int ferry_verify_signatures(const char *location, const struct ferry_registry_opts *ropts,
			    const char *const *key_paths, size_t n_keys, ferry_sig_fn fn, void *ud,
			    size_t *n_unverified, ferry_error *err)
{
	*n_unverified = 0;
	if (n_keys == 0)
		return ferry_error_set(err, FERRY_E_USAGE, "checking signatures needs at least one key");
	ferry_pkey **keys = ferry_xcalloc(n_keys, sizeof(*keys));
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n_keys; i++)
		rc = ferry_pkey_load_public(key_paths[i], &keys[i], err);
	ferry_source *src = NULL;
	if (rc == 0)
		rc = ferry_source_open_opts(location, ropts, &src, err);
	if (rc == 0)
		ferry_source_check_signatures(src, keys, n_keys, fn, ud, n_unverified);
	ferry_source_free(src);
	for (size_t i = 0; i < n_keys; i++)
		ferry_pkey_free(keys[i]);
	free(keys);
	return rc;
}
