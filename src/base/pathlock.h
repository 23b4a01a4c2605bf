/*
 * pathlock.h - an exclusive flock() on the file or directory a path names.
 *
 * Writers that change a destination in place (a layout's index.json, an
 * archive rewritten by tag) hold this lock from before they read it until
 * after they have renamed its new version into place, so that two writers
 * take turns and neither loses the other's change.  An archive is replaced
 * by rename, so a writer that waited for the lock may hold it on a file that
 * is no longer at path: the lock is only taken once path still names the
 * locked file.
 */
#ifndef FERRY_PATHLOCK_H
#define FERRY_PATHLOCK_H

#include "error.h"

/*
 * Wait for the lock on what path names (a directory or a regular file) and
 * return its fd in *fd (close it to release).  FERRY_E_NOTFOUND when path
 * does not exist; a signal (ferry_interrupted) ends the wait.
 */
int ferry_path_lock(const char *path, int *fd, ferry_error *err);

#endif
