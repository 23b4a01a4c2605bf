/*
 * test_build.c - ferry_build (include/ferry/build.h): the layer tar read back
 * with libarchive, the config and manifest read with jansson from the files
 * written, the same input giving the same digest, bad input refused with
 * nothing left at the destination.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "ferry.h"
#include "tmpname.h"
#include "util.h"

static char tmp[] = "/tmp/ferry-test-build.XXXXXX";
static char bin_path[256], ca_path[256];
static const char BIN[] = "#!/bin/sh\necho a program\n";
static const char CA[] = "-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmp))
		return -1;
	snprintf(bin_path, sizeof(bin_path), "%s/bin", tmp);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", tmp);
	write_file(bin_path, BIN);
	write_file(ca_path, CA);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ferry_remove_tree(tmp);
	return 0;
}

static const char *const ENTRY[] = {"/usr/local/bin/tool", "--flag"};
static const char *const ENV[] = {"PATH=/usr/local/bin"};

static ferry_build_file files[2];

/* The options of most cases: the CA first, to see that order is the layer's, not the caller's. */
static ferry_build_opts opts(void)
{
	files[0] = (ferry_build_file){.path = "etc/ssl/certs/ca-certificates.crt", .source = ca_path, .mode = 0644};
	files[1] = (ferry_build_file){.path = "usr/local/bin/tool", .source = bin_path, .mode = 0755};
	return (ferry_build_opts){.name = "example/tool:1", .files = files, .n_files = 2, .uid = 7, .gid = 8,
				  .user = "65532:65532", .entrypoint = ENTRY, .n_entrypoint = 2, .env = ENV,
				  .n_env = 1, .created = 1700000000};
}

static char *path_in(const char *dir, const char *fmt, const char *arg)
{
	char rel[512];
	snprintf(rel, sizeof(rel), fmt, arg);
	return ferry_xasprintf("%s/%s", dir, rel);
}

/* Blob digest -> its JSON, from an OCI layout. */
static json_t *load(char *path) /* frees path */
{
	json_t *j = json_load_file(path, 0, NULL);
	free(path);
	assert_non_null(j);
	return j;
}

static json_t *blob_json(const char *dir, const char *digest)
{
	char *p = path_in(dir, "blobs/sha256/%s", digest + strlen("sha256:"));
	json_t *j = json_load_file(p, 0, NULL);
	free(p);
	assert_non_null(j);
	return j;
}

static void build_ok(const ferry_build_opts *o, const char *dst, ferry_digest *d)
{
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_build(o, dst, d, &err);
	if (rc != 0)
		fail_msg("ferry_build %s: %s", dst, err.msg);
}

static void test_manifest_config(void **state)
{
	(void)state;
	ferry_build_opts o = opts();
	char *dst = path_in(tmp, "%s/", "mc");
	ferry_digest d;
	build_ok(&o, dst, &d);
	json_t *index = load(path_in(tmp, "%s/index.json", "mc"));
	assert_non_null(index);
	json_t *desc = json_array_get(json_object_get(index, "manifests"), 0);
	assert_string_equal(json_string_value(json_object_get(desc, "digest")), d.str);
	json_t *ann = json_object_get(desc, "annotations");
	assert_string_equal(json_string_value(json_object_get(ann, "io.containerd.image.name")),
			    "docker.io/example/tool:1");
	json_t *m = blob_json(dst, d.str);
	const char *cfg_digest = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
	json_t *layer = json_array_get(json_object_get(m, "layers"), 0);
	assert_int_equal(json_array_size(json_object_get(m, "layers")), 1);
	json_t *cfg = blob_json(dst, cfg_digest);
	assert_string_equal(json_string_value(json_object_get(cfg, "os")), "linux");
	assert_string_equal(json_string_value(json_object_get(cfg, "architecture")), "amd64");
	assert_string_equal(json_string_value(json_object_get(cfg, "created")), "2023-11-14T22:13:20Z");
	json_t *c = json_object_get(cfg, "config");
	assert_string_equal(json_string_value(json_object_get(c, "User")), "65532:65532");
	assert_string_equal(json_string_value(json_array_get(json_object_get(c, "Entrypoint"), 1)), "--flag");
	assert_string_equal(json_string_value(json_array_get(json_object_get(c, "Env"), 0)), ENV[0]);
	/* uncompressed: the diff_id is the layer's digest */
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"), 0)),
			    json_string_value(json_object_get(layer, "digest")));
	size_t problems = 99;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_verify(dst, NULL, NULL, &problems, &err), 0);
	assert_int_equal(problems, 0);
	json_decref(index);
	json_decref(m);
	json_decref(cfg);
	free(dst);
}

/* What the layer tar of an OCI layout holds, one "type path mode uid gid mtime size" line per entry. */
static char *layer_listing(const char *dir, char **bin_body)
{
	json_t *index = load(path_in(dir, "%s", "index.json"));
	const char *md = json_string_value(json_object_get(json_array_get(json_object_get(index, "manifests"), 0), "digest"));
	json_t *m = blob_json(dir, md);
	const char *ld = json_string_value(json_object_get(json_array_get(json_object_get(m, "layers"), 0), "digest"));
	char *p = path_in(dir, "blobs/sha256/%s", ld + strlen("sha256:"));
	struct archive *a = archive_read_new();
	archive_read_support_format_all(a);
	assert_int_equal(archive_read_open_filename(a, p, 10240), ARCHIVE_OK);
	char *out = ferry_xcalloc(1, 4096);
	struct archive_entry *e;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		size_t n = strlen(out);
		snprintf(out + n, 4096 - n, "%c %s %o %ld %ld %ld %ld\n", archive_entry_filetype(e) == AE_IFDIR ? 'd' : 'f',
			 archive_entry_pathname(e), (unsigned)archive_entry_perm(e), (long)archive_entry_uid(e),
			 (long)archive_entry_gid(e), (long)archive_entry_mtime(e), (long)archive_entry_size(e));
		if (bin_body && strstr(archive_entry_pathname(e), "tool")) {
			*bin_body = ferry_xcalloc(1, 256);
			archive_read_data(a, *bin_body, 255);
		}
	}
	archive_read_free(a);
	free(p);
	json_decref(m);
	json_decref(index);
	return out;
}

static void test_layer(void **state)
{
	(void)state;
	ferry_build_opts o = opts();
	char *dst = path_in(tmp, "%s/", "layer");
	ferry_digest d;
	build_ok(&o, dst, &d);
	char *body = NULL;
	char *got = layer_listing(dst, &body);
	char want[1024];
	snprintf(want, sizeof(want),
		 "d etc/ 755 7 8 1700000000 0\nd etc/ssl/ 755 7 8 1700000000 0\nd etc/ssl/certs/ 755 7 8 1700000000 0\n"
		 "f etc/ssl/certs/ca-certificates.crt 644 7 8 1700000000 %zu\nd usr/ 755 7 8 1700000000 0\n"
		 "d usr/local/ 755 7 8 1700000000 0\nd usr/local/bin/ 755 7 8 1700000000 0\n"
		 "f usr/local/bin/tool 755 7 8 1700000000 %zu\n",
		 strlen(CA), strlen(BIN));
	assert_string_equal(got, want);
	assert_non_null(body);
	assert_string_equal(body, BIN);
	free(body);
	free(got);
	free(dst);
}

static void test_deterministic(void **state)
{
	(void)state;
	ferry_build_opts o = opts();
	ferry_digest a, b, c, tar;
	char *d1 = path_in(tmp, "%s/", "det1"), *d2 = path_in(tmp, "%s/", "det2"), *d3 = path_in(tmp, "%s/", "det3");
	char *t = path_in(tmp, "%s", "det.tar");
	build_ok(&o, d1, &a);
	/* the files given in the other order, the file's mtime changed: the same image */
	ferry_build_file swapped[2] = {files[1], files[0]};
	o.files = swapped;
	assert_int_equal(utimensat(AT_FDCWD, bin_path, NULL, 0), 0);
	build_ok(&o, d2, &b);
	assert_string_equal(a.str, b.str);
	o.format = "docker-archive";
	build_ok(&o, t, &tar);
	assert_string_equal(a.str, tar.str);
	size_t problems = 99;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_verify(t, NULL, NULL, &problems, &err), 0);
	assert_int_equal(problems, 0);
	/* another date: another image */
	o.format = NULL;
	o.created++;
	build_ok(&o, d3, &c);
	assert_string_not_equal(a.str, c.str);
	free(d1);
	free(d2);
	free(d3);
	free(t);
}

static void refused(const ferry_build_opts *o, ferry_code code)
{
	char *dst = path_in(tmp, "%s/", "bad");
	ferry_error err = FERRY_ERROR_INIT;
	ferry_digest d;
	assert_int_equal(ferry_build(o, dst, &d, &err), -1);
	assert_int_equal(err.code, code);
	assert_true(err.msg[0] != 0);
	struct stat st;
	assert_int_equal(stat(dst, &st), -1); /* nothing left */
	free(dst);
}

static void test_bad_input(void **state)
{
	(void)state;
	static const char *const bad[] = {"", "/etc/x", "../x", "a/../../x", "a//b", "a/./b", "a/", ".", "a/\nb"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_build_opts o = opts();
		files[1].path = bad[i];
		refused(&o, FERRY_E_USAGE);
	}
	ferry_build_opts o = opts();
	files[1].path = files[0].path; /* twice */
	refused(&o, FERRY_E_USAGE);
	o = opts();
	files[1].path = "etc/ssl/certs/ca-certificates.crt/x"; /* under a file */
	refused(&o, FERRY_E_USAGE);
	o = opts();
	o.name = "example/tool@sha256:0000000000000000000000000000000000000000000000000000000000000000";
	refused(&o, FERRY_E_USAGE);
	o = opts();
	o.name = "Not A Name";
	refused(&o, FERRY_E_USAGE);
	o = opts();
	o.n_files = FERRY_BUILD_FILES_MAX + 1;
	refused(&o, FERRY_E_LIMIT);
	o = opts();
	files[1].source = tmp; /* a directory, not a file */
	refused(&o, FERRY_E_FAILED);
	o = opts();
	files[1].source = "/nonexistent/ferry-test-build";
	refused(&o, FERRY_E_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_config),
		cmocka_unit_test(test_layer),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
