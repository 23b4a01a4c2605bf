/*
 * account.c - what the engine tells: events to the caller and the run's stats.
 */
#include "engine_int.h"

void engine_emit(engine *E, ferry_event_kind kind, const char *name, const ferry_digest *d, uint64_t bytes,
		 uint64_t total, const char *msg)
{
	if (!E->o->on_event)
		return;
	ferry_event ev = {kind, name, d, bytes, total, msg};
	engine_lock(&E->mu, E);
	E->o->on_event(&ev, E->o->event_ud);
	engine_unlock(&E->mu, E);
}

bool engine_written_has(engine *E, const ferry_digest *d)
{
	engine_lock(&E->mu, E);
	bool has = ferry_strmap_has(&E->written, d->str);
	engine_unlock(&E->mu, E);
	return has;
}

ferry_event_kind engine_count_blob(engine *E, bool existed, const ferry_digest *d, uint64_t size, uint64_t read)
{
	ferry_event_kind ev = FERRY_EV_BLOB_WRITTEN;
	E->st->bytes_read += read;
	/* Lanes writing side by side: the same bytes from two paths, both ended; the second is the dedup. */
	if (!existed && ferry_strmap_has(&E->written, d->str))
		existed = true;
	if (existed) {
		/* Another path of this run (a symlinked copy, another image) wrote these bytes, or the destination had them. */
		bool ours = ferry_strmap_has(&E->written, d->str);
		ev = ours ? FERRY_EV_BLOB_DEDUP : FERRY_EV_BLOB_EXISTS;
		if (ours)
			E->st->blobs_dedup++;
		else
			E->st->blobs_existing++;
	} else {
		ferry_strmap_put(&E->written, d->str, (void *)1);
		E->st->bytes_written += size;
		E->st->blobs_written++;
	}
	return ev;
}

void engine_account_blob(engine *E, bool existed, const ferry_digest *d, uint64_t size, uint64_t read,
			 uint64_t done, const char *path)
{
	engine_lock(&E->mu, E);
	ferry_event_kind ev = engine_count_blob(E, existed, d, size, read);
	engine_unlock(&E->mu, E);
	engine_emit(E, ev, NULL, d, done, size, path);
}

void engine_count_doc(engine *E)
{
	engine_lock(&E->mu, E);
	E->st->blobs_written++;
	engine_unlock(&E->mu, E);
}

void engine_count_image(engine *E, const char *label, const ferry_digest *d, const char *config)
{
	engine_lock(&E->mu, E);
	if (E->writing_artifact)
		E->st->referrers++;
	else
		E->st->images++;
	engine_unlock(&E->mu, E);
	if (!E->writing_artifact) /* a referrer is not an image of the run's list */
		engine_emit(E, FERRY_EV_IMAGE_DONE, label, d, 0, 0, config);
}
