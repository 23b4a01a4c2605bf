/*
 * cmd_convert.c - ferry convert, and ferry push (a convert whose destination
 * is a registry: every image to the registry its name says, or to DEST).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "format.h"
#include "progress.h"
#include "util.h"

#define RETAG_HELP                                                                                             \
	"  --tag OLD=NEW            rename an image\n"                                                             \
	"  --add-tag OLD=NEW        give an image another name\n"                                                  \
	"  --registry HOST[:PORT]   move every name to this registry, keeping its path\n"                          \
	"  --prefix HOST[:PORT]/PATH\n"                                                                          \
	"                           put every repository under this prefix\n"                                      \
	"  --repository NAME        repository for images named only by a bare tag\n"                              \
	"  --image REF              only this image (repeatable; REF may be a sha256: prefix)\n"                  \
	"  --platform OS/ARCH[/VARIANT]\n"                                                                       \
	"                           only this platform of multi-platform images; repeated,\n"                    \
	"                           their indexes keep just those platforms (new digest)\n"                      \
	"  --images-from LIST       copy every image LIST names (plain references, or\n"                        \
	"                           skopeo sync YAML) in one run; SRC is then left out\n"                     \
	"  --keep-going             with --images-from: skip an image that fails, list\n"                      \
	"                           the failures at the end (exit 1)\n"                                         \
	"  --lock FILE              with --images-from: write the tag -> digest map used\n"                  \
	"                           (give it as LIST to copy exactly these again)\n"                           \
	"  --no-referrers           leave out signatures, attestations, SBOMs and other\n"                         \
	"                           referrers (by default they travel with their images)\n"                        \
	"  --referrer-type TYPE     only referrers of this artifactType (repeatable)\n"                            \
	"  --base LOCATION          SRC is a delta: take the blobs it left out from here\n"                       \
	"                           (repeatable; else the destination must have them)\n"                           \
	CLI_PROGRESS_HELP                                                                                      \
	"  --json                   print what was done as JSON on stdout (schema in ferry(1))\n"             \
	"  -h, --help               show this help\n"

const char cmd_convert_usage[] =
	"Usage: ferry convert [OPTIONS] SRC DST\n"
	"       ferry convert [OPTIONS] --images-from LIST DST\n"
	"\n"
	"Copy the images of SRC into DST, converting between formats.\n"
	"Locations: docker-archive:PATH, oci:DIR, oci-archive:PATH, docker://REF (a\n"
	"registry), or a bare path (a source is recognised by its content; a destination\n"
	"by its name: DIR/ or an existing directory is oci, *.tar, *.tar.gz, *.tgz,\n"
	"*.tar.zst is docker-archive). '-' as PATH is stdin or stdout.\n"
	"\n"
	"  --format FORMAT          destination format: docker-archive, oci, oci-archive\n"
	"  --compress none|gzip[:LEVEL]|zstd[:LEVEL]\n"
	"                           recompress every layer (default: keep the source's\n"
	"                           bytes; docker-archive decompresses zstd layers, which\n"
	"                           older docker load cannot read; registries get gzip for\n"
	"                           plain layers)\n"
	"  --keep-zstd              docker-archive: keep zstd layers too, so every manifest\n"
	"                           keeps its digest (Docker 20.10 cannot load them)\n"
	"  --manifest-format oci|docker\n"
	"                           kind of manifest to build when one must be built\n"
	"  --have HAVE              make a delta: leave out the layers HAVE (an inventory\n"
	"                           file or any location) lists; DST is an OCI layout or\n"
	"                           OCI archive (repeatable)\n"
	"  --split SIZE             archives: cut into volumes DST.001, DST.002... of at\n"
	"                           most SIZE (k/M/G/T 1024-based, kB/MB/GB/TB 1000-based,\n"
	"                           or fat32, dvd, bd), with DST.sha256 (sha256sum -c) and\n"
	"                           a transfer manifest DST.transfer.json\n"
	"  --sign-key KEY.pem       archives: write DST.transfer.json and sign it into\n"
	"                           DST.transfer.sig (Ed25519 or ECDSA P-256 private key)\n" RETAG_HELP "\n" CLI_REG_HELP;

const char cmd_push_usage[] =
	"Usage: ferry push [OPTIONS] SRC [DEST]\n"
	"       ferry push [OPTIONS] --images-from LIST [DEST]\n"
	"\n"
	"Push every image of SRC to the registry, repository and tag its name says\n"
	"(localhost:5000/team/app:13 goes to localhost:5000, repository team/app, tag 13).\n"
	"DEST may be docker://HOST[:PORT] (every name moved to that registry),\n"
	"docker://HOST[:PORT]/PATH (every repository put under that prefix), or a full\n"
	"docker://REF when one image is pushed. Blobs the registry has are skipped or\n"
	"mounted; plain layers are gzip-compressed (deterministically) and the result\n"
	"remembered, so pushing the same archive again sends nothing.\n"
	"\n"
	"  --compress none|gzip[:LEVEL]|zstd[:LEVEL]\n"
	"                           layer compression (default: gzip plain layers, keep\n"
	"                           compressed ones)\n"
	"  --manifest-format oci|docker\n"
	"                           kind of manifest to build when one must be built\n" RETAG_HELP "\n" CLI_REG_HELP;

/* ---- what a run did, for --json ---- */

typedef struct blob_rec {
	char digest[FERRY_DIGEST_STRMAX];
	int64_t size; /* -1: not known (a mounted blob) */
	const char *action;
} blob_rec;

typedef struct done_rec {
	char digest[FERRY_DIGEST_STRMAX];
	char config[FERRY_DIGEST_STRMAX]; /* FERRY_EV_IMAGE_DONE: its config digest */
	char *name; /* owned; the image's first name, or its label */
	char *ref;  /* owned; push: where it went ("host/repo:tag" or "host/repo@digest") */
} done_rec;

typedef struct run_rec {
	cli_progress *prog;
	bool registry; /* the destination is a registry (push, or convert to docker://) */
	blob_rec *blobs;
	size_t n_blobs, cap_blobs;
	done_rec *images; /* FERRY_EV_IMAGE_DONE */
	size_t n_images, cap_images;
	done_rec *pushed; /* FERRY_EV_MANIFEST_PUSHED */
	size_t n_pushed, cap_pushed;
	char **failures; /* --keep-going: "image: why" */
	size_t n_failures, cap_failures;
} run_rec;

static void rec_blob(run_rec *r, const ferry_event *ev, const char *action)
{
	blob_rec *b = FERRY_PUSH(r->blobs, r->n_blobs, r->cap_blobs);
	snprintf(b->digest, sizeof(b->digest), "%s", ev->digest ? ev->digest->str : "");
	b->action = action;
	/* A mount says no size: run_json takes it from another event about the same blob. */
	b->size = ev->kind == FERRY_EV_BLOB_MOUNTED ? -1 : ev->bytes ? (int64_t)ev->bytes : (int64_t)ev->total;
}

static int64_t known_size(const run_rec *r, const char *digest)
{
	for (size_t i = 0; i < r->n_blobs; i++) {
		if (r->blobs[i].size >= 0 && !strcmp(r->blobs[i].digest, digest))
			return r->blobs[i].size;
	}
	return -1;
}

static void on_event(const ferry_event *ev, void *ud)
{
	run_rec *r = ud;
	switch (ev->kind) {
	case FERRY_EV_BLOB_WRITTEN:
		rec_blob(r, ev, r->registry ? "uploaded" : "written");
		break;
	case FERRY_EV_BLOB_EXISTS:
		rec_blob(r, ev, "existing");
		break;
	case FERRY_EV_BLOB_DEDUP:
		rec_blob(r, ev, "deduplicated");
		break;
	case FERRY_EV_BLOB_MOUNTED:
		rec_blob(r, ev, "mounted");
		break;
	case FERRY_EV_BLOB_LEFT_OUT:
		rec_blob(r, ev, "left-out");
		break;
	case FERRY_EV_IMAGE_DONE: {
		done_rec *d = FERRY_PUSH(r->images, r->n_images, r->cap_images);
		memset(d, 0, sizeof(*d));
		snprintf(d->digest, sizeof(d->digest), "%s", ev->digest ? ev->digest->str : "");
		snprintf(d->config, sizeof(d->config), "%s", ev->message ? ev->message : "");
		d->name = ferry_xstrdup(ev->name);
		break;
	}
	case FERRY_EV_MANIFEST_PUSHED: {
		done_rec *d = FERRY_PUSH(r->pushed, r->n_pushed, r->cap_pushed);
		memset(d, 0, sizeof(*d));
		snprintf(d->digest, sizeof(d->digest), "%s", ev->digest ? ev->digest->str : "");
		d->ref = ferry_xstrdup(ev->name ? ev->name : ev->message);
		break;
	}
	default:
		break;
	}
	cli_progress_event(ev, r->prog);
}

/* --keep-going: an image of the list that was skipped, said now and again at the end. */
static void on_list_failure(const char *image, const char *why, void *ud)
{
	run_rec *r = ud;
	fprintf(stderr, "ferry: skipped %s: %s\n", image, why);
	*FERRY_PUSH(r->failures, r->n_failures, r->cap_failures) = ferry_xasprintf("%s: %s", image, why);
}

static void say_failures(const run_rec *r)
{
	if (r->n_failures)
		fprintf(stderr, "ferry: %zu image%s of the list failed:\n", r->n_failures, r->n_failures == 1 ? "" : "s");
	for (size_t i = 0; i < r->n_failures; i++)
		fprintf(stderr, "  %s\n", r->failures[i]);
}

static void rec_free(run_rec *r)
{
	for (size_t i = 0; i < r->n_failures; i++)
		free(r->failures[i]);
	free(r->failures);
	for (size_t i = 0; i < r->n_images; i++)
		free(r->images[i].name);
	for (size_t i = 0; i < r->n_pushed; i++)
		free(r->pushed[i].ref);
	free(r->images);
	free(r->pushed);
	free(r->blobs);
}

/* The image manifest this run wrote with this digest, or NULL. */
static const done_rec *done_image(const run_rec *r, const char *digest)
{
	for (size_t i = 0; i < r->n_images; i++) {
		if (!strcmp(r->images[i].digest, digest))
			return &r->images[i];
	}
	return NULL;
}

/* Did this run write img, or (an index) one of its manifests? */
static bool image_written(const run_rec *r, const ferry_image *img)
{
	if (img->desc.digest.str[0] && done_image(r, img->desc.digest.str))
		return true;
	for (size_t i = 0; i < img->n_children; i++) {
		if (image_written(r, &img->children[i]))
			return true;
	}
	return false;
}

/* config: the image ID; NULL or "" for an index (or when not known). */
static json_t *image_json(json_t *names, const char *digest, const char *media_type, const char *config)
{
	json_t *o = json_object();
	json_object_set_new(o, "names", names);
	json_object_set_new(o, "digest", digest && *digest ? json_string(digest) : json_null());
	json_object_set_new(o, "mediaType", media_type ? json_string(media_type) : json_null());
	json_object_set_new(o, "config", config && *config ? json_string(config) : json_null());
	return o;
}

/*
 * The images a run wrote, as the destination now holds them. A registry:
 * every manifest pushed under a tag. A file or layout: read back (names and
 * media types as written), keeping the entries this run wrote. Stdout: what
 * the events said.
 */
static json_t *images_json(const run_rec *r, const char *dest)
{
	json_t *arr = json_array();
	if (r->registry) {
		for (size_t i = 0; i < r->n_pushed; i++) {
			const done_rec *p = &r->pushed[i];
			if (strchr(p->ref, '@'))
				continue; /* by digest: the manifests of an index, or an untagged push */
			json_t *o = NULL;
			size_t k;
			json_t *v;
			json_array_foreach(arr, k, v)
			{
				if (!strcmp(json_string_value(json_object_get(v, "digest")), p->digest))
					o = v;
			}
			if (!o) {
				const done_rec *d = done_image(r, p->digest);
				o = image_json(json_array(), p->digest, NULL, d ? d->config : NULL);
				json_array_append_new(arr, o);
			}
			json_array_append_new(json_object_get(o, "names"), json_string(p->ref));
		}
		return arr;
	}
	ferry_source *src = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	if (strcmp(dest, "-") != 0 && ferry_source_open(dest, &src, &err) == 0) {
		for (size_t i = 0; i < src->n_entries; i++) {
			const ferry_entry *e = &src->entries[i];
			if (!image_written(r, &e->img))
				continue;
			json_t *names = json_array();
			for (size_t k = 0; k < e->n_names; k++) {
				char *s = ferry_name_string(&e->names[k]);
				json_array_append_new(names, json_string(s));
				free(s);
			}
			const char *cfg = e->img.is_index ? NULL : e->img.config.desc.digest.str;
			json_array_append_new(arr, image_json(names, e->img.desc.digest.str, e->img.desc.media_type, cfg));
		}
		ferry_source_free(src);
		return arr;
	}
	for (size_t i = 0; i < r->n_images; i++) {
		json_t *names = json_array();
		const char *n = r->images[i].name;
		if (n && strncmp(n, "image ", 6) != 0) /* "image sha256:...": the label of an unnamed image */
			json_array_append_new(names, json_string(n));
		json_array_append_new(arr, image_json(names, r->images[i].digest, NULL, r->images[i].config));
	}
	return arr;
}

static json_t *run_json(const char *cmd, const run_rec *r, const char *src, const char *dest,
			const ferry_convert_stats *st, double secs)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "command", json_string(cmd));
	json_object_set_new(doc, "source", json_string(src));
	json_object_set_new(doc, "destination", json_string(dest));
	json_object_set_new(doc, "images", images_json(r, dest));
	json_object_set_new(doc, "referrers", json_integer((json_int_t)st->referrers));
	json_t *blobs = json_array();
	for (size_t i = 0; i < r->n_blobs; i++) {
		const blob_rec *b = &r->blobs[i];
		int64_t size = b->size >= 0 ? b->size : known_size(r, b->digest);
		json_t *o = json_object();
		json_object_set_new(o, "digest", json_string(b->digest));
		json_object_set_new(o, "size", size >= 0 ? json_integer(size) : json_null());
		json_object_set_new(o, "action", json_string(b->action));
		json_array_append_new(blobs, o);
	}
	json_object_set_new(doc, "blobs", blobs);
	if (r->registry) {
		json_t *m = json_array();
		for (size_t i = 0; i < r->n_pushed; i++)
			json_array_append_new(m, json_string(r->pushed[i].ref));
		json_object_set_new(doc, "manifests", m);
	}
	json_object_set_new(doc, "bytes_read", json_integer((json_int_t)st->bytes_read));
	json_object_set_new(doc, "bytes_written", json_integer((json_int_t)st->bytes_written));
	json_object_set_new(doc, "blobs_left_out", json_integer((json_int_t)st->blobs_left_out));
	json_object_set_new(doc, "bytes_left_out", json_integer((json_int_t)st->bytes_left_out));
	json_object_set_new(doc, "seconds", json_real(secs));
	json_object_set_new(doc, "ok", json_true());
	return doc;
}

static int split_rule(const char *arg, const char *opt, ferry_tag_rule *r, bool add, char **store)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || !eq[1]) {
		fprintf(stderr, "ferry: %s needs OLD=NEW, got \"%s\"\n", opt, arg);
		return -1;
	}
	*store = ferry_xstrdup(arg);
	(*store)[eq - arg] = '\0';
	r->from = *store;
	r->to = *store + (eq - arg) + 1;
	r->add = add;
	return 0;
}

/* What the command line asks of convert or push. */
typedef struct convert_args {
	ferry_convert_opts o;
	ferry_tag_rule *rules;
	char **rule_bufs; /* what rules point into */
	const char **images;
	const char **platforms; /* the second --platform and on */
	const char **rtypes;    /* --referrer-type */
	size_t n_rules, n_images, n_platforms, n_rtypes;
	const char **have, **bases;
	size_t n_have, n_bases;
	cli_progress_mode mode;
	bool json;
	cli_reg reg;
	const char *src;
	char *dest;
	const char *images_from; /* --images-from LIST */
	ferry_list_opts lo;
} convert_args;

static void args_init(convert_args *a, int argc)
{
	memset(a, 0, sizeof(*a));
	a->rules = ferry_xcalloc((size_t)argc, sizeof(*a->rules));
	a->rule_bufs = ferry_xcalloc((size_t)argc, sizeof(char *));
	a->images = ferry_xcalloc((size_t)argc, sizeof(char *));
	a->platforms = ferry_xcalloc((size_t)argc, sizeof(char *));
	a->rtypes = ferry_xcalloc((size_t)argc, sizeof(char *));
	a->have = ferry_xcalloc((size_t)argc, sizeof(char *));
	a->bases = ferry_xcalloc((size_t)argc, sizeof(char *));
	a->mode = CLI_PROGRESS_AUTO;
	cli_reg_init(&a->reg);
}

static void args_free(convert_args *a)
{
	for (size_t i = 0; i < a->n_rules; i++)
		free(a->rule_bufs[i]);
	free(a->rule_bufs);
	free(a->rules);
	free(a->images);
	free(a->platforms);
	free(a->rtypes);
	free(a->have);
	free(a->bases);
	free(a->dest);
	cli_reg_free(&a->reg);
}

enum { O_FORMAT = 256, O_COMPRESS, O_MANIFEST, O_TAG, O_ADDTAG, O_REGISTRY, O_PREFIX, O_REPO, O_IMAGE,
       O_PLATFORM, O_PROGRESS, O_JSON, O_KEEP_ZSTD, O_IMAGES_FROM, O_KEEP_GOING, O_LOCK, O_NO_REFERRERS,
       O_REFERRER_TYPE, O_HAVE, O_BASE, O_SPLIT, O_SIGN_KEY };

/* One option of convert or push (not a registry option): 0, or -1 with *rc the exit code. */
static int take_option(const char *cmd, bool push, int c, char **argv, convert_args *a, int *rc)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_convert_opts *o = &a->o;
	*rc = FERRY_E_USAGE;
	switch (c) {
	case O_FORMAT:
		if (push || !ferry_format_by_name(optarg) || !strcmp(optarg, "docker")) {
			*rc = push ? cli_bad_option(cmd, argv) : cli_usage_error(cmd, "unknown format \"%s\"", optarg);
			return -1;
		}
		o->format = optarg;
		return 0;
	case O_COMPRESS:
		if (ferry_comp_parse(optarg, &o->compress, &o->level, &err) < 0) {
			*rc = cli_fail(&err);
			return -1;
		}
		o->compress_set = true;
		return 0;
	case O_SPLIT:
		if (push) {
			*rc = cli_bad_option(cmd, argv);
			return -1;
		}
		if (ferry_parse_split_size(optarg, &o->split, &err) < 0) {
			*rc = cli_fail(&err);
			return -1;
		}
		return 0;
	case O_SIGN_KEY:
		if (push) {
			*rc = cli_bad_option(cmd, argv);
			return -1;
		}
		o->sign_key = optarg;
		return 0;
	case O_KEEP_ZSTD:
		if (push) {
			*rc = cli_bad_option(cmd, argv);
			return -1;
		}
		o->keep_zstd = true;
		return 0;
	case O_MANIFEST:
		if (strcmp(optarg, "docker") != 0 && strcmp(optarg, "oci") != 0) {
			*rc = cli_usage_error(cmd, "--manifest-format takes oci or docker, not \"%s\"", optarg);
			return -1;
		}
		o->docker_manifests = strcmp(optarg, "docker") == 0;
		return 0;
	case O_TAG:
	case O_ADDTAG:
		if (split_rule(optarg, c == O_TAG ? "--tag" : "--add-tag", &a->rules[a->n_rules], c == O_ADDTAG,
			       &a->rule_bufs[a->n_rules]) < 0)
			return -1;
		a->n_rules++;
		return 0;
	case O_REGISTRY:
		o->registry = optarg;
		return 0;
	case O_PREFIX:
		o->prefix = optarg;
		return 0;
	case O_REPO:
		o->repository = optarg;
		return 0;
	case O_IMAGE:
		a->images[a->n_images++] = optarg;
		return 0;
	case O_PLATFORM: /* repeatable: the first is platform, the rest platforms */
		if (!o->platform)
			o->platform = optarg;
		else
			a->platforms[a->n_platforms++] = optarg;
		return 0;
	case O_NO_REFERRERS:
		o->no_referrers = true;
		return 0;
	case O_REFERRER_TYPE:
		a->rtypes[a->n_rtypes++] = optarg;
		return 0;
	case O_HAVE:
		if (push) {
			*rc = cli_bad_option(cmd, argv);
			return -1;
		}
		a->have[a->n_have++] = optarg;
		return 0;
	case O_BASE:
		a->bases[a->n_bases++] = optarg;
		return 0;
	case O_PROGRESS:
		if (cli_progress_parse(optarg, &a->mode) < 0) {
			*rc = cli_usage_error(cmd, "--progress takes auto, bar, plain or none, not \"%s\"", optarg);
			return -1;
		}
		return 0;
	case O_JSON:
		a->json = true;
		return 0;
	case O_IMAGES_FROM:
		a->images_from = optarg;
		return 0;
	case O_KEEP_GOING:
		a->lo.keep_going = true;
		return 0;
	case O_LOCK:
		a->lo.lock_path = optarg;
		return 0;
	case 'q':
		a->mode = CLI_PROGRESS_NONE;
		return 0;
	case 'h':
		cli_help(cmd);
		*rc = 0;
		return -1;
	default:
		*rc = cli_bad_option(cmd, argv);
		return -1;
	}
}

/* The options: 0, or -1 with *rc the exit code (0 after --help). */
static int parse_options(const char *cmd, bool push, int argc, char **argv, convert_args *a, int *rc)
{
	static const struct option opts[] = {
		{"format", required_argument, 0, O_FORMAT},     {"compress", required_argument, 0, O_COMPRESS},
		{"manifest-format", required_argument, 0, O_MANIFEST}, {"tag", required_argument, 0, O_TAG},
		{"add-tag", required_argument, 0, O_ADDTAG},    {"registry", required_argument, 0, O_REGISTRY},
		{"prefix", required_argument, 0, O_PREFIX},     {"repository", required_argument, 0, O_REPO},
		{"image", required_argument, 0, O_IMAGE},       {"platform", required_argument, 0, O_PLATFORM},
		{"progress", required_argument, 0, O_PROGRESS}, {"json", no_argument, 0, O_JSON},
		{"quiet", no_argument, 0, 'q'},                 {"help", no_argument, 0, 'h'},
		{"keep-zstd", no_argument, 0, O_KEEP_ZSTD},
		{"images-from", required_argument, 0, O_IMAGES_FROM}, {"keep-going", no_argument, 0, O_KEEP_GOING},
		{"lock", required_argument, 0, O_LOCK},
		{"no-referrers", no_argument, 0, O_NO_REFERRERS}, {"referrer-type", required_argument, 0, O_REFERRER_TYPE},
		{"have", required_argument, 0, O_HAVE},         {"base", required_argument, 0, O_BASE},
		{"split", required_argument, 0, O_SPLIT},       {"sign-key", required_argument, 0, O_SIGN_KEY},
		CLI_REG_LONGOPTS,                                {0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		int r = cli_reg_option(&a->reg, c, optarg);
		if (r < 0) {
			*rc = FERRY_E_USAGE;
			return -1;
		}
		if (r == 0 && take_option(cmd, push, c, argv, a, rc) < 0)
			return -1;
	}
	return 0;
}

/* SRC and DST (push: SRC and an optional docker:// DEST; with --images-from no SRC): 0, or -1 with *rc the exit code. */
static int take_operands(const char *cmd, bool push, int argc, char **argv, convert_args *a, int *rc)
{
	int nargs = argc - optind;
	const char *const *ops = (const char *const *)argv + optind;
	if (!a->images_from && (a->lo.keep_going || a->lo.lock_path)) {
		*rc = cli_usage_error(cmd, "%s", "--keep-going and --lock go with --images-from LIST");
		return -1;
	}
	if (a->images_from) {
		if (push ? nargs > 1 : nargs != 1) {
			*rc = cli_usage_error(cmd, "%s",
					      push ? "push --images-from LIST takes an optional docker:// DEST"
						   : "convert --images-from LIST takes DST only");
			return -1;
		}
		a->src = a->images_from;
	} else {
		if (push ? (nargs < 1 || nargs > 2) : nargs != 2) {
			*rc = cli_usage_error(cmd, "%s",
					      push ? "push takes SRC and an optional docker:// DEST"
						   : "convert takes SRC and DST");
			return -1;
		}
		a->src = ops[0];
		ops++, nargs--;
	}
	if (push) {
		const char *d = nargs == 1 ? ops[0] : "docker://";
		if (!ferry_str_startswith(d, "docker://")) {
			*rc = cli_usage_error(cmd, "push sends images to a registry: DEST is docker://..., not \"%s\"", d);
			return -1;
		}
		a->dest = ferry_xstrdup(d);
		return 0;
	}
	a->dest = ferry_xstrdup(ops[0]);
	if (a->json && !strcmp(a->dest, "-")) {
		*rc = cli_usage_error(cmd, "%s", "--json prints to stdout, where DST - would write the archive");
		return -1;
	}
	return 0;
}

/* The summary line on stderr, and --json's document on stdout. */
static void report(const char *cmd, bool push, const convert_args *a, const run_rec *rec,
		   const ferry_convert_stats *st, double secs)
{
	if (cli_progress_get_mode(rec->prog) != CLI_PROGRESS_NONE) {
		char w[32];
		cli_human_size(st->bytes_written, w, sizeof(w));
		char refs[64] = "";
		if (st->referrers)
			snprintf(refs, sizeof(refs), " (and %zu referrer%s)", st->referrers, st->referrers == 1 ? "" : "s");
		fprintf(stderr, "%s %zu image%s%s to %s: %zu blobs written (%s), %zu shared, %zu already there, in %.2fs\n",
			push ? "pushed" : "converted", st->images, st->images == 1 ? "" : "s", refs,
			push && !strcmp(a->dest, "docker://") ? "their registries" : a->dest, st->blobs_written, w,
			st->blobs_dedup, st->blobs_existing, secs);
		if (st->blobs_left_out) {
			char l[32];
			cli_human_size(st->bytes_left_out, l, sizeof(l));
			fprintf(stderr, "delta: %zu blob%s (%s) left out, expected at the far side\n", st->blobs_left_out,
				st->blobs_left_out == 1 ? "" : "s", l);
		}
	}
	if (a->json)
		cli_json_print(run_json(cmd, rec, a->src, a->dest, st, secs));
}

/* convert and push: the same options, push has no --format and an optional docker:// DEST. */
static int run(const char *cmd, bool push, int argc, char **argv)
{
	convert_args a;
	args_init(&a, argc);
	run_rec rec = {0};
	ferry_error err = FERRY_ERROR_INIT;
	int rc;
	if (parse_options(cmd, push, argc, argv, &a, &rc) < 0 || take_operands(cmd, push, argc, argv, &a, &rc) < 0)
		goto out;
	a.o.tag_rules = a.rules;
	a.o.n_tag_rules = a.n_rules;
	a.o.images = a.images;
	a.o.n_images = a.n_images;
	a.o.platforms = a.platforms;
	a.o.n_platforms = a.n_platforms;
	a.o.referrer_types = a.rtypes;
	a.o.n_referrer_types = a.n_rtypes;
	a.o.have = a.have;
	a.o.n_have = a.n_have;
	a.o.bases = a.bases;
	a.o.n_bases = a.n_bases;
	rec.registry = push || ferry_str_startswith(a.dest, "docker://");
	rec.prog = cli_progress_new(a.mode, rec.registry);
	a.o.on_event = on_event;
	a.o.event_ud = &rec;
	a.reg.opts.no_referrers = a.o.no_referrers;
	a.o.registry_opts = cli_reg_opts(&a.reg);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ferry_convert_stats st;
	size_t n_failed = 0;
	a.lo.on_failure = on_list_failure;
	a.lo.failure_ud = &rec;
	int crc = a.images_from ? ferry_convert_list(a.images_from, a.dest, &a.o, &a.lo, &st, &n_failed, &err)
				: ferry_convert(a.src, a.dest, &a.o, &st, &err);
	cli_progress_done(rec.prog);
	say_failures(&rec);
	if (crc < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	report(cmd, push, &a, &rec, &st, secs);
	rc = n_failed ? FERRY_E_FAILED : 0;
out:
	cli_progress_free(rec.prog);
	rec_free(&rec);
	args_free(&a);
	return rc;
}

int cmd_convert(int argc, char **argv)
{
	return run("convert", false, argc, argv);
}

int cmd_push(int argc, char **argv)
{
	return run("push", true, argc, argv);
}
