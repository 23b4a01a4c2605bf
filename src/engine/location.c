#include "location.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry.h"
#include "store.h"
#include "tmpname.h"
#include "tree_registry.h"
#include "util.h"
#include "volumes.h"

static const struct {
	const char *prefix;
	ferry_fmt fmt;
} prefixes[] = {
	{"docker-archive:", FERRY_FMT_DOCKER_ARCHIVE},
	{"oci-archive:", FERRY_FMT_OCI_ARCHIVE},
	{"oci:", FERRY_FMT_OCI},
	{"docker://", FERRY_FMT_REGISTRY},
};

static bool strip_prefix(const char *s, ferry_fmt *fmt, const char **rest)
{
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (ferry_str_startswith(s, prefixes[i].prefix)) {
			*fmt = prefixes[i].fmt;
			*rest = s + strlen(prefixes[i].prefix);
			return true;
		}
	}
	return false;
}

static ferry_comp comp_from_name(const char *p)
{
	if (ferry_str_endswith(p, ".tar.gz") || ferry_str_endswith(p, ".tgz"))
		return FERRY_COMP_GZIP;
	if (ferry_str_endswith(p, ".tar.zst") || ferry_str_endswith(p, ".tzst"))
		return FERRY_COMP_ZSTD;
	return FERRY_COMP_NONE;
}

static int check_unsupported(const char *s, ferry_error *err)
{
	if (ferry_str_startswith(s, "docker-daemon:"))
		return ferry_error_set(err, FERRY_E_USAGE, "%s: a Docker daemon is not a location ferry reads or writes", s);
	return 0;
}

int ferry_location_parse_dest(const char *s, const char *format, ferry_location *out, ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_unsupported(s, err) < 0)
		return -1;
	const char *path = s;
	ferry_fmt fmt = FERRY_FMT_AUTO;
	bool prefixed = strip_prefix(s, &fmt, &path);
	/* docker:// alone: every image to the registry of its own name. */
	if (!*path && fmt != FERRY_FMT_REGISTRY)
		return ferry_error_set(err, FERRY_E_USAGE, "destination \"%s\" has no path", s);
	if (!prefixed && format) {
		const ferry_format *f = ferry_format_by_name(format);
		if (!f)
			return ferry_error_set(err, FERRY_E_USAGE,
					       "unknown format \"%s\" (use docker-archive, oci or oci-archive)", format);
		fmt = f->id;
	}
	if (fmt == FERRY_FMT_AUTO) {
		struct stat st;
		if (strcmp(path, "-") == 0)
			fmt = FERRY_FMT_DOCKER_ARCHIVE;
		else if (ferry_str_endswith(path, "/") || (stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
			fmt = FERRY_FMT_OCI;
		else if (ferry_str_endswith(path, ".tar") || comp_from_name(path) != FERRY_COMP_NONE)
			fmt = FERRY_FMT_DOCKER_ARCHIVE;
		else
			return ferry_error_set(err, FERRY_E_USAGE,
					       "cannot tell what format to write to \"%s\": end it with / (OCI layout) "
					       "or .tar/.tar.gz/.tar.zst (docker-archive), or use --format or a "
					       "prefix like oci:",
					       s);
	}
	out->fmt = fmt;
	out->path = ferry_xstrdup(path);
	if (fmt != FERRY_FMT_OCI)
		out->comp = comp_from_name(path);
	return 0;
}

int ferry_location_parse_source(const char *s, ferry_location *out, ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_unsupported(s, err) < 0)
		return -1;
	const char *path = s;
	ferry_fmt fmt = FERRY_FMT_AUTO;
	strip_prefix(s, &fmt, &path);
	if (!*path)
		return ferry_error_set(err, FERRY_E_USAGE, "source \"%s\" has no path", s);
	out->fmt = fmt;
	out->path = ferry_xstrdup(path);
	return 0;
}

/* The deepest existing directory above or at path, resolved (caller frees); NULL if none. */
static char *existing_ancestor(const char *path)
{
	char *p = ferry_xstrdup(path);
	for (;;) {
		char *real = realpath(p, NULL);
		if (real) {
			free(p);
			return real;
		}
		char *up = ferry_dest_parent(p);
		bool top = strcmp(up, p) == 0;
		free(p);
		p = up;
		if (top) {
			free(p);
			return NULL;
		}
	}
}

static bool same_inode(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Is path (resolved or not) the directory dir, or inside it? */
static bool inside_dir(const char *path, const struct stat *dir)
{
	char *p = existing_ancestor(path);
	bool inside = false;
	while (p && !inside) {
		struct stat st;
		inside = stat(p, &st) == 0 && same_inode(&st, dir);
		char *slash = strrchr(p, '/');
		if (!slash || !strcmp(p, "/"))
			break;
		slash[slash == p ? 1 : 0] = '\0'; /* up one: "/a/b" -> "/a", "/a" -> "/" */
	}
	free(p);
	return inside;
}

int ferry_location_check_distinct(const ferry_location *src, const ferry_location *dst, ferry_error *err)
{
	if (src->fmt == FERRY_FMT_REGISTRY || dst->fmt == FERRY_FMT_REGISTRY || !strcmp(src->path, "-") ||
	    !strcmp(dst->path, "-"))
		return 0;
	struct stat s, d;
	if (stat(src->path, &s) < 0)
		return 0; /* opening the source says what is wrong */
	bool same = stat(dst->path, &d) == 0 && same_inode(&s, &d);
	if (!same && S_ISDIR(s.st_mode) && inside_dir(dst->path, &s))
		return ferry_error_set(err, FERRY_E_USAGE,
				       "%s is inside the source %s: a destination cannot be within its source (to "
				       "change names in place, use ferry tag or ferry untag)",
				       dst->path, src->path);
	if (same)
		return ferry_error_set(err, FERRY_E_USAGE,
				       "%s is the source itself: a conversion would overwrite what it reads (to change "
				       "names in place, use ferry tag or ferry untag)",
				       dst->path);
	return 0;
}

void ferry_location_free(ferry_location *l)
{
	free(l->path);
	memset(l, 0, sizeof(*l));
}

/* A directory as it is; anything else (stdin included) as a tar. */
static int open_tree(const char *path, bool is_dir, bool is_stdin, const char *spool_parent, ferry_tree **out,
		     ferry_error *err)
{
	if (is_dir)
		return ferry_tree_open_dir(path, out, err);
	int fd = is_stdin ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, errno, "cannot open %s", path);
	return ferry_tree_open_tar(fd, is_stdin ? "stdin" : path, spool_parent ? spool_parent : ferry_tmp_dir(), out,
				   err);
}

/* A volume set (NAME.001 or NAME), taken: checked first, then read as the tar it is. */
static int open_volume_set(ferry_source *src, ferry_volset *vs, const ferry_location *loc, const char *spool_parent,
			   ferry_source **out, ferry_error *err)
{
	const ferry_format *f = ferry_format_by_id(loc->fmt);
	if (f && !f->is_tar) {
		ferry_volset_free(vs);
		ferry_source_free(src);
		return ferry_error_set(err, FERRY_E_USAGE, "%s is a volume set, not a directory", loc->path);
	}
	if (ferry_volset_check(vs, err) < 0) {
		ferry_volset_free(vs);
		ferry_source_free(src);
		return -1;
	}
	if (ferry_tree_open_volumes(vs, loc->path, spool_parent ? spool_parent : ferry_tmp_dir(), &src->tree, err) < 0 ||
	    (!f && ferry_format_bid(src->tree, false, src->display, &f, err) < 0) || (src->format = f)->read(src, err) < 0) {
		ferry_source_free(src);
		return -1;
	}
	*out = src;
	return 0;
}

int ferry_source_open_at(const ferry_location *loc, const char *display, const char *spool_parent,
			 const ferry_registry_opts *ropts, ferry_source **out, ferry_error *err)
{
	*out = NULL;
	ferry_source *src = ferry_xcalloc(1, sizeof(*src));
	src->display = ferry_xstrdup(display);
	if (loc->fmt == FERRY_FMT_REGISTRY) {
		src->format = &ferry_format_registry;
		if (ferry_tree_open_registry(loc->path, ropts, &src->tree, err) < 0 ||
		    src->format->read(src, err) < 0) {
			ferry_source_free(src);
			return -1;
		}
		*out = src;
		return 0;
	}
	struct stat st;
	bool is_stdin = strcmp(loc->path, "-") == 0;
	ferry_volset *vs = NULL;
	if (!is_stdin && ferry_volset_open(loc->path, &vs, err) < 0) {
		ferry_source_free(src);
		return -1;
	}
	if (vs)
		return open_volume_set(src, vs, loc, spool_parent, out, err);
	if (!is_stdin && stat(loc->path, &st) < 0) {
		int e = errno;
		ferry_source_free(src);
		if (e == ENOENT)
			return ferry_error_set(err, FERRY_E_NOTFOUND, "%s does not exist", loc->path);
		return ferry_error_errno(err, e, "cannot read %s", loc->path);
	}
	bool is_dir = !is_stdin && S_ISDIR(st.st_mode);
	const ferry_format *f = ferry_format_by_id(loc->fmt); /* NULL: recognise by content */
	if (f && is_dir && f->is_tar) {
		ferry_source_free(src);
		return ferry_error_set(err, FERRY_E_USAGE, "%s is a directory, not a %s file", loc->path, f->name);
	}
	if (f && !is_dir && !f->is_tar) {
		ferry_source_free(src);
		return ferry_error_set(err, FERRY_E_USAGE, "%s is not a directory (an OCI layout is one)", loc->path);
	}
	if (open_tree(loc->path, is_dir, is_stdin, spool_parent, &src->tree, err) < 0 ||
	    (!f && ferry_format_bid(src->tree, is_dir, display, &f, err) < 0)) {
		ferry_source_free(src);
		return -1;
	}
	src->format = f;
	if (src->format->read(src, err) < 0) {
		ferry_source_free(src);
		return -1;
	}
	*out = src;
	return 0;
}

int ferry_source_open_opts(const char *location, const ferry_registry_opts *ropts, ferry_source **out,
			   ferry_error *err)
{
	ferry_location loc;
	*out = NULL;
	if (ferry_location_parse_source(location, &loc, err) < 0)
		return -1;
	int rc = ferry_source_open_at(&loc, location, NULL, ropts, out, err);
	ferry_location_free(&loc);
	return rc;
}

int ferry_source_open(const char *location, ferry_source **out, ferry_error *err)
{
	return ferry_source_open_opts(location, NULL, out, err);
}

int ferry_source_require_images(const ferry_source *src, ferry_error *err)
{
	if (src->n_entries > 0)
		return 0;
	bool docker = src->format && src->format->id == FERRY_FMT_DOCKER_ARCHIVE;
	return ferry_error_set(err, FERRY_E_FORMAT, "%s holds no images (%s): nearly always a failed save",
			       src->display, docker ? "its manifest.json is empty" : "its index lists no image");
}
