/*
 * progress.c - progress on stderr: bar, plain or none (see progress.h).
 */
#include "progress.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

/* Live lines shown for items in flight; more are summed up in one line. */
#define MAX_LIVE 8

typedef struct item {
	char *id;    /* owned */
	char *label; /* owned */
	uint64_t done, total;
	bool bytes;
	int64_t start_ms;
} item;

struct cli_progress {
	cli_progress_mode mode; /* resolved: BAR, PLAIN or NONE */
	bool push;
	/* The engine may report from more than one thread one day: one lock for all. */
	pthread_mutex_t lock;
	int64_t start_ms;
	int64_t last_draw_ms;  /* bar: last redraw */
	int64_t last_total_ms; /* plain: last total line */
	size_t drawn;          /* bar: live lines on screen now */
	item *items;
	size_t n_items, cap_items;
	/* Counts for the default total line. */
	size_t n_written, n_existing, n_dedup, n_mounted;
	uint64_t bytes_done; /* of finished blobs */
	cli_progress_total_fn total_fn;
	void *total_ud;
	/* The frame being built, written with one fwrite. */
	char *buf;
	size_t len, cap;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_progress_parse(const char *s, cli_progress_mode *mode)
{
	static const char *names[] = {"auto", "bar", "plain", "none"};
	for (int i = 0; i < 4; i++) {
		if (!strcmp(s, names[i])) {
			*mode = (cli_progress_mode)i;
			return 0;
		}
	}
	return -1;
}

const char *cli_progress_name(cli_progress_mode mode)
{
	switch (mode) {
	case CLI_PROGRESS_BAR:
		return "bar";
	case CLI_PROGRESS_PLAIN:
		return "plain";
	case CLI_PROGRESS_NONE:
		return "none";
	default:
		return "auto";
	}
}

cli_progress_mode cli_progress_resolve(cli_progress_mode mode)
{
	if (mode != CLI_PROGRESS_AUTO)
		return mode;
	return isatty(STDERR_FILENO) ? CLI_PROGRESS_BAR : CLI_PROGRESS_PLAIN;
}

cli_progress *cli_progress_new(cli_progress_mode mode, bool push)
{
	cli_progress *p = ferry_xcalloc(1, sizeof(*p));
	p->mode = cli_progress_resolve(mode);
	p->push = push;
	pthread_mutex_init(&p->lock, NULL);
	p->start_ms = now_ms();
	p->last_total_ms = p->start_ms;
	p->last_draw_ms = p->start_ms - CLI_PROGRESS_BAR_MS;
	return p;
}

cli_progress_mode cli_progress_get_mode(const cli_progress *p)
{
	return p->mode;
}

/* ---- building output ---- */

static void put(cli_progress *p, const char *s, size_t n)
{
	ferry_grow((void **)&p->buf, &p->cap, p->len + n + 1, 1);
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

static void putf(cli_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(cli_progress *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	put(p, s, strlen(s));
	free(s);
}

static void flush(cli_progress *p)
{
	if (p->len)
		fwrite(p->buf, 1, p->len, stderr);
	fflush(stderr);
	p->len = 0;
}

static size_t term_width(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* One live line, cut to the terminal's width so that it never wraps (that would break the redraw). */
static void put_live(cli_progress *p, const char *s, size_t width)
{
	size_t n = strlen(s);
	if (n >= width) {
		n = width - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* not inside a UTF-8 character */
	}
	put(p, "\r\033[2K", 5);
	put(p, s, n);
	put(p, "\n", 1);
}

/* Move back over the live lines and clear them. */
static void erase(cli_progress *p)
{
	if (p->drawn) {
		putf(p, "\033[%zuA\r\033[J", p->drawn);
		p->drawn = 0;
	}
}

static void fmt_duration(double secs, char *buf, size_t len)
{
	unsigned long s = secs < 0 ? 0 : (unsigned long)(secs + 0.5);
	if (s >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%lu:%02lu", s / 60, s % 60);
}

static void default_total(cli_progress *p, double elapsed, char *buf, size_t len)
{
	uint64_t bytes = p->bytes_done;
	for (size_t i = 0; i < p->n_items; i++)
		bytes += p->items[i].done;
	char b[32], rate[32], t[32];
	cli_human_size(bytes, b, sizeof(b));
	if (elapsed >= 0.2)
		cli_human_size((uint64_t)((double)bytes / elapsed), rate, sizeof(rate));
	else
		snprintf(rate, sizeof(rate), "-");
	fmt_duration(elapsed, t, sizeof(t));
	size_t n = p->n_written + p->n_existing + p->n_dedup + p->n_mounted;
	int w = snprintf(buf, len, "total: %zu blob%s done, %zu %s, %zu existing, %zu deduplicated", n,
			 n == 1 ? "" : "s", p->n_written, p->push ? "uploaded" : "written", p->n_existing, p->n_dedup);
	if (p->n_mounted && w > 0 && (size_t)w < len)
		w += snprintf(buf + w, len - (size_t)w, ", %zu mounted", p->n_mounted);
	if (p->n_items && w > 0 && (size_t)w < len)
		w += snprintf(buf + w, len - (size_t)w, ", %zu in flight", p->n_items);
	if (w > 0 && (size_t)w < len)
		snprintf(buf + w, len - (size_t)w, "; %s read, %s/s, %s", b, rate, t);
}

static void total_text(cli_progress *p, int64_t now, char *buf, size_t len)
{
	double elapsed = (double)(now - p->start_ms) / 1000.0;
	if (p->total_fn)
		p->total_fn(p->total_ud, elapsed, buf, len);
	else
		default_total(p, elapsed, buf, len);
}

static void item_text(const item *it, int64_t now, char *buf, size_t len)
{
	double secs = (double)(now - it->start_ms) / 1000.0;
	char t[32];
	if (!it->bytes) {
		fmt_duration(secs, t, sizeof(t));
		snprintf(buf, len, "  %s  running %s", it->label, t);
		return;
	}
	char done[32], total[32], rate[32] = "-";
	cli_human_size(it->done, done, sizeof(done));
	if (secs >= 0.2 && it->done) {
		cli_human_size((uint64_t)((double)it->done / secs), rate, sizeof(rate));
		strncat(rate, "/s", sizeof(rate) - strlen(rate) - 1);
	}
	if (it->total && it->total >= it->done) {
		char bar[24];
		size_t width = sizeof(bar) - 1, fill = (size_t)((double)it->done / (double)it->total * (double)width);
		for (size_t i = 0; i < width; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[width] = '\0';
		cli_human_size(it->total, total, sizeof(total));
		char eta[40] = "";
		if (secs >= 0.2 && it->done) {
			double left = (double)(it->total - it->done) / ((double)it->done / secs);
			fmt_duration(left, t, sizeof(t));
			snprintf(eta, sizeof(eta), "  ETA %s", t);
		}
		snprintf(buf, len, "  %s  [%s]  %s / %s  %s%s", it->label, bar, done, total, rate, eta);
	} else {
		snprintf(buf, len, "  %s  %s  %s", it->label, done, rate);
	}
}

/* Bar: draw the live lines now. */
static void draw(cli_progress *p, int64_t now)
{
	size_t width = term_width();
	char line[1024];
	erase(p);
	size_t shown = p->n_items < MAX_LIVE ? p->n_items : MAX_LIVE;
	for (size_t i = 0; i < shown; i++) {
		item_text(&p->items[i], now, line, sizeof(line));
		put_live(p, line, width);
	}
	if (p->n_items > shown) {
		snprintf(line, sizeof(line), "  ... and %zu more", p->n_items - shown);
		put_live(p, line, width);
		shown++;
	}
	total_text(p, now, line, sizeof(line));
	put_live(p, line, width);
	p->drawn = shown + 1;
	p->last_draw_ms = now;
	flush(p);
}

/* Called with the lock held, after anything changed. */
static void maybe_update(cli_progress *p, bool force)
{
	int64_t now = now_ms();
	if (p->mode == CLI_PROGRESS_BAR) {
		if (force || now - p->last_draw_ms >= CLI_PROGRESS_BAR_MS)
			draw(p, now);
	} else if (p->mode == CLI_PROGRESS_PLAIN) {
		if (now - p->last_total_ms >= CLI_PROGRESS_PLAIN_MS) {
			char line[1024];
			total_text(p, now, line, sizeof(line));
			putf(p, "%s\n", line);
			flush(p);
			p->last_total_ms = now;
		}
	}
}

/* A line that stays. Bar: the live lines are erased and drawn again at the next due redraw. */
static void put_permanent(cli_progress *p, const char *text)
{
	erase(p);
	putf(p, "%s\n", text);
	flush(p);
}

static void vline(cli_progress *p, bool always, const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	cli_clean(s);
	pthread_mutex_lock(&p->lock);
	if (always || p->mode != CLI_PROGRESS_NONE) {
		put_permanent(p, s);
		maybe_update(p, false);
	}
	pthread_mutex_unlock(&p->lock);
	free(s);
}

void cli_progress_line(cli_progress *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(p, false, fmt, ap);
	va_end(ap);
}

void cli_progress_warn(cli_progress *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(p, true, fmt, ap);
	va_end(ap);
}

/* ---- items ---- */

static item *find_item(cli_progress *p, const char *id)
{
	for (size_t i = 0; i < p->n_items; i++) {
		if (!strcmp(p->items[i].id, id))
			return &p->items[i];
	}
	return NULL;
}

static void begin_locked(cli_progress *p, const char *id, const char *label, uint64_t total, bool bytes)
{
	item *it = find_item(p, id);
	if (!it) {
		it = FERRY_PUSH(p->items, p->n_items, p->cap_items);
		memset(it, 0, sizeof(*it));
		it->id = ferry_xstrdup(id);
	}
	free(it->label);
	it->label = ferry_xstrdup(label);
	it->total = total;
	it->done = 0;
	it->bytes = bytes;
	it->start_ms = now_ms();
}

static uint64_t end_locked(cli_progress *p, const char *id)
{
	item *it = find_item(p, id);
	if (!it)
		return 0;
	uint64_t done = it->done;
	free(it->id);
	free(it->label);
	size_t i = (size_t)(it - p->items);
	memmove(&p->items[i], &p->items[i + 1], (p->n_items - i - 1) * sizeof(*it));
	p->n_items--;
	return done;
}

void cli_progress_item_begin(cli_progress *p, const char *id, const char *label, uint64_t total, bool bytes)
{
	pthread_mutex_lock(&p->lock);
	begin_locked(p, id, label, total, bytes);
	maybe_update(p, false);
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_item_update(cli_progress *p, const char *id, uint64_t done, uint64_t total)
{
	pthread_mutex_lock(&p->lock);
	item *it = find_item(p, id);
	if (it) {
		it->done = done;
		if (total)
			it->total = total;
	}
	maybe_update(p, false);
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_item_end(cli_progress *p, const char *id)
{
	pthread_mutex_lock(&p->lock);
	end_locked(p, id);
	maybe_update(p, false);
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_set_total(cli_progress *p, cli_progress_total_fn fn, void *ud)
{
	pthread_mutex_lock(&p->lock);
	p->total_fn = fn;
	p->total_ud = ud;
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_tick(cli_progress *p)
{
	pthread_mutex_lock(&p->lock);
	maybe_update(p, false);
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_done(cli_progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	erase(p);
	flush(p);
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_free(cli_progress *p)
{
	if (!p)
		return;
	cli_progress_done(p);
	for (size_t i = 0; i < p->n_items; i++) {
		free(p->items[i].id);
		free(p->items[i].label);
	}
	free(p->items);
	free(p->buf);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- engine events ---- */

/* A blob by its short digest; before it is known (a legacy layer), by its path, shortened. */
static const char *blob_label(const ferry_event *ev, char buf[40])
{
	if (ev->digest && ferry_digest_is_set(ev->digest))
		return ferry_digest_short(ev->digest, buf);
	const char *path = ev->message ? ev->message : "blob";
	size_t n = strlen(path);
	if (n < 40)
		return path;
	snprintf(buf, 40, "%.12s...%s", path, path + n - 20);
	return buf;
}

void cli_progress_event(const ferry_event *ev, void *ud)
{
	cli_progress *p = ud;
	char dshort[40], size[32], line[1200];
	if (ev->kind == FERRY_EV_WARNING) {
		cli_progress_warn(p, "ferry: warning: %s", ev->message ? ev->message : "");
		return;
	}
	pthread_mutex_lock(&p->lock);
	const char *id = ev->message ? ev->message : "";
	switch (ev->kind) {
	case FERRY_EV_BLOB_START:
		begin_locked(p, id, blob_label(ev, dshort), ev->total, true);
		maybe_update(p, false);
		break;
	case FERRY_EV_BLOB_PROGRESS: {
		item *it = find_item(p, id);
		if (it) {
			it->done = ev->bytes;
			if (ev->total)
				it->total = ev->total;
		}
		maybe_update(p, false);
		break;
	}
	case FERRY_EV_BLOB_WRITTEN:
	case FERRY_EV_BLOB_EXISTS:
	case FERRY_EV_BLOB_DEDUP: {
		end_locked(p, id);
		const char *what;
		uint64_t n = ev->bytes ? ev->bytes : ev->total;
		if (ev->kind == FERRY_EV_BLOB_WRITTEN) {
			what = p->push ? "uploaded" : "written";
			p->n_written++;
		} else if (ev->kind == FERRY_EV_BLOB_EXISTS) {
			what = "existing";
			p->n_existing++;
		} else {
			what = "deduplicated";
			p->n_dedup++;
		}
		p->bytes_done += ev->bytes;
		if (p->mode != CLI_PROGRESS_NONE) {
			cli_human_size(n, size, sizeof(size));
			snprintf(line, sizeof(line), "%s  %9s  %s", blob_label(ev, dshort), size, what);
			put_permanent(p, line);
		}
		maybe_update(p, false);
		break;
	}
	case FERRY_EV_BLOB_MOUNTED: {
		p->n_mounted++;
		if (p->mode != CLI_PROGRESS_NONE) {
			/* message: "from/repo to/repo" */
			const char *m = ev->message ? ev->message : "";
			const char *sp = strchr(m, ' ');
			if (sp)
				snprintf(line, sizeof(line), "%s  %9s  mounted from %.*s into %s", blob_label(ev, dshort),
					 "-", (int)(sp - m), m, sp + 1);
			else
				snprintf(line, sizeof(line), "%s  %9s  mounted from %s", blob_label(ev, dshort), "-", m);
			put_permanent(p, line);
		}
		maybe_update(p, false);
		break;
	}
	case FERRY_EV_BLOB_LEFT_OUT: {
		if (p->mode != CLI_PROGRESS_NONE) {
			char size[32];
			cli_human_size(ev->bytes, size, sizeof(size));
			snprintf(line, sizeof(line), "%s  %9s  left out (the far side has it)", blob_label(ev, dshort),
				 size);
			put_permanent(p, line);
		}
		maybe_update(p, false);
		break;
	}
	case FERRY_EV_IMAGE_DONE:
		if (p->mode != CLI_PROGRESS_NONE) {
			snprintf(line, sizeof(line), "image %s  %s", ev->digest ? ev->digest->str : "-",
				 ev->name ? ev->name : "");
			put_permanent(p, line);
		}
		maybe_update(p, false);
		break;
	case FERRY_EV_MANIFEST_PUSHED:
		if (p->mode != CLI_PROGRESS_NONE) {
			snprintf(line, sizeof(line), "pushed %s", ev->name ? ev->name : ev->message ? ev->message : "");
			put_permanent(p, line);
		}
		maybe_update(p, false);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&p->lock);
}
