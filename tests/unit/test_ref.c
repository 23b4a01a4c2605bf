#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "util.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DG "sha256:" HEX64

struct valid_case {
	const char *in;
	const char *domain;
	const char *path;
	const char *tag;    /* NULL: none */
	const char *digest; /* NULL: none */
	const char *string;
	const char *familiar;
};

static const struct valid_case valid[] = {
	{"nginx", "docker.io", "library/nginx", NULL, NULL,
	 "docker.io/library/nginx", "nginx"},
	{"nginx:1.25", "docker.io", "library/nginx", "1.25", NULL,
	 "docker.io/library/nginx:1.25", "nginx:1.25"},
	{"library/nginx", "docker.io", "library/nginx", NULL, NULL,
	 "docker.io/library/nginx", "nginx"},
	{"docker.io/nginx", "docker.io", "library/nginx", NULL, NULL,
	 "docker.io/library/nginx", "nginx"},
	{"index.docker.io/library/nginx", "docker.io", "library/nginx", NULL, NULL,
	 "docker.io/library/nginx", "nginx"},
	{"index.docker.io/nginx:1", "docker.io", "library/nginx", "1", NULL,
	 "docker.io/library/nginx:1", "nginx:1"},
	{"foo/bar", "docker.io", "foo/bar", NULL, NULL,
	 "docker.io/foo/bar", "foo/bar"},
	{"docker.io/library/a/b", "docker.io", "library/a/b", NULL, NULL,
	 "docker.io/library/a/b", "library/a/b"},
	{"localhost/foo", "localhost", "foo", NULL, NULL,
	 "localhost/foo", "localhost/foo"},
	{"localhost:5000/team/app:13", "localhost:5000", "team/app", "13", NULL,
	 "localhost:5000/team/app:13", "localhost:5000/team/app:13"},
	/* No '/': the ":5000" is a tag, as in docker. */
	{"localhost:5000", "docker.io", "library/localhost", "5000", NULL,
	 "docker.io/library/localhost:5000", "localhost:5000"},
	{"registry.example.com:443/a/b/c:tag", "registry.example.com:443", "a/b/c", "tag", NULL,
	 "registry.example.com:443/a/b/c:tag", "registry.example.com:443/a/b/c:tag"},
	{"[::1]:5000/x:y", "[::1]:5000", "x", "y", NULL,
	 "[::1]:5000/x:y", "[::1]:5000/x:y"},
	{"[fe80::1]/x", "[fe80::1]", "x", NULL, NULL, "[fe80::1]/x", "[fe80::1]/x"},
	{"Example.com/foo", "Example.com", "foo", NULL, NULL,
	 "Example.com/foo", "Example.com/foo"},
	{"Foo/bar", "Foo", "bar", NULL, NULL, "Foo/bar", "Foo/bar"},
	{"my-reg.example/x", "my-reg.example", "x", NULL, NULL, "my-reg.example/x", "my-reg.example/x"},
	{"foo__bar", "docker.io", "library/foo__bar", NULL, NULL,
	 "docker.io/library/foo__bar", "foo__bar"},
	{"a--b", "docker.io", "library/a--b", NULL, NULL, "docker.io/library/a--b", "a--b"},
	{"a_b-c/d.e---f", "docker.io", "a_b-c/d.e---f", NULL, NULL,
	 "docker.io/a_b-c/d.e---f", "a_b-c/d.e---f"},
	{"nginx:Latest_1.x-Y", "docker.io", "library/nginx", "Latest_1.x-Y", NULL,
	 "docker.io/library/nginx:Latest_1.x-Y", "nginx:Latest_1.x-Y"},
	{"nginx:_", "docker.io", "library/nginx", "_", NULL,
	 "docker.io/library/nginx:_", "nginx:_"},
	{"name:tag@" DG, "docker.io", "library/name", "tag", DG,
	 "docker.io/library/name:tag@" DG, "name:tag@" DG},
	{"name@" DG, "docker.io", "library/name", NULL, DG,
	 "docker.io/library/name@" DG, "name@" DG},
	{"localhost:5000/x@" DG, "localhost:5000", "x", NULL, DG,
	 "localhost:5000/x@" DG, "localhost:5000/x@" DG},
	/* Dropping docker.io/ here would make foo.com read as the registry. */
	{"docker.io/foo.com/x", "docker.io", "foo.com/x", NULL, NULL,
	 "docker.io/foo.com/x", "docker.io/foo.com/x"},
	{"docker.io/localhost/x:1", "docker.io", "localhost/x", "1", NULL,
	 "docker.io/localhost/x:1", "docker.io/localhost/x:1"},
	{"foo.com", "docker.io", "library/foo.com", NULL, NULL,
	 "docker.io/library/foo.com", "foo.com"},
};

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		const struct valid_case *c = &valid[i];
		ferry_error err = FERRY_ERROR_INIT;
		ferry_ref r;
		if (ferry_ref_parse(&r, c->in, &err) != 0)
			fail_msg("parse \"%s\" failed: %s", c->in, err.msg);
		assert_string_equal(r.domain, c->domain);
		assert_string_equal(r.path, c->path);
		if (c->tag) {
			assert_non_null(r.tag);
			assert_string_equal(r.tag, c->tag);
		} else {
			assert_null(r.tag);
		}
		if (c->digest) {
			assert_true(ferry_digest_is_set(&r.digest));
			assert_string_equal(r.digest.str, c->digest);
		} else {
			assert_false(ferry_digest_is_set(&r.digest));
		}

		char *s = ferry_ref_string(&r);
		assert_string_equal(s, c->string);
		char *f = ferry_ref_familiar(&r);
		assert_string_equal(f, c->familiar);

		/* Both printed forms must parse back to the same reference. */
		ferry_ref again;
		assert_int_equal(ferry_ref_parse(&again, s, &err), 0);
		assert_true(ferry_ref_eq(&r, &again));
		ferry_ref_free(&again);
		if (ferry_ref_parse(&again, f, &err) != 0)
			fail_msg("familiar \"%s\" of \"%s\" does not parse: %s", f, c->in, err.msg);
		assert_true(ferry_ref_eq(&r, &again));
		ferry_ref_free(&again);

		free(s);
		free(f);
		ferry_ref_free(&r);
		assert_null(r.domain);
		assert_null(r.path);
		assert_null(r.tag);
	}
}

static void test_names(void **state)
{
	(void)state;
	ferry_ref r;
	assert_int_equal(ferry_ref_parse(&r, "nginx:1.25@" DG, NULL), 0);
	char *n = ferry_ref_name(&r);
	char *fn = ferry_ref_familiar_name(&r);
	assert_string_equal(n, "docker.io/library/nginx");
	assert_string_equal(fn, "nginx");
	free(n);
	free(fn);
	ferry_ref_free(&r);

	assert_int_equal(ferry_ref_parse(&r, "localhost:5000/a/b:c", NULL), 0);
	n = ferry_ref_name(&r);
	fn = ferry_ref_familiar_name(&r);
	assert_string_equal(n, "localhost:5000/a/b");
	assert_string_equal(fn, "localhost:5000/a/b");
	free(n);
	free(fn);
	ferry_ref_free(&r);
}

struct invalid_case {
	const char *in;
	const char *msg; /* expected substring of the message */
};

static void test_invalid(void **state)
{
	(void)state;
	char longtag[140], longname[300], exact[300];
	snprintf(longtag, sizeof(longtag), "x:%0129d", 0);
	/* "docker.io/" + 246 = 256 characters: one too many. */
	memset(longname, 'a', 246);
	longname[246] = '\0';
	snprintf(exact, sizeof(exact), "docker.io/%.243s/b", longname);

	const struct invalid_case cases[] = {
		{"", "invalid reference \"\": empty"},
		{"Foo", "invalid reference \"Foo\": repository name must be lowercase"},
		{"Foo/Bar", "invalid reference \"Foo/Bar\": repository name must be lowercase"},
		{"foo/Bar:tag", "must be lowercase"},
		{"foo/", "empty component"},
		{"/foo", "empty component"},
		{"foo//bar", "empty component"},
		{"localhost/", "invalid reference \"localhost/\": missing repository name"},
		{"localhost:5000/", "missing repository name"},
		{"localhost:5000/a/", "empty component"},
		/* A '.' makes the first component a domain, and '_' is not allowed there. */
		{"a.b_c/x", "invalid domain \"a.b_c\""},
		{"a:b:c", "invalid reference \"a:b:c\": invalid tag \"b:c\""},
		{"foo:", "invalid tag \"\""},
		{"foo:-x", "invalid tag \"-x\""},
		{"foo:.x", "invalid tag \".x\""},
		{"foo:a+b", "invalid tag \"a+b\""},
		{longtag, "invalid tag"},
		{longname, "repository name too long"},
		{"foo@sha256:abc", "invalid digest"},
		{"@sha256:short", "missing repository name"},
		{"foo@", "invalid digest"},
		{"foo@md5:" HEX64, "unsupported algorithm"},
		{"foo@sha256:" HEX64 "@" DG, "invalid digest"},
		{"a..b", "invalid repository name component \"a..b\""},
		{"a___b", "component \"a___b\""},
		{"-a", "component \"-a\""},
		{"a-", "component \"a-\""},
		{"a_", "component \"a_\""},
		{"foo/.bar", "component \".bar\""},
		{":tag", "invalid reference \":tag\": missing repository name"},
		{"foo bar", "component \"foo bar\""},
		{"-reg.com/x", "invalid domain \"-reg.com\""},
		{"reg-.com/x", "invalid domain"},
		{"reg..com/x", "invalid domain"},
		{"reg.com:/x", "port must be a number"},
		{"reg.com:5000a/x", "port must be a number"},
		{"foo:bar/baz", "invalid domain \"foo:bar\""},
		{"[::1/x", "IPv6"},
		{"[]:5000/x", "IPv6"},
		{"[zz::1]/x", "IPv6"},
		{"a_b.com/x", "invalid domain \"a_b.com\""},
		{HEX64, "image ID"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ferry_error err = FERRY_ERROR_INIT;
		ferry_ref r;
		if (ferry_ref_parse(&r, cases[i].in, &err) == 0)
			fail_msg("\"%s\" parsed but should not", cases[i].in);
		assert_int_equal(err.code, FERRY_E_USAGE);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].in, err.msg, cases[i].msg);
		/* r is left empty, so freeing it is harmless. */
		assert_null(r.domain);
		assert_null(r.path);
		assert_null(r.tag);
		ferry_ref_free(&r);
	}

	/* Exactly 255 characters is still fine. */
	ferry_ref r;
	assert_int_equal(strlen(exact), 255);
	assert_int_equal(ferry_ref_parse(&r, exact, NULL), 0);
	ferry_ref_free(&r);
	exact[strlen(exact) - 1] = '\0';
	strcat(exact, "bc");
	assert_int_equal(ferry_ref_parse(&r, exact, NULL), -1);
	/* A NULL error pointer is allowed. */
	assert_int_equal(ferry_ref_parse(&r, "Foo", NULL), -1);
}

static void test_tag_valid(void **state)
{
	(void)state;
	char t[200];
	memset(t, 'a', 128);
	t[128] = '\0';
	assert_true(ferry_tag_valid(t));
	t[128] = 'a';
	t[129] = '\0';
	assert_false(ferry_tag_valid(t));
	assert_true(ferry_tag_valid("v1.2.3-rc_1"));
	assert_true(ferry_tag_valid("_x"));
	assert_false(ferry_tag_valid(""));
	assert_false(ferry_tag_valid(NULL));
	assert_false(ferry_tag_valid(".x"));
	assert_false(ferry_tag_valid("a/b"));
	assert_false(ferry_tag_valid("a:b"));
}

static void test_domain_check(void **state)
{
	(void)state;
	const char *good[] = {"docker.io", "localhost", "localhost:5000", "a", "A-b.c-D",
			      "[::1]", "[::1]:5000", "1.2.3.4:80", "x--y.z"};
	const char *bad[] = {"", "-a", "a-", "a..b", ".a", "a.", "a:", "a:x", "a:1:2",
			     "[::1", "[]", "[g::]", "a_b", "a/b", "a b", "[::1]x"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ferry_error err = FERRY_ERROR_INIT;
		if (ferry_domain_check(good[i], &err) != 0)
			fail_msg("domain \"%s\" rejected: %s", good[i], err.msg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_error err = FERRY_ERROR_INIT;
		if (ferry_domain_check(bad[i], &err) == 0)
			fail_msg("domain \"%s\" accepted", bad[i]);
		assert_int_equal(err.code, FERRY_E_USAGE);
		assert_non_null(strstr(err.msg, "domain"));
	}
}

static void test_default_tag(void **state)
{
	(void)state;
	ferry_ref r;
	assert_int_equal(ferry_ref_parse(&r, "nginx", NULL), 0);
	ferry_ref_default_tag(&r);
	assert_string_equal(r.tag, "latest");
	ferry_ref_default_tag(&r); /* idempotent, no leak */
	assert_string_equal(r.tag, "latest");
	ferry_ref_free(&r);

	assert_int_equal(ferry_ref_parse(&r, "nginx@" DG, NULL), 0);
	ferry_ref_default_tag(&r);
	assert_null(r.tag);
	ferry_ref_free(&r);

	assert_int_equal(ferry_ref_parse(&r, "nginx:1", NULL), 0);
	ferry_ref_default_tag(&r);
	assert_string_equal(r.tag, "1");
	ferry_ref_free(&r);
}

static void test_copy_eq(void **state)
{
	(void)state;
	ferry_ref a, b, c;
	assert_int_equal(ferry_ref_parse(&a, "localhost:5000/x:1@" DG, NULL), 0);
	ferry_ref_copy(&b, &a);
	assert_true(ferry_ref_eq(&a, &b));
	assert_ptr_not_equal(a.domain, b.domain);
	assert_ptr_not_equal(a.path, b.path);
	assert_ptr_not_equal(a.tag, b.tag);
	ferry_ref_free(&a);
	assert_string_equal(b.domain, "localhost:5000"); /* survives the original */

	/* Each field on its own makes a difference. */
	const char *others[] = {"localhost:5001/x:1@" DG, "localhost:5000/y:1@" DG,
				"localhost:5000/x:2@" DG, "localhost:5000/x@" DG,
				"localhost:5000/x:1"};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		assert_int_equal(ferry_ref_parse(&c, others[i], NULL), 0);
		assert_false(ferry_ref_eq(&b, &c));
		assert_false(ferry_ref_eq(&c, &b));
		ferry_ref_free(&c);
	}
	/* Different spellings of one reference are equal once normalised. */
	assert_int_equal(ferry_ref_parse(&a, "nginx", NULL), 0);
	assert_int_equal(ferry_ref_parse(&c, "index.docker.io/library/nginx", NULL), 0);
	assert_true(ferry_ref_eq(&a, &c));
	ferry_ref_free(&a);
	ferry_ref_free(&c);
	ferry_ref_free(&b);

	/* Copy of a reference without tag. */
	assert_int_equal(ferry_ref_parse(&a, "a/b", NULL), 0);
	ferry_ref_copy(&b, &a);
	assert_null(b.tag);
	assert_true(ferry_ref_eq(&a, &b));
	ferry_ref_free(&a);
	ferry_ref_free(&b);
}

/* Parse in, apply f(arg), compare the string form (or the error message). */
static void check_set(int (*f)(ferry_ref *, const char *, ferry_error *), const char *in,
		      const char *arg, const char *want, const char *want_err)
{
	ferry_ref r;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_ref_parse(&r, in, &err) != 0)
		fail_msg("parse \"%s\": %s", in, err.msg);
	char *before = ferry_ref_string(&r);
	int rc = f(&r, arg, &err);
	char *s = ferry_ref_string(&r);
	if (want) {
		if (rc != 0)
			fail_msg("\"%s\" with \"%s\" failed: %s", in, arg, err.msg);
		assert_string_equal(s, want);
		/* The result must read back the same. */
		ferry_ref again;
		assert_int_equal(ferry_ref_parse(&again, s, NULL), 0);
		assert_true(ferry_ref_eq(&r, &again));
		ferry_ref_free(&again);
	} else {
		if (rc == 0)
			fail_msg("\"%s\" with \"%s\" succeeded: %s", in, arg, s);
		assert_int_equal(err.code, FERRY_E_USAGE);
		if (!strstr(err.msg, want_err))
			fail_msg("\"%s\" with \"%s\": message \"%s\" lacks \"%s\"", in, arg, err.msg,
				 want_err);
		assert_string_equal(s, before); /* unchanged on error */
	}
	free(before);
	free(s);
	ferry_ref_free(&r);
}

static void test_set_domain(void **state)
{
	(void)state;
	check_set(ferry_ref_set_domain, "nginx:1.25", "reg:5000", "reg:5000/library/nginx:1.25", NULL);
	check_set(ferry_ref_set_domain, "localhost/team/app@" DG, "registry.example.com",
		  "registry.example.com/team/app@" DG, NULL);
	check_set(ferry_ref_set_domain, "foo/bar", "[::1]:5000", "[::1]:5000/foo/bar", NULL);
	check_set(ferry_ref_set_domain, "reg.io/a/b", "index.docker.io", "docker.io/a/b", NULL);
	/* Back on Docker Hub, a one-part path is an official image. */
	check_set(ferry_ref_set_domain, "localhost/foo:1", "docker.io",
		  "docker.io/library/foo:1", NULL);
	check_set(ferry_ref_set_domain, "nginx", "localhost", "localhost/library/nginx", NULL);

	check_set(ferry_ref_set_domain, "nginx", "myhost", NULL, "invalid registry \"myhost\"");
	check_set(ferry_ref_set_domain, "nginx", "", NULL, "empty domain");
	check_set(ferry_ref_set_domain, "nginx", "reg:x", NULL, "port must be a number");
	check_set(ferry_ref_set_domain, "nginx", "reg.io/foo", NULL, "invalid registry \"reg.io/foo\"");
	check_set(ferry_ref_set_domain, "nginx", "-reg.io", NULL, "invalid domain");

	/* The new name must stay within 255 characters. */
	char in[300], dom[300];
	memset(in, 'a', 240);
	strcpy(in + 240, "/b"); /* docker.io/ + 242 = 252 */
	memset(dom, 'd', 20);
	strcpy(dom + 20, ".com");
	check_set(ferry_ref_set_domain, in, dom, NULL, "repository name too long");
}

static void test_set_prefix(void **state)
{
	(void)state;
	check_set(ferry_ref_set_prefix, "docker.io/library/nginx:1.25", "reg:5000/mirror",
		  "reg:5000/mirror/library/nginx:1.25", NULL);
	check_set(ferry_ref_set_prefix, "localhost:5000/team/app@" DG, "reg.example.com/a/b",
		  "reg.example.com/a/b/team/app@" DG, NULL);
	check_set(ferry_ref_set_prefix, "foo/bar", "docker.io/me", "docker.io/me/foo/bar", NULL);
	check_set(ferry_ref_set_prefix, "nginx", "index.docker.io/me", "docker.io/me/library/nginx",
		  NULL);
	check_set(ferry_ref_set_prefix, "nginx:1", "reg:5000", "reg:5000/library/nginx:1", NULL);
	check_set(ferry_ref_set_prefix, "localhost/x", "docker.io", "docker.io/library/x", NULL);

	check_set(ferry_ref_set_prefix, "nginx", "mirror/foo", NULL, "invalid prefix \"mirror/foo\"");
	check_set(ferry_ref_set_prefix, "nginx", "", NULL, "empty domain");
	check_set(ferry_ref_set_prefix, "nginx", "/mirror", NULL, "empty domain");
	check_set(ferry_ref_set_prefix, "nginx", "reg:5000/", NULL, "missing prefix path");
	check_set(ferry_ref_set_prefix, "nginx", "reg:5000/a/", NULL, "empty component");
	check_set(ferry_ref_set_prefix, "nginx", "reg:5000/a//b", NULL, "empty component");
	check_set(ferry_ref_set_prefix, "nginx", "reg:5000/Mirror", NULL, "must be lowercase");
	check_set(ferry_ref_set_prefix, "nginx", "reg:5000/a..b", NULL, "component \"a..b\"");
	check_set(ferry_ref_set_prefix, "nginx", "reg_x.io/a", NULL, "invalid domain \"reg_x.io\"");

	char in[300], pre[300];
	memset(in, 'a', 240);
	strcpy(in + 240, "/b");
	strcpy(pre, "reg.io/");
	memset(pre + 7, 'p', 10);
	pre[17] = '\0';
	check_set(ferry_ref_set_prefix, in, pre, NULL, "repository name too long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_tag_valid),
		cmocka_unit_test(test_domain_check),
		cmocka_unit_test(test_default_tag),
		cmocka_unit_test(test_copy_eq),
		cmocka_unit_test(test_set_domain),
		cmocka_unit_test(test_set_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
