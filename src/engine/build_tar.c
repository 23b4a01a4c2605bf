/*
 * build_tar.c - the layer of ferry_build, as a tar that depends only on its
 * input: sorted entries, fixed owner, mode and mtime, no names or extra
 * headers.  Written through libarchive, hashed on the way out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "build_tar.h"
#include "util.h"

#define BUILD_COPY_BUF (64 * 1024)

bool ferry_build_path_ok(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n > FERRY_BUILD_PATH_MAX || p[0] == '/' || p[n - 1] == '/')
		return false;
	for (const char *c = p; *c;) {
		size_t len = strcspn(c, "/");
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += len;
		if (*c == '/')
			c++;
	}
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* ---- the entries: every file and each of its parent directories, once, sorted ---- */

typedef struct entry {
	char *path;
	const ferry_build_file *file; /* NULL: a directory */
} entry;

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

static size_t plan_entries(const ferry_build_opts *o, entry **out)
{
	size_t cap = 0, n = 0;
	for (size_t i = 0; i < o->n_files; i++)
		cap += 1 + strlen(o->files[i].path); /* at most one parent per '/' */
	entry *e = ferry_xcalloc(cap ? cap : 1, sizeof(*e));
	for (size_t i = 0; i < o->n_files; i++) {
		const char *p = o->files[i].path;
		for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/'))
			e[n++] = (entry){.path = strndup(p, (size_t)(s - p)), .file = NULL};
		e[n++] = (entry){.path = strdup(p), .file = &o->files[i]};
	}
	qsort(e, n, sizeof(*e), cmp_entry);
	size_t k = 0; /* drop repeated directories (a file named twice is refused earlier) */
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && strcmp(e[k - 1].path, e[i].path) == 0 && !e[i].file && !e[k - 1].file) {
			free(e[i].path);
			continue;
		}
		e[k++] = e[i];
	}
	*out = e;
	return k;
}

/* ---- writing ---- */

typedef struct sink {
	int fd;
	ferry_hasher *h;
	uint64_t size;
} sink;

static la_ssize_t sink_write(struct archive *a, void *ud, const void *buf, size_t len)
{
	sink *s = ud;
	const char *p = buf;
	for (size_t done = 0; done < len;) {
		ssize_t w = write(s->fd, p + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			archive_set_error(a, errno, "writing the layer");
			return -1;
		}
		done += (size_t)w;
	}
	ferry_hasher_update(s->h, buf, len);
	s->size += len;
	return (la_ssize_t)len;
}

static int copy_file(struct archive *a, struct archive_entry *ae, const ferry_build_file *f, ferry_error *err)
{
	int fd = open(f->source, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = fd < 0 ? errno : EINVAL;
		if (fd >= 0)
			close(fd);
		return ferry_error_errno(err, e, "cannot read %s (a regular file for /%s)", f->source, f->path);
	}
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, f->mode & 07777);
	archive_entry_set_size(ae, st.st_size);
	int rc = -1;
	char *buf = ferry_xmalloc(BUILD_COPY_BUF);
	if (archive_write_header(a, ae) != ARCHIVE_OK) {
		ferry_error_set(err, FERRY_E_FAILED, "layer entry /%s: %s", f->path, archive_error_string(a));
		goto out;
	}
	int64_t left = st.st_size;
	while (left > 0) {
		ssize_t r = read(fd, buf, left < BUILD_COPY_BUF ? (size_t)left : BUILD_COPY_BUF);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ferry_error_errno(err, r < 0 ? errno : EIO, "reading %s (did it shrink?)", f->source);
			goto out;
		}
		if (archive_write_data(a, buf, (size_t)r) != r) {
			ferry_error_set(err, FERRY_E_FAILED, "layer entry /%s: %s", f->path, archive_error_string(a));
			goto out;
		}
		left -= r;
	}
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int write_entry(struct archive *a, const ferry_build_opts *o, const entry *e, ferry_error *err)
{
	struct archive_entry *ae = archive_entry_new();
	archive_entry_set_pathname(ae, e->path);
	archive_entry_set_uid(ae, o->uid);
	archive_entry_set_gid(ae, o->gid);
	archive_entry_set_mtime(ae, (time_t)o->created, 0);
	int rc = 0;
	if (e->file) {
		rc = copy_file(a, ae, e->file, err);
	} else {
		archive_entry_set_filetype(ae, AE_IFDIR);
		archive_entry_set_perm(ae, 0755);
		if (archive_write_header(a, ae) != ARCHIVE_OK)
			rc = ferry_error_set(err, FERRY_E_FAILED, "layer entry /%s: %s", e->path, archive_error_string(a));
	}
	archive_entry_free(ae);
	return rc;
}

int ferry_build_tar(const ferry_build_opts *opts, int fd, ferry_digest *digest, uint64_t *size, ferry_error *err)
{
	entry *e;
	size_t n = plan_entries(opts, &e);
	sink s = {.fd = fd, .h = ferry_hasher_new(FERRY_ALG_SHA256)};
	struct archive *a = archive_write_new();
	int rc = -1;
	/* ustar: no pax headers (no atime/ctime, nothing from the host); paths are capped to fit. */
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK || archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open2(a, &s, NULL, sink_write, NULL, NULL) != ARCHIVE_OK) {
		ferry_error_set(err, FERRY_E_FAILED, "cannot start the layer: %s", archive_error_string(a));
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (write_entry(a, opts, &e[i], err) < 0)
			goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		ferry_error_set(err, FERRY_E_FAILED, "cannot finish the layer: %s", archive_error_string(a));
		goto out;
	}
	ferry_hasher_final(s.h, digest);
	*size = s.size;
	rc = 0;
out:
	archive_write_free(a);
	ferry_hasher_free(s.h);
	for (size_t i = 0; i < n; i++)
		free(e[i].path);
	free(e);
	return rc;
}
