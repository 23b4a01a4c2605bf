/*
 * cmd_batch.c - ferry batch: run the convert and push jobs of a job file,
 * several at a time, resumably, optionally one shard of them.
 *
 * Each job is a child process running this same program on the job's words
 * (exactly what `ferry convert ...` on the command line runs, plus --json so
 * that its result can be recorded): a job that crashes or is killed takes
 * nothing else with it, and jobs writing into one OCI layout take turns on
 * the layout's lock as separate commands would.  The job file parser, shards
 * and the state file are in the library (batch.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "cli.h"
#include "progress.h"
#include "readfile.h"
#include "util.h"

const char cmd_batch_usage[] =
	"Usage: ferry batch [OPTIONS] JOBFILE|-\n"
	"\n"
	"Run the jobs in JOBFILE (- reads it from stdin), one per line, written as on the\n"
	"command line without the leading \"ferry\":\n"
	"\n"
	"    convert SRC DST [OPTIONS]\n"
	"    push SRC [DEST] [OPTIONS]\n"
	"\n"
	"Blank lines and lines starting with # are skipped. Words are split as a shell\n"
	"would ('...', \"...\", backslash escapes, a backslash at the end of a line joins\n"
	"the next), but nothing is expanded. Relative paths are relative to the current\n"
	"directory. A job that fails does not stop the others.\n"
	"\n"
	"Every job that succeeds is recorded in a state file (JOBFILE.state), so that\n"
	"running the batch again skips it: an interrupted batch resumes where it stopped.\n"
	"\n"
	"  -j, --jobs N             run N jobs at a time (default 1)\n"
	"  --shard I/N              run only shard I of N (0 <= I < N): the jobs whose\n"
	"                           index (counted from 0, comments and blank lines not\n"
	"                           counted) modulo N is I; N shards run every job once\n"
	"  --force                  run jobs the state file says are done\n"
	"  --state FILE             the state file (default JOBFILE.state; a job file read\n"
	"                           from stdin has none unless this is given)\n"
	"  --json                   print a JSON summary on stdout (schema in ferry(1))\n" CLI_PROGRESS_HELP
	"  -h, --help               show this help\n"
	"\n"
	"Exit status: 0 when every job succeeded (or was done before), 1 when any failed,\n"
	"2 for a malformed job file or bad options, 5 when JOBFILE does not exist.\n";

#define JOBS_MAX 1024
/* What is kept of a job's stdout (its JSON result) and stderr. */
#define JOB_OUTPUT_MAX (16u << 20)
/* How often the parent looks at its children. */
#define POLL_MS 50

typedef enum { ST_PENDING, ST_RUNNING, ST_DONE, ST_SKIPPED, ST_FAILED } job_status;

typedef struct job_run {
	const ferry_batch_job *job;
	job_status status;
	char *why_skipped; /* ST_SKIPPED: "done before" or "duplicate of line N" (owned) */
	pid_t pid;
	int out_fd, err_fd; /* the child's stdout and stderr (memfds) */
	struct timespec t0;
	double seconds;
	int code;
	json_t *result; /* the child's --json document (owned) or NULL */
	char *error;    /* owned */
	char **digests; /* owned, NULL-terminated */
	size_t n_digests;
} job_run;

typedef struct batch {
	job_run *runs;
	size_t n_runs;
	size_t n_done, n_skipped, n_failed, n_running, n_to_run;
	cli_progress *prog;
	ferry_batch_state *state;
} batch;

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void total_line(void *ud, double elapsed, char *buf, size_t len)
{
	batch *b = ud;
	unsigned long s = (unsigned long)elapsed;
	size_t waiting = b->n_to_run - b->n_done - b->n_failed - b->n_running;
	snprintf(buf, len, "jobs: %zu of %zu done, %zu failed, %zu running, %zu waiting; %lu:%02lu", b->n_done,
		 b->n_to_run, b->n_failed, b->n_running, waiting, s / 60, s % 60);
}

/* All of a job's output (a memfd; NUL-terminated, caller frees), or why it could not be read. */
static char *slurp(int fd, const char *what)
{
	ferry_error err = FERRY_ERROR_INIT;
	char *buf;
	size_t len;
	if (lseek(fd, 0, SEEK_SET) < 0)
		ferry_error_errno(&err, errno, "cannot read %s", what);
	else if (ferry_read_fd_all(fd, JOB_OUTPUT_MAX, &buf, &len, what, &err) == 0)
		return buf;
	return ferry_xstrdup(err.msg);
}

static char *self_exe(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return ferry_xstrdup(buf);
}

static int start_job(job_run *r, const char *exe, ferry_error *err)
{
	const ferry_batch_job *j = r->job;
	r->out_fd = memfd_create("ferry-job-stdout", MFD_CLOEXEC);
	r->err_fd = memfd_create("ferry-job-stderr", MFD_CLOEXEC);
	if (r->out_fd < 0 || r->err_fd < 0)
		return ferry_error_errno(err, errno, "line %zu: cannot make a buffer for the job's output", j->line);
	/* ferry CMD --json --progress none ARGS...: the options first, in case POSIXLY_CORRECT is set. */
	char **argv = ferry_xcalloc(j->argc + 5, sizeof(char *));
	size_t k = 0;
	argv[k++] = (char *)"ferry";
	argv[k++] = j->argv[0];
	argv[k++] = (char *)"--json";
	argv[k++] = (char *)"--progress=none";
	for (size_t i = 1; i < j->argc; i++)
		argv[k++] = j->argv[i];
	argv[k] = NULL;
	pid_t parent = getpid();
	fflush(NULL);
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	pid_t pid = fork();
	if (pid < 0) {
		free(argv);
		return ferry_error_errno(err, errno, "line %zu: cannot start the job", j->line);
	}
	if (pid == 0) {
		/* If the batch dies (even by SIGKILL), the job stops too and cleans up after itself. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(128 + SIGTERM);
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(r->out_fd, STDOUT_FILENO) < 0 ||
		    dup2(r->err_fd, STDERR_FILENO) < 0)
			_exit(126);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execv(exe, argv);
		dprintf(STDERR_FILENO, "ferry: cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	free(argv);
	r->pid = pid;
	r->status = ST_RUNNING;
	return 0;
}

/* The last line of the job's stderr, without "ferry: ": what went wrong, when the job printed no JSON. */
static char *last_line(const char *text)
{
	const char *end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > text && start[-1] != '\n')
		start--;
	if (!strncmp(start, "ferry: ", 7))
		start += 7;
	return ferry_xstrndup(start, (size_t)(end - start));
}

static const char *label_of(const job_run *r, char *buf, size_t len)
{
	snprintf(buf, len, "line %zu: %s", r->job->line, r->job->text);
	return buf;
}

static void finish_job(batch *b, job_run *r, int status)
{
	r->seconds = since(&r->t0);
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	char *out = slurp(r->out_fd, "the job's output");
	char *errs = slurp(r->err_fd, "the job's messages");
	close(r->out_fd);
	close(r->err_fd);
	r->out_fd = r->err_fd = -1;
	r->result = json_loads(out, 0, NULL);
	if (r->result && !json_is_object(r->result)) {
		json_decref(r->result);
		r->result = NULL;
	}
	bool ok = r->code == 0 && r->result && json_is_true(json_object_get(r->result, "ok"));
	char id[32], label[1200];
	snprintf(id, sizeof(id), "job %zu", r->job->index);
	cli_progress_item_end(b->prog, id);
	label_of(r, label, sizeof(label));
	b->n_running--;
	if (ok) {
		json_t *imgs = json_object_get(r->result, "images");
		r->digests = ferry_xcalloc(json_array_size(imgs) + 1, sizeof(char *));
		size_t i;
		json_t *v;
		json_array_foreach(imgs, i, v)
		{
			const char *d = json_string_value(json_object_get(v, "digest"));
			if (d)
				r->digests[r->n_digests++] = ferry_xstrdup(d);
		}
		ferry_error err = FERRY_ERROR_INIT;
		if (b->state && ferry_batch_state_record(b->state, r->job, (const char *const *)r->digests,
							 r->n_digests, &err) < 0) {
			/* The job itself worked; a rerun will just do it again. */
			cli_progress_warn(b->prog, "ferry: warning: %s", err.msg);
		}
		r->status = ST_DONE;
		b->n_done++;
		cli_progress_line(b->prog, "[%zu/%zu] done    %s (%.1fs)", b->n_done + b->n_failed, b->n_to_run, label,
				  r->seconds);
	} else {
		const char *msg = r->result ? json_string_value(json_object_get(r->result, "error")) : NULL;
		if (msg && *msg)
			r->error = ferry_xstrdup(msg);
		else if (r->code > 128)
			r->error = ferry_xasprintf("killed by signal %d", r->code - 128);
		else {
			r->error = last_line(errs);
			if (!*r->error) {
				free(r->error);
				r->error = ferry_xasprintf("exit status %d", r->code);
			}
		}
		if (r->code == 0)
			r->code = FERRY_E_FAILED; /* exited 0 without saying it worked: not trusted */
		r->status = ST_FAILED;
		b->n_failed++;
		cli_progress_warn(b->prog, "[%zu/%zu] FAILED  %s (exit %d)", b->n_done + b->n_failed, b->n_to_run,
				  label, r->code);
	}
	/* What the job said on stderr (warnings, the error), indented under it. */
	for (char *line = strtok(errs, "\n"); line; line = strtok(NULL, "\n")) {
		if (ok)
			cli_progress_line(b->prog, "    %s", line);
		else
			cli_progress_warn(b->prog, "    %s", line);
	}
	free(out);
	free(errs);
}

static json_t *batch_json(const batch *b, const char *jobfile, const char *state_path, const char *shard,
			  double secs)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "command", json_string("batch"));
	json_object_set_new(doc, "jobfile", json_string(jobfile));
	json_object_set_new(doc, "state", state_path ? json_string(state_path) : json_null());
	json_object_set_new(doc, "shard", shard ? json_string(shard) : json_null());
	json_t *jobs = json_array();
	for (size_t i = 0; i < b->n_runs; i++) {
		const job_run *r = &b->runs[i];
		json_t *o = json_object();
		json_object_set_new(o, "line", json_integer((json_int_t)r->job->line));
		json_object_set_new(o, "index", json_integer((json_int_t)r->job->index));
		json_object_set_new(o, "key", json_string(r->job->key));
		json_object_set_new(o, "job", json_string(r->job->text));
		const char *st = r->status == ST_DONE      ? "done"
				 : r->status == ST_SKIPPED ? "skipped"
				 : r->status == ST_FAILED  ? "failed"
							   : "not run";
		json_object_set_new(o, "status", json_string(st));
		json_object_set_new(o, "code", r->status == ST_PENDING ? json_null() : json_integer(r->code));
		json_t *ds = json_array();
		for (size_t k = 0; k < r->n_digests; k++)
			json_array_append_new(ds, json_string(r->digests[k]));
		json_object_set_new(o, "digests", ds);
		json_object_set_new(o, "error", r->error ? json_string(r->error) : json_null());
		json_object_set_new(o, "skipped", r->why_skipped ? json_string(r->why_skipped) : json_null());
		json_object_set_new(o, "seconds",
				    r->status == ST_DONE || r->status == ST_FAILED ? json_real(r->seconds) : json_null());
		json_object_set_new(o, "result", r->result ? json_incref(r->result) : json_null());
		json_array_append_new(jobs, o);
	}
	json_object_set_new(doc, "jobs", jobs);
	json_object_set_new(doc, "done", json_integer((json_int_t)b->n_done));
	json_object_set_new(doc, "skipped", json_integer((json_int_t)b->n_skipped));
	json_object_set_new(doc, "failed", json_integer((json_int_t)b->n_failed));
	json_object_set_new(doc, "seconds", json_real(secs));
	bool ok = b->n_failed == 0 && !ferry_interrupted;
	json_object_set_new(doc, "ok", ok ? json_true() : json_false());
	if (!ok) {
		json_object_set_new(doc, "error", json_string(cli_last_error()));
		json_object_set_new(doc, "code", json_integer(ferry_interrupted ? 128 + SIGINT : FERRY_E_FAILED));
	}
	return doc;
}

/* Start jobs while there is room, reap those that ended; returns when all are done or the batch is interrupted. */
static int run_all(batch *b, unsigned max_jobs, ferry_error *err)
{
	char *exe = self_exe();
	if (!exe)
		return ferry_error_errno(err, errno, "cannot find the ferry program (/proc/self/exe)");
	size_t next = 0;
	bool stopping = false;
	int rc = 0;
	for (;;) {
		if (ferry_interrupted && !stopping) {
			stopping = true;
			for (size_t i = 0; i < b->n_runs; i++) {
				if (b->runs[i].status == ST_RUNNING)
					kill(b->runs[i].pid, SIGTERM);
			}
		}
		while (!stopping && rc == 0 && b->n_running < max_jobs && next < b->n_runs) {
			job_run *r = &b->runs[next++];
			if (r->status != ST_PENDING)
				continue;
			if (start_job(r, exe, err) < 0) {
				rc = -1;
				break;
			}
			b->n_running++;
			char id[32], label[1200];
			snprintf(id, sizeof(id), "job %zu", r->job->index);
			cli_progress_item_begin(b->prog, id, label_of(r, label, sizeof(label)), 0, false);
		}
		if (b->n_running == 0 && (stopping || rc < 0 || next >= b->n_runs))
			break;
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			for (size_t i = 0; i < b->n_runs; i++) {
				if (b->runs[i].status == ST_RUNNING && b->runs[i].pid == pid) {
					finish_job(b, &b->runs[i], status);
					break;
				}
			}
			continue;
		}
		if (pid < 0 && errno != EINTR && errno != ECHILD)
			break;
		struct timespec ts = {0, POLL_MS * 1000000L};
		nanosleep(&ts, NULL); /* a signal cuts it short: the loop looks at ferry_interrupted */
		cli_progress_tick(b->prog);
	}
	free(exe);
	return rc;
}

/* The runs of this shard, in job-file order: a job listed twice, or done before (unless force), is skipped. */
static void plan_runs(batch *b, ferry_batch_job *jobs, size_t n_jobs, unsigned shard_i, unsigned shard_n,
		      bool force)
{
	b->runs = ferry_xcalloc(n_jobs ? n_jobs : 1, sizeof(*b->runs));
	for (size_t i = 0; i < n_jobs; i++) {
		if (!ferry_batch_in_shard(&jobs[i], shard_i, shard_n))
			continue;
		job_run *r = &b->runs[b->n_runs++];
		r->job = &jobs[i];
		r->out_fd = r->err_fd = -1;
		const char *const *ds;
		size_t nd;
		for (size_t k = 0; k + 1 < b->n_runs; k++) {
			if (!strcmp(b->runs[k].job->key, jobs[i].key)) {
				r->status = ST_SKIPPED;
				r->why_skipped = ferry_xasprintf("duplicate of line %zu", b->runs[k].job->line);
				break;
			}
		}
		if (r->status == ST_PENDING && !force && b->state &&
		    ferry_batch_state_done(b->state, jobs[i].key, &ds, &nd)) {
			r->status = ST_SKIPPED;
			r->why_skipped = ferry_xstrdup("done before");
			r->digests = ferry_xcalloc(nd + 1, sizeof(char *));
			for (size_t k = 0; k < nd; k++)
				r->digests[r->n_digests++] = ferry_xstrdup(ds[k]);
		}
		if (r->status == ST_SKIPPED)
			b->n_skipped++;
		else
			b->n_to_run++;
	}
}

/* What the run came to, on stderr; -1 when it was interrupted or a job failed. */
static int report_runs(const batch *b, const char *jobfile, double secs)
{
	int rc = 0;
	if (ferry_interrupted) {
		/* The jobs stopped on the way count as failed; they are not recorded, so a rerun does them. */
		cli_error("batch: interrupted; run it again to do the rest");
		rc = -1;
	} else if (b->n_failed) {
		cli_error("batch: %zu of %zu job%s failed", b->n_failed, b->n_to_run, b->n_to_run == 1 ? "" : "s");
		for (size_t i = 0; i < b->n_runs; i++) {
			const job_run *r = &b->runs[i];
			if (r->status == ST_FAILED)
				fprintf(stderr, "  line %zu: %s: %s (exit %d)\n", r->job->line, r->job->text, r->error,
					r->code);
		}
		rc = -1;
	}
	if (cli_progress_get_mode(b->prog) != CLI_PROGRESS_NONE)
		fprintf(stderr, "batch %s: %zu job%s: %zu done, %zu skipped, %zu failed%s, in %.2fs\n", jobfile,
			b->n_runs, b->n_runs == 1 ? "" : "s", b->n_done, b->n_skipped, b->n_failed,
			b->n_done + b->n_failed < b->n_to_run ? ", the rest not run" : "", secs);
	return rc;
}

static void free_runs(batch *b)
{
	for (size_t i = 0; i < b->n_runs; i++) {
		job_run *r = &b->runs[i];
		if (r->out_fd >= 0)
			close(r->out_fd); /* a job that could not be started */
		if (r->err_fd >= 0)
			close(r->err_fd);
		json_decref(r->result);
		free(r->error);
		free(r->why_skipped);
		for (size_t k = 0; k < r->n_digests; k++)
			free(r->digests[k]);
		free(r->digests);
	}
	free(b->runs);
}

int cmd_batch(int argc, char **argv)
{
	enum { O_SHARD = 256, O_FORCE, O_STATE, O_JSON, O_PROGRESS };
	static const struct option opts[] = {
		{"jobs", required_argument, 0, 'j'},   {"shard", required_argument, 0, O_SHARD},
		{"force", no_argument, 0, O_FORCE},    {"state", required_argument, 0, O_STATE},
		{"json", no_argument, 0, O_JSON},      {"progress", required_argument, 0, O_PROGRESS},
		{"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
		{0},
	};
	unsigned max_jobs = 1, shard_i = 0, shard_n = 0;
	const char *shard = NULL, *state_opt = NULL;
	bool force = false, json = false;
	cli_progress_mode mode = CLI_PROGRESS_AUTO;
	ferry_error err = FERRY_ERROR_INIT;
	int c;
	while ((c = getopt_long(argc, argv, "j:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 1 || v > JOBS_MAX)
				return cli_usage_error("batch", "--jobs takes a number from 1 to 1024, not \"%s\"", optarg);
			max_jobs = (unsigned)v;
			break;
		}
		case O_SHARD:
			if (ferry_batch_shard_parse(optarg, &shard_i, &shard_n, &err) < 0)
				return cli_usage_error("batch", "%s", err.msg);
			shard = optarg;
			break;
		case O_FORCE:
			force = true;
			break;
		case O_STATE:
			state_opt = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case O_PROGRESS:
			if (cli_progress_parse(optarg, &mode) < 0)
				return cli_usage_error("batch", "--progress takes auto, bar, plain or none, not \"%s\"",
						       optarg);
			break;
		case 'q':
			mode = CLI_PROGRESS_NONE;
			break;
		case 'h':
			cli_help("batch");
			return 0;
		default:
			return cli_bad_option("batch", argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("batch", "%s", "batch takes one JOBFILE (or - for stdin)");
	const char *jobfile = argv[optind];
	ferry_batch_job *jobs = NULL;
	size_t n_jobs = 0;
	if (ferry_batch_read(jobfile, &jobs, &n_jobs, &err) < 0)
		return cli_fail(&err);
	char *state_path = state_opt ? ferry_xstrdup(state_opt)
			   : strcmp(jobfile, "-") != 0 ? ferry_xasprintf("%s.state", jobfile)
						       : NULL;
	batch b = {0};
	int rc = 0;
	if (state_path && ferry_batch_state_open(state_path, &b.state, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	plan_runs(&b, jobs, n_jobs, shard_i, shard_n, force);
	b.prog = cli_progress_new(mode, false);
	cli_progress_set_total(b.prog, total_line, &b);
	if (b.n_skipped)
		cli_progress_line(b.prog, "skipping %zu job%s done before or listed twice (state file %s%s)", b.n_skipped,
				  b.n_skipped == 1 ? "" : "s", state_path ? state_path : "none",
				  state_path ? "; --force runs them again" : "");
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (run_all(&b, max_jobs, &err) < 0)
		rc = cli_fail(&err);
	cli_progress_done(b.prog);
	double secs = since(&t0);
	if (report_runs(&b, jobfile, secs) < 0)
		rc = FERRY_E_FAILED;
	if (json)
		cli_json_print(batch_json(&b, jobfile, state_path, shard, secs));
out:
	free_runs(&b);
	cli_progress_free(b.prog);
	ferry_batch_state_close(b.state);
	free(state_path);
	ferry_batch_jobs_free(jobs, n_jobs);
	return rc;
}
