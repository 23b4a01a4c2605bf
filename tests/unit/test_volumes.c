/*
 * test_volumes.c - volume sizes as --split takes them, hostile NAME.sha256
 * lines, and the writer's cuts: volumes at most the size, cuts between
 * entries that fit, a larger entry split, cat of the volumes the input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scratch.h"
#include "util.h"
#include "volumes.h"

static char *tmp_dir;

static int group_setup(void **state)
{
	(void)state;
	return (tmp_dir = scratch_make("test_volumes")) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return scratch_remove(tmp_dir);
}

static uint64_t size_of(const char *s, int *rc)
{
	ferry_error err = FERRY_ERROR_INIT;
	uint64_t v = 0;
	*rc = ferry_parse_volume_size(s, &v, &err);
	return v;
}

static void test_sizes(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint64_t want;
	} good[] = {
		{"1M", 1048576},
		{"1048576", 1048576},
		{"2k", 0}, /* below 1M: refused (below) */
		{"1024k", 1048576},
		{"3G", 3ull << 30},
		{"2T", 2ull << 40},
		{"5MB", 5000000},
		{"2GB", 2000000000},
		{"1TB", 1000000000000ull},
		{"fat32", (4ull << 30) - 1},
		{"dvd", 4700000000ull},
		{"bd", 25000000000ull},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int rc;
		uint64_t v = size_of(good[i].s, &rc);
		if (good[i].want == 0) {
			assert_int_equal(rc, -1);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_true(v == good[i].want);
	}
	static const char *const bad[] = {"", "M", "1.5G", "-1M", "1 M", "1m", "1Mb", "0", "1000000", "1023k",
					  "2000T", "99999999999999999999999", "18446744073709551615", "fat", "dvd2",
					  "1MM", "0x100000"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;
		size_of(bad[i], &rc);
		assert_int_equal(rc, -1);
	}
}

static int parse(const char *text, size_t *n)
{
	char(*hex)[65] = ferry_xcalloc(FERRY_VOLUMES_MAX, sizeof(*hex));
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_sha256sum_parse(text, strlen(text), "x.tar", hex, FERRY_VOLUMES_MAX, n, &err);
	free(hex);
	return rc;
}

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_sha256sum_lines(void **state)
{
	(void)state;
	size_t n;
	assert_int_equal(parse(H64 "  x.tar.001\n" H64 "  x.tar.002\n", &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(parse(H64 " *x.tar.001\n", &n), 0); /* binary mode marker */
	assert_int_equal(parse(H64 "  x.tar.001", &n), 0);    /* no final newline */
	static const char *const hostile[] = {
		"",                                         /* nothing listed */
		H64 "  x.tar.002\n",                        /* does not start at 001 */
		H64 "  x.tar.001\n" H64 "  x.tar.003\n",    /* a gap */
		H64 "  x.tar.001\n" H64 "  x.tar.001\n",    /* twice */
		H64 "  ../x.tar.001\n",                     /* a path */
		H64 "  /etc/passwd\n",                      /* an absolute path */
		H64 "  y.tar.001\n",                        /* another set */
		H64 "x.tar.001\n",                          /* no separator */
		H64 "   x.tar.001\n",                       /* three spaces */
		"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef  x.tar.001\n", /* upper case */
		"0123  x.tar.001\n",                        /* short digest */
		H64 "  x.tar.001 \n",                       /* trailing space */
		H64 "  x.tar.0001\n",                       /* four digits */
	};
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		assert_int_equal(parse(hostile[i], &n), -1);
	/* A NUL inside a line */
	char buf[128];
	snprintf(buf, sizeof(buf), "%s  x.tar.001\n", H64);
	buf[10] = '\0';
	char(*hex)[65] = ferry_xcalloc(FERRY_VOLUMES_MAX, sizeof(*hex));
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_sha256sum_parse(buf, 77, "x.tar", hex, FERRY_VOLUMES_MAX, &n, &err), -1);
	/* More lines than allowed */
	assert_int_equal(ferry_sha256sum_parse(H64 "  x.tar.001\n" H64 "  x.tar.002\n", 2 * 76, "x.tar", hex, 1, &n,
					       &err),
			 -1);
	free(hex);
}

/* The writer: entries of 300 KiB and 2.5 MiB into 1 MiB volumes. */
static void test_writer_cuts(void **state)
{
	(void)state;
	char *path = ferry_xasprintf("%s/w.tar", tmp_dir);
	ferry_volw *v;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_volw_open(path, FERRY_VOLUME_MIN, &v, &err), 0);
	const uint64_t sizes[] = {300 << 10, 300 << 10, 300 << 10, 300 << 10, (5u << 20) / 2, 512};
	unsigned char *buf = ferry_xmalloc(5u << 20);
	uint64_t off = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(buf, (int)('a' + i), sizes[i]);
		ferry_volw_entry(v, off, sizes[i]);
		assert_int_equal(ferry_volw_write(v, buf, sizes[i], &err), 0);
		off += sizes[i];
	}
	assert_int_equal(ferry_volw_commit(v, NULL, NULL, 0, &err), 0);
	size_t n;
	const ferry_volume_info *vi = ferry_volw_volumes(v, &n);
	/* 3 x 300K fit the first volume; the fourth starts the second; the big one fills it and 2 more. */
	assert_true(n >= 4);
	assert_true(vi[0].size == 3 * (300 << 10));
	assert_true(vi[1].start == 3 * (300 << 10));
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(vi[i].size <= FERRY_VOLUME_MIN);
		assert_true(vi[i].start == total);
		total += vi[i].size;
	}
	assert_true(total == off);
	ferry_volw_free(v);
	/* Read back as a set: the same bytes, in order. */
	ferry_volset *vs;
	assert_int_equal(ferry_volset_open(path, &vs, &err), 0);
	assert_non_null(vs);
	assert_int_equal(ferry_volset_count(vs), n);
	assert_true(ferry_volset_total(vs) == off);
	off = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ferry_istream *in = ferry_volset_range(vs, off, sizes[i]);
		uint64_t got = 0;
		for (;;) {
			ssize_t r = ferry_read(in, buf, 1 << 20, &err);
			assert_true(r >= 0);
			if (r == 0)
				break;
			for (ssize_t k = 0; k < r; k++)
				assert_int_equal(buf[k], 'a' + i);
			got += (uint64_t)r;
		}
		assert_true(got == sizes[i]);
		ferry_istream_close(in);
		off += sizes[i];
	}
	ferry_volset_free(vs);
	free(buf);
	free(path);
}

/* An uncommitted writer leaves nothing. */
static void test_writer_abandoned(void **state)
{
	(void)state;
	char *dir = ferry_xasprintf("%s/abandon", tmp_dir);
	mkdir(dir, 0755);
	char *path = ferry_xasprintf("%s/a.tar", dir);
	ferry_volw *v;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_volw_open(path, FERRY_VOLUME_MIN, &v, &err), 0);
	unsigned char *buf = ferry_xcalloc(1, 3u << 20);
	assert_int_equal(ferry_volw_write(v, buf, 3u << 20, &err), 0);
	ferry_volw_free(v);
	assert_int_equal(rmdir(dir), 0); /* empty */
	free(buf);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_sha256sum_lines),
		cmocka_unit_test(test_writer_cuts),
		cmocka_unit_test(test_writer_abandoned),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
