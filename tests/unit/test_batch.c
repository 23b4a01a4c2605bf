#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/batch.h"
#include "util.h"

/* ---- the word splitter ---- */

struct split_case {
	const char *line;
	const char *words[6]; /* NULL-terminated */
};

static const struct split_case splits[] = {
	{"convert a.tar out/", {"convert", "a.tar", "out/", NULL}},
	{"  convert\ta.tar   out/  ", {"convert", "a.tar", "out/", NULL}},
	{"convert 'a b.tar' \"c d/\"", {"convert", "a b.tar", "c d/", NULL}},
	{"convert a\\ b.tar x", {"convert", "a b.tar", "x", NULL}},
	{"push 'it''s' x", {"push", "its", "x", NULL}},
	{"push \"it's\" 'say \"hi\"'", {"push", "it's", "say \"hi\"", NULL}},
	{"push \"a\\\"b\\\\c\\d\"", {"push", "a\"b\\c\\d", NULL}},
	{"push 'no \\escape'", {"push", "no \\escape", NULL}},
	{"push \"\" ''", {"push", "", "", NULL}},
	{"push a#b # a comment", {"push", "a#b", NULL}},
	{"# only a comment", {NULL}},
	{"", {NULL}},
	{"push \"$HOME\" ~ *.tar", {"push", "$HOME", "~", "*.tar", NULL}},
	{"push pre'mid'\"post\"", {"push", "premidpost", NULL}},
};

static void test_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		char **w;
		size_t n;
		ferry_error err = FERRY_ERROR_INIT;
		if (ferry_batch_split(splits[i].line, &w, &n, &err) < 0)
			fail_msg("%s: %s", splits[i].line, err.msg);
		size_t want = 0;
		while (splits[i].words[want])
			want++;
		if (n != want)
			fail_msg("%s: %zu words, expected %zu", splits[i].line, n, want);
		for (size_t k = 0; k < n; k++)
			assert_string_equal(w[k], splits[i].words[k]);
		assert_null(w[n]);
		ferry_batch_words_free(w);
	}
}

static void test_split_errors(void **state)
{
	(void)state;
	const char *bad[] = {"push 'open", "push \"open", "push a\\", "push \"a\\\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char **w = NULL;
		size_t n;
		ferry_error err = FERRY_ERROR_INIT;
		assert_int_equal(ferry_batch_split(bad[i], &w, &n, &err), -1);
		assert_int_equal(err.code, FERRY_E_USAGE);
		assert_null(w);
	}
	ferry_error err = FERRY_ERROR_INIT;
	char **w;
	size_t n;
	assert_int_equal(ferry_batch_split("x 'unclosed", &w, &n, &err), -1);
	assert_non_null(strstr(err.msg, "single quote"));
}

/* ---- job files ---- */

static void test_parse_file(void **state)
{
	(void)state;
	const char *text = "# mirror\n"
			   "\n"
			   "convert a.tar out/   # trailing comment\n"
			   "  push \"b c.tar\" docker://localhost:5000 \\\n"
			   "      --retries 2\n"
			   "convert 'x' y\r\n"
			   "push last.tar"; /* no final newline */
	ferry_batch_job *jobs;
	size_t n;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_batch_parse(text, strlen(text), "jobs", &jobs, &n, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(n, 4);
	assert_int_equal(jobs[0].line, 3);
	assert_int_equal(jobs[0].index, 0);
	assert_int_equal(jobs[0].argc, 3);
	assert_string_equal(jobs[0].argv[2], "out/");
	assert_int_equal(jobs[1].line, 4);
	assert_int_equal(jobs[1].index, 1);
	assert_int_equal(jobs[1].argc, 5);
	assert_string_equal(jobs[1].argv[1], "b c.tar");
	assert_string_equal(jobs[1].argv[4], "2");
	assert_string_equal(jobs[1].text, "push \"b c.tar\" docker://localhost:5000  --retries 2");
	assert_int_equal(jobs[2].line, 6);
	assert_string_equal(jobs[2].argv[1], "x");
	assert_int_equal(jobs[3].line, 7);
	assert_int_equal(jobs[3].index, 3);
	assert_string_equal(jobs[3].argv[1], "last.tar");
	ferry_batch_jobs_free(jobs, n);
}

static void test_parse_errors(void **state)
{
	(void)state;
	struct {
		const char *text;
		ferry_code code;
		const char *msg;
	} bad[] = {
		{"convert a b\nverify x\n", FERRY_E_USAGE, "jobs:2: \"verify\" is not a job command"},
		{"convert a b\n\nconvert 'a b\n", FERRY_E_USAGE, "jobs:3: unterminated single quote"},
		{"convert a b \\\n", FERRY_E_USAGE, "jobs:1: the last line ends in a backslash"},
		{"convert \"a\nb\"\n", FERRY_E_USAGE, "jobs:1: unterminated double quote"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_batch_job *jobs = NULL;
		size_t n = 0;
		ferry_error err = FERRY_ERROR_INIT;
		assert_int_equal(ferry_batch_parse(bad[i].text, strlen(bad[i].text), "jobs", &jobs, &n, &err), -1);
		assert_int_equal(err.code, bad[i].code);
		if (strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) != 0)
			fail_msg("got \"%s\", expected \"%s...\"", err.msg, bad[i].msg);
	}
	/* NUL bytes: not a text file. */
	ferry_batch_job *jobs;
	size_t n;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_batch_parse("convert a\0b\n", 12, "jobs", &jobs, &n, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	/* One job longer than the limit. */
	size_t big = FERRY_BATCH_LINE_MAX + 10;
	char *text = ferry_xmalloc(big + 1);
	memset(text, 'a', big);
	memcpy(text, "convert ", 8);
	text[big] = '\0';
	assert_int_equal(ferry_batch_parse(text, big, "jobs", &jobs, &n, &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
	free(text);
}

static void test_keys(void **state)
{
	(void)state;
	/* The key is the words: quoting and spacing do not change it, word boundaries do. */
	const char *text = "convert a b\n"
			   "convert   'a'  \"b\"\n"
			   "convert ab ''\n"
			   "convert 'a b'\n";
	ferry_batch_job *jobs;
	size_t n;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_batch_parse(text, strlen(text), "jobs", &jobs, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(jobs[0].key, jobs[1].key);
	assert_string_not_equal(jobs[0].key, jobs[2].key);
	assert_string_not_equal(jobs[0].key, jobs[3].key);
	assert_int_equal(strlen(jobs[0].key), 64);
	/* Known value: sha256 of "convert\0a\0b\0". */
	assert_string_equal(jobs[0].key, "72270b54ee5bd37d8a5e70353771cc93e8d3002cf4f91c2fcbd1193fac4ef6d9");
	ferry_batch_jobs_free(jobs, n);
}

/* ---- shards ---- */

static void test_shards(void **state)
{
	(void)state;
	unsigned i, c;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_batch_shard_parse("0/1", &i, &c, &err), 0);
	assert_int_equal(i, 0);
	assert_int_equal(c, 1);
	assert_int_equal(ferry_batch_shard_parse("3/4", &i, &c, &err), 0);
	assert_int_equal(i, 3);
	assert_int_equal(c, 4);
	const char *bad[] = {"4/4", "1/0", "-1/4", "1/-4", "a/4", "1/", "/4", "1", "1/4x", " 1/4", "1/+4", ""};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		if (ferry_batch_shard_parse(bad[k], &i, &c, &err) != -1)
			fail_msg("\"%s\" accepted as a shard", bad[k]);
		assert_int_equal(err.code, FERRY_E_USAGE);
	}
	/* Every job in exactly one shard, whatever the count. */
	ferry_batch_job jobs[23];
	memset(jobs, 0, sizeof(jobs));
	for (size_t k = 0; k < 23; k++)
		jobs[k].index = k;
	for (unsigned count = 1; count <= 7; count++) {
		for (size_t k = 0; k < 23; k++) {
			unsigned in = 0;
			for (unsigned s = 0; s < count; s++)
				in += ferry_batch_in_shard(&jobs[k], s, count);
			assert_int_equal(in, 1);
		}
	}
	assert_true(ferry_batch_in_shard(&jobs[5], 1, 4));
	assert_false(ferry_batch_in_shard(&jobs[5], 0, 4));
}

/* ---- the state file ---- */

static char *tmp_path(void)
{
	char *p = ferry_xstrdup("/tmp/test_batch.XXXXXX");
	int fd = mkstemp(p);
	assert_true(fd >= 0);
	close(fd);
	return p;
}

static void test_state(void **state)
{
	(void)state;
	char *path = tmp_path();
	const char *text = "convert a b\nconvert c d\npush e\n";
	ferry_batch_job *jobs;
	size_t n;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_batch_parse(text, strlen(text), "jobs", &jobs, &n, &err), 0);

	ferry_batch_state *s;
	assert_int_equal(ferry_batch_state_open(path, &s, &err), 0);
	assert_int_equal(ferry_batch_state_count(s), 0);
	assert_false(ferry_batch_state_done(s, jobs[0].key, NULL, NULL));
	const char *d1[] = {"sha256:1111", "sha256:2222"};
	assert_int_equal(ferry_batch_state_record(s, &jobs[0], d1, 2, &err), 0);
	assert_int_equal(ferry_batch_state_record(s, &jobs[2], NULL, 0, &err), 0);
	assert_true(ferry_batch_state_done(s, jobs[0].key, NULL, NULL));
	ferry_batch_state_close(s);

	/* A run killed mid-write left half a line: it is ignored, and the next record is whole. */
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	fprintf(f, "{\"key\":\"%s\",\"li", jobs[1].key);
	fclose(f);

	assert_int_equal(ferry_batch_state_open(path, &s, &err), 0);
	assert_int_equal(ferry_batch_state_count(s), 2);
	const char *const *ds;
	size_t nd;
	assert_true(ferry_batch_state_done(s, jobs[0].key, &ds, &nd));
	assert_int_equal(nd, 2);
	assert_string_equal(ds[1], "sha256:2222");
	assert_true(ferry_batch_state_done(s, jobs[2].key, &ds, &nd));
	assert_int_equal(nd, 0);
	assert_false(ferry_batch_state_done(s, jobs[1].key, NULL, NULL));
	/* Recorded again (--force): the last record wins. */
	const char *d2[] = {"sha256:3333"};
	assert_int_equal(ferry_batch_state_record(s, &jobs[0], d2, 1, &err), 0);
	assert_int_equal(ferry_batch_state_record(s, &jobs[1], d2, 1, &err), 0);
	ferry_batch_state_close(s);

	assert_int_equal(ferry_batch_state_open(path, &s, &err), 0);
	assert_int_equal(ferry_batch_state_count(s), 3);
	assert_true(ferry_batch_state_done(s, jobs[0].key, &ds, &nd));
	assert_int_equal(nd, 1);
	assert_string_equal(ds[0], "sha256:3333");
	assert_true(ferry_batch_state_done(s, jobs[1].key, NULL, NULL));
	ferry_batch_state_close(s);

	/* Every line of the file is whole JSON with the documented fields. */
	f = fopen(path, "r");
	char line[4096];
	int lines = 0, whole = 0;
	while (fgets(line, sizeof(line), f)) {
		lines++;
		if (strstr(line, "\"key\":") && strstr(line, "\"line\":") && strstr(line, "\"job\":") &&
		    strstr(line, "\"digests\":") && strstr(line, "\"finished\":"))
			whole++;
	}
	fclose(f);
	assert_int_equal(lines, 5); /* 2 + the torn one + 2 */
	assert_int_equal(whole, 4);

	ferry_batch_jobs_free(jobs, n);
	unlink(path);
	free(path);
}

static void test_state_errors(void **state)
{
	(void)state;
	ferry_batch_state *s = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_batch_state_open("/nonexistent-dir/x.state", &s, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/x.state"));
	assert_null(s);
	ferry_batch_job *jobs;
	size_t n;
	assert_int_equal(ferry_batch_read("/nonexistent-dir/jobs", &jobs, &n, &err), -1);
	assert_int_equal(err.code, FERRY_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "job file /nonexistent-dir/jobs does not exist"));
	/* A directory is not a job file. */
	assert_int_equal(ferry_batch_read("/", &jobs, &n, &err), -1);
	assert_int_equal(err.code, FERRY_E_FAILED);
}

static void test_read_file(void **state)
{
	(void)state;
	char *path = tmp_path();
	FILE *f = fopen(path, "w");
	fputs("convert a b\n# c\npush c\n", f);
	fclose(f);
	ferry_batch_job *jobs;
	size_t n;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_batch_read(path, &jobs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(jobs[1].line, 3);
	ferry_batch_jobs_free(jobs, n);
	/* An empty file is an empty batch. */
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(ferry_batch_read(path, &jobs, &n, &err), 0);
	assert_int_equal(n, 0);
	ferry_batch_jobs_free(jobs, n);
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),       cmocka_unit_test(test_split_errors),
		cmocka_unit_test(test_parse_file),  cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_keys),        cmocka_unit_test(test_shards),
		cmocka_unit_test(test_state),       cmocka_unit_test(test_state_errors),
		cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
