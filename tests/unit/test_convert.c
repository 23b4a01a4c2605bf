/*
 * test_convert.c - the writers and the engine, through the library API:
 * every format written and read back, round trips keeping digests, dedupe,
 * deterministic compression, retag rules, tag/untag, and failures that
 * leave the destination as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry.h"
#include "format.h"
#include "scratch.h"
#include "util.h"

static char *tmp; /* this case's scratch directory (owned) */
static char sample[512];

static int setup(void **state)
{
	(void)state;
	const char *fx = getenv("FERRY_FIXTURES");
	snprintf(sample, sizeof(sample), "%s/sample.tar", fx ? fx : FERRY_SOURCE_ROOT "/fixtures");
	tmp = scratch_make("test_convert");
	return tmp ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	int rc = scratch_remove(tmp);
	tmp = NULL;
	return rc;
}

static char *path(const char *name)
{
	return ferry_xasprintf("%s/%s", tmp, name);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}

/* Count entries of dir whose name starts with a dot other than . and .. (our temporaries). */
static size_t count_hidden(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	}
	closedir(d);
	return n;
}

static int convert(const char *src, const char *dst, const ferry_convert_opts *o, ferry_error *err)
{
	ferry_convert_opts def = {0};
	return ferry_convert(src, dst, o ? o : &def, NULL, err);
}

/* The manifest digest of the entry named name, "" when absent. */
static void digest_of(ferry_source *s, const char *name, char out[FERRY_DIGEST_STRMAX])
{
	out[0] = '\0';
	for (size_t i = 0; i < s->n_entries; i++) {
		for (size_t k = 0; k < s->entries[i].n_names; k++) {
			char *n = ferry_name_string(&s->entries[i].names[k]);
			bool hit = strcmp(n, name) == 0;
			free(n);
			if (hit)
				strcpy(out, s->entries[i].img.desc.digest.str);
		}
	}
}

static ferry_source *open_ok(const char *loc)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_source *s = NULL;
	if (ferry_source_open(loc, &s, &err) < 0)
		fail_msg("cannot open %s: %s", loc, err.msg);
	return s;
}

static void test_sample_to_oci(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	char *dst = path("oci/");
	assert_int_equal(convert(sample, dst, NULL, &err), 0);
	ferry_source *s = open_ok(dst);
	assert_string_equal(s->format->name, "oci");
	assert_int_equal(s->n_entries, 3);
	char d[FERRY_DIGEST_STRMAX];
	digest_of(s, "docker.io/example/app:13", d);
	assert_true(d[0] != '\0');
	ferry_source_free(s);
	/* 4 distinct layers (the base is shared by all three), 3 configs, 3 manifests. */
	char *blobs = path("oci/blobs/sha256");
	assert_int_equal(count_files(blobs), 10);
	assert_int_equal(count_hidden(tmp), 0);
	size_t problems = 99;
	assert_int_equal(ferry_verify(dst, NULL, NULL, &problems, &err), 0);
	assert_int_equal(problems, 0);
	free(blobs);
	free(dst);
}

static void test_round_trip_keeps_digests(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	char *a = path("rt-a/"), *b = path("rt-b.tar"), *c = path("rt-c/"), *d = path("rt-d.oci.tar");
	assert_int_equal(convert(sample, a, NULL, &err), 0);
	assert_int_equal(convert(a, b, NULL, &err), 0);
	assert_int_equal(convert(b, c, NULL, &err), 0);
	ferry_convert_opts o = {.format = "oci-archive"};
	assert_int_equal(convert(c, d, &o, &err), 0);
	const char *names[] = {"docker.io/example/app:13", "docker.io/example/base:1.0", "docker.io/example/tool:2.1"};
	ferry_source *sa = open_ok(a), *sb = open_ok(b), *sc = open_ok(c), *sd = open_ok(d);
	assert_string_equal(sb->format->name, "docker-archive");
	assert_string_equal(sd->format->name, "oci-archive");
	for (size_t i = 0; i < 3; i++) {
		char da[FERRY_DIGEST_STRMAX], db[FERRY_DIGEST_STRMAX], dc[FERRY_DIGEST_STRMAX], dd[FERRY_DIGEST_STRMAX];
		digest_of(sa, names[i], da);
		digest_of(sb, names[i], db);
		digest_of(sc, names[i], dc);
		digest_of(sd, names[i], dd);
		assert_true(da[0]);
		assert_string_equal(da, db);
		assert_string_equal(da, dc);
		assert_string_equal(da, dd);
	}
	ferry_source_free(sa);
	ferry_source_free(sb);
	ferry_source_free(sc);
	ferry_source_free(sd);
	free(a);
	free(b);
	free(c);
	free(d);
}

static void hash_tree(const char *dir, char out[FERRY_DIGEST_STRMAX])
{
	char *cmd = ferry_xasprintf("cd '%s' && find . -type f | sort | xargs sha256sum | sha256sum", dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char line[256] = "";
	assert_non_null(fgets(line, sizeof(line), p));
	pclose(p);
	free(cmd);
	snprintf(out, FERRY_DIGEST_STRMAX, "%.64s", line);
}

static void test_compression_is_deterministic(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	const char *codecs[] = {"gzip", "zstd"};
	for (size_t i = 0; i < 2; i++) {
		ferry_convert_opts o = {0};
		assert_int_equal(ferry_comp_parse(codecs[i], &o.compress, &o.level, &err), 0);
		o.compress_set = true;
		char *x = ferry_xasprintf("%s/det-%s-1/", tmp, codecs[i]);
		char *y = ferry_xasprintf("%s/det-%s-2/", tmp, codecs[i]);
		assert_int_equal(convert(sample, x, &o, &err), 0);
		assert_int_equal(convert(sample, y, &o, &err), 0);
		char hx[FERRY_DIGEST_STRMAX], hy[FERRY_DIGEST_STRMAX];
		hash_tree(x, hx);
		hash_tree(y, hy);
		assert_string_equal(hx, hy);
		size_t problems = 99;
		assert_int_equal(ferry_verify(x, NULL, NULL, &problems, &err), 0);
		assert_int_equal(problems, 0);
		/* Layers really are compressed: a layer's media type says so. */
		ferry_source *s = open_ok(x);
		const char *mt = s->entries[0].img.layers[0].desc.media_type;
		assert_non_null(strstr(mt, codecs[i]));
		ferry_source_free(s);
		free(x);
		free(y);
	}
}

/* Warning events seen during a conversion, joined. */
static void collect_warnings(const ferry_event *ev, void *ud)
{
	char *buf = ud;
	if (ev->kind == FERRY_EV_WARNING && strlen(buf) + strlen(ev->message) + 2 < 4096) {
		strcat(buf, ev->message);
		strcat(buf, "\n");
	}
}

/* Convert src to a docker-archive with o, then back to a layout: app:13's digest there. */
static void through_docker_archive(const char *src, ferry_convert_opts *o, const char *name,
				   char out[FERRY_DIGEST_STRMAX], char *warnings)
{
	ferry_error err = FERRY_ERROR_INIT;
	char *tar = ferry_xasprintf("%s/%s.tar", tmp, name), *back = ferry_xasprintf("%s/%s-back/", tmp, name);
	warnings[0] = '\0';
	o->on_event = collect_warnings;
	o->event_ud = warnings;
	assert_int_equal(convert(src, tar, o, &err), 0);
	size_t problems = 99;
	assert_int_equal(ferry_verify(tar, NULL, NULL, &problems, &err), 0);
	assert_int_equal(problems, 0);
	assert_int_equal(convert(tar, back, NULL, &err), 0);
	ferry_source *s = open_ok(back);
	digest_of(s, "docker.io/example/app:13", out);
	ferry_source_free(s);
	free(tar);
	free(back);
}

static void test_docker_archive_layer_policy(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	char *gz = path("pol-gz/"), *zst = path("pol-zst/");
	ferry_convert_opts o = {.compress_set = true, .compress = FERRY_COMP_GZIP};
	assert_int_equal(convert(sample, gz, &o, &err), 0);
	o.compress = FERRY_COMP_ZSTD;
	assert_int_equal(convert(sample, zst, &o, &err), 0);
	char want_gz[FERRY_DIGEST_STRMAX], want_zst[FERRY_DIGEST_STRMAX], got[FERRY_DIGEST_STRMAX];
	ferry_source *s = open_ok(gz);
	digest_of(s, "docker.io/example/app:13", want_gz);
	ferry_source_free(s);
	s = open_ok(zst);
	digest_of(s, "docker.io/example/app:13", want_zst);
	ferry_source_free(s);
	char *warnings = ferry_xcalloc(1, 4096);

	/* gzip layers are kept: the manifest comes back byte for byte. */
	ferry_convert_opts def = {0};
	through_docker_archive(gz, &def, "pol-gz", got, warnings);
	assert_string_equal(got, want_gz);
	assert_string_equal(warnings, "");
	/* --compress none: every layer decompressed, so the manifest is rebuilt. */
	ferry_convert_opts none = {.compress_set = true, .compress = FERRY_COMP_NONE};
	through_docker_archive(gz, &none, "pol-none", got, warnings);
	assert_string_not_equal(got, want_gz);
	/* zstd layers are decompressed by default, and the image whose digest changes is named. */
	ferry_convert_opts z = {0};
	through_docker_archive(zst, &z, "pol-zst", got, warnings);
	assert_string_not_equal(got, want_zst);
	char *line = strstr(warnings, "docker.io/example/app:13: zstd layers decompressed");
	assert_non_null(line);
	assert_non_null(strstr(line, want_zst));
	/* keep_zstd keeps them, and the digest. */
	ferry_convert_opts keep = {.keep_zstd = true};
	through_docker_archive(zst, &keep, "pol-keep", got, warnings);
	assert_string_equal(got, want_zst);
	assert_non_null(strstr(warnings, "docker load cannot read"));
	free(warnings);
	free(gz);
	free(zst);
}

/* manifest.json "[]" and an index listing nothing: "holds no images", exit 4, nothing written. */
static void test_empty_sources_refused(void **state)
{
	(void)state;
	char *dir = path("empty-src"), *tar = path("empty.tar"), *out = path("empty-out/");
	assert_int_equal(mkdir(dir, 0755), 0);
	char *mj = path("empty-src/manifest.json");
	FILE *f = fopen(mj, "w");
	assert_non_null(f);
	fputs("[]", f);
	fclose(f);
	char *cmd = ferry_xasprintf("tar -C '%s' -cf '%s' manifest.json", dir, tar);
	assert_int_equal(system(cmd), 0);
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(convert(tar, out, NULL, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	assert_non_null(strstr(err.msg, "holds no images"));
	size_t problems = 0;
	ferry_error_clear(&err);
	assert_int_equal(ferry_verify(tar, NULL, NULL, &problems, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	struct stat st;
	assert_int_not_equal(stat(out, &st), 0);
	free(cmd);
	free(mj);
	free(dir);
	free(tar);
	free(out);
}

static void test_retag_rules(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_tag_rule rules[] = {{.from = "example/app:13", .to = "team/app:14", .add = false},
				  {.from = "example/base:1.0", .to = "base:stable", .add = true}};
	ferry_convert_opts o = {.tag_rules = rules, .n_tag_rules = 2, .registry = "localhost:5000"};
	char *dst = path("retag/");
	assert_int_equal(convert(sample, dst, &o, &err), 0);
	ferry_source *s = open_ok(dst);
	char d[FERRY_DIGEST_STRMAX];
	digest_of(s, "localhost:5000/team/app:14", d);
	assert_true(d[0]);
	digest_of(s, "localhost:5000/example/app:13", d);
	assert_false(d[0]);
	digest_of(s, "localhost:5000/example/base:1.0", d);
	assert_true(d[0]);
	digest_of(s, "localhost:5000/library/base:stable", d);
	assert_true(d[0]);
	ferry_source_free(s);
	/* A rule that names no image is an error, and nothing is written. */
	ferry_tag_rule bad[] = {{.from = "nope:1", .to = "x:1"}};
	ferry_convert_opts o2 = {.tag_rules = bad, .n_tag_rules = 1};
	char *dst2 = path("retag-bad/");
	assert_int_equal(convert(sample, dst2, &o2, &err), -1);
	assert_int_equal(err.code, FERRY_E_NOTFOUND);
	struct stat st;
	assert_int_equal(stat(dst2, &st), -1);
	/* Two images may not end up with one name. */
	ferry_tag_rule clash[] = {{.from = "example/app:13", .to = "example/base:1.0"}};
	ferry_convert_opts o3 = {.tag_rules = clash, .n_tag_rules = 1};
	assert_int_equal(convert(sample, dst2, &o3, &err), -1);
	assert_int_equal(err.code, FERRY_E_USAGE);
	assert_int_equal(stat(dst2, &st), -1);
	free(dst);
	free(dst2);
}

static void test_add_to_existing_layout(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	char *dst = path("grow/");
	const char *one[] = {"example/base:1.0"};
	ferry_convert_opts o = {.images = one, .n_images = 1};
	assert_int_equal(convert(sample, dst, &o, &err), 0);
	ferry_source *s = open_ok(dst);
	assert_int_equal(s->n_entries, 1);
	ferry_source_free(s);
	const char *two[] = {"example/app:13"};
	ferry_convert_opts o2 = {.images = two, .n_images = 1};
	ferry_convert_stats st;
	assert_int_equal(ferry_convert(sample, dst, &o2, &st, &err), 0);
	s = open_ok(dst);
	assert_int_equal(s->n_entries, 2);
	ferry_source_free(s);
	free(dst);
}

static void test_corrupt_layer_leaves_nothing(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	char *src = path("corrupt-src/");
	assert_int_equal(convert(sample, src, NULL, &err), 0);
	ferry_source *s = open_ok(src);
	char *blob = ferry_xasprintf("%s/%s", src, s->entries[0].img.layers[0].path);
	ferry_source_free(s);
	int fd = open(blob, O_RDWR);
	assert_true(fd >= 0);
	unsigned char c;
	assert_int_equal(pread(fd, &c, 1, 700), 1);
	c ^= 0x55;
	assert_int_equal(pwrite(fd, &c, 1, 700), 1);
	close(fd);
	size_t problems = 0;
	assert_int_equal(ferry_verify(src, NULL, NULL, &problems, &err), 0);
	assert_true(problems >= 1);
	char *dst = path("corrupt-dst.tar");
	size_t hidden = count_hidden(tmp);
	assert_int_equal(convert(src, dst, NULL, &err), -1);
	assert_int_equal(err.code, FERRY_E_INTEGRITY);
	struct stat st;
	assert_int_equal(stat(dst, &st), -1);
	assert_int_equal(count_hidden(tmp), hidden);
	free(blob);
	free(src);
	free(dst);
}

static void test_tag_untag_in_place(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	const char *locs[] = {"tu/", "tu.tar", "tu.oci.tar"};
	const char *fmts[] = {NULL, NULL, "oci-archive"};
	for (size_t i = 0; i < 3; i++) {
		char *dst = path(locs[i]);
		ferry_convert_opts o = {.format = fmts[i]};
		assert_int_equal(convert(sample, dst, &o, &err), 0);
		const char *newref[] = {"localhost:5000/team/app:13"};
		assert_int_equal(ferry_tag(dst, "example/app:13", newref, 1, &err), 0);
		ferry_source *s = open_ok(dst);
		char a[FERRY_DIGEST_STRMAX], b[FERRY_DIGEST_STRMAX];
		digest_of(s, "docker.io/example/app:13", a);
		digest_of(s, "localhost:5000/team/app:13", b);
		assert_true(a[0]);
		assert_string_equal(a, b);
		ferry_source_free(s);
		const char *gone[] = {"example/app:13"};
		assert_int_equal(ferry_untag(dst, gone, 1, &err), 0);
		s = open_ok(dst);
		digest_of(s, "docker.io/example/app:13", a);
		digest_of(s, "localhost:5000/team/app:13", b);
		assert_false(a[0]);
		assert_true(b[0]);
		assert_int_equal(s->n_entries, 3);
		ferry_source_free(s);
		assert_int_equal(ferry_untag(dst, gone, 1, &err), -1);
		assert_int_equal(err.code, FERRY_E_NOTFOUND);
		free(dst);
	}
	assert_int_equal(count_hidden(tmp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_to_oci),
		cmocka_unit_test(test_round_trip_keeps_digests),
		cmocka_unit_test(test_compression_is_deterministic),
		cmocka_unit_test(test_docker_archive_layer_policy),
		cmocka_unit_test(test_empty_sources_refused),
		cmocka_unit_test(test_retag_rules),
		cmocka_unit_test(test_add_to_existing_layout),
		cmocka_unit_test(test_corrupt_layer_leaves_nothing),
		cmocka_unit_test(test_tag_untag_in_place),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
