/*
 * test_digest.c - digest parsing and hashing, and the basic stream stages they
 * are used through (hash stage, fd/mem istreams, membuf and fd sinks, pump).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "stream.h"
#include "util.h"

#define SHA256_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_MILLION_A "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define SHA512_ABC                                                                               \
	"sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a8" \
	"36ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
#define SHA512_EMPTY                                                                             \
	"sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0" \
	"ff8318d2877eec2f63b931bd47417a81a538327af927da3e"

static void test_vectors(void **state)
{
	(void)state;
	ferry_digest d;
	ferry_digest_buffer(FERRY_ALG_SHA256, "", 0, &d);
	assert_string_equal(d.str, SHA256_EMPTY);
	assert_int_equal(d.alg, FERRY_ALG_SHA256);
	ferry_digest_buffer(FERRY_ALG_SHA256, "abc", 3, &d);
	assert_string_equal(d.str, SHA256_ABC);
	ferry_digest_buffer(FERRY_ALG_SHA512, "abc", 3, &d);
	assert_string_equal(d.str, SHA512_ABC);
	assert_int_equal(d.alg, FERRY_ALG_SHA512);
	ferry_digest_buffer(FERRY_ALG_SHA512, NULL, 0, &d);
	assert_string_equal(d.str, SHA512_EMPTY);

	/* incremental, in uneven pieces */
	ferry_hasher *h = ferry_hasher_new(FERRY_ALG_SHA256);
	char a[1000];
	memset(a, 'a', sizeof(a));
	size_t left = 1000000;
	for (size_t step = 1; left > 0; step = step * 7 % 997 + 1) {
		size_t n = step < left ? step : left;
		ferry_hasher_update(h, a, n);
		left -= n;
	}
	ferry_hasher_final(h, &d);
	ferry_hasher_free(h);
	assert_string_equal(d.str, SHA256_MILLION_A);
	ferry_hasher_free(NULL);
}

static void test_accessors(void **state)
{
	(void)state;
	ferry_digest d, e;
	ferry_error err = FERRY_ERROR_INIT;
	memset(&e, 0, sizeof(e));
	assert_false(ferry_digest_is_set(&e));
	assert_int_equal(ferry_digest_parse(&d, SHA256_ABC, &err), 0);
	assert_true(ferry_digest_is_set(&d));
	assert_int_equal(d.alg, FERRY_ALG_SHA256);
	assert_string_equal(ferry_digest_hex(&d), &SHA256_ABC[strlen("sha256:")]);
	assert_string_equal(ferry_alg_name(FERRY_ALG_SHA256), "sha256");
	assert_string_equal(ferry_alg_name(FERRY_ALG_SHA512), "sha512");
	char buf[24];
	assert_string_equal(ferry_digest_short(&d, buf), "sha256:ba7816bf8f01");
	ferry_digest_buffer(FERRY_ALG_SHA256, "abc", 3, &e);
	assert_true(ferry_digest_eq(&d, &e));
	ferry_digest_buffer(FERRY_ALG_SHA256, "abd", 3, &e);
	assert_false(ferry_digest_eq(&d, &e));
	assert_int_equal(ferry_digest_parse(&d, SHA512_ABC, &err), 0);
	assert_int_equal(d.alg, FERRY_ALG_SHA512);
	assert_string_equal(d.str, SHA512_ABC);
	assert_string_equal(ferry_digest_short(&d, buf), "sha512:ddaf35a19361");
}

static void test_parse_invalid(void **state)
{
	(void)state;
	static const char *bad[] = {
		"",
		"sha256",
		"sha256:",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", /* missing colon */
		"SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", /* uppercase */
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",  /* 63 */
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", /* 65 */
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
		"sha256:../../x",
		"sha256:../../../../../../../../../../../../../../../../../../../../etc/passwd",
		"sha256:e3b0c44298fc1c149afbf4c8996fb924/7ae41e4649b934ca495991b7852b855",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85 ",
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
		"sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", /* 256-bit length */
		":e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha256::e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_digest d;
		ferry_error err = FERRY_ERROR_INIT;
		if (ferry_digest_parse(&d, bad[i], &err) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(err.code, FERRY_E_FORMAT);
		assert_true(err.msg[0] != '\0');
		assert_false(ferry_digest_is_set(&d)); /* nothing half-filled */
	}
	/* the offending text is quoted so the user can find it */
	ferry_digest d;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_digest_parse(&d, "md5:d41d8cd98f00b204e9800998ecf8427e", &err), -1);
	assert_non_null(strstr(err.msg, "md5:d41d8cd9"));
	assert_int_equal(ferry_digest_parse(&d, NULL, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
}

/* Pump buf through a hash stage into a membuf and check both ends. */
static void hash_through_stream(ferry_alg alg, const unsigned char *buf, size_t len)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_ostream *mb = ferry_ostream_membuf(len);
	ferry_ostream *h = ferry_ostream_hash(alg, mb);
	ferry_istream *in = ferry_istream_mem(buf, len);
	assert_int_equal(ferry_pump(in, h, &err), 0);
	assert_int_equal(ferry_finish(h, &err), 0);

	ferry_digest got, want;
	uint64_t size = 0;
	ferry_hash_result(h, &got, &size);
	ferry_digest_buffer(alg, buf, len, &want);
	assert_string_equal(got.str, want.str);
	assert_int_equal(size, len);
	size_t mlen;
	const unsigned char *m = ferry_membuf_data(mb, &mlen);
	assert_int_equal(mlen, len);
	if (len)
		assert_memory_equal(m, buf, len);

	ferry_istream_close(in);
	ferry_ostream_free(h);
	ferry_ostream_free(mb);
}

static void test_hash_stage(void **state)
{
	(void)state;
	size_t sizes[] = {0, 1, 63, 64, 65, 4096, FERRY_IO_CHUNK - 1, FERRY_IO_CHUNK, 3 * FERRY_IO_CHUNK + 17};
	size_t max = sizes[sizeof(sizes) / sizeof(sizes[0]) - 1];
	unsigned char *buf = ferry_xmalloc(max);
	for (size_t i = 0; i < max; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		hash_through_stream(FERRY_ALG_SHA256, buf, sizes[i]);
		hash_through_stream(FERRY_ALG_SHA512, buf, sizes[i]);
	}
	free(buf);

	/* As a sink (no next stage), written in pieces. */
	ferry_error err = FERRY_ERROR_INIT;
	ferry_ostream *h = ferry_ostream_hash(FERRY_ALG_SHA256, NULL);
	assert_int_equal(ferry_write(h, "a", 1, &err), 0);
	assert_int_equal(ferry_write(h, "", 0, &err), 0);
	assert_int_equal(ferry_write(h, "bc", 2, &err), 0);
	assert_int_equal(ferry_finish(h, &err), 0);
	ferry_digest d;
	uint64_t n;
	ferry_hash_result(h, &d, &n);
	assert_string_equal(d.str, SHA256_ABC);
	assert_int_equal(n, 3);
	/* asking twice gives the same answer */
	ferry_hash_result(h, &d, NULL);
	assert_string_equal(d.str, SHA256_ABC);
	ferry_ostream_free(h);
	ferry_ostream_free(NULL);
	ferry_istream_close(NULL);
}

static int make_temp(unsigned char **content, size_t len)
{
	char path[] = "/tmp/ferry-test-digest-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	unsigned char *p = ferry_xmalloc(len);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i % 251);
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_write_all(fd, p, len, "temp file", &err), 0);
	*content = p;
	return fd;
}

static void test_fd_range(void **state)
{
	(void)state;
	size_t len = 3 * FERRY_IO_CHUNK + 1000;
	unsigned char *content;
	int fd = make_temp(&content, len);
	ferry_error err = FERRY_ERROR_INIT;

	/* a middle slice, larger than one pump chunk */
	uint64_t off = 12345, n = 2 * FERRY_IO_CHUNK + 7;
	ferry_ostream *h = ferry_ostream_hash(FERRY_ALG_SHA256, NULL);
	ferry_istream *in = ferry_istream_fd_range(fd, off, n, false);
	assert_int_equal(ferry_pump(in, h, &err), 0);
	assert_int_equal(ferry_finish(h, &err), 0);
	ferry_istream_close(in);
	ferry_digest got, want;
	uint64_t size;
	ferry_hash_result(h, &got, &size);
	ferry_digest_buffer(FERRY_ALG_SHA256, content + off, n, &want);
	assert_int_equal(size, n);
	assert_string_equal(got.str, want.str);
	ferry_ostream_free(h);

	/* small reads never go past the end of the range */
	in = ferry_istream_fd_range(fd, 100, 10, false);
	unsigned char buf[64];
	assert_int_equal(ferry_read(in, buf, 4, &err), 4);
	assert_memory_equal(buf, content + 100, 4);
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), 6);
	assert_memory_equal(buf, content + 104, 6);
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), 0);
	ferry_istream_close(in);

	/* an empty range */
	in = ferry_istream_fd_range(fd, 5, 0, false);
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), 0);
	ferry_istream_close(in);

	/* a range running past the end of the file is a format error */
	in = ferry_istream_fd_range(fd, len - 10, 20, false);
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), 10);
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	assert_non_null(strstr(err.msg, "unexpected end of file"));
	ferry_istream_close(in);

	/* the same through pump */
	ferry_error_clear(&err);
	h = ferry_ostream_hash(FERRY_ALG_SHA256, NULL);
	in = ferry_istream_fd_range(fd, len + 5, 1, false);
	assert_int_equal(ferry_pump(in, h, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	ferry_istream_close(in);
	ferry_ostream_free(h);

	/* own_fd: close() closes the descriptor */
	int dup_fd = dup(fd);
	assert_true(dup_fd >= 0);
	in = ferry_istream_fd_range(dup_fd, 0, 1, true);
	ferry_istream_close(in);
	assert_int_equal(fcntl(dup_fd, F_GETFD), -1);
	/* and without own_fd it stays open */
	assert_true(fcntl(fd, F_GETFD) >= 0);

	/* a read error carries errno's text */
	ferry_error_clear(&err);
	in = ferry_istream_fd_range(dup_fd, 0, 1, false);
	assert_int_equal(ferry_read(in, buf, 1, &err), -1);
	assert_int_equal(err.code, FERRY_E_FAILED);
	assert_non_null(strstr(err.msg, "Bad file descriptor"));
	ferry_istream_close(in);

	close(fd);
	free(content);
}

static void test_fd_sequential(void **state)
{
	(void)state;
	size_t len = FERRY_IO_CHUNK + 4321;
	unsigned char *content;
	int fd = make_temp(&content, len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_ostream *mb = ferry_ostream_membuf(len);
	ferry_istream *in = ferry_istream_fd(fd, true);
	assert_int_equal(ferry_pump(in, mb, &err), 0);
	ferry_istream_close(in);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	size_t n;
	const unsigned char *m = ferry_membuf_data(mb, &n);
	assert_int_equal(n, len);
	assert_memory_equal(m, content, len);
	ferry_ostream_free(mb);
	free(content);

	/* reading a directory fails with errno's reason */
	int dfd = open("/tmp", O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	mb = ferry_ostream_membuf(100);
	in = ferry_istream_fd(dfd, true);
	assert_int_equal(ferry_pump(in, mb, &err), -1);
	assert_int_equal(err.code, FERRY_E_FAILED);
	assert_non_null(strstr(err.msg, "Is a directory"));
	ferry_istream_close(in);
	ferry_ostream_free(mb);
}

static void test_mem_istream(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_istream *in = ferry_istream_mem("hello", 5);
	char buf[8];
	assert_int_equal(ferry_read(in, buf, 2, &err), 2);
	assert_memory_equal(buf, "he", 2);
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), 3);
	assert_memory_equal(buf, "llo", 3);
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), 0);
	assert_int_equal(ferry_read(in, buf, sizeof(buf), &err), 0);
	ferry_istream_close(in);
}

static void test_membuf_cap(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_ostream *mb = ferry_ostream_membuf(10);
	assert_int_equal(ferry_write(mb, "01234", 5, &err), 0);
	assert_int_equal(ferry_write(mb, "56789", 5, &err), 0); /* exactly at the cap */
	assert_int_equal(ferry_write(mb, "", 0, &err), 0);
	assert_int_equal(ferry_write(mb, "x", 1, &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
	assert_non_null(strstr(err.msg, "10"));
	assert_int_equal(ferry_finish(mb, &err), 0);
	size_t n;
	const unsigned char *d = ferry_membuf_data(mb, &n);
	assert_int_equal(n, 10);
	assert_memory_equal(d, "0123456789", 10);
	ferry_ostream_free(mb);

	/* one write larger than the cap */
	ferry_error_clear(&err);
	mb = ferry_ostream_membuf(1000);
	char big[1001];
	memset(big, 'q', sizeof(big));
	assert_int_equal(ferry_write(mb, big, sizeof(big), &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
	assert_non_null(strstr(err.msg, "1000"));
	d = ferry_membuf_data(mb, &n);
	assert_int_equal(n, 0);
	assert_non_null(d);
	ferry_ostream_free(mb);

	/* cap 0 holds nothing */
	mb = ferry_ostream_membuf(0);
	assert_int_equal(ferry_write(mb, "", 0, &err), 0);
	assert_int_equal(ferry_write(mb, "a", 1, &err), -1);
	ferry_ostream_free(mb);

	/* growth across many small writes keeps every byte */
	mb = ferry_ostream_membuf(1u << 20);
	for (unsigned i = 0; i < 100000; i++) {
		unsigned char c = (unsigned char)(i % 253);
		assert_int_equal(ferry_write(mb, &c, 1, &err), 0);
	}
	d = ferry_membuf_data(mb, &n);
	assert_int_equal(n, 100000);
	for (unsigned i = 0; i < 100000; i++)
		if (d[i] != (unsigned char)(i % 253))
			fail_msg("byte %u differs", i);
	ferry_ostream_free(mb);
}

/* A tee gives both branches every byte; a failing branch fails the write. */
static void test_tee(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_ostream *a = ferry_ostream_hash(FERRY_ALG_SHA256, NULL), *b = ferry_ostream_membuf(16);
	ferry_ostream *t = ferry_ostream_tee(a, b);
	assert_int_equal(ferry_write(t, "a", 1, &err), 0);
	assert_int_equal(ferry_write(t, "bc", 2, &err), 0);
	assert_int_equal(ferry_finish(t, &err), 0);
	ferry_digest d;
	uint64_t n;
	ferry_hash_result(a, &d, &n);
	assert_string_equal(d.str, SHA256_ABC);
	size_t len;
	const unsigned char *got = ferry_membuf_data(b, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(got, "abc", 3);
	ferry_ostream_free(t);
	ferry_ostream_free(a);
	ferry_ostream_free(b);
	/* the second branch over its cap: the tee's write fails with its error */
	a = ferry_ostream_hash(FERRY_ALG_SHA256, NULL);
	b = ferry_ostream_membuf(8);
	t = ferry_ostream_tee(a, b);
	assert_int_equal(ferry_write(t, "0123456789", 10, &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
	ferry_ostream_free(t);
	ferry_ostream_free(a);
	ferry_ostream_free(b);
}

static void test_fd_sink_and_write_all(void **state)
{
	(void)state;
	char path[] = "/tmp/ferry-test-digest-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_ostream *out = ferry_ostream_fd(fd, "the test file");
	ferry_ostream *h = ferry_ostream_hash(FERRY_ALG_SHA256, out);
	assert_int_equal(ferry_write(h, "ab", 2, &err), 0);
	assert_int_equal(ferry_write(h, "c", 1, &err), 0);
	assert_int_equal(ferry_finish(h, &err), 0);
	ferry_ostream_free(h);
	ferry_ostream_free(out);
	/* the sink did not close the fd */
	char buf[8];
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 3);
	assert_memory_equal(buf, "abc", 3);
	close(fd);

	/* errors name what was being written and why */
	assert_int_equal(ferry_write_all(fd, "x", 1, "blob sha256:abc", &err), -1);
	assert_int_equal(err.code, FERRY_E_FAILED);
	assert_non_null(strstr(err.msg, "blob sha256:abc"));
	assert_non_null(strstr(err.msg, "Bad file descriptor"));
	assert_int_equal(ferry_write_all(fd, "", 0, "nothing", &err), 0);

	/* /dev/full fails every write with ENOSPC */
	int full = open("/dev/full", O_WRONLY);
	if (full >= 0) {
		out = ferry_ostream_fd(full, "/dev/full");
		assert_int_equal(ferry_write(out, "x", 1, &err), -1);
		assert_non_null(strstr(err.msg, "No space left on device"));
		ferry_ostream_free(out);
		close(full);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_hash_stage),
		cmocka_unit_test(test_fd_range),
		cmocka_unit_test(test_fd_sequential),
		cmocka_unit_test(test_mem_istream),
		cmocka_unit_test(test_membuf_cap),
		cmocka_unit_test(test_tee),
		cmocka_unit_test(test_fd_sink_and_write_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
