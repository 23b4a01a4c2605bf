/*
 * store_tar.c - a tar file as a destination (docker-archive, OCI archive).
 *
 * The archive is written to a temporary sibling and renamed over the
 * destination at commit (or streamed to stdout, which cannot be atomic).  A
 * tar header needs the entry's size up front, so a blob whose size and
 * digest are known (kept as it is) streams straight into the archive; one
 * being transformed is spooled beside the destination first and copied in
 * once its digest is known.  That copy runs on a thread of its own while the
 * engine produces the next blob into a second spool; at most one copy is in
 * flight, so at most two spools exist at a time.  Entries are deterministic:
 * fixed mtime, owner and mode, and a gzip wrapper without a timestamp.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base64.h"
#include "format.h"
#include "pathlock.h"
#include "pkey.h"
#include "store.h"
#include "strmap.h"
#include "tmpname.h"
#include "transfer.h"
#include "util.h"
#include "volumes.h"

#define TAR_RECORD 10240 /* a tar file is a whole number of these records */
/*
 * Spools are copied in pieces this size.  Measured (Linux 6, ext4): 1 MiB
 * pieces made the copy 2-4 times slower than 256 KiB ones, apparently in the
 * kernel's copy into pages that the writeback started below touches too.
 */
#define SPOOL_CHUNK ((size_t)256 << 10)

typedef struct tar_store {
	ferry_store base;
	char *final; /* NULL when writing to stdout */
	char *tmp;
	int fd;
	struct archive *a;
	bool broken; /* an entry was left half written: the archive cannot be committed */
	uint64_t out_bytes, out_flushed; /* bytes of the archive written, and handed to writeback */
	bool committed;
	bool discard; /* being freed uncommitted: the rest of the output is not wanted */
	ferry_strmap written; /* entry names already in the archive */
	/* the blob being written */
	bool direct;
	ferry_digest expect;
	uint64_t direct_size, direct_done;
	ferry_ostream direct_out;
	int lock_fd; /* the archive being replaced, locked until we are done (-1: none) */
	int spool_fd; /* unlinked at once: see ferry_spool_open */
	ferry_ostream *spool_out;
	/*
	 * A spooled blob whose header is written and whose bytes the copier
	 * thread is putting into the archive.  While copying is set only that
	 * thread touches a (and out_bytes); every call that touches the archive
	 * joins it first.  The names map and broken stay on the caller's thread.
	 */
	bool copying;
	pthread_t copier;
	int job_fd;     /* the spool being copied; the copier closes it */
	uint64_t job_size;
	char *job_name; /* its entry name */
	int job_rc;
	ferry_error job_err;
	atomic_bool abandon; /* the store is being freed uncommitted: stop copying */
	bool copy_failed;    /* a copy failed and no caller has been told yet */
	ferry_error copy_err;
	/* --split: the archive's bytes go to volumes instead of fd (tmp and fd unused) */
	ferry_volw *vol;
	bool plain; /* not compressed as a whole: archive offsets are tar offsets */
	/* a transfer manifest is written (always with volumes; with sign for one archive) */
	ferry_transfer *tr;
	ferry_pkey *sign;
	EVP_MD_CTX *whole_md; /* one archive with a transfer manifest: its sha256 */
	char *extra_tmp[2];   /* the manifest and signature, written at commit */
} tar_store;

/*
 * libarchive's output goes through here: written with retries, and for a
 * file, writeback started every few MiB so the fsync at commit has little
 * left to wait for.
 */
static la_ssize_t tar_out_write(struct archive *a, void *ud, const void *buf, size_t len)
{
	tar_store *ts = ud;
	if (ts->discard) {
		/* Closing would pad a half-written entry with zeros: stop instead. */
		archive_set_error(a, ECANCELED, "discarded");
		return -1;
	}
	if (ts->vol) {
		ferry_error e = FERRY_ERROR_INIT;
		if (ferry_volw_write(ts->vol, buf, len, &e) < 0) {
			archive_set_error(a, EIO, "%s", e.msg);
			return -1;
		}
		ts->out_bytes += len;
		return (la_ssize_t)len;
	}
	if (ts->whole_md)
		EVP_DigestUpdate(ts->whole_md, buf, len);
	const char *p = buf;
	size_t left = len;
	while (left) {
		ssize_t n = write(ts->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "write failed");
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	ts->out_bytes += len;
	if (ts->final)
		ferry_writeback(ts->fd, ts->out_bytes, &ts->out_flushed);
	return (la_ssize_t)len;
}

static int arch_err(tar_store *ts, const char *what, ferry_error *err)
{
	/* libarchive's own text is often just "Write error": the errno says why. */
	int e = archive_errno(ts->a);
	const char *m = archive_error_string(ts->a);
	if (e > 0)
		return ferry_error_set(err, FERRY_E_FAILED, "writing %s: %s: %s", ts->base.display, what, strerror(e));
	return ferry_error_set(err, FERRY_E_FAILED, "writing %s: %s: %s", ts->base.display, what, m ? m : "write failed");
}

/* Volumes: say where the entry about to be written starts and how long it is, so a cut can fall before it. */
static void plan_entry(tar_store *ts, uint64_t size)
{
	if (!ts->vol || !ts->plain)
		return;
	uint64_t start = (ts->out_bytes + 511) / 512 * 512; /* after the previous entry's padding */
	uint64_t len = 512 + (size + 511) / 512 * 512;
	if (size > 077777777777ull)
		len += 1024; /* a pax header carries the size */
	ferry_volw_entry(ts->vol, start, len);
}

/* A blob whose header was just written: its data starts here. */
static void record_blob(tar_store *ts, const ferry_digest *d, uint64_t size)
{
	if (ts->tr)
		ferry_transfer_blob(ts->tr, d, size, ts->plain ? ts->out_bytes : 0);
}

static int write_header(tar_store *ts, const char *name, bool dir, uint64_t size, ferry_error *err)
{
	plan_entry(ts, dir ? 0 : size);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_size(e, dir ? 0 : (la_int64_t)size);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	int r = archive_write_header(ts->a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return arch_err(ts, name, err);
	ferry_strmap_put(&ts->written, name, (void *)1);
	return 0;
}

static int ensure_dirs(tar_store *ts, const ferry_digest *d, ferry_error *err)
{
	char *alg = ferry_xasprintf("blobs/%s/", ferry_alg_name(d->alg));
	int rc = 0;
	if (!ferry_strmap_has(&ts->written, "blobs/"))
		rc = write_header(ts, "blobs/", true, 0, err);
	if (rc == 0 && !ferry_strmap_has(&ts->written, alg))
		rc = write_header(ts, alg, true, 0, err);
	free(alg);
	return rc;
}

static char *blob_name(const ferry_digest *d)
{
	return ferry_xasprintf("blobs/%s/%s", ferry_alg_name(d->alg), ferry_digest_hex(d));
}

static int ts_has_blob(ferry_store *s, const ferry_digest *d, bool *exists, ferry_error *err)
{
	(void)err;
	tar_store *ts = (tar_store *)s;
	char *n = blob_name(d);
	*exists = ferry_strmap_has(&ts->written, n);
	free(n);
	return 0;
}

static int direct_write(ferry_ostream *o, const void *buf, size_t len, ferry_error *err)
{
	tar_store *ts = (tar_store *)((char *)o - offsetof(tar_store, direct_out));
	if (ts->direct_done + len > ts->direct_size)
		return ferry_error_set(err, FERRY_E_INTEGRITY, "blob %s is longer than its descriptor says (%llu bytes)",
				       ts->expect.str, (unsigned long long)ts->direct_size);
	const char *p = buf;
	while (len) {
		/* In SPOOL_CHUNK pieces, for the same reason as copy_spool's. */
		la_ssize_t n = archive_write_data(ts->a, p, len < SPOOL_CHUNK ? len : SPOOL_CHUNK);
		if (n <= 0) {
			/* Named as the entry, as a spooled blob's copy names it. */
			char *name = blob_name(&ts->expect);
			arch_err(ts, name, err);
			free(name);
			return -1;
		}
		p += n;
		len -= (size_t)n;
		ts->direct_done += (uint64_t)n;
	}
	return 0;
}

static int direct_finish(ferry_ostream *o, ferry_error *err)
{
	(void)o, (void)err;
	return 0;
}

static void direct_free(ferry_ostream *o)
{
	(void)o;
}

static void drop_spool(tar_store *ts)
{
	ferry_ostream_free(ts->spool_out);
	ts->spool_out = NULL;
	if (ts->spool_fd >= 0)
		close(ts->spool_fd);
	ts->spool_fd = -1;
}

static int wait_copy(tar_store *ts, bool report, ferry_error *err);
static int add_spooled(tar_store *ts, int fd, const ferry_digest *d, uint64_t size, ferry_error *err);

static int ts_blob_begin(ferry_store *s, const ferry_digest *expect, int64_t size, ferry_ostream **out,
			 ferry_error *err)
{
	tar_store *ts = (tar_store *)s;
	drop_spool(ts);
	ts->direct = false;
	if (expect && ferry_digest_is_set(expect) && size >= 0) {
		if (wait_copy(ts, true, err) < 0)
			return -1;
		char *name = blob_name(expect);
		int rc = ensure_dirs(ts, expect, err);
		if (rc == 0)
			rc = write_header(ts, name, false, (uint64_t)size, err);
		free(name);
		if (rc < 0) {
			ts->broken = true;
			return -1;
		}
		record_blob(ts, expect, (uint64_t)size);
		ts->direct = true;
		ts->expect = *expect;
		ts->direct_size = (uint64_t)size;
		ts->direct_done = 0;
		*out = &ts->direct_out;
		return 0;
	}
	ts->spool_fd = ferry_spool_open(ts->final, err);
	if (ts->spool_fd < 0) {
		ferry_error_prefix(err, "%s", ts->base.display);
		return -1;
	}
	char *what = ferry_xasprintf("the spool of a blob for %s", ts->base.display);
	ts->spool_out = ferry_ostream_fd(ts->spool_fd, what);
	free(what);
	*out = ts->spool_out;
	return 0;
}

/* Copy size bytes of the spool fd into the archive, as the data of entry name. */
static int copy_spool(tar_store *ts, int fd, uint64_t size, const char *name, ferry_error *err)
{
	unsigned char *buf = ferry_xmalloc(SPOOL_CHUNK);
	uint64_t off = 0;
	int rc = 0;
	while (off < size && rc == 0) {
		if (atomic_load(&ts->abandon) || ferry_interrupted) {
			rc = ferry_error_set(err, FERRY_E_FAILED, "writing %s: %s: interrupted", ts->base.display, name);
			break;
		}
		size_t want = size - off > SPOOL_CHUNK ? SPOOL_CHUNK : (size_t)(size - off);
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = ferry_error_errno(err, n < 0 ? errno : EIO, "writing %s: reading back the spool of %s",
					       ts->base.display, name);
			break;
		}
		const unsigned char *p = buf;
		size_t left = (size_t)n;
		while (left && rc == 0) {
			la_ssize_t w = archive_write_data(ts->a, p, left);
			if (w <= 0)
				rc = arch_err(ts, name, err);
			else {
				p += w;
				left -= (size_t)w;
			}
		}
		off += (uint64_t)n;
	}
	free(buf);
	return rc;
}

/*
 * The copier's whole job, spool included: closing an unlinked spool frees its
 * page cache, which takes a while for a big one and need not hold anyone up.
 */
static void *copier_main(void *arg)
{
	tar_store *ts = arg;
	ts->job_rc = copy_spool(ts, ts->job_fd, ts->job_size, ts->job_name, &ts->job_err);
	close(ts->job_fd);
	ts->job_fd = -1;
	return NULL;
}

/* Release the finished job; a failure breaks the archive and waits to be reported. */
static void end_job(tar_store *ts)
{
	free(ts->job_name);
	ts->job_name = NULL;
	if (ts->job_rc < 0) {
		ts->broken = true;
		ts->copy_failed = true;
		ts->copy_err = ts->job_err;
	}
}

/*
 * Wait for the copy in flight, if any, so the archive is ours again.  Fails
 * if a copy failed that no caller has been told of yet: the first caller
 * that reports it (report) gets it in err (later ones see broken, as after
 * any half-written entry).
 */
static int wait_copy(tar_store *ts, bool report, ferry_error *err)
{
	if (ts->copying) {
		pthread_join(ts->copier, NULL);
		ts->copying = false;
		end_job(ts);
	}
	if (!ts->copy_failed)
		return 0;
	if (report) {
		*err = ts->copy_err;
		ts->copy_failed = false;
	}
	return -1;
}

/* Copy the spool fd (taken; header already written) into the archive, in the background if a thread starts. */
static int start_copy(tar_store *ts, int fd, char *name, uint64_t size, ferry_error *err)
{
	ts->job_fd = fd;
	ts->job_size = size;
	ts->job_name = name;
	ts->job_rc = 0;
	ferry_error_clear(&ts->job_err);
	if (pthread_create(&ts->copier, NULL, copier_main, ts) == 0) {
		ts->copying = true;
		return 0;
	}
	/* No thread: copy now, which is correct, only slower. */
	copier_main(ts);
	end_job(ts);
	return wait_copy(ts, true, err);
}

static int ts_blob_end(ferry_store *s, ferry_ostream *out, bool ok, const ferry_digest *actual, uint64_t size,
		       bool *resend, ferry_error *err)
{
	(void)out, (void)resend; /* one blob at a time: the one begun last */
	tar_store *ts = (tar_store *)s;
	/* Dropping a blob is no failure: an earlier copy's error waits for a caller who can report it. */
	if (wait_copy(ts, ok, err) < 0 && ok) {
		ts->direct = false;
		drop_spool(ts);
		return -1;
	}
	if (ts->direct) {
		ts->direct = false;
		if (!ok || ts->direct_done != ts->direct_size || !ferry_digest_eq(actual, &ts->expect)) {
			ts->broken = true;
			if (ok)
				return ferry_error_set(err, FERRY_E_INTEGRITY, "blob %s: wrote %llu bytes hashing to %s",
						       ts->expect.str, (unsigned long long)ts->direct_done, actual->str);
		}
		return 0;
	}
	if (!ok) {
		drop_spool(ts);
		return 0;
	}
	int fd = ts->spool_fd;
	ts->spool_fd = -1;
	drop_spool(ts);
	return add_spooled(ts, fd, actual, size, err);
}

/*
 * Put the spool fd (taken) into the archive as blob d: the header goes in
 * now and the name is recorded (has_blob sees it), the bytes follow on the
 * copier thread while the engine moves on to the next blob.  The archive
 * must be ours (no copy in flight).
 */
static int add_spooled(tar_store *ts, int fd, const ferry_digest *d, uint64_t size, ferry_error *err)
{
	char *name = blob_name(d);
	int rc = 0;
	if (!ferry_strmap_has(&ts->written, name)) {
		rc = ensure_dirs(ts, d, err);
		if (rc == 0)
			rc = write_header(ts, name, false, size, err);
		if (rc == 0) {
			record_blob(ts, d, size);
			rc = start_copy(ts, fd, name, size, err);
			name = NULL;
			fd = -1;
		}
		if (rc < 0)
			ts->broken = true;
	}
	free(name);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int ts_put_spool(ferry_store *s, int fd, const ferry_digest *d, uint64_t size, ferry_error *err)
{
	tar_store *ts = (tar_store *)s;
	if (wait_copy(ts, true, err) < 0) {
		close(fd);
		return -1;
	}
	return add_spooled(ts, fd, d, size, err);
}

static int ts_put_file(ferry_store *s, const char *name, const void *buf, size_t len, ferry_error *err)
{
	tar_store *ts = (tar_store *)s;
	if (wait_copy(ts, true, err) < 0)
		return -1;
	if (write_header(ts, name, false, len, err) < 0) {
		ts->broken = true;
		return -1;
	}
	const char *p = buf;
	while (len) {
		la_ssize_t n = archive_write_data(ts->a, p, len);
		if (n <= 0) {
			ts->broken = true;
			return arch_err(ts, name, err);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int ts_read_existing(ferry_store *s, const char *name, unsigned char **buf, size_t *len,
			    ferry_error *err)
{
	(void)s, (void)buf, (void)len;
	return ferry_error_set(err, FERRY_E_NOTFOUND, "no %s", name);
}

/*
 * Pad the archive with zeros to a multiple of TAR_RECORD, as libarchive's
 * default blocking would have (the file is then byte for byte what earlier
 * versions wrote, and what tar itself writes).
 */
static int pad_archive(tar_store *ts, ferry_error *err)
{
	static const unsigned char zeros[TAR_RECORD];
	size_t pad = (size_t)((TAR_RECORD - ts->out_bytes % TAR_RECORD) % TAR_RECORD);
	if (ts->vol ? ferry_volw_write(ts->vol, zeros, pad, err) < 0
		    : ferry_write_all(ts->fd, zeros, pad, ts->base.display, err) < 0)
		return -1;
	if (ts->whole_md)
		EVP_DigestUpdate(ts->whole_md, zeros, pad);
	ts->out_bytes += pad;
	return 0;
}

/* Write buf to a new temporary file beside path (*tmp is its name). */
static int write_temp(const char *path, const void *buf, size_t len, char **tmp, ferry_error *err)
{
	char *parent = ferry_dest_parent(path), *base = ferry_dest_base(path);
	*tmp = ferry_tmp_template(parent, base);
	free(parent);
	free(base);
	int fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(*tmp);
		*tmp = NULL;
		return ferry_error_errno(err, e, "cannot create %s", path);
	}
	fchmod(fd, 0644);
	int rc = ferry_write_all(fd, buf, len, path, err);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = ferry_error_errno(err, errno, "writing %s", path);
	close(fd);
	return rc;
}

/* The transfer manifest (and its signature) for the archive cut into vols, into temporary files. */
static int write_transfer(tar_store *ts, const ferry_volume_info *vols, size_t n, char **finals, ferry_error *err)
{
	char *bname = ferry_dest_base(ts->final);
	size_t len;
	char *doc = ferry_transfer_dump(ts->tr, bname, vols, n, &len);
	free(bname);
	finals[0] = ferry_transfer_path(ts->final);
	finals[1] = ferry_transfer_sig_path(ts->final);
	int rc = write_temp(finals[0], doc, len, &ts->extra_tmp[0], err);
	if (rc == 0 && ts->sign) {
		unsigned char *sig = NULL;
		size_t sig_len = 0;
		rc = ferry_pkey_sign(ts->sign, doc, len, &sig, &sig_len, err);
		if (rc == 0) {
			char *b64 = ferry_base64_encode(sig, sig_len);
			char *line = ferry_xasprintf("%s\n", b64);
			rc = write_temp(finals[1], line, strlen(line), &ts->extra_tmp[1], err);
			free(line);
			free(b64);
		}
		free(sig);
	}
	free(doc);
	return rc;
}

/* A manifest or signature that this run does not write is not left from an earlier one. */
static void drop_stale_extras(tar_store *ts, char **finals)
{
	for (int i = 0; i < 2; i++) {
		if (!ts->extra_tmp[i]) {
			char *p = i ? ferry_transfer_sig_path(ts->final) : ferry_transfer_path(ts->final);
			unlink(p);
			free(p);
		}
		free(finals[i]);
	}
}

static int commit_volumes(tar_store *ts, ferry_error *err)
{
	if (ferry_volw_finish(ts->vol, err) < 0)
		return -1;
	size_t n;
	const ferry_volume_info *vols = ferry_volw_volumes(ts->vol, &n);
	char *finals[2] = {0};
	int rc = write_transfer(ts, vols, n, finals, err);
	size_t n_extra = ts->extra_tmp[1] ? 2 : 1;
	if (rc == 0)
		rc = ferry_volw_commit(ts->vol, ts->extra_tmp, finals, n_extra, err);
	if (rc < 0) {
		free(finals[0]);
		free(finals[1]);
		return -1;
	}
	ts->committed = true;
	for (size_t i = 0; i < n_extra; i++) {
		free(ts->extra_tmp[i]);
		ts->extra_tmp[i] = ferry_xstrdup(""); /* written: not stale */
	}
	drop_stale_extras(ts, finals);
	return 0;
}

/* One archive: in place, with its transfer manifest when there is one. */
static int commit_single(tar_store *ts, ferry_error *err)
{
	if (fsync(ts->fd) < 0)
		return ferry_error_errno(err, errno, "writing %s", ts->final);
	char *finals[2] = {0};
	int rc = 0;
	if (ts->tr) {
		ferry_volume_info vi = {.name = ferry_dest_base(ts->final), .start = 0, .size = ts->out_bytes};
		unsigned char md[32];
		unsigned int mdlen = 0;
		EVP_DigestFinal_ex(ts->whole_md, md, &mdlen);
		for (int i = 0; i < 32; i++)
			snprintf(vi.sha256 + 2 * i, 3, "%02x", md[i]);
		rc = write_transfer(ts, &vi, 1, finals, err);
		free(vi.name);
	}
	if (rc == 0 && rename(ts->tmp, ts->final) < 0)
		rc = ferry_error_errno(err, errno, "cannot move the new archive into place at %s", ts->final);
	for (int i = 0; i < 2 && rc == 0; i++) {
		if (ts->extra_tmp[i] && rename(ts->extra_tmp[i], finals[i]) < 0)
			rc = ferry_error_errno(err, errno, "cannot move %s into place", finals[i]);
		else if (ts->extra_tmp[i]) {
			free(ts->extra_tmp[i]);
			ts->extra_tmp[i] = ferry_xstrdup(""); /* written: not stale */
		}
	}
	if (rc < 0) {
		for (int i = 0; i < 2; i++)
			free(finals[i]);
		return -1;
	}
	ts->committed = true;
	drop_stale_extras(ts, finals);
	char *parent = ferry_dest_parent(ts->final);
	int dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(parent);
	return 0;
}

static int ts_commit(ferry_store *s, ferry_error *err)
{
	tar_store *ts = (tar_store *)s;
	if (wait_copy(ts, true, err) < 0)
		return -1;
	if (ts->broken)
		return ferry_error_set(err, FERRY_E_FAILED, "%s: the archive is incomplete", ts->base.display);
	if (archive_write_close(ts->a) != ARCHIVE_OK)
		return arch_err(ts, "closing the archive", err);
	if (pad_archive(ts, err) < 0)
		return -1;
	if (!ts->final) {
		ts->committed = true;
		return 0;
	}
	return ts->vol ? commit_volumes(ts, err) : commit_single(ts, err);
}

static void ts_free(ferry_store *s)
{
	tar_store *ts = (tar_store *)s;
	drop_spool(ts);
	if (ts->copying) {
		/* (A committed store has no copy in flight: commit waited for it.) */
		atomic_store(&ts->abandon, true);
		ferry_error ignored = FERRY_ERROR_INIT; /* nothing is committed: no one to tell */
		wait_copy(ts, false, &ignored);
	}
	ts->discard = !ts->committed;
	if (ts->a)
		archive_write_free(ts->a); /* closes the archive if still open (writing nothing if discarded) */
	if (ts->final && ts->fd >= 0)
		close(ts->fd);
	if (!ts->committed && ts->tmp)
		unlink(ts->tmp);
	if (ts->lock_fd >= 0)
		close(ts->lock_fd);
	ferry_strmap_free(&ts->written);
	for (int i = 0; i < 2; i++) {
		if (ts->extra_tmp[i] && *ts->extra_tmp[i])
			unlink(ts->extra_tmp[i]);
		free(ts->extra_tmp[i]);
	}
	ferry_volw_free(ts->vol); /* uncommitted: its volumes go */
	ferry_transfer_free(ts->tr);
	ferry_pkey_free(ts->sign);
	if (ts->whole_md)
		EVP_MD_CTX_free(ts->whole_md);
	free(ts->tmp);
	free(ts->final);
	free(s->display);
	free(ts);
}

static const ferry_store_ops tar_store_ops = {
	.has_blob = ts_has_blob,
	.blob_begin = ts_blob_begin,
	.blob_end = ts_blob_end,
	.put_file = ts_put_file,
	.read_existing = ts_read_existing,
	.commit = ts_commit,
	.free = ts_free,
	.put_spool = ts_put_spool, /* it says spools */
};

/*
 * A destination that exists: refuse what cannot be replaced by a new file
 * (a directory; a symbolic link, which rename would replace rather than
 * write through), and lock a regular file so that a writer changing it in
 * place (tag, which holds this lock from before it reads it) takes turns
 * with us.
 */
static int lock_existing(tar_store *ts, const char *path, ferry_error *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISLNK(st.st_mode))
		return ferry_error_set(err, FERRY_E_USAGE,
				       "%s is a symbolic link: ferry replaces an archive with a new file and does "
				       "not write through links; name the file it points to",
				       path);
	if (S_ISDIR(st.st_mode))
		return ferry_error_set(err, FERRY_E_USAGE, "%s is a directory, not an archive file", path);
	/* (Unreadable: nobody can be reading it to change it.) */
	if (!S_ISREG(st.st_mode) || access(path, R_OK) < 0)
		return 0;
	if (ferry_path_lock(path, &ts->lock_fd, err) < 0) {
		if (err->code != FERRY_E_NOTFOUND)
			return -1;
		ferry_error_clear(err); /* gone meanwhile: nothing to lock */
	}
	return 0;
}

/* --split and --sign-key: volumes instead of one file, and a transfer manifest. */
static int setup_transfer(tar_store *ts, const char *path, const ferry_tar_opts *o, ferry_error *err)
{
	if (!o || (!o->split && !o->sign_key))
		return 0;
	if (!ts->final)
		return ferry_error_set(err, FERRY_E_USAGE, "%s cannot go to stdout: it writes files beside the archive",
				       o->split ? "--split" : "--sign-key");
	if (o->sign_key && ferry_pkey_load_private(o->sign_key, &ts->sign, err) < 0)
		return -1;
	ts->tr = ferry_transfer_new();
	if (o->split)
		return ferry_volw_open(path, o->split, &ts->vol, err);
	ts->whole_md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ts->whole_md, EVP_sha256(), NULL);
	return 0;
}

void ferry_store_tar_images(ferry_store *s, const struct ferry_out_entry *oes, size_t n)
{
	if (s->ops != &tar_store_ops)
		return;
	tar_store *ts = (tar_store *)s;
	if (ts->tr)
		ferry_transfer_images(ts->tr, oes, n);
}

void ferry_store_tar_expect(ferry_store *s, const ferry_digest *d, uint64_t size)
{
	if (s->ops != &tar_store_ops)
		return;
	tar_store *ts = (tar_store *)s;
	if (ts->tr)
		ferry_transfer_expect(ts->tr, d, size);
}

int ferry_store_open_tar(const char *path, ferry_comp comp, ferry_store **out, ferry_error *err)
{
	return ferry_store_open_tar_opts(path, comp, NULL, out, err);
}

int ferry_store_open_tar_opts(const char *path, ferry_comp comp, const ferry_tar_opts *o, ferry_store **out,
			      ferry_error *err)
{
	*out = NULL;
	tar_store *ts = ferry_xcalloc(1, sizeof(*ts));
	ts->base.ops = &tar_store_ops;
	ts->base.display = ferry_xstrdup(strcmp(path, "-") == 0 ? "stdout" : path);
	ts->base.spools = true;
	ts->fd = -1;
	ts->spool_fd = -1;
	ts->job_fd = -1;
	ts->lock_fd = -1;
	atomic_init(&ts->abandon, false);
	ts->direct_out.write = direct_write;
	ts->direct_out.finish = direct_finish;
	ts->direct_out.free = direct_free;
	ts->plain = comp == FERRY_COMP_NONE;
	if (strcmp(path, "-") == 0) {
		ts->fd = STDOUT_FILENO;
	} else if (o && o->split) {
		ts->final = ferry_xstrdup(path);
	} else {
		if (lock_existing(ts, path, err) < 0) {
			ts_free(&ts->base);
			return -1;
		}
		ts->final = ferry_xstrdup(path);
		char *parent = ferry_dest_parent(path);
		const char *b = strrchr(path, '/');
		ferry_tmp_sweep(parent, b ? b + 1 : path);
		ts->tmp = ferry_tmp_template(parent, b ? b + 1 : path);
		free(parent);
		ts->fd = mkostemp(ts->tmp, O_CLOEXEC);
		if (ts->fd < 0) {
			int e = errno;
			free(ts->tmp);
			ts->tmp = NULL;
			ts_free(&ts->base);
			return ferry_error_errno(err, e, "cannot create %s", path);
		}
		fchmod(ts->fd, 0644);
	}
	if (setup_transfer(ts, path, o, err) < 0) {
		ts_free(&ts->base);
		return -1;
	}
	ts->a = archive_write_new();
	archive_write_set_format_pax_restricted(ts->a);
	/*
	 * Unblocked: libarchive hands each write straight to tar_out_write, one
	 * system call per chunk instead of one per 10 KiB block, with no copy
	 * into a block buffer.  The padding blocking would add is ours (commit).
	 */
	archive_write_set_bytes_per_block(ts->a, 0);
	int r = ARCHIVE_OK;
	if (comp == FERRY_COMP_GZIP) {
		r = archive_write_add_filter_gzip(ts->a);
		if (r == ARCHIVE_OK)
			archive_write_set_filter_option(ts->a, "gzip", "timestamp", NULL);
	} else if (comp == FERRY_COMP_ZSTD) {
		r = archive_write_add_filter_zstd(ts->a);
	}
	if (r != ARCHIVE_OK || archive_write_open2(ts->a, ts, NULL, tar_out_write, NULL, NULL) != ARCHIVE_OK) {
		arch_err(ts, "cannot start the archive", err);
		ts_free(&ts->base);
		return -1;
	}
	*out = &ts->base;
	return 0;
}
