/*
 * referrers.c - the artifacts that travel with the images selected: OCI 1.1
 * referrers (manifests whose subject names an image) and cosign's tag-schema
 * artifacts (sha256-<hex>.sig, .att, .sbom), recursively (a signature on an
 * SBOM), each after its subject, and bounded (FERRY_REFERRERS_MAX of them,
 * FERRY_REFERRERS_DEPTH levels).  One whose subject is not written (missing
 * from the source, or in a cycle of referrers) is left out with a warning.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "signatures.h"

/* The artifacts about one digest: entry indexes, chained (nodes[i] is entry i's). */
typedef struct ref_node {
	size_t entry;
	struct ref_node *next;
} ref_node;

typedef struct walk {
	engine *E;
	ferry_strmap by_subject; /* subject digest -> ref_node* */
	ref_node *nodes;
	bool *is_art, *done;
	char **frontier, **next; /* digests (borrowed) whose referrers are looked for */
	size_t n_frontier, n_next, cap_next;
	size_t *out;
	size_t n_out, cap_out;
	size_t filtered;
	bool full; /* FERRY_REFERRERS_MAX reached */
} walk;

bool engine_referrer_type_wanted(const ferry_convert_opts *o, const ferry_image *img)
{
	if (o->n_referrer_types == 0)
		return true;
	const char *t = ferry_image_artifact_type(img);
	for (size_t i = 0; t && i < o->n_referrer_types; i++) {
		if (strcmp(o->referrer_types[i], t) == 0)
			return true;
	}
	return false;
}

/* The digests of img and of every manifest under it: what referrers may name. */
static void add_digests(walk *W, ferry_image *img)
{
	if (ferry_digest_is_set(&img->desc.digest))
		*FERRY_PUSH(W->next, W->n_next, W->cap_next) = img->desc.digest.str;
	for (size_t i = 0; i < img->n_children; i++)
		add_digests(W, &img->children[i]);
}

static void take(walk *W, size_t i)
{
	ferry_source *src = W->E->src;
	W->done[i] = true;
	if (!engine_referrer_type_wanted(W->E->o, &src->entries[i].img)) {
		W->filtered++;
		return;
	}
	if (W->n_out >= FERRY_REFERRERS_MAX) {
		if (!W->full) {
			char msg[256];
			snprintf(msg, sizeof(msg), "more than %d referrers: the rest are left out", FERRY_REFERRERS_MAX);
			engine_emit(W->E, FERRY_EV_WARNING, src->display, NULL, 0, 0, msg);
		}
		W->full = true;
		return;
	}
	*FERRY_PUSH(W->out, W->n_out, W->cap_out) = i;
	add_digests(W, &src->entries[i].img);
}

/* One level: the referrers of every digest in the frontier. */
static void level(walk *W)
{
	W->frontier = W->next;
	W->n_frontier = W->n_next;
	W->next = NULL;
	W->n_next = W->cap_next = 0;
	for (size_t f = 0; f < W->n_frontier && !W->full; f++) {
		for (ref_node *l = ferry_strmap_get(&W->by_subject, W->frontier[f]); l && !W->full; l = l->next) {
			if (!W->done[l->entry])
				take(W, l->entry);
		}
	}
	free(W->frontier);
	W->frontier = NULL;
}

/* Whole sources carry every artifact: say which could not be (their subject is not written). */
static void warn_left_out(walk *W)
{
	ferry_source *src = W->E->src;
	size_t n = 0, first = 0;
	for (size_t i = 0; i < src->n_entries; i++) {
		if (W->is_art[i] && !W->done[i] && n++ == 0)
			first = i;
	}
	if (n == 0)
		return;
	ferry_digest subject;
	ferry_entry_is_artifact(&src->entries[first], &subject);
	char msg[FERRY_ERROR_MSG_MAX];
	snprintf(msg, sizeof(msg),
		 "%zu referrer%s left out: %s not written (missing from %s, in a cycle of referrers, or more than "
		 "%d levels down); the first, %s, is about %s",
		 n, n == 1 ? "" : "s", n == 1 ? "its subject is" : "their subjects are", src->display,
		 FERRY_REFERRERS_DEPTH, src->entries[first].img.desc.digest.str, subject.str);
	engine_emit(W->E, FERRY_EV_WARNING, src->display, NULL, 0, 0, msg);
}

size_t *engine_referrers(engine *E, const work *works, size_t n_works, const bool *taken, size_t *n_out)
{
	ferry_source *src = E->src;
	size_t n = src->n_entries ? src->n_entries : 1;
	walk W = {.E = E};
	W.nodes = ferry_xcalloc(n, sizeof(*W.nodes));
	W.is_art = ferry_xcalloc(n, sizeof(bool));
	W.done = ferry_xcalloc(n, sizeof(bool));
	for (size_t i = 0; i < src->n_entries; i++) {
		ferry_digest subject;
		if (!ferry_entry_is_artifact(&src->entries[i], &subject))
			continue;
		W.is_art[i] = true;
		W.done[i] = taken[i];
		W.nodes[i].entry = i;
		W.nodes[i].next = ferry_strmap_get(&W.by_subject, subject.str);
		ferry_strmap_put(&W.by_subject, subject.str, &W.nodes[i]);
	}
	if (!E->o->no_referrers) {
		for (size_t i = 0; i < n_works; i++)
			add_digests(&W, works[i].img);
		for (int depth = 0; depth < FERRY_REFERRERS_DEPTH && W.n_next && !W.full; depth++)
			level(&W);
		if (E->o->n_images == 0 && !E->o->platform)
			warn_left_out(&W);
	}
	free(W.next);
	ferry_strmap_free(&W.by_subject);
	free(W.nodes);
	free(W.is_art);
	free(W.done);
	*n_out = W.n_out;
	return W.out;
}

/* A cosign tag names its subject's repository: it moves with the image it is about. */
static void follow(work *a, const work *subject)
{
	const char *tag = NULL;
	ferry_digest d;
	for (size_t i = 0; i < a->n_names && !tag; i++) {
		const ferry_name *nm = &a->names[i];
		const char *t = nm->has_ref ? nm->ref.tag : nm->bare_tag;
		if (ferry_cosign_tag_subject(t, &d))
			tag = t;
	}
	bool any = false;
	for (size_t i = 0; i < subject->n_names; i++)
		any = any || subject->names[i].has_ref;
	if (!tag || !any)
		return;
	ferry_entry out = {0};
	for (size_t i = 0; i < subject->n_names; i++) {
		if (!subject->names[i].has_ref)
			continue;
		ferry_name nm = {.has_ref = true};
		ferry_ref_copy(&nm.ref, &subject->names[i].ref);
		memset(&nm.ref.digest, 0, sizeof(nm.ref.digest));
		free(nm.ref.tag);
		nm.ref.tag = ferry_xstrdup(tag);
		ferry_entry_add_name(&out, &nm);
	}
	for (size_t i = 0; i < a->n_names; i++)
		ferry_name_free(&a->names[i]);
	free(a->names);
	a->names = out.names;
	a->n_names = out.n_names;
}

/* Index every manifest digest of the images (not the artifacts) to its work. */
static void index_subjects(ferry_strmap *m, const ferry_image *img, size_t w)
{
	if (ferry_digest_is_set(&img->desc.digest) && !ferry_strmap_has(m, img->desc.digest.str))
		ferry_strmap_put(m, img->desc.digest.str, (void *)(uintptr_t)(w + 1));
	for (size_t i = 0; i < img->n_children; i++)
		index_subjects(m, &img->children[i], w);
}

void engine_referrers_follow(work *w, size_t n)
{
	ferry_strmap by_digest = {0};
	for (size_t i = 0; i < n; i++)
		index_subjects(&by_digest, w[i].img, i);
	for (size_t i = 0; i < n; i++) {
		if (!w[i].artifact)
			continue;
		uintptr_t at = (uintptr_t)ferry_strmap_get(&by_digest, w[i].subject.str);
		if (at && at - 1 != i)
			follow(&w[i], &w[at - 1]);
	}
	ferry_strmap_free(&by_digest);
}
