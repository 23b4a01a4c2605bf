/*
 * cmd_serve.c - ferry serve: archives and layouts as a read-only registry
 * (the server is src/serve/).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"
#include "serve.h"

const char cmd_serve_usage[] =
	"Usage: ferry serve [OPTIONS] LOCATION...\n"
	"\n"
	"Serve the images of docker-archives, OCI layouts and OCI archives as a read-only\n"
	"registry (the OCI distribution API): docker, podman, skopeo, containerd and\n"
	"ferry pull straight from them. Images are served under the repository path of\n"
	"their names (localhost:5000/team/app:13 is team/app:13). Blobs are sent from\n"
	"the files as they are, never extracted or copied.\n"
	"\n"
	"  --listen HOST:PORT       where to listen (default 127.0.0.1:5000; port 0: any free one)\n"
	"  --tls-cert FILE          serve HTTPS with this PEM certificate...\n"
	"  --tls-key FILE           ...and key (needed on any address but loopback)\n"
	"  --htpasswd FILE          require Basic auth; bcrypt entries (htpasswd -B)\n"
	"  --registry HOST[:PORT]   rename as convert does before serving (the path is kept)\n"
	"  --prefix HOST[:PORT]/PATH\n"
	"                           serve every repository under PATH\n"
	"  --repository NAME        repository for images named by a bare tag only\n"
	"  --json                   the start-up line and the access log as JSON lines on stdout\n"
	"  --progress MODE          none: as -q; any other mode: one log line per request\n"
	"  -q, --quiet              no start-up lines and no access log, only errors\n"
	"  -h, --help               show this help\n"
	"\n"
	"SIGTERM finishes the requests in flight, then exits 0; SIGINT stops at once.\n";

int cmd_serve(int argc, char **argv)
{
	enum { O_LISTEN = 256, O_CERT, O_KEY, O_HTPASSWD, O_REGISTRY, O_PREFIX, O_REPOSITORY, O_JSON, O_PROGRESS };
	static const struct option opts[] = {{"listen", required_argument, 0, O_LISTEN},
					     {"tls-cert", required_argument, 0, O_CERT},
					     {"tls-key", required_argument, 0, O_KEY},
					     {"htpasswd", required_argument, 0, O_HTPASSWD},
					     {"registry", required_argument, 0, O_REGISTRY},
					     {"prefix", required_argument, 0, O_PREFIX},
					     {"repository", required_argument, 0, O_REPOSITORY},
					     {"json", no_argument, 0, O_JSON},
					     {"progress", required_argument, 0, O_PROGRESS},
					     {"quiet", no_argument, 0, 'q'},
					     {"help", no_argument, 0, 'h'},
					     {0}};
	serve_opts o = {0};
	cli_progress_mode mode;
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case O_LISTEN: o.listen = optarg; break;
		case O_CERT: o.tls_cert = optarg; break;
		case O_KEY: o.tls_key = optarg; break;
		case O_HTPASSWD: o.htpasswd = optarg; break;
		case O_REGISTRY: o.registry = optarg; break;
		case O_PREFIX: o.prefix = optarg; break;
		case O_REPOSITORY: o.repository = optarg; break;
		case O_JSON: o.json = true; break;
		case O_PROGRESS:
			if (cli_progress_parse(optarg, &mode) < 0)
				return cli_usage_error("serve", "--progress takes auto, bar, plain or none, not \"%s\"",
						       optarg);
			o.quiet = mode == CLI_PROGRESS_NONE;
			break;
		case 'q': o.quiet = true; break;
		case 'h': cli_help("serve"); return 0;
		default: return cli_bad_option("serve", argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("serve", "%s", "serve takes at least one LOCATION");
	if (!o.tls_cert != !o.tls_key)
		return cli_usage_error("serve", "%s", "--tls-cert and --tls-key go together");
	ferry_error err = FERRY_ERROR_INIT;
	serve_index *ix;
	if (serve_index_build((const char *const *)argv + optind, (size_t)(argc - optind), &o, &ix, &err) < 0)
		return cli_fail(&err);
	int rc = serve_run(ix, &o, &err);
	serve_index_free(ix);
	if (rc < 0)
		return cli_fail(&err);
	return 0;
}
