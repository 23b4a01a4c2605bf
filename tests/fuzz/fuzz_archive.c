/*
 * libFuzzer target: a whole archive, as the docker-archive and OCI readers
 * see it, read both indexed (a seekable file) and in one pass (a pipe-like
 * reader), then every layer re-hashed as verify does.  The input is put in
 * a memfd, so no file outside the fuzzer's own memory is ever touched; the
 * one-pass reader spools into a private directory that is removed after.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ferry.h"
#include "location.h"
#include "util.h"

static char spool[64];

static void remove_spool(void)
{
	rmdir(spool); /* every spool inside was removed with its tree */
}

static void ignore(const char *problem, void *ud)
{
	(void)problem, (void)ud;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!spool[0]) {
		snprintf(spool, sizeof(spool), "/tmp/ferry-fuzz-XXXXXX");
		if (!mkdtemp(spool))
			abort();
		atexit(remove_spool);
	}
	int fd = memfd_create("ferry-fuzz", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	const ferry_fmt fmts[] = {FERRY_FMT_AUTO, FERRY_FMT_DOCKER_ARCHIVE, FERRY_FMT_OCI_ARCHIVE};
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		ferry_location loc = {.fmt = fmts[i], .path = path};
		ferry_source *src = NULL;
		ferry_error err = FERRY_ERROR_INIT;
		if (ferry_source_open_at(&loc, "fuzz", spool, NULL, &src, &err) == 0)
			ferry_source_free(src);
	}
	size_t problems;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_verify(path, ignore, NULL, &problems, &err);
	close(fd);
	/* The same bytes through a pipe: the one-pass reader. */
	int p[2];
	if (size <= (1u << 20) && pipe(p) == 0) {
		fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
		if (write(p[1], data, size) == (ssize_t)size) {
			close(p[1]);
			snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
			ferry_location loc = {.fmt = FERRY_FMT_AUTO, .path = path};
			ferry_source *src = NULL;
			ferry_error e2 = FERRY_ERROR_INIT;
			if (ferry_source_open_at(&loc, "fuzz", spool, NULL, &src, &e2) == 0) {
				src->tree->ops->finish(src->tree, &e2);
				ferry_source_free(src);
			}
		} else {
			close(p[1]);
		}
		close(p[0]);
	}
	return 0;
}
