/*
 * expected.c - a delta's expectations: the blobs it left out, as its
 * index.json names them (FERRY_ANN_DELTA_EXPECTED).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "util.h"

static int by_digest(const void *a, const void *b)
{
	return strcmp(((const ferry_expected *)a)->digest.str, ((const ferry_expected *)b)->digest.str);
}

/* One "DIGEST=SIZE" of len bytes at s. */
static int parse_one(const char *s, size_t len, ferry_expected *e, ferry_error *err)
{
	const char *eq = memchr(s, '=', len);
	if (!eq || eq == s || (size_t)(eq - s) >= FERRY_DIGEST_STRMAX || eq + 1 == s + len || len - (size_t)(eq - s) > 21)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: an entry is not DIGEST=SIZE", FERRY_ANN_DELTA_EXPECTED);
	char dig[FERRY_DIGEST_STRMAX];
	memcpy(dig, s, (size_t)(eq - s));
	dig[eq - s] = '\0';
	if (ferry_digest_parse(&e->digest, dig, err) < 0) {
		ferry_error_prefix(err, "%s", FERRY_ANN_DELTA_EXPECTED);
		return -1;
	}
	uint64_t v = 0;
	for (const char *p = eq + 1; p < s + len; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s: the size is not a number",
					       FERRY_ANN_DELTA_EXPECTED, dig);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	e->size = v;
	return 0;
}

int ferry_source_parse_expected(ferry_source *src, const char *value, ferry_error *err)
{
	ferry_expected *list = NULL;
	size_t n = 0, cap = 0;
	/* "" lists nothing; otherwise every entry between commas must be DIGEST=SIZE (no empty one). */
	for (const char *p = value; *value;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (n >= FERRY_EXPECTED_MAX) {
			free(list);
			return ferry_error_set(err, FERRY_E_LIMIT, "%s lists more than %d blobs", FERRY_ANN_DELTA_EXPECTED,
					       FERRY_EXPECTED_MAX);
		}
		ferry_expected *e = FERRY_PUSH(list, n, cap);
		if (parse_one(p, len, e, err) < 0) {
			free(list);
			return -1;
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), by_digest);
	for (size_t i = 1; i < n; i++) {
		if (by_digest(&list[i - 1], &list[i]) == 0) {
			ferry_error_set(err, FERRY_E_FORMAT, "%s lists %s twice", FERRY_ANN_DELTA_EXPECTED,
					list[i].digest.str);
			free(list);
			return -1;
		}
	}
	free(src->expected);
	src->expected = list;
	src->n_expected = n;
	return 0;
}

bool ferry_source_expects(const ferry_source *src, const ferry_digest *d, uint64_t *size)
{
	if (!src->n_expected)
		return false;
	ferry_expected key = {.digest = *d};
	const ferry_expected *e = bsearch(&key, src->expected, src->n_expected, sizeof(key), by_digest);
	if (e && size)
		*size = e->size;
	return e != NULL;
}

char *ferry_expected_format(ferry_expected *e, size_t n)
{
	if (n > 1)
		qsort(e, n, sizeof(*e), by_digest);
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(e[i].digest.str) + 22;
	char *s = ferry_xmalloc(len), *p = s;
	*p = '\0';
	for (size_t i = 0; i < n; i++)
		p += snprintf(p, len - (size_t)(p - s), "%s%s=%llu", i ? "," : "", e[i].digest.str,
			      (unsigned long long)e[i].size);
	return s;
}

size_t ferry_source_expected_each(const ferry_source *src, ferry_expected_fn fn, void *ud)
{
	for (size_t i = 0; fn && i < src->n_expected; i++)
		fn(&src->expected[i].digest, src->expected[i].size, ud);
	return src->n_expected;
}
