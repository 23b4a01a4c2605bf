/*
 * store.c - the one place a store's operations are called: each has its
 * function here, and an optional operation a store leaves NULL gets its
 * documented default here (as libgit2's odb.c asks a backend only for what
 * it has).  The contracts are in store.h.
 */
#include <unistd.h>

#include "store.h"

int ferry_store_has_blob(ferry_store *s, const ferry_digest *d, bool *exists, ferry_error *err)
{
	*exists = false;
	return s->ops->has_blob(s, d, exists, err);
}

int ferry_store_blob_begin(ferry_store *s, const ferry_digest *expect, int64_t size, ferry_ostream **out,
			   ferry_error *err)
{
	return s->ops->blob_begin(s, expect, size, out, err);
}

int ferry_store_blob_end(ferry_store *s, ferry_ostream *out, bool ok, const ferry_digest *actual, uint64_t size,
			 bool *resend, ferry_error *err)
{
	bool lost = false;
	/* Dropping a blob: what the store says of it must not replace why the caller gave up. */
	ferry_error dropped = FERRY_ERROR_INIT;
	int rc = s->ops->blob_end(s, out, ok, actual, size, &lost, ok ? err : &dropped);
	if (resend)
		*resend = lost;
	return ok ? rc : 0;
}

int ferry_store_put_spool(ferry_store *s, int fd, const ferry_digest *d, uint64_t size, ferry_error *err)
{
	if (!s->ops->put_spool) {
		close(fd);
		return ferry_error_set(err, FERRY_E_FAILED, "internal: %s takes no spools", s->display);
	}
	return s->ops->put_spool(s, fd, d, size, err);
}

int ferry_store_put_file(ferry_store *s, const char *name, const void *buf, size_t len, ferry_error *err)
{
	return s->ops->put_file(s, name, buf, len, err);
}

int ferry_store_read_existing(ferry_store *s, const char *name, unsigned char **buf, size_t *len, ferry_error *err)
{
	return s->ops->read_existing(s, name, buf, len, err);
}

int ferry_store_commit(ferry_store *s, ferry_error *err)
{
	return s->ops->commit(s, err);
}

void ferry_store_free(ferry_store *s)
{
	if (s)
		s->ops->free(s);
}

const ferry_store_registry_ext *ferry_store_registry(const ferry_store *s)
{
	return s->ops->registry;
}

/* Whether to ask has_blob before sending: always, unless the registry says sending costs no more. */
static bool ask_first(ferry_store *s, const ferry_digest *d, uint64_t size)
{
	const ferry_store_registry_ext *rx = s->ops->registry;
	return !rx || !rx->cheap_to_send || !rx->cheap_to_send(s, d, size);
}

int ferry_store_put_bytes(ferry_store *s, const ferry_digest *d, const void *buf, size_t len, bool *written,
			  ferry_error *err)
{
	*written = false;
	bool have = false;
	if (ask_first(s, d, len) && ferry_store_has_blob(s, d, &have, err) < 0)
		return -1;
	if (have)
		return 0;
	ferry_ostream *out;
	if (ferry_store_blob_begin(s, d, (int64_t)len, &out, err) < 0)
		return -1;
	int rc = ferry_write(out, buf, len, err);
	if (rc == 0)
		rc = ferry_finish(out, err);
	if (ferry_store_blob_end(s, out, rc == 0, d, len, NULL, err) < 0)
		return -1;
	*written = rc == 0;
	return rc;
}

int ferry_store_put_manifest(ferry_store *s, const ferry_digest *d, const char *media_type, const void *buf,
			     size_t len, bool *written, ferry_error *err)
{
	const ferry_store_registry_ext *rx = s->ops->registry;
	if (!rx || !rx->put_manifest)
		return ferry_store_put_bytes(s, d, buf, len, written, err);
	*written = false;
	return rx->put_manifest(s, d, media_type, buf, len, err);
}

void ferry_store_set_owner(ferry_store *s, const struct ferry_name *names, size_t n)
{
	const ferry_store_registry_ext *rx = s->ops->registry;
	if (rx && rx->set_owner)
		rx->set_owner(s, names, n);
}

int ferry_store_publish(ferry_store *s, const struct ferry_out_entry *entries, size_t n, ferry_error *err)
{
	const ferry_store_registry_ext *rx = s->ops->registry;
	if (!rx || !rx->publish)
		return ferry_error_set(err, FERRY_E_FAILED, "internal: %s is not a registry", s->display);
	return rx->publish(s, entries, n, err);
}
