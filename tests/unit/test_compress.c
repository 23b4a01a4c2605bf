/*
 * test_compress.c - decode/encode stages: round trips, determinism, multi-member
 * input, truncation, corruption, bomb cap, pass-through, --compress parsing and
 * interop with the gzip/zstd command-line tools.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress.h"
#include "stream.h"
#include "util.h"

#define BIG_CAP ((size_t)256 << 20)

/* Compressible but not trivial bytes: words from a small vocabulary, seeded. */
static unsigned char *make_data(size_t len, uint32_t seed)
{
	static const char *words[] = {"layer ", "blob ", "sha256 ", "manifest ", "\n", "usr/lib/ ",
				      "0123456789", "\x00\x01\xff", "config "};
	unsigned char *p = ferry_xmalloc(len ? len : 1);
	uint32_t x = seed ? seed : 1;
	size_t i = 0;
	while (i < len) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		if (x % 7 == 0) {
			p[i++] = (unsigned char)(x >> 8); /* some noise */
			continue;
		}
		const char *w = words[x % (sizeof(words) / sizeof(words[0]))];
		size_t wl = w[0] == '\0' ? 3 : strlen(w);
		for (size_t j = 0; j < wl && i < len; j++)
			p[i++] = (unsigned char)w[j];
	}
	return p;
}

/* Write buf to s in pieces of chunk bytes, then finish. Returns the first failure. */
static int feed(ferry_ostream *s, const void *buf, size_t len, size_t chunk, ferry_error *err)
{
	const unsigned char *p = buf;
	while (len > 0) {
		size_t n = len < chunk ? len : chunk;
		if (ferry_write(s, p, n, err) < 0)
			return -1;
		p += n;
		len -= n;
	}
	return ferry_finish(s, err);
}

/* Compress; the result is a malloc'd copy the caller frees. */
static unsigned char *encode(ferry_comp comp, int level, const void *buf, size_t len, size_t chunk,
			     size_t *outlen)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_ostream *mb = ferry_ostream_membuf(BIG_CAP);
	ferry_ostream *enc = ferry_ostream_encode(comp, level, mb);
	assert_int_equal(feed(enc, buf, len, chunk, &err), 0);
	size_t n;
	const unsigned char *d = ferry_membuf_data(mb, &n);
	unsigned char *copy = ferry_xmalloc(n ? n : 1);
	memcpy(copy, d, n);
	*outlen = n;
	ferry_ostream_free(enc);
	ferry_ostream_free(mb);
	return copy;
}

/*
 * Decode; on success *out is a malloc'd copy the caller frees.  Returns the
 * stage's result, with err filled on failure.  *detected gets what was sniffed.
 */
static int decode(const void *buf, size_t len, size_t chunk, uint64_t max_out, unsigned char **out,
		  size_t *outlen, ferry_comp *detected, ferry_error *err)
{
	ferry_ostream *mb = ferry_ostream_membuf(BIG_CAP);
	ferry_ostream *dec = ferry_ostream_decode(mb, max_out);
	int rc = feed(dec, buf, len, chunk, err);
	if (detected)
		*detected = ferry_decode_detected(dec);
	*out = NULL;
	*outlen = 0;
	if (rc == 0) {
		size_t n;
		const unsigned char *d = ferry_membuf_data(mb, &n);
		*out = ferry_xmalloc(n ? n : 1);
		memcpy(*out, d, n);
		*outlen = n;
	}
	ferry_ostream_free(dec);
	ferry_ostream_free(mb);
	return rc;
}

/* Decoding buf must fail with code, and the message must mention want (if not NULL). */
static void expect_decode_error(const void *buf, size_t len, size_t chunk, uint64_t max_out,
				ferry_code code, const char *want)
{
	ferry_error err = FERRY_ERROR_INIT;
	unsigned char *out;
	size_t n;
	assert_int_equal(decode(buf, len, chunk, max_out, &out, &n, NULL, &err), -1);
	assert_int_equal(err.code, code);
	if (want && !strstr(err.msg, want))
		fail_msg("error \"%s\" does not mention \"%s\"", err.msg, want);
	assert_null(out);
}

static void roundtrip(ferry_comp comp, int level, size_t len, size_t in_chunk, size_t dec_chunk)
{
	unsigned char *data = make_data(len, (uint32_t)(len * 31 + 7));
	size_t clen;
	unsigned char *c = encode(comp, level, data, len, in_chunk, &clen);
	if (comp != FERRY_COMP_NONE) {
		assert_int_equal(ferry_comp_sniff(c, clen), comp);
		if (len > 4096)
			assert_true(clen < len); /* it actually compressed */
	} else {
		assert_int_equal(clen, len);
	}
	unsigned char *out;
	size_t olen;
	ferry_comp det;
	ferry_error err = FERRY_ERROR_INIT;
	if (decode(c, clen, dec_chunk, 0, &out, &olen, &det, &err) < 0)
		fail_msg("decode %s of %zu bytes: %s", ferry_comp_name(comp), len, err.msg);
	assert_int_equal(olen, len);
	if (len)
		assert_memory_equal(out, data, len);
	/* Tiny plain inputs can look like anything; only check real codecs. */
	if (comp != FERRY_COMP_NONE)
		assert_int_equal(det, comp);
	free(out);
	free(c);
	free(data);
}

static const size_t sizes[] = {0, 1, 3, 4, 5, 100, 4096, 65543, (3u << 20) + 12345};

static void run_roundtrips(ferry_comp comp, int level)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i];
		roundtrip(comp, level, len, 4093, 7919);
		roundtrip(comp, level, len, FERRY_IO_CHUNK + 3, 1u << 20);
		if (len <= 65543)
			roundtrip(comp, level, len, 1, 1); /* byte by byte through every state */
	}
}

static void test_roundtrip_gzip(void **state)
{
	(void)state;
	run_roundtrips(FERRY_COMP_GZIP, 0);
	roundtrip(FERRY_COMP_GZIP, 1, 200000, 333, 777);
	roundtrip(FERRY_COMP_GZIP, 9, 200000, 333, 777);
}

static void test_roundtrip_zstd(void **state)
{
	(void)state;
	run_roundtrips(FERRY_COMP_ZSTD, 0);
	roundtrip(FERRY_COMP_ZSTD, 1, 200000, 333, 777);
	roundtrip(FERRY_COMP_ZSTD, 19, 200000, 333, 777);
}

static void test_roundtrip_none(void **state)
{
	(void)state;
	run_roundtrips(FERRY_COMP_NONE, 0);
}

static void test_deterministic(void **state)
{
	(void)state;
	size_t len = (1u << 20) * 2 + 999;
	unsigned char *data = make_data(len, 42);
	ferry_comp comps[] = {FERRY_COMP_GZIP, FERRY_COMP_ZSTD};
	for (size_t i = 0; i < 2; i++) {
		size_t a_len, b_len;
		/* Different write sizes must not change the output either. */
		unsigned char *a = encode(comps[i], 0, data, len, 4093, &a_len);
		unsigned char *b = encode(comps[i], 0, data, len, FERRY_IO_CHUNK, &b_len);
		assert_int_equal(a_len, b_len);
		assert_memory_equal(a, b, a_len);
		free(a);
		free(b);
	}

	/* gzip header: mtime 0, no flags (no name), fixed OS byte. */
	size_t glen;
	unsigned char *g = encode(FERRY_COMP_GZIP, 0, "x", 1, 1, &glen);
	assert_true(glen >= 10);
	assert_int_equal(g[2], 8);     /* deflate */
	assert_int_equal(g[3], 0);     /* FLG: no name, comment, extra */
	assert_int_equal(g[4] | g[5] | g[6] | g[7], 0); /* MTIME */
	assert_int_equal(g[9], 255);   /* OS */
	free(g);

	/* zstd: no content checksum in the frame header descriptor (bit 2). */
	size_t zlen;
	unsigned char *z = encode(FERRY_COMP_ZSTD, 0, data, 1000, 1000, &zlen);
	assert_true(zlen > 5);
	assert_int_equal(z[4] & 0x04, 0);
	free(z);
	free(data);
}

/* Concatenate two encodings of different data; decoding gives both in order. */
static void multi(ferry_comp comp)
{
	size_t la = 70000, lb = 12345;
	unsigned char *a = make_data(la, 1), *b = make_data(lb, 2);
	size_t ca_len, cb_len;
	unsigned char *ca = encode(comp, 0, a, la, 4096, &ca_len);
	unsigned char *cb = encode(comp, 0, b, lb, 4096, &cb_len);
	/* three members: a, b, and an empty one */
	size_t ce_len;
	unsigned char *ce = encode(comp, 0, "", 0, 1, &ce_len);
	size_t cat_len = ca_len + cb_len + ce_len;
	unsigned char *cat = ferry_xmalloc(cat_len);
	memcpy(cat, ca, ca_len);
	memcpy(cat + ca_len, cb, cb_len);
	memcpy(cat + ca_len + cb_len, ce, ce_len);

	size_t chunks[] = {1, 2, 3, ca_len, ca_len + 1, cat_len};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		unsigned char *out;
		size_t olen;
		ferry_error err = FERRY_ERROR_INIT;
		if (decode(cat, cat_len, chunks[i], 0, &out, &olen, NULL, &err) < 0)
			fail_msg("multi %s chunk %zu: %s", ferry_comp_name(comp), chunks[i], err.msg);
		assert_int_equal(olen, la + lb);
		assert_memory_equal(out, a, la);
		assert_memory_equal(out + la, b, lb);
		free(out);
	}
	free(cat);
	free(ce);
	free(ca);
	free(cb);
	free(a);
	free(b);
}

static void test_multi_member_gzip(void **state)
{
	(void)state;
	multi(FERRY_COMP_GZIP);
}

static void test_multi_frame_zstd(void **state)
{
	(void)state;
	multi(FERRY_COMP_ZSTD);
}

/*
 * Members/frames of an odd size, so their ends fall at odd places in the
 * decoder's output buffer, with several of them arriving in a single write.
 */
static void odd_members(ferry_comp comp)
{
	size_t frame = 100003, nframes = 3, len = frame * nframes;
	unsigned char *data = make_data(len, 21);
	size_t cat_len = 0, cap = 0;
	unsigned char *cat = NULL;
	for (size_t i = 0; i < nframes; i++) {
		size_t clen;
		unsigned char *c = encode(comp, 0, data + i * frame, frame, 65536, &clen);
		ferry_grow((void **)&cat, &cap, cat_len + clen, 1);
		memcpy(cat + cat_len, c, clen);
		cat_len += clen;
		free(c);
	}
	size_t chunks[] = {cat_len, cat_len / 3, 4096};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		unsigned char *out;
		size_t olen;
		ferry_error err = FERRY_ERROR_INIT;
		if (decode(cat, cat_len, chunks[i], 0, &out, &olen, NULL, &err) < 0)
			fail_msg("%s frames, chunk %zu: %s", ferry_comp_name(comp), chunks[i], err.msg);
		assert_int_equal(olen, len);
		assert_memory_equal(out, data, len);
		free(out);
	}
	free(cat);
	free(data);
}

static void test_odd_members(void **state)
{
	(void)state;
	odd_members(FERRY_COMP_GZIP);
	odd_members(FERRY_COMP_ZSTD);
}

static void test_gzip_trailing_data(void **state)
{
	(void)state;
	size_t clen;
	unsigned char *c = encode(FERRY_COMP_GZIP, 0, "payload", 7, 7, &clen);
	unsigned char *buf = ferry_xmalloc(clen + 16);
	memcpy(buf, c, clen);
	memcpy(buf + clen, "garbage!", 8);
	expect_decode_error(buf, clen + 8, 4096, 0, FERRY_E_FORMAT, "trailing data after gzip stream");
	expect_decode_error(buf, clen + 8, 1, 0, FERRY_E_FORMAT, "trailing data after gzip stream");
	/* a single stray byte */
	buf[clen] = 0;
	expect_decode_error(buf, clen + 1, 4096, 0, FERRY_E_FORMAT, "trailing data after gzip stream");
	/* the first byte of a member and nothing else */
	buf[clen] = 0x1f;
	expect_decode_error(buf, clen + 1, 4096, 0, FERRY_E_FORMAT, "gzip stream truncated");
	free(buf);
	free(c);
}

static void truncated(ferry_comp comp, const char *want)
{
	size_t len = 300000;
	unsigned char *data = make_data(len, 9);
	size_t clen;
	unsigned char *c = encode(comp, 0, data, len, 65536, &clen);
	/* cut in the middle, just before the end, and right after the magic */
	size_t cuts[] = {clen / 2, clen - 1, clen - 4, 4, 10};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		expect_decode_error(c, cuts[i], 4096, 0, FERRY_E_FORMAT, want);
		expect_decode_error(c, cuts[i], 1u << 20, 0, FERRY_E_FORMAT, want);
	}
	free(c);
	free(data);
}

static void test_truncated_gzip(void **state)
{
	(void)state;
	truncated(FERRY_COMP_GZIP, "gzip stream truncated");
	/* two bytes of magic only: finish sniffs short input as gzip */
	expect_decode_error("\x1f\x8b", 2, 1, 0, FERRY_E_FORMAT, "gzip stream truncated");
}

static void test_truncated_zstd(void **state)
{
	(void)state;
	truncated(FERRY_COMP_ZSTD, "zstd stream truncated");
}

static void test_corrupt(void **state)
{
	(void)state;
	size_t len = 50000;
	unsigned char *data = make_data(len, 5);
	size_t clen;

	unsigned char *g = encode(FERRY_COMP_GZIP, 0, data, len, 4096, &clen);
	g[clen - 6] ^= 0x55; /* CRC32 in the trailer */
	expect_decode_error(g, clen, 4096, 0, FERRY_E_FORMAT, "corrupt gzip stream");
	g[clen - 6] ^= 0x55;
	g[2] = 7; /* compression method */
	expect_decode_error(g, clen, 4096, 0, FERRY_E_FORMAT, "corrupt gzip stream");
	g[2] = 8;
	/* Garbage in the middle: fails one way or another, always as a format error. */
	memset(g + clen / 2, 0xa5, 64);
	expect_decode_error(g, clen, 4096, 0, FERRY_E_FORMAT, NULL);
	free(g);

	unsigned char *z = encode(FERRY_COMP_ZSTD, 0, data, len, 4096, &clen);
	z[4] |= 0x08; /* reserved bit of the frame header descriptor */
	expect_decode_error(z, clen, 4096, 0, FERRY_E_FORMAT, "corrupt zstd stream");
	free(z);

	/* A failed stage keeps failing. */
	g = encode(FERRY_COMP_GZIP, 0, data, len, 4096, &clen);
	g[2] = 7;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_ostream *mb = ferry_ostream_membuf(BIG_CAP);
	ferry_ostream *dec = ferry_ostream_decode(mb, 0);
	assert_int_equal(ferry_write(dec, g, clen, &err), -1);
	ferry_error_clear(&err);
	assert_int_equal(ferry_finish(dec, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	ferry_ostream_free(dec);
	ferry_ostream_free(mb);
	free(g);
	free(data);
}

static void bomb(ferry_comp comp, int level)
{
	size_t len = 50u * 1000 * 1000;
	unsigned char *zeros = ferry_xcalloc(1, len);
	size_t clen;
	unsigned char *c = encode(comp, level, zeros, len, FERRY_IO_CHUNK, &clen);
	free(zeros);
	assert_true(clen < len / 100);
	expect_decode_error(c, clen, 4096, 1000000, FERRY_E_LIMIT, "decompressed size exceeds 1000000 bytes");

	/* a cap equal to the size is fine */
	ferry_error err = FERRY_ERROR_INIT;
	ferry_ostream *h = ferry_ostream_hash(FERRY_ALG_SHA256, NULL);
	ferry_ostream *dec = ferry_ostream_decode(h, len);
	assert_int_equal(feed(dec, c, clen, 65536, &err), 0);
	uint64_t n;
	ferry_hash_result(h, NULL, &n);
	assert_int_equal(n, len);
	ferry_ostream_free(dec);
	ferry_ostream_free(h);
	free(c);
}

static void test_bomb(void **state)
{
	(void)state;
	bomb(FERRY_COMP_GZIP, 1);
	bomb(FERRY_COMP_ZSTD, 1);
	/* the cap counts pass-through bytes as well */
	expect_decode_error("plain text, not compressed", 26, 5, 10, FERRY_E_LIMIT, "exceeds 10 bytes");
}

static void test_passthrough(void **state)
{
	(void)state;
	const char *texts[] = {"", "a", "ab", "abc", "abcd", "{\"schemaVersion\": 2}\n", "\x1f", "\x28\xb5\x2f"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len = strlen(texts[i]);
		size_t chunks[] = {1, 3, 100};
		for (size_t j = 0; j < 3; j++) {
			unsigned char *out;
			size_t olen;
			ferry_comp det = FERRY_COMP_GZIP;
			ferry_error err = FERRY_ERROR_INIT;
			assert_int_equal(decode(texts[i], len, chunks[j], 0, &out, &olen, &det, &err), 0);
			assert_int_equal(det, FERRY_COMP_NONE);
			assert_int_equal(olen, len);
			assert_memory_equal(out, texts[i], len);
			free(out);
		}
	}
	/* a plain tar-ish blob with binary content */
	size_t len = 100000;
	unsigned char *data = make_data(len, 77);
	data[0] = 'u';
	unsigned char *out;
	size_t olen;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(decode(data, len, 999, 0, &out, &olen, NULL, &err), 0);
	assert_int_equal(olen, len);
	assert_memory_equal(out, data, len);
	free(out);
	free(data);
}

static void test_sniff_and_names(void **state)
{
	(void)state;
	assert_int_equal(ferry_comp_sniff("\x1f\x8b\x08\x00", 4), FERRY_COMP_GZIP);
	assert_int_equal(ferry_comp_sniff("\x1f\x8b", 2), FERRY_COMP_GZIP);
	assert_int_equal(ferry_comp_sniff("\x1f", 1), FERRY_COMP_NONE);
	assert_int_equal(ferry_comp_sniff("\x28\xb5\x2f\xfd", 4), FERRY_COMP_ZSTD);
	assert_int_equal(ferry_comp_sniff("\x28\xb5\x2f", 3), FERRY_COMP_NONE);
	assert_int_equal(ferry_comp_sniff("ustar", 5), FERRY_COMP_NONE);
	assert_int_equal(ferry_comp_sniff(NULL, 0), FERRY_COMP_NONE);
	assert_string_equal(ferry_comp_name(FERRY_COMP_NONE), "none");
	assert_string_equal(ferry_comp_name(FERRY_COMP_GZIP), "gzip");
	assert_string_equal(ferry_comp_name(FERRY_COMP_ZSTD), "zstd");
}

static void test_comp_parse(void **state)
{
	(void)state;
	static const struct {
		const char *spec;
		ferry_comp comp;
		int level;
	} ok[] = {
		{"none", FERRY_COMP_NONE, 0}, {"gzip", FERRY_COMP_GZIP, 0},  {"gzip:1", FERRY_COMP_GZIP, 1},
		{"gzip:9", FERRY_COMP_GZIP, 9}, {"zstd", FERRY_COMP_ZSTD, 0}, {"zstd:1", FERRY_COMP_ZSTD, 1},
		{"zstd:19", FERRY_COMP_ZSTD, 19}, {"zstd:07", FERRY_COMP_ZSTD, 7},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ferry_comp c = (ferry_comp)-1;
		int lv = -1;
		ferry_error err = FERRY_ERROR_INIT;
		if (ferry_comp_parse(ok[i].spec, &c, &lv, &err) < 0)
			fail_msg("\"%s\" rejected: %s", ok[i].spec, err.msg);
		assert_int_equal(c, ok[i].comp);
		assert_int_equal(lv, ok[i].level);
	}
	static const char *bad[] = {"", "gz", "GZIP", "gzip:", "gzip:0", "gzip:10", "gzip:-1", "gzip:+5",
				    "gzip:5x", "gzip:1:2", "gzip 5", "zstd:0", "zstd:20", "zstd:100",
				    "zstd:999999999999", "none:1", "none:", "nonex", "gzipx", "xz", "lz4",
				    "zstd:a"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_comp c = FERRY_COMP_NONE;
		int lv = 0;
		ferry_error err = FERRY_ERROR_INIT;
		if (ferry_comp_parse(bad[i], &c, &lv, &err) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(err.code, FERRY_E_USAGE);
		assert_non_null(strstr(err.msg, bad[i]));
		assert_non_null(strstr(err.msg, "gzip:LEVEL (1-9)"));
		assert_non_null(strstr(err.msg, "zstd:LEVEL (1-19)"));
	}
	ferry_comp c;
	int lv;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_comp_parse(NULL, &c, &lv, &err), -1);
	assert_int_equal(err.code, FERRY_E_USAGE);
}

/* Precomputed by `printf 'hello, ferry\n' | gzip -9 -n` and `| zstd` (with its checksum). */
static const unsigned char hello_gz[] = {
	0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51,
	0x48, 0x4b, 0x2d, 0x2a, 0xaa, 0xe4, 0x02, 0x00, 0xaa, 0x5f, 0xca, 0x9f, 0x0d, 0x00, 0x00, 0x00};
static const unsigned char hello_zst[] = {
	0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x69, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c,
	0x6f, 0x2c, 0x20, 0x66, 0x65, 0x72, 0x72, 0x79, 0x0a, 0x04, 0x07, 0xc8, 0x41};

static void test_interop_blobs(void **state)
{
	(void)state;
	const struct {
		const unsigned char *b;
		size_t n;
		ferry_comp c;
	} blobs[] = {{hello_gz, sizeof(hello_gz), FERRY_COMP_GZIP}, {hello_zst, sizeof(hello_zst), FERRY_COMP_ZSTD}};
	for (size_t i = 0; i < 2; i++) {
		unsigned char *out;
		size_t olen;
		ferry_comp det;
		ferry_error err = FERRY_ERROR_INIT;
		assert_int_equal(decode(blobs[i].b, blobs[i].n, 3, 0, &out, &olen, &det, &err), 0);
		assert_int_equal(det, blobs[i].c);
		assert_int_equal(olen, 13);
		assert_memory_equal(out, "hello, ferry\n", 13);
		free(out);
	}
	/* the zstd CLI wrote a content checksum: corrupting the content must be caught */
	unsigned char bad[sizeof(hello_zst)];
	memcpy(bad, hello_zst, sizeof(bad));
	bad[9] ^= 0x20; /* 'h' -> 'H' in the raw block */
	expect_decode_error(bad, sizeof(bad), 100, 0, FERRY_E_FORMAT, "corrupt zstd stream");
}

static bool have_tool(const char *name)
{
	char *cmd = ferry_xasprintf("command -v %s >/dev/null 2>&1", name);
	int rc = system(cmd);
	free(cmd);
	return rc == 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t cap = 1 << 16, n = 0;
	unsigned char *p = ferry_xmalloc(cap);
	size_t r;
	while ((r = fread(p + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			p = ferry_xrealloc(p, cap *= 2);
	}
	fclose(f);
	*len = n;
	return p;
}

static void spill(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Both directions against a CLI tool: tool compresses -> we decode; we compress -> tool decodes. */
static void interop_cli(const char *tool, ferry_comp comp, const char *compress_cmd, const char *decompress_cmd)
{
	if (!have_tool(tool)) {
		print_message("%s not installed\n", tool);
		skip();
	}
	char dir[] = "/tmp/ferry-test-compress-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *plain = ferry_xasprintf("%s/plain", dir);
	char *packed = ferry_xasprintf("%s/packed", dir);
	char *back = ferry_xasprintf("%s/back", dir);
	size_t len = 1500000;
	unsigned char *data = make_data(len, 1234);
	spill(plain, data, len);

	char *cmd = ferry_xasprintf(compress_cmd, plain, packed);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	size_t clen;
	unsigned char *c = slurp(packed, &clen);
	unsigned char *out;
	size_t olen;
	ferry_comp det;
	ferry_error err = FERRY_ERROR_INIT;
	if (decode(c, clen, 10007, 0, &out, &olen, &det, &err) < 0)
		fail_msg("decoding %s output: %s", tool, err.msg);
	assert_int_equal(det, comp);
	assert_int_equal(olen, len);
	assert_memory_equal(out, data, len);
	free(out);
	free(c);

	c = encode(comp, 0, data, len, 65536, &clen);
	spill(packed, c, clen);
	cmd = ferry_xasprintf(decompress_cmd, packed, back);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	size_t blen;
	unsigned char *b = slurp(back, &blen);
	assert_int_equal(blen, len);
	assert_memory_equal(b, data, len);
	free(b);
	free(c);

	unlink(plain);
	unlink(packed);
	unlink(back);
	rmdir(dir);
	free(plain);
	free(packed);
	free(back);
	free(data);
}

static void test_interop_gzip_cli(void **state)
{
	(void)state;
	interop_cli("gzip", FERRY_COMP_GZIP, "gzip -c < %s > %s", "gzip -dc < %s > %s");
}

static void test_interop_zstd_cli(void **state)
{
	(void)state;
	interop_cli("zstd", FERRY_COMP_ZSTD, "zstd -q -c -19 < %s > %s", "zstd -q -dc < %s > %s");
}

static void test_encode_none_and_levels(void **state)
{
	(void)state;
	/* NONE passes bytes through untouched. */
	size_t n;
	unsigned char *p = encode(FERRY_COMP_NONE, 5, "\x1f\x8b raw", 6, 2, &n);
	assert_int_equal(n, 6);
	assert_memory_equal(p, "\x1f\x8b raw", 6);
	free(p);

	/* Level 0 means the default level. */
	size_t len = 200000, a_len, b_len;
	unsigned char *data = make_data(len, 3);
	unsigned char *a = encode(FERRY_COMP_GZIP, 0, data, len, 4096, &a_len);
	unsigned char *b = encode(FERRY_COMP_GZIP, FERRY_GZIP_DEFAULT_LEVEL, data, len, 4096, &b_len);
	assert_int_equal(a_len, b_len);
	assert_memory_equal(a, b, a_len);
	free(a);
	free(b);
	a = encode(FERRY_COMP_ZSTD, 0, data, len, 4096, &a_len);
	b = encode(FERRY_COMP_ZSTD, FERRY_ZSTD_DEFAULT_LEVEL, data, len, 4096, &b_len);
	assert_int_equal(a_len, b_len);
	assert_memory_equal(a, b, a_len);
	free(a);
	free(b);
	free(data);
}

/* A failure in the next stage surfaces from the codec stages unchanged. */
static void test_next_stage_error(void **state)
{
	(void)state;
	size_t len = 100000;
	unsigned char *data = make_data(len, 11);
	ferry_comp comps[] = {FERRY_COMP_NONE, FERRY_COMP_GZIP, FERRY_COMP_ZSTD};
	for (size_t i = 0; i < 3; i++) {
		ferry_error err = FERRY_ERROR_INIT;
		ferry_ostream *mb = ferry_ostream_membuf(100);
		ferry_ostream *enc = ferry_ostream_encode(comps[i], 0, mb);
		assert_int_equal(feed(enc, data, len, 4096, &err), -1);
		assert_int_equal(err.code, FERRY_E_LIMIT);
		ferry_ostream_free(enc);
		ferry_ostream_free(mb);

		size_t clen;
		unsigned char *c = encode(comps[i], 0, data, len, 4096, &clen);
		ferry_error_clear(&err);
		mb = ferry_ostream_membuf(100);
		ferry_ostream *dec = ferry_ostream_decode(mb, 0);
		assert_int_equal(feed(dec, c, clen, 4096, &err), -1);
		assert_int_equal(err.code, FERRY_E_LIMIT);
		assert_non_null(strstr(err.msg, "100"));
		ferry_ostream_free(dec);
		ferry_ostream_free(mb);
		free(c);
	}
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sniff_and_names),
		cmocka_unit_test(test_comp_parse),
		cmocka_unit_test(test_roundtrip_none),
		cmocka_unit_test(test_roundtrip_gzip),
		cmocka_unit_test(test_roundtrip_zstd),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_encode_none_and_levels),
		cmocka_unit_test(test_multi_member_gzip),
		cmocka_unit_test(test_multi_frame_zstd),
		cmocka_unit_test(test_odd_members),
		cmocka_unit_test(test_gzip_trailing_data),
		cmocka_unit_test(test_truncated_gzip),
		cmocka_unit_test(test_truncated_zstd),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_bomb),
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_next_stage_error),
		cmocka_unit_test(test_interop_blobs),
		cmocka_unit_test(test_interop_gzip_cli),
		cmocka_unit_test(test_interop_zstd_cli),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
