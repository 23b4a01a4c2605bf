/*
 * tmpname.h - names for the temporary files and directories ferry writes
 * next to a destination, and the sweeping up of those a killed run left.
 *
 * Every temporary name carries the writer's PID:
 *     <dir>/.<base>.ferry-<pid>-XXXXXX
 * so a later run can tell a leftover (its process is gone) from the work of
 * a run still going, and remove only the former.
 */
#ifndef FERRY_TMPNAME_H
#define FERRY_TMPNAME_H

/* A mkstemp/mkdtemp template for a temporary sibling of dir/base (caller frees). */
char *ferry_tmp_template(const char *dir, const char *base);

/* Remove leftovers of dead processes for dir/base (base NULL: any base). Best effort. */
void ferry_tmp_sweep(const char *dir, const char *base);

#endif
