/*
 * main.c - the ferry command: argument parsing and printing over libferry.
 * Everything it does is a library call (see ferry.h).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry.h"
#include "format.h"
#include "util.h"

typedef struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
} command;

static const command *find_command(const char *name);

static int fail(const ferry_error *err)
{
	fprintf(stderr, "ferry: %s\n", err->msg);
	return err->code ? (int)err->code : 1;
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "ferry: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'ferry %s --help'.\n", cmd);
	return FERRY_E_USAGE;
}

/* getopt's own messages are off (opterr = 0): they would name the subcommand as the program. */
static int bad_option(const char *cmd, char **argv)
{
	const char *opt = argv[optind - 1];
	if (optopt && optopt < 256 && !(opt && opt[0] == '-' && opt[1] == '-'))
		fprintf(stderr, "ferry %s: unknown option -%c\n", cmd, optopt);
	else
		fprintf(stderr, "ferry %s: unknown option or missing argument: %s\n", cmd, opt ? opt : "?");
	fprintf(stderr, "Try 'ferry %s --help'.\n", cmd);
	return FERRY_E_USAGE;
}

static void print_help(const command *c)
{
	fputs(c->usage, stdout);
}

static void human_size(uint64_t n, char *buf, size_t len)
{
	const char *units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

/* ---- ls ---- */

static const char ls_usage[] = "Usage: ferry ls [--json] LOCATION\n"
			       "\n"
			       "List the images in LOCATION, one line per name: reference, manifest digest,\n"
			       "platforms, layer count and total size (layers and config).\n"
			       "\n"
			       "  --json      print a JSON document instead (schema in README.md)\n"
			       "  -h, --help  show this help\n";

static void image_totals(const ferry_image *img, size_t *layers, uint64_t *size, json_t *platforms)
{
	if (img->is_index) {
		for (size_t i = 0; i < img->n_children; i++)
			image_totals(&img->children[i], layers, size, platforms);
		return;
	}
	*layers += img->n_layers;
	*size += img->config_len;
	for (size_t i = 0; i < img->n_layers; i++)
		*size += img->layers[i].desc.size;
	const ferry_platform *p = ferry_image_platform(img);
	char *ps = ferry_platform_string(p);
	json_array_append_new(platforms, json_string(ps));
	free(ps);
}

static int cmd_ls(int argc, char **argv)
{
	bool json = false;
	static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'h') {
			print_help(find_command("ls"));
			return 0;
		} else
			return bad_option("ls", argv);
	}
	if (argc - optind != 1)
		return usage_error("ls", "%s", "ls takes exactly one LOCATION");
	ferry_error err = FERRY_ERROR_INIT;
	ferry_source *src;
	if (ferry_source_open(argv[optind], &src, &err) < 0)
		return fail(&err);
	json_t *doc = json_object();
	json_object_set_new(doc, "location", json_string(argv[optind]));
	json_object_set_new(doc, "format", json_string(src->format->name));
	json_t *images = json_array();
	for (size_t i = 0; i < src->n_entries; i++) {
		const ferry_entry *e = &src->entries[i];
		json_t *o = json_object();
		json_t *names = json_array();
		for (size_t k = 0; k < e->n_names; k++) {
			char *s = ferry_name_string(&e->names[k]);
			json_array_append_new(names, json_string(s));
			free(s);
		}
		json_object_set_new(o, "names", names);
		json_object_set_new(o, "digest",
				    e->img.desc.digest.str[0] ? json_string(e->img.desc.digest.str) : json_null());
		json_object_set_new(o, "mediaType",
				    e->img.desc.media_type ? json_string(e->img.desc.media_type) : json_null());
		json_object_set_new(o, "config",
				    e->img.is_index ? json_null() : json_string(e->img.config.desc.digest.str));
		size_t layers = 0;
		uint64_t size = 0;
		json_t *plats = json_array();
		image_totals(&e->img, &layers, &size, plats);
		json_object_set_new(o, "platforms", plats);
		json_object_set_new(o, "layers", json_integer((json_int_t)layers));
		json_object_set_new(o, "size", json_integer((json_int_t)size));
		json_array_append_new(images, o);
	}
	json_object_set_new(doc, "images", images);
	if (json) {
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	} else {
		printf("%-50s  %-19s  %-20s  %6s  %9s\n", "REFERENCE", "DIGEST", "PLATFORMS", "LAYERS", "SIZE");
		size_t i;
		json_t *o;
		json_array_foreach(images, i, o)
		{
			const char *digest = ferry_json_str(o, "digest");
			char dshort[24];
			snprintf(dshort, sizeof(dshort), "%.19s", digest ? digest : "-");
			char plats[256] = "";
			size_t k;
			json_t *p;
			json_array_foreach(json_object_get(o, "platforms"), k, p)
			{
				if (k)
					strncat(plats, ",", sizeof(plats) - strlen(plats) - 1);
				strncat(plats, json_string_value(p), sizeof(plats) - strlen(plats) - 1);
			}
			char sz[32];
			human_size((uint64_t)json_integer_value(json_object_get(o, "size")), sz, sizeof(sz));
			json_t *names = json_object_get(o, "names");
			size_t n_names = json_array_size(names);
			for (size_t k2 = 0; k2 < (n_names ? n_names : 1); k2++) {
				printf("%-50s  %-19s  %-20s  %6lld  %9s\n",
				       n_names ? json_string_value(json_array_get(names, k2)) : "<none>", dshort, plats,
				       (long long)json_integer_value(json_object_get(o, "layers")), sz);
			}
		}
	}
	json_decref(doc);
	ferry_source_free(src);
	return 0;
}

/* ---- convert ---- */

static const char convert_usage[] =
	"Usage: ferry convert [OPTIONS] SRC DST\n"
	"\n"
	"Copy the images of SRC into DST, converting between formats.\n"
	"Locations: docker-archive:PATH, oci:DIR, oci-archive:PATH, or a bare path (a\n"
	"source is recognised by its content; a destination by its name: DIR/ or an\n"
	"existing directory is oci, *.tar, *.tar.gz, *.tgz, *.tar.zst is docker-archive).\n"
	"'-' as PATH is stdin or stdout.\n"
	"\n"
	"  --format FORMAT          destination format: docker-archive, oci, oci-archive\n"
	"  --compress none|gzip[:LEVEL]|zstd[:LEVEL]\n"
	"                           recompress layers for an OCI destination (default:\n"
	"                           keep the source's bytes; docker-archive is always\n"
	"                           uncompressed)\n"
	"  --manifest-format oci|docker\n"
	"                           kind of manifest to build when one must be built\n"
	"  --tag OLD=NEW            rename an image\n"
	"  --add-tag OLD=NEW        give an image another name\n"
	"  --registry HOST[:PORT]   move every name to this registry, keeping its path\n"
	"  --prefix HOST[:PORT]/PATH\n"
	"                           put every repository under this prefix\n"
	"  --repository NAME        repository for images named only by a bare tag\n"
	"  --image REF              only this image (repeatable)\n"
	"  --platform OS/ARCH[/VARIANT]\n"
	"                           only this platform of multi-platform images\n"
	"  -q, --quiet              print nothing but errors\n"
	"  -h, --help               show this help\n";

typedef struct progress {
	bool quiet;
} progress;

static void on_event(const ferry_event *ev, void *ud)
{
	progress *p = ud;
	if (ev->kind == FERRY_EV_WARNING) {
		fprintf(stderr, "ferry: warning: %s\n", ev->message);
		return;
	}
	if (p->quiet)
		return;
	if (ev->kind == FERRY_EV_IMAGE_DONE)
		fprintf(stderr, "  %s  %s\n", ev->digest ? ev->digest->str : "", ev->name ? ev->name : "");
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

static int cmd_convert(int argc, char **argv)
{
	enum { O_FORMAT = 256, O_COMPRESS, O_MANIFEST, O_TAG, O_ADDTAG, O_REGISTRY, O_PREFIX, O_REPO, O_IMAGE,
	       O_PLATFORM };
	static const struct option opts[] = {
		{"format", required_argument, 0, O_FORMAT},     {"compress", required_argument, 0, O_COMPRESS},
		{"manifest-format", required_argument, 0, O_MANIFEST}, {"tag", required_argument, 0, O_TAG},
		{"add-tag", required_argument, 0, O_ADDTAG},    {"registry", required_argument, 0, O_REGISTRY},
		{"prefix", required_argument, 0, O_PREFIX},     {"repository", required_argument, 0, O_REPO},
		{"image", required_argument, 0, O_IMAGE},       {"platform", required_argument, 0, O_PLATFORM},
		{"quiet", no_argument, 0, 'q'},                 {"help", no_argument, 0, 'h'},
		{0},
	};
	ferry_convert_opts o = {0};
	ferry_tag_rule *rules = ferry_xcalloc((size_t)argc, sizeof(*rules));
	char **rule_bufs = ferry_xcalloc((size_t)argc, sizeof(char *));
	const char **images = ferry_xcalloc((size_t)argc, sizeof(char *));
	size_t n_rules = 0, n_images = 0;
	progress prog = {0};
	ferry_error err = FERRY_ERROR_INIT;
	int rc = FERRY_E_USAGE;
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case O_FORMAT:
			if (!ferry_format_by_name(optarg)) {
				rc = usage_error("convert", "unknown format \"%s\"", optarg);
				goto out;
			}
			o.format = optarg;
			break;
		case O_COMPRESS:
			if (ferry_comp_parse(optarg, &o.compress, &o.level, &err) < 0) {
				rc = fail(&err);
				goto out;
			}
			o.compress_set = true;
			break;
		case O_MANIFEST:
			if (strcmp(optarg, "docker") != 0 && strcmp(optarg, "oci") != 0) {
				rc = usage_error("convert", "--manifest-format takes oci or docker, not \"%s\"", optarg);
				goto out;
			}
			o.docker_manifests = strcmp(optarg, "docker") == 0;
			break;
		case O_TAG:
		case O_ADDTAG:
			if (split_rule(optarg, c == O_TAG ? "--tag" : "--add-tag", &rules[n_rules], c == O_ADDTAG,
				       &rule_bufs[n_rules]) < 0)
				goto out;
			n_rules++;
			break;
		case O_REGISTRY:
			o.registry = optarg;
			break;
		case O_PREFIX:
			o.prefix = optarg;
			break;
		case O_REPO:
			o.repository = optarg;
			break;
		case O_IMAGE:
			images[n_images++] = optarg;
			break;
		case O_PLATFORM:
			o.platform = optarg;
			break;
		case 'q':
			prog.quiet = true;
			break;
		case 'h':
			print_help(find_command("convert"));
			rc = 0;
			goto out;
		default:
			rc = bad_option("convert", argv);
			goto out;
		}
	}
	if (argc - optind != 2) {
		rc = usage_error("convert", "%s", "convert takes SRC and DST");
		goto out;
	}
	o.tag_rules = rules;
	o.n_tag_rules = n_rules;
	o.images = images;
	o.n_images = n_images;
	o.on_event = on_event;
	o.event_ud = &prog;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ferry_convert_stats st;
	if (ferry_convert(argv[optind], argv[optind + 1], &o, &st, &err) < 0) {
		rc = fail(&err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!prog.quiet) {
		char w[32];
		human_size(st.bytes_written, w, sizeof(w));
		double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		fprintf(stderr, "converted %zu image%s to %s: %zu blobs written (%s), %zu shared, %zu already there, in %.2fs\n",
			st.images, st.images == 1 ? "" : "s", argv[optind + 1], st.blobs_written, w,
			st.blobs_dedup, st.blobs_existing, secs);
	}
	rc = 0;
out:
	for (size_t i = 0; i < n_rules; i++)
		free(rule_bufs[i]);
	free(rule_bufs);
	free(rules);
	free(images);
	return rc;
}

/* ---- verify ---- */

static const char verify_usage[] = "Usage: ferry verify LOCATION\n"
				   "\n"
				   "Re-read every blob reachable in LOCATION and check its size, digest and (for\n"
				   "layers) the diff_id of its uncompressed content, plus media types and\n"
				   "structure. Every problem is reported; exits 0 only when there are none.\n";

static void on_problem(const char *problem, void *ud)
{
	(void)ud;
	fprintf(stderr, "ferry: %s\n", problem);
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			print_help(find_command("verify"));
			return 0;
		}
		return bad_option("verify", argv);
	}
	if (argc - optind != 1)
		return usage_error("verify", "%s", "verify takes exactly one LOCATION");
	ferry_error err = FERRY_ERROR_INIT;
	size_t problems = 0;
	if (ferry_verify(argv[optind], on_problem, NULL, &problems, &err) < 0)
		return fail(&err);
	if (problems) {
		fprintf(stderr, "ferry: %s: %zu problem%s found\n", argv[optind], problems, problems == 1 ? "" : "s");
		return FERRY_E_INTEGRITY;
	}
	fprintf(stderr, "%s: verified, no problems\n", argv[optind]);
	return 0;
}

/* ---- tag / untag ---- */

static const char tag_usage[] = "Usage: ferry tag LOCATION REF NEWREF...\n"
				"\n"
				"Give the image named REF in LOCATION the additional names NEWREF, in place and\n"
				"atomically. Blobs are not changed.\n";
static const char untag_usage[] = "Usage: ferry untag LOCATION REF...\n"
				  "\n"
				  "Remove the names REF from LOCATION, in place and atomically. An image left\n"
				  "with no name is dropped from the index (its blobs stay).\n";

static int simple_opts(const char *cmd, int argc, char **argv, bool *helped)
{
	static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0}};
	int c;
	*helped = false;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			print_help(find_command(cmd));
			*helped = true;
			return 0;
		}
		return bad_option(cmd, argv);
	}
	return 0;
}

static int cmd_tag(int argc, char **argv)
{
	bool helped;
	int rc = simple_opts("tag", argc, argv, &helped);
	if (rc || helped)
		return rc;
	if (argc - optind < 3)
		return usage_error("tag", "%s", "tag takes LOCATION, REF and at least one NEWREF");
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_tag(argv[optind], argv[optind + 1], (const char *const *)argv + optind + 2,
		      (size_t)(argc - optind - 2), &err) < 0)
		return fail(&err);
	return 0;
}

static int cmd_untag(int argc, char **argv)
{
	bool helped;
	int rc = simple_opts("untag", argc, argv, &helped);
	if (rc || helped)
		return rc;
	if (argc - optind < 2)
		return usage_error("untag", "%s", "untag takes LOCATION and at least one REF");
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_untag(argv[optind], (const char *const *)argv + optind + 1, (size_t)(argc - optind - 1), &err) < 0)
		return fail(&err);
	return 0;
}

/* ---- inspect ---- */

static const char inspect_usage[] =
	"Usage: ferry inspect [OPTIONS] LOCATION [REF]\n"
	"\n"
	"Show the manifest, config and layers of one image in LOCATION. REF names it (a\n"
	"reference, :TAG for an image named only by a tag, or a sha256: digest prefix);\n"
	"it may be left out when LOCATION holds one image.\n"
	"\n"
	"  --raw                    print the manifest (or index) bytes exactly as stored\n"
	"  --config                 print the config bytes exactly as stored\n"
	"  --json                   print {name, digest, mediaType, platform, manifest, config}\n"
	"  --platform OS/ARCH[/VARIANT]\n"
	"                           for a multi-platform image: that platform's manifest\n"
	"  -h, --help               show this help\n";

static const ferry_image *inspect_pick(const ferry_image *img, const ferry_platform *want)
{
	if (!img->is_index)
		return !want || (ferry_image_platform(img) && ferry_platform_match(ferry_image_platform(img), want))
			       ? img
			       : NULL;
	if (!want)
		return img;
	for (size_t i = 0; i < img->n_children; i++) {
		const ferry_image *c = inspect_pick(&img->children[i], want);
		if (c)
			return c;
	}
	return NULL;
}

static json_t *json_of_bytes(const unsigned char *b, size_t n)
{
	json_t *v = b ? json_loadb((const char *)b, n, 0, NULL) : NULL;
	return v ? v : json_null();
}

static void print_inspect(const ferry_entry *e, const ferry_image *img)
{
	for (size_t k = 0; k < e->n_names; k++) {
		char *s = ferry_name_string(&e->names[k]);
		printf("%-12s %s\n", k ? "" : "Name:", s);
		free(s);
	}
	printf("%-12s %s\n", "Digest:", img->desc.digest.str[0] ? img->desc.digest.str : "(none: legacy archive)");
	printf("%-12s %s\n", "MediaType:", img->desc.media_type ? img->desc.media_type : "-");
	if (img->is_index) {
		printf("Manifests:\n");
		for (size_t i = 0; i < img->n_children; i++) {
			char *p = ferry_platform_string(ferry_image_platform(&img->children[i]));
			printf("  %s  %-20s %zu layers\n", img->children[i].desc.digest.str, p, img->children[i].n_layers);
			free(p);
		}
		return;
	}
	char *p = ferry_platform_string(ferry_image_platform(img));
	printf("%-12s %s\n", "Platform:", p);
	free(p);
	printf("%-12s %s (%zu bytes)\n", "Config:", img->config.desc.digest.str, img->config_len);
	json_t *cfg = json_of_bytes(img->config_bytes, img->config_len);
	const char *created = ferry_json_str(cfg, "created");
	if (created)
		printf("%-12s %s\n", "Created:", created);
	json_t *c = json_object_get(cfg, "config");
	const char *keys[] = {"Entrypoint", "Cmd", "WorkingDir", "User"};
	for (size_t i = 0; i < 4; i++) {
		json_t *v = json_object_get(c, keys[i]);
		if (v && !json_is_null(v) && !(json_is_string(v) && !*json_string_value(v))) {
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			char label[16];
			snprintf(label, sizeof(label), "%s:", keys[i]);
			printf("%-12s %s\n", label, s);
			free(s);
		}
	}
	json_decref(cfg);
	printf("Layers:\n");
	for (size_t i = 0; i < img->n_layers; i++) {
		const ferry_blob *b = &img->layers[i];
		char sz[32];
		human_size(b->desc.size, sz, sizeof(sz));
		printf("  %s  %9s  %s\n", b->desc.digest.str[0] ? b->desc.digest.str : b->path, sz,
		       b->desc.media_type ? b->desc.media_type : "-");
	}
}

static int cmd_inspect(int argc, char **argv)
{
	enum { O_RAW = 256, O_CONFIG, O_JSON, O_PLATFORM };
	static const struct option opts[] = {{"raw", no_argument, 0, O_RAW},
					     {"config", no_argument, 0, O_CONFIG},
					     {"json", no_argument, 0, O_JSON},
					     {"platform", required_argument, 0, O_PLATFORM},
					     {"help", no_argument, 0, 'h'},
					     {0}};
	int mode = 0;
	const char *platform = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == O_RAW || c == O_CONFIG || c == O_JSON)
			mode = c;
		else if (c == O_PLATFORM)
			platform = optarg;
		else if (c == 'h') {
			print_help(find_command("inspect"));
			return 0;
		} else
			return bad_option("inspect", argv);
	}
	if (argc - optind < 1 || argc - optind > 2)
		return usage_error("inspect", "%s", "inspect takes LOCATION and an optional REF");
	ferry_error err = FERRY_ERROR_INIT;
	ferry_platform want = {0};
	if (platform && ferry_platform_parse(&want, platform, &err) < 0)
		return fail(&err);
	ferry_source *src;
	if (ferry_source_open(argv[optind], &src, &err) < 0) {
		ferry_platform_free(&want);
		return fail(&err);
	}
	ferry_entry *e;
	int rc = 0;
	if (ferry_source_find(src, argc - optind == 2 ? argv[optind + 1] : NULL, &e, &err) < 0) {
		rc = fail(&err);
		goto out;
	}
	const ferry_image *img = inspect_pick(&e->img, platform ? &want : NULL);
	if (!img) {
		fprintf(stderr, "ferry: %s has no %s image\n", argv[optind], platform);
		rc = FERRY_E_NOTFOUND;
		goto out;
	}
	if ((mode == O_CONFIG) && img->is_index) {
		fprintf(stderr, "ferry: that is a multi-platform image: pick one with --platform to see a config\n");
		rc = FERRY_E_USAGE;
		goto out;
	}
	if (mode == O_RAW || mode == O_CONFIG) {
		const unsigned char *b = mode == O_RAW ? img->bytes : img->config_bytes;
		size_t n = mode == O_RAW ? img->len : img->config_len;
		if (!b) {
			fprintf(stderr, "ferry: this image has no manifest of its own (a legacy docker archive): "
					"convert it to get one\n");
			rc = FERRY_E_NOTFOUND;
			goto out;
		}
		fwrite(b, 1, n, stdout);
		goto out;
	}
	if (mode == O_JSON) {
		json_t *o = json_object();
		json_t *names = json_array();
		for (size_t k = 0; k < e->n_names; k++) {
			char *s = ferry_name_string(&e->names[k]);
			json_array_append_new(names, json_string(s));
			free(s);
		}
		json_object_set_new(o, "names", names);
		json_object_set_new(o, "digest", img->desc.digest.str[0] ? json_string(img->desc.digest.str) : json_null());
		json_object_set_new(o, "mediaType", img->desc.media_type ? json_string(img->desc.media_type) : json_null());
		const ferry_platform *pl = img->is_index ? NULL : ferry_image_platform(img);
		char *ps = pl ? ferry_platform_string(pl) : NULL;
		json_object_set_new(o, "platform", ps ? json_string(ps) : json_null());
		free(ps);
		json_object_set_new(o, "manifest", json_of_bytes(img->bytes, img->len));
		json_object_set_new(o, "config", img->is_index ? json_null() : json_of_bytes(img->config_bytes, img->config_len));
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(o);
		goto out;
	}
	print_inspect(e, img);
out:
	ferry_platform_free(&want);
	ferry_source_free(src);
	return rc;
}

/* ---- dispatch ---- */

static const command commands[] = {
	{"ls", cmd_ls, ls_usage},
	{"convert", cmd_convert, convert_usage},
	{"verify", cmd_verify, verify_usage},
	{"tag", cmd_tag, tag_usage},
	{"untag", cmd_untag, untag_usage},
	{"inspect", cmd_inspect, inspect_usage},
};

static const command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

static const char main_usage[] =
	"Usage: ferry COMMAND [OPTIONS] ...\n"
	"\n"
	"Container images outside a registry: docker-save tarballs, OCI layouts and OCI archives.\n"
	"\n"
	"Commands:\n"
	"  ls        list the images in a location\n"
	"  convert   copy images between formats, retagging on the way\n"
	"  verify    re-hash and check everything in a location\n"
	"  tag       add names to an image in place\n"
	"  untag     remove names in place\n"
	"  inspect   show one image's manifest, config and layers\n"
	"  help CMD  show a command's help\n"
	"\n"
	"Exit codes: 0 ok, 1 failure, 2 usage, 3 integrity (digest/size mismatch), 4 bad\n"
	"input format, 5 not found, 6 over a safety limit.\n";

static void on_signal(int sig)
{
	(void)sig;
	ferry_interrupted = 1;
}

/*
 * SIGINT/SIGTERM/SIGHUP stop the work at the next chunk and take the normal
 * error path, which removes temporary output. No SA_RESTART: a blocked read
 * returns EINTR and the loop sees the flag.
 */
static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed stdout is an EPIPE error, not a silent death */
}

int main(int argc, char **argv)
{
	install_signals();
	if (argc < 2) {
		fputs(main_usage, stderr);
		return FERRY_E_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("ferry %s\n", FERRY_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(main_usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "help")) {
		if (argc < 3) {
			fputs(main_usage, stdout);
			return 0;
		}
		const command *c = find_command(argv[2]);
		if (!c) {
			fprintf(stderr, "ferry: unknown command \"%s\"\n", argv[2]);
			fputs(main_usage, stderr);
			return FERRY_E_USAGE;
		}
		print_help(c);
		return 0;
	}
	const command *c = find_command(cmd);
	if (!c) {
		fprintf(stderr, "ferry: unknown command \"%s\"\n", cmd);
		fputs(main_usage, stderr);
		return FERRY_E_USAGE;
	}
	optind = 1;
	opterr = 0;
	int rc = c->run(argc - 1, argv + 1);
	return ferry_interrupted && rc ? 128 + SIGINT : rc;
}
