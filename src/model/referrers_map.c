/*
 * referrers_map.c - which entries of a source are referrers of which: for
 * listing them (ls counts them, inspect lists them).  Built once, in one
 * pass over the entries; each query walks the referrers level by level,
 * bounded by FERRY_REFERRERS_DEPTH and FERRY_REFERRERS_MAX.
 */
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "strmap.h"
#include "util.h"

typedef struct node {
	size_t entry;
	struct node *next;
} node;

struct ferry_referrers_map {
	const ferry_source *src;
	ferry_strmap by_subject; /* subject digest -> node* */
	node *nodes;             /* nodes[i]: entry i's, when it is an artifact */
	bool *is_artifact;
};

ferry_referrers_map *ferry_referrers_map_new(const ferry_source *src)
{
	ferry_referrers_map *m = ferry_xcalloc(1, sizeof(*m));
	size_t n = src->n_entries ? src->n_entries : 1;
	m->src = src;
	m->nodes = ferry_xcalloc(n, sizeof(*m->nodes));
	m->is_artifact = ferry_xcalloc(n, sizeof(bool));
	for (size_t i = 0; i < src->n_entries; i++) {
		ferry_digest subject;
		if (!ferry_entry_is_artifact(&src->entries[i], &subject))
			continue;
		m->is_artifact[i] = true;
		m->nodes[i].entry = i;
		m->nodes[i].next = ferry_strmap_get(&m->by_subject, subject.str);
		ferry_strmap_put(&m->by_subject, subject.str, &m->nodes[i]);
	}
	return m;
}

bool ferry_referrers_map_is_artifact(const ferry_referrers_map *m, size_t i)
{
	return i < m->src->n_entries && m->is_artifact[i];
}

/* The digests of img and of every manifest under it. */
static void digests_of(const ferry_image *img, const char ***out, size_t *n, size_t *cap)
{
	if (ferry_digest_is_set(&img->desc.digest))
		*FERRY_PUSH(*out, *n, *cap) = img->desc.digest.str;
	for (size_t i = 0; i < img->n_children; i++)
		digests_of(&img->children[i], out, n, cap);
}

size_t *ferry_referrers_of(const ferry_referrers_map *m, size_t i, size_t *n_out)
{
	size_t *out = NULL, n = 0, cap = 0;
	const char **now = NULL;
	size_t n_now = 0, cap_now = 0;
	bool *taken = ferry_xcalloc(m->src->n_entries + 1, sizeof(bool));
	if (i < m->src->n_entries) {
		taken[i] = true;
		digests_of(&m->src->entries[i].img, &now, &n_now, &cap_now);
	}
	for (int depth = 0; depth < FERRY_REFERRERS_DEPTH && n_now && n < FERRY_REFERRERS_MAX; depth++) {
		const char **next = NULL;
		size_t n_next = 0, cap_next = 0;
		for (size_t k = 0; k < n_now && n < FERRY_REFERRERS_MAX; k++) {
			for (const node *l = ferry_strmap_get((ferry_strmap *)&m->by_subject, now[k]); l && n < FERRY_REFERRERS_MAX;
			     l = l->next) {
				if (taken[l->entry])
					continue;
				taken[l->entry] = true;
				*FERRY_PUSH(out, n, cap) = l->entry;
				digests_of(&m->src->entries[l->entry].img, &next, &n_next, &cap_next);
			}
		}
		free(now);
		now = next;
		n_now = n_next;
	}
	free(now);
	free(taken);
	*n_out = n;
	return out;
}

void ferry_referrers_map_free(ferry_referrers_map *m)
{
	if (!m)
		return;
	ferry_strmap_free(&m->by_subject);
	free(m->nodes);
	free(m->is_artifact);
	free(m);
}
