/*
 * cmd_prune.c - ferry prune: remove the blobs of an OCI layout that nothing
 * references (what a killed run or an untag left behind).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

const char cmd_prune_usage[] = "Usage: ferry prune [OPTIONS] LAYOUT\n"
			       "\n"
			       "Remove the blobs of the OCI layout directory LAYOUT that nothing reachable from\n"
			       "its index.json references: what a run killed with SIGKILL added, or what untag\n"
			       "left. The layout is locked meanwhile, as every writer locks it. Nothing is\n"
			       "removed when a manifest or index the index leads to cannot be read.\n"
			       "\n"
			       "  -n, --dry-run            only list them\n"
			       "  --json                   print {command, location, blobs, bytes, dry_run, ok}\n"
			       "  -q, --quiet              print nothing but errors\n"
			       "  -h, --help               show this help\n";

typedef struct pruned {
	json_t *list; /* --json: [{digest, size}] */
	bool quiet;
	bool dry_run;
	size_t n;
	uint64_t bytes;
} pruned;

static void on_blob(const char *digest, uint64_t size, void *ud)
{
	pruned *p = ud;
	p->n++;
	p->bytes += size;
	if (p->list)
		json_array_append_new(p->list, json_pack("{s:s, s:I}", "digest", digest, "size", (json_int_t)size));
	else if (!p->quiet)
		printf("%s %s (%" PRIu64 " bytes)\n", p->dry_run ? "unreferenced" : "removed", digest, size);
}

int cmd_prune(int argc, char **argv)
{
	enum { O_JSON = 256 };
	static const struct option opts[] = {{"dry-run", no_argument, 0, 'n'},
					     {"json", no_argument, 0, O_JSON},
					     {"quiet", no_argument, 0, 'q'},
					     {"help", no_argument, 0, 'h'},
					     {0}};
	pruned p = {0};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "nqh", opts, NULL)) != -1) {
		if (c == 'n')
			p.dry_run = true;
		else if (c == 'q')
			p.quiet = true;
		else if (c == O_JSON)
			json = true;
		else if (c == 'h') {
			cli_help("prune");
			return 0;
		} else
			return cli_bad_option("prune", argv);
	}
	if (argc - optind != 1)
		return cli_usage_error("prune", "%s", "prune takes exactly one LAYOUT");
	const char *loc = argv[optind];
	p.list = json ? json_array() : NULL;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_prune(loc, p.dry_run, on_blob, &p, &err) < 0 ? cli_fail(&err) : 0;
	if (rc == 0 && !p.quiet && !json)
		fprintf(stderr, "%s: %s %zu blob%s, %" PRIu64 " bytes\n", loc,
			p.dry_run ? "would remove" : "removed", p.n, p.n == 1 ? "" : "s", p.bytes);
	if (json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "command", json_string("prune"));
		json_object_set_new(doc, "location", json_string(loc));
		json_object_set_new(doc, "blobs", p.list);
		json_object_set_new(doc, "bytes", json_integer((json_int_t)p.bytes));
		json_object_set_new(doc, "dry_run", json_boolean(p.dry_run));
		json_object_set_new(doc, "ok", rc == 0 ? json_true() : json_false());
		if (rc != 0) {
			json_object_set_new(doc, "error", json_string(cli_last_error()));
			json_object_set_new(doc, "code", json_integer(rc));
		}
		cli_json_print(doc);
	}
	return rc;
}
