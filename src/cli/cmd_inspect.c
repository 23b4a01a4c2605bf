/*
 * cmd_inspect.c - ferry inspect: one image's manifest, config and layers.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

/* ---- inspect ---- */

const char cmd_inspect_usage[] =
	"Usage: ferry inspect [OPTIONS] LOCATION [REF]\n"
	"\n"
	"Show the manifest, config and layers of one image in LOCATION. REF names it (a\n"
	"reference, :TAG for an image named only by a tag, or a sha256: digest prefix);\n"
	"it may be left out when LOCATION holds one image.  The image's referrers\n"
	"(signatures, attestations, SBOMs...) are listed: artifactType, digest, size.\n"
	"\n"
	"  --raw                    print the manifest (or index) bytes exactly as stored\n"
	"  --config                 print the config bytes exactly as stored\n"
	"  --json                   print {names, digest, mediaType, platform, manifest, config,\n"
	"                           referrers}\n"
	"  --platform OS/ARCH[/VARIANT]\n"
	"                           for a multi-platform image: that platform's manifest\n"
	"  -h, --help               show this help\n"
	"\n" CLI_REG_HELP;

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

/* The referrers of entry e (recursively), each {artifactType, digest, size, subject, names}. */
static json_t *referrers_json(const ferry_source *src, const ferry_entry *e)
{
	json_t *arr = json_array();
	ferry_referrers_map *m = ferry_referrers_map_new(src);
	size_t n = 0;
	size_t *refs = ferry_referrers_of(m, (size_t)(e - src->entries), &n);
	for (size_t i = 0; i < n; i++) {
		const ferry_entry *r = &src->entries[refs[i]];
		const char *at = ferry_image_artifact_type(&r->img);
		ferry_digest subject;
		ferry_entry_is_artifact(r, &subject);
		json_t *o = json_object();
		json_object_set_new(o, "artifactType", at ? json_string(at) : json_null());
		json_object_set_new(o, "digest", json_string(r->img.desc.digest.str));
		json_object_set_new(o, "size", json_integer((json_int_t)r->img.len));
		json_object_set_new(o, "subject", json_string(subject.str));
		json_t *names = json_array();
		for (size_t k = 0; k < r->n_names; k++) {
			char *s = ferry_name_string(&r->names[k]);
			json_array_append_new(names, json_string(s));
			free(s);
		}
		json_object_set_new(o, "names", names);
		json_array_append_new(arr, o);
	}
	free(refs);
	ferry_referrers_map_free(m);
	return arr;
}

static void print_referrers(json_t *refs)
{
	if (json_array_size(refs) == 0)
		return;
	printf("Referrers:\n");
	size_t i;
	json_t *o;
	json_array_foreach(refs, i, o)
	{
		const char *at = ferry_json_str(o, "artifactType");
		printf("  %s  %9lld  %s\n", ferry_json_str(o, "digest"), (long long)json_integer_value(json_object_get(o, "size")),
		       at ? at : "-");
	}
}

static json_t *json_of_bytes(const unsigned char *b, size_t n)
{
	json_t *v = b ? json_loadb((const char *)b, n, 0, NULL) : NULL;
	return v ? v : json_null();
}

static void print_inspect(const ferry_source *src, const ferry_entry *e, const ferry_image *img)
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
		cli_human_size(b->desc.size, sz, sizeof(sz));
		printf("  %s  %9s  %s%s\n", b->desc.digest.str[0] ? b->desc.digest.str : b->path, sz,
		       b->desc.media_type ? b->desc.media_type : "-",
		       ferry_source_expects(src, &b->desc.digest, NULL) ? "  (expected: left out of this delta)" : "");
	}
}

int cmd_inspect(int argc, char **argv)
{
	enum { O_RAW = 256, O_CONFIG, O_JSON, O_PLATFORM };
	static const struct option opts[] = {{"raw", no_argument, 0, O_RAW},
					     {"config", no_argument, 0, O_CONFIG},
					     {"json", no_argument, 0, O_JSON},
					     {"platform", required_argument, 0, O_PLATFORM},
					     {"help", no_argument, 0, 'h'},
					     CLI_REG_LONGOPTS,
					     {0}};
	cli_reg reg;
	cli_reg_init(&reg);
	int mode = 0;
	const char *platform = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int x = cli_reg_option(&reg, c, optarg);
		if (x < 0) {
			cli_reg_free(&reg);
			return FERRY_E_USAGE;
		}
		if (x > 0)
			continue;
		if (c == O_RAW || c == O_CONFIG || c == O_JSON)
			mode = c;
		else if (c == O_PLATFORM)
			platform = optarg;
		else if (c == 'h') {
			cli_help("inspect");
			return 0;
		} else
			return cli_bad_option("inspect", argv);
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage_error("inspect", "%s", "inspect takes LOCATION and an optional REF");
	ferry_error err = FERRY_ERROR_INIT;
	ferry_platform want = {0};
	if (platform && ferry_platform_parse(&want, platform, &err) < 0)
		return cli_fail(&err);
	ferry_source *src;
	int orc = ferry_source_open_opts(argv[optind], cli_reg_opts(&reg), &src, &err);
	cli_reg_free(&reg);
	if (orc < 0) {
		ferry_platform_free(&want);
		return cli_fail(&err);
	}
	ferry_entry *e;
	int rc = 0;
	if (ferry_source_find(src, argc - optind == 2 ? argv[optind + 1] : NULL, &e, &err) < 0) {
		rc = cli_fail(&err);
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
		json_object_set_new(o, "referrers", referrers_json(src, e));
		json_t *exp = json_array();
		for (size_t i = 0; i < img->n_layers; i++) {
			if (ferry_source_expects(src, &img->layers[i].desc.digest, NULL))
				json_array_append_new(exp, json_string(img->layers[i].desc.digest.str));
		}
		json_object_set_new(o, "expected", exp);
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(o);
		goto out;
	}
	print_inspect(src, e, img);
	json_t *refs = referrers_json(src, e);
	print_referrers(refs);
	json_decref(refs);
out:
	ferry_platform_free(&want);
	ferry_source_free(src);
	return rc;
}

