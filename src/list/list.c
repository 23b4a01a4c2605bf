/*
 * list.c - image lists: plain lines, or skopeo sync's YAML (list_yaml.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "list.h"
#include "readfile.h"
#include "ref.h"
#include "util.h"

int ferry_list_parse_yaml(const char *buf, size_t len, const char *display, ferry_list *out, ferry_error *err);

ferry_list_item *ferry_list_add(ferry_list *l, ferry_list_kind kind, const char *ref, const char *pattern,
				size_t registry, unsigned line, const char *display, ferry_error *err)
{
	if (l->n_items >= FERRY_LIST_ITEMS_MAX) {
		ferry_error_set(err, FERRY_E_LIMIT, "%s:%u: more than %d images", display, line, FERRY_LIST_ITEMS_MAX);
		return NULL;
	}
	ferry_list_item *it = FERRY_PUSH(l->items, l->n_items, l->cap_items);
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->ref = ferry_xstrdup(ref);
	it->pattern = pattern ? ferry_xstrdup(pattern) : NULL;
	it->registry = registry;
	it->line = line;
	return it;
}

/* A reference as a list holds it, normalised ("nginx" is docker.io/library/nginx:latest): new string or NULL. */
char *ferry_list_norm_ref(const char *s, bool want_tag, const char *display, unsigned line, ferry_error *err)
{
	ferry_ref r;
	ferry_error e = FERRY_ERROR_INIT;
	if (ferry_ref_parse(&r, s, &e) < 0) {
		ferry_error_set(err, FERRY_E_USAGE, "%s:%u: %s", display, line, e.msg);
		return NULL;
	}
	if (!want_tag && (r.tag || ferry_digest_is_set(&r.digest))) {
		ferry_ref_free(&r);
		ferry_error_set(err, FERRY_E_USAGE, "%s:%u: \"%s\" is a repository: it takes no tag or digest", display,
				line, s);
		return NULL;
	}
	if (want_tag)
		ferry_ref_default_tag(&r);
	char *out = want_tag ? ferry_ref_string(&r) : ferry_ref_name(&r);
	ferry_ref_free(&r);
	return out;
}

static int parse_plain(const char *buf, size_t len, const char *display, ferry_list *out, ferry_error *err)
{
	unsigned line = 0;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t ll = (size_t)((nl ? nl : buf + len) - (buf + i));
		const char *s = buf + i;
		i += ll + 1;
		line++;
		if (ll > FERRY_LIST_LINE_MAX)
			return ferry_error_set(err, FERRY_E_USAGE, "%s:%u: line longer than %d bytes", display, line,
					       FERRY_LIST_LINE_MAX);
		char word[FERRY_LIST_LINE_MAX + 1];
		size_t a = 0, b = ll;
		while (a < b && (s[a] == ' ' || s[a] == '\t'))
			a++;
		const char *hash = memchr(s + a, '#', b - a);
		if (hash)
			b = (size_t)(hash - s);
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
			b--;
		if (a == b)
			continue;
		memcpy(word, s + a, b - a);
		word[b - a] = '\0';
		if (strcspn(word, " \t") != b - a || memchr(word, '\0', b - a))
			return ferry_error_set(err, FERRY_E_USAGE, "%s:%u: one image reference a line, not \"%s\"",
					       display, line, word);
		char *ref = ferry_list_norm_ref(word, true, display, line, err);
		if (!ref)
			return -1;
		ferry_list_item *it = ferry_list_add(out, FERRY_LIST_REF, ref, NULL, SIZE_MAX, line, display, err);
		free(ref);
		if (!it)
			return -1;
	}
	return 0;
}

/* YAML when the first line that says something is a mapping key ("host:" or "host: ...") or "---". */
static bool looks_yaml(const char *buf, size_t len)
{
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t ll = (size_t)((nl ? nl : buf + len) - (buf + i));
		const char *s = buf + i;
		i += ll + 1;
		while (ll && (s[ll - 1] == ' ' || s[ll - 1] == '\t' || s[ll - 1] == '\r'))
			ll--;
		size_t a = 0;
		while (a < ll && (s[a] == ' ' || s[a] == '\t'))
			a++;
		if (a == ll || s[a] == '#')
			continue;
		if (ll - a >= 3 && !memcmp(s + a, "---", 3))
			return true;
		for (size_t k = a; k < ll; k++) {
			if (s[k] == ':' && (k + 1 == ll || s[k + 1] == ' ' || s[k + 1] == '\t'))
				return true;
		}
		return false;
	}
	return false;
}

int ferry_list_parse(const char *buf, size_t len, const char *display, ferry_list *out, ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	int rc;
	if (len > FERRY_LIST_BYTES_MAX)
		rc = ferry_error_set(err, FERRY_E_LIMIT, "%s: bigger than %u bytes", display, FERRY_LIST_BYTES_MAX);
	else if (memchr(buf, '\0', len))
		rc = ferry_error_set(err, FERRY_E_USAGE, "%s: holds a NUL byte: not a list", display);
	else
		rc = looks_yaml(buf, len) ? ferry_list_parse_yaml(buf, len, display, out, err)
					  : parse_plain(buf, len, display, out, err);
	if (rc == 0 && out->n_items == 0)
		rc = ferry_error_set(err, FERRY_E_USAGE, "%s: lists no image", display);
	if (rc < 0)
		ferry_list_free(out);
	return rc;
}

int ferry_list_load(const char *path, ferry_list *out, ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	bool is_stdin = strcmp(path, "-") == 0;
	int fd = is_stdin ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, errno, "cannot open %s", path);
	char *buf;
	size_t len;
	int rc = ferry_read_fd_all(fd, FERRY_LIST_BYTES_MAX, &buf, &len, is_stdin ? "stdin" : path, err);
	close(fd);
	if (rc < 0)
		return -1;
	rc = ferry_list_parse(buf, len, is_stdin ? "stdin" : path, out, err);
	free(buf);
	return rc;
}

void ferry_list_free(ferry_list *l)
{
	for (size_t i = 0; i < l->n_items; i++) {
		free(l->items[i].ref);
		free(l->items[i].pattern);
	}
	for (size_t i = 0; i < l->n_registries; i++) {
		free(l->registries[i].domain);
		free(l->registries[i].cert_dir);
		ferry_free_secret(l->registries[i].creds);
	}
	free(l->items);
	free(l->registries);
	memset(l, 0, sizeof(*l));
}

bool ferry_list_tag_matches(const ferry_list_item *item, const char *tag)
{
	switch (item->kind) {
	case FERRY_LIST_ALL:
		return true;
	case FERRY_LIST_SEMVER:
		return ferry_semver_match(item->pattern, tag);
	case FERRY_LIST_REGEX: {
		regex_t re;
		char why[128];
		if (ferry_tag_regex_compile(item->pattern, &re, why, sizeof(why)) < 0)
			return false;
		bool m = regexec(&re, tag, 0, NULL, 0) == 0;
		regfree(&re);
		return m;
	}
	default:
		return false;
	}
}
