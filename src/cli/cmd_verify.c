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
				   "structure. Every problem is reported; exits 0 only when there are none.\n";

static void on_problem(const char *problem, void *ud)
{
	(void)ud;
	fprintf(stderr, "ferry: %s\n", problem);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			cli_help("verify");
			return 0;
		}
		return cli_bad_option("verify", argv);
	}
	if (argc - optind != 1)
		return cli_usage_error("verify", "%s", "verify takes exactly one LOCATION");
	ferry_error err = FERRY_ERROR_INIT;
	size_t problems = 0;
	if (ferry_verify(argv[optind], on_problem, NULL, &problems, &err) < 0)
		return cli_fail(&err);
	if (problems) {
		fprintf(stderr, "ferry: %s: %zu problem%s found\n", argv[optind], problems, problems == 1 ? "" : "s");
		return FERRY_E_INTEGRITY;
	}
	fprintf(stderr, "%s: verified, no problems\n", argv[optind]);
	return 0;
}

