/*
 * stream_async.c - a stage that hands its bytes to another thread.
 *
 * Put between two stages, it lets the work before it (reading, hashing,
 * decompressing) and the work after it (compressing, writing) run on two
 * cores at once.  Bytes are copied into a small ring of fixed buffers, so
 * memory stays bounded (nbufs x bufsize) and the writer simply waits when
 * the consumer falls behind.  An error on the consumer's side is returned
 * by the next write or by finish, which also joins the thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"
#include "util.h"

typedef struct slot {
	unsigned char *data;
	size_t len;
} slot;

typedef struct async_stage {
	ferry_ostream base;
	ferry_ostream *next; /* borrowed; written to only by the worker */
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t can_put, can_get;
	slot *ring;
	size_t nbufs, bufsize, head, count;
	bool finishing; /* no more bytes: the worker finishes next and exits */
	bool stop;      /* abandon: the worker exits without finishing next */
	bool failed;
	ferry_error err; /* the worker's error */
	bool inline_only; /* no thread could be started: pass writes straight on */
} async_stage;

static void *worker(void *arg)
{
	async_stage *a = arg;
	ferry_error err = FERRY_ERROR_INIT;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (a->count == 0 && !a->finishing && !a->stop)
			pthread_cond_wait(&a->can_get, &a->mu);
		if (a->stop || (a->count == 0 && a->finishing))
			break;
		slot *s = &a->ring[a->head];
		pthread_mutex_unlock(&a->mu);
		int rc = a->failed ? 0 : ferry_write(a->next, s->data, s->len, &err);
		pthread_mutex_lock(&a->mu);
		if (rc < 0 && !a->failed) {
			a->failed = true;
			a->err = err;
		}
		a->head = (a->head + 1) % a->nbufs;
		a->count--;
		pthread_cond_signal(&a->can_put);
	}
	bool finish = a->finishing && !a->stop && !a->failed;
	pthread_mutex_unlock(&a->mu);
	if (finish && ferry_finish(a->next, &err) < 0) {
		pthread_mutex_lock(&a->mu);
		a->failed = true;
		a->err = err;
		pthread_mutex_unlock(&a->mu);
	}
	return NULL;
}

static int fail_copy(async_stage *a, ferry_error *err)
{
	if (err)
		*err = a->err;
	return -1;
}

static int async_write(ferry_ostream *s, const void *buf, size_t len, ferry_error *err)
{
	async_stage *a = (async_stage *)s;
	if (a->inline_only)
		return ferry_write(a->next, buf, len, err);
	const unsigned char *p = buf;
	while (len > 0) {
		size_t n = len > a->bufsize ? a->bufsize : len;
		pthread_mutex_lock(&a->mu);
		while (a->count == a->nbufs && !a->failed)
			pthread_cond_wait(&a->can_put, &a->mu);
		if (a->failed) {
			pthread_mutex_unlock(&a->mu);
			return fail_copy(a, err);
		}
		slot *sl = &a->ring[(a->head + a->count) % a->nbufs];
		pthread_mutex_unlock(&a->mu);
		/* The slot is ours until count says otherwise: copy without the lock. */
		memcpy(sl->data, p, n);
		sl->len = n;
		pthread_mutex_lock(&a->mu);
		a->count++;
		pthread_cond_signal(&a->can_get);
		pthread_mutex_unlock(&a->mu);
		p += n;
		len -= n;
	}
	return 0;
}

static void join(async_stage *a)
{
	if (a->running) {
		pthread_join(a->thread, NULL);
		a->running = false;
	}
}

static int async_finish(ferry_ostream *s, ferry_error *err)
{
	async_stage *a = (async_stage *)s;
	if (a->inline_only)
		return ferry_finish(a->next, err);
	pthread_mutex_lock(&a->mu);
	a->finishing = true;
	pthread_cond_signal(&a->can_get);
	pthread_mutex_unlock(&a->mu);
	join(a);
	return a->failed ? fail_copy(a, err) : 0;
}

static void async_free(ferry_ostream *s)
{
	async_stage *a = (async_stage *)s;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	pthread_cond_broadcast(&a->can_get);
	pthread_mutex_unlock(&a->mu);
	join(a);
	for (size_t i = 0; i < a->nbufs; i++)
		free(a->ring[i].data);
	free(a->ring);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->can_put);
	pthread_cond_destroy(&a->can_get);
	free(a);
}

ferry_ostream *ferry_ostream_async(ferry_ostream *next, size_t nbufs, size_t bufsize)
{
	async_stage *a = ferry_xcalloc(1, sizeof(*a));
	a->base.write = async_write;
	a->base.finish = async_finish;
	a->base.free = async_free;
	a->next = next;
	a->nbufs = nbufs ? nbufs : 4;
	a->bufsize = bufsize ? bufsize : FERRY_IO_CHUNK;
	a->ring = ferry_xcalloc(a->nbufs, sizeof(slot));
	for (size_t i = 0; i < a->nbufs; i++)
		a->ring[i].data = ferry_xmalloc(a->bufsize);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->can_put, NULL);
	pthread_cond_init(&a->can_get, NULL);
	if (pthread_create(&a->thread, NULL, worker, a) == 0) {
		a->running = true;
	} else {
		/* No thread: do the work inline, which is correct, only slower. */
		a->inline_only = true;
	}
	return &a->base;
}
