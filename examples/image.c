/*
 * image.c - ferry's own image, made by libferry (make image): ferry-static
 * and the CA certificates, no base image, a non-root user.
 *
 *   cc image.c $(pkg-config --cflags --libs libferry) -o image
 *   ./image ferry-static /etc/ssl/certs/ca-certificates.crt OUTDIR [NAME]
 *
 * writes OUTDIR/oci/ (an OCI layout) and OUTDIR/ferry.tar (a docker-archive)
 * of NAME (default docker.io/ferry/ferry:VERSION) and prints its manifest
 * digest.  Every mtime and the config's date are $SOURCE_DATE_EPOCH (0 when
 * unset): the same inputs give the same digest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <ferry/ferry.h>

static int build(const ferry_build_opts *o, const char *dst, const char *format)
{
	ferry_build_opts opts = *o;
	opts.format = format;
	ferry_digest d;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_build(&opts, dst, &d, &err) < 0) {
		fprintf(stderr, "image: %s\n", err.msg);
		return 1;
	}
	printf("%s %s\n", d.str, dst);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: %s FERRY-STATIC CA-BUNDLE OUTDIR [NAME]\n", argv[0]);
		return 2;
	}
	const ferry_build_file files[] = {
		{.path = "usr/local/bin/ferry", .source = argv[1], .mode = 0755},
		{.path = "etc/ssl/certs/ca-certificates.crt", .source = argv[2], .mode = 0644},
	};
	const char *entrypoint[] = {"/usr/local/bin/ferry"};
	const char *env[] = {"PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
			     "XDG_CACHE_HOME=/tmp"};
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	ferry_build_opts o = {
		.name = argc == 5 ? argv[4] : "docker.io/ferry/ferry:" FERRY_VERSION,
		.files = files,
		.n_files = 2,
		.uid = 0,
		.gid = 0,
		.user = "65532:65532",
		.entrypoint = entrypoint,
		.n_entrypoint = 1,
		.env = env,
		.n_env = 3,
		.created = epoch ? strtoll(epoch, NULL, 10) : 0,
	};
	if (mkdir(argv[3], 0755) < 0 && errno != EEXIST) {
		perror(argv[3]);
		return 1;
	}
	char oci[4096], tar[4096];
	snprintf(oci, sizeof(oci), "%s/oci/", argv[3]);
	snprintf(tar, sizeof(tar), "%s/ferry.tar", argv[3]);
	return build(&o, oci, "oci") || build(&o, tar, "docker-archive");
}
