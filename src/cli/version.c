/*
 * version.c - `ferry --version`: ferry's version and those of the libraries
 * it runs with, as each library reports itself at run time (so a static
 * binary names what it was linked with).
 */
#include <gnu/libc-version.h>
#include <stdio.h>

#include <archive.h>
#include <curl/curl.h>
#include <isa-l.h>
#include <jansson.h>
#include <microhttpd.h>
#include <yaml.h>
#include <openssl/crypto.h>
#include <zlib.h>
#include <zstd.h>

#include "cli.h"

int cli_version(void)
{
	const curl_version_info_data *c = curl_version_info(CURLVERSION_NOW);
	printf("ferry %s\n", FERRY_VERSION);
	printf("  %s\n", archive_version_string());
	printf("  libcurl %s (%s)\n", c->version, c->ssl_version ? c->ssl_version : "no TLS");
	printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("  zlib %s\n", zlibVersion());
	printf("  zstd %s\n", ZSTD_versionString());
	printf("  isa-l %d.%d.%d\n", ISAL_MAJOR_VERSION, ISAL_MINOR_VERSION, ISAL_PATCH_VERSION);
	printf("  jansson %s\n", jansson_version_str());
	printf("  libyaml %s\n", yaml_get_version_string());
	printf("  glibc %s\n", gnu_get_libc_version());
	printf("  libmicrohttpd %s%s\n", MHD_get_version(),
	       MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES ? "" : " (no TLS)");
	return 0;
}
