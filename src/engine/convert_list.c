/*
 * convert_list.c - ferry_convert_list: every image of a list, in one run.
 *
 * Each entry is resolved against its registry first (tags listed and
 * selected for regex, semver and every-tag entries; each reference turned
 * into a manifest digest), one registry connection per registry and
 * settings.  The resolved images become one source, a tree made of their
 * registry trees (tree_multi.c), and that source goes through the engine
 * once: a layer shared by many images is one blob path, fetched and
 * written once, and a destination layout that already holds a blob (an
 * earlier run killed half way) is not sent it again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"
#include "list.h"
#include "ref.h"
#include "registry.h"
#include "tree_multi.h"
#include "tree_registry.h"

typedef struct conn {
	char *key; /* "<registry block> <domain>" */
	ferry_registry *reg;
} conn;

typedef struct resolver {
	const ferry_list *list;
	const char *display;
	const ferry_registry_opts *base; /* the command line's */
	const ferry_list_opts *lo;
	const ferry_convert_opts *o;
	conn **conns;
	size_t n_conns, cap_conns;
	ferry_tree **trees;
	size_t n_trees, cap_trees;
	char **locked; /* "name:tag@digest" for the lock file */
	size_t n_locked, cap_locked;
	ferry_strmap seen; /* references already taken */
	size_t n_failed;
} resolver;

/* The connection for domain with the settings of registry block reg (SIZE_MAX: the command line's). */
static int conn_for(resolver *R, size_t reg, const char *domain, ferry_registry **out, ferry_error *err)
{
	char *key = ferry_xasprintf("%zu %s", reg, domain);
	for (size_t i = 0; i < R->n_conns; i++) {
		if (!strcmp(R->conns[i]->key, key)) {
			free(key);
			*out = R->conns[i]->reg;
			return 0;
		}
	}
	ferry_registry_opts o;
	ferry_registry_opts_init(&o);
	if (R->base)
		o = *R->base;
	if (reg != SIZE_MAX) {
		const ferry_list_registry *b = &R->list->registries[reg];
		if (b->tls_verify_set)
			o.tls_verify = b->tls_verify;
		if (b->cert_dir)
			o.cert_dir = b->cert_dir;
		if (b->creds) {
			o.creds = b->creds;
			o.creds_label = "the list's credentials";
		}
	}
	ferry_registry *r;
	if (ferry_registry_open(domain, &o, &r, err) < 0) {
		free(key);
		return -1;
	}
	conn *c = ferry_xcalloc(1, sizeof(*c));
	c->key = key;
	c->reg = r;
	*FERRY_PUSH(R->conns, R->n_conns, R->cap_conns) = c;
	*out = r;
	return 0;
}

/* A failure of one image: skipped with keep_going, else the run's failure. */
static int failed(resolver *R, const char *image, ferry_error *e, ferry_error *err)
{
	if (!R->lo || !R->lo->keep_going) {
		*err = *e;
		return -1;
	}
	R->n_failed++;
	if (R->lo->on_failure)
		R->lo->on_failure(image, e->msg, R->lo->failure_ud);
	return 0;
}

/* One reference: its manifest fetched, its tree kept, its pin recorded. */
static int take_ref(resolver *R, size_t reg, const char *refstr, ferry_error *err)
{
	if (ferry_strmap_has(&R->seen, refstr))
		return 0;
	ferry_strmap_put(&R->seen, refstr, NULL);
	if (R->n_trees >= FERRY_LIST_ITEMS_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: selects more than %d images", R->display,
				       FERRY_LIST_ITEMS_MAX);
	ferry_ref ref;
	ferry_error e = FERRY_ERROR_INIT;
	if (ferry_ref_parse(&ref, refstr, &e) < 0)
		return failed(R, refstr, &e, err);
	ferry_ref_default_tag(&ref);
	ferry_registry *r;
	ferry_tree *t;
	ferry_digest d;
	int rc = 0;
	if (conn_for(R, reg, ref.domain, &r, &e) < 0 || ferry_tree_open_registry_on(r, &ref, &d, &t, &e) < 0) {
		rc = failed(R, refstr, &e, err);
	} else {
		*FERRY_PUSH(R->trees, R->n_trees, R->cap_trees) = t;
		char *name = ferry_ref_name(&ref);
		*FERRY_PUSH(R->locked, R->n_locked, R->cap_locked) =
			ref.tag ? ferry_xasprintf("%s:%s@%s", name, ref.tag, d.str) : ferry_xasprintf("%s@%s", name, d.str);
		free(name);
	}
	ferry_ref_free(&ref);
	return rc;
}

/* A regex, semver or every-tag entry: the repository's tags listed, the matching ones taken. */
static int take_tags(resolver *R, const ferry_list_item *it, ferry_error *err)
{
	ferry_ref ref;
	ferry_error e = FERRY_ERROR_INIT;
	if (ferry_ref_parse(&ref, it->ref, &e) < 0)
		return failed(R, it->ref, &e, err);
	ferry_registry *r;
	char **tags = NULL;
	size_t n = 0;
	int rc = 0;
	if (conn_for(R, it->registry, ref.domain, &r, &e) < 0 || ferry_registry_tags(r, ref.path, &tags, &n, &e) < 0)
		rc = failed(R, it->ref, &e, err);
	size_t matched = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && ferry_list_tag_matches(it, tags[i])) {
			char *s = ferry_xasprintf("%s:%s", it->ref, tags[i]);
			rc = take_ref(R, it->registry, s, err);
			free(s);
			matched++;
		}
		free(tags[i]);
	}
	free(tags);
	ferry_ref_free(&ref);
	if (rc == 0 && matched == 0 && n > 0 && R->o->on_event) {
		/* Nothing matching is no failure (skopeo sync takes it so too), but worth a word. */
		char msg[FERRY_ERROR_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s:%u: no tag of %s matches \"%s\"", R->display, it->line, it->ref,
			 it->pattern ? it->pattern : "");
		ferry_event ev = {.kind = FERRY_EV_WARNING, .name = it->ref, .message = msg};
		R->o->on_event(&ev, R->o->event_ud);
	}
	return rc;
}

static int resolve_all(resolver *R, ferry_error *err)
{
	for (size_t i = 0; i < R->list->n_items; i++) {
		const ferry_list_item *it = &R->list->items[i];
		int rc = it->kind == FERRY_LIST_REF ? take_ref(R, it->registry, it->ref, err) : take_tags(R, it, err);
		if (rc < 0)
			return -1;
	}
	if (R->n_trees == 0)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image to copy (%zu failed)", R->display,
				       R->n_failed);
	return 0;
}

/* The lock file: the list, every image pinned to the digest used (written whole, then renamed). */
static int write_lock(const resolver *R, const char *path, ferry_error *err)
{
	char *dir = ferry_dest_parent(path), *base = ferry_dest_base(path);
	char *tmp = ferry_tmp_template(dir, base);
	free(dir);
	free(base);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		ferry_error_errno(err, errno, "cannot write %s", path);
		free(tmp);
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	fprintf(f, "# ferry lock file: the digest each tag had; give it as --images-from to copy exactly these\n");
	for (size_t i = 0; i < R->n_locked; i++)
		fprintf(f, "%s\n", R->locked[i]);
	bool ok = fflush(f) == 0 && fsync(fd) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		ferry_error_errno(err, errno, "cannot write %s", path);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

static void resolver_free(resolver *R)
{
	for (size_t i = 0; i < R->n_trees; i++)
		ferry_tree_free(R->trees[i]);
	free(R->trees);
	for (size_t i = 0; i < R->n_conns; i++) {
		ferry_registry_free(R->conns[i]->reg);
		free(R->conns[i]->key);
		free(R->conns[i]);
	}
	free(R->conns);
	for (size_t i = 0; i < R->n_locked; i++)
		free(R->locked[i]);
	free(R->locked);
	ferry_strmap_free(&R->seen);
}

static int put_small(const char *path, const char *text, ferry_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
	int e = errno;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	return ok ? 0 : ferry_error_errno(err, e, "cannot write %s", path);
}

/*
 * A list pulled into an OCI layout that does not exist yet: the layout is
 * made first, empty, and filled in place like an existing one, so that a
 * run killed half way leaves the blobs it finished, and the next run does
 * not fetch them again.  *made says it was (then removed if the run fails).
 */
static int make_layout(const ferry_location *dl, bool *made, ferry_error *err)
{
	*made = false;
	if (dl->fmt != FERRY_FMT_OCI || !strcmp(dl->path, "-"))
		return 0;
	if (mkdir(dl->path, 0755) < 0)
		return errno == EEXIST ? 0 : ferry_error_errno(err, errno, "cannot create %s", dl->path);
	*made = true;
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	static const char index[] = "{\"schemaVersion\":2,\"mediaType\":\"" FERRY_MT_OCI_INDEX "\",\"manifests\":[]}";
	char *p1 = ferry_xasprintf("%s/oci-layout", dl->path), *p2 = ferry_xasprintf("%s/index.json", dl->path);
	int rc = put_small(p1, layout, err) < 0 || put_small(p2, index, err) < 0 ? -1 : 0;
	free(p1);
	free(p2);
	return rc;
}

/* The resolved images as one source (takes R's trees). */
static int open_list_source(resolver *R, ferry_source **out, ferry_error *err)
{
	ferry_source *src = ferry_xcalloc(1, sizeof(*src));
	src->display = ferry_xstrdup(R->display);
	src->format = &ferry_format_registry;
	ferry_tree **trees = R->trees;
	size_t n = R->n_trees;
	R->trees = NULL;
	R->n_trees = R->cap_trees = 0;
	if (ferry_tree_open_multi(trees, n, R->display, &src->tree, err) < 0 || src->format->read(src, err) < 0) {
		ferry_source_free(src);
		return -1;
	}
	*out = src;
	return 0;
}

int ferry_convert_list(const char *list_path, const char *dst, const ferry_convert_opts *o, const ferry_list_opts *lo,
		       ferry_convert_stats *stats, size_t *n_failed, ferry_error *err)
{
	if (n_failed)
		*n_failed = 0;
	ferry_location dl;
	if (ferry_location_parse_dest(dst, o->format, &dl, err) < 0)
		return -1;
	ferry_list list;
	if (ferry_list_load(list_path, &list, err) < 0) {
		ferry_location_free(&dl);
		return -1;
	}
	resolver R = {.list = &list, .display = list_path, .base = o->registry_opts, .lo = lo, .o = o};
	ferry_source *src = NULL;
	int rc = -1;
	bool made = false;
	if (resolve_all(&R, err) < 0 || make_layout(&dl, &made, err) < 0)
		goto out;
	if (n_failed)
		*n_failed = R.n_failed;
	if (open_list_source(&R, &src, err) < 0 || ferry_convert_in(src, &dl, o, false, stats, err) < 0)
		goto out;
	/* Written once the copy is done: a lock names what a destination holds. */
	if (lo && lo->lock_path && write_lock(&R, lo->lock_path, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && made)
		ferry_remove_tree(dl.path);
	ferry_source_free(src); /* before the connections its trees borrow */
	resolver_free(&R);
	ferry_list_free(&list);
	ferry_location_free(&dl);
	return rc;
}
