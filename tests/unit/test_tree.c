/*
 * test_tree.c - archive paths and trees.
 *
 * ferry_path_normalize and ferry_path_resolve_link on tables of names;
 * ferry_tree_open_tar on tars built here with libarchive, read indexed (a
 * plain tar file) and in one pass (the same tar gzipped, and through a pipe):
 * open, stat, open_any order, want(), symlinks and hardlinks, spooling and
 * its clean-up; and the hostile cases (link loops, duplicate entries, ".."
 * and absolute names, escaping links, truncated archives).  Finally
 * ferry_tree_open_dir must not be led outside its directory by a symlink,
 * with openat2() and without it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scratch.h"
#include "tree.h"
#include "util.h"

/* ---- scratch space ---- */

static char *tmp_root; /* a private directory for this run (owned) */
static unsigned tmp_seq;

static int group_setup(void **state)
{
	(void)state;
	tmp_root = scratch_make("test_tree");
	return tmp_root ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return scratch_remove(tmp_root);
}

/* A fresh path (or directory, when dir) under tmp_root; caller frees. */
static char *scratch(const char *what, bool dir)
{
	char *p = ferry_xasprintf("%s/%u-%s", tmp_root, tmp_seq++, what);
	if (dir)
		assert_int_equal(mkdir(p, 0700), 0);
	return p;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* How many things are there in parent (a directory private to one test: only spools)? */
static int count_spools(const char *parent)
{
	DIR *d = opendir(parent);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* ---- building tars ---- */

typedef enum { T_FILE, T_DIR, T_SYMLINK, T_HARDLINK } tkind;

typedef struct tent {
	const char *name;
	tkind kind;
	const char *data; /* file content, or link target */
	size_t len;       /* file length; 0 means strlen(data) */
} tent;

#define BIG_LEN (300u * 1024) /* over the in-memory retention size: gets spooled */

static unsigned char *big_data(void)
{
	static unsigned char *big;
	if (!big) {
		big = ferry_xmalloc(BIG_LEN);
		for (size_t i = 0; i < BIG_LEN; i++)
			big[i] = (unsigned char)(i * 7 % 251);
	}
	return big;
}

/* A tar of the entries, gzip-compressed when gz; *len its size. Caller frees. */
static unsigned char *tar_build(const tent *ents, size_t n, bool gz, size_t *len)
{
	size_t cap = 4u << 20;
	unsigned char *buf = ferry_xmalloc(cap);
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (gz)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		const tent *t = &ents[i];
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, t->name);
		archive_entry_set_mtime(e, 1704067200, 0);
		size_t dlen = 0;
		switch (t->kind) {
		case T_FILE:
			dlen = t->len ? t->len : strlen(t->data);
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_size(e, (la_int64_t)dlen);
			break;
		case T_DIR:
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0755);
			break;
		case T_SYMLINK:
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, t->data);
			break;
		case T_HARDLINK:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_hardlink(e, t->data);
			archive_entry_set_size(e, 0);
			break;
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (dlen)
			assert_int_equal(archive_write_data(a, t->data, dlen), (la_ssize_t)dlen);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return buf;
}

/* Write the tar (or its first cut bytes, when cut) to a new scratch file; caller frees the path. */
static char *tar_file(const tent *ents, size_t n, bool gz, size_t cut)
{
	size_t len;
	unsigned char *buf = tar_build(ents, n, gz, &len);
	char *path = scratch(gz ? "t.tar.gz" : "t.tar", false);
	assert_true(cut <= len);
	write_file(path, buf, cut ? cut : len);
	free(buf);
	return path;
}

static int open_tar_path(const char *path, const char *spool, ferry_tree **t, ferry_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return ferry_tree_open_tar(fd, path, spool, t, err);
}

/* Read a whole entry; fails the test if it cannot. Caller frees. */
static unsigned char *must_read(ferry_tree *t, const char *name, size_t *len)
{
	unsigned char *buf;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_tree_read_all(t, name, 1u << 20, &buf, len, &err) < 0)
		fail_msg("reading %s: %s", name, err.msg);
	return buf;
}

static void assert_entry(ferry_tree *t, const char *name, const char *want)
{
	size_t len;
	unsigned char *buf = must_read(t, name, &len);
	if (len != strlen(want) || memcmp(buf, want, len) != 0)
		fail_msg("%s: got \"%.*s\", want \"%s\"", name, (int)len, buf, want);
	free(buf);
}

static void assert_big(ferry_tree *t, const char *name)
{
	size_t len;
	unsigned char *buf = must_read(t, name, &len);
	assert_int_equal(len, BIG_LEN);
	assert_memory_equal(buf, big_data(), BIG_LEN);
	free(buf);
}

/* The entry cannot be opened, with this code (0: any). */
static void assert_no_entry(ferry_tree *t, const char *name, ferry_code code)
{
	ferry_istream *in = NULL;
	uint64_t size;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = t->ops->open(t, name, &in, &size, &err);
	if (rc == 0) {
		ferry_istream_close(in);
		fail_msg("%s could be opened", name);
	}
	if (code && err.code != code)
		fail_msg("%s: code %d, want %d (%s)", name, err.code, code, err.msg);
	assert_true(err.msg[0] != '\0');
}

/* The archive most tests read. */
static tent main_ents[] = {
	{"a-link", T_SYMLINK, "z-last.txt", 0}, /* a link before its target */
	{"big.bin", T_FILE, NULL, BIG_LEN},
	{"dir/", T_DIR, NULL, 0},
	{"dir/file.txt", T_FILE, "hello", 0},
	{"dir/link", T_SYMLINK, "file.txt", 0},
	{"top-link", T_SYMLINK, "dir/link", 0}, /* a link to a link */
	{"hard", T_HARDLINK, "dir/file.txt", 0},
	{"./dot/x", T_FILE, "dot", 0},
	{"dir/up", T_SYMLINK, "../z-last.txt", 0},
	{"z-last.txt", T_FILE, "the end", 0},
};
#define N_MAIN (sizeof(main_ents) / sizeof(main_ents[0]))

static char *main_tar(bool gz)
{
	main_ents[1].data = (const char *)big_data();
	return tar_file(main_ents, N_MAIN, gz, 0);
}

/* ---- paths ---- */

static void test_path_normalize(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} good[] = {
		{"a", "a"},
		{"a/b", "a/b"},
		{"./a/b", "a/b"},
		{"././a", "a"},
		{"a//b", "a/b"},
		{"a/./b", "a/b"},
		{"a/b/", "a/b"},
		{"a/b/.", "a/b"},
		{"..a/b..", "..a/b.."},
		{"a/...", "a/..."},
		{"sha256:abc", "sha256:abc"},
		{"blobs/sha256/0123", "blobs/sha256/0123"},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ferry_error err = FERRY_ERROR_INIT;
		char *out;
		if (ferry_path_normalize(good[i].in, &out, &err) < 0)
			fail_msg("\"%s\" refused: %s", good[i].in, err.msg);
		assert_string_equal(out, good[i].out);
		free(out);
	}
	static const char *const bad[] = {
		"", ".", "./", "/", "//", "/a", "/etc/passwd", "..", "../a", "a/..", "a/../b", "a/b/../../..", "./..",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_error err = FERRY_ERROR_INIT;
		char *out = (char *)"unchanged";
		if (ferry_path_normalize(bad[i], &out, &err) == 0)
			fail_msg("\"%s\" accepted as \"%s\"", bad[i], out);
		assert_null(out);
		assert_int_equal(err.code, FERRY_E_FORMAT);
	}
	/* The longest name accepted, and one byte more. */
	char *name = ferry_xmalloc(FERRY_PATH_MAX + 2);
	memset(name, 'a', FERRY_PATH_MAX + 1);
	name[FERRY_PATH_MAX] = '\0';
	ferry_error err = FERRY_ERROR_INIT;
	char *out;
	assert_int_equal(ferry_path_normalize(name, &out, &err), 0);
	assert_int_equal(strlen(out), FERRY_PATH_MAX);
	free(out);
	name[FERRY_PATH_MAX] = 'a';
	name[FERRY_PATH_MAX + 1] = '\0';
	assert_int_equal(ferry_path_normalize(name, &out, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	free(name);
	/* The message names the entry. */
	assert_int_equal(ferry_path_normalize("x/../y", &out, &err), -1);
	assert_non_null(strstr(err.msg, "x/../y"));
}

static void test_path_resolve_link(void **state)
{
	(void)state;
	static const struct {
		const char *link, *target, *out;
	} good[] = {
		{"a/b/link", "c", "a/b/c"},
		{"a/b/link", "./c", "a/b/c"},
		{"a/b/link", "../c", "a/c"},
		{"a/b/link", "../../c", "c"},
		{"a/b/link", "..", "a"},
		{"a/b/link", "c//d/", "a/b/c/d"},
		{"a/b/link", "../../x/../y", "y"},
		{"link", "target", "target"},
		{"link", "./d/target", "d/target"},
		/* what docker save writes for a repeated layer */
		{"d0847cb8/layer.tar", "../5d47b259/layer.tar", "5d47b259/layer.tar"},
		/* and podman */
		{"c57f2e7c/layer.tar", "../3f004198.tar", "3f004198.tar"},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ferry_error err = FERRY_ERROR_INIT;
		char *out;
		if (ferry_path_resolve_link(good[i].link, good[i].target, &out, &err) < 0)
			fail_msg("%s -> %s refused: %s", good[i].link, good[i].target, err.msg);
		if (strcmp(out, good[i].out) != 0)
			fail_msg("%s -> %s gave %s, want %s", good[i].link, good[i].target, out, good[i].out);
		free(out);
	}
	static const struct {
		const char *link, *target;
	} bad[] = {
		{"link", "../x"},             /* above the root */
		{"a/b/link", "../../../c"},   /* above the root */
		{"a/link", "../../a/x"},      /* leaves the archive and comes back: still refused */
		{"a/link", "/etc/passwd"},    /* absolute */
		{"a/link", "/"},
		{"a/link", ".."},             /* the root itself */
		{"link", "."},
		{"a/b/link", "c/../../.."},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_error err = FERRY_ERROR_INIT;
		char *out = (char *)"unchanged";
		if (ferry_path_resolve_link(bad[i].link, bad[i].target, &out, &err) == 0)
			fail_msg("%s -> %s accepted as %s", bad[i].link, bad[i].target, out);
		assert_null(out);
		assert_int_equal(err.code, FERRY_E_FORMAT);
		assert_non_null(strstr(err.msg, bad[i].link));
	}
}

/* ---- indexed tars ---- */

static void test_tar_indexed(void **state)
{
	(void)state;
	char *path = main_tar(false);
	char *spool = scratch("spool", true);
	ferry_tree *t;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(open_tar_path(path, spool, &t, &err), 0);
	assert_false(t->one_pass);
	assert_string_equal(t->display, path);

	assert_entry(t, "dir/file.txt", "hello");
	assert_entry(t, "dir/link", "hello");
	assert_entry(t, "top-link", "hello");
	assert_entry(t, "hard", "hello");
	assert_entry(t, "dot/x", "dot");
	assert_entry(t, "a-link", "the end");
	assert_entry(t, "dir/up", "the end");
	assert_entry(t, "z-last.txt", "the end");
	assert_big(t, "big.bin");
	assert_entry(t, "dir/file.txt", "hello"); /* any order, any number of times */

	bool exists;
	uint64_t size;
	assert_int_equal(t->ops->stat(t, "top-link", false, &exists, &size, &err), 0);
	assert_true(exists);
	assert_int_equal(size, 5);
	assert_int_equal(t->ops->stat(t, "big.bin", false, &exists, &size, &err), 0);
	assert_true(exists);
	assert_int_equal(size, BIG_LEN);
	assert_int_equal(t->ops->stat(t, "nope", true, &exists, &size, &err), 0);
	assert_false(exists);
	assert_int_equal(t->ops->stat(t, "dir", true, &exists, &size, &err), 0);
	assert_false(exists); /* directories are not entries */

	assert_no_entry(t, "nope", FERRY_E_NOTFOUND);
	assert_no_entry(t, "dir", FERRY_E_NOTFOUND);

	/* Over the caller's limit: FERRY_E_LIMIT, nothing returned. */
	unsigned char *buf = (unsigned char *)"x";
	size_t len = 99;
	assert_int_equal(ferry_tree_read_all(t, "big.bin", 1024, &buf, &len, &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
	assert_null(buf);
	assert_int_equal(len, 0);

	/* open_any skips names that are not there */
	const char *paths[] = {"nope", "dir/file.txt"};
	size_t which = 99;
	ferry_istream *in;
	assert_int_equal(t->ops->open_any(t, paths, 2, &which, &in, &size, &err), 0);
	assert_int_equal(which, 1);
	assert_int_equal(size, 5);
	char b5[8];
	assert_int_equal(ferry_read(in, b5, sizeof(b5), &err), 5);
	assert_memory_equal(b5, "hello", 5);
	assert_int_equal(ferry_read(in, b5, sizeof(b5), &err), 0);
	ferry_istream_close(in);

	/* Two entries open at once read independently. */
	ferry_istream *i1, *i2;
	uint64_t s1, s2;
	assert_int_equal(t->ops->open(t, "big.bin", &i1, &s1, &err), 0);
	assert_int_equal(t->ops->open(t, "z-last.txt", &i2, &s2, &err), 0);
	unsigned char c1[3], c2[3];
	assert_int_equal(ferry_read(i1, c1, 3, &err), 3);
	assert_int_equal(ferry_read(i2, c2, 3, &err), 3);
	assert_memory_equal(c1, big_data(), 3);
	assert_memory_equal(c2, "the", 3);
	ferry_istream_close(i1);
	ferry_istream_close(i2);

	assert_int_equal(t->ops->finish(t, &err), 0);
	assert_int_equal(count_spools(spool), 0); /* an indexed tar copies nothing */
	ferry_tree_free(t);
	ferry_tree_free(NULL);
	free(spool);
	free(path);
}

/* ---- one pass ---- */

/* Everything read ahead is retained (small in memory, big spooled) and the spool goes away on free. */
static void test_tar_one_pass_retain(void **state)
{
	(void)state;
	char *path = main_tar(true);
	char *spool = scratch("spool", true);
	ferry_tree *t;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(open_tar_path(path, spool, &t, &err), 0);
	assert_true(t->one_pass);

	bool exists;
	uint64_t size;
	assert_int_equal(t->ops->stat(t, "z-last.txt", false, &exists, &size, &err), 0);
	assert_false(exists); /* not seen yet, and not allowed to look */
	assert_int_equal(t->ops->stat(t, "z-last.txt", true, &exists, &size, &err), 0);
	assert_true(exists);
	assert_int_equal(size, 7);
	assert_int_equal(count_spools(spool), 1); /* big.bin was passed over and spooled */

	assert_big(t, "big.bin");
	assert_big(t, "big.bin");
	assert_entry(t, "dir/file.txt", "hello");
	assert_entry(t, "top-link", "hello");
	assert_entry(t, "hard", "hello");
	assert_entry(t, "dot/x", "dot");
	assert_entry(t, "a-link", "the end");
	assert_entry(t, "dir/up", "the end");
	assert_int_equal(t->ops->stat(t, "dir/link", false, &exists, &size, &err), 0);
	assert_true(exists);
	assert_int_equal(size, 5);
	assert_no_entry(t, "nope", FERRY_E_NOTFOUND);

	assert_int_equal(t->ops->finish(t, &err), 0);
	ferry_tree_free(t);
	assert_int_equal(count_spools(spool), 0);
	free(spool);
	free(path);
}

/* With want(), open_any hands out entries in archive order and drops the unwanted. */
static void test_tar_one_pass_want(void **state)
{
	(void)state;
	char *path = main_tar(true);
	char *spool = scratch("spool", true);
	ferry_tree *t;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(open_tar_path(path, spool, &t, &err), 0);

	const char *want[] = {"z-last.txt", "dir/file.txt"};
	t->ops->want(t, want, 2);
	size_t which = 99;
	ferry_istream *in;
	uint64_t size;
	assert_int_equal(t->ops->open_any(t, want, 2, &which, &in, &size, &err), 0);
	assert_int_equal(which, 1); /* dir/file.txt comes first in the archive */
	assert_int_equal(size, 5);
	char buf[16];
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), 0);
	ferry_istream_close(in);

	assert_int_equal(t->ops->open_any(t, want, 1, &which, &in, &size, &err), 0);
	assert_int_equal(which, 0);
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), 7);
	assert_memory_equal(buf, "the end", 7);
	ferry_istream_close(in);

	/* big.bin was not wanted: skipped, so never spooled, and gone for good. */
	assert_int_equal(count_spools(spool), 0);
	assert_no_entry(t, "big.bin", 0);
	assert_int_equal(t->ops->finish(t, &err), 0);
	ferry_tree_free(t);
	assert_int_equal(count_spools(spool), 0);
	free(spool);
	free(path);
}

/* A plain tar through a pipe is read in one pass too. */
static void test_tar_pipe(void **state)
{
	(void)state;
	main_ents[1].data = (const char *)big_data();
	size_t len;
	unsigned char *buf = tar_build(main_ents, N_MAIN, false, &len);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		size_t off = 0;
		while (off < len) {
			ssize_t n = write(p[1], buf + off, len - off);
			if (n <= 0)
				_exit(1);
			off += (size_t)n;
		}
		_exit(0);
	}
	close(p[1]);
	free(buf);
	char *spool = scratch("spool", true);
	ferry_tree *t;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_tree_open_tar(p[0], "pipe", spool, &t, &err), 0);
	assert_true(t->one_pass);
	assert_entry(t, "top-link", "hello"); /* reads ahead, keeping big.bin */
	assert_entry(t, "dir/file.txt", "hello");
	assert_big(t, "big.bin");
	assert_entry(t, "z-last.txt", "the end");
	assert_int_equal(t->ops->finish(t, &err), 0);
	ferry_tree_free(t); /* closes the pipe */
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(count_spools(spool), 0);
	free(spool);
}

/* ---- hostile archives ---- */

static void test_link_loops(void **state)
{
	(void)state;
	static const tent ents[] = {
		{"loop1", T_SYMLINK, "loop2", 0},
		{"loop2", T_SYMLINK, "loop1", 0},
		{"self", T_SYMLINK, "self", 0},
		{"dangling", T_SYMLINK, "nowhere", 0},
		{"d/hloop", T_HARDLINK, "d/hloop2", 0},
		{"d/hloop2", T_SYMLINK, "hloop", 0},
		{"ok.txt", T_FILE, "ok", 0},
	};
	for (int gz = 0; gz <= 1; gz++) {
		char *path = tar_file(ents, sizeof(ents) / sizeof(ents[0]), gz, 0);
		ferry_tree *t;
		ferry_error err = FERRY_ERROR_INIT;
		assert_int_equal(open_tar_path(path, tmp_root, &t, &err), 0);
		assert_no_entry(t, "loop1", FERRY_E_FORMAT);
		assert_no_entry(t, "self", FERRY_E_FORMAT);
		assert_no_entry(t, "d/hloop", FERRY_E_FORMAT);
		bool exists;
		uint64_t size;
		assert_int_equal(t->ops->stat(t, "loop2", true, &exists, &size, &err), -1);
		assert_int_equal(err.code, FERRY_E_FORMAT);
		assert_entry(t, "ok.txt", "ok");
		assert_no_entry(t, "dangling", FERRY_E_NOTFOUND);
		ferry_tree_free(t);
		free(path);
	}
}

/* FERRY_LINK_DEPTH links in a row are followed; one more is refused. */
static void test_link_depth(void **state)
{
	(void)state;
	tent ents[FERRY_LINK_DEPTH + 2];
	char names[FERRY_LINK_DEPTH + 2][16];
	for (int i = 0; i <= FERRY_LINK_DEPTH; i++)
		snprintf(names[i], sizeof(names[i]), "l%d", i);
	snprintf(names[FERRY_LINK_DEPTH + 1], sizeof(names[0]), "file");
	/* l0 -> l1 -> ... -> l16 -> file */
	for (int i = 0; i <= FERRY_LINK_DEPTH; i++)
		ents[i] = (tent){names[i], T_SYMLINK, names[i + 1], 0};
	ents[FERRY_LINK_DEPTH + 1] = (tent){"file", T_FILE, "deep", 0};
	char *path = tar_file(ents, FERRY_LINK_DEPTH + 2, false, 0);
	ferry_tree *t;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(open_tar_path(path, tmp_root, &t, &err), 0);
	assert_entry(t, "l1", "deep");             /* 16 links */
	assert_no_entry(t, "l0", FERRY_E_FORMAT); /* 17 links */
	ferry_tree_free(t);
	free(path);
}

static void test_duplicates(void **state)
{
	(void)state;
	static const tent ents[] = {
		{"dup.txt", T_FILE, "one", 0},
		{"other", T_FILE, "x", 0},
		{"dup.txt", T_FILE, "two", 0},
	};
	static const tent ents2[] = {
		{"x", T_FILE, "one", 0},
		{"./x", T_FILE, "two", 0}, /* the same name once normalised */
	};
	char *path = tar_file(ents, 3, false, 0);
	ferry_tree *t = (ferry_tree *)1;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(open_tar_path(path, tmp_root, &t, &err), -1);
	assert_null(t);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	assert_non_null(strstr(err.msg, "dup.txt"));
	free(path);

	path = tar_file(ents2, 2, false, 0);
	ferry_error_clear(&err);
	assert_int_equal(open_tar_path(path, tmp_root, &t, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	free(path);

	/* One pass: found when the second copy comes by. */
	path = tar_file(ents, 3, true, 0);
	ferry_error_clear(&err);
	assert_int_equal(open_tar_path(path, tmp_root, &t, &err), 0);
	assert_entry(t, "other", "x");
	assert_int_equal(t->ops->finish(t, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	assert_non_null(strstr(err.msg, "dup.txt"));
	ferry_tree_free(t);
	free(path);
}

/* Names that climb out or are absolute make the archive invalid. */
static void test_bad_names(void **state)
{
	(void)state;
	static const char *const names[] = {"a/../../etc/passwd", "../evil", "a/..", "/etc/passwd"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const tent ents[] = {
			{"ok.txt", T_FILE, "ok", 0},
			{names[i], T_FILE, "evil", 0},
		};
		char *path = tar_file(ents, 2, false, 0);
		ferry_tree *t;
		ferry_error err = FERRY_ERROR_INIT;
		if (open_tar_path(path, tmp_root, &t, &err) == 0)
			fail_msg("a tar with an entry \"%s\" was accepted", names[i]);
		assert_int_equal(err.code, FERRY_E_FORMAT);
		free(path);

		path = tar_file(ents, 2, true, 0);
		ferry_error_clear(&err);
		assert_int_equal(open_tar_path(path, tmp_root, &t, &err), 0);
		assert_entry(t, "ok.txt", "ok");
		if (t->ops->finish(t, &err) == 0)
			fail_msg("one pass: a tar with an entry \"%s\" was accepted", names[i]);
		assert_int_equal(err.code, FERRY_E_FORMAT);
		ferry_tree_free(t);
		free(path);
	}
}

/* A link pointing outside the archive must never be followed (refusing the archive is fine too). */
static void test_escaping_links(void **state)
{
	(void)state;
	static const tent cases[][2] = {
		{{"ok.txt", T_FILE, "ok", 0}, {"esc", T_SYMLINK, "../../../../../../etc/passwd", 0}},
		{{"ok.txt", T_FILE, "ok", 0}, {"esc", T_SYMLINK, "/etc/passwd", 0}},
		{{"ok.txt", T_FILE, "ok", 0}, {"d/esc", T_SYMLINK, "../../ok.txt", 0}},
		{{"ok.txt", T_FILE, "ok", 0}, {"esc", T_HARDLINK, "../ok.txt", 0}},
		{{"ok.txt", T_FILE, "ok", 0}, {"esc", T_HARDLINK, "/etc/passwd", 0}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int gz = 0; gz <= 1; gz++) {
			char *path = tar_file(cases[i], 2, gz, 0);
			const char *name = cases[i][1].name;
			ferry_tree *t;
			ferry_error err = FERRY_ERROR_INIT;
			if (open_tar_path(path, tmp_root, &t, &err) == 0) {
				ferry_istream *in;
				uint64_t size;
				if (t->ops->open(t, name, &in, &size, &err) == 0) {
					ferry_istream_close(in);
					fail_msg("case %zu (%s): %s -> %s could be opened", i, gz ? "gzip" : "plain",
						 name, cases[i][1].data);
				}
				assert_int_equal(err.code, FERRY_E_FORMAT);
				ferry_tree_free(t);
			} else {
				assert_int_equal(err.code, FERRY_E_FORMAT);
			}
			free(path);
		}
	}
}

static void test_truncated(void **state)
{
	(void)state;
	static tent ents[] = {
		{"dir/file.txt", T_FILE, "hello", 0},
		{"big.bin", T_FILE, NULL, BIG_LEN},
		{"z-last.txt", T_FILE, "the end", 0},
	};
	ents[1].data = (const char *)big_data();
	/* file.txt: header + one block; big.bin: header at 1024, data from 1536 (pax_restricted writes ustar here) */
	size_t cuts[] = {1536 + 100 * 1024, 1024 + 256, 700};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char *path = tar_file(ents, 3, false, cuts[i]);
		ferry_tree *t;
		ferry_error err = FERRY_ERROR_INIT;
		if (open_tar_path(path, tmp_root, &t, &err) == 0)
			fail_msg("a tar cut at %zu was accepted", cuts[i]);
		assert_int_equal(err.code, FERRY_E_FORMAT);
		free(path);

		/* Through a pipe the cut is found while reading. */
		size_t len;
		unsigned char *buf = tar_build(ents, 3, false, &len);
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			size_t off = 0;
			while (off < cuts[i]) {
				ssize_t n = write(p[1], buf + off, cuts[i] - off);
				if (n <= 0)
					_exit(1);
				off += (size_t)n;
			}
			_exit(0);
		}
		close(p[1]);
		free(buf);
		ferry_error_clear(&err);
		int rc = ferry_tree_open_tar(p[0], "pipe", tmp_root, &t, &err);
		if (rc == 0) {
			bool exists;
			uint64_t size;
			rc = t->ops->stat(t, "z-last.txt", true, &exists, &size, &err);
			if (rc == 0)
				rc = t->ops->finish(t, &err);
			ferry_tree_free(t);
		}
		if (rc == 0)
			fail_msg("one pass: a tar cut at %zu was accepted", cuts[i]);
		assert_int_equal(err.code, FERRY_E_FORMAT);
		waitpid(pid, NULL, 0);
	}

	/* A gzip stream cut in half. */
	size_t len;
	unsigned char *gzbuf = tar_build(ents, 3, true, &len);
	char *path = scratch("cut.tar.gz", false);
	write_file(path, gzbuf, len / 2);
	free(gzbuf);
	ferry_tree *t;
	ferry_error err = FERRY_ERROR_INIT;
	int rc = open_tar_path(path, tmp_root, &t, &err);
	if (rc == 0) {
		unsigned char *b;
		size_t l;
		rc = ferry_tree_read_all(t, "z-last.txt", 1u << 20, &b, &l, &err);
		if (rc == 0)
			free(b);
		ferry_tree_free(t);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	free(path);
}

/* ---- directories ---- */

/*
 * A layout directory with symlinks planted to lead outside it:
 *   TOP/secret               "secret" (outside the layout)
 *   TOP/layout/a.txt         "inside"
 *   TOP/layout/sub/b.txt     "b"
 *   TOP/layout/evil -> ../secret, updir -> .., sub/deep -> ../../secret,
 *   TOP/layout/abs -> TOP/secret (absolute)
 * Returns TOP/layout; *secret is TOP/secret (both owned).
 */
static char *escape_layout(char **secret)
{
	char *top = scratch("dirtree", true);
	char *layout = ferry_xasprintf("%s/layout", top);
	char *sub = ferry_xasprintf("%s/sub", layout);
	*secret = ferry_xasprintf("%s/secret", top);
	assert_int_equal(mkdir(layout, 0700), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file(*secret, "secret", 6);
	char *p = ferry_xasprintf("%s/a.txt", layout);
	write_file(p, "inside", 6);
	free(p);
	p = ferry_xasprintf("%s/b.txt", sub);
	write_file(p, "b", 1);
	free(p);
	static const struct {
		const char *name, *target;
	} links[] = {
		{"evil", "../secret"},
		{"updir", ".."},
		{"sub/deep", "../../secret"},
		{"abs", NULL}, /* the absolute path of secret */
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char *l = ferry_xasprintf("%s/%s", layout, links[i].name);
		assert_int_equal(symlink(links[i].target ? links[i].target : *secret, l), 0);
		free(l);
	}
	free(sub);
	free(top);
	return layout;
}

static const char *const escapes[] = {"evil", "updir/secret", "sub/deep", "abs", "../secret", "sub/../../secret"};
#define N_ESCAPES (sizeof(escapes) / sizeof(escapes[0]))

/* How many of the escapes could be opened or were said to exist (each printed)? */
static int count_escapes(ferry_tree *t)
{
	int n = 0;
	for (size_t i = 0; i < N_ESCAPES; i++) {
		ferry_istream *in;
		uint64_t size;
		ferry_error err = FERRY_ERROR_INIT;
		if (t->ops->open(t, escapes[i], &in, &size, &err) == 0) {
			char buf[16] = {0};
			ferry_read(in, buf, sizeof(buf) - 1, &err);
			ferry_istream_close(in);
			print_error("%s opened, outside the layout (read \"%s\")\n", escapes[i], buf);
			n++;
		}
		bool exists = false;
		ferry_error_clear(&err);
		if (t->ops->stat(t, escapes[i], false, &exists, &size, &err) == 0 && exists) {
			print_error("%s exists, outside the layout\n", escapes[i]);
			n++;
		}
	}
	return n;
}

static void test_dir_tree(void **state)
{
	(void)state;
	char *secret;
	char *layout = escape_layout(&secret);
	ferry_tree *t;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_tree_open_dir(layout, &t, &err), 0);
	assert_false(t->one_pass);
	assert_entry(t, "a.txt", "inside");
	assert_entry(t, "sub/b.txt", "b");
	assert_no_entry(t, "missing", FERRY_E_NOTFOUND);
	assert_no_entry(t, "sub", FERRY_E_FORMAT); /* a directory is not a blob */
	int escaped = count_escapes(t);
	ferry_tree_free(t);

	char *nowhere = ferry_xasprintf("%s/nowhere", layout);
	assert_int_equal(ferry_tree_open_dir(nowhere, &t, &err), -1);
	assert_null(t);
	assert_non_null(strstr(err.msg, nowhere));
	assert_int_equal(ferry_tree_open_dir(secret, &t, &err), -1); /* a file */
	free(nowhere);
	free(secret);
	free(layout);
	assert_int_equal(escaped, 0);
}

/* Where an entry's bytes lie: they must read back as the entry, through links too. */
static void assert_located(ferry_tree *t, const char *name, const void *want, size_t len)
{
	int fd;
	uint64_t off, size;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_tree_locate(t, name, &fd, &off, &size, &err) < 0)
		fail_msg("locating %s: %s", name, err.msg);
	assert_int_equal(size, len);
	unsigned char *buf = ferry_xmalloc(len + 1);
	assert_int_equal(pread(fd, buf, len + 1, (off_t)off) >= (ssize_t)len, true);
	assert_memory_equal(buf, want, len);
	free(buf);
	close(fd);
}

static void test_locate(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_tree *t;
	int fd;
	uint64_t off, size;
	char *path = main_tar(false);
	assert_int_equal(open_tar_path(path, tmp_root, &t, &err), 0);
	assert_located(t, "dir/file.txt", "hello", 5);
	assert_located(t, "top-link", "hello", 5); /* link -> link -> file */
	assert_located(t, "hard", "hello", 5);
	assert_located(t, "big.bin", big_data(), BIG_LEN);
	assert_int_equal(ferry_tree_locate(t, "missing", &fd, &off, &size, &err), -1);
	assert_int_equal(err.code, FERRY_E_NOTFOUND);
	assert_int_equal(fd, -1);
	ferry_tree_free(t);
	free(path);

	/* A tar read in one pass has no place to point at. */
	path = main_tar(true);
	assert_int_equal(open_tar_path(path, tmp_root, &t, &err), 0);
	assert_int_equal(ferry_tree_locate(t, "dir/file.txt", &fd, &off, &size, &err), -1);
	assert_int_equal(fd, -1);
	ferry_tree_free(t);
	free(path);

	char *secret;
	char *layout = escape_layout(&secret);
	assert_int_equal(ferry_tree_open_dir(layout, &t, &err), 0);
	assert_located(t, "sub/b.txt", "b", 1);
	for (size_t i = 0; i < N_ESCAPES; i++) {
		if (ferry_tree_locate(t, escapes[i], &fd, &off, &size, &err) == 0) {
			close(fd);
			fail_msg("%s was located outside the layout", escapes[i]);
		}
	}
	ferry_tree_free(t);
	free(secret);
	free(layout);
}

/*
 * The same where openat2() is unavailable (kernels before 5.6, valgrind,
 * seccomp profiles that predate it answer ENOSYS): the fallback must not
 * let a symlinked directory lead outside either.  Run in a child process
 * whose seccomp filter makes openat2 fail with ENOSYS.
 */
#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static void test_dir_tree_without_openat2(void **state)
{
	(void)state;
#if defined(TEST_AUDIT_ARCH) && defined(SYS_openat2)
	char *secret;
	char *layout = escape_layout(&secret);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
			_exit(2);
		ferry_tree *t;
		ferry_error err = FERRY_ERROR_INIT;
		if (ferry_tree_open_dir(layout, &t, &err) < 0)
			_exit(3);
		unsigned char *buf;
		size_t len;
		/* The fallback must still read what is inside. */
		if (ferry_tree_read_all(t, "sub/b.txt", 16, &buf, &len, &err) < 0)
			_exit(4);
		free(buf);
		_exit(count_escapes(t) ? 1 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(secret);
	free(layout);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 2)
		skip(); /* no seccomp here */
	if (WEXITSTATUS(status) == 1)
		fail_msg("without openat2, the directory tree opened files outside the layout");
	assert_int_equal(WEXITSTATUS(status), 0);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_normalize),
		cmocka_unit_test(test_path_resolve_link),
		cmocka_unit_test(test_tar_indexed),
		cmocka_unit_test(test_tar_one_pass_retain),
		cmocka_unit_test(test_tar_one_pass_want),
		cmocka_unit_test(test_tar_pipe),
		cmocka_unit_test(test_link_loops),
		cmocka_unit_test(test_link_depth),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_escaping_links),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_dir_tree),
		cmocka_unit_test(test_locate),
		cmocka_unit_test(test_dir_tree_without_openat2),
	};
	int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	free(big_data());
	return rc;
}
