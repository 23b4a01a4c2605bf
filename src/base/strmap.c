#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t slot(const ferry_strmap *m, const char *key)
{
	size_t i = (size_t)hash(key) & (m->cap - 1);
	while (m->keys[i] && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *ferry_strmap_get(const ferry_strmap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	size_t i = slot(m, key);
	return m->keys[i] ? m->vals[i] : NULL;
}

bool ferry_strmap_has(const ferry_strmap *m, const char *key)
{
	return m->cap && m->keys[slot(m, key)] != NULL;
}

static void grow(ferry_strmap *m)
{
	ferry_strmap n = {0};
	n.cap = m->cap ? m->cap * 2 : 16;
	n.keys = ferry_xcalloc(n.cap, sizeof(char *));
	n.vals = ferry_xcalloc(n.cap, sizeof(void *));
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = slot(&n, m->keys[i]);
		n.keys[j] = m->keys[i];
		n.vals[j] = m->vals[i];
	}
	n.len = m->len;
	free(m->keys);
	free(m->vals);
	*m = n;
}

void *ferry_strmap_put(ferry_strmap *m, const char *key, void *val)
{
	if ((m->len + 1) * 2 > m->cap)
		grow(m);
	size_t i = slot(m, key);
	if (m->keys[i]) {
		void *old = m->vals[i];
		m->vals[i] = val;
		return old;
	}
	m->keys[i] = ferry_xstrdup(key);
	m->vals[i] = val;
	m->len++;
	return NULL;
}

bool ferry_strmap_next(const ferry_strmap *m, size_t *it, const char **key, void **val)
{
	for (; *it < m->cap; (*it)++) {
		if (!m->keys[*it])
			continue;
		if (key)
			*key = m->keys[*it];
		if (val)
			*val = m->vals[*it];
		(*it)++;
		return true;
	}
	return false;
}

void ferry_strmap_free_with(ferry_strmap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->cap; i++) {
		if (m->keys[i])
			free_val(m->vals[i]);
	}
	ferry_strmap_free(m);
}

void ferry_strmap_free(ferry_strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
