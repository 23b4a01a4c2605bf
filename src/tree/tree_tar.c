/*
 * tree_tar.c - a tar archive as a tree.
 *
 * Two ways to read, chosen by what the input allows:
 *
 *  - indexed: a plain tar in a regular file.  One pass over the headers
 *    (libarchive skips the data with lseek) records where each entry's data
 *    lies; entries are then read in place with pread, in any order, as often
 *    as needed.  Nothing is copied.
 *
 *  - one pass: a pipe, or a tar compressed as a whole.  Entries can only be
 *    read in archive order, so the tree reads ahead on demand.  An entry
 *    passed over that may be needed later is retained (small ones in memory,
 *    others spooled into a private directory under spool_parent); once the
 *    reader has said which entries it wants (ferry_tree_ops.want) the others
 *    are skipped, and open_any hands out the next wanted entry straight from
 *    the archive, so blobs that come after the metadata are never spooled.
 *
 * Links: a symlink or hardlink entry is an alias for another entry of the
 * same archive, resolved lexically and never through the filesystem.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strmap.h"
#include "tmpname.h"
#include "tree.h"
#include "util.h"
#include "volumes.h"

#define MEM_ENTRY_MAX (256u << 10) /* retained in memory when at most this big... */
#define MEM_TOTAL_MAX (16u << 20)  /* ...and while the total stays under this */

typedef enum { ENT_REG, ENT_SYMLINK, ENT_HARDLINK, ENT_OTHER } ent_type;
typedef enum { ST_UNREAD, ST_INDEXED, ST_MEM, ST_SPOOLED, ST_SKIPPED, ST_CONSUMED } ent_state;

typedef struct tar_entry {
	char *name;
	ent_type type;
	char *target; /* normalised target, for links */
	uint64_t size;
	uint64_t offset; /* indexed: where the data starts */
	ent_state state;
	unsigned char *mem; /* ST_MEM */
	char *spool;        /* ST_SPOOLED: path of the spool file */
} tar_entry;

#define PIPE_POLL_MS 200 /* how often a stalled one-pass read looks for a signal */

typedef struct tar_tree {
	ferry_tree base;
	int fd;            /* -1 for a volume set */
	ferry_volset *vs;  /* a volume set read as one archive (volumes.h), or NULL */
	uint64_t vs_pos;   /* where the reader is in the set */
	struct archive *a; /* one pass: the live reader */
	bool eof;
	bool live_open; /* an istream over the live archive is open */
	tar_entry *ents;
	size_t n, cap;
	ferry_strmap byname; /* name -> (index + 1) as a pointer-sized integer */
	bool want_set;
	ferry_strmap wanted;
	char *spool_parent;
	char *spool_dir;
	unsigned spool_seq;
	size_t mem_kept;
	unsigned char *in_buf; /* one pass: what pipe_read last read */
} tar_tree;

static tar_entry *find(tar_tree *t, const char *name)
{
	uintptr_t v = (uintptr_t)ferry_strmap_get(&t->byname, name);
	return v ? &t->ents[v - 1] : NULL;
}

static const char *archive_msg(struct archive *a)
{
	const char *s = archive_error_string(a);
	return s ? s : "unknown error";
}

/* Record the header libarchive just read. Returns the new entry's index, or -1. */
static int add_entry(tar_tree *t, struct archive_entry *ae, size_t *idx, bool *is_dir, ferry_error *err)
{
	*is_dir = false;
	const char *raw = archive_entry_pathname(ae);
	if (!raw)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: entry without a name", t->base.display);
	mode_t type = archive_entry_filetype(ae);
	const char *hard = archive_entry_hardlink(ae);
	if (type == AE_IFDIR && !hard) {
		*is_dir = true;
		return 0;
	}
	char *name;
	if (ferry_path_normalize(raw, &name, err) < 0) {
		ferry_error_prefix(err, "%s", t->base.display);
		return -1;
	}
	if (find(t, name)) {
		ferry_error_set(err, FERRY_E_FORMAT, "%s: entry \"%.200s\" appears twice", t->base.display, name);
		free(name);
		return -1;
	}
	if (t->n >= FERRY_ENTRIES_MAX) {
		free(name);
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %d entries", t->base.display,
				       FERRY_ENTRIES_MAX);
	}
	tar_entry *e = FERRY_PUSH(t->ents, t->n, t->cap);
	memset(e, 0, sizeof(*e));
	e->name = name;
	if (hard) {
		e->type = ENT_HARDLINK;
		if (ferry_path_normalize(hard, &e->target, err) < 0) {
			ferry_error_prefix(err, "%s: hardlink %s", t->base.display, name);
			return -1;
		}
	} else if (type == AE_IFLNK) {
		e->type = ENT_SYMLINK;
		const char *target = archive_entry_symlink(ae);
		if (!target || ferry_path_resolve_link(name, target, &e->target, err) < 0) {
			if (!target)
				ferry_error_set(err, FERRY_E_FORMAT, "symlink without a target");
			ferry_error_prefix(err, "%s", t->base.display);
			return -1;
		}
	} else if (type == AE_IFREG) {
		if (archive_entry_sparse_count(ae) > 0)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: entry %s is a sparse file",
					       t->base.display, name);
		e->type = ENT_REG;
		e->size = archive_entry_size(ae) < 0 ? 0 : (uint64_t)archive_entry_size(ae);
	} else {
		e->type = ENT_OTHER;
	}
	*idx = t->n - 1;
	ferry_strmap_put(&t->byname, name, (void *)(uintptr_t)t->n);
	return 0;
}

/* ---- reading from the live archive (one pass) ---- */

typedef struct live_stream {
	ferry_istream base;
	tar_tree *t;
	size_t idx;
	uint64_t left;
} live_stream;

static ssize_t live_read(ferry_istream *s, void *buf, size_t len, ferry_error *err)
{
	live_stream *l = (live_stream *)s;
	if (l->left == 0)
		return 0;
	if (len > l->left)
		len = (size_t)l->left;
	la_ssize_t n = archive_read_data(l->t->a, buf, len);
	if (n < 0)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: reading %s: %s", l->t->base.display,
				       l->t->ents[l->idx].name, archive_msg(l->t->a));
	if (n == 0)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s is truncated", l->t->base.display,
				       l->t->ents[l->idx].name);
	l->left -= (uint64_t)n;
	return n;
}

static void live_close(ferry_istream *s)
{
	live_stream *l = (live_stream *)s;
	l->t->live_open = false;
	free(l);
}

static int spool_dir(tar_tree *t, ferry_error *err)
{
	if (t->spool_dir)
		return 0;
	const char *parent = t->spool_parent ? t->spool_parent : "/tmp";
	ferry_tmp_sweep(parent, "spool");
	char *tmpl = ferry_tmp_template(parent, "spool");
	if (!mkdtemp(tmpl)) {
		int e = errno;
		free(tmpl);
		return ferry_error_errno(err, e, "cannot create a spool directory in %s",
					 t->spool_parent ? t->spool_parent : "/tmp");
	}
	t->spool_dir = tmpl;
	return 0;
}

static int read_exact(tar_tree *t, tar_entry *e, void *buf, size_t len, ferry_error *err)
{
	size_t got = 0;
	while (got < len) {
		la_ssize_t n = archive_read_data(t->a, (char *)buf + got, len - got);
		if (n < 0)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: reading %s: %s", t->base.display, e->name,
					       archive_msg(t->a));
		if (n == 0)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s is truncated", t->base.display, e->name);
		got += (size_t)n;
	}
	return 0;
}

/* Keep the data of entry e (just read from the archive) for later. */
static int retain(tar_tree *t, tar_entry *e, ferry_error *err)
{
	if (e->size <= MEM_ENTRY_MAX && t->mem_kept + e->size <= MEM_TOTAL_MAX) {
		e->mem = ferry_xmalloc(e->size ? (size_t)e->size : 1);
		if (read_exact(t, e, e->mem, (size_t)e->size, err) < 0)
			return -1;
		t->mem_kept += (size_t)e->size;
		e->state = ST_MEM;
		return 0;
	}
	if (spool_dir(t, err) < 0)
		return -1;
	char *path = ferry_xasprintf("%s/%u", t->spool_dir, t->spool_seq++);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int en = errno;
		free(path);
		return ferry_error_errno(err, en, "cannot create spool file in %s", t->spool_dir);
	}
	e->spool = path;
	unsigned char *buf = ferry_xmalloc(FERRY_IO_CHUNK);
	uint64_t left = e->size;
	int rc = 0;
	while (left && rc == 0) {
		if (ferry_interrupted) {
			rc = ferry_error_set(err, FERRY_E_FAILED, "interrupted");
			break;
		}
		size_t want = left > FERRY_IO_CHUNK ? FERRY_IO_CHUNK : (size_t)left;
		la_ssize_t n = archive_read_data(t->a, buf, want);
		if (n <= 0) {
			rc = ferry_error_set(err, FERRY_E_FORMAT, "%s: reading %s: %s", t->base.display, e->name,
					     n == 0 ? "entry is truncated" : archive_msg(t->a));
			break;
		}
		rc = ferry_write_all(fd, buf, (size_t)n, path, err);
		left -= (uint64_t)n;
	}
	free(buf);
	if (close(fd) < 0 && rc == 0)
		rc = ferry_error_errno(err, errno, "writing spool file %s", path);
	if (rc == 0)
		e->state = ST_SPOOLED;
	return rc;
}

static bool is_wanted(tar_tree *t, const char *name)
{
	return !t->want_set || ferry_strmap_has(&t->wanted, name);
}

/*
 * Read the next header.  The entry becomes the caller's when its index is
 * returned in *taken (then its data is still unread in the archive);
 * otherwise it has been retained or skipped.  take_names lists the names the
 * caller would take.
 */
static int advance(tar_tree *t, const char *const *take_names, size_t n_take, size_t *taken, bool *got,
		   ferry_error *err)
{
	*got = false;
	if (t->live_open)
		return ferry_error_set(err, FERRY_E_FAILED, "internal: %s read ahead while an entry is open",
				       t->base.display);
	for (;;) {
		struct archive_entry *ae;
		int r = archive_read_next_header(t->a, &ae);
		if (r == ARCHIVE_EOF) {
			t->eof = true;
			return 0;
		}
		if (r < ARCHIVE_WARN)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s", t->base.display, archive_msg(t->a));
		size_t idx = 0;
		bool is_dir;
		if (add_entry(t, ae, &idx, &is_dir, err) < 0)
			return -1;
		if (is_dir)
			continue;
		tar_entry *e = &t->ents[idx];
		if (e->type == ENT_SYMLINK || e->type == ENT_HARDLINK) {
			/* A wanted link makes its target wanted, should the target come later. */
			if (t->want_set && ferry_strmap_has(&t->wanted, e->name))
				ferry_strmap_put(&t->wanted, e->target, (void *)1);
			return 0;
		}
		if (e->type != ENT_REG)
			return 0;
		for (size_t i = 0; i < n_take; i++) {
			if (strcmp(take_names[i], e->name) == 0) {
				*taken = idx;
				*got = true;
				return 0;
			}
		}
		if (is_wanted(t, e->name))
			return retain(t, e, err);
		e->state = ST_SKIPPED;
		return 0;
	}
}

/* ---- opening entries ---- */

typedef enum { RES_FOUND, RES_UNSEEN } res_kind;

/* Follow links from name. On RES_UNSEEN, *final is the first name not seen yet. */
static int resolve(tar_tree *t, const char *name, tar_entry **out, const char **final, res_kind *kind,
		   ferry_error *err)
{
	const char *cur = name;
	for (int depth = 0; depth <= FERRY_LINK_DEPTH; depth++) {
		tar_entry *e = find(t, cur);
		if (!e) {
			*final = cur;
			*kind = RES_UNSEEN;
			return 0;
		}
		if (e->type == ENT_SYMLINK || e->type == ENT_HARDLINK) {
			cur = e->target;
			continue;
		}
		if (e->type != ENT_REG)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s is not a regular file",
					       t->base.display, name);
		*out = e;
		*kind = RES_FOUND;
		return 0;
	}
	return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s: more than %d links in a row (a loop?)",
			       t->base.display, name, FERRY_LINK_DEPTH);
}

static int open_retained(tar_tree *t, tar_entry *e, const char *asked, ferry_istream **out, uint64_t *size,
			 ferry_error *err)
{
	*size = e->size;
	switch (e->state) {
	case ST_INDEXED: {
		if (t->vs) {
			*out = ferry_volset_range(t->vs, e->offset, e->size);
			return 0;
		}
		int fd = dup(t->fd);
		if (fd < 0)
			return ferry_error_errno(err, errno, "%s", t->base.display);
		*out = ferry_istream_fd_range(fd, e->offset, e->size, true);
		return 0;
	}
	case ST_MEM:
		*out = ferry_istream_mem(e->mem, (size_t)e->size);
		return 0;
	case ST_SPOOLED: {
		int fd = open(e->spool, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return ferry_error_errno(err, errno, "cannot reopen spool file %s", e->spool);
		*out = ferry_istream_fd_range(fd, 0, e->size, true);
		return 0;
	}
	default:
		return ferry_error_set(err, FERRY_E_FAILED,
				       "%s: %s was already passed while reading the archive in one pass "
				       "(read it from a seekable, uncompressed file instead)",
				       t->base.display, asked);
	}
}

static int tar_open_any(ferry_tree *tr, const char *const *paths, size_t n, size_t *which, ferry_istream **out,
			uint64_t *size, ferry_error *err)
{
	tar_tree *t = (tar_tree *)tr;
	const char **pending = ferry_xcalloc(n ? n : 1, sizeof(char *));
	size_t *pending_of = ferry_xcalloc(n ? n : 1, sizeof(size_t));
	int rc = -1;
	for (;;) {
		size_t n_pending = 0;
		for (size_t i = 0; i < n; i++) {
			tar_entry *e = NULL;
			const char *final = NULL;
			res_kind kind;
			if (resolve(t, paths[i], &e, &final, &kind, err) < 0)
				goto out;
			if (kind == RES_FOUND && e->state != ST_UNREAD) {
				*which = i;
				rc = open_retained(t, e, paths[i], out, size, err);
				goto out;
			}
			if (kind == RES_UNSEEN) {
				pending_of[n_pending] = i;
				pending[n_pending++] = final;
			}
		}
		if (t->eof || !t->a || n_pending == 0) {
			rc = ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no entry %s in the archive", t->base.display,
					     n ? paths[0] : "?");
			goto out;
		}
		size_t idx;
		bool got;
		if (advance(t, pending, n_pending, &idx, &got, err) < 0)
			goto out;
		if (!got)
			continue;
		for (size_t k = 0; k < n_pending; k++) {
			if (strcmp(pending[k], t->ents[idx].name) == 0) {
				*which = pending_of[k];
				break;
			}
		}
		tar_entry *e = &t->ents[idx];
		e->state = ST_CONSUMED;
		live_stream *l = ferry_xcalloc(1, sizeof(*l));
		l->base.read = live_read;
		l->base.close = live_close;
		l->t = t;
		l->idx = idx;
		l->left = e->size;
		t->live_open = true;
		*out = &l->base;
		*size = e->size;
		rc = 0;
		goto out;
	}
out:
	free(pending);
	free(pending_of);
	return rc;
}

static int tar_open(ferry_tree *tr, const char *path, ferry_istream **out, uint64_t *size, ferry_error *err)
{
	size_t which;
	return tar_open_any(tr, &path, 1, &which, out, size, err);
}

static int tar_stat(ferry_tree *tr, const char *path, bool read_ahead, bool *exists, uint64_t *size,
		    ferry_error *err)
{
	tar_tree *t = (tar_tree *)tr;
	*exists = false;
	*size = 0;
	for (;;) {
		tar_entry *e = NULL;
		const char *final = NULL;
		res_kind kind;
		if (resolve(t, path, &e, &final, &kind, err) < 0)
			return -1;
		if (kind == RES_FOUND) {
			*exists = true;
			*size = e->size;
			return 0;
		}
		if (t->eof || !t->a || !read_ahead)
			return 0;
		size_t idx;
		bool got;
		if (advance(t, NULL, 0, &idx, &got, err) < 0)
			return -1;
	}
}

static const char *tar_canonical(ferry_tree *tr, const char *path)
{
	tar_tree *t = (tar_tree *)tr;
	tar_entry *e = NULL;
	const char *final = NULL;
	res_kind kind;
	/* A path that does not resolve names itself: the read that follows says what is wrong. */
	ferry_error unresolved = FERRY_ERROR_INIT;
	if (resolve(t, path, &e, &final, &kind, &unresolved) < 0 || kind != RES_FOUND)
		return path;
	return e->name;
}

static void tar_want(ferry_tree *tr, const char *const *paths, size_t n)
{
	tar_tree *t = (tar_tree *)tr;
	t->want_set = true;
	for (size_t i = 0; i < n; i++) {
		/* Want the name and every link target along its chain that is known. */
		const char *cur = paths[i];
		for (int d = 0; d <= FERRY_LINK_DEPTH && cur; d++) {
			ferry_strmap_put(&t->wanted, cur, (void *)1);
			tar_entry *e = find(t, cur);
			cur = (e && (e->type == ENT_SYMLINK || e->type == ENT_HARDLINK)) ? e->target : NULL;
		}
	}
}

static int tar_finish(ferry_tree *tr, ferry_error *err)
{
	tar_tree *t = (tar_tree *)tr;
	t->want_set = true; /* keep nothing more */
	ferry_strmap_free(&t->wanted);
	while (t->a && !t->eof) {
		size_t idx;
		bool got;
		if (advance(t, NULL, 0, &idx, &got, err) < 0)
			return -1;
	}
	return 0;
}

static void remove_spool(tar_tree *t)
{
	if (!t->spool_dir)
		return;
	for (size_t i = 0; i < t->n; i++) {
		if (t->ents[i].spool)
			unlink(t->ents[i].spool);
	}
	rmdir(t->spool_dir);
}

static void tar_free(ferry_tree *tr)
{
	tar_tree *t = (tar_tree *)tr;
	remove_spool(t);
	for (size_t i = 0; i < t->n; i++) {
		free(t->ents[i].name);
		free(t->ents[i].target);
		free(t->ents[i].mem);
		free(t->ents[i].spool);
	}
	free(t->ents);
	ferry_strmap_free(&t->byname);
	ferry_strmap_free(&t->wanted);
	if (t->a)
		archive_read_free(t->a);
	free(t->in_buf); /* (after the reader that may still point into it) */
	if (t->fd >= 0)
		close(t->fd);
	ferry_volset_free(t->vs);
	free(t->spool_parent);
	free(t->spool_dir);
	free(t->base.display);
	free(t);
}

/* Only an indexed entry lies where the tree's own fd can point at it. */
static int tar_locate(ferry_tree *tr, const char *path, int *fd, uint64_t *offset, uint64_t *size,
		      ferry_error *err)
{
	tar_tree *t = (tar_tree *)tr;
	tar_entry *e = NULL;
	const char *final = NULL;
	res_kind kind;
	*fd = -1;
	if (resolve(t, path, &e, &final, &kind, err) < 0)
		return -1;
	if (kind != RES_FOUND)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no entry %s in the archive", tr->display, path);
	if (e->state != ST_INDEXED)
		return ferry_error_set(err, FERRY_E_FAILED, "%s: %s is not in an uncompressed tar file", tr->display,
				       path);
	*size = e->size;
	if (t->vs)
		return ferry_volset_locate(t->vs, e->offset, e->size, fd, offset, err);
	*fd = fcntl(t->fd, F_DUPFD_CLOEXEC, 0);
	if (*fd < 0)
		return ferry_error_errno(err, errno, "%s", tr->display);
	*offset = e->offset;
	return 0;
}

static void tar_where(ferry_tree *tr, const char *path, char *buf, size_t len)
{
	tar_tree *t = (tar_tree *)tr;
	tar_entry *e = NULL;
	const char *final = NULL;
	res_kind kind;
	ferry_error ignored = FERRY_ERROR_INIT;
	if (!t->vs || resolve(t, path, &e, &final, &kind, &ignored) < 0 || kind != RES_FOUND ||
	    e->state != ST_INDEXED)
		return;
	size_t first = ferry_volset_which(t->vs, e->offset);
	size_t last = ferry_volset_which(t->vs, e->offset + (e->size ? e->size - 1 : 0));
	if (first == last)
		snprintf(buf, len, "its bytes lie in volume %s", ferry_volset_path(t->vs, first));
	else
		snprintf(buf, len, "its bytes lie in volumes %s to %s", ferry_volset_path(t->vs, first),
			 ferry_volset_path(t->vs, last));
}

static const ferry_tree_ops tar_ops = {
	.open = tar_open,
	.stat = tar_stat,
	.open_any = tar_open_any,
	.want = tar_want,
	.canonical = tar_canonical,
	.finish = tar_finish,
	.free = tar_free,
	.locate = tar_locate,
	.where = tar_where,
};

/* A regular file that starts like a plain tar (not a compressed stream)? */
static bool indexable(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	unsigned char m[6] = {0};
	ssize_t n = pread(fd, m, sizeof(m), 0);
	if (n < 6)
		return true; /* too short to be compressed; the tar reader will judge it */
	if (m[0] == 0x1f && m[1] == 0x8b)
		return false; /* gzip */
	if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
		return false; /* zstd */
	if (m[0] == 0xfd && memcmp(m + 1, "7zXZ", 4) == 0)
		return false; /* xz */
	if (m[0] == 'B' && m[1] == 'Z' && m[2] == 'h')
		return false; /* bzip2 */
	return true;
}

/* Where the reader is, for a damaged set: which volume. */
static const char *where(tar_tree *t)
{
	static __thread char buf[FERRY_PATH_MAX + 64];
	if (!t->vs)
		return "";
	uint64_t pos = t->a ? (uint64_t)archive_filter_bytes(t->a, 0) : t->vs_pos;
	snprintf(buf, sizeof(buf), " (at byte %llu of the set, in volume %s)", (unsigned long long)pos,
		 ferry_volset_path(t->vs, ferry_volset_which(t->vs, pos)));
	return buf;
}

static int build_index(tar_tree *t, ferry_error *err)
{
	struct stat st;
	if (t->vs)
		st.st_size = (off_t)ferry_volset_total(t->vs);
	else if (fstat(t->fd, &st) < 0)
		return ferry_error_errno(err, errno, "%s", t->base.display);
	for (;;) {
		struct archive_entry *ae;
		int r = archive_read_next_header(t->a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s%s", t->base.display, archive_msg(t->a),
					       where(t));
		size_t idx;
		bool is_dir;
		if (add_entry(t, ae, &idx, &is_dir, err) < 0)
			return -1;
		if (is_dir)
			continue;
		tar_entry *e = &t->ents[idx];
		/* After the header, the format reader's position is where the data starts. */
		e->offset = (uint64_t)archive_filter_bytes(t->a, 0);
		e->state = e->type == ENT_REG ? ST_INDEXED : ST_SKIPPED;
		if (e->type == ENT_REG && e->offset + e->size > (uint64_t)st.st_size)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s is truncated (archive ends early)%s",
					       t->base.display, e->name, where(t));
		if (archive_read_data_skip(t->a) < ARCHIVE_WARN)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s", t->base.display, archive_msg(t->a));
	}
	archive_read_free(t->a);
	t->a = NULL;
	t->eof = true;
	return 0;
}

/*
 * One-pass input (a pipe, a FIFO, stdin, a compressed file) is read here, not
 * by libarchive, which retries a read that a signal cut short: a signal must
 * end a run whose writer has stalled, and may be taken by another thread.
 */
/* A volume set, read in order (one pass, or while indexing). */
static la_ssize_t set_read(struct archive *a, void *ud, const void **buf)
{
	tar_tree *t = ud;
	if (ferry_interrupted) {
		archive_set_error(a, EINTR, "interrupted");
		return -1;
	}
	ferry_error e = FERRY_ERROR_INIT;
	ssize_t n = ferry_volset_pread(t->vs, t->in_buf, FERRY_IO_CHUNK, t->vs_pos, &e);
	if (n < 0) {
		archive_set_error(a, EIO, "%s", e.msg);
		return -1;
	}
	t->vs_pos += (uint64_t)n;
	*buf = t->in_buf;
	return n;
}

static la_int64_t set_skip(struct archive *a, void *ud, la_int64_t request)
{
	(void)a;
	tar_tree *t = ud;
	uint64_t left = ferry_volset_total(t->vs) - t->vs_pos;
	uint64_t n = request < 0 ? 0 : (uint64_t)request > left ? left : (uint64_t)request;
	t->vs_pos += n;
	return (la_int64_t)n;
}

static la_ssize_t pipe_read(struct archive *a, void *ud, const void **buf)
{
	tar_tree *t = ud;
	for (;;) {
		if (ferry_interrupted) {
			archive_set_error(a, EINTR, "interrupted");
			return -1;
		}
		struct pollfd p = {.fd = t->fd, .events = POLLIN};
		int pr = poll(&p, 1, PIPE_POLL_MS);
		if (pr == 0 || (pr < 0 && errno == EINTR))
			continue;
		ssize_t n = read(t->fd, t->in_buf, FERRY_IO_CHUNK);
		if (n >= 0) {
			*buf = t->in_buf;
			return n;
		}
		if (errno != EINTR && errno != EAGAIN) {
			archive_set_error(a, errno, "read error");
			return -1;
		}
	}
}

static bool vs_indexable(ferry_volset *vs)
{
	unsigned char m[6] = {0};
	ferry_error e = FERRY_ERROR_INIT;
	ssize_t n = ferry_volset_pread(vs, m, sizeof(m), 0, &e);
	if (n < 6)
		return true;
	return !(m[0] == 0x1f && m[1] == 0x8b) && !(m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) &&
	       !(m[0] == 0xfd && memcmp(m + 1, "7zXZ", 4) == 0) && !(m[0] == 'B' && m[1] == 'Z' && m[2] == 'h');
}

/* fd (or vs when fd is -1) is taken over. */
static int open_tar(int fd, ferry_volset *vs, const char *display, const char *spool_parent, ferry_tree **out,
		    ferry_error *err)
{
	*out = NULL;
	tar_tree *t = ferry_xcalloc(1, sizeof(*t));
	t->base.ops = &tar_ops;
	t->base.display = ferry_xstrdup(display);
	t->fd = fd;
	t->vs = vs;
	t->spool_parent = ferry_xstrdup(spool_parent);
	bool indexed = vs ? vs_indexable(vs) : indexable(fd);
	t->base.one_pass = !indexed;
	t->base.concurrent = indexed; /* retained entries are read with pread, each stream at its own offset */
	t->a = archive_read_new();
	archive_read_support_format_tar(t->a);
	archive_read_support_format_gnutar(t->a);
	if (indexed)
		archive_read_support_filter_none(t->a);
	else
		archive_read_support_filter_all(t->a);
	int r;
	/* Indexing reads only headers: a small block size keeps its reads short. */
	if (vs) {
		t->in_buf = ferry_xmalloc(FERRY_IO_CHUNK);
		archive_read_set_callback_data(t->a, t);
		archive_read_set_read_callback(t->a, set_read);
		if (indexed)
			archive_read_set_skip_callback(t->a, set_skip);
		r = archive_read_open1(t->a);
	} else if (indexed) {
		r = archive_read_open_fd(t->a, fd, 1 << 16);
	} else {
		t->in_buf = ferry_xmalloc(FERRY_IO_CHUNK);
		r = archive_read_open2(t->a, t, NULL, pipe_read, NULL, NULL);
	}
	if (r != ARCHIVE_OK) {
		ferry_error_set(err, FERRY_E_FORMAT, "%s: %s", display, archive_msg(t->a));
		tar_free(&t->base);
		return -1;
	}
	if (indexed && build_index(t, err) < 0) {
		tar_free(&t->base);
		return -1;
	}
	*out = &t->base;
	return 0;
}

int ferry_tree_open_tar(int fd, const char *display, const char *spool_parent, ferry_tree **out,
			ferry_error *err)
{
	return open_tar(fd, NULL, display, spool_parent, out, err);
}

int ferry_tree_open_volumes(ferry_volset *vs, const char *display, const char *spool_parent, ferry_tree **out,
			    ferry_error *err)
{
	return open_tar(-1, vs, display, spool_parent, out, err);
}
