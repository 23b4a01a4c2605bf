#include "tree.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

int ferry_path_normalize(const char *in, char **out, ferry_error *err)
{
	*out = NULL;
	size_t n = strlen(in);
	if (n == 0)
		return ferry_error_set(err, FERRY_E_FORMAT, "empty entry name");
	if (n > FERRY_PATH_MAX)
		return ferry_error_set(err, FERRY_E_FORMAT, "entry name of %zu bytes is too long (limit %d)", n,
				       FERRY_PATH_MAX);
	if (in[0] == '/')
		return ferry_error_set(err, FERRY_E_FORMAT, "entry \"%.200s\" has an absolute name", in);
	char *res = ferry_xmalloc(n + 1);
	size_t r = 0;
	const char *p = in;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			free(res);
			return ferry_error_set(err, FERRY_E_FORMAT, "entry \"%.200s\" has a \"..\" component", in);
		}
		if (!(len == 0 || (len == 1 && p[0] == '.'))) {
			if (memchr(p, '\0', len) || memchr(p, '\\', len)) {
				free(res);
				return ferry_error_set(err, FERRY_E_FORMAT, "entry \"%.200s\" has a bad name", in);
			}
			if (r)
				res[r++] = '/';
			memcpy(res + r, p, len);
			r += len;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	if (r == 0) {
		free(res);
		return ferry_error_set(err, FERRY_E_FORMAT, "entry \"%.200s\" names the archive root", in);
	}
	res[r] = '\0';
	*out = res;
	return 0;
}

int ferry_path_resolve_link(const char *link_path, const char *target, char **out, ferry_error *err)
{
	*out = NULL;
	if (target[0] == '/')
		return ferry_error_set(err, FERRY_E_FORMAT, "link \"%.200s\" points to absolute path \"%.200s\"",
				       link_path, target);
	/* Resolve "dir/of/link" + target lexically, refusing to climb above the root. */
	size_t cap = strlen(link_path) + strlen(target) + 2;
	char *buf = ferry_xmalloc(cap);
	const char *slash = strrchr(link_path, '/');
	size_t r = slash ? (size_t)(slash - link_path) : 0;
	memcpy(buf, link_path, r);
	buf[r] = '\0';
	const char *p = target;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (r == 0) {
				free(buf);
				return ferry_error_set(err, FERRY_E_FORMAT,
						       "link \"%.200s\" points outside the archive (\"%.200s\")",
						       link_path, target);
			}
			char *s = strrchr(buf, '/');
			r = s ? (size_t)(s - buf) : 0;
			buf[r] = '\0';
		} else if (!(len == 0 || (len == 1 && p[0] == '.'))) {
			if (r)
				buf[r++] = '/';
			memcpy(buf + r, p, len);
			r += len;
			buf[r] = '\0';
		}
		p += len;
		if (*p == '/')
			p++;
	}
	if (r == 0) {
		free(buf);
		return ferry_error_set(err, FERRY_E_FORMAT, "link \"%.200s\" points to the archive root", link_path);
	}
	*out = buf;
	return 0;
}

int ferry_tree_read_all(ferry_tree *t, const char *path, size_t max, unsigned char **buf, size_t *len,
			ferry_error *err)
{
	*buf = NULL;
	*len = 0;
	ferry_istream *in;
	uint64_t size;
	if (t->ops->open(t, path, &in, &size, err) < 0)
		return -1;
	if (size > max) {
		ferry_istream_close(in);
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: %s is %llu bytes, over the %zu byte limit",
				       t->display, path, (unsigned long long)size, max);
	}
	unsigned char *b = ferry_xmalloc((size_t)size + 1);
	size_t got = 0;
	for (;;) {
		ssize_t n = ferry_read(in, b + got, (size_t)size + 1 - got, err);
		if (n < 0) {
			free(b);
			ferry_istream_close(in);
			ferry_error_prefix(err, "%s: reading %s", t->display, path);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > size) {
			free(b);
			ferry_istream_close(in);
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s is longer than its recorded size",
					       t->display, path);
		}
	}
	ferry_istream_close(in);
	if (got != size) {
		free(b);
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s is truncated", t->display, path);
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

const char *ferry_tree_canonical(ferry_tree *t, const char *path)
{
	return t->ops->canonical ? t->ops->canonical(t, path) : path;
}

void ferry_tree_free(ferry_tree *t)
{
	if (t)
		t->ops->free(t);
}

void ferry_tree_where(ferry_tree *t, const char *path, char *buf, size_t len)
{
	if (len)
		*buf = '\0';
	if (t->ops->where && len)
		t->ops->where(t, path, buf, len);
}

int ferry_tree_locate(ferry_tree *t, const char *path, int *fd, uint64_t *offset, uint64_t *size,
		      ferry_error *err)
{
	*fd = -1;
	if (!t->ops->locate)
		return ferry_error_set(err, FERRY_E_FAILED,
				       "%s: %s cannot be served in place (it is not in a directory or an "
				       "uncompressed tar file)",
				       t->display, path);
	return t->ops->locate(t, path, fd, offset, size, err);
}
