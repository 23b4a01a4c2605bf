/*
 * common.c - helpers shared by the ferry command's files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

int cli_fail(const ferry_error *err)
{
	fprintf(stderr, "ferry: %s\n", err->msg);
	return err->code ? (int)err->code : 1;
}

int cli_usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "ferry: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'ferry %s --help'.\n", cmd);
	return FERRY_E_USAGE;
}

/* getopt's own messages are off (opterr = 0): they would name the subcommand as the program. */
int cli_bad_option(const char *cmd, char **argv)
{
	const char *opt = argv[optind - 1];
	if (optopt && optopt < 256 && !(opt && opt[0] == '-' && opt[1] == '-'))
		fprintf(stderr, "ferry %s: unknown option -%c\n", cmd, optopt);
	else
		fprintf(stderr, "ferry %s: unknown option or missing argument: %s\n", cmd, opt ? opt : "?");
	fprintf(stderr, "Try 'ferry %s --help'.\n", cmd);
	return FERRY_E_USAGE;
}

void cli_human_size(uint64_t n, char *buf, size_t len)
{
	const char *units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

void cli_reg_init(cli_reg *r)
{
	memset(r, 0, sizeof(*r));
	ferry_registry_opts_init(&r->opts);
}

/* A password from stdin: one line, the newline dropped. Never echoed anywhere. */
static char *read_password(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

int cli_reg_option(cli_reg *r, int c, const char *arg)
{
	switch (c) {
	case CLI_O_CREDS:
		free(r->creds);
		if (strchr(arg, ':')) {
			r->creds = ferry_xstrdup(arg);
		} else {
			char *pw = read_password();
			if (!pw) {
				fprintf(stderr, "ferry: --creds %s: no password on stdin\n", arg);
				return -1;
			}
			r->creds = ferry_xasprintf("%s:%s", arg, pw);
			memset(pw, 0, strlen(pw));
			free(pw);
		}
		r->opts.creds = r->creds;
		return 1;
	case CLI_O_CERT_DIR:
		r->opts.cert_dir = arg;
		return 1;
	case CLI_O_TLS_VERIFY:
		if (!arg || !strcmp(arg, "true") || !strcmp(arg, "1"))
			r->opts.tls_verify = true;
		else if (!strcmp(arg, "false") || !strcmp(arg, "0"))
			r->opts.tls_verify = false;
		else {
			fprintf(stderr, "ferry: --tls-verify takes true or false, not \"%s\"\n", arg);
			return -1;
		}
		return 1;
	case CLI_O_INSECURE:
		r->insecure = ferry_xrealloc(r->insecure, (r->n_insecure + 1) * sizeof(char *));
		r->insecure[r->n_insecure++] = arg;
		r->opts.insecure = r->insecure;
		r->opts.n_insecure = r->n_insecure;
		return 1;
	case CLI_O_RETRIES: {
		char *end;
		long v = strtol(arg, &end, 10);
		if (*end || v < 0 || v > 100) {
			fprintf(stderr, "ferry: --retries takes a number from 0 to 100, not \"%s\"\n", arg);
			return -1;
		}
		r->opts.retries = (int)v;
		return 1;
	}
	case CLI_O_DEBUG:
		r->opts.debug = true;
		return 1;
	default:
		return 0;
	}
}

const ferry_registry_opts *cli_reg_opts(cli_reg *r)
{
	return &r->opts;
}

void cli_reg_free(cli_reg *r)
{
	if (r->creds)
		memset(r->creds, 0, strlen(r->creds));
	free(r->creds);
	free(r->insecure);
	memset(r, 0, sizeof(*r));
}
