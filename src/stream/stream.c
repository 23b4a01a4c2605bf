/*
 * stream.c - istream sources, basic ostream stages and the pump between them.
 *
 * Each concrete stream embeds the public ferry_istream/ferry_ostream as its
 * first member, so the callbacks can cast the base pointer back.
 */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Largest single read()/write() we issue: keeps counts well inside ssize_t. */
#define MAX_SYSCALL_IO ((size_t)1 << 30)

void ferry_istream_close(ferry_istream *s)
{
	if (s)
		s->close(s);
}

void ferry_ostream_free(ferry_ostream *s)
{
	if (s)
		s->free(s);
}

/* ---- istream over [off, off+len) of an fd ---- */

struct fd_range_in {
	ferry_istream base;
	int fd;
	bool own_fd;
	uint64_t off;  /* next offset to read */
	uint64_t left; /* bytes of the range not yet returned */
};

static ssize_t fd_range_read(ferry_istream *s, void *buf, size_t len, ferry_error *err)
{
	struct fd_range_in *r = (struct fd_range_in *)s;
	if (r->left == 0 || len == 0)
		return 0;
	if (len > r->left)
		len = (size_t)r->left;
	if (len > MAX_SYSCALL_IO)
		len = MAX_SYSCALL_IO;
	for (;;) {
		ssize_t n = pread(r->fd, buf, len, (off_t)r->off);
		if (n < 0) {
			if (errno == EINTR && !ferry_interrupted)
				continue;
			return ferry_error_errno(err, errno, "cannot read at offset %" PRIu64, r->off);
		}
		if (n == 0)
			/* The file is shorter than its index (tar header, etc.) claims. */
			return ferry_error_set(err, FERRY_E_FORMAT,
					       "unexpected end of file at offset %" PRIu64
					       " (%" PRIu64 " more bytes expected)",
					       r->off, r->left);
		r->off += (uint64_t)n;
		r->left -= (uint64_t)n;
		return n;
	}
}

static void fd_range_close(ferry_istream *s)
{
	struct fd_range_in *r = (struct fd_range_in *)s;
	if (r->own_fd)
		close(r->fd);
	free(r);
}

ferry_istream *ferry_istream_fd_range(int fd, uint64_t off, uint64_t len, bool own_fd)
{
	struct fd_range_in *r = ferry_xcalloc(1, sizeof(*r));
	r->base.read = fd_range_read;
	r->base.close = fd_range_close;
	r->fd = fd;
	r->own_fd = own_fd;
	r->off = off;
	r->left = len;
	return &r->base;
}

/* ---- sequential istream over an fd ---- */

struct fd_in {
	ferry_istream base;
	int fd;
	bool own_fd;
};

static ssize_t fd_read(ferry_istream *s, void *buf, size_t len, ferry_error *err)
{
	struct fd_in *r = (struct fd_in *)s;
	if (len > MAX_SYSCALL_IO)
		len = MAX_SYSCALL_IO;
	for (;;) {
		ssize_t n = read(r->fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR || ferry_interrupted)
			return ferry_error_errno(err, errno, "cannot read");
	}
}

static void fd_close(ferry_istream *s)
{
	struct fd_in *r = (struct fd_in *)s;
	if (r->own_fd)
		close(r->fd);
	free(r);
}

ferry_istream *ferry_istream_fd(int fd, bool own_fd)
{
	struct fd_in *r = ferry_xcalloc(1, sizeof(*r));
	r->base.read = fd_read;
	r->base.close = fd_close;
	r->fd = fd;
	r->own_fd = own_fd;
	return &r->base;
}

/* ---- istream over a borrowed buffer ---- */

struct mem_in {
	ferry_istream base;
	const unsigned char *buf; /* borrowed */
	size_t len;
	size_t pos;
};

static ssize_t mem_read(ferry_istream *s, void *buf, size_t len, ferry_error *err)
{
	(void)err;
	struct mem_in *m = (struct mem_in *)s;
	size_t n = m->len - m->pos;
	if (n > len)
		n = len;
	if (n > MAX_SYSCALL_IO)
		n = MAX_SYSCALL_IO;
	if (n)
		memcpy(buf, m->buf + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void mem_close(ferry_istream *s)
{
	free(s);
}

ferry_istream *ferry_istream_mem(const void *buf, size_t len)
{
	struct mem_in *m = ferry_xcalloc(1, sizeof(*m));
	m->base.read = mem_read;
	m->base.close = mem_close;
	m->buf = buf;
	m->len = len;
	return &m->base;
}

/* ---- hashing stage ---- */

struct hash_out {
	ferry_ostream base;
	ferry_ostream *next; /* borrowed; NULL makes this a sink */
	ferry_hasher *h;     /* owned */
	uint64_t size;
	bool done;           /* h has been finalised into digest */
	ferry_digest digest;
};

static int hash_write(ferry_ostream *s, const void *buf, size_t len, ferry_error *err)
{
	struct hash_out *o = (struct hash_out *)s;
	if (o->done)
		return ferry_error_set(err, FERRY_E_FAILED, "internal error: write after finish on hash stage");
	ferry_hasher_update(o->h, buf, len);
	o->size += len;
	return o->next ? ferry_write(o->next, buf, len, err) : 0;
}

static void hash_finalise(struct hash_out *o)
{
	if (!o->done) {
		ferry_hasher_final(o->h, &o->digest);
		o->done = true;
	}
}

static int hash_finish(ferry_ostream *s, ferry_error *err)
{
	struct hash_out *o = (struct hash_out *)s;
	hash_finalise(o);
	return o->next ? ferry_finish(o->next, err) : 0;
}

static void hash_free(ferry_ostream *s)
{
	struct hash_out *o = (struct hash_out *)s;
	ferry_hasher_free(o->h);
	free(o);
}

ferry_ostream *ferry_ostream_hash(ferry_alg alg, ferry_ostream *next)
{
	struct hash_out *o = ferry_xcalloc(1, sizeof(*o));
	o->base.write = hash_write;
	o->base.finish = hash_finish;
	o->base.free = hash_free;
	o->next = next;
	o->h = ferry_hasher_new(alg);
	return &o->base;
}

void ferry_hash_result(ferry_ostream *hash_stage, ferry_digest *digest, uint64_t *size)
{
	struct hash_out *o = (struct hash_out *)hash_stage;
	/* Normally finish has run; finalising here too keeps a sink usable without it. */
	hash_finalise(o);
	if (digest)
		*digest = o->digest;
	if (size)
		*size = o->size;
}

/* ---- tee: one stream into two ---- */

struct tee_out {
	ferry_ostream base;
	ferry_ostream *a, *b; /* borrowed */
};

static int tee_write(ferry_ostream *s, const void *buf, size_t len, ferry_error *err)
{
	struct tee_out *o = (struct tee_out *)s;
	if (ferry_write(o->a, buf, len, err) < 0)
		return -1;
	return ferry_write(o->b, buf, len, err);
}

static int tee_finish(ferry_ostream *s, ferry_error *err)
{
	struct tee_out *o = (struct tee_out *)s;
	if (ferry_finish(o->a, err) < 0)
		return -1;
	return ferry_finish(o->b, err);
}

static void tee_free(ferry_ostream *s)
{
	free(s);
}

ferry_ostream *ferry_ostream_tee(ferry_ostream *a, ferry_ostream *b)
{
	struct tee_out *o = ferry_xcalloc(1, sizeof(*o));
	o->base.write = tee_write;
	o->base.finish = tee_finish;
	o->base.free = tee_free;
	o->a = a;
	o->b = b;
	return &o->base;
}

/* ---- fd sink ---- */

struct fd_out {
	ferry_ostream base;
	int fd; /* borrowed */
	char *what; /* names the file in errors */
	bool durable;
	uint64_t written, flushed; /* bytes written, and handed to writeback */
};

static int fd_out_write(ferry_ostream *s, const void *buf, size_t len, ferry_error *err)
{
	struct fd_out *o = (struct fd_out *)s;
	if (ferry_write_all(o->fd, buf, len, o->what, err) < 0)
		return -1;
	o->written += len;
	if (o->durable)
		ferry_writeback(o->fd, o->written, &o->flushed);
	return 0;
}

static int fd_out_finish(ferry_ostream *s, ferry_error *err)
{
	struct fd_out *o = (struct fd_out *)s;
	if (o->durable && fdatasync(o->fd) < 0)
		return ferry_error_errno(err, errno, "cannot write %s to disk", o->what);
	return 0;
}

static void fd_out_free(ferry_ostream *s)
{
	free(((struct fd_out *)s)->what);
	free(s);
}

ferry_ostream *ferry_ostream_fd(int fd, const char *what)
{
	struct fd_out *o = ferry_xcalloc(1, sizeof(*o));
	o->base.write = fd_out_write;
	o->base.finish = fd_out_finish;
	o->base.free = fd_out_free;
	o->fd = fd;
	o->what = ferry_xstrdup(what);
	return &o->base;
}

ferry_ostream *ferry_ostream_fd_durable(int fd, const char *what)
{
	ferry_ostream *s = ferry_ostream_fd(fd, what);
	((struct fd_out *)s)->durable = true;
	return s;
}

/* ---- memory sink ---- */

struct membuf_out {
	ferry_ostream base;
	unsigned char *data; /* owned; always NUL-terminated past len for convenience */
	size_t len;
	size_t cap;          /* allocated bytes, including room for the NUL */
	size_t max;
};

static int membuf_write(ferry_ostream *s, const void *buf, size_t len, ferry_error *err)
{
	struct membuf_out *o = (struct membuf_out *)s;
	if (len > o->max - o->len)
		return ferry_error_set(err, FERRY_E_LIMIT, "data exceeds the %zu-byte limit", o->max);
	if (o->len + len + 1 > o->cap) {
		/* Grow geometrically, but never far past what max allows. */
		size_t c = o->cap * 2;
		if (c < o->len + len + 1)
			c = o->len + len + 1;
		if (c > o->max + 1)
			c = o->max + 1;
		o->data = ferry_xrealloc(o->data, c);
		o->cap = c;
	}
	if (len)
		memcpy(o->data + o->len, buf, len);
	o->len += len;
	o->data[o->len] = '\0';
	return 0;
}

static int membuf_finish(ferry_ostream *s, ferry_error *err)
{
	(void)s;
	(void)err;
	return 0;
}

static void membuf_free(ferry_ostream *s)
{
	struct membuf_out *o = (struct membuf_out *)s;
	free(o->data);
	free(o);
}

ferry_ostream *ferry_ostream_membuf(size_t max)
{
	struct membuf_out *o = ferry_xcalloc(1, sizeof(*o));
	o->base.write = membuf_write;
	o->base.finish = membuf_finish;
	o->base.free = membuf_free;
	if (max == SIZE_MAX)
		max--; /* keep max + 1 (the NUL) representable */
	o->max = max;
	o->cap = max < 4096 ? max + 1 : 4096;
	o->data = ferry_xmalloc(o->cap);
	o->data[0] = '\0';
	return &o->base;
}

const unsigned char *ferry_membuf_data(ferry_ostream *membuf_stage, size_t *len)
{
	struct membuf_out *o = (struct membuf_out *)membuf_stage;
	if (len)
		*len = o->len;
	return o->data;
}

/* ---- glue ---- */

volatile sig_atomic_t ferry_interrupted;

int ferry_pump(ferry_istream *in, ferry_ostream *out, ferry_error *err)
{
	/* On the heap: 1 MiB would be unkind to small thread stacks. */
	unsigned char *buf = ferry_xmalloc(FERRY_IO_CHUNK);
	int rc = 0;
	for (;;) {
		if (ferry_interrupted) {
			rc = ferry_error_set(err, FERRY_E_FAILED, "interrupted");
			break;
		}
		ssize_t n = ferry_read(in, buf, FERRY_IO_CHUNK, err);
		if (n < 0) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		if (ferry_write(out, buf, (size_t)n, err) < 0) {
			rc = -1;
			break;
		}
	}
	free(buf);
	return rc;
}

/* Hand the disk what is written every this many bytes. */
#define WRITEBACK_STEP ((uint64_t)8 << 20)

void ferry_writeback(int fd, uint64_t written, uint64_t *flushed)
{
	if (written - *flushed < WRITEBACK_STEP)
		return;
	sync_file_range(fd, (off_t)*flushed, (off_t)(written - *flushed), SYNC_FILE_RANGE_WRITE);
	*flushed = written;
}

int ferry_write_all(int fd, const void *buf, size_t len, const char *what, ferry_error *err)
{
	const unsigned char *p = buf;
	while (len > 0) {
		size_t want = len > MAX_SYSCALL_IO ? MAX_SYSCALL_IO : len;
		ssize_t n = write(fd, p, want);
		if (n < 0) {
			if (errno == EINTR && !ferry_interrupted)
				continue;
			return ferry_error_errno(err, errno, "cannot write %s", what);
		}
		if (n == 0)
			/* Not expected for regular files or pipes; do not spin on it. */
			return ferry_error_set(err, FERRY_E_FAILED, "cannot write %s: no progress", what);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
