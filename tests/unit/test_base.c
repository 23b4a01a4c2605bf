/*
 * test_base.c - the small helpers of src/base: strmap's iteration and
 * free-with-values, the capped whole-fd reader, the tree remover, the
 * temporary names of long destination names.
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
#include <sys/wait.h>
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

/* A pid that no longer exists: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

/*
 * A 255-byte destination name (the most a filesystem takes) gets a temporary
 * name that fits, and the sweep still finds a dead run's leftover of it.
 */
static void test_tmp_long_names(void **state)
{
	(void)state;
	/* (Before anything is allocated: the child would have its own copy to leak.) */
	pid_t dead1 = dead_pid(), dead2 = dead_pid();
	char base[256];
	memset(base, 'n', 255);
	base[255] = '\0';
	char *t = ferry_tmp_template(tmp_dir, base);
	assert_true(strlen(strrchr(t, '/') + 1) <= 255);
	int fd = mkstemp(t);
	assert_true(fd >= 0);
	close(fd);
	/* The same name under a dead pid: a leftover. */
	char *mine = ferry_xasprintf("-%ld-", (long)getpid());
	char *at = strstr(t, mine);
	assert_non_null(at);
	char *left = ferry_xasprintf("%.*s-%ld-XXXXXX", (int)(at - t), t, (long)dead1);
	fd = mkstemp(left);
	assert_true(fd >= 0);
	close(fd);
	/* A dead run's leftover of another long name with the same first bytes stays. */
	base[254] = 'm';
	char *o = ferry_tmp_template(tmp_dir, base);
	base[254] = 'n';
	char *other = ferry_xasprintf("%.*s-%ld-XXXXXX", (int)(strstr(o, mine) - o), o, (long)dead2);
	free(o);
	fd = mkstemp(other);
	assert_true(fd >= 0);
	close(fd);
	ferry_tmp_sweep(tmp_dir, base);
	struct stat st;
	assert_int_equal(lstat(left, &st), -1);
	assert_int_equal(lstat(t, &st), 0); /* a live run's */
	assert_int_equal(lstat(other, &st), 0);
	unlink(t);
	unlink(other);
	free(t);
	free(mine);
	free(left);
	free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strmap_iterate),
		cmocka_unit_test(test_read_all),
		cmocka_unit_test(test_remove_tree),
		cmocka_unit_test(test_tmp_long_names),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
