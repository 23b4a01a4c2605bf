/*
 * test_source.c - the public, read-only view of a source (source.h), through
 * the public header alone: counts, names, manifest digests and platforms of
 * fixtures/sample.tar (a legacy save: no manifest digests) and
 * fixtures/dialects/oci-multi (a nested index, a bare tag, an unnamed
 * manifest, a non-image entry), and what out-of-range indexes give.
 * The fixtures are found through $FERRY_FIXTURES (meson and
 * tests/run-tests.sh set it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.h"

static ferry_source *open_fixture(const char *name)
{
	const char *dir = getenv("FERRY_FIXTURES");
	char path[4096];
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ferry_source *src = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_source_open(path, &src, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
	return src;
}

/* Compare (and free) a string an accessor returned. */
static void check_str(char *got, const char *want)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_legacy_save(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("sample.tar");
	assert_string_equal(ferry_source_format(src), "docker-archive");
	assert_int_equal(ferry_source_count(src), 3);
	static const char *const names[] = {"docker.io/example/tool:2.1", "docker.io/example/base:1.0",
					    "docker.io/example/app:13"};
	for (size_t i = 0; i < 3; i++) {
		assert_null(ferry_source_digest(src, i)); /* docker save writes no manifests */
		assert_int_equal(ferry_source_name_count(src, i), 1);
		check_str(ferry_source_name(src, i, 0), names[i]);
		assert_int_equal(ferry_source_platform_count(src, i), 1);
		check_str(ferry_source_platform(src, i, 0), "linux/amd64");
	}
	ferry_source_free(src);
}

static void test_index_and_bare_tags(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("dialects/oci-multi");
	assert_string_equal(ferry_source_format(src), "oci");
	assert_int_equal(ferry_source_count(src), 4); /* the SBOM entry is not an image */

	/* An index of two manifests: one digest, two platforms. */
	assert_string_equal(ferry_source_digest(src, 0)->str,
			    "sha256:0277c4ddd62b29ba643553774695db11a7af8bb1eb677ed0c01b0e477ede0ab6");
	check_str(ferry_source_name(src, 0, 0), "docker.io/example/multi:1.0");
	assert_int_equal(ferry_source_platform_count(src, 0), 2);
	check_str(ferry_source_platform(src, 0, 0), "linux/amd64");
	check_str(ferry_source_platform(src, 0, 1), "linux/arm64/v8");
	assert_null(ferry_source_platform(src, 0, 2));

	check_str(ferry_source_name(src, 2, 0), ":v3"); /* a bare tag */
	assert_int_equal(ferry_source_name_count(src, 3), 0);
	assert_null(ferry_source_name(src, 3, 0));
	assert_string_equal(ferry_source_digest(src, 3)->str,
			    "sha256:28292d3e16423dc4e4264b6973ffa3883db2a34f8eacf70d20025de42fd92516");
	ferry_source_free(src);
}

static void test_out_of_range(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("dialects/oci-multi");
	size_t n = ferry_source_count(src);
	assert_int_equal(ferry_source_name_count(src, n), 0);
	assert_null(ferry_source_name(src, n, 0));
	assert_null(ferry_source_digest(src, n));
	assert_int_equal(ferry_source_platform_count(src, n), 0);
	assert_null(ferry_source_platform(src, n, 0));
	assert_null(ferry_source_name(src, 0, 1));
	assert_null(ferry_source_platform(src, 1, 1));
	ferry_source_free(src);
	ferry_source_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_legacy_save),
		cmocka_unit_test(test_index_and_bare_tags),
		cmocka_unit_test(test_out_of_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
