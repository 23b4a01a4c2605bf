/*
 * cli.h - what the ferry command's files share: error printing, help, sizes,
 * and the registry options every command that may talk to a registry takes.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ferry.h"
#include "image.h" /* ls and inspect read the image graph, which the public API hides */
#include "registry.h"

/* Print "ferry: <message>" and return the exit code for err. */
int cli_fail(const ferry_error *err);
/*
 * Replace control characters (a path or name the user or an archive gave may
 * hold escape sequences) with '?' before s reaches a terminal.
 */
void cli_clean(char *s);
/* Print "ferry: <message>" on stderr (and remember it for --json). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message cli_error, cli_fail and the usage errors printed ("" if none). */
const char *cli_last_error(void);
/* Print "ferry: <fmt with arg>" and a pointer to --help; returns FERRY_E_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, const char *arg);
/* After getopt_long returned '?': say which option was wrong. Returns FERRY_E_USAGE. */
int cli_bad_option(const char *cmd, char **argv);
/* Print a command's usage text on stdout. */
void cli_help(const char *cmd);
/* `ferry --version`: ferry's version and its libraries' (version.c). */
int cli_version(void);
void cli_human_size(uint64_t n, char *buf, size_t len);
/* One line from stdin, newline dropped (caller frees); echo off on a terminal unless echo. NULL at EOF. */
char *cli_read_line(bool echo);

/* ---- --json (the schema is in README.md and ferry(1)) ---- */

/* Is "--json" among the options (before any "--")? */
bool cli_json_requested(int argc, char **argv);
/* Print doc on stdout, indented, and drop the reference. */
void cli_json_print(json_t *doc);
bool cli_json_was_printed(void);
/* {"command": cmd, "ok": false, "error": <the last error>, "code": code} (new reference). */
json_t *cli_json_failure(const char *cmd, int code);

/* ---- registry options ---- */

enum {
	CLI_O_CREDS = 1000,
	CLI_O_CERT_DIR,
	CLI_O_TLS_VERIFY,
	CLI_O_INSECURE,
	CLI_O_RETRIES,
	CLI_O_DEBUG,
	CLI_O_STALL,
};

#define CLI_REG_LONGOPTS                                                                                       \
	{"creds", required_argument, 0, CLI_O_CREDS}, {"cert-dir", required_argument, 0, CLI_O_CERT_DIR},      \
		{"tls-verify", optional_argument, 0, CLI_O_TLS_VERIFY},                                        \
		{"insecure-registry", required_argument, 0, CLI_O_INSECURE},                                   \
		{"retries", required_argument, 0, CLI_O_RETRIES}, {"debug", no_argument, 0, CLI_O_DEBUG}, \
		{"stall-timeout", required_argument, 0, CLI_O_STALL}

#define CLI_REG_HELP                                                                                           \
	"Registry options (for docker://REF locations):\n"                                                     \
	"  --creds USER[:PASS]      credentials (USER alone: the password is read from stdin)\n"                   \
	"  --cert-dir DIR           CA (*.crt) and client.cert/client.key for TLS\n"                           \
	"  --tls-verify=false       do not verify the registry's certificate\n"                                \
	"  --insecure-registry HOST[:PORT]\n"                                                                  \
	"                           allow plain HTTP for HOST (always allowed for loopback)\n"                 \
	"  --retries N              retries for network errors, 5xx and 429 (default 3)\n"                    \
	"  --stall-timeout SECONDS  end a transfer that moved no byte for this long (default 120)\n"         \
	"  --debug                  trace requests on stderr (never secrets)\n"

typedef struct cli_reg {
	ferry_registry_opts opts;
	const char **insecure; /* strings borrowed from argv */
	size_t n_insecure, cap_insecure;
	char *creds; /* owned */
} cli_reg;

void cli_reg_init(cli_reg *r);
/* Handle option c if it is a registry option: 1 handled, 0 not one, -1 bad (message printed). */
int cli_reg_option(cli_reg *r, int c, const char *arg);
const ferry_registry_opts *cli_reg_opts(cli_reg *r);
void cli_reg_free(cli_reg *r);

/* ---- the commands ---- */

int cmd_ls(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_untag(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_inventory(int argc, char **argv);

extern const char cmd_ls_usage[], cmd_convert_usage[], cmd_push_usage[], cmd_verify_usage[], cmd_tag_usage[],
	cmd_untag_usage[], cmd_inspect_usage[], cmd_login_usage[], cmd_logout_usage[], cmd_batch_usage[], cmd_serve_usage[],
	cmd_prune_usage[], cmd_inventory_usage[];

#endif
