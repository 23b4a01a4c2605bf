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
	"                           only this platform of multi-platform images\n"                                 \
	"  -q, --quiet              print nothing but errors\n"                                                    \
	"  -h, --help               show this help\n"

const char cmd_convert_usage[] =
	"Usage: ferry convert [OPTIONS] SRC DST\n"
	"\n"
	"Copy the images of SRC into DST, converting between formats.\n"
	"Locations: docker-archive:PATH, oci:DIR, oci-archive:PATH, docker://REF (a\n"
	"registry), or a bare path (a source is recognised by its content; a destination\n"
	"by its name: DIR/ or an existing directory is oci, *.tar, *.tar.gz, *.tgz,\n"
	"*.tar.zst is docker-archive). '-' as PATH is stdin or stdout.\n"
	"\n"
	"  --format FORMAT          destination format: docker-archive, oci, oci-archive\n"
	"  --compress none|gzip[:LEVEL]|zstd[:LEVEL]\n"
	"                           recompress layers for an OCI destination (default:\n"
	"                           keep the source's bytes; docker-archive is always\n"
	"                           uncompressed; registries get gzip for plain layers)\n"
	"  --manifest-format oci|docker\n"
	"                           kind of manifest to build when one must be built\n" RETAG_HELP "\n" CLI_REG_HELP;

const char cmd_push_usage[] =
	"Usage: ferry push [OPTIONS] SRC [DEST]\n"
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

/* convert and push: the same options, push has no --format and an optional docker:// DEST. */
static int run(const char *cmd, bool push, int argc, char **argv)
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
		CLI_REG_LONGOPTS,                                {0},
	};
	ferry_convert_opts o = {0};
	ferry_tag_rule *rules = ferry_xcalloc((size_t)argc, sizeof(*rules));
	char **rule_bufs = ferry_xcalloc((size_t)argc, sizeof(char *));
	const char **images = ferry_xcalloc((size_t)argc, sizeof(char *));
	size_t n_rules = 0, n_images = 0;
	progress prog = {0};
	cli_reg reg;
	cli_reg_init(&reg);
	ferry_error err = FERRY_ERROR_INIT;
	char *dest = NULL;
	int rc = FERRY_E_USAGE;
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		int r = cli_reg_option(&reg, c, optarg);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		switch (c) {
		case O_FORMAT:
			if (push || !ferry_format_by_name(optarg) || !strcmp(optarg, "docker")) {
				rc = push ? cli_bad_option(cmd, argv) : cli_usage_error(cmd, "unknown format \"%s\"", optarg);
				goto out;
			}
			o.format = optarg;
			break;
		case O_COMPRESS:
			if (ferry_comp_parse(optarg, &o.compress, &o.level, &err) < 0) {
				rc = cli_fail(&err);
				goto out;
			}
			o.compress_set = true;
			break;
		case O_MANIFEST:
			if (strcmp(optarg, "docker") != 0 && strcmp(optarg, "oci") != 0) {
				rc = cli_usage_error(cmd, "--manifest-format takes oci or docker, not \"%s\"", optarg);
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
			cli_help(cmd);
			rc = 0;
			goto out;
		default:
			rc = cli_bad_option(cmd, argv);
			goto out;
		}
	}
	int nargs = argc - optind;
	if (push ? (nargs < 1 || nargs > 2) : nargs != 2) {
		rc = cli_usage_error(cmd, "%s", push ? "push takes SRC and an optional docker:// DEST" : "convert takes SRC and DST");
		goto out;
	}
	const char *src = argv[optind];
	if (push) {
		const char *d = nargs == 2 ? argv[optind + 1] : "docker://";
		if (!ferry_str_startswith(d, "docker://")) {
			rc = cli_usage_error(cmd, "push sends images to a registry: DEST is docker://..., not \"%s\"", d);
			goto out;
		}
		dest = ferry_xstrdup(d);
	} else {
		dest = ferry_xstrdup(argv[optind + 1]);
	}
	o.tag_rules = rules;
	o.n_tag_rules = n_rules;
	o.images = images;
	o.n_images = n_images;
	o.on_event = on_event;
	o.event_ud = &prog;
	o.registry_opts = cli_reg_opts(&reg);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ferry_convert_stats st;
	if (ferry_convert(src, dest, &o, &st, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!prog.quiet) {
		char w[32];
		cli_human_size(st.bytes_written, w, sizeof(w));
		double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		fprintf(stderr, "%s %zu image%s to %s: %zu blobs written (%s), %zu shared, %zu already there, in %.2fs\n",
			push ? "pushed" : "converted", st.images, st.images == 1 ? "" : "s",
			push && !strcmp(dest, "docker://") ? "their registries" : dest, st.blobs_written, w,
			st.blobs_dedup, st.blobs_existing, secs);
	}
	rc = 0;
out:
	for (size_t i = 0; i < n_rules; i++)
		free(rule_bufs[i]);
	free(rule_bufs);
	free(rules);
	free(images);
	free(dest);
	cli_reg_free(&reg);
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
