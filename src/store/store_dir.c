/*
 * store_dir.c - an OCI layout directory as a destination.
 *
 * New layout: everything is written under a temporary sibling
 * (".NAME.ferry-XXXXXX") and renamed to NAME at commit, so a failed or
 * killed run leaves nothing at NAME.  Existing layout: blobs are added in
 * place (each written to a temporary name and renamed: blobs are content
 * addressed, so an interrupted run only leaves unreferenced blobs, never a
 * wrong one), and index.json is replaced atomically at commit.  The layout
 * directory is flock()ed for the whole run so that two writers take turns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout_refs.h"
#include "pathlock.h"
#include "readfile.h"
#include "store.h"
#include "tmpname.h"
#include "util.h"

/* An existing index.json (or other metadata file) is read whole up to this size. */
#define EXISTING_FILE_MAX (4u << 20)

typedef struct pending_file {
	char *name;
	char *tmp;
} pending_file;

/* A blob being written: a temporary file in blobs/, renamed into place at its end. */
typedef struct open_blob {
	struct open_blob *next;
	int fd;
	char *tmp;
	ferry_ostream *out; /* what the caller writes to, and how blob_end names the blob */
} open_blob;

typedef struct dir_store {
	ferry_store base;
	char *final;
	char *root; /* where we write: the temporary sibling, or final itself */
	bool existing;
	bool committed;
	int lock_fd;
	/* Blobs being written (several at once: concurrent_blobs), under blobs_mu. */
	pthread_mutex_t blobs_mu;
	open_blob *blobs;
	pending_file *files;
	size_t n_files, cap_files;
	/* Blobs this run added to an existing layout (under blobs_mu): removed if it does not commit. */
	ferry_strmap added;
} dir_store;

static char *join(const char *a, const char *b)
{
	return ferry_xasprintf("%s/%s", a, b);
}

static int mkdir_p(const char *root, const char *sub, ferry_error *err)
{
	char *p = join(root, sub);
	for (char *s = p + strlen(root) + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			ferry_error_errno(err, e, "cannot create %s", p);
			free(p);
			return -1;
		}
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		ferry_error_errno(err, e, "cannot create %s", p);
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

static int ds_has_blob(ferry_store *s, const ferry_digest *d, bool *exists, ferry_error *err)
{
	(void)err; /* what cannot be seen is not there: it is then written */
	dir_store *ds = (dir_store *)s;
	char *p = ferry_xasprintf("%s/blobs/%s/%s", ds->root, ferry_alg_name(d->alg), ferry_digest_hex(d));
	struct stat st;
	*exists = stat(p, &st) == 0 && S_ISREG(st.st_mode);
	free(p);
	return 0;
}

/* Close and remove b's temporary file, and free it (b is off the list). */
static void drop_blob(open_blob *b)
{
	ferry_ostream_free(b->out);
	if (b->fd >= 0)
		close(b->fd);
	if (b->tmp)
		unlink(b->tmp);
	free(b->tmp);
	free(b);
}

/* Take the open blob written through out off the list (NULL if there is none). */
static open_blob *take_blob(dir_store *ds, ferry_ostream *out)
{
	pthread_mutex_lock(&ds->blobs_mu);
	open_blob **at = &ds->blobs;
	while (*at && (*at)->out != out)
		at = &(*at)->next;
	open_blob *b = *at;
	if (b)
		*at = b->next;
	pthread_mutex_unlock(&ds->blobs_mu);
	return b;
}

static int ds_blob_begin(ferry_store *s, const ferry_digest *expect, int64_t size, ferry_ostream **out,
			 ferry_error *err)
{
	(void)size;
	dir_store *ds = (dir_store *)s;
	if (mkdir_p(ds->root, "blobs", err) < 0)
		return -1;
	open_blob *b = ferry_xcalloc(1, sizeof(*b));
	char *blobs = join(ds->root, "blobs");
	b->tmp = ferry_tmp_template(blobs, "blob");
	free(blobs);
	b->fd = mkostemp(b->tmp, O_CLOEXEC);
	if (b->fd < 0) {
		int e = errno;
		free(b->tmp);
		free(b);
		return ferry_error_errno(err, e, "cannot create a file in %s/blobs", ds->root);
	}
	fchmod(b->fd, 0644);
	char *what = expect && ferry_digest_is_set(expect)
			     ? ferry_xasprintf("blob %s in %s", expect->str, s->display)
			     : ferry_xasprintf("a new blob in %s", s->display);
	b->out = ferry_ostream_fd_durable(b->fd, what);
	free(what);
	pthread_mutex_lock(&ds->blobs_mu);
	b->next = ds->blobs;
	ds->blobs = b;
	pthread_mutex_unlock(&ds->blobs_mu);
	*out = b->out;
	return 0;
}

static void note_added(dir_store *ds, const ferry_digest *d)
{
	if (!ds->existing)
		return;
	pthread_mutex_lock(&ds->blobs_mu);
	ferry_strmap_put(&ds->added, d->str, (void *)1);
	pthread_mutex_unlock(&ds->blobs_mu);
}

/*
 * An existing layout's run that does not commit takes back the blobs it
 * added, still under its lock, except those the layout's index.json now
 * leads to (another writer's, or one that could not be told apart).  If the
 * index cannot be read through, nothing is removed: ferry prune can do it.
 */
static void remove_added(dir_store *ds)
{
	ferry_strmap refs = {0};
	ferry_error e = FERRY_ERROR_INIT;
	if (ferry_layout_referenced(ds->final, &refs, &e) == 0) {
		for (size_t i = 0; i < ds->added.cap; i++) {
			const char *k = ds->added.keys[i];
			ferry_digest d;
			ferry_error e2 = FERRY_ERROR_INIT;
			if (!k || ferry_strmap_has(&refs, k) || ferry_digest_parse(&d, k, &e2) < 0)
				continue;
			char *p = ferry_xasprintf("%s/blobs/%s/%s", ds->final, ferry_alg_name(d.alg), ferry_digest_hex(&d));
			unlink(p);
			free(p);
		}
	}
	ferry_strmap_free(&refs);
}

static int ds_blob_end(ferry_store *s, ferry_ostream *out, bool ok, const ferry_digest *actual, uint64_t size,
		       bool *resend, ferry_error *err)
{
	(void)size, (void)resend;
	dir_store *ds = (dir_store *)s;
	open_blob *b = take_blob(ds, out);
	if (!b)
		return ok ? ferry_error_set(err, FERRY_E_FAILED, "%s: no such blob being written", s->display) : 0;
	if (!ok) {
		drop_blob(b);
		return 0;
	}
	char *algdir = ferry_xasprintf("blobs/%s", ferry_alg_name(actual->alg));
	int rc = mkdir_p(ds->root, algdir, err);
	free(algdir);
	if (rc < 0) {
		drop_blob(b);
		return -1;
	}
	int fd = b->fd;
	b->fd = -1;
	if (close(fd) < 0) {
		rc = ferry_error_errno(err, errno, "writing blob %s", actual->str);
		drop_blob(b);
		return rc;
	}
	char *final = ferry_xasprintf("%s/blobs/%s/%s", ds->root, ferry_alg_name(actual->alg),
				      ferry_digest_hex(actual));
	/*
	 * Content addressed: if it is already there, the bytes are the same,
	 * and the existing file is left alone (same inode, same mtime).  Two
	 * blobs with the same bytes ending at once both land on that: rename
	 * replaces one complete file with another.
	 */
	if (access(final, F_OK) != 0) {
		if (rename(b->tmp, final) < 0) {
			rc = ferry_error_errno(err, errno, "cannot store blob %s as %s", actual->str, final);
		} else {
			/* The name is free again: another blob's new file may take it. */
			free(b->tmp);
			b->tmp = NULL;
			note_added(ds, actual);
		}
	}
	free(final);
	drop_blob(b); /* removes the temporary name if it is still ours */
	return rc;
}

/* Write buf to a new temporary file beside dir/name (the one pattern: .NAME.ferry-PID-XXXXXX); *tmp is its path. */
static int write_tmp_file(const char *dir, const char *name, const void *buf, size_t len, char **tmp,
			  ferry_error *err)
{
	char *path = ferry_tmp_template(dir, name);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(path);
		return ferry_error_errno(err, e, "cannot create a file for %s in %s", name, dir);
	}
	fchmod(fd, 0644);
	if (ferry_write_all(fd, buf, len, path, err) < 0 || fsync(fd) < 0) {
		if (!err->msg[0] || err->code == FERRY_OK)
			ferry_error_errno(err, errno, "writing %s", path);
		close(fd);
		unlink(path);
		free(path);
		return -1;
	}
	if (close(fd) < 0) {
		int e = errno;
		unlink(path);
		free(path);
		return ferry_error_errno(err, e, "writing %s/%s", dir, name);
	}
	*tmp = path;
	return 0;
}

static int ds_put_file(ferry_store *s, const char *name, const void *buf, size_t len, ferry_error *err)
{
	dir_store *ds = (dir_store *)s;
	char *tmp = NULL;
	if (write_tmp_file(ds->root, name, buf, len, &tmp, err) < 0)
		return -1;
	pending_file *f = FERRY_PUSH(ds->files, ds->n_files, ds->cap_files);
	f->name = ferry_xstrdup(name);
	f->tmp = tmp;
	return 0;
}

static int ds_read_existing(ferry_store *s, const char *name, unsigned char **buf, size_t *len,
			    ferry_error *err)
{
	dir_store *ds = (dir_store *)s;
	*buf = NULL;
	*len = 0;
	if (!ds->existing)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "no %s", name);
	char *p = join(ds->final, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(p);
		if (e == ENOENT)
			return ferry_error_set(err, FERRY_E_NOTFOUND, "no %s", name);
		return ferry_error_errno(err, e, "cannot read %s/%s", ds->final, name);
	}
	char *b;
	int rc = ferry_read_fd_all(fd, EXISTING_FILE_MAX, &b, len, p, err);
	close(fd);
	free(p);
	*buf = (unsigned char *)b;
	return rc;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int ds_commit(ferry_store *s, ferry_error *err)
{
	dir_store *ds = (dir_store *)s;
	/*
	 * Everything written reaches the disk before anything points at it: each
	 * blob's bytes were synced as it was finished; here the directory
	 * entries of the renamed blobs.
	 */
	const char *algdirs[] = {"blobs/sha256", "blobs/sha512", "blobs"};
	for (size_t i = 0; i < sizeof(algdirs) / sizeof(algdirs[0]); i++) {
		char *d = join(ds->root, algdirs[i]);
		fsync_dir(d);
		free(d);
	}
	/* index.json last: it is what makes the rest reachable. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ds->n_files; i++) {
			pending_file *f = &ds->files[i];
			if ((strcmp(f->name, "index.json") == 0) != (pass == 1))
				continue;
			char *dst = join(ds->root, f->name);
			int rc = rename(f->tmp, dst);
			int e = errno;
			free(dst);
			if (rc < 0)
				return ferry_error_errno(err, e, "cannot write %s/%s", ds->final, f->name);
			free(f->tmp);
			f->tmp = NULL;
		}
	}
	fsync_dir(ds->root);
	if (!ds->existing) {
		/* rename() replaces an empty directory; a non-empty one was refused at open. */
		if (rename(ds->root, ds->final) < 0)
			return ferry_error_errno(err, errno, "cannot move the new layout into place at %s", ds->final);
		char *parent = ferry_dest_parent(ds->final);
		fsync_dir(parent);
		free(parent);
	}
	ds->committed = true;
	return 0;
}

static void ds_free(ferry_store *s)
{
	dir_store *ds = (dir_store *)s;
	while (ds->blobs) {
		open_blob *b = ds->blobs;
		ds->blobs = b->next;
		drop_blob(b);
	}
	pthread_mutex_destroy(&ds->blobs_mu);
	for (size_t i = 0; i < ds->n_files; i++) {
		if (ds->files[i].tmp)
			unlink(ds->files[i].tmp);
		free(ds->files[i].tmp);
		free(ds->files[i].name);
	}
	free(ds->files);
	if (!ds->committed && !ds->existing && ds->root)
		ferry_remove_tree(ds->root);
	if (!ds->committed && ds->existing && ds->added.len)
		remove_added(ds);
	ferry_strmap_free(&ds->added);
	if (ds->lock_fd >= 0)
		close(ds->lock_fd);
	free(ds->final);
	free(ds->root);
	free(s->display);
	free(ds);
}

static const ferry_store_ops dir_store_ops = {
	.has_blob = ds_has_blob,
	.blob_begin = ds_blob_begin,
	.blob_end = ds_blob_end,
	.put_file = ds_put_file,
	.read_existing = ds_read_existing,
	.commit = ds_commit,
	.free = ds_free,
	/* optional ones: the defaults (no spools: each blob is a file of its own) */
};

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return false;
	struct dirent *de;
	bool empty = true;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = false;
			break;
		}
	}
	closedir(d);
	return empty;
}

int ferry_store_open_dir(const char *dir, ferry_store **out, ferry_error *err)
{
	*out = NULL;
	dir_store *ds = ferry_xcalloc(1, sizeof(*ds));
	ds->base.ops = &dir_store_ops;
	ds->base.display = ferry_xstrdup(dir);
	ds->base.concurrent_blobs = true;
	pthread_mutex_init(&ds->blobs_mu, NULL);
	ds->lock_fd = -1;
	ds->final = ferry_xstrdup(dir);
	size_t n = strlen(ds->final);
	while (n > 1 && ds->final[n - 1] == '/')
		ds->final[--n] = '\0';
	struct stat st;
	if (stat(ds->final, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			ds_free(&ds->base);
			return ferry_error_set(err, FERRY_E_USAGE, "%s exists and is not a directory", dir);
		}
		char *marker = join(ds->final, "oci-layout");
		bool layout = access(marker, F_OK) == 0;
		free(marker);
		if (layout) {
			ds->existing = true;
			ds->root = ferry_xstrdup(ds->final);
			if (ferry_path_lock(ds->final, &ds->lock_fd, err) < 0) {
				ds_free(&ds->base);
				return -1;
			}
			/* Under the lock: what a killed writer left in blobs/ (and beside index.json) can go. */
			char *blobs = join(ds->final, "blobs");
			ferry_tmp_sweep(blobs, "blob");
			free(blobs);
			ferry_tmp_sweep(ds->final, NULL);
			if (access(ds->final, W_OK) < 0) {
				int e = errno;
				ds_free(&ds->base);
				return ferry_error_errno(err, e, "cannot write to %s", dir);
			}
			*out = &ds->base;
			return 0;
		}
		if (!dir_is_empty(ds->final)) {
			ds_free(&ds->base);
			return ferry_error_set(err, FERRY_E_USAGE,
					       "%s is a non-empty directory that is not an OCI layout; refusing to "
					       "write into it",
					       dir);
		}
	} else if (errno != ENOENT) {
		int e = errno;
		ds_free(&ds->base);
		return ferry_error_errno(err, e, "cannot use %s", dir);
	}
	char *parent = ferry_dest_parent(ds->final);
	char *base = ferry_dest_base(ds->final);
	ferry_tmp_sweep(parent, base);
	ds->root = ferry_tmp_template(parent, base);
	free(parent);
	free(base);
	if (!mkdtemp(ds->root)) {
		int e = errno;
		free(ds->root);
		ds->root = NULL;
		ds_free(&ds->base);
		return ferry_error_errno(err, e, "cannot create the output directory next to %s", dir);
	}
	chmod(ds->root, 0755);
	*out = &ds->base;
	return 0;
}

