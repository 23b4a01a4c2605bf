/*
 * tree_overlay.c - a tree over another, with some paths taken from elsewhere (tree_overlay.h).
 */
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "tree_overlay.h"
#include "util.h"

typedef struct elsewhere {
	ferry_tree *from; /* borrowed */
	char *path;
} elsewhere;

typedef struct owned {
	void *p;
	void (*free_fn)(void *);
} owned;

typedef struct overlay {
	ferry_tree t;
	ferry_tree *inner;
	ferry_strmap moved; /* path -> elsewhere * */
	owned *owned;
	size_t n_owned, cap_owned;
} overlay;

static const ferry_tree_ops overlay_ops;

static elsewhere *moved(ferry_tree *t, const char *path)
{
	return ferry_strmap_get(&((overlay *)t)->moved, path);
}

static int ov_open(ferry_tree *t, const char *path, ferry_istream **out, uint64_t *size, ferry_error *err)
{
	elsewhere *e = moved(t, path);
	if (e)
		return e->from->ops->open(e->from, e->path, out, size, err);
	ferry_tree *in = ((overlay *)t)->inner;
	return in->ops->open(in, path, out, size, err);
}

static int ov_stat(ferry_tree *t, const char *path, bool read_ahead, bool *exists, uint64_t *size, ferry_error *err)
{
	elsewhere *e = moved(t, path);
	if (e)
		return e->from->ops->stat(e->from, e->path, true, exists, size, err);
	ferry_tree *in = ((overlay *)t)->inner;
	return in->ops->stat(in, path, read_ahead, exists, size, err);
}

/* What comes from elsewhere first (it can be read at any time), then whatever inner finds cheapest. */
static int ov_open_any(ferry_tree *t, const char *const *paths, size_t n, size_t *which, ferry_istream **out,
		       uint64_t *size, ferry_error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (moved(t, paths[i])) {
			*which = i;
			return ov_open(t, paths[i], out, size, err);
		}
	}
	ferry_tree *in = ((overlay *)t)->inner;
	return in->ops->open_any(in, paths, n, which, out, size, err);
}

static void ov_want(ferry_tree *t, const char *const *paths, size_t n)
{
	const char **mine = ferry_xcalloc(n + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!moved(t, paths[i]))
			mine[k++] = paths[i];
	}
	ferry_tree *in = ((overlay *)t)->inner;
	in->ops->want(in, mine, k);
	free(mine);
}

static const char *ov_canonical(ferry_tree *t, const char *path)
{
	if (moved(t, path))
		return path;
	return ferry_tree_canonical(((overlay *)t)->inner, path);
}

static void ov_where(ferry_tree *t, const char *path, char *buf, size_t len)
{
	elsewhere *e = moved(t, path);
	if (e)
		ferry_tree_where(e->from, e->path, buf, len);
	else
		ferry_tree_where(((overlay *)t)->inner, path, buf, len);
}

static int ov_finish(ferry_tree *t, ferry_error *err)
{
	ferry_tree *in = ((overlay *)t)->inner;
	return in->ops->finish(in, err);
}

static void free_elsewhere(void *p)
{
	elsewhere *e = p;
	free(e->path);
	free(e);
}

static void ov_free(ferry_tree *t)
{
	overlay *o = (overlay *)t;
	ferry_strmap_free_with(&o->moved, free_elsewhere);
	ferry_tree_free(o->inner);
	for (size_t i = 0; i < o->n_owned; i++)
		o->owned[i].free_fn(o->owned[i].p);
	free(o->owned);
	free(o->t.display);
	free(o);
}

static const ferry_tree_ops overlay_ops = {
	.open = ov_open,
	.stat = ov_stat,
	.open_any = ov_open_any,
	.want = ov_want,
	.canonical = ov_canonical,
	.finish = ov_finish,
	.free = ov_free,
	.where = ov_where,
};

ferry_tree *ferry_tree_overlay_new(ferry_tree *inner)
{
	overlay *o = ferry_xcalloc(1, sizeof(*o));
	o->t.ops = &overlay_ops;
	o->t.display = ferry_xstrdup(inner->display);
	o->t.one_pass = inner->one_pass;
	o->t.concurrent = false;
	o->inner = inner;
	return &o->t;
}

void ferry_tree_overlay_add(ferry_tree *ov, const char *path, ferry_tree *from, const char *from_path)
{
	elsewhere *e = ferry_xcalloc(1, sizeof(*e));
	e->from = from;
	e->path = ferry_xstrdup(from_path);
	elsewhere *old = ferry_strmap_put(&((overlay *)ov)->moved, path, e);
	if (old)
		free_elsewhere(old);
}

bool ferry_tree_overlay_has(ferry_tree *ov, const char *path)
{
	return ferry_tree_is_overlay(ov) && moved(ov, path) != NULL;
}

void ferry_tree_overlay_own(ferry_tree *ov, void *p, void (*free_fn)(void *))
{
	overlay *o = (overlay *)ov;
	*FERRY_PUSH(o->owned, o->n_owned, o->cap_owned) = (owned){p, free_fn};
}

bool ferry_tree_is_overlay(const ferry_tree *t)
{
	return t && t->ops == &overlay_ops;
}
