/* test_list.c - image lists: plain lines, skopeo sync's YAML, hostile input, semver ranges. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "util.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DG "sha256:" HEX64

static int parse(const char *s, ferry_list *l, ferry_error *err)
{
	return ferry_list_parse(s, strlen(s), "LIST", l, err);
}

/* The list must fail to parse, with a message containing want. */
static void refused(const char *s, const char *want)
{
	ferry_list l;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(parse(s, &l, &err), -1);
	if (!strstr(err.msg, want))
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", s, err.msg, want);
	assert_int_equal(l.n_items, 0);
}

static void test_plain(void **state)
{
	(void)state;
	ferry_list l;
	ferry_error err = FERRY_ERROR_INIT;
	const char *s = "# the release\n"
			"nginx\n"
			"  localhost:5000/team/app:1.2   # pinned below\n"
			"\n"
			"localhost:5000/team/app:1.2@" DG "\r\n"
			"quay.io/x/y@" DG;
	assert_int_equal(parse(s, &l, &err), 0);
	assert_int_equal(l.n_items, 4);
	assert_string_equal(l.items[0].ref, "docker.io/library/nginx:latest");
	assert_int_equal(l.items[0].line, 2);
	assert_string_equal(l.items[1].ref, "localhost:5000/team/app:1.2");
	assert_string_equal(l.items[2].ref, "localhost:5000/team/app:1.2@" DG);
	assert_string_equal(l.items[3].ref, "quay.io/x/y@" DG);
	assert_int_equal(l.items[3].line, 6);
	for (size_t i = 0; i < l.n_items; i++) {
		assert_int_equal(l.items[i].kind, FERRY_LIST_REF);
		assert_true(l.items[i].registry == SIZE_MAX);
	}
	ferry_list_free(&l);
}

static void test_plain_refused(void **state)
{
	(void)state;
	refused("", "lists no image");
	refused("# only a comment\n\n", "lists no image");
	refused("nginx\nfoo/UPPER\n", "LIST:2:");
	refused("nginx redis\n", "one image reference a line");
	refused("a@sha256:123\n", "LIST:1:");
	char *big = ferry_xcalloc(FERRY_LIST_LINE_MAX + 10, 1);
	memset(big, 'a', FERRY_LIST_LINE_MAX + 5);
	refused(big, "longer than");
	free(big);
	char nul[] = "nginx\0redis\n";
	ferry_list l;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_list_parse(nul, sizeof(nul) - 1, "LIST", &l, &err), -1);
	assert_non_null(strstr(err.msg, "NUL"));
	err = (ferry_error)FERRY_ERROR_INIT;
	assert_int_equal(ferry_list_parse(nul, FERRY_LIST_BYTES_MAX + 1, "LIST", &l, &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
}

static void test_yaml(void **state)
{
	(void)state;
	const char *s = "localhost:5000:\n"
			"  images:\n"
			"    team/app:\n"
			"      - \"1.0\"\n"
			"      - " DG "\n"
			"    busybox: []\n"
			"  images-by-tag-regex:\n"
			"    team/web: ^v1\\.[0-9]+$\n"
			"  images-by-semver:\n"
			"    team/db: \">= 3.12.0, < 4\"\n"
			"  tls-verify: false\n"
			"  cert-dir: /etc/certs\n"
			"  credentials:\n"
			"    username: john\n"
			"    password: \"se:cret\"\n"
			"quay.io:\n"
			"  images:\n"
			"    coreos/etcd: [latest]\n";
	ferry_list l;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(parse(s, &l, &err), 0);
	assert_int_equal(l.n_registries, 2);
	assert_string_equal(l.registries[0].domain, "localhost:5000");
	assert_true(l.registries[0].tls_verify_set);
	assert_false(l.registries[0].tls_verify);
	assert_string_equal(l.registries[0].cert_dir, "/etc/certs");
	assert_string_equal(l.registries[0].creds, "john:se:cret");
	assert_false(l.registries[1].tls_verify_set);
	assert_null(l.registries[1].creds);
	assert_int_equal(l.n_items, 6);
	assert_int_equal(l.items[0].kind, FERRY_LIST_REF);
	assert_string_equal(l.items[0].ref, "localhost:5000/team/app:1.0");
	assert_int_equal(l.items[0].line, 4);
	assert_string_equal(l.items[1].ref, "localhost:5000/team/app@" DG);
	assert_int_equal(l.items[2].kind, FERRY_LIST_ALL);
	assert_string_equal(l.items[2].ref, "localhost:5000/busybox");
	assert_int_equal(l.items[3].kind, FERRY_LIST_REGEX);
	assert_string_equal(l.items[3].pattern, "^v1\\.[0-9]+$");
	assert_true(ferry_list_tag_matches(&l.items[3], "v1.12"));
	assert_false(ferry_list_tag_matches(&l.items[3], "v1.12-rc"));
	assert_false(ferry_list_tag_matches(&l.items[3], "v2.1"));
	assert_int_equal(l.items[4].kind, FERRY_LIST_SEMVER);
	assert_true(ferry_list_tag_matches(&l.items[4], "3.12.1"));
	assert_false(ferry_list_tag_matches(&l.items[4], "4.0.0"));
	assert_int_equal(l.items[4].registry, 0);
	assert_string_equal(l.items[5].ref, "quay.io/coreos/etcd:latest");
	assert_int_equal(l.items[5].registry, 1);
	ferry_list_free(&l);
}

static void test_yaml_refused(void **state)
{
	(void)state;
	refused("reg:5000:\n  images-by-digest:\n    a: [x]\n", "unsupported key \"images-by-digest\"");
	refused("reg:5000:\n  credentials:\n    username: u\n    password: p\n    token: t\n",
		"unsupported key \"token\"");
	refused("reg:5000:\n  credentials:\n    username: u\n", "credentials");
	refused("reg:5000:\n  tls-verify: maybe\n", "true or false");
	refused("reg:5000:\n  images-by-tag-regex:\n    a: \"(\"\n", "bad regex");
	refused("reg:5000:\n  images-by-semver:\n    a: \">= banana\"\n", "bad version");
	refused("reg:5000:\n  images:\n    a: {x: y}\n", "list of tags");
	refused("reg:5000:\n  images:\n    a: [\"bad tag!\"]\n", "LIST:3:");
	refused("reg:5000:\n  images:\n    a: [&x v1, *x]\n", "aliases");
	refused("reg:5000: [1, 2\n", "not valid YAML");
	refused("- a\n- b\n", "one image reference a line"); /* no key: read as plain lines */
	refused("---\n- a\n", "map of registries");
	refused("bad_domain!:\n  images: {a: [b]}\n", "LIST:1:");
	refused("reg:5000:\n  images: {}\n", "lists no image");
}

/* Tag regexes: what regcomp would expand into gigabytes is refused first; what skopeo's Go regexp takes passes. */
static void test_tag_regex_bounds(void **state)
{
	(void)state;
	static const char *ok[] = {
		"^v1\\.[0-9]+$", "^[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$", "^[a-f0-9]{40}$", "(a{10}){100}",
		"a{1000}b{1000}", "^(alpha|beta|rc)[0-9]*$", "[]{}]{2}", "[[:digit:]]{500}", "(x+)+",
	};
	static const struct {
		const char *pat, *why;
	} bad[] = {
		{"((a{99}){99}){99}", "multiply past 1000"},
		{"(a{10}){101}", "multiply past 1000"},
		{"a{1001}", "multiply past 1000"},
		{"a{10}{101}", "multiply past 1000"},
		{"((a{,99}){,99}){,99}", "multiply past 1000"},
		{"(((((((((((a+)+)+)+)+)+)+)+)+)+)+)", "multiply past 1000"},
		{"(a)\\1", "back-reference"},
		{"((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))", "nested more than 32"},
		{"(", "Unmatched"},
	};
	char why[128];
	regex_t re;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (ferry_tag_regex_compile(ok[i], &re, why, sizeof(why)) < 0)
			fail_msg("%s refused: %s", ok[i], why);
		regfree(&re);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ferry_tag_regex_compile(bad[i].pat, &re, why, sizeof(why)) == 0)
			fail_msg("%s accepted", bad[i].pat);
		if (!strstr(why, bad[i].why))
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].pat, why, bad[i].why);
	}
	char long_pat[300];
	memset(long_pat, 'a', sizeof(long_pat) - 1);
	long_pat[sizeof(long_pat) - 1] = 0;
	assert_int_equal(ferry_tag_regex_compile(long_pat, &re, why, sizeof(why)), -1);
	refused("reg:5000:\n  images-by-tag-regex:\n    a: \"((a{99}){99}){99}\"\n", "bad regex");
}

static void test_semver(void **state)
{
	(void)state;
	struct {
		const char *range, *v;
		bool want;
	} cases[] = {
		{">= 3.12.0", "3.12.0", true},  {">= 3.12.0", "v3.13", true},    {">= 3.12.0", "3.11.9", false},
		{">=1.2, <2", "1.9.9", true},   {">=1.2, <2", "2.0.0", false},   {">1.2", "1.2.5", false},
		{">1.2", "1.3.0", true},        {">1.2.3", "1.2.4", true},        {"<1.2", "1.1.99", true},
		{"<=1.2", "1.2.9", true},       {"<=1.2", "1.3.0", false},        {"1.2", "1.2.7", true},
		{"1.2.x", "1.3.0", false},      {"=1.2.3", "1.2.3", true},        {"!=1.2.3", "1.2.3", false},
		{"~1.2.3", "1.2.9", true},      {"~1.2.3", "1.3.0", false},       {"~1", "1.9.0", true},
		{"^1.2.3", "1.9.0", true},      {"^1.2.3", "2.0.0", false},       {"^0.2.3", "0.3.0", false},
		{"^0.2.3", "0.2.9", true},      {"1.2 - 1.4", "1.4.0", true},     {"1.2 - 1.4", "1.5.0", false},
		{"<1 || >=3", "0.5.0", true},   {"<1 || >=3", "2.0.0", false},    {"<1 || >=3", "3.0.0", true},
		{">=1.0.0", "1.5.0-rc.1", false}, {">=1.0.0-0", "1.5.0-rc.1", true}, {"*", "7.0.0", true},
		{">=1", "latest", false},       {">=1", "1.2.3.4", false},        {">=1", "", false},
		{"<1.0.0-rc.2", "1.0.0-rc.1", true}, {"<1.0.0-rc.2", "1.0.0-rc.10", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ferry_semver_match(cases[i].range, cases[i].v) != cases[i].want)
			fail_msg("\"%s\" in \"%s\": want %d", cases[i].v, cases[i].range, cases[i].want);
	}
	const char *bad[] = {"", "||", ">=", "1.2.3.4", ">= x.1", "1..2", "abc", ">=1 -", "01a"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_error err = FERRY_ERROR_INIT;
		if (ferry_semver_range_check(bad[i], &err) == 0)
			fail_msg("range \"%s\" accepted", bad[i]);
	}
	char *huge = ferry_xcalloc(FERRY_LIST_LINE_MAX + 10, 1);
	for (size_t i = 0; i + 3 < FERRY_LIST_LINE_MAX + 5; i += 3)
		memcpy(huge + i, ">1 ", 3);
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_semver_range_check(huge, &err), -1);
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),      cmocka_unit_test(test_plain_refused),
		cmocka_unit_test(test_yaml),       cmocka_unit_test(test_yaml_refused),
		cmocka_unit_test(test_tag_regex_bounds), cmocka_unit_test(test_semver),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
