/*
 * volumes.h - an archive cut into media-sized volumes, and read back.
 *
 * Writing: a volume writer is the byte sink under the archive writer.  The
 * archive's bytes go to NAME.001, NAME.002, ... each at most the volume size;
 * `cat NAME.0*` gives the archive back.  The archive writer says where each
 * tar entry starts and how long it is (ferry_volw_entry), so a cut falls
 * between entries whenever the next entry would fit in a fresh volume but not
 * in the room left; a larger entry is split where the volume fills.  Every
 * volume is written under a temporary name and hashed as it goes;
 * ferry_volw_commit writes NAME.sha256 (sha256sum format) and renames
 * everything into place, so a failed or killed run leaves no volume behind.
 *
 * Reading: a volume set is one byte stream over several files.  It is named
 * by its first volume (NAME.001) or its base name (NAME); its volumes are
 * those NAME.sha256 lists, or NAME.001, NAME.002, ... while they exist.
 */
#ifndef FERRY_VOLUMES_H
#define FERRY_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "stream.h"

#define FERRY_VOLUMES_MAX 999                  /* NAME.001 .. NAME.999 */
#define FERRY_VOLUME_MIN ((uint64_t)1 << 20)   /* the smallest --split: 1M */
#define FERRY_VOLUME_MAX_SIZE ((uint64_t)1 << 50) /* 1 PiB: a bound, not a medium */
#define FERRY_SHA256SUM_MAX (256u << 10)       /* NAME.sha256: 999 lines of some 80 bytes */

/*
 * Parse a volume size: a number with k/M/G/T (1024-based) or kB/MB/GB/TB
 * (1000-based), or fat32 (4 GiB - 1), dvd (4.7 GB), bd (25 GB).  Refused
 * (FERRY_E_USAGE) below FERRY_VOLUME_MIN or above FERRY_VOLUME_MAX_SIZE.
 */
int ferry_parse_volume_size(const char *s, uint64_t *out, ferry_error *err);

/* ---- writing ---- */

typedef struct ferry_volw ferry_volw;

typedef struct ferry_volume_info {
	char *name;  /* NAME.001 (the file name, no directory) */
	uint64_t start, size; /* its bytes within the archive */
	char sha256[65];
} ferry_volume_info;

/* Volumes of at most size bytes for the archive at path (NAME). */
int ferry_volw_open(const char *path, uint64_t size, ferry_volw **out, ferry_error *err);
/* Append archive bytes. */
int ferry_volw_write(ferry_volw *v, const void *buf, size_t len, ferry_error *err);
/*
 * A tar entry of len bytes (header, data and padding) starts at archive
 * offset start (at or after what was written so far): cut there if it fits a
 * fresh volume but not the room left.
 */
void ferry_volw_entry(ferry_volw *v, uint64_t start, uint64_t len);
/* Close the last volume (after the last write); the volumes' list is then final. */
int ferry_volw_finish(ferry_volw *v, ferry_error *err);
const ferry_volume_info *ferry_volw_volumes(const ferry_volw *v, size_t *n);
/*
 * Publish: NAME.sha256 and the extra files (each written to a temporary name
 * beforehand by the caller, renamed here to finals[i]) go into place with the
 * volumes.  Volumes of an earlier set beyond the new last are removed.
 */
int ferry_volw_commit(ferry_volw *v, char *const *tmps, char *const *finals, size_t n_extra, ferry_error *err);
/* Free; an uncommitted writer removes every file it wrote. */
void ferry_volw_free(ferry_volw *v);

/* ---- reading ---- */

typedef struct ferry_volset ferry_volset;

/*
 * Is path a volume set (NAME.001, or a NAME that does not exist beside a
 * NAME.001)?  *out NULL when it is not.  A bad NAME.sha256 fails; a missing
 * volume is kept as missing (ferry_volset_missing, size 0): a reader fails
 * when it gets there, and the caller names it first (transfer.h).
 */
int ferry_volset_open(const char *path, ferry_volset **out, ferry_error *err);
void ferry_volset_free(ferry_volset *vs);
size_t ferry_volset_count(const ferry_volset *vs);
bool ferry_volset_missing(const ferry_volset *vs, size_t i);
uint64_t ferry_volset_size(const ferry_volset *vs, size_t i);
uint64_t ferry_volset_total(const ferry_volset *vs);
/* The base path NAME, and volume i's file path and expected sha256 ("" when NAME.sha256 is absent). */
const char *ferry_volset_base(const ferry_volset *vs);
const char *ferry_volset_path(const ferry_volset *vs, size_t i);
const char *ferry_volset_sha256(const ferry_volset *vs, size_t i);
/* The volume holding archive offset off (the last one past the end). */
size_t ferry_volset_which(const ferry_volset *vs, uint64_t off);
/* Read from archive offset off, across volumes. 0 at the end. */
ssize_t ferry_volset_pread(ferry_volset *vs, void *buf, size_t len, uint64_t off, ferry_error *err);
/* A stream over [off, off+len) of the set (the set must outlive it). */
ferry_istream *ferry_volset_range(ferry_volset *vs, uint64_t off, uint64_t len);
/*
 * Where [off, off+len) lies when it is inside one volume: a new descriptor
 * of that volume and the offset within it.  FERRY_E_FAILED when it spans two.
 */
int ferry_volset_locate(ferry_volset *vs, uint64_t off, uint64_t len, int *fd, uint64_t *voff, ferry_error *err);

/*
 * Parse sha256sum text listing volumes of base name bname, in order
 * NAME.001.. with no gap: names[i] and hex[i] (65 bytes each) for i < *n.
 * Hostile input: lines are checked, names must be bname.NNN in sequence.
 */
int ferry_sha256sum_parse(const char *text, size_t len, const char *bname, char (*hex)[65], size_t max, size_t *n,
			  ferry_error *err);

#endif
