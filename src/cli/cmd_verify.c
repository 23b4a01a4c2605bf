/*
 * cmd_verify.c - ferry verify: re-hash everything, report every problem.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

/* ---- verify ---- */

const char cmd_verify_usage[] = "Usage: ferry verify [OPTIONS] LOCATION\n"
				"\n"
				"Re-read every blob reachable in LOCATION and check its size, digest and (for\n"
				"layers) the diff_id of its uncompressed content, plus media types and\n"
				"structure. Every problem is reported; exits 0 only when there are none (3 when\n"
				"problems were found). A layer labelled compressed that is a plain tar is a\n"
				"warning (skopeo writes those, and loaders read them).\n"
				"\n"
				"  --strict                 warnings are problems too\n"
				"  --json                   print {command, location, problems, warnings, ok} on\n"
				"                           stdout\n" CLI_PROGRESS_HELP
				"  -h, --help               show this help\n"
				"\n" CLI_REG_HELP;

typedef struct problems {
	json_t *list; /* --json: the messages; NULL otherwise */
	cli_progress *prog;
	json_t *warnings; /* --json: the warnings; NULL otherwise */
	size_t n_warnings;
} problems;

static void on_problem(const char *problem, void *ud)
{
	problems *p = ud;
	/* A problem is an error: printed even with --quiet. */
	cli_progress_warn(p->prog, "ferry: %s", problem);
	if (p->list)
		json_array_append_new(p->list, json_string(problem));
}

static void on_warning(const char *warning, void *ud)
{
	problems *p = ud;
	cli_progress_warn(p->prog, "ferry: warning: %s", warning);
	p->n_warnings++;
	if (p->warnings)
		json_array_append_new(p->warnings, json_string(warning));
}

int cmd_verify(int argc, char **argv)
{
	enum { O_JSON = 256, O_PROGRESS, O_STRICT };
	static const struct option opts[] = {{"json", no_argument, 0, O_JSON},
					     {"strict", no_argument, 0, O_STRICT},
					     {"progress", required_argument, 0, O_PROGRESS},
					     {"quiet", no_argument, 0, 'q'},
					     {"help", no_argument, 0, 'h'},
					     CLI_REG_LONGOPTS,
					     {0}};
	cli_reg reg;
	cli_reg_init(&reg);
	cli_progress_mode mode = CLI_PROGRESS_AUTO;
	bool json = false, strict = false;
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		int x = cli_reg_option(&reg, c, optarg);
		if (x > 0)
			continue;
		if (x == 0 && c == O_JSON) {
			json = true;
			continue;
		}
		if (x == 0 && c == O_STRICT) {
			strict = true;
			continue;
		}
		if (x == 0 && c == 'q') {
			mode = CLI_PROGRESS_NONE;
			continue;
		}
		if (x == 0 && c == O_PROGRESS) {
			if (cli_progress_parse(optarg, &mode) == 0)
				continue;
			cli_reg_free(&reg);
			return cli_usage_error("verify", "--progress takes auto, bar, plain or none, not \"%s\"", optarg);
		}
		cli_reg_free(&reg);
		if (x < 0)
			return FERRY_E_USAGE;
		if (c == 'h') {
			cli_help("verify");
			return 0;
		}
		return cli_bad_option("verify", argv);
	}
	if (argc - optind != 1) {
		cli_reg_free(&reg);
		return cli_usage_error("verify", "%s", "verify takes exactly one LOCATION");
	}
	const char *loc = argv[optind];
	ferry_error err = FERRY_ERROR_INIT;
	size_t n = 0;
	problems p = {json ? json_array() : NULL, cli_progress_new(mode, false), json ? json_array() : NULL, 0};
	int rc = ferry_verify_full(loc, cli_reg_opts(&reg), strict, on_problem, on_warning, &p, &n, &err);
	cli_reg_free(&reg);
	cli_progress_done(p.prog);
	if (rc < 0) {
		rc = cli_fail(&err);
	} else if (n) {
		cli_error("%s: %zu problem%s found", loc, n, n == 1 ? "" : "s");
		rc = FERRY_E_INTEGRITY;
	} else if (cli_progress_get_mode(p.prog) != CLI_PROGRESS_NONE) {
		fprintf(stderr, "%s: verified, no problems%s\n", loc, p.n_warnings ? " (see the warnings above)" : "");
	}
	if (json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "command", json_string("verify"));
		json_object_set_new(doc, "location", json_string(loc));
		json_object_set_new(doc, "problems", p.list);
		json_object_set_new(doc, "warnings", p.warnings);
		json_object_set_new(doc, "ok", rc == 0 ? json_true() : json_false());
		if (rc != 0) {
			json_object_set_new(doc, "error", json_string(cli_last_error()));
			json_object_set_new(doc, "code", json_integer(rc));
		}
		cli_json_print(doc);
	}
	cli_progress_free(p.prog);
	return rc;
}
