/*
 * cmd_tag.c - ferry tag and ferry untag: names changed in place.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- tag / untag ---- */

const char cmd_tag_usage[] = "Usage: ferry tag LOCATION REF NEWREF...\n"
				"\n"
				"Give the image named REF in LOCATION the additional names NEWREF, in place and\n"
				"atomically. Blobs are not changed.\n"
				"\n"
				"Concurrent tag, untag and convert runs on one layout or archive take turns and\n"
				"lose no name: each locks LOCATION (flock on the layout directory, or on the\n"
				"archive file itself) from before it reads it until its new version is in place.\n"
				"Other programs do not take these locks. An archive given through a symbolic\n"
				"link is refused.\n";
const char cmd_untag_usage[] = "Usage: ferry untag LOCATION REF...\n"
				  "\n"
				  "Remove the names REF from LOCATION, in place and atomically. An image left\n"
				  "with no name is dropped from the index (its blobs stay until ferry prune).\n"
				  "Locked as ferry tag is (see ferry tag --help).\n";

static int simple_opts(const char *cmd, int argc, char **argv, bool *helped)
{
	static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0}};
	int c;
	*helped = false;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			cli_help(cmd);
			*helped = true;
			return 0;
		}
		return cli_bad_option(cmd, argv);
	}
	return 0;
}

int cmd_tag(int argc, char **argv)
{
	bool helped;
	int rc = simple_opts("tag", argc, argv, &helped);
	if (rc || helped)
		return rc;
	if (argc - optind < 3)
		return cli_usage_error("tag", "%s", "tag takes LOCATION, REF and at least one NEWREF");
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_tag(argv[optind], argv[optind + 1], (const char *const *)argv + optind + 2,
		      (size_t)(argc - optind - 2), &err) < 0)
		return cli_fail(&err);
	return 0;
}

int cmd_untag(int argc, char **argv)
{
	bool helped;
	int rc = simple_opts("untag", argc, argv, &helped);
	if (rc || helped)
		return rc;
	if (argc - optind < 2)
		return cli_usage_error("untag", "%s", "untag takes LOCATION and at least one REF");
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_untag(argv[optind], (const char *const *)argv + optind + 1, (size_t)(argc - optind - 1), &err) < 0)
		return cli_fail(&err);
	return 0;
}

