#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void oom(size_t n)
{
	fprintf(stderr, "ferry: out of memory allocating %zu bytes\n", n);
	abort();
}

void *ferry_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *ferry_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		oom(nmemb * size);
	return p;
}

void *ferry_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *ferry_xstrdup(const char *s)
{
	return s ? ferry_xstrndup(s, strlen(s)) : NULL;
}

char *ferry_xstrndup(const char *s, size_t n)
{
	char *p = ferry_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *ferry_xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	char *p = ferry_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void ferry_grow(void **arr, size_t *cap, size_t n, size_t elt)
{
	if (n <= *cap)
		return;
	size_t c = *cap ? *cap * 2 : 8;
	while (c < n)
		c *= 2;
	*arr = ferry_xrealloc(*arr, c * elt);
	memset((char *)*arr + *cap * elt, 0, (c - *cap) * elt);
	*cap = c;
}

bool ferry_str_endswith(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool ferry_str_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

size_t ferry_env_size(const char *name, size_t lo, size_t hi, size_t def)
{
	const char *t = getenv(name);
	if (!t || !*t)
		return def;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(t, &end, 10);
	if (errno || *end != '\0' || v < lo || v > hi)
		return def;
	return (size_t)v;
}

void ferry_free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

bool ferry_is_loopback(const char *hostname)
{
	if (strcasecmp(hostname, "localhost") == 0)
		return true;
	struct in_addr a4;
	if (inet_pton(AF_INET, hostname, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	struct in6_addr a6;
	if (inet_pton(AF_INET6, hostname, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}
