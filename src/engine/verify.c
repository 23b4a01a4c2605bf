/*
 * verify.c - re-hash everything reachable in a location and report every
 * problem found, not only the first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "ferry.h"
#include "image.h"
#include "location.h"
#include "signatures.h"
#include "strmap.h"
#include "util.h"

typedef struct vjob {
	ferry_blob *blob;
	const char *image;
} vjob;

typedef struct verifier {
	ferry_problem_fn fn;
	ferry_problem_fn warn; /* NULL: warnings are dropped */
	ferry_problem_fn expected; /* a delta's blob expected from a base (NULL: dropped) */
	const ferry_source *src;
	bool strict;           /* warnings are problems */
	void *ud;
	size_t problems;
	vjob *jobs;
	size_t n_jobs, cap_jobs;
	ferry_strmap seen;
} verifier;

static void problem(verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(verifier *v, const char *fmt, ...)
{
	char msg[FERRY_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->problems++;
	if (v->fn)
		v->fn(msg, v->ud);
}

/*
 * A layer whose label and content disagree.  A plain tar labelled
 * compressed is what skopeo's --dest-oci-accept-uncompressed-layers writes
 * and what sniffing loaders read: a warning, unless strict.
 */
static void mislabelled(verifier *v, const char *image, const char *what, const char *mt, ferry_comp found)
{
	const char *is = found == FERRY_COMP_NONE ? "an uncompressed tar" : ferry_comp_name(found);
	if (found != FERRY_COMP_NONE || v->strict) {
		problem(v, "%s: layer %s is labelled %s but its content is %s", image, what, mt, is);
		return;
	}
	char msg[FERRY_ERROR_MSG_MAX];
	snprintf(msg, sizeof(msg),
		 "%s: layer %s is labelled %s but its content is %s (loaders that sniff read it; --strict makes "
		 "this an error)",
		 image, what, mt, is);
	if (v->warn)
		v->warn(msg, v->ud);
}

/* artifact: a signature or other referrer, whose "layers" are documents, not tars. */
static void collect(verifier *v, ferry_tree *tree, ferry_image *img, const char *label, bool artifact)
{
	if (img->is_index) {
		if (img->n_children == 0)
			problem(v, "%s: index %s lists no images", label, img->desc.digest.str);
		for (size_t i = 0; i < img->n_children; i++)
			collect(v, tree, &img->children[i], label, artifact);
		return;
	}
	artifact = artifact || img->is_artifact;
	if (img->bytes && !artifact) {
		const char *cmt = img->manifest.config.media_type;
		if (cmt && strcmp(cmt, FERRY_MT_OCI_CONFIG) != 0 && strcmp(cmt, FERRY_MT_DOCKER_CONFIG) != 0)
			problem(v, "%s: config %s has unexpected media type %s", label,
				img->manifest.config.digest.str, cmt);
	}
	for (size_t i = 0; i < img->n_layers; i++) {
		ferry_blob *b = &img->layers[i];
		if (!artifact && b->desc.media_type && !ferry_media_type_is_layer(b->desc.media_type))
			problem(v, "%s: layer %s has unexpected media type %s", label, b->desc.digest.str,
				b->desc.media_type);
		/* a symlinked copy of a layer is the same blob: hash it once */
		const char *key = ferry_tree_canonical(tree, b->path);
		if (ferry_strmap_has(&v->seen, key))
			continue;
		ferry_strmap_put(&v->seen, key, (void *)1);
		if (ferry_source_expects(v->src, &b->desc.digest, NULL) && !engine_tree_has(tree, b->path)) {
			/* A delta left it out: the far side (or a --base) has it. */
			if (v->expected) {
				char *msg = ferry_xasprintf("%s: layer %s (%llu bytes) expected from a base", label,
							    b->desc.digest.str, (unsigned long long)b->desc.size);
				v->expected(msg, v->ud);
				free(msg);
			}
			continue;
		}
		vjob *j = FERRY_PUSH(v->jobs, v->n_jobs, v->cap_jobs);
		j->blob = b;
		j->image = label;
	}
}

/* Hash a layer as stored and uncompressed; compare with its descriptor and diff_id. */
static void check_layer(verifier *v, vjob *j, ferry_istream *in, uint64_t size, unsigned char *buf)
{
	ferry_blob *b = j->blob;
	const char *what = ferry_digest_is_set(&b->desc.digest) ? b->desc.digest.str : b->path;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_ostream *diff = ferry_ostream_hash(FERRY_ALG_SHA256, NULL);
	/* Decompression is capped generously: verify must not be a bomb's victim either. */
	uint64_t cap = size * 1100 > (1ull << 30) ? size * 1100 : (1ull << 30);
	ferry_ostream *dec = ferry_ostream_decode(diff, cap);
	ferry_alg alg = ferry_digest_is_set(&b->desc.digest) ? b->desc.digest.alg : FERRY_ALG_SHA256;
	ferry_ostream *src = ferry_ostream_hash(alg, dec);
	int rc = 0;
	for (;;) {
		ssize_t n = ferry_read(in, buf, FERRY_IO_CHUNK, &err);
		if (n < 0) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		if (ferry_write(src, buf, (size_t)n, &err) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0)
		rc = ferry_finish(src, &err);
	if (rc < 0) {
		problem(v, "%s: layer %s: %s", j->image, what, err.msg);
	} else {
		ferry_digest sd, dd;
		uint64_t sn, dn;
		ferry_hash_result(src, &sd, &sn);
		ferry_hash_result(diff, &dd, &dn);
		if (b->size_known && sn != b->desc.size)
			problem(v, "%s: layer %s is %llu bytes, its descriptor says %llu", j->image, what,
				(unsigned long long)sn, (unsigned long long)b->desc.size);
		if (ferry_digest_is_set(&b->desc.digest) && !ferry_digest_eq(&sd, &b->desc.digest))
			problem(v, "%s: layer %s: content hashes to %s", j->image, what, sd.str);
		if (ferry_digest_is_set(&b->diff_id) && !ferry_digest_eq(&dd, &b->diff_id))
			problem(v, "%s: layer %s: uncompressed content hashes to %s, the config's diff_id is %s",
				j->image, what, dd.str, b->diff_id.str);
		ferry_comp found = ferry_decode_detected(dec);
		const char *mt = b->desc.media_type;
		if (mt && ferry_media_type_is_layer(mt)) {
			bool says_gzip = ferry_str_endswith(mt, "gzip"), says_zstd = ferry_str_endswith(mt, "zstd");
			ferry_comp said = says_gzip ? FERRY_COMP_GZIP : says_zstd ? FERRY_COMP_ZSTD : FERRY_COMP_NONE;
			if (said != found)
				mislabelled(v, j->image, what, mt, found);
		}
	}
	ferry_ostream_free(src);
	ferry_ostream_free(dec);
	ferry_ostream_free(diff);
}

int ferry_verify(const char *location, ferry_problem_fn fn, void *ud, size_t *n_problems, ferry_error *err)
{
	return ferry_verify_opts(location, NULL, fn, ud, n_problems, err);
}

int ferry_verify_opts(const char *location, const struct ferry_registry_opts *ropts, ferry_problem_fn fn, void *ud,
		      size_t *n_problems, ferry_error *err)
{
	return ferry_verify_full(location, ropts, false, fn, NULL, ud, n_problems, err);
}

int ferry_verify_full(const char *location, const struct ferry_registry_opts *ropts, bool strict, ferry_problem_fn fn,
		      ferry_problem_fn warn, void *ud, size_t *n_problems, ferry_error *err)
{
	return ferry_verify_bases(location, ropts, strict, NULL, 0, fn, warn, NULL, ud, n_problems, err);
}

int ferry_verify_bases(const char *location, const struct ferry_registry_opts *ropts, bool strict,
		       const char *const *bases, size_t n_bases, ferry_problem_fn fn, ferry_problem_fn warn,
		       ferry_problem_fn expected, void *ud, size_t *n_problems, ferry_error *err)
{
	*n_problems = 0;
	/* A volume set: every bad volume is named first, so that only those are copied again. */
	ferry_location loc;
	bool is_set = false;
	size_t n_bad = 0;
	if (ferry_location_parse_source(location, &loc, err) < 0)
		return -1;
	int vrc = loc.fmt == FERRY_FMT_REGISTRY || !strcmp(loc.path, "-")
			  ? 0
			  : ferry_volset_verify(loc.path, fn, ud, &n_bad, &is_set, err);
	ferry_location_free(&loc);
	if (vrc < 0)
		return -1;
	*n_problems = n_bad;
	ferry_source *src;
	if (ferry_source_open_opts(location, ropts, &src, err) < 0) {
		if (n_bad == 0)
			return -1;
		ferry_error_clear(err); /* the set cannot be read: its bad volumes say why */
		return 0;
	}
	ferry_convert_opts bo = {.bases = bases, .n_bases = n_bases, .registry_opts = ropts};
	if (ferry_source_require_images(src, err) < 0 || engine_attach_bases(src, &bo, err) < 0) {
		ferry_source_free(src);
		return -1;
	}
	verifier v = {.fn = fn, .warn = warn, .expected = expected, .src = src, .strict = strict, .ud = ud};
	char **labels = ferry_xcalloc(src->n_entries + 1, sizeof(char *));
	for (size_t i = 0; i < src->n_entries; i++) {
		ferry_entry *e = &src->entries[i];
		labels[i] = e->n_names ? ferry_name_string(&e->names[0])
				       : ferry_xasprintf("image %zu", i + 1);
		ferry_digest subject;
		collect(&v, src->tree, &e->img, labels[i], ferry_entry_is_artifact(e, &subject));
	}
	const char **paths = ferry_xcalloc(v.n_jobs + 1, sizeof(char *));
	size_t *idx = ferry_xcalloc(v.n_jobs + 1, sizeof(size_t));
	size_t n = v.n_jobs;
	for (size_t i = 0; i < n; i++) {
		paths[i] = v.jobs[i].blob->path;
		idx[i] = i;
	}
	src->tree->ops->want(src->tree, paths, n);
	unsigned char *buf = ferry_xmalloc(FERRY_IO_CHUNK);
	while (n > 0) {
		size_t which;
		ferry_istream *in;
		uint64_t size;
		ferry_error e2 = FERRY_ERROR_INIT;
		if (src->tree->ops->open_any(src->tree, paths, n, &which, &in, &size, &e2) < 0) {
			/* One missing blob must not hide the others: report it and go on. */
			problem(&v, "%s", e2.msg);
			if (e2.code != FERRY_E_NOTFOUND || src->tree->one_pass)
				break;
			which = 0;
			for (size_t k = 0; k < n; k++) {
				bool ex;
				uint64_t sz;
				ferry_error e3 = FERRY_ERROR_INIT;
				if (src->tree->ops->stat(src->tree, paths[k], false, &ex, &sz, &e3) == 0 && !ex) {
					which = k;
					break;
				}
			}
		} else {
			check_layer(&v, &v.jobs[idx[which]], in, size, buf);
			ferry_istream_close(in);
		}
		paths[which] = paths[n - 1];
		idx[which] = idx[n - 1];
		n--;
	}
	ferry_error e4 = FERRY_ERROR_INIT;
	if (src->tree->ops->finish(src->tree, &e4) < 0)
		problem(&v, "%s", e4.msg);
	free(buf);
	free(paths);
	free(idx);
	for (size_t i = 0; i < src->n_entries; i++)
		free(labels[i]);
	free(labels);
	free(v.jobs);
	ferry_strmap_free(&v.seen);
	ferry_source_free(src);
	*n_problems = n_bad + v.problems;
	return 0;
}
