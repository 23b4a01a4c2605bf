/*
 * cmd_login.c - ferry login and ferry logout: credentials in the docker
 * config file ($DOCKER_CONFIG/config.json or ~/.docker/config.json, mode 0600).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

const char cmd_login_usage[] =
	"Usage: ferry login [OPTIONS] REGISTRY\n"
	"\n"
	"Check credentials against REGISTRY and store them in the docker config file\n"
	"($DOCKER_CONFIG/config.json or ~/.docker/config.json, mode 0600; through\n"
	"credsStore/credHelpers when it names one).\n"
	"\n"
	"  -u, --username USER      user name (asked for when absent and stdin is a terminal)\n"
	"  --password-stdin         read the password from stdin\n"
	"  -h, --help               show this help\n"
	"\n" CLI_REG_HELP;

const char cmd_logout_usage[] = "Usage: ferry logout REGISTRY\n"
				"\n"
				"Remove the credentials stored for REGISTRY.\n";

int cmd_login(int argc, char **argv)
{
	enum { O_PWSTDIN = 256 };
	static const struct option opts[] = {{"username", required_argument, 0, 'u'},
					     {"password-stdin", no_argument, 0, O_PWSTDIN},
					     {"help", no_argument, 0, 'h'},
					     CLI_REG_LONGOPTS,
					     {0}};
	const char *user = NULL;
	bool pw_stdin = false;
	cli_reg reg;
	cli_reg_init(&reg);
	int c, rc = FERRY_E_USAGE;
	char *pw = NULL, *u = NULL;
	ferry_registry *r = NULL;
	while ((c = getopt_long(argc, argv, "u:h", opts, NULL)) != -1) {
		int x = cli_reg_option(&reg, c, optarg);
		if (x < 0)
			goto out;
		if (x > 0)
			continue;
		if (c == 'u')
			user = optarg;
		else if (c == O_PWSTDIN)
			pw_stdin = true;
		else if (c == 'h') {
			cli_help("login");
			rc = 0;
			goto out;
		} else {
			rc = cli_bad_option("login", argv);
			goto out;
		}
	}
	if (argc - optind != 1) {
		rc = cli_usage_error("login", "%s", "login takes one REGISTRY");
		goto out;
	}
	const char *domain = argv[optind];
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_domain_check(domain, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (!user) {
		if (pw_stdin || !isatty(STDIN_FILENO)) {
			rc = cli_usage_error("login", "%s", "give the user name with --username");
			goto out;
		}
		fprintf(stderr, "Username: ");
		u = cli_read_line(true);
		user = u;
	}
	if (!pw_stdin && isatty(STDIN_FILENO))
		fprintf(stderr, "Password: ");
	pw = cli_read_line(false);
	if (!user || !*user || !pw) {
		fprintf(stderr, "ferry: login needs a user name and a password\n");
		goto out;
	}
	free(reg.creds);
	reg.creds = ferry_xasprintf("%s:%s", user, pw);
	reg.opts.creds = reg.creds;
	reg.opts.creds_label = "the user name and password given to login";
	if (ferry_registry_open(domain, cli_reg_opts(&reg), &r, &err) < 0 || ferry_registry_check_login(r, &err) < 0 ||
	    ferry_creds_store(domain, user, pw, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	fprintf(stderr, "Login to %s succeeded\n", domain);
	rc = 0;
out:
	if (pw) {
		memset(pw, 0, strlen(pw));
		free(pw);
	}
	free(u);
	ferry_registry_free(r);
	cli_reg_free(&reg);
	return rc;
}

int cmd_logout(int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			cli_help("logout");
			return 0;
		}
		return cli_bad_option("logout", argv);
	}
	if (argc - optind != 1)
		return cli_usage_error("logout", "%s", "logout takes one REGISTRY");
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_creds_erase(argv[optind], &err) < 0) {
		if (err.code == FERRY_E_NOTFOUND) {
			fprintf(stderr, "ferry: warning: %s\n", err.msg);
			return 0;
		}
		return cli_fail(&err);
	}
	fprintf(stderr, "Removed login credentials for %s\n", argv[optind]);
	return 0;
}
