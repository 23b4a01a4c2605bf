/*
 * tree.h - a read-only namespace of named entries: what a format reader
 * reads from.  An OCI layout directory, an indexed seekable tar and a tar
 * read in one pass from a pipe or through a decompressor are all trees, so
 * each format reader is written once against this interface (the way
 * libgit2's odb backends sit behind one object database).
 *
 * Names are archive paths, normalised by ferry_path_normalize(): relative,
 * no "." or ".." components, no empty components.  A tree never touches the
 * filesystem outside itself: links inside an archive resolve only to other
 * entries of the same archive.
 */
#ifndef FERRY_TREE_H
#define FERRY_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "stream.h"

/* Bounds on hostile archives. */
#define FERRY_PATH_MAX 4096    /* longest entry name accepted */
#define FERRY_LINK_DEPTH 16    /* longest chain of links followed */
#define FERRY_ENTRIES_MAX 1000000

typedef struct ferry_tree ferry_tree;

typedef struct ferry_tree_ops {
	/* Open the entry called path (links followed). FERRY_E_NOTFOUND if absent. */
	int (*open)(ferry_tree *t, const char *path, ferry_istream **out, uint64_t *size, ferry_error *err);
	/*
	 * Does path exist, and how big is it (links followed)?  A one-pass tree
	 * reads ahead to answer only when read_ahead is set; otherwise it answers
	 * from the entries seen so far.
	 */
	int (*stat)(ferry_tree *t, const char *path, bool read_ahead, bool *exists, uint64_t *size,
		    ferry_error *err);
	/*
	 * Open whichever of paths[0..n) is cheapest to read now, setting *which.
	 * A one-pass tree returns the next one in archive order, so blobs stream
	 * straight through without being spooled.
	 */
	int (*open_any)(ferry_tree *t, const char *const *paths, size_t n, size_t *which, ferry_istream **out,
			uint64_t *size, ferry_error *err);
	/*
	 * From now on only these entries (and the targets of links among them)
	 * will be opened; a one-pass tree stops keeping the others.
	 */
	void (*want)(ferry_tree *t, const char *const *paths, size_t n);
	/*
	 * The name path finally refers to, links followed, as far as the tree
	 * knows now (optional; NULL or an unknown chain: path itself).  Two paths
	 * to one entry then count as one blob.  The result lives as long as the tree.
	 */
	const char *(*canonical)(ferry_tree *t, const char *path);
	/* Read to the end, checking the rest of the archive is well formed. */
	int (*finish)(ferry_tree *t, ferry_error *err);
	void (*free)(ferry_tree *t);
	/*
	 * Where path's bytes lie in a file, for serving them with sendfile
	 * (optional; NULL: nowhere one can point at).  *fd is a new descriptor
	 * the caller closes; the bytes are [*offset, *offset + *size) of it.
	 */
	int (*locate)(ferry_tree *t, const char *path, int *fd, uint64_t *offset, uint64_t *size,
		      ferry_error *err);
	/*
	 * Where path's bytes lie, for a message about bad ones (optional): a
	 * volume set names the volumes, so only those need copying again.
	 * Writes "" into buf when there is nothing more to say than the tree's name.
	 */
	void (*where)(ferry_tree *t, const char *path, char *buf, size_t len);
} ferry_tree_ops;

struct ferry_tree {
	const ferry_tree_ops *ops;
	char *display; /* what to call it in messages (owned) */
	bool one_pass; /* entries can only be read in archive order */
	/*
	 * Streams opened from it may be read by several threads at once (each
	 * its own stream; open, close and the tree itself stay single-threaded).
	 */
	bool concurrent;
};

/*
 * Normalise an archive path: strips leading "./" and "/" is refused, "."
 * components dropped, ".." refused.  *out is allocated.  FERRY_E_FORMAT with
 * a message naming the entry on failure.
 */
int ferry_path_normalize(const char *in, char **out, ferry_error *err);
/* Join a relative link target onto the directory of the link's own path. */
int ferry_path_resolve_link(const char *link_path, const char *target, char **out, ferry_error *err);

/* OCI layout directory (or any directory). dirfd-based; nothing outside dir is opened. */
int ferry_tree_open_dir(const char *dir, ferry_tree **out, ferry_error *err);

/*
 * A tar archive: plain, or gzip/zstd/xz/bzip2 compressed as a whole (detected
 * by content).  fd is taken over.  A plain tar in a regular file is indexed
 * first and each entry read where it lies; anything else is read in one pass,
 * spooling entries that are needed later into a directory created under
 * spool_parent (removed when the tree is freed).
 */
int ferry_tree_open_tar(int fd, const char *display, const char *spool_parent, ferry_tree **out,
			ferry_error *err);

/*
 * A volume set (volumes.h: NAME.001, NAME.002...) read as the one tar
 * archive it is, volume by volume, with nothing reassembled on disk; vs is
 * taken over.  Indexed when the set is a plain tar, else one pass.
 */
struct ferry_volset;
int ferry_tree_open_volumes(struct ferry_volset *vs, const char *display, const char *spool_parent,
			    ferry_tree **out, ferry_error *err);

/* Read a whole (small) entry into memory: at most max bytes, else FERRY_E_LIMIT. *buf is malloc'd. */
int ferry_tree_read_all(ferry_tree *t, const char *path, size_t max, unsigned char **buf, size_t *len,
			ferry_error *err);
/*
 * The entry path finally names (ops->canonical, or path itself when the
 * tree has none): a symlinked copy of a layer is then the same blob.
 */
const char *ferry_tree_canonical(ferry_tree *t, const char *path);
void ferry_tree_free(ferry_tree *t); /* NULL-safe */
/* ops->where, or "" when the tree has none. */
void ferry_tree_where(ferry_tree *t, const char *path, char *buf, size_t len);
/* ops->locate, or FERRY_E_FAILED naming the tree when it has none (one-pass, registry). */
int ferry_tree_locate(ferry_tree *t, const char *path, int *fd, uint64_t *offset, uint64_t *size,
		      ferry_error *err);

#endif
