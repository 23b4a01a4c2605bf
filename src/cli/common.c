/*
 * common.c - helpers shared by the ferry command's files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

/* The last error message printed, for the --json failure document. */
static char last_error[FERRY_ERROR_MSG_MAX];
static bool json_printed;

static void remember(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void remember(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

void cli_clean(char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < ' ' || ch == 0x7f)
			*s = '?';
	}
}

void cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	cli_clean(last_error);
	fprintf(stderr, "ferry: %s\n", last_error);
}

int cli_fail(const ferry_error *err)
{
	cli_error("%s", err->msg);
	return err->code ? (int)err->code : 1;
}

int cli_usage_error(const char *cmd, const char *fmt, const char *arg)
{
	char msg[FERRY_ERROR_MSG_MAX];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(msg, sizeof(msg), fmt, arg);
#pragma GCC diagnostic pop
	cli_error("%s", msg);
	fprintf(stderr, "Try 'ferry %s --help'.\n", cmd);
	return FERRY_E_USAGE;
}

/* getopt's own messages are off (opterr = 0): they would name the subcommand as the program. */
int cli_bad_option(const char *cmd, char **argv)
{
	const char *opt = argv[optind - 1];
	if (optopt && optopt < 256 && !(opt && opt[0] == '-' && opt[1] == '-'))
		remember("unknown option -%c", optopt);
	else
		remember("unknown option or missing argument: %s", opt ? opt : "?");
	cli_clean(last_error);
	fprintf(stderr, "ferry %s: %s\n", cmd, last_error);
	fprintf(stderr, "Try 'ferry %s --help'.\n", cmd);
	return FERRY_E_USAGE;
}

/* ---- --json ---- */

bool cli_json_requested(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--json"))
			return true;
	}
	return false;
}

void cli_json_print(json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s) {
		puts(s);
		fflush(stdout);
	}
	free(s);
	json_decref(doc);
	json_printed = true;
}

bool cli_json_was_printed(void)
{
	return json_printed;
}

json_t *cli_json_failure(const char *cmd, int code)
{
	json_t *o = json_object();
	json_object_set_new(o, "command", json_string(cmd));
	json_object_set_new(o, "ok", json_false());
	const char *msg = last_error[0] ? last_error : code >= 128 ? "interrupted" : "failed";
	json_object_set_new(o, "error", json_string(msg));
	json_object_set_new(o, "code", json_integer(code));
	return o;
}

const char *cli_last_error(void)
{
	return last_error;
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

char *cli_read_line(bool echo)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty && !echo) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (tty && !echo) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
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
			char *pw = cli_read_line(false);
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
		*FERRY_PUSH(r->insecure, r->n_insecure, r->cap_insecure) = arg;
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
	case CLI_O_STALL: {
		char *end;
		long v = strtol(arg, &end, 10);
		if (*end || end == arg || v < 1 || v > 86400) {
			fprintf(stderr, "ferry: --stall-timeout takes seconds from 1 to 86400, not \"%s\"\n", arg);
			return -1;
		}
		r->opts.stall_seconds = (int)v;
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
