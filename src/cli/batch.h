/*
 * batch.h - job files for `ferry batch`: parsing, sharding and the state
 * file that makes a batch resumable.
 *
 * A job file holds one job per line in the command line's own syntax:
 *
 *     # mirror the release images
 *     convert app.tar oci:mirror/ --registry localhost:5000
 *     push "dir with spaces/app.tar" docker://localhost:5000/team
 *
 * Words are split like a shell does, without a shell: '...' is literal,
 * "..." keeps spaces and takes \" and \\ as escapes, a backslash outside
 * quotes escapes the next character (at the end of a line it joins the next
 * line), and # at the start of a word starts a comment.  Nothing is
 * expanded: no variables, no globs, no ~.
 *
 * Process management is not here: the ferry command runs the jobs.
 */
#ifndef FERRY_BATCH_H
#define FERRY_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Longest job file read (bytes) and longest logical line: job files are written by hand or by scripts. */
#define FERRY_BATCH_FILE_MAX (64u << 20)
#define FERRY_BATCH_LINE_MAX (64u << 10)
/* Longest state file read: a line per finished job, appended by every run. */
#define FERRY_BATCH_STATE_MAX (128u << 20)

/* The commands a job may run. */
#define FERRY_BATCH_COMMANDS "convert, push"

typedef struct ferry_batch_job {
	size_t line;   /* 1-based line where the job starts */
	size_t index;  /* 0-based among the jobs of the file (comments and blank lines not counted) */
	char **argv;   /* the words, NULL-terminated; argv[0] is the command (owned) */
	size_t argc;
	char *text;    /* the job as written, continuation lines joined, trimmed (owned) */
	char key[65];  /* sha256 hex of the words: the job's identity in the state file */
} ferry_batch_job;

/*
 * Split one line into words (see above).  *words is NULL-terminated, owned
 * by the caller (ferry_batch_words_free).  A line that is empty or only a
 * comment gives zero words.  FERRY_E_USAGE for an unterminated quote.
 */
int ferry_batch_split(const char *line, char ***words, size_t *n, ferry_error *err);
void ferry_batch_words_free(char **words);

/*
 * Parse a whole job file held in text[0..len).  name is used in messages
 * ("jobs.txt:12: ...").  Every job's command must be one of
 * FERRY_BATCH_COMMANDS (FERRY_E_USAGE otherwise, naming the line).
 */
int ferry_batch_parse(const char *text, size_t len, const char *name, ferry_batch_job **jobs, size_t *n,
		      ferry_error *err);
/* Read and parse path ("-": stdin). */
int ferry_batch_read(const char *path, ferry_batch_job **jobs, size_t *n, ferry_error *err);
void ferry_batch_jobs_free(ferry_batch_job *jobs, size_t n);

/* The key of a list of words: sha256 hex of the words, each followed by a NUL byte. */
void ferry_batch_key(char *const *words, size_t n, char key[65]);

/* "I/N" with 0 <= I < N: shard I of N.  FERRY_E_USAGE otherwise. */
int ferry_batch_shard_parse(const char *s, unsigned *index, unsigned *count, ferry_error *err);
/* Does job j belong to shard index of count?  (Its index mod count.) */
bool ferry_batch_in_shard(const ferry_batch_job *j, unsigned index, unsigned count);

/*
 * The state file: one JSON object per line, appended when a job has
 * finished successfully:
 *
 *   {"key":"<hex>","line":N,"job":"<text>","digests":["sha256:..."],"finished":"<UTC time>"}
 *
 * Appends are single write()s under an flock, so shards sharing one file,
 * and runs killed half-way, leave whole lines; a line that does not parse
 * (a write cut short) is ignored.  When a key appears more than once, the
 * last line wins.
 */
typedef struct ferry_batch_state ferry_batch_state;

/* Open (creating if needed) and load the state file at path. Caller frees with ferry_batch_state_close. */
int ferry_batch_state_open(const char *path, ferry_batch_state **out, ferry_error *err);
/* Has the job with this key finished?  When it has and digests is not NULL, *digests gets its digests (borrowed). */
bool ferry_batch_state_done(const ferry_batch_state *s, const char *key, const char *const **digests,
			    size_t *n_digests);
/* Append the record of a finished job. */
int ferry_batch_state_record(ferry_batch_state *s, const ferry_batch_job *j, const char *const *digests, size_t n,
			     ferry_error *err);
/* How many distinct jobs the file records as finished. */
size_t ferry_batch_state_count(const ferry_batch_state *s);
void ferry_batch_state_close(ferry_batch_state *s);

#endif
