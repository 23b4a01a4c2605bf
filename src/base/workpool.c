/*
 * workpool.c - a fixed set of worker threads taking jobs from one queue.
 *
 * Kept deliberately plain: one mutex, a FIFO list, two conditions (work to
 * do; weight released or everything done).  The jobs it is for last
 * milliseconds (HTTP requests), so the lock is never the bottleneck.
 */
#include "workpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util.h"

typedef struct job {
	struct job *next;
	ferry_work_fn fn;
	void *arg;
	size_t weight;
} job;

typedef struct worker {
	ferry_workpool *pool;
	unsigned index;
	pthread_t thread;
} worker;

struct ferry_workpool {
	pthread_mutex_t mu;
	pthread_cond_t has_job, progress;
	job *head, *tail;
	size_t weight, max_weight; /* weight of queued and running jobs */
	size_t pending;            /* jobs queued or running */
	bool closing;
	worker *workers;
	unsigned n; /* threads started (0: jobs run inline) */
};

static void *worker_main(void *arg)
{
	worker *w = arg;
	ferry_workpool *p = w->pool;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->head && !p->closing)
			pthread_cond_wait(&p->has_job, &p->mu);
		if (!p->head)
			break; /* closing and nothing left */
		job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->fn(j->arg, w->index);
		pthread_mutex_lock(&p->mu);
		p->weight -= j->weight;
		p->pending--;
		free(j);
		pthread_cond_broadcast(&p->progress);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

ferry_workpool *ferry_workpool_new(unsigned n, size_t max_weight)
{
	ferry_workpool *p = ferry_xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->has_job, NULL);
	pthread_cond_init(&p->progress, NULL);
	p->max_weight = max_weight;
	p->workers = ferry_xcalloc(n ? n : 1, sizeof(*p->workers));
	for (unsigned i = 0; i < n; i++) {
		p->workers[i].pool = p;
		p->workers[i].index = i;
		if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0)
			break;
		p->n++;
	}
	return p;
}

unsigned ferry_workpool_size(const ferry_workpool *p)
{
	return p->n ? p->n : 1;
}

void ferry_workpool_submit(ferry_workpool *p, ferry_work_fn fn, void *arg, size_t weight)
{
	if (p->n == 0) {
		fn(arg, 0);
		return;
	}
	job *j = ferry_xcalloc(1, sizeof(*j));
	j->fn = fn;
	j->arg = arg;
	j->weight = weight;
	pthread_mutex_lock(&p->mu);
	/* An over-heavy job waits for an empty pool rather than forever. */
	while (p->pending > 0 && p->weight + weight > p->max_weight)
		pthread_cond_wait(&p->progress, &p->mu);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->weight += weight;
	p->pending++;
	pthread_cond_signal(&p->has_job);
	pthread_mutex_unlock(&p->mu);
}

void ferry_workpool_wait(ferry_workpool *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->pending > 0)
		pthread_cond_wait(&p->progress, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void ferry_workpool_free(ferry_workpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_cond_broadcast(&p->has_job);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->workers[i].thread, NULL);
	free(p->workers);
	pthread_cond_destroy(&p->has_job);
	pthread_cond_destroy(&p->progress);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
