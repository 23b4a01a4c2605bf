/*
 * semver.c - version ranges for images-by-semver, read as skopeo reads them
 * (Masterminds/semver constraints):
 *
 *   range := group { "||" group }        any group may match
 *   group := cmp { [","] cmp }            every comparison must match
 *   cmp   := [op] version | version "-" version
 *   op    := = != > < >= <= => =< ~ ~> ^
 *
 * Versions are MAJOR[.MINOR[.PATCH]][-PRE][+BUILD] with an optional "v";
 * in a range, x, X or * (or a missing part) is a wildcard: "1.2" and
 * "1.2.x" both mean any 1.2 patch.  A tag with a pre-release part matches
 * only a group that names a pre-release itself, as in Masterminds.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"

#define SEMVER_CMPS_MAX 32 /* comparisons in a range */
#define SEMVER_PRE_MAX 128 /* a pre-release part */

typedef struct ver {
	long part[3];
	int n; /* parts given (not wildcards): 0..3 */
	char pre[SEMVER_PRE_MAX];
} ver;

typedef enum { OP_EQ, OP_NE, OP_GT, OP_LT, OP_GE, OP_LE, OP_TILDE, OP_CARET } op_t;

typedef struct cmp {
	op_t op;
	ver v;
	bool range_hi; /* the upper end of "a - b" */
} cmp;

/* "12" -> 12; -1 when not a plain number. */
static long number(const char *s, size_t len)
{
	if (len == 0 || len > 9)
		return -1;
	long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Parse s (len bytes); wild allows x/X/ * and missing parts. 0, or -1. */
static int parse_ver(const char *s, size_t len, bool wild, ver *v)
{
	memset(v, 0, sizeof(*v));
	if (len && (s[0] == 'v' || s[0] == 'V'))
		s++, len--;
	const char *end = s + len;
	const char *meta = memchr(s, '+', len);
	if (meta)
		end = meta;
	const char *dash = memchr(s, '-', (size_t)(end - s));
	if (dash) {
		size_t pl = (size_t)(end - dash - 1);
		if (pl == 0 || pl >= sizeof(v->pre))
			return -1;
		for (size_t i = 0; i < pl; i++) {
			char c = dash[1 + i];
			if (!isalnum((unsigned char)c) && c != '-' && c != '.')
				return -1;
		}
		memcpy(v->pre, dash + 1, pl);
		end = dash;
	}
	const char *p = s;
	bool wilded = false;
	for (int i = 0; i < 3 && p < end; i++) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t pl = (size_t)((dot ? dot : end) - p);
		if (wild && pl == 1 && (*p == 'x' || *p == 'X' || *p == '*')) {
			wilded = true;
		} else {
			long n = number(p, pl);
			if (n < 0 || wilded)
				return -1;
			v->part[i] = n;
			v->n = i + 1;
		}
		p = dot ? dot + 1 : end;
		if (dot && p == end)
			return -1;
	}
	if (p < end || (v->n == 0 && !wilded))
		return -1;
	if (!wild && v->n < 1)
		return -1;
	return 0;
}

static int cmp_pre(const char *a, const char *b)
{
	if (!*a || !*b)
		return !*a - !*b; /* no pre-release is the greater */
	while (*a && *b) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		long na = number(a, la), nb = number(b, lb);
		int c;
		if (na >= 0 && nb >= 0)
			c = (na > nb) - (na < nb);
		else if (na >= 0 || nb >= 0)
			c = na >= 0 ? -1 : 1; /* numeric identifiers sort first */
		else {
			c = strncmp(a, b, la < lb ? la : lb);
			if (!c)
				c = (la > lb) - (la < lb);
		}
		if (c)
			return c;
		a += la + (a[la] == '.');
		b += lb + (b[lb] == '.');
	}
	return (*a != 0) - (*b != 0);
}

/* Compare the first n parts (the rest ignored), then pre-releases when all three are compared. */
static int cmp_ver(const ver *a, const ver *b, int n)
{
	for (int i = 0; i < n; i++) {
		if (a->part[i] != b->part[i])
			return a->part[i] < b->part[i] ? -1 : 1;
	}
	return n == 3 ? cmp_pre(a->pre, b->pre) : 0;
}

/* The first version above every version that c.v's given parts (a prefix) cover. */
static ver bump(const ver *c, int at)
{
	ver u = {{0, 0, 0}, 3, ""};
	for (int i = 0; i < at; i++)
		u.part[i] = c->part[i];
	u.part[at > 0 ? at - 1 : 0]++;
	return u;
}

static bool within(const ver *v, const ver *lo, const ver *hi)
{
	return cmp_ver(v, lo, 3) >= 0 && cmp_ver(v, hi, 3) < 0;
}

static bool eval(const cmp *c, const ver *v)
{
	ver lo = c->v; /* missing parts are 0 */
	int n = c->v.n;
	switch (c->op) {
	case OP_EQ:
	case OP_NE: {
		bool eq = n == 3 ? cmp_ver(v, &c->v, 3) == 0 : n == 0 || cmp_ver(v, &c->v, n) == 0;
		return c->op == OP_EQ ? eq : !eq;
	}
	case OP_GT:
		return n == 3 ? cmp_ver(v, &c->v, 3) > 0 : n == 0 ? false : cmp_ver(v, &c->v, n) > 0;
	case OP_GE:
		return cmp_ver(v, &lo, 3) >= 0;
	case OP_LT:
		return cmp_ver(v, &lo, 3) < 0;
	case OP_LE:
		return n == 3 ? cmp_ver(v, &c->v, 3) <= 0 : n == 0 || cmp_ver(v, &c->v, n) <= 0;
	case OP_TILDE: { /* ~1.2.3: >=1.2.3 <1.3.0; ~1: >=1.0.0 <2.0.0 */
		ver hi = bump(&c->v, n >= 2 ? 2 : 1);
		return within(v, &lo, &hi);
	}
	case OP_CARET: { /* ^1.2.3: <2.0.0; ^0.2.3: <0.3.0; ^0.0.3: <0.0.4 */
		int at = c->v.part[0] > 0 || n <= 1 ? 1 : c->v.part[1] > 0 || n == 2 ? 2 : 3;
		ver hi = bump(&c->v, at);
		return within(v, &lo, &hi);
	}
	}
	return false;
}

static const struct {
	const char *s;
	op_t op;
} OPS[] = {{">=", OP_GE}, {"=>", OP_GE}, {"<=", OP_LE}, {"=<", OP_LE}, {"!=", OP_NE}, {"~>", OP_TILDE},
	   {">", OP_GT},  {"<", OP_LT},  {"=", OP_EQ},  {"~", OP_TILDE}, {"^", OP_CARET}};

/* The operator s starts with (its length in *len), or -1 with *len 0 for none (EQ). */
static op_t take_op(const char *s, size_t *len)
{
	for (size_t i = 0; i < sizeof(OPS) / sizeof(OPS[0]); i++) {
		size_t l = strlen(OPS[i].s);
		if (!strncmp(s, OPS[i].s, l)) {
			*len = l;
			return OPS[i].op;
		}
	}
	*len = 0;
	return OP_EQ;
}

/*
 * Split one group (no "||") into comparisons.  Words are separated by
 * blanks and commas; an operator alone is joined to the next word, and
 * "a - b" is a range.  0, or -1 with err naming the bad word.
 */
static int parse_group(const char *g, size_t glen, cmp *out, size_t *n, ferry_error *err)
{
	char words[SEMVER_CMPS_MAX * 2][SEMVER_PRE_MAX + 32];
	size_t nw = 0;
	for (size_t i = 0; i < glen;) {
		while (i < glen && (g[i] == ' ' || g[i] == '\t' || g[i] == ','))
			i++;
		size_t s = i;
		while (i < glen && g[i] != ' ' && g[i] != '\t' && g[i] != ',')
			i++;
		if (i == s)
			break;
		if (nw == sizeof(words) / sizeof(words[0]) || i - s >= sizeof(words[0]))
			return ferry_error_set(err, FERRY_E_USAGE, "semver range too long");
		memcpy(words[nw], g + s, i - s);
		words[nw++][i - s] = '\0';
	}
	*n = 0;
	for (size_t i = 0; i < nw; i++) {
		if (*n == SEMVER_CMPS_MAX)
			return ferry_error_set(err, FERRY_E_USAGE, "semver range too long");
		cmp *c = &out[(*n)++];
		memset(c, 0, sizeof(*c));
		size_t ol;
		c->op = take_op(words[i], &ol);
		const char *vs = words[i] + ol;
		if (!*vs && i + 1 < nw)
			vs = words[++i];
		if (ol == 0 && i + 2 < nw && !strcmp(words[i + 1], "-")) {
			/* "a - b": >= a and <= b */
			c->op = OP_GE;
			if (parse_ver(vs, strlen(vs), true, &c->v) < 0)
				return ferry_error_set(err, FERRY_E_USAGE, "bad version \"%s\" in semver range", vs);
			i += 2;
			if (*n == SEMVER_CMPS_MAX)
				return ferry_error_set(err, FERRY_E_USAGE, "semver range too long");
			c = &out[(*n)++];
			memset(c, 0, sizeof(*c));
			c->op = OP_LE;
			vs = words[i];
		}
		if (parse_ver(vs, strlen(vs), true, &c->v) < 0)
			return ferry_error_set(err, FERRY_E_USAGE, "bad version \"%s\" in semver range", vs);
	}
	if (*n == 0)
		return ferry_error_set(err, FERRY_E_USAGE, "empty semver range");
	return 0;
}

/* Call: each group in turn; match: is v within any?  check mode (v NULL) only parses. */
static int walk(const char *range, const ver *v, bool *matched, ferry_error *err)
{
	*matched = false;
	if (strlen(range) > FERRY_LIST_LINE_MAX)
		return ferry_error_set(err, FERRY_E_USAGE, "semver range too long");
	const char *p = range;
	for (;;) {
		const char *bar = strstr(p, "||");
		size_t glen = bar ? (size_t)(bar - p) : strlen(p);
		cmp cs[SEMVER_CMPS_MAX];
		size_t n = 0;
		if (parse_group(p, glen, cs, &n, err) < 0)
			return -1;
		if (v) {
			bool all = true, named_pre = false;
			for (size_t i = 0; i < n; i++) {
				named_pre = named_pre || cs[i].v.pre[0];
				all = all && eval(&cs[i], v);
			}
			if (all && (!v->pre[0] || named_pre))
				*matched = true;
		}
		if (!bar)
			return 0;
		p = bar + 2;
	}
}

int ferry_semver_range_check(const char *range, ferry_error *err)
{
	bool m;
	return walk(range, NULL, &m, err);
}

bool ferry_semver_match(const char *range, const char *version)
{
	ver v;
	if (parse_ver(version, strlen(version), false, &v) < 0)
		return false;
	/* "1.2" as a tag is 1.2.0 (Masterminds reads it so). */
	v.n = 3;
	ferry_error err = FERRY_ERROR_INIT;
	bool m;
	return walk(range, &v, &m, &err) == 0 && m;
}
