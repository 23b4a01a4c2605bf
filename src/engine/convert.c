/*
 * convert.c - the entry points: ferry_convert, ferry_convert_in, ferry_tag, ferry_untag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"
#include "volumes.h"

int ferry_parse_split_size(const char *s, uint64_t *bytes, ferry_error *err)
{
	return ferry_parse_volume_size(s, bytes, err);
}

static int open_store(engine *E, const ferry_location *dl, work *works, size_t n_works, ferry_error *err)
{
	if (dl->fmt == FERRY_FMT_OCI)
		return ferry_store_open_dir(dl->path, &E->store, err);
	if (dl->fmt != FERRY_FMT_REGISTRY) {
		ferry_tar_opts to = {.split = E->o->split, .sign_key = E->o->sign_key};
		return ferry_store_open_tar_opts(dl->path, dl->comp, &to, &E->store, err);
	}
	size_t n = 0;
	for (size_t i = 0; i < n_works; i++)
		n += works[i].n_names;
	ferry_name *names = ferry_xcalloc(n ? n : 1, sizeof(*names));
	n = 0;
	for (size_t i = 0; i < n_works; i++) {
		for (size_t k = 0; k < works[i].n_names; k++)
			names[n++] = works[i].names[k]; /* shallow: borrowed for the call */
	}
	ferry_registry_opts def;
	ferry_registry_opts_init(&def);
	int rc = ferry_store_open_registry(E->o->registry_opts ? E->o->registry_opts : &def, names, n, E->cache,
					   &E->store, err);
	free(names);
	return rc;
}

/* Which of img's layers were zstd in the source: *kept says some stayed so, *undone that some were decompressed. */
static void zstd_layers(engine *E, const ferry_image *img, bool *kept, bool *undone)
{
	for (size_t i = 0; i < img->n_children; i++)
		zstd_layers(E, &img->children[i], kept, undone);
	for (size_t i = 0; i < img->n_layers; i++) {
		const layer_job *j = engine_job_of(E, &img->layers[i]);
		*kept = *kept || j->comp == FERRY_COMP_ZSTD;
		*undone = *undone || (j->found == FERRY_COMP_ZSTD && j->comp == FERRY_COMP_NONE);
	}
}

/*
 * docker-archive: say what zstd costs an image.  Decompressed (the default)
 * its manifest digest changes; kept, older docker load cannot read it.
 */
static void say_zstd(engine *E, const work *w, const ferry_descriptor *out)
{
	bool kept = false, undone = false;
	if (E->dfmt->layers != FERRY_LAYERS_LOADABLE)
		return;
	zstd_layers(E, w->img, &kept, &undone);
	char msg[FERRY_ERROR_MSG_MAX];
	if (undone && !E->o->compress_set && ferry_digest_is_set(&w->img->desc.digest) &&
	    !ferry_digest_eq(&w->img->desc.digest, &out->digest)) {
		snprintf(msg, sizeof(msg),
			 "%s: zstd layers decompressed for docker load, so its digest changes from %s to %s "
			 "(--keep-zstd keeps them)",
			 w->label, w->img->desc.digest.str, out->digest.str);
		engine_emit(E, FERRY_EV_WARNING, w->label, NULL, 0, 0, msg);
	}
	if (kept) {
		snprintf(msg, sizeof(msg), "%s: has zstd layers, which Docker 20.10's docker load cannot read", w->label);
		engine_emit(E, FERRY_EV_WARNING, w->label, NULL, 0, 0, msg);
	}
}

/* Each work's config and manifests, and its entry for the format's metadata (oes[*n_oes++]). */
/* Work i's config and manifest (its layers are written), and its entry for the format's metadata. */
static int write_image(engine *E, size_t i, ferry_out_entry *oe, ferry_error *err)
{
	work *w = &E->works[i];
	engine_set_owner(E, i);
	E->writing_artifact = w->artifact;
	if (engine_write_image(E, w->label, w->img, oe, &oe->desc, err) < 0)
		return -1;
	say_zstd(E, w, &oe->desc);
	oe->artifact = w->artifact;
	oe->subject = w->subject;
	for (size_t k = 0; k < w->n_names; k++) {
		ferry_name nm;
		ferry_name_copy(&nm, &w->names[k]);
		if (E->dfmt->needs_repository && !nm.has_ref) {
			char msg[512];
			snprintf(msg, sizeof(msg),
				 "%s is named only by the tag \"%s\" and has no repository: written untagged "
				 "(give it one with --repository NAME)",
				 w->label, nm.bare_tag);
			engine_emit(E, FERRY_EV_WARNING, w->label, NULL, 0, 0, msg);
		}
		*FERRY_PUSH(oe->names, oe->n_names, oe->cap_names) = nm;
	}
	return 0;
}

/*
 * A tar takes blobs in the order they come. Written image by image (its
 * layers, then its config and manifest), the first volumes of a set, or
 * the start of a cut-short archive, hold whole images. A one-pass source
 * is read in its own order instead, and a directory or a registry has no
 * order: there every layer goes first, on both lanes.
 */
static bool image_by_image(const engine *E)
{
	return !E->store->concurrent_blobs && !E->store->remote && !E->src->tree->one_pass;
}

static int write_images(engine *E, size_t n_works, ferry_out_entry *oes, size_t *n_oes, ferry_error *err)
{
	if (engine_prepare_jobs(E, err) < 0)
		return -1;
	bool grouped = image_by_image(E);
	if (!grouped && engine_run_jobs(E, 0, n_works, err) < 0)
		return -1;
	for (size_t i = 0; i < n_works; i++) {
		if (grouped && engine_run_jobs(E, i, i + 1, err) < 0)
			return -1;
		if (write_image(E, i, &oes[(*n_oes)++], err) < 0)
			return -1;
	}
	return 0;
}

/*
 * A referrer names its subject by digest: when the subject's manifest had to
 * be rebuilt (its layers recompressed), the referrer no longer matches it.
 * Say so: a signature that cannot verify any more should not be found out
 * at the far end.
 */
static void say_detached(engine *E, size_t n_works, const ferry_out_entry *oes)
{
	for (size_t a = 0; a < n_works; a++) {
		const work *r = &E->works[a];
		for (size_t i = 0; r->artifact && i < n_works; i++) {
			const work *w = &E->works[i];
			if (w->artifact || !ferry_digest_eq(&w->img->desc.digest, &r->subject) ||
			    ferry_digest_eq(&oes[i].desc.digest, &r->subject))
				continue;
			char msg[FERRY_ERROR_MSG_MAX];
			snprintf(msg, sizeof(msg),
				 "%s: its manifest was rebuilt (digest %s, was %s), so referrer %s, about the old "
				 "digest, no longer matches it (convert with the layers' compression kept to keep it)",
				 w->label, oes[i].desc.digest.str, r->subject.str, r->img->desc.digest.str);
			engine_emit(E, FERRY_EV_WARNING, w->label, NULL, 0, 0, msg);
			break;
		}
	}
}

/* The format's metadata; a delta's index.json lists what it left out. */
static int write_meta(engine *E, ferry_out_entry *oes, size_t n_oes, bool replace_index, ferry_error *err)
{
	if (E->n_left_out) {
		char *ann = ferry_expected_format(E->left_out, E->n_left_out);
		/* index.json must stay readable (FERRY_JSON_MAX), its entries included. */
		if (strlen(ann) > FERRY_JSON_MAX / 2) {
			free(ann);
			return ferry_error_set(err, FERRY_E_LIMIT,
					       "the delta would leave out %zu blobs, too many to list in its index.json "
					       "(at most %u bytes): split the images over several deltas",
					       E->n_left_out, FERRY_JSON_MAX / 2);
		}
		int rc = ferry_oci_write_index_ann(E->store, oes, n_oes, !replace_index, ann, err);
		free(ann);
		return rc;
	}
	return replace_index ? ferry_oci_write_index(E->store, oes, n_oes, false, err)
			     : E->dfmt->write_meta(E->store, oes, n_oes, err);
}

int ferry_convert_in(ferry_source *src, const ferry_location *dl, const ferry_convert_opts *o, bool replace_index,
		     ferry_convert_stats *stats, ferry_error *err)
{
	return ferry_convert_into(src, NULL, dl, o, replace_index, stats, err);
}

int ferry_convert_into(ferry_source *src, ferry_store *store, const ferry_location *dl, const ferry_convert_opts *o,
		       bool replace_index, ferry_convert_stats *stats, ferry_error *err)
{
	ferry_convert_stats dummy;
	if (!stats)
		stats = &dummy;
	memset(stats, 0, sizeof(*stats));
	engine E = {0};
	E.store = store;
	E.in_place = store != NULL; /* only tag and untag hand their store over */
	E.o = o;
	E.src = src;
	E.st = stats;
	E.dfmt = ferry_format_by_id(dl->fmt);
	const char *cpath = o->cache_path;
	if (!cpath || *cpath)
		E.cache = ferry_blobcache_open(cpath);
	/* Without --compress, what a policy compresses is gzipped at its default level. */
	E.level = o->level ? o->level
		: o->compress_set && o->compress == FERRY_COMP_ZSTD ? FERRY_ZSTD_DEFAULT_LEVEL
								     : FERRY_GZIP_DEFAULT_LEVEL;
	work *works = NULL;
	size_t n_works = 0;
	ferry_out_entry *oes = NULL;
	size_t n_oes = 0;
	int rc = -1;
	if (ferry_source_require_images(src, err) < 0 || engine_delta_begin(&E, dl, err) < 0 ||
	    engine_attach_bases(src, o, err) < 0 || engine_plan(&E, &works, &n_works, err) < 0)
		goto out;
	if (dl->fmt == FERRY_FMT_REGISTRY && engine_push_names(dl->path, works, n_works, err) < 0)
		goto out;
	engine_referrers_follow(works, n_works);
	if (!E.store && open_store(&E, dl, works, n_works, err) < 0)
		goto out;
	E.store->on_event = o->on_event;
	E.store->event_ud = o->event_ud;
	E.store_path = strcmp(dl->path, "-") == 0 ? NULL : dl->path;
	E.works = works;
	E.n_works_checked = n_works;
	for (size_t i = 0; i < n_works; i++)
		engine_add_jobs(&E, works[i].img, i);
	oes = ferry_xcalloc(n_works ? n_works : 1, sizeof(*oes));
	if (write_images(&E, n_works, oes, &n_oes, err) < 0)
		goto out;
	say_detached(&E, n_works, oes);
	if (write_meta(&E, oes, n_oes, replace_index, err) < 0)
		goto out;
	ferry_store_tar_images(E.store, oes, n_oes);
	for (size_t i = 0; i < E.n_left_out; i++)
		ferry_store_tar_expect(E.store, &E.left_out[i].digest, E.left_out[i].size);
	/* Read a one-pass source to its end: a damaged tail must fail the run, not pass unseen. */
	if (src->tree->ops->finish(src->tree, err) < 0)
		goto out;
	if (ferry_store_commit(E.store, err) < 0)
		goto out;
	rc = 0;
out:
	for (size_t i = 0; i < n_oes; i++)
		ferry_out_entry_free(&oes[i]);
	free(oes);
	engine_free_works(works, n_works);
	for (size_t i = 0; i < E.n_jobs; i++)
		ferry_descriptor_free(&E.jobs[i].out);
	free(E.jobs);
	ferry_strmap_free(&E.job_by_path);
	ferry_strmap_free(&E.written);
	ferry_store_free(E.store);
	ferry_blobcache_close(E.cache);
	engine_delta_free(&E);
	return rc;
}

int ferry_convert(const char *src_s, const char *dst_s, const ferry_convert_opts *o, ferry_convert_stats *stats,
		  ferry_error *err)
{
	ferry_location sl, dl;
	if (ferry_location_parse_dest(dst_s, o->format, &dl, err) < 0)
		return -1;
	if ((o->split || o->sign_key) && (dl.fmt == FERRY_FMT_OCI || dl.fmt == FERRY_FMT_REGISTRY)) {
		ferry_location_free(&dl);
		return ferry_error_set(err, FERRY_E_USAGE, "%s is for archive destinations (docker-archive, oci-archive)",
				       o->split ? "--split" : "--sign-key");
	}
	if (ferry_location_parse_source(src_s, &sl, err) < 0 || ferry_location_check_distinct(&sl, &dl, err) < 0) {
		ferry_location_free(&sl);
		ferry_location_free(&dl);
		return -1;
	}
	char *spool_parent =
		strcmp(dl.path, "-") == 0 || dl.fmt == FERRY_FMT_REGISTRY ? NULL : ferry_dest_parent(dl.path);
	ferry_source *src = NULL;
	int rc = ferry_source_open_at(&sl, src_s, spool_parent, o->registry_opts, &src, err);
	if (rc == 0)
		rc = ferry_convert_in(src, &dl, o, false, stats, err);
	ferry_source_free(src);
	free(spool_parent);
	ferry_location_free(&sl);
	ferry_location_free(&dl);
	return rc;
}

/*
 * The store a tag or untag writes: opened, and so locked, before the source
 * is read, so that another writer's change cannot fall between our read and
 * our rename.  *out stays NULL for what is neither a layout nor a regular
 * file (opening the source then says what is wrong with it).
 */
static int open_in_place_store(const char *path, ferry_store **out, ferry_error *err)
{
	*out = NULL;
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	if (S_ISREG(st.st_mode))
		return ferry_store_open_tar(path, FERRY_COMP_NONE, out, err);
	if (!S_ISDIR(st.st_mode))
		return 0;
	char *marker = ferry_xasprintf("%s/oci-layout", path);
	bool layout = access(marker, F_OK) == 0;
	free(marker);
	return layout ? ferry_store_open_dir(path, out, err) : 0;
}

static int retag_in_place(const char *location, const ferry_convert_opts *o, ferry_error *err)
{
	ferry_location sl;
	if (ferry_location_parse_source(location, &sl, err) < 0)
		return -1;
	ferry_source *src = NULL;
	ferry_store *store = NULL;
	char *parent = strcmp(sl.path, "-") == 0 ? NULL : ferry_dest_parent(sl.path);
	int rc = -1;
	if (strcmp(sl.path, "-") == 0) {
		ferry_error_set(err, FERRY_E_USAGE, "tag and untag change a file in place: stdin cannot be used");
		goto out;
	}
	if (sl.fmt == FERRY_FMT_REGISTRY) {
		ferry_error_set(err, FERRY_E_USAGE, "tag and untag change files in place; to retag in a registry, push");
		goto out;
	}
	if (open_in_place_store(sl.path, &store, err) < 0 ||
	    ferry_source_open_at(&sl, location, parent, NULL, &src, err) < 0)
		goto out;
	if (src->tree->one_pass) {
		ferry_error_set(err, FERRY_E_USAGE,
				"%s is compressed as a whole: convert it to retag it (tag rewrites it in place)",
				location);
		goto out;
	}
	ferry_location dl = {.fmt = src->format->id, .path = sl.path, .comp = FERRY_COMP_NONE};
	/* An OCI layout keeps exactly the entries that remain; archives are rewritten whole. */
	rc = ferry_convert_into(src, store, &dl, o, src->format->id == FERRY_FMT_OCI, NULL, err);
	store = NULL; /* taken */
out:
	ferry_store_free(store);
	ferry_source_free(src);
	free(parent);
	ferry_location_free(&sl);
	return rc;
}

int ferry_tag(const char *location, const char *ref, const char *const *new_refs, size_t n, ferry_error *err)
{
	ferry_tag_rule *rules = ferry_xcalloc(n ? n : 1, sizeof(*rules));
	for (size_t i = 0; i < n; i++)
		rules[i] = (ferry_tag_rule){.from = ref, .to = new_refs[i], .add = true};
	/* Names change, blobs do not: zstd layers stay zstd too. */
	ferry_convert_opts o = {.tag_rules = rules, .n_tag_rules = n, .keep_zstd = true};
	int rc = retag_in_place(location, &o, err);
	free(rules);
	return rc;
}

int ferry_untag(const char *location, const char *const *refs, size_t n, ferry_error *err)
{
	ferry_convert_opts o = {.remove_names = refs, .n_remove_names = n, .keep_zstd = true};
	return retag_in_place(location, &o, err);
}
