/*
 * tmpname.h - names for the temporary files and directories ferry writes
 * next to a destination, and the sweeping up of those a killed run left.
 *
 * Every temporary name carries the writer's PID:
 *     <dir>/.<base>.ferry-<pid>-XXXXXX
 * so a later run can tell a leftover (its process is gone) from the work of
 * a run still going, and remove only the former.  A base longer than
 * FERRY_TMP_BASE_MAX bytes is cut to FERRY_TMP_BASE_KEEP bytes and followed
 * by "~" and 16 hex digits of its sha256, so the temporary name of any name
 * the filesystem accepts (255 bytes) fits too.
 */
#ifndef FERRY_TMPNAME_H
#define FERRY_TMPNAME_H

#include "error.h"

/* The directory a destination path lies in, and its last component ("a/b/" gives "a" and "b"; caller frees). */
char *ferry_dest_parent(const char *path);
char *ferry_dest_base(const char *path);

#define FERRY_TMP_BASE_MAX 100
#define FERRY_TMP_BASE_KEEP 80

/* A mkstemp/mkdtemp template for a temporary sibling of dir/base (caller frees). */
char *ferry_tmp_template(const char *dir, const char *base);

/* Remove leftovers of dead processes for dir/base (base NULL: any base). Best effort. */
void ferry_tmp_sweep(const char *dir, const char *base);

/*
 * Remove a temporary file or directory tree ferry created, a few levels
 * deep; symbolic links inside are removed, never followed.  Best effort.
 */
void ferry_remove_tree(const char *path);

/* $TMPDIR, or /tmp when it is unset or empty (not owned). */
const char *ferry_tmp_dir(void);

/*
 * An anonymous spool file for a blob going to dest: beside it, or in
 * ferry_tmp_dir() when dest is NULL (stdout).  Unlinked as soon as it is
 * created, so it goes when closed, even if ferry dies.  Returns the fd, or
 * -1 with err naming the directory.
 */
int ferry_spool_open(const char *dest, ferry_error *err);

#endif
