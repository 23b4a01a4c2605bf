/*
 * build.h - make an image from files: one layer, no base image.
 *
 * ferry_build writes a single-layer image holding the given files (and
 * their parent directories) to a destination of any writable format (an OCI
 * layout, an OCI archive, a docker-archive).  The result depends only on
 * the options and the files' bytes: the layer is a tar with fixed order
 * (sorted paths), owners, modes and mtimes (opts.created), the config and
 * manifest are canonical JSON (sorted keys), so the same input always gives
 * the same manifest digest.  ferry's own image (make image) is built so.
 */
#ifndef FERRY_BUILD_H
#define FERRY_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "export.h"

/* At most this many files in one build (each also names its parent directories). */
#define FERRY_BUILD_FILES_MAX 1024
/* A path in the image: at most this long, relative, no "." or ".." component. */
#define FERRY_BUILD_PATH_MAX 255

typedef struct ferry_build_file {
	const char *path;   /* in the image, relative: "usr/local/bin/ferry" */
	const char *source; /* the regular file whose bytes it gets */
	unsigned mode;      /* permission bits: 0755, 0644 */
} ferry_build_file;

typedef struct ferry_build_opts {
	const char *name; /* the image's name: "docker.io/ferry/ferry:0.1.0" (a bare name gets docker.io/ and :latest) */
	const ferry_build_file *files;
	size_t n_files;
	unsigned uid, gid;  /* owner of every entry of the layer */
	const char *user;   /* the config's User ("65532:65532"); NULL: none (root) */
	const char *const *entrypoint; /* the config's Entrypoint, n_entrypoint strings */
	size_t n_entrypoint;
	const char *const *env; /* the config's Env ("KEY=value"), n_env strings */
	size_t n_env;
	const char *os;     /* NULL: "linux" */
	const char *arch;   /* NULL: "amd64" */
	int64_t created;    /* seconds since the epoch: every mtime and the config's created (>= 0) */
	const char *format; /* destination format as ferry_convert_opts.format; NULL: from dst's name */
} ferry_build_opts;

/*
 * Build the image into dst (nothing is left there if it fails) and, if
 * manifest is not NULL, return its manifest digest.  Errors: FERRY_E_USAGE
 * for a bad path, name or option, FERRY_E_LIMIT past the caps above,
 * FERRY_E_FAILED for I/O (a source file that changes size while read too).
 */
FERRY_API int ferry_build(const ferry_build_opts *opts, const char *dst, ferry_digest *manifest,
			  ferry_error *err);

#endif
