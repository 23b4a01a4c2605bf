/*
 * tag_regex.c - images-by-tag-regex patterns, bounded before regcomp.
 *
 * glibc's regcomp copies the tree of a repeated group once per repetition,
 * so nested counts multiply: ((a{99}){99}){99} asks for a million copies and
 * gigabytes.  Go's regexp, which skopeo uses, refuses a nesting whose counts
 * multiply past 1000 and has no back-references; the same rules here keep
 * every list skopeo takes and bound what regcomp may build.
 */
#include <stdio.h>
#include <string.h>

#include "list.h"

#define TAG_REGEX_LEN_MAX 256 /* a pattern */
#define TAG_REGEX_REPEAT_MAX 1000 /* repetition counts multiplied along a nesting */
#define TAG_REGEX_DEPTH_MAX 32 /* nested groups */

/* The end of the bracket expression that starts at p[0] == '[' (past its ']'), or NULL. */
static const char *bracket_end(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++; /* a leading ']' is a member */
	while (*p && *p != ']') {
		if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			const char *close = strchr(p + 2, p[1]);
			while (close && close[1] != ']')
				close = strchr(close + 1, p[1]);
			if (!close)
				return NULL;
			p = close + 2;
		} else {
			p++;
		}
	}
	return *p ? p + 1 : NULL;
}

/* An interval {n}, {n,} or {n,m} at p: its end and the copies regcomp makes, or NULL. */
static const char *interval(const char *p, unsigned long *copies)
{
	unsigned long n = 0, m = 0;
	const char *q = p + 1;
	int digits = 0;
	for (; *q >= '0' && *q <= '9' && digits < 6; q++, digits++)
		n = n * 10 + (unsigned long)(*q - '0');
	if (!digits && *q != ',')
		return NULL; /* glibc reads {,m} as {0,m} */
	m = n;
	if (*q == ',') {
		q++;
		m = n + 1; /* {n,}: n copies and a star */
		digits = 0;
		for (unsigned long v = 0; *q >= '0' && *q <= '9' && digits < 6; q++, digits++)
			m = v = v * 10 + (unsigned long)(*q - '0');
	}
	if (*q != '}')
		return NULL;
	*copies = m > 1 ? m : 1;
	return q + 1;
}

static int refuse(char *why, size_t len, const char *what)
{
	snprintf(why, len, "%s", what);
	return -1;
}

/* Is pat within the bounds above?  why says how it is not. */
static int tag_regex_check(const char *pat, char *why, size_t len)
{
	if (strlen(pat) > TAG_REGEX_LEN_MAX)
		return refuse(why, len, "longer than 256 characters");
	/* weight: the copies regcomp makes of an atom; widest[d]: the largest weight inside group d */
	unsigned long widest[TAG_REGEX_DEPTH_MAX + 1] = {1}, last = 0;
	int depth = 0;
	for (const char *p = pat; *p;) {
		unsigned long copies = 1;
		const char *next;
		if (*p == '\\') {
			if (p[1] >= '1' && p[1] <= '9')
				return refuse(why, len, "a back-reference (skopeo's regexps have none)");
			last = 1, p += p[1] ? 2 : 1;
		} else if (*p == '[') {
			next = bracket_end(p);
			last = 1, p = next ? next : p + 1; /* unclosed: regcomp says so */
		} else if (*p == '(') {
			if (depth == TAG_REGEX_DEPTH_MAX)
				return refuse(why, len, "groups nested more than 32 deep");
			widest[++depth] = 1, last = 0, p++;
		} else if (*p == ')' && depth > 0) {
			last = widest[depth--], p++;
		} else if (*p == '|') {
			last = 0, p++;
		} else if (*p == '*' || *p == '?') {
			p++; /* no copies: the atom before stays as it is */
		} else if ((*p == '{' && (next = interval(p, &copies))) || *p == '+') {
			if (*p == '+')
				copies = 2, next = p + 1; /* a+ is aa* */
			if (last && last * copies > TAG_REGEX_REPEAT_MAX)
				return refuse(why, len, "repetition counts multiply past 1000");
			last *= copies, p = next;
		} else {
			last = 1, p++;
		}
		if (last > widest[depth])
			widest[depth] = last;
	}
	return 0;
}

int ferry_tag_regex_compile(const char *pat, regex_t *re, char *why, size_t len)
{
	if (tag_regex_check(pat, why, len) < 0)
		return -1;
	int rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, re, why, len);
		return -1;
	}
	return 0;
}
