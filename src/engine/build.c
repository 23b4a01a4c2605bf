/*
 * build.c - ferry_build: a one-layer image from files (build.h).
 *
 * The layer (build_tar.c), the config, the manifest and an index naming the
 * image are written as an OCI layout in a private temporary directory; then
 * ferry_convert copies that into the destination, in whatever format, with
 * every check and the all-or-nothing write it gives any conversion.  JSON is
 * canonical (jansson, sorted keys, compact) so digests are reproducible.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "build_tar.h"
#include "ferry.h"
#include "ref.h"
#include "tmpname.h"
#include "util.h"

#define BUILD_ARGS_MAX 256 /* entrypoint words, env entries */

typedef struct blob {
	ferry_digest d;
	uint64_t size;
} blob;

static int check_opts(const ferry_build_opts *o, ferry_error *err)
{
	if (!o || !o->name || !o->files || o->n_files == 0)
		return ferry_error_set(err, FERRY_E_USAGE, "ferry_build: a name and at least one file are needed");
	if (o->n_files > FERRY_BUILD_FILES_MAX || o->n_entrypoint > BUILD_ARGS_MAX || o->n_env > BUILD_ARGS_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "ferry_build: more than %d files or %d entrypoint/env strings",
				       FERRY_BUILD_FILES_MAX, BUILD_ARGS_MAX);
	if (o->created < 0)
		return ferry_error_set(err, FERRY_E_USAGE, "ferry_build: created is before 1970");
	for (size_t i = 0; i < o->n_files; i++) {
		const ferry_build_file *f = &o->files[i];
		if (!f->path || !f->source || !ferry_build_path_ok(f->path))
			return ferry_error_set(err, FERRY_E_USAGE,
					       "ferry_build: \"%s\" is not a relative path without . or .. (at most %d bytes)",
					       f->path ? f->path : "(null)", FERRY_BUILD_PATH_MAX);
		for (size_t j = 0; j < i; j++) {
			size_t n = strlen(o->files[j].path);
			if (!strcmp(o->files[j].path, f->path) ||
			    (!strncmp(f->path, o->files[j].path, n) && f->path[n] == '/'))
				return ferry_error_set(err, FERRY_E_USAGE, "ferry_build: \"%s\" is given twice or under a file",
						       f->path);
		}
	}
	return 0;
}

/* Write buf as blobs/sha256/<hex> of dir; d and size say what it is. */
static int put_blob(const char *dir, const char *buf, size_t len, blob *b, ferry_error *err)
{
	ferry_digest_buffer(FERRY_ALG_SHA256, buf, len, &b->d);
	b->size = len;
	char path[4096];
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, ferry_digest_hex(&b->d));
	FILE *f = fopen(path, "wbx");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		return ferry_error_errno(err, errno ? errno : EIO, "cannot write %s", path);
	return 0;
}

static int put_json(const char *dir, json_t *doc, const char *file, blob *b, ferry_error *err)
{
	char *txt = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	if (!txt)
		return ferry_error_set(err, FERRY_E_FAILED, "ferry_build: cannot encode JSON");
	int rc;
	if (file) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		FILE *f = fopen(path, "wbx");
		size_t len = strlen(txt);
		rc = (!f || fwrite(txt, 1, len, f) != len || fclose(f) != 0)
			     ? ferry_error_errno(err, errno ? errno : EIO, "cannot write %s", path)
			     : 0;
	} else {
		rc = put_blob(dir, txt, strlen(txt), b, err);
	}
	free(txt);
	return rc;
}

static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *config_doc(const ferry_build_opts *o, const blob *layer)
{
	char when[32];
	time_t t = (time_t)o->created;
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	json_t *cfg = json_object();
	if (o->user)
		json_object_set_new(cfg, "User", json_string(o->user));
	if (o->n_entrypoint)
		json_object_set_new(cfg, "Entrypoint", strings(o->entrypoint, o->n_entrypoint));
	if (o->n_env)
		json_object_set_new(cfg, "Env", strings(o->env, o->n_env));
	return json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:[s]}, s:[{s:s, s:s}]}", "architecture",
			 o->arch ? o->arch : "amd64", "os", o->os ? o->os : "linux", "created", when, "config", cfg,
			 "rootfs", "type", "layers", "diff_ids", layer->d.str, "history", "created", when, "created_by",
			 "ferry_build");
}

static json_t *descriptor(const char *media_type, const blob *b)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", b->d.str, "size", (json_int_t)b->size);
}

/* The layer, config, manifest and index.json of the image, in dir. */
static int stage(const ferry_build_opts *o, const char *dir, const ferry_ref *ref, blob *manifest, ferry_error *err)
{
	char path[4096];
	char layer_tmp[4096];
	snprintf(layer_tmp, sizeof(layer_tmp), "%s/layer.tar", dir);
	snprintf(path, sizeof(path), "%s/blobs", dir);
	if (mkdir(path, 0755) < 0 || (snprintf(path, sizeof(path), "%s/blobs/sha256", dir), mkdir(path, 0755) < 0))
		return ferry_error_errno(err, errno, "cannot make %s", path);
	int fd = open(layer_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return ferry_error_errno(err, errno, "cannot create %s", layer_tmp);
	blob layer, config;
	int rc = ferry_build_tar(o, fd, &layer.d, &layer.size, err);
	if (close(fd) < 0 && rc == 0)
		rc = ferry_error_errno(err, errno, "cannot write %s", layer_tmp);
	if (rc < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, ferry_digest_hex(&layer.d));
	if (rename(layer_tmp, path) < 0)
		return ferry_error_errno(err, errno, "cannot rename %s", layer_tmp);
	if (put_json(dir, config_doc(o, &layer), NULL, &config, err) < 0)
		return -1;
	json_t *m = json_pack("{s:i, s:s, s:o, s:[o]}", "schemaVersion", 2, "mediaType",
			      "application/vnd.oci.image.manifest.v1+json", "config",
			      descriptor("application/vnd.oci.image.config.v1+json", &config), "layers",
			      descriptor("application/vnd.oci.image.layer.v1.tar", &layer));
	if (put_json(dir, m, NULL, manifest, err) < 0)
		return -1;
	char *full = ferry_ref_string(ref);
	json_t *desc = descriptor("application/vnd.oci.image.manifest.v1+json", manifest);
	json_object_set_new(desc, "annotations",
			    json_pack("{s:s, s:s}", "io.containerd.image.name", full, "org.opencontainers.image.ref.name",
				      ref->tag));
	free(full);
	json_t *index = json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType",
				  "application/vnd.oci.image.index.v1+json", "manifests", desc);
	if (put_json(dir, index, "index.json", NULL, err) < 0)
		return -1;
	return put_json(dir, json_pack("{s:s}", "imageLayoutVersion", "1.0.0"), "oci-layout", NULL, err);
}

int ferry_build(const ferry_build_opts *opts, const char *dst, ferry_digest *manifest, ferry_error *err)
{
	if (check_opts(opts, err) < 0)
		return -1;
	ferry_ref ref;
	if (ferry_ref_parse_as(&ref, opts->name, FERRY_E_USAGE, err) < 0)
		return -1;
	if (ferry_digest_is_set(&ref.digest)) {
		ferry_ref_free(&ref);
		return ferry_error_set(err, FERRY_E_USAGE, "ferry_build: name \"%s\" has a digest", opts->name);
	}
	ferry_ref_default_tag(&ref);
	char *dir = ferry_tmp_template(ferry_tmp_dir(), "build");
	if (!mkdtemp(dir)) {
		ferry_error_errno(err, errno, "cannot make a directory in %s", ferry_tmp_dir());
		free(dir);
		ferry_ref_free(&ref);
		return -1;
	}
	blob m;
	int rc = stage(opts, dir, &ref, &m, err);
	if (rc == 0) {
		char src[4200];
		snprintf(src, sizeof(src), "oci:%s", dir);
		ferry_convert_opts co = {.format = opts->format, .cache_path = ""};
		ferry_convert_stats st;
		rc = ferry_convert(src, dst, &co, &st, err);
	}
	if (rc == 0 && manifest)
		*manifest = m.d;
	ferry_remove_tree(dir);
	free(dir);
	ferry_ref_free(&ref);
	return rc;
}
