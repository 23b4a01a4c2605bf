/*
 * progress.h - what the ferry command shows on stderr while it works.
 *
 * Built only on the engine's event callback (FERRY_EV_* in ferry.h); never
 * writes to stdout, which belongs to data (an archive to "-") and --json.
 *
 *   bar    live lines, one per blob (or job) in flight with bytes, rate and
 *          ETA when the total is known, plus a total line; redrawn in place
 *          with ANSI escapes at most 10 times a second.  Finished blobs stay
 *          above it as plain lines.
 *   plain  one line per finished blob (short digest, size, what happened),
 *          a total line at most every 5 seconds, no escapes: for logs.
 *   none   nothing but warnings (-q, --quiet).
 *   auto   bar when stderr is a terminal, else plain.
 */
#ifndef FERRY_CLI_PROGRESS_H
#define FERRY_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry.h"

typedef enum {
	CLI_PROGRESS_AUTO,
	CLI_PROGRESS_BAR,
	CLI_PROGRESS_PLAIN,
	CLI_PROGRESS_NONE,
} cli_progress_mode;

/* How often bar mode redraws, and plain mode prints a total line (milliseconds). */
#define CLI_PROGRESS_BAR_MS 100
#define CLI_PROGRESS_PLAIN_MS 5000

#define CLI_PROGRESS_HELP                                                                                      \
	"  --progress auto|bar|plain|none\n"                                                                   \
	"                           progress on stderr: live lines redrawn in place, plain\n"                \
	"                           lines for logs, or nothing (default auto: bar on a\n"                    \
	"                           terminal, else plain)\n"                                                  \
	"  -q, --quiet              same as --progress none: print nothing but errors\n"

/* "auto", "bar", "plain", "none": 0, else -1. */
int cli_progress_parse(const char *s, cli_progress_mode *mode);
const char *cli_progress_name(cli_progress_mode mode);
/* AUTO resolved against stderr. */
cli_progress_mode cli_progress_resolve(cli_progress_mode mode);

typedef struct cli_progress cli_progress;

/* Fills buf with the text of the total line; elapsed in seconds. */
typedef void (*cli_progress_total_fn)(void *ud, double elapsed, char *buf, size_t len);

/*
 * A progress display on stderr (caller frees with cli_progress_free).
 * push: a written blob went to a registry, and is shown as "uploaded".
 */
cli_progress *cli_progress_new(cli_progress_mode mode, bool push);
cli_progress_mode cli_progress_get_mode(const cli_progress *p);

/* A ferry_event_fn (ud is the cli_progress). */
void cli_progress_event(const ferry_event *ev, void *ud);

/* A line that stays (bar, plain; not none). */
void cli_progress_line(cli_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line printed in every mode, even none: warnings. */
void cli_progress_warn(cli_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Generic items (what `ferry batch` shows per job): id identifies the item,
 * label is what is shown.  An item without byte counts (bytes false) shows
 * how long it has been running.
 */
void cli_progress_item_begin(cli_progress *p, const char *id, const char *label, uint64_t total, bool bytes);
void cli_progress_item_update(cli_progress *p, const char *id, uint64_t done, uint64_t total);
void cli_progress_item_end(cli_progress *p, const char *id);
/* Replace the total line's text (default: blob counts). */
void cli_progress_set_total(cli_progress *p, cli_progress_total_fn fn, void *ud);
/* Redraw (bar) or print a total line (plain) if one is due. */
void cli_progress_tick(cli_progress *p);
/* Erase the live lines: call before printing anything else to stderr, and at the end. */
void cli_progress_done(cli_progress *p);
void cli_progress_free(cli_progress *p);

#endif
