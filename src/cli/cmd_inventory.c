/*
 * cmd_inventory.c - ferry inventory: what a site has (every blob and
 * manifest), for convert --have at the other end.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char cmd_inventory_usage[] =
	"Usage: ferry inventory [OPTIONS] LOCATION...\n"
	"\n"
	"Write one JSON document listing every blob (digest, size) and every manifest\n"
	"(digest, names) of the LOCATIONs, merged: archives, OCI layouts, inventory files,\n"
	"docker://HOST/REPO:TAG, docker://HOST/REPO (every tag) and docker://HOST (every\n"
	"repository of the registry's /v2/_catalog). Layer bytes are never read\n"
	"(of a legacy docker save layer, its first bytes: a plain tar is listed by its diff_id).\n"
	"Give it to convert --have to leave out of a delta what that site has.\n"
	"\n"
	"  -o, --output FILE        write it to FILE (atomically) instead of stdout\n"
	"  --json                   print {command, output, blobs, manifests, ok} (needs -o)\n"
	"  -h, --help               show this help\n"
	"\n" CLI_REG_HELP;

int cmd_inventory(int argc, char **argv)
{
	enum { O_JSON = 256 };
	static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {"json", no_argument, 0, O_JSON},
					     {"help", no_argument, 0, 'h'}, CLI_REG_LONGOPTS, {0}};
	const char *out = NULL;
	bool json = false;
	cli_reg reg;
	cli_reg_init(&reg);
	int c, rc = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		int r = cli_reg_option(&reg, c, optarg);
		if (r < 0) {
			cli_reg_free(&reg);
			return FERRY_E_USAGE;
		}
		if (r > 0)
			continue;
		if (c == 'o')
			out = optarg;
		else if (c == O_JSON)
			json = true;
		else if (c == 'h') {
			cli_reg_free(&reg);
			cli_help("inventory");
			return 0;
		} else {
			cli_reg_free(&reg);
			return cli_bad_option("inventory", argv);
		}
	}
	if (argc - optind < 1 || (json && (!out || !strcmp(out, "-")))) {
		cli_reg_free(&reg);
		return cli_usage_error("inventory", "%s",
				       argc - optind < 1 ? "inventory takes at least one LOCATION"
							 : "--json prints on stdout: give the inventory a file with -o");
	}
	ferry_error err = FERRY_ERROR_INIT;
	size_t nb = 0, nm = 0;
	if (ferry_inventory_write((const char *const *)argv + optind, (size_t)(argc - optind), cli_reg_opts(&reg), out,
				  &nb, &nm, &err) < 0)
		rc = cli_fail(&err);
	else if (out && strcmp(out, "-") && !json)
		fprintf(stderr, "%s: %zu blobs, %zu manifests\n", out, nb, nm);
	if (json) {
		json_t *doc = json_pack("{s:s, s:s, s:I, s:I, s:b}", "command", "inventory", "output", out, "blobs",
					(json_int_t)nb, "manifests", (json_int_t)nm, "ok", rc == 0);
		if (rc != 0) {
			json_object_set_new(doc, "error", json_string(cli_last_error()));
			json_object_set_new(doc, "code", json_integer(rc));
		}
		cli_json_print(doc);
	}
	cli_reg_free(&reg);
	return rc;
}
