/*
 * plan.c - which images go out, and under which names (selection, retagging, platforms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "signatures.h"

static bool names_have(const ferry_name *names, size_t n, const ferry_name *want)
{
	for (size_t i = 0; i < n; i++) {
		if (ferry_name_eq(&names[i], want))
			return true;
	}
	return false;
}

static void free_names(ferry_name *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ferry_name_free(&names[i]);
	free(names);
}

/* *selected: --image picks e (every entry, without --image); matched[i]: --image i picked something. */
static int entry_selected(const ferry_entry *e, const ferry_convert_opts *o, bool *matched, bool *selected,
			  ferry_error *err)
{
	*selected = o->n_images == 0;
	for (size_t i = 0; i < o->n_images; i++) {
		int m = ferry_entry_matches(e, o->images[i], err);
		if (m < 0)
			return -1;
		if (m) {
			matched[i] = true;
			*selected = true;
		}
	}
	return 0;
}

/*
 * The names an entry goes out under are built in a scratch entry ("out"):
 * ferry_entry_add_name keeps them unique.
 */
static void drop_names(ferry_entry *out)
{
	free_names(out->names, out->n_names);
	out->names = NULL;
	out->n_names = 0;
}

static void drop_name(ferry_entry *out, size_t i)
{
	ferry_name_free(&out->names[i]);
	memmove(&out->names[i], &out->names[i + 1], (out->n_names - i - 1) * sizeof(*out->names));
	out->n_names--;
}

/* e's own names, a bare tag put in --repository. */
static int own_names(const ferry_entry *e, const ferry_convert_opts *o, ferry_entry *out, ferry_error *err)
{
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
				return -1;
			}
			nm = full;
		}
		ferry_entry_add_name(out, &nm);
	}
	return 0;
}

/* untag: by name, or by digest (every name of that image). */
static int untag(const ferry_entry *e, const ferry_convert_opts *o, bool *rule_used, ferry_entry *out,
		 ferry_error *err)
{
	for (size_t r = 0; r < o->n_remove_names; r++) {
		if (ferry_entry_has_digest(e, o->remove_names[r])) {
			if (out->n_names)
				rule_used[r] = true;
			drop_names(out);
			continue;
		}
		ferry_name rm;
		if (ferry_name_parse(o->remove_names[r], &rm, err) < 0)
			return -1;
		for (size_t i = 0; i < out->n_names;) {
			if (ferry_name_eq(&out->names[i], &rm)) {
				drop_name(out, i);
				rule_used[r] = true;
			} else {
				i++;
			}
		}
		ferry_name_free(&rm);
	}
	return 0;
}

/* One --tag/--add-tag rule whose FROM is a name: the first name it matches is renamed (or added to). */
static int tag_by_name(const ferry_tag_rule *rule, bool *used, ferry_entry *out, ferry_error *err)
{
	ferry_name from, to;
	if (ferry_name_parse(rule->from, &from, err) < 0)
		return -1;
	if (ferry_name_parse(rule->to, &to, err) < 0) {
		ferry_name_free(&from);
		return -1;
	}
	for (size_t i = 0; i < out->n_names; i++) {
		if (!ferry_name_eq(&out->names[i], &from))
			continue;
		*used = true;
		if (!rule->add)
			drop_name(out, i);
		ferry_name t2;
		ferry_name_copy(&t2, &to);
		ferry_entry_add_name(out, &t2);
		break;
	}
	ferry_name_free(&from);
	ferry_name_free(&to);
	return 0;
}

/* --tag/--add-tag, by name or by digest (which renames the image whatever its names). */
static int tag(const ferry_entry *e, const ferry_convert_opts *o, bool *rule_used, ferry_entry *out,
	       ferry_error *err)
{
	for (size_t r = 0; r < o->n_tag_rules; r++) {
		const ferry_tag_rule *rule = &o->tag_rules[r];
		bool *used = &rule_used[o->n_remove_names + r];
		if (!ferry_entry_has_digest(e, rule->from)) {
			if (tag_by_name(rule, used, out, err) < 0)
				return -1;
			continue;
		}
		ferry_name to;
		if (ferry_name_parse(rule->to, &to, err) < 0)
			return -1;
		*used = true;
		if (!rule->add)
			drop_names(out);
		ferry_entry_add_name(out, &to);
	}
	return 0;
}

/* --registry and --prefix, on every full reference. */
static int move_names(const ferry_convert_opts *o, ferry_entry *out, ferry_error *err)
{
	for (size_t i = 0; i < out->n_names; i++) {
		ferry_name *nm = &out->names[i];
		if (!nm->has_ref)
			continue;
		if (o->registry && ferry_ref_set_domain(&nm->ref, o->registry, err) < 0) {
			ferry_error_prefix(err, "--registry");
			return -1;
		}
		if (o->prefix && ferry_ref_set_prefix(&nm->ref, o->prefix, err) < 0) {
			ferry_error_prefix(err, "--prefix");
			return -1;
		}
	}
	return 0;
}

/*
 * Apply --repository, untag, --tag/--add-tag, --registry/--prefix to one
 * entry's names.  *lost_all: untagging took every name it had.
 */
static int retag(const ferry_entry *e, const ferry_convert_opts *o, bool *rule_used, ferry_name **names,
		 size_t *n_names, bool *lost_all, ferry_error *err)
{
	ferry_entry out = {0};
	*lost_all = false;
	int rc = own_names(e, o, &out, err);
	size_t before = out.n_names;
	if (rc == 0)
		rc = untag(e, o, rule_used, &out, err);
	*lost_all = rc == 0 && before > 0 && out.n_names == 0;
	if (rc == 0)
		rc = tag(e, o, rule_used, &out, err);
	if (rc == 0)
		rc = move_names(o, &out, err);
	if (rc < 0) {
		drop_names(&out);
		return -1;
	}
	*names = out.names;
	*n_names = out.n_names;
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

/* Does img (a manifest, or an index through any of its children) run on one of want[0..n)? */
static bool runs_on(const ferry_image *img, const ferry_platform *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (pick_platform((ferry_image *)img, &want[i]))
			return true;
	}
	return false;
}

/*
 * Several platforms: img itself when all of it is kept, NULL when none, else
 * a shallow copy of the index holding only the children kept (*subset owns
 * it), which write_index then serialises anew: never an index naming a
 * manifest that is not written.
 */
static ferry_image *keep_platforms(engine *E, ferry_image *img, const ferry_platform *want, size_t n,
				   const char *label, ferry_image **subset)
{
	*subset = NULL;
	if (!img->is_index)
		return runs_on(img, want, n) ? img : NULL;
	size_t kept = 0;
	for (size_t i = 0; i < img->n_children; i++)
		kept += runs_on(&img->children[i], want, n);
	if (kept == 0)
		return NULL;
	if (kept == img->n_children)
		return img;
	ferry_image *c = ferry_xmalloc(sizeof(*c));
	*c = *img;
	c->children = ferry_xcalloc(kept, sizeof(*c->children));
	c->n_children = 0;
	char plats[512] = "";
	for (size_t i = 0; i < img->n_children; i++) {
		if (!runs_on(&img->children[i], want, n))
			continue;
		c->children[c->n_children++] = img->children[i];
		const ferry_platform *p = ferry_image_platform(&img->children[i]);
		char *ps = p ? ferry_platform_string(p) : ferry_xstrdup("unknown");
		size_t l = strlen(plats);
		snprintf(plats + l, sizeof(plats) - l, "%s%s", l ? ", " : "", ps);
		free(ps);
	}
	char msg[1024];
	snprintf(msg, sizeof(msg),
		 "%s: multi-platform index rewritten to hold only %s (%zu of its %zu manifests), so its digest changes",
		 label, plats, kept, img->n_children);
	engine_emit(E, FERRY_EV_WARNING, label, NULL, 0, 0, msg);
	*subset = c;
	return c;
}

void engine_free_works(work *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free_names(w[i].names, w[i].n_names);
		if (w[i].subset)
			free(w[i].subset->children);
		free(w[i].subset);
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

/* Every --image, untag and --tag rule named some image of the source. */
static int check_all_used(engine *E, const bool *img_matched, const bool *rule_used, ferry_error *err)
{
	const ferry_convert_opts *o = E->o;
	const char *unused = NULL;
	for (size_t i = 0; i < o->n_images && !unused; i++)
		unused = img_matched[i] ? NULL : o->images[i];
	for (size_t r = 0; r < o->n_remove_names && !unused; r++)
		unused = rule_used[r] ? NULL : o->remove_names[r];
	for (size_t r = 0; r < o->n_tag_rules && !unused; r++)
		unused = rule_used[o->n_remove_names + r] ? NULL : o->tag_rules[r].from;
	if (unused)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image named %s", E->src->display, unused);
	return 0;
}

/* Two different images must not end up with one name. */
static int check_names_unique(const work *w, size_t n, ferry_error *err)
{
	for (size_t a = 0; a < n; a++) {
		for (size_t b = a + 1; b < n; b++) {
			for (size_t i = 0; i < w[a].n_names; i++) {
				if (names_have(w[b].names, w[b].n_names, &w[a].names[i]) && !same_image(w[a].img, w[b].img)) {
					char *s = ferry_name_string(&w[a].names[i]);
					ferry_error_set(err, FERRY_E_USAGE, "two different images would both be named %s", s);
					free(s);
					return -1;
				}
			}
		}
	}
	return 0;
}

/* The name messages give an entry: its first name as written out, else its own, else its digest. */
static char *entry_label(const ferry_entry *e, const ferry_name *names, size_t nn)
{
	if (nn)
		return ferry_name_string(&names[0]);
	if (e->n_names)
		return ferry_name_string(&e->names[0]);
	return ferry_xasprintf("image %s", e->img.desc.digest.str[0] ? e->img.desc.digest.str
								       : e->img.config.desc.digest.str);
}

/*
 * Entry i as a work (appended to *w), its names retagged; *skip when it goes
 * nowhere (untagged completely, or without the --platform wanted).
 */
static int plan_entry(engine *E, size_t i, const ferry_platform *wants, size_t n_want, bool *rule_used, work **w,
		      size_t *n, size_t *cap, ferry_error *err)
{
	ferry_entry *e = &E->src->entries[i];
	ferry_name *names;
	size_t nn;
	bool lost_all;
	if (retag(e, E->o, rule_used, &names, &nn, &lost_all, err) < 0)
		return -1;
	if (lost_all) { /* untagged completely: the image leaves the index */
		free_names(names, nn);
		return 0;
	}
	ferry_image *img = &e->img;
	ferry_digest subject;
	bool artifact = ferry_entry_is_artifact(e, &subject);
	/* Messages name the image as it is written out. */
	char *label = entry_label(e, names, nn);
	ferry_image *subset = NULL;
	if (n_want && !artifact) {
		img = n_want == 1 ? pick_platform(img, &wants[0]) : keep_platforms(E, img, wants, n_want, label, &subset);
		if (!img) {
			char *ps = n_want == 1 ? ferry_platform_string(&wants[0]) : ferry_xstrdup("of the platforms asked for");
			char msg[512];
			snprintf(msg, sizeof(msg), "%s has no %s image: left out", label, ps);
			engine_emit(E, FERRY_EV_WARNING, label, NULL, 0, 0, msg);
			free(ps);
			free(label);
			free_names(names, nn);
			return 0;
		}
	}
	work *wk = FERRY_PUSH(*w, *n, *cap);
	memset(wk, 0, sizeof(*wk));
	wk->img = img;
	wk->names = names;
	wk->n_names = nn;
	wk->label_owned = label;
	wk->label = label;
	wk->subset = subset;
	wk->artifact = artifact;
	if (artifact)
		wk->subject = subject;
	return 0;
}

int engine_plan(engine *E, work **out, size_t *n_out, ferry_error *err)
{
	const ferry_convert_opts *o = E->o;
	size_t n_want = (o->platform ? 1 : 0) + o->n_platforms;
	ferry_platform *wants = ferry_xcalloc(n_want + 1, sizeof(*wants));
	for (size_t i = 0; i < n_want; i++) {
		const char *ps = o->platform ? (i == 0 ? o->platform : o->platforms[i - 1]) : o->platforms[i];
		if (ferry_platform_parse(&wants[i], ps, err) < 0) {
			for (size_t k = 0; k < i; k++)
				ferry_platform_free(&wants[k]);
			free(wants);
			return -1;
		}
	}

	size_t n_entries = E->src->n_entries;
	bool *img_matched = ferry_xcalloc(o->n_images + 1, sizeof(bool));
	bool *rule_used = ferry_xcalloc(o->n_remove_names + o->n_tag_rules + 1, sizeof(bool));
	bool *taken = ferry_xcalloc(n_entries + 1, sizeof(bool));
	work *w = NULL;
	size_t n = 0, cap = 0, *refs = NULL, n_refs = 0;
	int rc = -1;
	/* The images selected; artifacts only when --image names them (else they come with their subject). */
	for (size_t i = 0; i < n_entries; i++) {
		ferry_entry *e = &E->src->entries[i];
		bool selected;
		ferry_digest subject;
		if (entry_selected(e, o, img_matched, &selected, err) < 0)
			goto out;
		if (!selected || (o->n_images == 0 && ferry_entry_is_artifact(e, &subject)))
			continue;
		taken[i] = true;
		if (plan_entry(E, i, wants, n_want, rule_used, &w, &n, &cap, err) < 0)
			goto out;
	}
	refs = engine_referrers(E, w, n, taken, &n_refs);
	for (size_t r = 0; r < n_refs; r++) {
		if (plan_entry(E, refs[r], wants, n_want, rule_used, &w, &n, &cap, err) < 0)
			goto out;
	}
	if (check_all_used(E, img_matched, rule_used, err) < 0 || check_names_unique(w, n, err) < 0)
		goto out;
	if (n == 0 && n_entries > 0 && n_want) {
		ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no image for platform %s%s", E->src->display,
				o->platform ? o->platform : o->platforms[0], n_want > 1 ? " or the others asked for" : "");
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n_want; i++)
		ferry_platform_free(&wants[i]);
	free(wants);
	free(img_matched);
	free(rule_used);
	free(taken);
	free(refs);
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
	ferry_error not_a_ref = FERRY_ERROR_INIT; /* then it is a registry or a prefix */
	bool parsed = strchr(dest, '/') && ferry_ref_parse(&full, dest, &not_a_ref) == 0;
	bool is_full = parsed && (full.tag || ferry_digest_is_set(&full.digest));
	if (parsed && !is_full)
		ferry_ref_free(&full);
	size_t n_images = 0, first = 0;
	for (size_t i = n; i-- > 0;) {
		if (!works[i].artifact) {
			n_images++;
			first = i;
		}
	}
	if (is_full) {
		if (n_images != 1) {
			ferry_ref_free(&full);
			return ferry_error_set(err, FERRY_E_USAGE,
					       "docker://%s names one image, but %zu images are selected (use --image, "
					       "or a docker://HOST[/PATH] destination)",
					       dest, n_images);
		}
		/* Its referrers follow it there (engine_referrers_follow), by digest or cosign tag. */
		free_names(works[first].names, works[first].n_names);
		works[first].names = ferry_xcalloc(1, sizeof(ferry_name));
		works[first].names[0].has_ref = true;
		works[first].names[0].ref = full;
		works[first].n_names = 1;
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
