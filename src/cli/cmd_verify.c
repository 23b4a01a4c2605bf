/*
 * cmd_verify.c - ferry verify: re-hash everything, report every problem.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- verify ---- */

const char cmd_verify_usage[] = "Usage: ferry verify LOCATION\n"
				   "\n"
				   "Re-read every blob reachable in LOCATION and check its size, digest and (for\n"
				   "layers) the diff_id of its uncompressed content, plus media types and\n"
				   "structure. Every problem is reported; exits 0 only when there are none.\n"
				   "\n" CLI_REG_HELP;

static void on_problem(const char *problem, void *ud)
{
	(void)ud;
	fprintf(stderr, "ferry: %s\n", problem);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, 0, 'h'}, CLI_REG_LONGOPTS, {0}};
	cli_reg reg;
	cli_reg_init(&reg);
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int x = cli_reg_option(&reg, c, optarg);
		if (x > 0)
			continue;
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
	ferry_error err = FERRY_ERROR_INIT;
	size_t problems = 0;
	int rc = ferry_verify_opts(argv[optind], cli_reg_opts(&reg), on_problem, NULL, &problems, &err);
	cli_reg_free(&reg);
	if (rc < 0)
		return cli_fail(&err);
	if (problems) {
		fprintf(stderr, "ferry: %s: %zu problem%s found\n", argv[optind], problems, problems == 1 ? "" : "s");
		return FERRY_E_INTEGRITY;
	}
	fprintf(stderr, "%s: verified, no problems\n", argv[optind]);
	return 0;
}
