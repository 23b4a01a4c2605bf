/*
 * workpool.h - a few threads that run small jobs, for work that waits on
 * the network more than it computes (a registry answering many short
 * requests).  Jobs run in no particular order; the submitter bounds how
 * much may be queued (in "weight", e.g. bytes a job holds) so memory stays
 * bounded however fast it submits.
 */
#ifndef FERRY_WORKPOOL_H
#define FERRY_WORKPOOL_H

#include <stddef.h>

typedef struct ferry_workpool ferry_workpool;

/* A job: runs on worker number `worker` (0 .. n-1), owns arg and frees it. */
typedef void (*ferry_work_fn)(void *arg, unsigned worker);

/*
 * n threads, at most max_weight of queued-or-running jobs (a job heavier than
 * that still runs, alone).  If no thread can be started, jobs run inline in
 * submit, on worker 0.
 */
ferry_workpool *ferry_workpool_new(unsigned n, size_t max_weight);
unsigned ferry_workpool_size(const ferry_workpool *p);
/* Queue a job, first waiting while the pool holds too much weight. */
void ferry_workpool_submit(ferry_workpool *p, ferry_work_fn fn, void *arg, size_t weight);
/* Wait until every job submitted so far has finished. */
void ferry_workpool_wait(ferry_workpool *p);
void ferry_workpool_free(ferry_workpool *p); /* NULL-safe; waits for the jobs, then joins */

#endif
