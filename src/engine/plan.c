/*
 * plan.c - which images go out, and under which names (selection, retagging, platforms).
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static bool names_have(const ferry_name *names, size_t n, const ferry_name *want)
{
	for (size_t i = 0; i < n; i++) {
		if (ferry_name_eq(&names[i], want))
			return true;
	}
	return false;
}

static void push_name(ferry_name **names, size_t *n, ferry_name *nm)
{
	if (names_have(*names, *n, nm)) {
		ferry_name_free(nm);
		return;
	}
	*names = ferry_xrealloc(*names, (*n + 1) * sizeof(**names));
	(*names)[(*n)++] = *nm;
	memset(nm, 0, sizeof(*nm));
}

static void free_names(ferry_name *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ferry_name_free(&names[i]);
	free(names);
}

static bool entry_selected(const ferry_entry *e, const ferry_convert_opts *o, bool *matched, ferry_error *err)
{
	if (o->n_images == 0)
		return true;
	bool sel = false;
	for (size_t i = 0; i < o->n_images; i++) {
		int m = ferry_entry_matches(e, o->images[i], err);
		if (m < 0)
			return false;
		if (m) {
			matched[i] = true;
			sel = true;
		}
	}
	return sel;
}

/* Apply --repository, untag, --tag/--add-tag, --registry/--prefix to one entry's names. */
static int retag(const ferry_entry *e, const ferry_convert_opts *o, bool *rule_used, ferry_name **out,
		 size_t *n_out, bool *lost_all, ferry_error *err)
{
	ferry_name *names = NULL;
	size_t n = 0;
	*lost_all = false;
	for (size_t i = 0; i < e->n_names; i++) {
		ferry_name nm;
		ferry_name_copy(&nm, &e->names[i]);
		if (!nm.has_ref && o->repository) {
			char *s = ferry_xasprintf("%s:%s", o->repository, nm.bare_tag);
			ferry_name full;
			int rc = ferry_name_parse(s, &full, err);
			free(s);
			ferry_name_free(&nm);
			if (rc < 0) {
				ferry_error_prefix(err, "--repository");
				free_names(names, n);
				return -1;
			}
			nm = full;
		}
		push_name(&names, &n, &nm);
	}
	size_t before = n;
	for (size_t r = 0; r < o->n_remove_names; r++) {
		if (ferry_entry_has_digest(e, o->remove_names[r])) { /* untag by digest: every name of that image */
			if (n)
				rule_used[r] = true;
			free_names(names, n);
			names = NULL;
			n = 0;
			continue;
		}
		ferry_name rm;
		if (ferry_name_parse(o->remove_names[r], &rm, err) < 0) {
			free_names(names, n);
			return -1;
		}
		for (size_t i = 0; i < n;) {
			if (ferry_name_eq(&names[i], &rm)) {
				ferry_name_free(&names[i]);
				memmove(&names[i], &names[i + 1], (n - i - 1) * sizeof(*names));
				n--;
				rule_used[r] = true;
			} else {
				i++;
			}
		}
		ferry_name_free(&rm);
	}
	if (before > 0 && n == 0)
		*lost_all = true;
	for (size_t r = 0; r < o->n_tag_rules; r++) {
		ferry_name from, to;
		if (ferry_entry_has_digest(e, o->tag_rules[r].from)) {
			if (ferry_name_parse(o->tag_rules[r].to, &to, err) < 0) {
				free_names(names, n);
				return -1;
			}
			rule_used[o->n_remove_names + r] = true;
			if (!o->tag_rules[r].add) {
				free_names(names, n);
				names = NULL;
				n = 0;
			}
			push_name(&names, &n, &to);
			continue;
		}
		if (ferry_name_parse(o->tag_rules[r].from, &from, err) < 0) {
			free_names(names, n);
			return -1;
		}
		if (ferry_name_parse(o->tag_rules[r].to, &to, err) < 0) {
			ferry_name_free(&from);
			free_names(names, n);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			if (!ferry_name_eq(&names[i], &from))
				continue;
			rule_used[o->n_remove_names + r] = true;
			if (!o->tag_rules[r].add) {
				ferry_name_free(&names[i]);
				memmove(&names[i], &names[i + 1], (n - i - 1) * sizeof(*names));
				n--;
			}
			ferry_name t2;
			ferry_name_copy(&t2, &to);
			push_name(&names, &n, &t2);
			break;
		}
		ferry_name_free(&from);
		ferry_name_free(&to);
	}
	for (size_t i = 0; i < n; i++) {
		if (!names[i].has_ref)
			continue;
		if (o->registry && ferry_ref_set_domain(&names[i].ref, o->registry, err) < 0) {
			ferry_error_prefix(err, "--registry");
			free_names(names, n);
			return -1;
		}
		if (o->prefix && ferry_ref_set_prefix(&names[i].ref, o->prefix, err) < 0) {
			ferry_error_prefix(err, "--prefix");
			free_names(names, n);
			return -1;
		}
	}
	*out = names;
	*n_out = n;
	return 0;
}

static ferry_image *pick_platform(ferry_image *img, const ferry_platform *want)
{
	if (!img->is_index) {
		const ferry_platform *p = ferry_image_platform(img);
		return p && ferry_platform_match(p, want) ? img : NULL;
	}
	for (size_t i = 0; i < img->n_children; i++) {
		ferry_image *c = pick_platform(&img->children[i], want);
		if (c)
			return c;
	}
	return NULL;
}

void engine_free_works(work *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free_names(w[i].names, w[i].n_names);
		free(w[i].label_owned);
	}
	free(w);
}

/* The same image? By manifest digest, or (legacy archives have no manifests) by config digest. */
static bool same_image(const ferry_image *a, const ferry_image *b)
{
	if (ferry_digest_is_set(&a->desc.digest) || ferry_digest_is_set(&b->desc.digest))
		return ferry_digest_eq(&a->desc.digest, &b->desc.digest);
	return !a->is_index && !b->is_index && ferry_digest_eq(&a->config.desc.digest, &b->config.desc.digest);
}

int engine_plan(engine *E, work **out, size_t *n_out, ferry_error *err)
{
	const ferry_convert_opts *o = E->o;
	ferry_platform want = {0};
	if (o->platform && ferry_platform_parse(&want, o->platform, err) < 0)
		return -1;
	bool *img_matched = ferry_xcalloc(o->n_images + 1, sizeof(bool));
	bool *rule_used = ferry_xcalloc(o->n_remove_names + o->n_tag_rules + 1, sizeof(bool));
	work *w = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;
	ferry_error_clear(err);
	for (size_t i = 0; i < E->src->n_entries; i++) {
		ferry_entry *e = &E->src->entries[i];
		if (!entry_selected(e, o, img_matched, err)) {
			if (err && err->code)
				goto out;
			continue;
		}
		ferry_name *names;
		size_t nn;
		bool lost_all;
		if (retag(e, o, rule_used, &names, &nn, &lost_all, err) < 0)
			goto out;
		if (lost_all) { /* untagged completely: the image leaves the index */
			free_names(names, nn);
			continue;
		}
		ferry_image *img = &e->img;
		/* Messages name the image as it is written out. */
		char *label = nn ? ferry_name_string(&names[0])
			      : e->n_names ? ferry_name_string(&e->names[0])
					 : ferry_xasprintf("image %s", e->img.desc.digest.str[0]
									       ? e->img.desc.digest.str
									       : e->img.config.desc.digest.str);
		if (o->platform) {
			img = pick_platform(img, &want);
			if (!img) {
				char *ps = ferry_platform_string(&want);
				char msg[512];
				snprintf(msg, sizeof(msg), "%s has no %s image: left out", label, ps);
				engine_emit(E, FERRY_EV_WARNING, label, NULL, 0, 0, msg);
				free(ps);
				free(label);
				free_names(names, nn);
				continue;
			}
		}
		work *wk = FERRY_PUSH(w, n, cap);
		wk->img = img;
		wk->names = names;
		wk->n_names = nn;
		wk->label_owned = label;
		wk->label = label;
	}
	for (size_t i = 0; i < o->n_images; i++) {
		if (!img_matched[i]) {
			ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image named %s", E->src->display, o->images[i]);
			goto out;
		}
	}
	for (size_t r = 0; r < o->n_remove_names; r++) {
		if (!rule_used[r]) {
			ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image named %s", E->src->display,
					o->remove_names[r]);
			goto out;
		}
	}
	for (size_t r = 0; r < o->n_tag_rules; r++) {
		if (!rule_used[o->n_remove_names + r]) {
			ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image named %s", E->src->display,
					o->tag_rules[r].from);
			goto out;
		}
	}
	/* Two different images must not end up with one name. */
	for (size_t a = 0; a < n; a++) {
		for (size_t b = a + 1; b < n; b++) {
			for (size_t i = 0; i < w[a].n_names; i++) {
				if (names_have(w[b].names, w[b].n_names, &w[a].names[i]) && !same_image(w[a].img, w[b].img)) {
					char *s = ferry_name_string(&w[a].names[i]);
					ferry_error_set(err, FERRY_E_USAGE, "two different images would both be named %s", s);
					free(s);
					goto out;
				}
			}
		}
	}
	if (n == 0 && E->src->n_entries > 0 && o->platform) {
		ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image for platform %s", E->src->display, o->platform);
		goto out;
	}
	rc = 0;
out:
	ferry_platform_free(&want);
	free(img_matched);
	free(rule_used);
	if (rc < 0) {
		engine_free_works(w, n);
		return -1;
	}
	*out = w;
	*n_out = n;
	return 0;
}

/*
 * docker://DEST for a push: "" keeps every image's own name, a full
 * reference (with a tag or digest) names the one image being pushed,
 * HOST[:PORT] moves every name to that registry and HOST[:PORT]/PATH puts
 * every repository under that prefix.
 */
int engine_push_names(const char *dest, work *works, size_t n, ferry_error *err)
{
	if (!*dest)
		return 0;
	/* No '/' at all: a registry host ("HOST:PORT" would otherwise read as name:tag). */
	ferry_ref full;
	bool parsed = strchr(dest, '/') && ferry_ref_parse(&full, dest, NULL) == 0;
	bool is_full = parsed && (full.tag || ferry_digest_is_set(&full.digest));
	if (parsed && !is_full)
		ferry_ref_free(&full);
	if (is_full) {
		if (n != 1) {
			ferry_ref_free(&full);
			return ferry_error_set(err, FERRY_E_USAGE,
					       "docker://%s names one image, but %zu images are selected (use --image, "
					       "or a docker://HOST[/PATH] destination)",
					       dest, n);
		}
		free_names(works[0].names, works[0].n_names);
		works[0].names = ferry_xcalloc(1, sizeof(ferry_name));
		works[0].names[0].has_ref = true;
		works[0].names[0].ref = full;
		works[0].n_names = 1;
		return 0;
	}
	bool prefix = strchr(dest, '/') != NULL;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < works[i].n_names; k++) {
			ferry_name *nm = &works[i].names[k];
			if (!nm->has_ref)
				continue;
			int rc = prefix ? ferry_ref_set_prefix(&nm->ref, dest, err) : ferry_ref_set_domain(&nm->ref, dest, err);
			if (rc < 0) {
				ferry_error_prefix(err, "docker://%s", dest);
				return -1;
			}
		}
	}
	return 0;
}
