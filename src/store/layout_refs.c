#include "layout_refs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "ferry.h"
#include "model.h"
#include "pathlock.h"
#include "tmpname.h"
#include "tree.h"
#include "util.h"

#define WALK_DEPTH 64 /* JSON nesting followed inside one document */

typedef struct walk {
	ferry_strmap *refs;
	char **docs; /* documents still to read (paths in the layout) */
	size_t n_docs, cap_docs, n_read;
} walk;

/* A manifest or an index (OCI or Docker), whose descriptors lead further. */
static bool leads_further(const char *media_type)
{
	return media_type && (strstr(media_type, "manifest") || strstr(media_type, "index"));
}

/* Note every valid descriptor in v; queue the documents they name. */
static void collect(walk *w, json_t *v, int depth)
{
	if (depth > WALK_DEPTH)
		return;
	if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) collect(w, x, depth + 1);
		return;
	}
	if (!json_is_object(v))
		return;
	const char *ds = json_string_value(json_object_get(v, "digest"));
	ferry_digest d;
	ferry_error e = FERRY_ERROR_INIT;
	if (ds && ferry_digest_parse(&d, ds, &e) == 0 && !ferry_strmap_has(w->refs, d.str)) {
		ferry_strmap_put(w->refs, d.str, (void *)1);
		if (leads_further(json_string_value(json_object_get(v, "mediaType")))) {
			char **slot = FERRY_PUSH(w->docs, w->n_docs, w->cap_docs);
			*slot = ferry_xasprintf("blobs/%s/%s", ferry_alg_name(d.alg), ferry_digest_hex(&d));
		}
	}
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x) collect(w, x, depth + 1);
}

static int read_doc(walk *w, ferry_tree *t, const char *path, ferry_error *err)
{
	unsigned char *buf;
	size_t len;
	if (ferry_tree_read_all(t, path, FERRY_JSON_MAX, &buf, &len, err) < 0) {
		if (err->code != FERRY_E_NOTFOUND || strcmp(path, "index.json") == 0)
			return -1;
		ferry_error_clear(err); /* a missing blob: nothing to keep */
		return 0;
	}
	json_error_t je;
	json_t *doc = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	if (!doc)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s/%s: not JSON (%s)", t->display, path, je.text);
	collect(w, doc, 0);
	json_decref(doc);
	return 0;
}

int ferry_layout_referenced(const char *dir, ferry_strmap *refs, ferry_error *err)
{
	ferry_tree *t;
	if (ferry_tree_open_dir(dir, &t, err) < 0)
		return -1;
	walk w = {.refs = refs};
	int rc = read_doc(&w, t, "index.json", err);
	while (rc == 0 && w.n_docs > 0) {
		char *p = w.docs[--w.n_docs];
		if (++w.n_read > FERRY_REFS_DOCS_MAX)
			rc = ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %d manifests and indexes", dir,
					     FERRY_REFS_DOCS_MAX);
		else
			rc = read_doc(&w, t, p, err);
		free(p);
	}
	while (w.n_docs > 0)
		free(w.docs[--w.n_docs]);
	free(w.docs);
	ferry_tree_free(t);
	return rc;
}

/* Each blob file in dir's blobs/ that refs does not hold: fn(digest, size); remove it too when prune. */
static int each_unreferenced(const char *dir, const ferry_strmap *refs, bool prune, ferry_blob_fn fn, void *ud,
			     ferry_error *err)
{
	char *blobs = ferry_xasprintf("%s/blobs", dir);
	DIR *top = opendir(blobs);
	free(blobs);
	if (!top)
		return errno == ENOENT ? 0 : ferry_error_errno(err, errno, "cannot read %s/blobs", dir);
	int rc = 0;
	struct dirent *ae;
	while (rc == 0 && (ae = readdir(top))) {
		if (ae->d_name[0] == '.')
			continue;
		int afd = openat(dirfd(top), ae->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *alg = afd >= 0 ? fdopendir(afd) : NULL;
		if (!alg) {
			if (afd >= 0)
				close(afd);
			continue;
		}
		struct dirent *be;
		while (rc == 0 && (be = readdir(alg))) {
			char *ds = ferry_xasprintf("%s:%s", ae->d_name, be->d_name);
			ferry_digest d;
			ferry_error e = FERRY_ERROR_INIT;
			struct stat st;
			if (ferry_digest_parse(&d, ds, &e) == 0 && !ferry_strmap_has(refs, d.str) &&
			    fstatat(dirfd(alg), be->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
				if (prune && unlinkat(dirfd(alg), be->d_name, 0) < 0 && errno != ENOENT)
					rc = ferry_error_errno(err, errno, "cannot remove %s/blobs/%s/%s", dir, ae->d_name,
							       be->d_name);
				else if (fn)
					fn(d.str, (uint64_t)st.st_size, ud);
			}
			free(ds);
		}
		closedir(alg);
	}
	closedir(top);
	return rc;
}

static int layout_dir(const char *location, ferry_error *err)
{
	struct stat st;
	char *marker = ferry_xasprintf("%s/oci-layout", location);
	int rc = stat(location, &st) == 0 && S_ISDIR(st.st_mode) && access(marker, F_OK) == 0 ? 0 : -1;
	free(marker);
	if (rc < 0)
		ferry_error_set(err, FERRY_E_USAGE, "%s is not an OCI layout directory (only layouts keep blobs nothing names)",
				location);
	return rc;
}

static int unreferenced(const char *location, bool prune, ferry_blob_fn fn, void *ud, ferry_error *err)
{
	if (layout_dir(location, err) < 0)
		return -1;
	ferry_strmap refs = {0};
	int rc = ferry_layout_referenced(location, &refs, err);
	if (rc == 0)
		rc = each_unreferenced(location, &refs, prune, fn, ud, err);
	ferry_strmap_free(&refs);
	return rc;
}

/* A layout location as the user gave it: "oci:DIR" or "DIR". */
static const char *layout_path(const char *location)
{
	return strncmp(location, "oci:", 4) == 0 ? location + 4 : location;
}

int ferry_unreferenced(const char *location, ferry_blob_fn fn, void *ud, ferry_error *err)
{
	return unreferenced(layout_path(location), false, fn, ud, err);
}

int ferry_prune(const char *location_s, bool dry_run, ferry_blob_fn fn, void *ud, ferry_error *err)
{
	const char *location = layout_path(location_s);
	if (dry_run)
		return unreferenced(location, false, fn, ud, err);
	if (layout_dir(location, err) < 0)
		return -1;
	int lock;
	if (ferry_path_lock(location, &lock, err) < 0)
		return -1;
	/* Under the lock: no writer is between adding blobs and naming them in index.json. */
	char *blobs = ferry_xasprintf("%s/blobs", location);
	ferry_tmp_sweep(blobs, "blob");
	free(blobs);
	ferry_tmp_sweep(location, NULL);
	int rc = unreferenced(location, true, fn, ud, err);
	close(lock);
	return rc;
}
