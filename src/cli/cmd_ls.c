/*
 * cmd_ls.c - ferry ls: one line (or a JSON document) per image.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "util.h"

/* ---- ls ---- */

const char cmd_ls_usage[] = "Usage: ferry ls [--json] LOCATION\n"
			       "\n"
			       "List the images in LOCATION, one line per name: reference, manifest digest,\n"
			       "platforms, layer count, total size (layers and config) and how many\n"
			       "referrers (signatures, attestations, SBOMs...) travel with it.  Referrers\n"
			       "are counted, not listed (ferry inspect lists them).\n"
			       "\n"
			       "  --json      print a JSON document instead (schema in ferry(1))\n"
			       "  -h, --help  show this help\n"
			       "\n" CLI_REG_HELP;

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

int cmd_ls(int argc, char **argv)
{
	bool json = false;
	static const struct option opts[] = {
		{"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, CLI_REG_LONGOPTS, {0}};
	cli_reg reg;
	cli_reg_init(&reg);
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int x = cli_reg_option(&reg, c, optarg);
		if (x < 0) {
			cli_reg_free(&reg);
			return FERRY_E_USAGE;
		}
		if (x > 0)
			continue;
		if (c == 'j')
			json = true;
		else if (c == 'h') {
			cli_help("ls");
			return 0;
		} else
			return cli_bad_option("ls", argv);
	}
	if (argc - optind != 1)
		return cli_usage_error("ls", "%s", "ls takes exactly one LOCATION");
	ferry_error err = FERRY_ERROR_INIT;
	ferry_source *src;
	int orc = ferry_source_open_opts(argv[optind], cli_reg_opts(&reg), &src, &err);
	cli_reg_free(&reg);
	if (orc < 0)
		return cli_fail(&err);
	json_t *doc = json_object();
	json_object_set_new(doc, "location", json_string(argv[optind]));
	json_object_set_new(doc, "format", json_string(src->format->name));
	json_t *images = json_array();
	ferry_referrers_map *rmap = ferry_referrers_map_new(src);
	for (size_t i = 0; i < src->n_entries; i++) {
		const ferry_entry *e = &src->entries[i];
		if (ferry_referrers_map_is_artifact(rmap, i))
			continue;
		size_t n_refs = 0;
		free(ferry_referrers_of(rmap, i, &n_refs));
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
		json_object_set_new(o, "referrers", json_integer((json_int_t)n_refs));
		json_array_append_new(images, o);
	}
	ferry_referrers_map_free(rmap);
	json_object_set_new(doc, "images", images);
	json_t *exp = json_array();
	uint64_t exp_bytes = 0;
	for (size_t i = 0; i < src->n_expected; i++) {
		json_array_append_new(exp, json_pack("{s:s, s:I}", "digest", src->expected[i].digest.str, "size",
						     (json_int_t)src->expected[i].size));
		exp_bytes += src->expected[i].size;
	}
	json_object_set_new(doc, "expected", exp);
	if (json) {
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	} else {
		printf("%-50s  %-19s  %-20s  %6s  %9s  %9s\n", "REFERENCE", "DIGEST", "PLATFORMS", "LAYERS", "SIZE",
		       "REFERRERS");
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
			cli_human_size((uint64_t)json_integer_value(json_object_get(o, "size")), sz, sizeof(sz));
			json_t *names = json_object_get(o, "names");
			size_t n_names = json_array_size(names);
			for (size_t k2 = 0; k2 < (n_names ? n_names : 1); k2++) {
				printf("%-50s  %-19s  %-20s  %6lld  %9s  %9lld\n",
				       n_names ? json_string_value(json_array_get(names, k2)) : "<none>", dshort, plats,
				       (long long)json_integer_value(json_object_get(o, "layers")), sz,
				       (long long)json_integer_value(json_object_get(o, "referrers")));
			}
		}
	}
	if (!json && src->n_expected) {
		char sz[32];
		cli_human_size(exp_bytes, sz, sizeof(sz));
		printf("delta: %zu blob%s (%s) left out, expected from the far side or a --base:\n", src->n_expected,
		       src->n_expected == 1 ? "" : "s", sz);
		for (size_t i = 0; i < src->n_expected; i++)
			printf("  expected %s %llu\n", src->expected[i].digest.str,
			       (unsigned long long)src->expected[i].size);
	}
	json_decref(doc);
	ferry_source_free(src);
	return 0;
}

