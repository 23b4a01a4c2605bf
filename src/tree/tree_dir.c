/*
 * tree_dir.c - a directory as a tree (OCI image layouts on disk).
 *
 * Every open goes through openat2(RESOLVE_BENEATH) on the layout's own
 * directory fd, so neither a crafted name nor a symlink planted inside the
 * layout can reach a file outside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tree.h"
#include "util.h"

typedef struct dir_tree {
	ferry_tree base;
	int dirfd;
} dir_tree;

/*
 * Without openat2 (kernels before 5.6, valgrind, some seccomp profiles):
 * walk the normalised name one component at a time, refusing to follow a
 * symlink anywhere, which is stricter than RESOLVE_BENEATH and as safe.
 */
static int open_walk(int dirfd, const char *path)
{
	char *copy = ferry_xstrdup(path);
	int cur = dirfd;
	char *save = NULL;
	char *comp = strtok_r(copy, "/", &save);
	int fd = -1;
	while (comp) {
		char *next = strtok_r(NULL, "/", &save);
		if (!strcmp(comp, "..") || !strcmp(comp, ".")) {
			errno = EXDEV;
			fd = -1;
			break;
		}
		fd = openat(cur, comp, (next ? O_DIRECTORY | O_PATH : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
		if (cur != dirfd) {
			int e = errno;
			close(cur);
			errno = e;
		}
		if (fd < 0 || !next)
			break;
		cur = fd;
		comp = next;
	}
	free(copy);
	return fd;
}

static int open_beneath(int dirfd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		fd = open_walk(dirfd, path);
	return fd;
}

/* Open path as a regular file beneath the layout: *fd and its size. */
static int open_regular(ferry_tree *t, const char *path, int *fd_out, uint64_t *size, ferry_error *err)
{
	dir_tree *d = (dir_tree *)t;
	int fd = open_beneath(d->dirfd, path);
	if (fd < 0) {
		if (errno == ENOENT)
			return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: %s does not exist", t->display, path);
		if (errno == EXDEV || errno == ELOOP || errno == ENOTDIR)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s leads outside the layout (through a symlink)",
					       t->display, path);
		return ferry_error_errno(err, errno, "%s: cannot open %s", t->display, path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: %s is not a regular file", t->display, path);
	}
	*size = (uint64_t)st.st_size;
	*fd_out = fd;
	return 0;
}

static int dir_open(ferry_tree *t, const char *path, ferry_istream **out, uint64_t *size, ferry_error *err)
{
	int fd;
	if (open_regular(t, path, &fd, size, err) < 0)
		return -1;
	*out = ferry_istream_fd_range(fd, 0, *size, true);
	return 0;
}

static int dir_stat(ferry_tree *t, const char *path, bool read_ahead, bool *exists, uint64_t *size,
		    ferry_error *err)
{
	(void)read_ahead, (void)err;
	dir_tree *d = (dir_tree *)t;
	int fd = open_beneath(d->dirfd, path);
	struct stat st;
	*exists = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	*size = *exists ? (uint64_t)st.st_size : 0;
	if (fd >= 0)
		close(fd);
	return 0;
}

static int dir_open_any(ferry_tree *t, const char *const *paths, size_t n, size_t *which, ferry_istream **out,
			uint64_t *size, ferry_error *err)
{
	if (n == 0)
		return ferry_error_set(err, FERRY_E_FAILED, "internal: open_any with no paths");
	*which = 0;
	return dir_open(t, paths[0], out, size, err);
}

static void dir_want(ferry_tree *t, const char *const *paths, size_t n)
{
	(void)t, (void)paths, (void)n;
}

static int dir_finish(ferry_tree *t, ferry_error *err)
{
	(void)t, (void)err;
	return 0;
}

static void dir_free(ferry_tree *t)
{
	dir_tree *d = (dir_tree *)t;
	if (d->dirfd >= 0)
		close(d->dirfd);
	free(t->display);
	free(d);
}

static int dir_locate(ferry_tree *t, const char *path, int *fd, uint64_t *offset, uint64_t *size,
		      ferry_error *err)
{
	*fd = -1;
	*offset = 0;
	return open_regular(t, path, fd, size, err);
}

static const ferry_tree_ops dir_ops = {
	.open = dir_open,
	.stat = dir_stat,
	.open_any = dir_open_any,
	.want = dir_want,
	.finish = dir_finish,
	.free = dir_free,
	.locate = dir_locate,
};

int ferry_tree_open_dir(const char *dir, ferry_tree **out, ferry_error *err)
{
	*out = NULL;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, errno, "cannot open directory %s", dir);
	dir_tree *d = ferry_xcalloc(1, sizeof(*d));
	d->base.ops = &dir_ops;
	d->base.display = ferry_xstrdup(dir);
	d->base.concurrent = true; /* every stream has a file descriptor of its own */
	d->dirfd = fd;
	*out = &d->base;
	return 0;
}
