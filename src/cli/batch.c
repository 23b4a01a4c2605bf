/*
 * batch.c - job files, shards and state files for `ferry batch` (batch.h).
 */
#include "batch.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "readfile.h"
#include "strmap.h"
#include "util.h"

/* ---- words ---- */

typedef struct wordbuf {
	char **words;
	size_t n, cap;
	char *cur; /* the word being built (NULL: between words) */
	size_t len, cur_cap;
} wordbuf;

static void wb_putc(wordbuf *wb, char c)
{
	if (!wb->cur) {
		wb->cur_cap = 0;
		wb->len = 0;
	}
	ferry_grow((void **)&wb->cur, &wb->cur_cap, wb->len + 2, 1);
	wb->cur[wb->len++] = c;
	wb->cur[wb->len] = '\0';
}

/* A word has started even if it stays empty ("" is a word). */
static void wb_start(wordbuf *wb)
{
	if (!wb->cur) {
		wb_putc(wb, 'x');
		wb->len = 0;
		wb->cur[0] = '\0';
	}
}

static void wb_end(wordbuf *wb)
{
	if (!wb->cur)
		return;
	*FERRY_PUSH(wb->words, wb->n, wb->cap) = wb->cur;
	wb->cur = NULL;
}

static void wb_free(wordbuf *wb)
{
	for (size_t i = 0; i < wb->n; i++)
		free(wb->words[i]);
	free(wb->words);
	free(wb->cur);
}

void ferry_batch_words_free(char **words)
{
	if (!words)
		return;
	for (char **w = words; *w; w++)
		free(*w);
	free(words);
}

/*
 * The one scanner. s may hold several physical lines joined by "\\\n"
 * (continuations). *cont (when not NULL) is set when s ends in a backslash
 * that escapes the end of the line: the caller appends the next line.
 */
static int split(const char *s, size_t len, char ***words, size_t *n, bool *cont, ferry_error *err)
{
	enum { OUT, WORD, SQ, DQ } st = OUT;
	wordbuf wb = {0};
	if (cont)
		*cont = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		switch (st) {
		case OUT:
		case WORD:
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
				wb_end(&wb);
				st = OUT;
			} else if (c == '#' && st == OUT) {
				/* A comment runs to the end of its physical line: no continuation. */
				while (i + 1 < len && s[i + 1] != '\n')
					i++;
			} else if (c == '\'') {
				wb_start(&wb);
				st = SQ;
			} else if (c == '"') {
				wb_start(&wb);
				st = DQ;
			} else if (c == '\\') {
				if (i + 1 == len) {
					if (cont) {
						*cont = true;
						break;
					}
					wb_free(&wb);
					return ferry_error_set(err, FERRY_E_USAGE, "a backslash ends the line");
				}
				i++;
				if (s[i] == '\n') /* a continuation: nothing */
					break;
				wb_putc(&wb, s[i]);
				st = WORD;
			} else {
				wb_putc(&wb, c);
				st = WORD;
			}
			break;
		case SQ:
			if (c == '\'')
				st = WORD;
			else if (c == '\n')
				goto unterminated;
			else
				wb_putc(&wb, c);
			break;
		case DQ:
			if (c == '"') {
				st = WORD;
			} else if (c == '\\') {
				if (i + 1 == len) {
					if (cont) {
						*cont = true;
						break;
					}
					goto unterminated;
				}
				char next = s[i + 1];
				if (next == '\n') {
					i++;
				} else if (next == '"' || next == '\\' || next == '$' || next == '`') {
					wb_putc(&wb, next);
					i++;
				} else {
					wb_putc(&wb, c); /* as in a shell: the backslash stays */
				}
			} else if (c == '\n') {
				goto unterminated;
			} else {
				wb_putc(&wb, c);
			}
			break;
		}
	}
	if ((st == SQ || st == DQ) && !(cont && *cont))
		goto unterminated;
	wb_end(&wb);
	*FERRY_PUSH(wb.words, wb.n, wb.cap) = NULL;
	*words = wb.words;
	*n = wb.n - 1;
	return 0;
unterminated:
	wb_free(&wb);
	return ferry_error_set(err, FERRY_E_USAGE, "unterminated %s quote", st == SQ ? "single" : "double");
}

int ferry_batch_split(const char *line, char ***words, size_t *n, ferry_error *err)
{
	return split(line, strlen(line), words, n, NULL, err);
}

void ferry_batch_key(char *const *words, size_t n, char key[65])
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(words[i]) + 1;
	char *buf = ferry_xmalloc(total ? total : 1);
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(words[i]) + 1; /* the NUL keeps ["ab","c"] apart from ["a","bc"] */
		memcpy(buf + off, words[i], l);
		off += l;
	}
	ferry_digest d;
	ferry_digest_buffer(FERRY_ALG_SHA256, buf, total, &d);
	free(buf);
	snprintf(key, 65, "%s", ferry_digest_hex(&d));
}

/* ---- job files ---- */

static bool is_job_command(const char *w)
{
	return !strcmp(w, "convert") || !strcmp(w, "push");
}

static char *trim(const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	return ferry_xstrndup(s, len);
}

int ferry_batch_parse(const char *text, size_t len, const char *name, ferry_batch_job **jobs_out, size_t *n_out,
		      ferry_error *err)
{
	ferry_batch_job *jobs = NULL;
	size_t n = 0, cap = 0;
	char *logical = NULL; /* physical lines of one job, "\\\n"-joined */
	size_t llen = 0;
	char *shown = NULL; /* the same, for people: joined with spaces */
	size_t start = 0;   /* line number where the logical line started */
	size_t lineno = 0;
	size_t pos = 0;
	if (memchr(text, '\0', len))
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: a job file is text, this one holds NUL bytes", name);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t plen = nl ? (size_t)(nl - (text + pos)) : len - pos;
		lineno++;
		if (!logical) {
			start = lineno;
			llen = 0;
		}
		if (llen + plen + 2 > FERRY_BATCH_LINE_MAX) {
			ferry_error_set(err, FERRY_E_LIMIT, "%s:%zu: a job longer than %u bytes", name, start,
					FERRY_BATCH_LINE_MAX);
			goto fail;
		}
		logical = ferry_xrealloc(logical, llen + plen + 2);
		memcpy(logical + llen, text + pos, plen);
		llen += plen;
		logical[llen] = '\0';
		char *piece = trim(text + pos, plen);
		pos += plen + (nl ? 1 : 0);

		char **words;
		size_t nw;
		bool cont;
		if (split(logical, llen, &words, &nw, &cont, err) < 0) {
			free(piece);
			ferry_error_prefix(err, "%s:%zu", name, lineno);
			goto fail;
		}
		if (cont) {
			ferry_batch_words_free(words);
			size_t pl = strlen(piece);
			if (pl && piece[pl - 1] == '\\')
				piece[--pl] = '\0';
			char *joined = shown ? ferry_xasprintf("%s %s", shown, piece) : ferry_xstrdup(piece);
			free(shown);
			free(piece);
			shown = joined;
			if (pos >= len) {
				ferry_error_set(err, FERRY_E_USAGE, "%s:%zu: the last line ends in a backslash", name,
						lineno);
				goto fail;
			}
			logical[llen++] = '\n';
			logical[llen] = '\0';
			continue;
		}
		char *full = shown ? ferry_xasprintf("%s %s", shown, piece) : ferry_xstrdup(piece);
		free(shown);
		free(piece);
		shown = NULL;
		free(logical);
		logical = NULL;
		if (nw == 0) {
			free(full);
			ferry_batch_words_free(words);
			continue;
		}
		if (!is_job_command(words[0])) {
			ferry_error_set(err, FERRY_E_USAGE, "%s:%zu: \"%s\" is not a job command (a job runs %s)", name,
					start, words[0], FERRY_BATCH_COMMANDS);
			free(full);
			ferry_batch_words_free(words);
			goto fail;
		}
		ferry_batch_job *j = FERRY_PUSH(jobs, n, cap);
		memset(j, 0, sizeof(*j));
		j->line = start;
		j->index = n - 1;
		j->argv = words;
		j->argc = nw;
		j->text = full;
		ferry_batch_key(words, nw, j->key);
	}
	*jobs_out = jobs;
	*n_out = n;
	return 0;
fail:
	free(logical);
	free(shown);
	ferry_batch_jobs_free(jobs, n);
	return -1;
}

int ferry_batch_read(const char *path, ferry_batch_job **jobs, size_t *n, ferry_error *err)
{
	bool is_stdin = !strcmp(path, "-");
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "job file %s does not exist", path);
	if (fd < 0)
		return ferry_error_errno(err, errno, "cannot open job file %s", path);
	const char *name = is_stdin ? "<stdin>" : path;
	char *what = ferry_xasprintf("job file %s", name);
	char *buf;
	size_t len;
	int rc = ferry_read_fd_all(fd, FERRY_BATCH_FILE_MAX, &buf, &len, what, err);
	free(what);
	if (!is_stdin)
		close(fd);
	if (rc == 0)
		rc = ferry_batch_parse(buf, len, name, jobs, n, err);
	free(buf);
	return rc;
}

void ferry_batch_jobs_free(ferry_batch_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ferry_batch_words_free(jobs[i].argv);
		free(jobs[i].text);
	}
	free(jobs);
}

/* ---- shards ---- */

int ferry_batch_shard_parse(const char *s, unsigned *index, unsigned *count, ferry_error *err)
{
	char *end;
	errno = 0;
	unsigned long i = strtoul(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || *end != '/' || errno)
		goto bad;
	const char *t = end + 1;
	unsigned long c = strtoul(t, &end, 10);
	if (!isdigit((unsigned char)t[0]) || *end || errno || c == 0 || c > 1000000 || i >= c)
		goto bad;
	*index = (unsigned)i;
	*count = (unsigned)c;
	return 0;
bad:
	return ferry_error_set(err, FERRY_E_USAGE, "--shard takes I/N with 0 <= I < N (e.g. 0/4), not \"%s\"", s);
}

bool ferry_batch_in_shard(const ferry_batch_job *j, unsigned index, unsigned count)
{
	return count == 0 || j->index % count == index;
}

/* ---- the state file ---- */

typedef struct record {
	char **digests;
	size_t n;
} record;

struct ferry_batch_state {
	int fd;
	char *path;
	ferry_strmap done; /* key -> record* */
	record **records;  /* every record, for freeing */
	size_t n_records, cap_records;
};

static void put_record(ferry_batch_state *s, const char *key, char **digests, size_t n)
{
	record *r = ferry_xcalloc(1, sizeof(*r));
	r->digests = digests;
	r->n = n;
	*FERRY_PUSH(s->records, s->n_records, s->cap_records) = r;
	ferry_strmap_put(&s->done, key, r); /* the last line for a key wins */
}

static void load_line(ferry_batch_state *s, const char *line, size_t len)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	const char *key = json_string_value(json_object_get(o, "key"));
	json_t *ds = json_object_get(o, "digests");
	if (key && strlen(key) == 64 && (!ds || json_is_array(ds))) {
		size_t n = json_array_size(ds);
		char **digests = ferry_xcalloc(n + 1, sizeof(char *));
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			const char *d = json_string_value(json_array_get(ds, i));
			if (d)
				digests[k++] = ferry_xstrdup(d);
		}
		put_record(s, key, digests, k);
	}
	json_decref(o);
}

int ferry_batch_state_open(const char *path, ferry_batch_state **out, ferry_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return ferry_error_errno(err, errno, "cannot open state file %s", path);
	if (flock(fd, LOCK_SH) < 0) {
		int e = errno;
		close(fd);
		return ferry_error_errno(err, e, "cannot lock state file %s", path);
	}
	ferry_batch_state *s = ferry_xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->path = ferry_xstrdup(path);
	char *what = ferry_xasprintf("state file %s", path);
	char *buf;
	size_t len;
	int rc = ferry_read_fd_all(fd, FERRY_BATCH_STATE_MAX, &buf, &len, what, err);
	free(what);
	flock(fd, LOCK_UN);
	for (size_t pos = 0; rc == 0 && pos < len;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		/* A last line without its newline is a write cut short: not trusted. */
		if (nl)
			load_line(s, buf + pos, l);
		pos += l + 1;
	}
	free(buf);
	if (rc < 0) {
		ferry_batch_state_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

bool ferry_batch_state_done(const ferry_batch_state *s, const char *key, const char *const **digests,
			    size_t *n_digests)
{
	record *r = ferry_strmap_get(&s->done, key);
	if (r && digests) {
		*digests = (const char *const *)r->digests;
		*n_digests = r->n;
	}
	return r != NULL;
}

size_t ferry_batch_state_count(const ferry_batch_state *s)
{
	return s->done.len;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int ferry_batch_state_record(ferry_batch_state *s, const ferry_batch_job *j, const char *const *digests, size_t n,
			     ferry_error *err)
{
	json_t *o = json_object();
	json_object_set_new(o, "key", json_string(j->key));
	json_object_set_new(o, "line", json_integer((json_int_t)j->line));
	json_object_set_new(o, "job", json_string(j->text));
	json_t *ds = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ds, json_string(digests[i]));
	json_object_set_new(o, "digests", ds);
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(o, "finished", json_string(when));
	char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	char *rec = ferry_xasprintf("%s\n", line);
	free(line);
	int rc = 0;
	if (flock(s->fd, LOCK_EX) < 0) {
		rc = ferry_error_errno(err, errno, "cannot lock state file %s", s->path);
		free(rec);
		return rc;
	}
	/* A line a killed writer left unfinished must not swallow this one. */
	struct stat st;
	char last = '\n';
	if (fstat(s->fd, &st) == 0 && st.st_size > 0 && pread(s->fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
		rc = write_all(s->fd, "\n", 1);
	if (rc == 0)
		rc = write_all(s->fd, rec, strlen(rec));
	if (rc == 0)
		rc = fdatasync(s->fd);
	if (rc < 0)
		rc = ferry_error_errno(err, errno, "cannot write state file %s", s->path);
	flock(s->fd, LOCK_UN);
	free(rec);
	if (rc == 0) {
		char **copy = ferry_xcalloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			copy[i] = ferry_xstrdup(digests[i]);
		put_record(s, j->key, copy, n);
	}
	return rc;
}

void ferry_batch_state_close(ferry_batch_state *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	for (size_t i = 0; i < s->n_records; i++) {
		for (size_t k = 0; k < s->records[i]->n; k++)
			free(s->records[i]->digests[k]);
		free(s->records[i]->digests);
		free(s->records[i]);
	}
	free(s->records);
	ferry_strmap_free(&s->done);
	free(s->path);
	free(s);
}
