/*
 * test_inventory.c - inventory files (convert --have) and a delta's
 * expectations annotation, read as the hostile input they are: bad digests,
 * wrong types, nesting where a string belongs, sizes over the cap, two sizes
 * for one digest; and what is read back is what was written (sorted, merged).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "inventory.h"
#include "util.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

/* Parse s as an inventory: the error code (FERRY_OK on success). */
static ferry_code parse(ferry_inventory *inv, const char *s)
{
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_inventory_parse(inv, s, strlen(s), "test", &err) == 0)
		return FERRY_OK;
	assert_true(err.msg[0] != '\0');
	return err.code;
}

static ferry_code parse_new(const char *s)
{
	ferry_inventory *inv = ferry_inventory_new();
	ferry_code c = parse(inv, s);
	ferry_inventory_free(inv);
	return c;
}

static void test_good_and_merge(void **state)
{
	(void)state;
	ferry_inventory *inv = ferry_inventory_new();
	assert_int_equal(parse(inv, "{\"ferryInventory\": 1, \"blobs\": [{\"digest\": \"" D2 "\", \"size\": 7}],"
				    " \"manifests\": [{\"digest\": \"" D3 "\", \"size\": 9, \"names\": [\"b\", \"a\"]}]}"),
			 FERRY_OK);
	assert_int_equal(parse(inv, "{\"ferryInventory\": 1, \"blobs\": [{\"digest\": \"" D1 "\", \"size\": 5},"
				    " {\"digest\": \"" D2 "\", \"size\": 7}]}"),
			 FERRY_OK);
	assert_int_equal(ferry_inventory_blob_count(inv), 2);
	ferry_digest d;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_digest_parse(&d, D2, &err), 0);
	assert_true(ferry_inventory_has_blob(inv, &d, 7));
	assert_false(ferry_inventory_has_blob(inv, &d, 8)); /* the size must match too */
	json_t *doc = ferry_inventory_json(inv);
	char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(s, "{\"ferryInventory\":1,\"blobs\":[{\"digest\":\"" D1 "\",\"size\":5},{\"digest\":\"" D2
			       "\",\"size\":7}],\"manifests\":[{\"digest\":\"" D3 "\",\"size\":9,\"names\":[\"a\",\"b\"]}]}");
	/* what is written reads back the same */
	ferry_inventory *again = ferry_inventory_new();
	assert_int_equal(parse(again, s), FERRY_OK);
	json_t *doc2 = ferry_inventory_json(again);
	assert_true(json_equal(doc, doc2));
	json_decref(doc2);
	ferry_inventory_free(again);
	free(s);
	json_decref(doc);
	ferry_inventory_free(inv);
}

static void test_hostile(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"[]",
		"{}",
		"{\"ferryInventory\": 2, \"blobs\": []}",
		"{\"ferryInventory\": \"1\", \"blobs\": []}",
		"{\"ferryInventory\": 1}",
		"{\"ferryInventory\": 1, \"blobs\": {}}",
		"{\"ferryInventory\": 1, \"blobs\": [], \"manifests\": 3}",
		"{\"ferryInventory\": 1, \"ferryInventory\": 1, \"blobs\": []}", /* duplicate key */
		"{\"ferryInventory\": 1, \"blobs\": [{\"digest\": \"sha256:zz\", \"size\": 1}]}",
		"{\"ferryInventory\": 1, \"blobs\": [{\"digest\": \"sha256:../../etc/passwd\", \"size\": 1}]}",
		"{\"ferryInventory\": 1, \"blobs\": [{\"digest\": \"" D1 "\", \"size\": -1}]}",
		"{\"ferryInventory\": 1, \"blobs\": [{\"digest\": \"" D1 "\", \"size\": 1.5}]}",
		"{\"ferryInventory\": 1, \"blobs\": [{\"digest\": \"" D1 "\"}]}",
		"{\"ferryInventory\": 1, \"blobs\": [{\"digest\": {\"a\": [[[]]]}, \"size\": 1}]}",
		"{\"ferryInventory\": 1, \"blobs\": [[\"" D1 "\", 1]]}",
		"{\"ferryInventory\": 1, \"blobs\": [], \"manifests\": [{\"digest\": \"" D1 "\", \"size\": 1, "
		"\"names\": [[\"nested\"]]}]}",
		"{\"ferryInventory\": 1, \"blobs\": [], \"manifests\": [{\"digest\": \"" D1 "\", \"size\": 1, "
		"\"names\": \"a\"}]}",
		"{\"ferryInventory\": 1, \"blobs\": [], \"manifests\": [{\"digest\": \"" D1 "\", \"size\": 1, "
		"\"mediaType\": 5}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_code c = parse_new(bad[i]);
		if (c != FERRY_E_FORMAT)
			fail_msg("inventory %zu (%s) gave code %d, not FERRY_E_FORMAT", i, bad[i], c);
	}
	/* two sizes for one digest */
	assert_int_equal(parse_new("{\"ferryInventory\": 1, \"blobs\": [{\"digest\": \"" D1 "\", \"size\": 1}, "
				   "{\"digest\": \"" D1 "\", \"size\": 2}]}"),
			 FERRY_E_INTEGRITY);
}

static void test_nesting_and_size(void **state)
{
	(void)state;
	/* deep nesting where a document is wanted: refused, without a crash */
	size_t depth = 100000;
	char *deep = ferry_xmalloc(2 * depth + 1);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[2 * depth] = '\0';
	assert_int_equal(parse_new(deep), FERRY_E_FORMAT);
	free(deep);
	/* over the cap: refused before it is parsed */
	size_t big = FERRY_INVENTORY_MAX + 1;
	char *huge = ferry_xmalloc(big + 1);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	huge[big] = '\0';
	assert_int_equal(parse_new(huge), FERRY_E_LIMIT);
	free(huge);
	/* too many names on one manifest */
	size_t n = FERRY_INVENTORY_NAMES_MAX + 1;
	char *many = ferry_xmalloc(n * 4 + 512);
	char *p = many + sprintf(many, "{\"ferryInventory\": 1, \"blobs\": [], \"manifests\": [{\"digest\": \"" D1
				       "\", \"size\": 1, \"names\": [");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"a\"", i ? "," : "");
	strcpy(p, "]}]}");
	assert_int_equal(parse_new(many), FERRY_E_LIMIT);
	free(many);
}

/* Parse s as the expectations annotation: the error code. */
static ferry_code expected(const char *s, size_t *n)
{
	ferry_source src = {0};
	ferry_error err = FERRY_ERROR_INIT;
	int rc = ferry_source_parse_expected(&src, s, &err);
	if (n)
		*n = src.n_expected;
	free(src.expected);
	return rc == 0 ? FERRY_OK : err.code;
}

static void test_expected_annotation(void **state)
{
	(void)state;
	size_t n = 0;
	assert_int_equal(expected(D2 "=7," D1 "=5", &n), FERRY_OK);
	assert_int_equal(n, 2);
	assert_int_equal(expected("", &n), FERRY_OK);
	assert_int_equal(n, 0);
	static const char *const bad[] = {
		D1, D1 "=", "=5", D1 "=5,", D1 "=-5", D1 "=5x", "sha256:zz=5", D1 "=99999999999999999999999",
		D1 "=5," D1 "=5", /* listed twice */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_code c = expected(bad[i], NULL);
		if (c != FERRY_E_FORMAT)
			fail_msg("annotation %zu (%s) gave code %d, not FERRY_E_FORMAT", i, bad[i], c);
	}
	/* what is written reads back */
	ferry_expected e[2];
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_digest_parse(&e[0].digest, D3, &err), 0);
	e[0].size = 3;
	assert_int_equal(ferry_digest_parse(&e[1].digest, D1, &err), 0);
	e[1].size = 1;
	char *s = ferry_expected_format(e, 2);
	assert_string_equal(s, D1 "=1," D3 "=3");
	ferry_source src = {0};
	assert_int_equal(ferry_source_parse_expected(&src, s, &err), 0);
	uint64_t size = 0;
	assert_true(ferry_source_expects(&src, &e[1].digest, &size));
	assert_int_equal(size, 3);
	free(src.expected);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_and_merge),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_nesting_and_size),
		cmocka_unit_test(test_expected_annotation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
