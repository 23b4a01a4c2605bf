#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"
#include "workpool.h"

/* What the jobs of one case share. */
typedef struct tally {
	pthread_mutex_t mu;
	size_t done;
	size_t weight_now, weight_peak; /* weight of the jobs running at once */
	size_t running, running_peak;
	unsigned workers_seen; /* bit per worker index */
	unsigned bad_worker;   /* a worker index out of range */
	unsigned n_workers;
} tally;

typedef struct job {
	tally *t;
	size_t weight;
	long sleep_us;
} job;

static void nap(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

static void run(void *arg, unsigned worker)
{
	job *j = arg;
	tally *t = j->t;
	pthread_mutex_lock(&t->mu);
	if (worker >= t->n_workers)
		t->bad_worker++;
	else
		t->workers_seen |= 1u << worker;
	t->weight_now += j->weight;
	if (t->weight_now > t->weight_peak)
		t->weight_peak = t->weight_now;
	if (++t->running > t->running_peak)
		t->running_peak = t->running;
	pthread_mutex_unlock(&t->mu);
	nap(j->sleep_us);
	pthread_mutex_lock(&t->mu);
	t->weight_now -= j->weight;
	t->running--;
	t->done++;
	pthread_mutex_unlock(&t->mu);
	free(j); /* a job owns its argument */
}

static void submit(ferry_workpool *p, tally *t, size_t weight, long sleep_us)
{
	job *j = ferry_xcalloc(1, sizeof(*j));
	j->t = t;
	j->weight = weight;
	j->sleep_us = sleep_us;
	ferry_workpool_submit(p, run, j, weight);
}

static void tally_init(tally *t, unsigned n)
{
	*t = (tally){.n_workers = n};
	pthread_mutex_init(&t->mu, NULL);
}

/* Every job runs exactly once, on a worker in range, and wait means done. */
static void test_all_jobs_run(void **state)
{
	(void)state;
	tally t;
	tally_init(&t, 4);
	ferry_workpool *p = ferry_workpool_new(4, 1000);
	assert_int_equal(ferry_workpool_size(p), 4);
	for (int i = 0; i < 200; i++)
		submit(p, &t, 1, i % 7 == 0 ? 200 : 0);
	ferry_workpool_wait(p);
	assert_int_equal(t.done, 200);
	assert_int_equal(t.bad_worker, 0);
	/* wait can be called again, and the pool takes more work after it */
	submit(p, &t, 1, 0);
	ferry_workpool_wait(p);
	ferry_workpool_wait(p);
	assert_int_equal(t.done, 201);
	ferry_workpool_free(p);
	pthread_mutex_destroy(&t.mu);
}

/* Jobs that wait on something run side by side on several workers. */
static void test_jobs_overlap(void **state)
{
	(void)state;
	tally t;
	tally_init(&t, 4);
	ferry_workpool *p = ferry_workpool_new(4, 1000);
	for (int i = 0; i < 8; i++)
		submit(p, &t, 1, 20000);
	ferry_workpool_wait(p);
	assert_int_equal(t.done, 8);
	assert_true(t.running_peak >= 2);
	assert_true(t.running_peak <= 4);
	assert_true(t.workers_seen & (t.workers_seen - 1)); /* more than one worker index */
	ferry_workpool_free(p);
	pthread_mutex_destroy(&t.mu);
}

/* Queued plus running weight never exceeds the bound; a heavier job still runs, alone. */
static void test_weight_bound(void **state)
{
	(void)state;
	tally t;
	tally_init(&t, 4);
	ferry_workpool *p = ferry_workpool_new(4, 10);
	for (int i = 0; i < 12; i++)
		submit(p, &t, 4, 5000);
	ferry_workpool_wait(p);
	assert_int_equal(t.done, 12);
	assert_true(t.weight_peak <= 8); /* two 4s fit in 10, three do not */
	submit(p, &t, 25, 1000);
	submit(p, &t, 1, 1000);
	ferry_workpool_wait(p);
	assert_int_equal(t.done, 14);
	ferry_workpool_free(p);
	pthread_mutex_destroy(&t.mu);
}

/* Freeing a pool first finishes what was queued. */
static void test_free_drains(void **state)
{
	(void)state;
	tally t;
	tally_init(&t, 2);
	ferry_workpool *p = ferry_workpool_new(2, 1000);
	for (int i = 0; i < 30; i++)
		submit(p, &t, 1, 1000);
	ferry_workpool_free(p);
	assert_int_equal(t.done, 30);
	ferry_workpool_free(NULL);
	pthread_mutex_destroy(&t.mu);
}

/* No threads: jobs run inline, in order, on worker 0. */
static void test_inline(void **state)
{
	(void)state;
	tally t;
	tally_init(&t, 1);
	ferry_workpool *p = ferry_workpool_new(0, 1);
	assert_int_equal(ferry_workpool_size(p), 1);
	submit(p, &t, 5, 0);
	assert_int_equal(t.done, 1); /* already ran */
	submit(p, &t, 5, 0);
	ferry_workpool_wait(p);
	assert_int_equal(t.done, 2);
	assert_int_equal(t.workers_seen, 1);
	ferry_workpool_free(p);
	pthread_mutex_destroy(&t.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_jobs_run),  cmocka_unit_test(test_jobs_overlap),
		cmocka_unit_test(test_weight_bound),  cmocka_unit_test(test_free_drains),
		cmocka_unit_test(test_inline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
