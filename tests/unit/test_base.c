/*
 * test_base.c - the small helpers of src/base: strmap's iteration and
 * free-with-values, the capped whole-fd reader, the tree remover.
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

#include "readfile.h"
#include "scratch.h"
#include "strmap.h"
#include "tmpname.h"
#include "util.h"

static char *tmp_dir;

static int group_setup(void **state)
{
	(void)state;
	return (tmp_dir = scratch_make("test_base")) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return scratch_remove(tmp_dir);
}

static int freed;
static void count_free(void *p)
{
	freed++;
	free(p);
}

static void test_strmap_iterate(void **state)
{
	(void)state;
	ferry_strmap m = {0};
	enum { N = 100 };
	for (int i = 0; i < N; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		int *v = ferry_xmalloc(sizeof(int));
		*v = i;
		ferry_strmap_put(&m, key, v);
	}
	bool seen[N] = {0};
	size_t visits = 0;
	const char *key;
	void *val;
	for (size_t it = 0; ferry_strmap_next(&m, &it, &key, &val);) {
		int i = *(int *)val;
		char want[16];
		snprintf(want, sizeof(want), "k%d", i);
		assert_string_equal(key, want);
		assert_false(seen[i]);
		seen[i] = true;
		visits++;
	}
	assert_int_equal(visits, N);
	freed = 0;
	ferry_strmap_free_with(&m, count_free);
	assert_int_equal(freed, N);
	assert_int_equal(m.len, 0);

	size_t it = 0;
	assert_false(ferry_strmap_next(&m, &it, NULL, NULL)); /* an empty map */
}

static char *write_tmp(const char *name, size_t n)
{
	char *p = ferry_xasprintf("%s/%s", tmp_dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	fclose(f);
	return p;
}

static void test_read_all(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	char *buf;
	size_t len;
	/* exactly at the cap, past a read step */
	char *p = write_tmp("big", 200000);
	assert_int_equal(ferry_read_file(p, 200000, &buf, &len, &err), 0);
	assert_int_equal(len, 200000);
	assert_int_equal(buf[len], '\0');
	assert_int_equal(buf[199999], 'a' + 199999 % 26);
	free(buf);
	/* one byte over */
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(ferry_read_fd_all(fd, 199999, &buf, &len, "the big file", &err), -1);
	close(fd);
	assert_int_equal(err.code, FERRY_E_LIMIT);
	assert_non_null(strstr(err.msg, "the big file is larger than 199999 bytes"));
	assert_null(buf);
	free(p);
	/* empty */
	p = write_tmp("empty", 0);
	assert_int_equal(ferry_read_file(p, 10, &buf, &len, &err), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
	free(p);
	/* not a regular file */
	err = (ferry_error)FERRY_ERROR_INIT;
	assert_int_equal(ferry_read_file(tmp_dir, 10, &buf, &len, &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
}

/* The remover deletes what a link points at never, only the link. */
static void test_remove_tree(void **state)
{
	(void)state;
	char *keep = write_tmp("keep", 3);
	char *outside = ferry_xasprintf("%s/outside", tmp_dir);
	assert_int_equal(mkdir(outside, 0700), 0);
	char *kept_in = ferry_xasprintf("%s/outside/file", tmp_dir);
	fclose(fopen(kept_in, "w"));
	char *root = ferry_xasprintf("%s/tree", tmp_dir);
	char *sub = ferry_xasprintf("%s/tree/blobs/sha256", tmp_dir);
	assert_int_equal(mkdir(root, 0700), 0);
	char *blobs = ferry_xasprintf("%s/tree/blobs", tmp_dir);
	assert_int_equal(mkdir(blobs, 0700), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	char *f = ferry_xasprintf("%s/x", sub);
	fclose(fopen(f, "w"));
	char *l1 = ferry_xasprintf("%s/dirlink", sub);
	char *l2 = ferry_xasprintf("%s/filelink", root);
	assert_int_equal(symlink(outside, l1), 0);
	assert_int_equal(symlink(keep, l2), 0);
	ferry_remove_tree(root);
	struct stat st;
	assert_int_equal(lstat(root, &st), -1);
	assert_int_equal(stat(keep, &st), 0);
	assert_int_equal(stat(kept_in, &st), 0);
	free(keep);
	free(outside);
	free(kept_in);
	free(root);
	free(sub);
	free(blobs);
	free(f);
	free(l1);
	free(l2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strmap_iterate),
		cmocka_unit_test(test_read_all),
		cmocka_unit_test(test_remove_tree),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
