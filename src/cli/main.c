/*
 * main.c - the ferry command: dispatch to the cmd_*.c files, signals.
 * Every command is a thin layer over libferry (see ferry.h).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* ---- dispatch ---- */

typedef struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
	bool json; /* takes --json: a failure prints {"ok": false, ...} on stdout */
} command;

static const command commands[] = {
	{"ls", cmd_ls, cmd_ls_usage, true},
	{"convert", cmd_convert, cmd_convert_usage, true},
	{"verify", cmd_verify, cmd_verify_usage, true},
	{"tag", cmd_tag, cmd_tag_usage, false},
	{"untag", cmd_untag, cmd_untag_usage, false},
	{"prune", cmd_prune, cmd_prune_usage, true},
	{"inspect", cmd_inspect, cmd_inspect_usage, true},
	{"inventory", cmd_inventory, cmd_inventory_usage, true},
	{"push", cmd_push, cmd_push_usage, true},
	{"login", cmd_login, cmd_login_usage, false},
	{"logout", cmd_logout, cmd_logout_usage, false},
	{"batch", cmd_batch, cmd_batch_usage, true},
	{"serve", cmd_serve, cmd_serve_usage, true},
};

static const command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

static const char main_usage[] =
	"Usage: ferry COMMAND [OPTIONS] ...\n"
	"\n"
	"Container images outside a registry: docker-save tarballs, OCI layouts and OCI\n"
	"archives, and the registries they come from and go to (docker://REF).\n"
	"\n"
	"Commands:\n"
	"  ls        list the images in a location\n"
	"  convert   copy images between formats, retagging on the way\n"
	"  verify    re-hash and check everything in a location\n"
	"  tag       add names to an image in place\n"
	"  untag     remove names in place\n"
	"  prune     remove the blobs nothing references from an OCI layout\n"
	"  inspect   show one image's manifest, config and layers\n"
	"  inventory list every blob and manifest a site has (for convert --have)\n"
	"  push      send images to the registries their names say\n"
	"  login     store credentials for a registry\n"
	"  logout    remove them\n"
	"  batch     run many convert and push jobs from a file, resumably\n"
	"  serve     serve archives and layouts as a read-only registry\n"
	"  help CMD  show a command's help (the same as ferry CMD --help)\n"
	"\n"
	"Exit codes: 0 ok, 1 failure, 2 usage, 3 integrity (digest/size mismatch), 4 bad\n"
	"input format, 5 not found, 6 over a safety limit; 130 interrupted.\n"
	"See ferry(1) and ferry-COMMAND(1).\n";

static void on_signal(int sig)
{
	(void)sig;
	ferry_interrupted = 1;
}

/*
 * SIGINT/SIGTERM/SIGHUP stop the work at the next chunk and take the normal
 * error path, which removes temporary output. No SA_RESTART: a blocked read
 * returns EINTR and the loop sees the flag.
 */
static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed stdout is an EPIPE error, not a silent death */
}

int main(int argc, char **argv)
{
	install_signals();
	if (argc < 2) {
		fputs(main_usage, stderr);
		return FERRY_E_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		return cli_version();
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(main_usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "help")) {
		if (argc < 3) {
			fputs(main_usage, stdout);
			return 0;
		}
		const command *c = find_command(argv[2]);
		if (!c) {
			fprintf(stderr, "ferry: unknown command \"%s\"\n", argv[2]);
			fputs(main_usage, stderr);
			return FERRY_E_USAGE;
		}
		fputs(c->usage, stdout);
		return 0;
	}
	const command *c = find_command(cmd);
	if (!c) {
		fprintf(stderr, "ferry: unknown command \"%s\"\n", cmd);
		fputs(main_usage, stderr);
		return FERRY_E_USAGE;
	}
	optind = 1;
	opterr = 0;
	int rc = c->run(argc - 1, argv + 1);
	rc = ferry_interrupted && rc ? 128 + SIGINT : rc;
	/* Whatever went wrong, a --json caller gets a document to read. */
	if (rc && c->json && cli_json_requested(argc - 1, argv + 1) && !cli_json_was_printed())
		cli_json_print(cli_json_failure(c->name, rc));
	return rc;
}

void cli_help(const char *cmd)
{
	const command *c = find_command(cmd);
	if (c)
		fputs(c->usage, stdout);
}
