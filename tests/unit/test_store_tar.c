/*
 * test_store_tar.c - the tar store on its own: spooled blobs copied into the
 * archive in the background while the caller goes on, and what the archive
 * holds afterwards (read back with libarchive, not with ferry).
 *
 * A copy that fails in the background is made to fail for real: the
 * archive is allowed to grow only so far (RLIMIT_FSIZE, SIGXFSZ ignored), so
 * writing it fails with EFBIG half way through a spooled blob's copy while
 * the spool itself (smaller) was written fine.  That error must reach the
 * caller, whichever store call comes next.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scratch.h"
#include "store.h"
#include "util.h"

static char *tmp_dir; /* scratch directory for this run (owned) */
static int n_case;    /* each case writes in a directory of its own */

static int group_setup(void **state)
{
	(void)state;
	if (!(tmp_dir = scratch_make("test_store_tar")))
		return -1;
	signal(SIGXFSZ, SIG_IGN); /* over RLIMIT_FSIZE, write fails with EFBIG instead */
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	return scratch_remove(tmp_dir);
}

/* A fresh empty directory for one case (caller frees). */
static char *case_dir(void)
{
	char *d = ferry_xasprintf("%s/case%d", tmp_dir, ++n_case);
	assert_int_equal(mkdir(d, 0755), 0);
	return d;
}

/* Names in dir (readdir order), joined by spaces ("" if empty). Caller frees. */
static char *dir_list(const char *dir)
{
	char *all = ferry_xstrdup("");
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *n = ferry_xasprintf("%s%s%s", all, *all ? " " : "", e->d_name);
		free(all);
		all = n;
	}
	closedir(d);
	return all;
}

/* Deterministic bytes that differ from blob to blob (caller frees). */
static unsigned char *make_bytes(size_t len, uint32_t seed)
{
	unsigned char *b = ferry_xmalloc(len ? len : 1);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
	return b;
}

typedef struct blob {
	unsigned char *data;
	size_t len;
	ferry_digest d;
	char *name; /* its entry name, blobs/sha256/<hex> */
} blob;

static void blob_make(blob *b, size_t len, uint32_t seed)
{
	b->data = make_bytes(len, seed);
	b->len = len;
	ferry_digest_buffer(FERRY_ALG_SHA256, b->data, len, &b->d);
	b->name = ferry_xasprintf("blobs/sha256/%s", ferry_digest_hex(&b->d));
}

static void blob_free(blob *b)
{
	free(b->data);
	free(b->name);
}

/* Does the store have d?  (A tar always knows.) */
static bool has_blob(ferry_store *s, const ferry_digest *d)
{
	bool exists;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_store_has_blob(s, d, &exists, &err), 0);
	return exists;
}

/* Write b as a blob of unknown digest and size: the store spools it. Returns blob_end's result. */
static int put_spooled(ferry_store *s, const blob *b, ferry_error *err)
{
	ferry_ostream *out;
	assert_int_equal(ferry_store_blob_begin(s, NULL, -1, &out, err), 0);
	/* In pieces, as the engine writes. */
	for (size_t off = 0; off < b->len; off += 300000) {
		size_t n = b->len - off < 300000 ? b->len - off : 300000;
		assert_int_equal(ferry_write(out, b->data + off, n, err), 0);
	}
	assert_int_equal(ferry_finish(out, err), 0);
	return ferry_store_blob_end(s, out, true, &b->d, b->len, NULL, err);
}

/* Write b with its digest and size known: straight into the archive. */
static int put_direct(ferry_store *s, const blob *b, ferry_error *err)
{
	ferry_ostream *out;
	if (ferry_store_blob_begin(s, &b->d, (int64_t)b->len, &out, err) < 0)
		return -1;
	assert_int_equal(ferry_write(out, b->data, b->len, err), 0);
	assert_int_equal(ferry_finish(out, err), 0);
	return ferry_store_blob_end(s, out, true, &b->d, b->len, NULL, err);
}

/* The archive at path holds exactly these entries, in this order, with these bytes. */
static void assert_archive(const char *path, const char *const *names, const blob *const *contents, size_t n)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_none(a);
	assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
	struct archive_entry *e;
	size_t i = 0;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (i >= n)
			fail_msg("%s: unexpected entry %s", path, archive_entry_pathname(e));
		assert_string_equal(archive_entry_pathname(e), names[i]);
		const blob *want = contents[i];
		size_t len = want ? want->len : 0;
		assert_int_equal(archive_entry_size(e), (la_int64_t)len);
		unsigned char *got = ferry_xmalloc(len + 1);
		la_ssize_t k = archive_read_data(a, got, len + 1);
		assert_int_equal(k, (la_ssize_t)len);
		if (len && memcmp(got, want->data, len) != 0)
			fail_msg("%s: entry %s does not hold its bytes", path, names[i]);
		free(got);
		i++;
	}
	assert_int_equal(r, ARCHIVE_EOF);
	assert_int_equal(i, n);
	archive_read_free(a);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	/* Padded as tar pads, to whole 10240-byte records. */
	assert_int_equal(st.st_size % 10240, 0);
}

/*
 * Spooled blobs, a blob written straight through, a repeated blob and a
 * metadata file, interleaved: each lands whole, in order; a blob whose copy
 * is still pending already counts as present.
 */
static void test_spooled_and_direct(void **state)
{
	(void)state;
	char *dir = case_dir();
	char *path = ferry_xasprintf("%s/out.tar", dir);
	blob big, small, empty, direct;
	blob_make(&big, (size_t)5 << 20, 1);
	blob_make(&small, 1000, 2);
	blob_make(&empty, 0, 3);
	blob_make(&direct, 70000, 4);
	ferry_store *s;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_store_open_tar(path, FERRY_COMP_NONE, &s, &err), 0);

	assert_false(has_blob(s, &big.d));
	assert_int_equal(put_spooled(s, &big, &err), 0);
	assert_true(has_blob(s, &big.d)); /* (its copy may well be running still) */
	assert_int_equal(put_direct(s, &direct, &err), 0);
	assert_int_equal(put_spooled(s, &small, &err), 0);
	assert_int_equal(put_spooled(s, &big, &err), 0); /* again: no second entry */
	assert_int_equal(put_spooled(s, &empty, &err), 0);
	assert_true(has_blob(s, &small.d));
	assert_true(has_blob(s, &empty.d));
	assert_int_equal(put_spooled(s, &big, &err), 0);
	blob meta;
	blob_make(&meta, 300, 9);
	assert_int_equal(ferry_store_put_file(s, "manifest.json", meta.data, meta.len, &err), 0);
	char *tmp_names = dir_list(dir);
	assert_string_not_equal(tmp_names, ""); /* the archive so far, under a temporary name */
	free(tmp_names);
	assert_int_equal(ferry_store_commit(s, &err), 0);
	ferry_store_free(s);

	const char *names[] = {"blobs/", "blobs/sha256/", big.name, direct.name, small.name, empty.name,
			       "manifest.json"};
	const blob *contents[] = {NULL, NULL, &big, &direct, &small, &empty, &meta};
	assert_archive(path, names, contents, 7);
	char *left = dir_list(dir);
	assert_string_equal(left, "out.tar"); /* no spool or temporary file left */
	free(left);
	blob_free(&big);
	blob_free(&small);
	blob_free(&empty);
	blob_free(&direct);
	blob_free(&meta);
	free(path);
	free(dir);
}

/* The case's directory holds exactly left (dir_list's form); frees the case's blobs, path and dir. */
static void end_case(char *dir, char *path, const char *left, blob **blobs, size_t n)
{
	char *got = dir_list(dir);
	assert_string_equal(got, left);
	free(got);
	for (size_t i = 0; i < n; i++)
		blob_free(blobs[i]);
	free(path);
	free(dir);
}

/* An unlinked spool in dir holding b (what the engine's lanes hand over); the caller owns the fd. */
static int spool_of(const char *dir, const blob *b)
{
	char *path = ferry_xasprintf("%s/spool-XXXXXX", dir);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	free(path);
	assert_int_equal(write(fd, b->data, b->len), (ssize_t)b->len);
	return fd;
}

/* fd is open (not yet closed by anyone). */
static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/*
 * Spools handed over whole (put_spool) land in order among spooled and
 * direct blobs, count as present at once, and are the store's: closed by
 * it, including one for a blob the archive already has (no second entry).
 */
static void test_put_spool(void **state)
{
	(void)state;
	char *dir = case_dir();
	char *path = ferry_xasprintf("%s/out.tar", dir);
	blob a, b, c;
	blob_make(&a, (size_t)3 << 20, 21);
	blob_make(&b, 5000, 22);
	blob_make(&c, (size_t)1 << 20, 23);
	ferry_store *s;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_store_open_tar(path, FERRY_COMP_NONE, &s, &err), 0);
	assert_true(s->spools); /* so it takes spools */

	int fa = spool_of(dir, &a);
	assert_int_equal(ferry_store_put_spool(s, fa, &a.d, a.len, &err), 0);
	assert_true(has_blob(s, &a.d));
	assert_int_equal(put_spooled(s, &b, &err), 0);
	int fa2 = spool_of(dir, &a);
	assert_int_equal(ferry_store_put_spool(s, fa2, &a.d, a.len, &err), 0); /* again */
	assert_false(fd_open(fa2));
	int fc = spool_of(dir, &c);
	assert_int_equal(ferry_store_put_spool(s, fc, &c.d, c.len, &err), 0);
	assert_int_equal(ferry_store_commit(s, &err), 0);
	assert_false(fd_open(fa));
	assert_false(fd_open(fc));
	ferry_store_free(s);

	const char *names[] = {"blobs/", "blobs/sha256/", a.name, b.name, c.name};
	const blob *contents[] = {NULL, NULL, &a, &b, &c};
	assert_archive(path, names, contents, 5);
	end_case(dir, path, "out.tar", (blob *[]){&a, &b, &c}, 3);
}

/* Freed uncommitted while a copy is in flight: nothing at the destination, nothing left over. */
static void test_free_while_copying(void **state)
{
	(void)state;
	char *dir = case_dir();
	char *path = ferry_xasprintf("%s/out.tar", dir);
	blob big;
	blob_make(&big, (size_t)48 << 20, 5);
	ferry_store *s;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_store_open_tar(path, FERRY_COMP_NONE, &s, &err), 0);
	assert_int_equal(put_spooled(s, &big, &err), 0);
	ferry_store_free(s);
	char *left = dir_list(dir);
	assert_string_equal(left, "");
	free(left);
	blob_free(&big);
	free(path);
	free(dir);
}

/* How the case below learns of the failed copy. */
typedef enum { NEXT_SPOOLED, NEXT_DIRECT, NEXT_PUT_SPOOL, NEXT_PUT_FILE, NEXT_COMMIT, NEXT_DROPPED } next_call;

/*
 * The archive may grow to 4 MiB: a 3 MiB blob fits, the copy of a second
 * one fails half way, on the copier thread.  The next store call returns
 * that error (naming the destination, the entry and the cause), the store
 * refuses to commit, and freeing it leaves nothing behind.
 */
static void copy_fails(next_call how)
{
	char *dir = case_dir();
	char *path = ferry_xasprintf("%s/out.tar", dir);
	blob a, b, c;
	blob_make(&a, (size_t)3 << 20, 6);
	blob_make(&b, (size_t)3 << 20, 7);
	blob_make(&c, 5000, 8);
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)4 << 20;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	ferry_store *s;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_store_open_tar(path, FERRY_COMP_NONE, &s, &err), 0);
	assert_int_equal(put_spooled(s, &a, &err), 0);
	/* b's header goes in and its copy starts: its failure comes later. */
	assert_int_equal(put_spooled(s, &b, &err), 0);
	int rc = 0;
	switch (how) {
	case NEXT_SPOOLED:
		rc = put_spooled(s, &c, &err);
		break;
	case NEXT_DIRECT:
		rc = put_direct(s, &c, &err);
		break;
	case NEXT_PUT_SPOOL: {
		/* The spool handed over is the store's even when the call fails. */
		int fd = spool_of(dir, &c);
		rc = ferry_store_put_spool(s, fd, &c.d, c.len, &err);
		assert_false(fd_open(fd));
		break;
	}
	case NEXT_PUT_FILE:
		rc = ferry_store_put_file(s, "index.json", "{}", 2, &err);
		break;
	case NEXT_COMMIT:
		rc = ferry_store_commit(s, &err);
		break;
	case NEXT_DROPPED: {
		/* A blob dropped (the caller failed; its error stays as it is): the copy's error waits for commit. */
		ferry_ostream *out;
		assert_int_equal(ferry_store_blob_begin(s, NULL, -1, &out, &err), 0);
		assert_int_equal(ferry_store_blob_end(s, out, false, &c.d, 0, NULL, &err), 0);
		assert_int_equal(err.code, FERRY_OK);
		rc = ferry_store_commit(s, &err);
		break;
	}
	}
	assert_int_equal(rc, -1);
	if (!strstr(err.msg, "File too large") || !strstr(err.msg, b.name) || !strstr(err.msg, path))
		fail_msg("the failed copy's error was not reported: got \"%s\"", err.msg);
	/* Reported once; the archive stays unusable. */
	ferry_error err2 = FERRY_ERROR_INIT;
	assert_int_equal(ferry_store_commit(s, &err2), -1);
	assert_non_null(strstr(err2.msg, "incomplete"));
	ferry_store_free(s);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);

	end_case(dir, path, "", (blob *[]){&a, &b, &c}, 3);
}

/* One case per next_call; the state points at which. */
static void test_copy_fails(void **state)
{
	copy_fails(*(next_call *)*state);
}

static next_call next_calls[] = {NEXT_SPOOLED, NEXT_DIRECT, NEXT_PUT_SPOOL, NEXT_PUT_FILE, NEXT_COMMIT, NEXT_DROPPED};

/*
 * The store interface's defaults (src/store/store.c): what a store that is
 * not a registry answers for the registry's extension, a spool handed to a
 * store that takes none, and a manifest kept as a blob.
 */
static void test_interface_defaults(void **state)
{
	(void)state;
	char *dir = case_dir();
	char *lay = ferry_xasprintf("%s/layout", dir);
	char *path = ferry_xasprintf("%s/out.tar", dir);
	blob m;
	blob_make(&m, 300, 5);
	ferry_store *ds, *ts;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_store_open_dir(lay, &ds, &err), 0);
	assert_int_equal(ferry_store_open_tar(path, FERRY_COMP_NONE, &ts, &err), 0);

	/* Neither is a registry: no extension, and publishing is refused, not a crash. */
	assert_null(ferry_store_registry(ds));
	assert_null(ferry_store_registry(ts));
	ferry_store_set_owner(ds, NULL, 0);
	assert_int_equal(ferry_store_publish(ts, NULL, 0, &err), -1);
	assert_int_equal(err.code, FERRY_E_FAILED);

	/* A directory takes no spools: an error, and the fd is closed all the same. */
	int fd = spool_of(dir, &m);
	err = (ferry_error)FERRY_ERROR_INIT;
	assert_int_equal(ferry_store_put_spool(ds, fd, &m.d, m.len, &err), -1);
	assert_int_equal(err.code, FERRY_E_FAILED);
	assert_int_equal(fcntl(fd, F_GETFD), -1);

	/* A manifest is a blob there: written once, then found. */
	bool written;
	err = (ferry_error)FERRY_ERROR_INIT;
	assert_int_equal(ferry_store_put_manifest(ts, &m.d, "application/json", m.data, m.len, &written, &err), 0);
	assert_true(written);
	assert_true(has_blob(ts, &m.d));
	assert_int_equal(ferry_store_put_manifest(ts, &m.d, "application/json", m.data, m.len, &written, &err), 0);
	assert_false(written);

	ferry_store_free(ds);
	ferry_store_free(ts);
	blob_free(&m);
	free(lay);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spooled_and_direct),
		cmocka_unit_test(test_put_spool),
		cmocka_unit_test(test_interface_defaults),
		cmocka_unit_test(test_free_while_copying),
		{"test_copy_fails_next_spooled", test_copy_fails, NULL, NULL, &next_calls[0]},
		{"test_copy_fails_next_direct", test_copy_fails, NULL, NULL, &next_calls[1]},
		{"test_copy_fails_next_put_spool", test_copy_fails, NULL, NULL, &next_calls[2]},
		{"test_copy_fails_next_put_file", test_copy_fails, NULL, NULL, &next_calls[3]},
		{"test_copy_fails_commit", test_copy_fails, NULL, NULL, &next_calls[4]},
		{"test_copy_fails_then_dropped", test_copy_fails, NULL, NULL, &next_calls[5]},
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
