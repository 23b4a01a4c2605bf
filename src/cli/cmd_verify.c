/*
 * cmd_verify.c - ferry verify: re-hash everything, report every problem.
 */
#include <getopt.h>
#include <inttypes.h>
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
				"problems were found). In an OCI layout, blobs nothing references are noted, not\n"
				"counted as problems; ferry prune removes them. A layer labelled compressed that\n"
				"is a plain tar is a warning (skopeo writes those, and loaders read them).\n"
				"\n"
				"With --key, also check that every image carries a cosign signature (from\n"
				"cosign sign --key, carried with the image) that verifies with one of the\n"
				"keys, and report each image as signed by which key, unsigned, or badly\n"
				"signed; exits 3 unless every image has a good signature. Offline: nothing\n"
				"but LOCATION is read.\n"
				"\n"
				"A delta (convert --have) lists the blobs it left out: they are reported as\n"
				"expected, not as problems; with --base the whole is checked.\n"
				"\n"
				"  --base LOCATION          LOCATION is a delta: check its left-out blobs there\n"
				"                           (repeatable)\n"
				"  --strict                 warnings are problems too\n"
				"  --key PUB.pem            a public key (ECDSA P-256 or Ed25519, PEM); repeatable\n"
				"  --json                   print {command, location, problems, warnings, signatures,\n"
				"                           ok} on stdout\n" CLI_PROGRESS_HELP
				"  -h, --help               show this help\n"
				"\n" CLI_REG_HELP;

typedef struct unreferenced {
	json_t *list; /* --json: their digests */
	size_t n;
	uint64_t bytes;
} unreferenced;

static void on_unreferenced(const char *digest, uint64_t size, void *ud)
{
	unreferenced *u = ud;
	u->n++;
	u->bytes += size;
	if (u->list)
		json_array_append_new(u->list, json_string(digest));
}

/*
 * An OCI layout may hold blobs nothing references (a killed run's, an
 * untagged image's): a note, not a problem, with what removes them.
 */
static json_t *note_unreferenced(const char *loc, cli_progress *prog, bool json)
{
	unreferenced u = {json ? json_array() : NULL, 0, 0};
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_unreferenced(loc, on_unreferenced, &u, &err) == 0 && u.n)
		cli_progress_warn(prog, "ferry: note: %s: %zu blob%s (%" PRIu64 " bytes) referenced by nothing; "
					"'ferry prune %s' removes them",
				  loc, u.n, u.n == 1 ? "" : "s", u.bytes, loc);
	return u.list;
}

typedef struct problems {
	json_t *list; /* --json: the messages; NULL otherwise */
	json_t *sigs; /* --json with --key: one object per image; NULL otherwise */
	cli_progress *prog;
	json_t *warnings; /* --json: the warnings; NULL otherwise */
	size_t n_warnings;
	json_t *expected; /* --json: a delta's left-out blobs; NULL otherwise */
	size_t n_expected;
} problems;

static const char *const sig_status_names[] = {
	[FERRY_SIG_SIGNED] = "signed",
	[FERRY_SIG_UNSIGNED] = "unsigned",
	[FERRY_SIG_BAD] = "bad",
};

/* One image's verdict: a good one is news (quiet hides it), the others are errors. */
static void on_signature(const ferry_sig_result *r, void *ud)
{
	problems *p = ud;
	char d[24];
	ferry_digest_short(r->digest, d);
	if (r->status == FERRY_SIG_SIGNED)
		cli_progress_line(p->prog, "%s (%s): signed by %s", r->image, d, r->key);
	else if (r->status == FERRY_SIG_UNSIGNED)
		cli_progress_warn(p->prog, "ferry: %s (%s): not signed", r->image, d);
	else
		cli_progress_warn(p->prog, "ferry: %s (%s): no good signature: %s", r->image, d, r->problem);
	if (!p->sigs)
		return;
	json_t *o = json_object();
	json_object_set_new(o, "image", json_string(r->image));
	json_object_set_new(o, "digest", json_string(r->digest->str));
	json_object_set_new(o, "status", json_string(sig_status_names[r->status]));
	json_object_set_new(o, "signatures", json_integer((json_int_t)r->n_signatures));
	if (r->key)
		json_object_set_new(o, "key", json_string(r->key));
	if (r->problem)
		json_object_set_new(o, "problem", json_string(r->problem));
	json_array_append_new(p->sigs, o);
}

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

static void on_expected(const char *what, void *ud)
{
	problems *p = ud;
	cli_progress_line(p->prog, "%s", what);
	p->n_expected++;
	if (p->expected)
		json_array_append_new(p->expected, json_string(what));
}

int cmd_verify(int argc, char **argv)
{
	enum { O_JSON = 256, O_PROGRESS, O_KEY, O_STRICT, O_BASE };
	static const struct option opts[] = {{"json", no_argument, 0, O_JSON},
					     {"key", required_argument, 0, O_KEY},
					     {"strict", no_argument, 0, O_STRICT},
					     {"base", required_argument, 0, O_BASE},
					     {"progress", required_argument, 0, O_PROGRESS},
					     {"quiet", no_argument, 0, 'q'},
					     {"help", no_argument, 0, 'h'},
					     CLI_REG_LONGOPTS,
					     {0}};
	cli_reg reg;
	cli_reg_init(&reg);
	cli_progress_mode mode = CLI_PROGRESS_AUTO;
	bool json = false, strict = false;
	const char **keys = calloc((size_t)argc, sizeof(*keys)); /* borrowed from argv */
	size_t n_keys = 0, n_bases = 0;
	const char **bases = calloc((size_t)argc, sizeof(*bases)); /* borrowed from argv */
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		int x = cli_reg_option(&reg, c, optarg);
		if (x > 0)
			continue;
		if (x == 0 && c == O_JSON) {
			json = true;
			continue;
		}
		if (x == 0 && c == O_KEY) {
			keys[n_keys++] = optarg;
			continue;
		}
		if (x == 0 && c == O_BASE) {
			bases[n_bases++] = optarg;
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
			free(keys);
			free(bases);
			return cli_usage_error("verify", "--progress takes auto, bar, plain or none, not \"%s\"", optarg);
		}
		cli_reg_free(&reg);
		free(keys);
		free(bases);
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
		free(keys);
		free(bases);
		return cli_usage_error("verify", "%s", "verify takes exactly one LOCATION");
	}
	const char *loc = argv[optind];
	ferry_error err = FERRY_ERROR_INIT;
	size_t n = 0, unsigned_n = 0;
	problems p = {json ? json_array() : NULL, json && n_keys ? json_array() : NULL, cli_progress_new(mode, false),
		      json ? json_array() : NULL, 0, json ? json_array() : NULL, 0};
	int rc = ferry_verify_bases(loc, cli_reg_opts(&reg), strict, bases, n_bases, on_problem, on_warning, on_expected,
				    &p, &n, &err);
	bool transfer = false;
	if (rc == 0 && n_keys) {
		/* A signed transfer manifest vouches for the whole set; without one, each image's cosign signature. */
		size_t nt = 0;
		const char *signer = NULL;
		rc = ferry_verify_transfer(loc, keys, n_keys, on_problem, &p, &nt, &signer, &err);
		n += nt;
		transfer = rc == 0;
		if (rc == 0)
			cli_progress_line(p.prog, "%s: transfer manifest signed by %s", loc, signer);
		if (rc < 0 && err.code == FERRY_E_NOTFOUND) {
			ferry_error_clear(&err);
			rc = ferry_verify_signatures(loc, cli_reg_opts(&reg), keys, n_keys, on_signature, &p, &unsigned_n,
						     &err);
		}
	}
	cli_reg_free(&reg);
	free(keys);
	free(bases);
	json_t *unref = rc == 0 ? note_unreferenced(loc, p.prog, json) : NULL;
	cli_progress_done(p.prog);
	if (rc < 0) {
		rc = cli_fail(&err);
	} else if (n || unsigned_n) {
		if (n)
			cli_error("%s: %zu problem%s found", loc, n, n == 1 ? "" : "s");
		if (unsigned_n)
			cli_error("%s: %zu image%s without a good signature", loc, unsigned_n,
				  unsigned_n == 1 ? "" : "s");
		rc = FERRY_E_INTEGRITY;
	} else if (cli_progress_get_mode(p.prog) != CLI_PROGRESS_NONE) {
		fprintf(stderr, "%s: verified, no problems%s%s%s\n", loc,
			transfer ? ", transfer manifest signed" : n_keys ? ", every image signed" : "",
			p.n_warnings ? " (see the warnings above)" : "",
			p.n_expected ? " (a delta: its left-out blobs are expected from a base)" : "");
	}
	if (json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "command", json_string("verify"));
		json_object_set_new(doc, "location", json_string(loc));
		json_object_set_new(doc, "problems", p.list);
		if (p.sigs)
			json_object_set_new(doc, "signatures", p.sigs);
		json_object_set_new(doc, "unreferenced", unref ? unref : json_array());
		json_object_set_new(doc, "warnings", p.warnings);
		json_object_set_new(doc, "expected", p.expected);
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
