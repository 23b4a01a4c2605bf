/*
 * scratch.h - a private scratch directory for a unit test program: made
 * under $FERRY_TEST_TMP (else $TMPDIR, else /tmp) and removed with all it
 * holds, without a shell.  Header-only: each test program is one file.
 */
#ifndef FERRY_TEST_SCRATCH_H
#define FERRY_TEST_SCRATCH_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

/* A new empty directory named after prog (caller frees, or scratch_remove), or NULL. */
static inline char *scratch_make(const char *prog)
{
	const char *base = getenv("FERRY_TEST_TMP");
	if (!base || !*base)
		base = getenv("TMPDIR");
	char *dir = ferry_xasprintf("%s/%s.XXXXXX", base && *base ? base : "/tmp", prog);
	if (!mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

static inline int scratch_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path) == 0 ? 0 : -1;
}

/* Remove dir and everything under it (symlinks are not followed); 0, or -1 if anything stayed. */
static inline int scratch_rm_tree(const char *dir)
{
	return nftw(dir, scratch_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* scratch_rm_tree, then free dir. */
static inline int scratch_remove(char *dir)
{
	int rc = dir ? scratch_rm_tree(dir) : 0;
	free(dir);
	return rc;
}

#endif
