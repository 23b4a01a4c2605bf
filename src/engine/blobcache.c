#include "blobcache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strmap.h"
#include "tmpname.h"
#include "util.h"

#define CACHE_MAX_LINES 200000

struct ferry_blobcache {
	char *path;
	ferry_strmap map; /* key -> value, both owned strings (values malloc'd) */
	bool dirty;
	/* Pushes update it from several threads; the few lookups are cheap to serialise. */
	pthread_mutex_t mu;
};

static char *default_path(void)
{
	const char *x = getenv("XDG_CACHE_HOME");
	if (x && *x)
		return ferry_xasprintf("%s/ferry/blob-info", x);
	const char *h = getenv("HOME");
	return h && *h ? ferry_xasprintf("%s/.cache/ferry/blob-info", h) : NULL;
}

static void put(ferry_blobcache *c, const char *key, const char *val)
{
	free(ferry_strmap_put(&c->map, key, ferry_xstrdup(val)));
}

ferry_blobcache *ferry_blobcache_open(const char *path)
{
	ferry_blobcache *c = ferry_xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->path = path ? ferry_xstrdup(path) : default_path();
	FILE *f = c->path ? fopen(c->path, "r") : NULL;
	if (!f)
		return c;
	char line[1024];
	size_t n = 0;
	while (fgets(line, sizeof(line), f) && n++ < CACHE_MAX_LINES) {
		char *tab = strchr(line, '\t');
		char *nl = strchr(line, '\n');
		if (!tab || !nl)
			continue;
		*tab = '\0';
		*nl = '\0';
		put(c, line, tab + 1);
	}
	fclose(f);
	return c;
}

static char *comp_key(const ferry_digest *diff_id, ferry_comp comp, int level)
{
	return ferry_xasprintf("C %s %s %d", diff_id->str, ferry_comp_name(comp), level);
}

bool ferry_blobcache_compressed(ferry_blobcache *c, const ferry_digest *diff_id, ferry_comp comp, int level,
				ferry_digest *out, uint64_t *size)
{
	char *k = comp_key(diff_id, comp, level);
	char dg[FERRY_DIGEST_STRMAX];
	unsigned long long sz;
	pthread_mutex_lock(&c->mu);
	const char *v = ferry_strmap_get(&c->map, k);
	int got = v ? sscanf(v, "%135s %llu", dg, &sz) : 0;
	pthread_mutex_unlock(&c->mu);
	free(k);
	ferry_error bad = FERRY_ERROR_INIT; /* a damaged cache line is a miss */
	if (got != 2 || ferry_digest_parse(out, dg, &bad) < 0)
		return false;
	*size = sz;
	return true;
}

void ferry_blobcache_put_compressed(ferry_blobcache *c, const ferry_digest *diff_id, ferry_comp comp, int level,
				    const ferry_digest *out, uint64_t size)
{
	char *k = comp_key(diff_id, comp, level);
	char *v = ferry_xasprintf("%s %llu", out->str, (unsigned long long)size);
	pthread_mutex_lock(&c->mu);
	put(c, k, v);
	c->dirty = true;
	pthread_mutex_unlock(&c->mu);
	free(k);
	free(v);
}

char *ferry_blobcache_location(ferry_blobcache *c, const char *domain, const ferry_digest *d)
{
	char *k = ferry_xasprintf("L %s %s", domain, d->str);
	pthread_mutex_lock(&c->mu);
	const char *v = ferry_strmap_get(&c->map, k);
	char *copy = v ? ferry_xstrdup(v) : NULL;
	pthread_mutex_unlock(&c->mu);
	free(k);
	return copy;
}

void ferry_blobcache_put_location(ferry_blobcache *c, const char *domain, const char *repo, const ferry_digest *d)
{
	char *k = ferry_xasprintf("L %s %s", domain, d->str);
	pthread_mutex_lock(&c->mu);
	const char *old = ferry_strmap_get(&c->map, k);
	if (!old || strcmp(old, repo) != 0) {
		put(c, k, repo);
		c->dirty = true;
	}
	pthread_mutex_unlock(&c->mu);
	free(k);
}

static void mkdirs_for(const char *file)
{
	char *p = ferry_xstrdup(file);
	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0700);
			*s = '/';
		}
	}
	free(p);
}

void ferry_blobcache_close(ferry_blobcache *c)
{
	if (!c)
		return;
	if (c->dirty && c->path) {
		mkdirs_for(c->path);
		char *dir = ferry_xstrdup(c->path);
		*strrchr(dir, '/') = '\0';
		char *tmp = ferry_tmp_template(dir, "blob-info");
		int fd = mkostemp(tmp, O_CLOEXEC);
		if (fd >= 0) {
			FILE *f = fdopen(fd, "w");
			const char *key;
			void *val;
			for (size_t it = 0, lines = 0; f && lines < CACHE_MAX_LINES &&
							 ferry_strmap_next(&c->map, &it, &key, &val); lines++)
				fprintf(f, "%s\t%s\n", key, (char *)val);
			if (f && fflush(f) == 0 && fsync(fileno(f)) == 0 && fclose(f) == 0)
				rename(tmp, c->path);
			else {
				if (f)
					fclose(f);
				unlink(tmp);
			}
		}
		free(tmp);
		free(dir);
	}
	ferry_strmap_free_with(&c->map, free);
	pthread_mutex_destroy(&c->mu);
	free(c->path);
	free(c);
}
