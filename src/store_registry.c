#include "store_registry.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "ferry.h"
#include "model.h"
#include "strmap.h"
#include "util.h"

typedef struct reg_dest {
	char *domain;
	char *staging; /* repository blobs are uploaded to */
	ferry_registry *reg;
	ferry_upload *up; /* the blob being written */
	ferry_ostream *up_out;
	ferry_strmap present; /* "repo digest" -> 1: known to be in that repository */
} reg_dest;

typedef struct man {
	char *media_type;
	unsigned char *bytes;
	size_t len;
} man;

typedef struct reg_store {
	ferry_store base;
	reg_dest *dests;
	size_t n_dests;
	ferry_strmap manifests; /* digest -> man* */
	ferry_blobcache *cache; /* borrowed */
	ferry_ostream tee;      /* fans a blob out to every registry's upload */
	const ferry_registry_opts *opts;
	/*
	 * The first failure to reach a registry at all: later checks answer from
	 * it at once instead of retrying the network for every blob.
	 */
	bool down;
	ferry_error down_err;
	bool upload_failed; /* the last blob's upload broke: worth one more try from scratch */
} reg_store;

static char *pkey(const char *repo, const ferry_digest *d)
{
	return ferry_xasprintf("%s %s", repo, d->str);
}

static bool known(reg_dest *rd, const char *repo, const ferry_digest *d)
{
	char *k = pkey(repo, d);
	bool has = ferry_strmap_has(&rd->present, k);
	free(k);
	return has;
}

static void mark(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d)
{
	char *k = pkey(repo, d);
	ferry_strmap_put(&rd->present, k, (void *)1);
	free(k);
	if (rs->cache)
		ferry_blobcache_put_location(rs->cache, rd->domain, repo, d);
}

static void report(reg_store *rs, ferry_event_kind kind, const ferry_digest *d, const char *a, const char *b)
{
	if (!rs->base.on_event)
		return;
	char msg[512];
	snprintf(msg, sizeof(msg), "%s%s%s", a, b ? " " : "", b ? b : "");
	ferry_event ev = {.kind = kind, .digest = d, .message = msg, .name = kind == FERRY_EV_MANIFEST_PUSHED ? msg : NULL};
	rs->base.on_event(&ev, rs->base.event_ud);
}

/*
 * Make sure repo of rd has blob d: known, HEAD, mount from where it was seen
 * (this run's staging repository or the cache), else copy it across.
 * *have false (and 0 returned) when it is nowhere to be found.
 */
static int ensure_blob(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d, bool *have,
		       ferry_error *err)
{
	*have = true;
	if (known(rd, repo, d))
		return 0;
	bool exists;
	uint64_t size;
	if (ferry_registry_blob_exists(rd->reg, repo, d, &exists, &size, err) < 0)
		return -1;
	if (exists) {
		mark(rs, rd, repo, d);
		return 0;
	}
	const char *from = NULL;
	if (strcmp(repo, rd->staging) != 0 && known(rd, rd->staging, d))
		from = rd->staging;
	else if (rs->cache)
		from = ferry_blobcache_location(rs->cache, rd->domain, d);
	if (from && strcmp(from, repo) != 0) {
		char *src = ferry_xstrdup(from);
		bool mounted = false;
		int rc = ferry_registry_blob_mount(rd->reg, repo, d, src, &mounted, err);
		if (rc == 0 && mounted) {
			mark(rs, rd, repo, d);
			report(rs, FERRY_EV_BLOB_MOUNTED, d, src, repo);
			free(src);
			return 0;
		}
		if (rc < 0) {
			free(src);
			return -1;
		}
		/* The registry would not mount: copy the blob through us, registry to registry. */
		bool src_has = false;
		if (ferry_registry_blob_exists(rd->reg, src, d, &src_has, &size, err) < 0) {
			free(src);
			return -1;
		}
		if (src_has) {
			ferry_istream *in;
			ferry_upload *up;
			ferry_ostream *out;
			rc = ferry_registry_blob_open(rd->reg, src, d, &in, &size, err);
			if (rc == 0) {
				rc = ferry_registry_upload_begin(rd->reg, repo, &up, &out, err);
				if (rc == 0) {
					rc = ferry_pump(in, out, err);
					if (rc == 0)
						rc = ferry_registry_upload_finish(up, d, err);
					else
						ferry_registry_upload_abort(up);
				}
				ferry_istream_close(in);
			}
			free(src);
			if (rc == 0)
				mark(rs, rd, repo, d);
			return rc;
		}
		free(src);
	}
	*have = false;
	return 0;
}

static reg_dest *dest_of(reg_store *rs, const char *domain)
{
	for (size_t i = 0; i < rs->n_dests; i++) {
		if (strcmp(rs->dests[i].domain, domain) == 0)
			return &rs->dests[i];
	}
	return NULL;
}

static bool rs_has_blob(ferry_store *s, const ferry_digest *d)
{
	reg_store *rs = (reg_store *)s;
	if (rs->down)
		return false;
	for (size_t i = 0; i < rs->n_dests; i++) {
		reg_dest *rd = &rs->dests[i];
		bool have = false;
		ferry_error e = FERRY_ERROR_INIT;
		/* A failed check is a "no": the blob is then simply sent (and that failure reported). */
		if (ensure_blob(rs, rd, rd->staging, d, &have, &e) < 0) {
			if (e.code == FERRY_E_FAILED) { /* could not talk to it at all */
				rs->down = true;
				rs->down_err = e;
			}
			return false;
		}
		if (!have)
			return false;
	}
	return true;
}

static bool rs_retryable(ferry_store *s)
{
	reg_store *rs = (reg_store *)s;
	return rs->upload_failed && !rs->down;
}

static int tee_write(ferry_ostream *o, const void *buf, size_t len, ferry_error *err)
{
	reg_store *rs = (reg_store *)((char *)o - offsetof(reg_store, tee));
	for (size_t i = 0; i < rs->n_dests; i++) {
		if (ferry_write(rs->dests[i].up_out, buf, len, err) < 0) {
			rs->upload_failed = true;
			ferry_error_prefix(err, "%s", rs->dests[i].domain);
			return -1;
		}
	}
	return 0;
}

static int tee_finish(ferry_ostream *o, ferry_error *err)
{
	(void)o, (void)err;
	return 0; /* each upload is completed in blob_end, once the digest is known */
}

static void tee_free(ferry_ostream *o)
{
	(void)o;
}

static void abort_uploads(reg_store *rs)
{
	for (size_t i = 0; i < rs->n_dests; i++) {
		if (rs->dests[i].up)
			ferry_registry_upload_abort(rs->dests[i].up);
		rs->dests[i].up = NULL;
		rs->dests[i].up_out = NULL;
	}
}

static int rs_blob_begin(ferry_store *s, const ferry_digest *expect, int64_t size, ferry_ostream **out,
			 ferry_error *err)
{
	(void)expect, (void)size;
	reg_store *rs = (reg_store *)s;
	abort_uploads(rs);
	rs->upload_failed = false;
	if (rs->down) {
		if (err)
			*err = rs->down_err;
		return -1;
	}
	for (size_t i = 0; i < rs->n_dests; i++) {
		reg_dest *rd = &rs->dests[i];
		if (ferry_registry_upload_begin(rd->reg, rd->staging, &rd->up, &rd->up_out, err) < 0) {
			rd->up = NULL;
			abort_uploads(rs);
			return -1;
		}
	}
	*out = &rs->tee;
	return 0;
}

static int rs_blob_end(ferry_store *s, bool ok, const ferry_digest *actual, uint64_t size, ferry_error *err)
{
	(void)size;
	reg_store *rs = (reg_store *)s;
	if (!ok) {
		abort_uploads(rs);
		return 0;
	}
	int rc = 0;
	for (size_t i = 0; i < rs->n_dests; i++) {
		reg_dest *rd = &rs->dests[i];
		ferry_upload *up = rd->up;
		rd->up = NULL;
		rd->up_out = NULL;
		if (!up)
			continue;
		if (rc < 0) {
			ferry_registry_upload_abort(up);
		} else if (ferry_registry_upload_finish(up, actual, err) < 0) {
			if (err && err->code != FERRY_E_INTEGRITY)
				rs->upload_failed = true;
			ferry_error_prefix(err, "%s", rd->domain);
			rc = -1;
		} else {
			mark(rs, rd, rd->staging, actual);
		}
	}
	return rc;
}

static int rs_put_file(ferry_store *s, const char *name, const void *buf, size_t len, ferry_error *err)
{
	(void)s, (void)name, (void)buf, (void)len, (void)err;
	return 0; /* a registry has no index.json: names are pushed as tags */
}

static int rs_put_manifest(ferry_store *s, const ferry_digest *d, const char *media_type, const void *buf,
			   size_t len, ferry_error *err)
{
	(void)err;
	reg_store *rs = (reg_store *)s;
	if (ferry_strmap_has(&rs->manifests, d->str))
		return 0;
	man *m = ferry_xcalloc(1, sizeof(*m));
	m->media_type = ferry_xstrdup(media_type);
	m->bytes = ferry_xmalloc(len ? len : 1);
	memcpy(m->bytes, buf, len);
	m->len = len;
	ferry_strmap_put(&rs->manifests, d->str, m);
	return 0;
}

static int rs_read_existing(ferry_store *s, const char *name, unsigned char **buf, size_t *len,
			    ferry_error *err)
{
	(void)s, (void)buf, (void)len;
	return ferry_error_set(err, FERRY_E_NOTFOUND, "no %s", name);
}

static int rs_commit(ferry_store *s, ferry_error *err)
{
	(void)s, (void)err;
	return 0;
}

static void rs_free(ferry_store *s)
{
	reg_store *rs = (reg_store *)s;
	abort_uploads(rs);
	for (size_t i = 0; i < rs->n_dests; i++) {
		free(rs->dests[i].domain);
		free(rs->dests[i].staging);
		ferry_registry_free(rs->dests[i].reg);
		ferry_strmap_free(&rs->dests[i].present);
	}
	free(rs->dests);
	for (size_t i = 0; i < rs->manifests.cap; i++) {
		man *m = rs->manifests.vals[i];
		if (rs->manifests.keys[i] && m) {
			free(m->media_type);
			free(m->bytes);
			free(m);
		}
	}
	ferry_strmap_free(&rs->manifests);
	free(s->display);
	free(rs);
}

static const ferry_store_ops reg_store_ops = {
	.has_blob = rs_has_blob,
	.blob_begin = rs_blob_begin,
	.blob_end = rs_blob_end,
	.put_file = rs_put_file,
	.put_manifest = rs_put_manifest,
	.retryable = rs_retryable,
	.read_existing = rs_read_existing,
	.commit = rs_commit,
	.free = rs_free,
};

/* Push one manifest (by digest or tag) to repo, once. */
static int push_manifest(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d, const char *tag,
			 ferry_error *err)
{
	man *m = ferry_strmap_get(&rs->manifests, d->str);
	if (!m)
		return ferry_error_set(err, FERRY_E_FAILED, "internal: manifest %s was not kept", d->str);
	char *k = ferry_xasprintf("M %s %s %s", repo, d->str, tag ? tag : "");
	bool done = ferry_strmap_has(&rd->present, k);
	int rc = 0;
	if (!done) {
		rc = ferry_registry_manifest_put(rd->reg, repo, tag ? tag : d->str, m->media_type, m->bytes, m->len, err);
		if (rc == 0) {
			ferry_strmap_put(&rd->present, k, (void *)1);
			char *where = ferry_xasprintf("%s/%s%s%s", rd->domain, repo, tag ? ":" : "@", tag ? tag : d->str);
			report(rs, FERRY_EV_MANIFEST_PUSHED, d, where, NULL);
			free(where);
		}
	}
	free(k);
	return rc;
}

/* A manifest after its children (an index's manifests, nested indexes included), children by digest. */
static int push_tree(reg_store *rs, reg_dest *rd, const char *repo, const ferry_digest *d, const char *tag,
		     int depth, ferry_error *err)
{
	man *m = ferry_strmap_get(&rs->manifests, d->str);
	if (m && depth < 16 && ferry_media_type_is_index(m->media_type)) {
		ferry_index ix;
		if (ferry_index_parse(&ix, m->bytes, m->len, err) < 0)
			return -1;
		int rc = 0;
		for (size_t i = 0; i < ix.n_manifests && rc == 0; i++) {
			/* Children ferry did not write (skipped artifacts) are not ours to push. */
			if (ferry_strmap_has(&rs->manifests, ix.manifests[i].digest.str))
				rc = push_tree(rs, rd, repo, &ix.manifests[i].digest, NULL, depth + 1, err);
		}
		ferry_index_free(&ix);
		if (rc < 0)
			return -1;
	}
	return push_manifest(rs, rd, repo, d, tag, err);
}

/* Blobs and child manifests of one entry into repo, then the entry under tag. */
static int publish_one(reg_store *rs, reg_dest *rd, const char *repo, const char *tag, const ferry_out_entry *e,
		       ferry_error *err)
{
	for (size_t i = 0; i < e->n_images; i++) {
		const ferry_out_image *im = &e->images[i];
		for (size_t j = 0; j <= im->n_layers; j++) {
			const ferry_digest *d = j < im->n_layers ? &im->layers[j] : &im->config;
			bool have;
			if (ensure_blob(rs, rd, repo, d, &have, err) < 0)
				return -1;
			if (!have)
				return ferry_error_set(err, FERRY_E_FAILED, "%s/%s: blob %s is missing and could not be sent",
						       rd->domain, repo, d->str);
		}
	}
	return push_tree(rs, rd, repo, &e->desc.digest, tag, 0, err);
}

int ferry_store_registry_publish(ferry_store *s, const ferry_out_entry *entries, size_t n, ferry_error *err)
{
	reg_store *rs = (reg_store *)s;
	for (size_t i = 0; i < n; i++) {
		const ferry_out_entry *e = &entries[i];
		for (size_t k = 0; k < e->n_names; k++) {
			const ferry_name *nm = &e->names[k];
			if (!nm->has_ref)
				return ferry_error_set(err, FERRY_E_USAGE,
						       "an image named only by the tag \"%s\" has no repository to push to "
						       "(give it one with --repository NAME)",
						       nm->bare_tag);
			reg_dest *rd = dest_of(rs, nm->ref.domain);
			if (!rd)
				return ferry_error_set(err, FERRY_E_FAILED, "internal: no connection to %s", nm->ref.domain);
			char *full = ferry_ref_string(&nm->ref);
			int rc = publish_one(rs, rd, nm->ref.path, nm->ref.tag, e, err);
			if (rc < 0)
				ferry_error_prefix(err, "pushing %s", full);
			free(full);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

int ferry_store_open_registry(const ferry_registry_opts *opts, const ferry_name *names, size_t n,
			      ferry_blobcache *cache, ferry_store **out, ferry_error *err)
{
	*out = NULL;
	reg_store *rs = ferry_xcalloc(1, sizeof(*rs));
	rs->base.ops = &reg_store_ops;
	rs->base.display = ferry_xstrdup("registry");
	rs->base.remote = true;
	rs->cache = cache;
	rs->opts = opts;
	rs->tee.write = tee_write;
	rs->tee.finish = tee_finish;
	rs->tee.free = tee_free;
	for (size_t i = 0; i < n; i++) {
		if (!names[i].has_ref || dest_of(rs, names[i].ref.domain))
			continue;
		rs->dests = ferry_xrealloc(rs->dests, (rs->n_dests + 1) * sizeof(*rs->dests));
		reg_dest *rd = &rs->dests[rs->n_dests];
		memset(rd, 0, sizeof(*rd));
		if (ferry_registry_open(names[i].ref.domain, opts, &rd->reg, err) < 0) {
			rs_free(&rs->base);
			return -1;
		}
		rd->domain = ferry_xstrdup(names[i].ref.domain);
		rd->staging = ferry_xstrdup(names[i].ref.path);
		rs->n_dests++;
	}
	if (rs->n_dests == 0) {
		rs_free(&rs->base);
		return ferry_error_set(err, FERRY_E_USAGE, "nothing to push: no image has a name with a registry");
	}
	*out = &rs->base;
	return 0;
}
