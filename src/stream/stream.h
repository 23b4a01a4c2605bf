/*
 * stream.h - the byte pipes every blob flows through.
 *
 * A blob is pulled from a source as a ferry_istream and pushed through a chain
 * of ferry_ostream stages (hash, decompress, hash again, compress, hash, write).
 * Each stage does its work on the bytes as they pass and forwards them to the
 * next one, so a blob is read once and never held whole in memory whatever
 * its size.
 *
 * Ownership: a stage does NOT own the stage after it; the code that builds a
 * chain frees every stage it created (in any order) once it is done.
 */
#ifndef FERRY_STREAM_H
#define FERRY_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#include "digest.h"
#include "error.h"

#define FERRY_IO_CHUNK (1u << 20) /* 1 MiB: the size blobs move in */

typedef struct ferry_istream ferry_istream;
struct ferry_istream {
	/* Read up to len bytes. Returns the count, 0 at end of data, -1 on error. */
	ssize_t (*read)(ferry_istream *s, void *buf, size_t len, ferry_error *err);
	/* Release the stream and what it owns. */
	void (*close)(ferry_istream *s);
};

typedef struct ferry_ostream ferry_ostream;
struct ferry_ostream {
	int (*write)(ferry_ostream *s, const void *buf, size_t len, ferry_error *err);
	/* End of data: flush what is buffered, then finish the next stage. */
	int (*finish)(ferry_ostream *s, ferry_error *err);
	/* Release this stage only (never the next one). */
	void (*free)(ferry_ostream *s);
};

static inline ssize_t ferry_read(ferry_istream *s, void *buf, size_t len, ferry_error *err)
{
	return s->read(s, buf, len, err);
}
static inline int ferry_write(ferry_ostream *s, const void *buf, size_t len, ferry_error *err)
{
	return s->write(s, buf, len, err);
}
static inline int ferry_finish(ferry_ostream *s, ferry_error *err)
{
	return s->finish(s, err);
}
void ferry_istream_close(ferry_istream *s); /* NULL-safe */
void ferry_ostream_free(ferry_ostream *s);  /* NULL-safe */

/* Reads [off, off+len) of fd with pread; closes fd on close if own_fd. */
ferry_istream *ferry_istream_fd_range(int fd, uint64_t off, uint64_t len, bool own_fd);
/* Reads fd sequentially until EOF; closes fd on close if own_fd. */
ferry_istream *ferry_istream_fd(int fd, bool own_fd);
/* Reads a borrowed buffer; the buffer must outlive the stream. */
ferry_istream *ferry_istream_mem(const void *buf, size_t len);

/*
 * Hashing stage: hashes and counts the bytes, forwards them to next (which may
 * be NULL: then the stage is a sink).  After finish, ferry_hash_result()
 * gives the digest and byte count.
 */
ferry_ostream *ferry_ostream_hash(ferry_alg alg, ferry_ostream *next);
void ferry_hash_result(ferry_ostream *hash_stage, ferry_digest *digest, uint64_t *size);

/*
 * A stage whose next stage runs on its own thread, fed through nbufs buffers
 * of bufsize bytes (0: defaults of 4 x FERRY_IO_CHUNK).  Lets the stages
 * before and after it use two cores.  finish() waits for the thread; free()
 * without finish abandons the rest.
 */
ferry_ostream *ferry_ostream_async(ferry_ostream *next, size_t nbufs, size_t bufsize);

/* A stage that passes every byte on to both a and b (each borrowed), and finishes both. */
ferry_ostream *ferry_ostream_tee(ferry_ostream *a, ferry_ostream *b);

/*
 * Sink writing to fd (not closed by the stream); finish does nothing more.
 * what names the file in errors ("cannot write WHAT: ..."; copied).
 */
ferry_ostream *ferry_ostream_fd(int fd, const char *what);
/*
 * The same, for data that must survive a crash: writeback is started as the
 * bytes arrive, and finish waits until they are on disk (fdatasync).
 */
ferry_ostream *ferry_ostream_fd_durable(int fd, const char *what);

/* Sink that collects up to max bytes in memory (for manifests and configs). */
ferry_ostream *ferry_ostream_membuf(size_t max);
/* The collected bytes; valid until the stage is freed. */
const unsigned char *ferry_membuf_data(ferry_ostream *membuf_stage, size_t *len);

/*
 * Set (from a signal handler) to make every running copy stop at its next
 * chunk with an "interrupted" error, so the normal error path removes the
 * temporary output: an interrupted run leaves the destination as it was.
 */
extern volatile sig_atomic_t ferry_interrupted;

/* Pull everything from in and write it to out (does not finish out). */
int ferry_pump(ferry_istream *in, ferry_ostream *out, ferry_error *err);

/* Write all of buf to fd, retrying short writes and EINTR. */
int ferry_write_all(int fd, const void *buf, size_t len, const char *what, ferry_error *err);

/*
 * Start writeback of what was written to fd since *flushed once it is a few
 * MB, without waiting for it, so the final fdatasync has little left to
 * wait for. A hint only: errors surface at fdatasync.
 */
void ferry_writeback(int fd, uint64_t written, uint64_t *flushed);

#endif
