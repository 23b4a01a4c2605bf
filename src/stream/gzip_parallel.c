#include "gzip_parallel.h"

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "util.h"

#define PGZ_BLOCK ((size_t)1 << 20)
#define PGZ_DICT ((size_t)32 << 10)
#define PGZ_SLOTS 6
#define PGZ_MAX_THREADS 4

enum { SLOT_FREE, SLOT_FILLING, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE, SLOT_FAILED };

typedef struct slot {
	int state;
	unsigned char *in; /* PGZ_BLOCK */
	size_t in_len;
	unsigned char dict[PGZ_DICT];
	size_t dict_len;
	bool last;
	unsigned char *out;
	size_t out_len, out_cap;
} slot;

struct ferry_pgz {
	ferry_ostream *next; /* borrowed */
	int level;
	uint32_t level_buf_size;
	unsigned char header[10];
	bool header_sent;
	slot slots[PGZ_SLOTS];
	size_t head;  /* oldest slot not yet written out */
	size_t count; /* slots in use, from head (the last may be filling) */
	pthread_t threads[PGZ_MAX_THREADS];
	int nthreads;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	bool stop;
	unsigned char tail[PGZ_DICT]; /* the last PGZ_DICT bytes submitted: the next block's dictionary */
	size_t tail_len;
	uint32_t crc;
	uint64_t isize;
};

static const uint32_t level_bufs[] = {0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT};

/* Levels 4-9: zlib, the same piece-by-piece way (ISA-L has no such levels). */
static bool compress_slot_zlib(ferry_pgz *z, slot *s)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	/* -15: raw deflate; the gzip wrapper is ours. */
	if (deflateInit2(&zs, z->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return false;
	bool ok = !s->dict_len || deflateSetDictionary(&zs, s->dict, (uInt)s->dict_len) == Z_OK;
	size_t bound = deflateBound(&zs, (uLong)s->in_len) + 64;
	if (s->out_cap < bound) {
		s->out_cap = bound;
		s->out = ferry_xrealloc(s->out, s->out_cap);
	}
	zs.next_in = s->in;
	zs.avail_in = (uInt)s->in_len;
	zs.next_out = s->out;
	zs.avail_out = (uInt)s->out_cap;
	int ret = ok ? deflate(&zs, s->last ? Z_FINISH : Z_FULL_FLUSH) : Z_STREAM_ERROR;
	ok = s->last ? ret == Z_STREAM_END : (ret == Z_OK && zs.avail_in == 0);
	s->out_len = s->out_cap - zs.avail_out;
	deflateEnd(&zs);
	return ok;
}

/* Compress one slot into its own piece of the deflate stream. Runs on a worker. */
static bool compress_slot(ferry_pgz *z, slot *s, unsigned char *level_buf)
{
	if (z->level > 3)
		return compress_slot_zlib(z, s);
	struct isal_zstream zs;
	isal_deflate_init(&zs);
	zs.level = (uint32_t)z->level;
	zs.level_buf = level_buf;
	zs.level_buf_size = z->level_buf_size;
	zs.gzip_flag = IGZIP_DEFLATE;
	if (s->dict_len && isal_deflate_set_dict(&zs, s->dict, (uint32_t)s->dict_len) != COMP_OK)
		return false;
	zs.next_in = s->in;
	zs.avail_in = (uint32_t)s->in_len;
	zs.end_of_stream = s->last;
	zs.flush = s->last ? NO_FLUSH : FULL_FLUSH;
	s->out_len = 0;
	for (;;) {
		if (s->out_cap - s->out_len < 4096) {
			s->out_cap = s->out_cap ? s->out_cap * 2 : s->in_len + s->in_len / 8 + 8192;
			s->out = ferry_xrealloc(s->out, s->out_cap);
		}
		zs.next_out = s->out + s->out_len;
		zs.avail_out = (uint32_t)(s->out_cap - s->out_len);
		if (isal_deflate(&zs) != COMP_OK)
			return false;
		s->out_len = s->out_cap - zs.avail_out;
		bool finished = s->last ? zs.internal_state.state == ZSTATE_END : (zs.avail_in == 0 && zs.avail_out > 0);
		if (finished)
			return true;
	}
}

static void *worker(void *arg)
{
	ferry_pgz *z = arg;
	unsigned char *level_buf = z->level_buf_size ? ferry_xmalloc(z->level_buf_size) : NULL;
	pthread_mutex_lock(&z->mu);
	for (;;) {
		slot *s = NULL;
		for (size_t i = 0; i < z->count && !s; i++) {
			slot *c = &z->slots[(z->head + i) % PGZ_SLOTS];
			if (c->state == SLOT_QUEUED)
				s = c;
		}
		if (!s) {
			if (z->stop)
				break;
			pthread_cond_wait(&z->work, &z->mu);
			continue;
		}
		s->state = SLOT_RUNNING;
		pthread_mutex_unlock(&z->mu);
		bool ok = compress_slot(z, s, level_buf);
		pthread_mutex_lock(&z->mu);
		s->state = ok ? SLOT_DONE : SLOT_FAILED;
		pthread_cond_broadcast(&z->done);
	}
	pthread_mutex_unlock(&z->mu);
	free(level_buf);
	return NULL;
}

/* Write out the oldest slot once it is compressed. */
static int drain_one(ferry_pgz *z, ferry_error *err)
{
	slot *s = &z->slots[z->head];
	pthread_mutex_lock(&z->mu);
	while (s->state == SLOT_QUEUED || s->state == SLOT_RUNNING)
		pthread_cond_wait(&z->done, &z->mu);
	int state = s->state;
	pthread_mutex_unlock(&z->mu);
	if (state == SLOT_FAILED)
		return ferry_error_set(err, FERRY_E_FAILED, "gzip: compression failed");
	if (!z->header_sent) {
		if (ferry_write(z->next, z->header, sizeof(z->header), err) < 0)
			return -1;
		z->header_sent = true;
	}
	if (s->out_len && ferry_write(z->next, s->out, s->out_len, err) < 0)
		return -1;
	pthread_mutex_lock(&z->mu);
	s->state = SLOT_FREE;
	s->in_len = 0;
	z->head = (z->head + 1) % PGZ_SLOTS;
	z->count--;
	pthread_mutex_unlock(&z->mu);
	return 0;
}

/* The slot being filled, opening one (after draining the oldest) if needed. */
static slot *filling(ferry_pgz *z, ferry_error *err)
{
	if (z->count) {
		slot *last = &z->slots[(z->head + z->count - 1) % PGZ_SLOTS];
		/* Workers change the states of other slots meanwhile: read it under the lock. */
		pthread_mutex_lock(&z->mu);
		bool open = last->state == SLOT_FILLING;
		pthread_mutex_unlock(&z->mu);
		if (open)
			return last;
	}
	if (z->count == PGZ_SLOTS && drain_one(z, err) < 0)
		return NULL;
	slot *s = &z->slots[(z->head + z->count) % PGZ_SLOTS];
	if (!s->in)
		s->in = ferry_xmalloc(PGZ_BLOCK);
	s->in_len = 0;
	pthread_mutex_lock(&z->mu);
	s->state = SLOT_FILLING;
	z->count++;
	pthread_mutex_unlock(&z->mu);
	return s;
}

static void submit(ferry_pgz *z, slot *s, bool last)
{
	memcpy(s->dict, z->tail, z->tail_len);
	s->dict_len = z->tail_len;
	s->last = last;
	z->crc = crc32_gzip_refl(z->crc, s->in, s->in_len);
	z->isize += s->in_len;
	/* The next block's dictionary: the last 32 KiB of everything so far. */
	if (s->in_len >= PGZ_DICT) {
		memcpy(z->tail, s->in + s->in_len - PGZ_DICT, PGZ_DICT);
		z->tail_len = PGZ_DICT;
	} else {
		size_t keep = z->tail_len + s->in_len > PGZ_DICT ? PGZ_DICT - s->in_len : z->tail_len;
		memmove(z->tail, z->tail + z->tail_len - keep, keep);
		memcpy(z->tail + keep, s->in, s->in_len);
		z->tail_len = keep + s->in_len;
	}
	pthread_mutex_lock(&z->mu);
	s->state = SLOT_QUEUED;
	pthread_cond_signal(&z->work);
	pthread_mutex_unlock(&z->mu);
}

int ferry_pgz_write(ferry_pgz *z, const void *buf, size_t len, ferry_error *err)
{
	const unsigned char *p = buf;
	while (len > 0) {
		slot *s = filling(z, err);
		if (!s)
			return -1;
		size_t n = PGZ_BLOCK - s->in_len;
		if (n > len)
			n = len;
		memcpy(s->in + s->in_len, p, n);
		s->in_len += n;
		p += n;
		len -= n;
		if (s->in_len == PGZ_BLOCK)
			submit(z, s, false);
	}
	return 0;
}

int ferry_pgz_finish(ferry_pgz *z, ferry_error *err)
{
	slot *s = filling(z, err); /* possibly empty: it carries the final deflate block */
	if (!s)
		return -1;
	submit(z, s, true);
	while (z->count)
		if (drain_one(z, err) < 0)
			return -1;
	unsigned char trailer[8];
	for (int i = 0; i < 4; i++) {
		trailer[i] = (unsigned char)(z->crc >> (8 * i));
		trailer[4 + i] = (unsigned char)(z->isize >> (8 * i)); /* ISIZE: the size mod 2^32 */
	}
	return ferry_write(z->next, trailer, sizeof(trailer), err);
}

ferry_pgz *ferry_pgz_new(int level, int threads, const unsigned char header[10], ferry_ostream *next)
{
	ferry_pgz *z = ferry_xcalloc(1, sizeof(*z));
	z->next = next;
	z->level = level < 1 ? 1 : level > 9 ? 9 : level;
	z->level_buf_size = z->level <= 3 ? level_bufs[z->level] : 0;
	memcpy(z->header, header, sizeof(z->header));
	pthread_mutex_init(&z->mu, NULL);
	pthread_cond_init(&z->work, NULL);
	pthread_cond_init(&z->done, NULL);
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	if (threads > PGZ_MAX_THREADS)
		threads = PGZ_MAX_THREADS;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&z->threads[z->nthreads], NULL, worker, z) == 0)
			z->nthreads++;
	}
	if (z->nthreads == 0) {
		/* Without a thread nothing would ever compress: that is only an out-of-resources machine. */
		abort();
	}
	return z;
}

void ferry_pgz_free(ferry_pgz *z)
{
	if (!z)
		return;
	pthread_mutex_lock(&z->mu);
	z->stop = true;
	/* Abandoned work is not waited for: mark what is queued as not to be done. */
	for (size_t i = 0; i < PGZ_SLOTS; i++) {
		if (z->slots[i].state == SLOT_QUEUED)
			z->slots[i].state = SLOT_FREE;
	}
	pthread_cond_broadcast(&z->work);
	pthread_mutex_unlock(&z->mu);
	for (int i = 0; i < z->nthreads; i++)
		pthread_join(z->threads[i], NULL);
	for (size_t i = 0; i < PGZ_SLOTS; i++) {
		free(z->slots[i].in);
		free(z->slots[i].out);
	}
	pthread_mutex_destroy(&z->mu);
	pthread_cond_destroy(&z->work);
	pthread_cond_destroy(&z->done);
	free(z);
}
