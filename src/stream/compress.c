/*
 * compress.c - gzip/zstd decode and encode stages.
 *
 * gzip decoding goes through ISA-L (igzip), several times faster than
 * zlib; encoding is cut into blocks compressed on every core
 * (gzip_parallel.c: ISA-L for levels 1-3, zlib for the stronger 4-9).
 * zstd uses libzstd.
 *
 * Every stage works with fixed-size buffers, so its memory does not grow with
 * the size of the blob flowing through it (zstd's window is bounded by
 * libzstd's default windowLogMax).
 */
#include "compress.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/igzip_lib.h>
#include <zlib.h>
#include <zstd.h>

#include "gzip_parallel.h"
#include "util.h"

#define OUT_BUF_SIZE ((size_t)256 << 10)

/* zlib counts in uInt; feed it at most this much per call. */
#define ZLIB_MAX_IN ((size_t)1 << 30)

/* The OS byte written in gzip headers: 255 "unknown", the same on every host. */
#define GZIP_OS_UNKNOWN 255

static const unsigned char gzip_magic[2] = {0x1f, 0x8b};
static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

ferry_comp ferry_comp_sniff(const void *buf, size_t len)
{
	if (len >= 2 && memcmp(buf, gzip_magic, 2) == 0)
		return FERRY_COMP_GZIP;
	if (len >= 4 && memcmp(buf, zstd_magic, 4) == 0)
		return FERRY_COMP_ZSTD;
	return FERRY_COMP_NONE;
}

const char *ferry_comp_name(ferry_comp c)
{
	switch (c) {
	case FERRY_COMP_GZIP:
		return "gzip";
	case FERRY_COMP_ZSTD:
		return "zstd";
	case FERRY_COMP_NONE:
		break;
	}
	return "none";
}

/* Parse a decimal level in [1, max]; only plain digits are accepted. */
static bool parse_level(const char *s, int max, int *out)
{
	if (!*s || strlen(s) > 2)
		return false;
	int v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	if (v < 1 || v > max)
		return false;
	*out = v;
	return true;
}

int ferry_comp_parse(const char *spec, ferry_comp *comp, int *level, ferry_error *err)
{
	static const struct {
		const char *name;
		ferry_comp comp;
		int max_level; /* 0: takes no level */
	} codecs[] = {
		{"none", FERRY_COMP_NONE, 0},
		{"gzip", FERRY_COMP_GZIP, 9},
		{"zstd", FERRY_COMP_ZSTD, 19},
	};
	if (spec) {
		for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
			size_t n = strlen(codecs[i].name);
			if (strncmp(spec, codecs[i].name, n) != 0)
				continue;
			int lv = 0;
			if (spec[n] == '\0') {
				/* bare name: default level */
			} else if (spec[n] == ':' && codecs[i].max_level &&
				   parse_level(spec + n + 1, codecs[i].max_level, &lv)) {
				/* explicit level */
			} else {
				break;
			}
			*comp = codecs[i].comp;
			*level = lv;
			return 0;
		}
	}
	return ferry_error_set(err, FERRY_E_USAGE,
			       "invalid compression \"%.80s\": expected none, gzip, gzip:LEVEL (1-9), "
			       "zstd or zstd:LEVEL (1-19)",
			       spec ? spec : "");
}

/* ======================= decoding ======================= */

enum gz_state {
	GZ_IN_MEMBER, /* inside a gzip member */
	GZ_BETWEEN,   /* a member ended; the next bytes must start another */
};

struct decode {
	ferry_ostream base;
	ferry_ostream *next; /* borrowed */
	uint64_t max_out;    /* 0 = unlimited */
	uint64_t out_total;

	bool sniffed;
	ferry_comp comp;
	unsigned char head[4]; /* first bytes, held until we can sniff */
	size_t nhead;

	/* gzip (ISA-L) */
	struct inflate_state *is; /* owned */
	enum gz_state gz;
	unsigned char pend[2]; /* start of what follows a member, held to check its magic */
	size_t npend;

	/* zstd */
	ZSTD_DCtx *zd;
	size_t zhint; /* last ZSTD_decompressStream result: 0 = frame complete */

	unsigned char *out; /* owned, OUT_BUF_SIZE */

	/* Once a stage has failed it stays failed: the error is repeated. */
	bool failed;
	ferry_error fail;
};

static int dec_fail(struct decode *d, ferry_error *err)
{
	d->failed = true;
	if (err)
		d->fail = *err;
	else
		ferry_error_set(&d->fail, FERRY_E_FAILED, "decoding failed earlier");
	return -1;
}

/* Hand decoded bytes on, enforcing the bomb cap. */
static int dec_emit(struct decode *d, const void *buf, size_t len, ferry_error *err)
{
	if (len == 0)
		return 0;
	if (d->max_out && len > d->max_out - d->out_total)
		return ferry_error_set(err, FERRY_E_LIMIT, "decompressed size exceeds %" PRIu64 " bytes",
				       d->max_out);
	d->out_total += len;
	return ferry_write(d->next, buf, len, err);
}

/*
 * Inflate in[0..len) until it is used up or a member ends.  *used is how much
 * was consumed; *ended says the member's trailer was read (and checked).
 */
static int gz_inflate(struct decode *d, const unsigned char *in, size_t len, size_t *used, bool *ended,
		      ferry_error *err)
{
	*used = 0;
	*ended = false;
	while (len > 0) {
		size_t chunk = len > ZLIB_MAX_IN ? ZLIB_MAX_IN : len;
		d->is->next_in = (uint8_t *)in;
		d->is->avail_in = (uint32_t)chunk;
		for (;;) {
			d->is->next_out = d->out;
			d->is->avail_out = (uint32_t)OUT_BUF_SIZE;
			int ret = isal_inflate(d->is);
			if (ret < 0) {
				const char *why = ret == ISAL_INCORRECT_CHECKSUM ? "checksum mismatch"
						  : ret == ISAL_INVALID_WRAPPER	 ? "bad gzip header or trailer"
						  : ret == ISAL_UNSUPPORTED_METHOD ? "unsupported method"
										   : "invalid data";
				return ferry_error_set(err, FERRY_E_FORMAT, "corrupt gzip stream: %s", why);
			}
			if (dec_emit(d, d->out, OUT_BUF_SIZE - d->is->avail_out, err) < 0)
				return -1;
			if (d->is->block_state == ISAL_BLOCK_FINISH) {
				*used += chunk - d->is->avail_in;
				*ended = true;
				return 0;
			}
			/* Input used up and room to spare: nothing is held back. */
			if (d->is->avail_in == 0 && d->is->avail_out != 0)
				break;
		}
		in += chunk;
		len -= chunk;
		*used += chunk;
	}
	return 0;
}

static void gz_reset(struct decode *d)
{
	isal_inflate_reset(d->is);
	d->is->crc_flag = ISAL_GZIP; /* parse the gzip wrapper and check its CRC and size */
}

static int gz_feed(struct decode *d, const unsigned char *in, size_t len, ferry_error *err)
{
	while (len > 0) {
		if (d->gz == GZ_BETWEEN) {
			/* Need two bytes to tell another member from trailing junk. */
			while (d->npend < 2 && len > 0) {
				d->pend[d->npend++] = *in++;
				len--;
			}
			if (d->npend < 2)
				return 0;
			if (memcmp(d->pend, gzip_magic, 2) != 0)
				return ferry_error_set(err, FERRY_E_FORMAT, "trailing data after gzip stream");
			gz_reset(d);
			d->gz = GZ_IN_MEMBER;
			d->npend = 0;
			size_t used;
			bool ended;
			/* Two header bytes can never end a member. */
			if (gz_inflate(d, gzip_magic, 2, &used, &ended, err) < 0)
				return -1;
			continue;
		}
		size_t used;
		bool ended;
		if (gz_inflate(d, in, len, &used, &ended, err) < 0)
			return -1;
		in += used;
		len -= used;
		if (ended)
			d->gz = GZ_BETWEEN;
	}
	return 0;
}

static int gz_end(struct decode *d, ferry_error *err)
{
	if (d->gz == GZ_IN_MEMBER || (d->npend == 1 && d->pend[0] == gzip_magic[0]))
		return ferry_error_set(err, FERRY_E_FORMAT, "gzip stream truncated");
	if (d->npend > 0)
		return ferry_error_set(err, FERRY_E_FORMAT, "trailing data after gzip stream");
	return 0;
}

static int zstd_feed(struct decode *d, const unsigned char *in, size_t len, ferry_error *err)
{
	ZSTD_inBuffer ib = {in, len, 0};
	for (;;) {
		ZSTD_outBuffer ob = {d->out, OUT_BUF_SIZE, 0};
		size_t r = ZSTD_decompressStream(d->zd, &ob, &ib);
		if (ZSTD_isError(r))
			return ferry_error_set(err, FERRY_E_FORMAT, "corrupt zstd stream: %s", ZSTD_getErrorName(r));
		d->zhint = r;
		if (dec_emit(d, d->out, ob.pos, err) < 0)
			return -1;
		/* A full output buffer may mean more is pending inside the decoder. */
		if (ib.pos == ib.size && ob.pos < ob.size)
			return 0;
	}
}

static int dec_feed(struct decode *d, const unsigned char *in, size_t len, ferry_error *err)
{
	switch (d->comp) {
	case FERRY_COMP_GZIP:
		return gz_feed(d, in, len, err);
	case FERRY_COMP_ZSTD:
		return zstd_feed(d, in, len, err);
	case FERRY_COMP_NONE:
		break;
	}
	return dec_emit(d, in, len, err);
}

/* Decide the codec from the held head bytes, set it up and push them through. */
static int dec_start(struct decode *d, ferry_error *err)
{
	d->sniffed = true;
	d->comp = ferry_comp_sniff(d->head, d->nhead);
	if (d->comp == FERRY_COMP_GZIP) {
		d->is = ferry_xmalloc(sizeof(*d->is));
		isal_inflate_init(d->is);
		d->is->crc_flag = ISAL_GZIP;
		d->gz = GZ_IN_MEMBER;
	} else if (d->comp == FERRY_COMP_ZSTD) {
		d->zd = ZSTD_createDCtx();
		if (!d->zd)
			return ferry_error_set(err, FERRY_E_FAILED, "zstd: cannot initialise decoder");
		d->zhint = 1;
	}
	if (d->comp != FERRY_COMP_NONE)
		d->out = ferry_xmalloc(OUT_BUF_SIZE);
	return dec_feed(d, d->head, d->nhead, err);
}

static int dec_write(ferry_ostream *s, const void *buf, size_t len, ferry_error *err)
{
	struct decode *d = (struct decode *)s;
	const unsigned char *p = buf;
	if (d->failed) {
		if (err)
			*err = d->fail;
		return -1;
	}
	if (!d->sniffed) {
		while (d->nhead < sizeof(d->head) && len > 0) {
			d->head[d->nhead++] = *p++;
			len--;
		}
		if (d->nhead < sizeof(d->head))
			return 0;
		if (dec_start(d, err) < 0)
			return dec_fail(d, err);
	}
	if (len && dec_feed(d, p, len, err) < 0)
		return dec_fail(d, err);
	return 0;
}

static int dec_finish(ferry_ostream *s, ferry_error *err)
{
	struct decode *d = (struct decode *)s;
	if (d->failed) {
		if (err)
			*err = d->fail;
		return -1;
	}
	/* Short input: sniff what there is. */
	if (!d->sniffed && dec_start(d, err) < 0)
		return dec_fail(d, err);
	if (d->comp == FERRY_COMP_GZIP && gz_end(d, err) < 0)
		return dec_fail(d, err);
	if (d->comp == FERRY_COMP_ZSTD && d->zhint != 0) {
		ferry_error_set(err, FERRY_E_FORMAT, "zstd stream truncated");
		return dec_fail(d, err);
	}
	return ferry_finish(d->next, err);
}

static void dec_free(ferry_ostream *s)
{
	struct decode *d = (struct decode *)s;
	free(d->is);
	ZSTD_freeDCtx(d->zd);
	free(d->out);
	free(d);
}

ferry_ostream *ferry_ostream_decode(ferry_ostream *next, uint64_t max_out)
{
	struct decode *d = ferry_xcalloc(1, sizeof(*d));
	d->base.write = dec_write;
	d->base.finish = dec_finish;
	d->base.free = dec_free;
	d->next = next;
	d->max_out = max_out;
	return &d->base;
}

ferry_comp ferry_decode_detected(ferry_ostream *decode_stage)
{
	struct decode *d = (struct decode *)decode_stage;
	if (d->sniffed)
		return d->comp;
	/* Not enough bytes yet for a final answer; gzip needs only two. */
	return ferry_comp_sniff(d->head, d->nhead);
}

/* ======================= encoding ======================= */

struct encode {
	ferry_ostream base;
	ferry_ostream *next; /* borrowed */
	ferry_comp comp;
	ferry_pgz *pgz; /* gzip on every core (ISA-L 1-3, zlib 4-9); owned */
	ZSTD_CCtx *zc;
	unsigned char *out; /* owned, OUT_BUF_SIZE; NULL for pass-through */
};

static _Noreturn void enc_init_failed(const char *what)
{
	/* Only reachable on allocation failure (levels are clamped), so abort like ferry_xmalloc. */
	fprintf(stderr, "ferry: cannot initialise %s encoder\n", what);
	abort();
}

/*
 * The gzip header ferry writes, identical whatever compresses the body: no
 * name, mtime 0, no extra flags, OS "unknown".
 */
static const unsigned char gzip_header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, GZIP_OS_UNKNOWN};

static int zstd_compress(struct encode *e, const void *in, size_t len, ZSTD_EndDirective mode,
			 ferry_error *err)
{
	ZSTD_inBuffer ib = {in, len, 0};
	for (;;) {
		ZSTD_outBuffer ob = {e->out, OUT_BUF_SIZE, 0};
		size_t r = ZSTD_compressStream2(e->zc, &ob, &ib, mode);
		if (ZSTD_isError(r))
			return ferry_error_set(err, FERRY_E_FAILED, "zstd: compression failed: %s",
					       ZSTD_getErrorName(r));
		if (ob.pos && ferry_write(e->next, e->out, ob.pos, err) < 0)
			return -1;
		/* e_end: r is what is still to flush; e_continue: done once input is taken. */
		if (mode == ZSTD_e_end ? r == 0 : ib.pos == ib.size)
			return 0;
	}
}

static int enc_write(ferry_ostream *s, const void *buf, size_t len, ferry_error *err)
{
	struct encode *e = (struct encode *)s;
	if (len == 0)
		return 0;
	switch (e->comp) {
	case FERRY_COMP_GZIP:
		return ferry_pgz_write(e->pgz, buf, len, err);
	case FERRY_COMP_ZSTD:
		return zstd_compress(e, buf, len, ZSTD_e_continue, err);
	case FERRY_COMP_NONE:
		break;
	}
	return ferry_write(e->next, buf, len, err);
}

static int enc_finish(ferry_ostream *s, ferry_error *err)
{
	struct encode *e = (struct encode *)s;
	int rc = 0;
	if (e->comp == FERRY_COMP_GZIP)
		rc = ferry_pgz_finish(e->pgz, err);
	else if (e->comp == FERRY_COMP_ZSTD)
		rc = zstd_compress(e, NULL, 0, ZSTD_e_end, err);
	if (rc < 0)
		return -1;
	return ferry_finish(e->next, err);
}

static void enc_free(ferry_ostream *s)
{
	struct encode *e = (struct encode *)s;
	ZSTD_freeCCtx(e->zc);
	ferry_pgz_free(e->pgz);
	free(e->out);
	free(e);
}

static int clamp_level(int level, int def, int max)
{
	if (level <= 0)
		return def;
	return level > max ? max : level;
}

ferry_ostream *ferry_ostream_encode(ferry_comp comp, int level, ferry_ostream *next)
{
	struct encode *e = ferry_xcalloc(1, sizeof(*e));
	e->base.write = enc_write;
	e->base.finish = enc_finish;
	e->base.free = enc_free;
	e->next = next;
	e->comp = comp;
	if (comp == FERRY_COMP_GZIP) {
		/* Every level on every core: ISA-L for 1-3, zlib for 4-9 (see gzip_parallel.h). */
		e->pgz = ferry_pgz_new(clamp_level(level, FERRY_GZIP_DEFAULT_LEVEL, 9), 0, gzip_header, next);
	} else if (comp == FERRY_COMP_ZSTD) {
		int lv = clamp_level(level, FERRY_ZSTD_DEFAULT_LEVEL, 19);
		e->zc = ZSTD_createCCtx();
		if (!e->zc ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(e->zc, ZSTD_c_compressionLevel, lv)) ||
		    /* Layers are already covered by digests; keep frames minimal. */
		    ZSTD_isError(ZSTD_CCtx_setParameter(e->zc, ZSTD_c_checksumFlag, 0)) ||
		    /*
		     * Multi-threaded frames: libzstd makes the same bytes for any
		     * worker count >= 1 (not for 0), cut into jobs of its own size,
		     * so the output depends on the input alone.
		     */
		    ZSTD_isError(ZSTD_CCtx_setParameter(e->zc, ZSTD_c_nbWorkers, 2)) ||
		    /* Small jobs keep memory down (the default sizes them from the window: ~100 MB in flight). */
		    ZSTD_isError(ZSTD_CCtx_setParameter(e->zc, ZSTD_c_jobSize, 2u << 20)) ||
		    /*
		     * Each job re-reads a slice of the one before as its dictionary:
		     * 1/64 of the window instead of the default 1/8 costs ~0.1% in
		     * size and saves ~7% of the CPU time (measured on the bench data).
		     */
		    ZSTD_isError(ZSTD_CCtx_setParameter(e->zc, ZSTD_c_overlapLog, 3)))
			enc_init_failed("zstd");
	} else {
		e->comp = FERRY_COMP_NONE;
	}
	if (e->comp != FERRY_COMP_NONE)
		e->out = ferry_xmalloc(OUT_BUF_SIZE);
	return &e->base;
}
