/*
 * test_formats.c - ferry_source_open on the committed fixtures: what the
 * docker-archive and OCI readers find in fixtures/sample.tar and in the
 * dialects of fixtures/dialects/ (entries, names, configs, layer paths,
 * diff_ids, platforms), and how they refuse what is not an image.
 *
 * The fixtures are found through $FERRY_FIXTURES (tests/run-tests.sh sets
 * it), else ../fixtures (meson test runs in the build directory), else
 * fixtures (run from the top of the tree).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ferry.h"
#include "format.h"
#include "scratch.h"
#include "util.h"

static const char *fixtures_dir;
static char *tmp_dir; /* scratch files for this run (owned) */

static int group_setup(void **state)
{
	(void)state;
	const char *env = getenv("FERRY_FIXTURES");
	if (env && *env)
		fixtures_dir = env;
	else if (access("../fixtures/sample.tar", R_OK) == 0)
		fixtures_dir = "../fixtures";
	else
		fixtures_dir = "fixtures";
	char *probe = ferry_xasprintf("%s/dialects/docker25.tar", fixtures_dir);
	int ok = access(probe, R_OK);
	if (ok != 0)
		fprintf(stderr, "test_formats: fixtures not found at %s (set FERRY_FIXTURES)\n", fixtures_dir);
	free(probe);
	if (!(tmp_dir = scratch_make("test_formats")))
		return -1;
	return ok;
}

static int group_teardown(void **state)
{
	(void)state;
	return scratch_remove(tmp_dir);
}

/* Open a fixture (prefix may be "" or "docker-archive:" etc.); fails the test if it cannot. */
static ferry_source *open_fixture(const char *prefix, const char *name)
{
	char *loc = ferry_xasprintf("%s%s/%s", prefix, fixtures_dir, name);
	ferry_source *src = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_source_open(loc, &src, &err) < 0)
		fail_msg("opening %s: %s", loc, err.msg);
	free(loc);
	return src;
}

/* The entry's names, joined by spaces (":tag" for bare tags). Caller frees. */
static char *names_of(const ferry_entry *e)
{
	char *all = ferry_xstrdup("");
	for (size_t i = 0; i < e->n_names; i++) {
		char *s = ferry_name_string(&e->names[i]);
		char *n = ferry_xasprintf("%s%s%s", all, i ? " " : "", s);
		free(s);
		free(all);
		all = n;
	}
	return all;
}

static void assert_names(const ferry_entry *e, const char *want)
{
	char *got = names_of(e);
	if (strcmp(got, want) != 0)
		fail_msg("names: got \"%s\", want \"%s\"", got, want);
	free(got);
}

static void assert_platform(const ferry_image *img, const char *want)
{
	char *s = ferry_platform_string(ferry_image_platform(img));
	if (strcmp(s, want) != 0)
		fail_msg("platform: got %s, want %s", s, want);
	free(s);
}

/* Every layer's diff_id is the config's, in order. */
static void assert_diff_ids_consistent(const ferry_image *img)
{
	assert_int_equal(img->n_layers, img->cfg.n_diff_ids);
	for (size_t i = 0; i < img->n_layers; i++)
		assert_true(ferry_digest_eq(&img->layers[i].diff_id, &img->cfg.diff_ids[i]));
}

static void assert_layer(const ferry_image *img, size_t i, const char *path, const char *diff_id)
{
	assert_true(i < img->n_layers);
	assert_string_equal(img->layers[i].path, path);
	assert_string_equal(img->layers[i].diff_id.str, diff_id);
}

/* ---- the digests fixtures/make-dialects.py prints ---- */

#define BASE_HEX "3f0041985ddf1772740f8bd2a8bbfeb090ff1f5fcec1b2f1c2a24983f42e046d"
#define WEB_HEX "6c6765ad80a4462081feecd41a01b1c6503e3b8102349a7430d4448c0745e6c1"
#define WORKER_HEX "ad7eefd85c3b99d119ab932f8d0ec95cc27132edbc896b81a1366db04ac5cace"
#define BASE "sha256:" BASE_HEX
#define WEB "sha256:" WEB_HEX
#define WORKER "sha256:" WORKER_HEX
#define BASE_GZ_HEX "c7b5df1eb6f68242460edaa2ce4820819b0035270e27dcc03c25f5e02f8d5a65"
#define WEB_GZ_HEX "b977bcc1e3f0e73b46f745c329c89ca0634bc7eca5ca1acef027edd92e82f51e"
#define WORKER_GZ_HEX "8d6ccfddde885b4bb21c8e78d4aca232a5eab475a6f645f8ed931b540a509292"
#define CFG_WEB_HEX "e501a05a04f289c673da6d32795e14fed72944001fd429bf025d3901fcd6089c"
#define CFG_WORKER_HEX "acfbc2366069f0efa911a31e90f6a38e0dc67969e2c4a08498054b228d4bc449"
#define MAN_WEB "sha256:b2f1a60184a3f07d795660a693d4c4dd2478501e4e9abe06df403c9ec8d05fbb"
#define MAN_WORKER "sha256:c4098127cb39dcb83f4746f144be073bdd2d6436824b7dbfeca8c581df23ce03"
#define DUP_EXTRA "sha256:d108c136112bbb207613256704c79766419f1ac5b50616e8b582afa918b10855"
#define DUP_NOEOF "sha256:0ac01c242fd35094aaf228fed86167f19fca444d105428b2a19e86fb06284799"

/* ---- fixtures/sample.tar (Docker 20.10) ---- */

#define S_BASE "sha256:34e67471b1e0e573054a9d4bf8a7b4d036ee70fc92430b7c91d9cf9563b972a9"
#define S_TOOL "sha256:978c1c4d96afb86636fe17662a831dba0d9a8c73296637ea6298c372eb8cc972"
#define S_TOOLV "sha256:3b072f899edc4bf67512694eb3fae9e53c7176b7f80ce9755b4a62737b050faf"
#define S_ID_BASE "5d47b25989ccd768d887d21b7ec0c346f8a035d14cd3db3ea5ac625c58c49424"

static void check_sample(ferry_source *src)
{
	assert_ptr_equal(src->format, &ferry_format_docker_archive);
	assert_int_equal(src->n_entries, 3);
	/* manifest.json order */
	assert_names(&src->entries[0], "docker.io/example/tool:2.1");
	assert_names(&src->entries[1], "docker.io/example/base:1.0");
	assert_names(&src->entries[2], "docker.io/example/app:13");
	for (size_t i = 0; i < 3; i++) {
		const ferry_image *img = &src->entries[i].img;
		assert_false(img->is_index);
		assert_null(img->bytes); /* legacy: no manifest to keep */
		assert_false(ferry_digest_is_set(&img->desc.digest));
		assert_platform(img, "linux/amd64");
		assert_diff_ids_consistent(img);
		assert_true(img->config.size_known);
		assert_int_equal(img->config.desc.size, img->config_len);
		for (size_t j = 0; j < img->n_layers; j++)
			assert_false(ferry_digest_is_set(&img->layers[j].desc.digest));
	}
	const ferry_image *tool = &src->entries[0].img;
	assert_string_equal(tool->config.desc.digest.str,
			    "sha256:76c01a1165a4f346efe43c4fb04d5530f3f5ed6a11489b685383aa5063669e9c");
	assert_string_equal(tool->config.path, "76c01a1165a4f346efe43c4fb04d5530f3f5ed6a11489b685383aa5063669e9c.json");
	assert_int_equal(tool->n_layers, 3);
	assert_layer(tool, 0, S_ID_BASE "/layer.tar", S_BASE);
	assert_layer(tool, 1, "b68d76ae45878535f59a7e7fa7a16c705e85bb1ea5593b0ce8da491592003cea/layer.tar", S_TOOL);
	assert_layer(tool, 2, "93c9f90deb5a03d76bde394bd75e26ce38e5f172e02f44e7df34798a26b0f360/layer.tar", S_TOOLV);
	/* base:1.0's only layer is the symlink to the shared copy; its size comes through the link */
	const ferry_image *base = &src->entries[1].img;
	assert_int_equal(base->n_layers, 1);
	assert_layer(base, 0, "d0847cb8931667b03a6a55b9e5450768059ad0590e19730d5da48653af65ea60/layer.tar", S_BASE);
	if (!src->tree->one_pass) {
		assert_true(base->layers[0].size_known);
		assert_int_equal(base->layers[0].desc.size, 7168);
		assert_int_equal(tool->layers[0].desc.size, 7168);
	}
	assert_string_equal(base->config.desc.digest.str,
			    "sha256:5903f26fa5d8cf0bf9ebf7348a05457a3f47a0dbd543d970c2e16058a7549045");
	const ferry_image *app = &src->entries[2].img;
	assert_int_equal(app->n_layers, 2);
	assert_layer(app, 0, S_ID_BASE "/layer.tar", S_BASE);
}

static void test_sample(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("", "sample.tar");
	assert_false(src->tree->one_pass);
	check_sample(src);
	ferry_source_free(src);
	src = open_fixture("docker-archive:", "sample.tar");
	check_sample(src);
	ferry_source_free(src);
	ferry_source_free(NULL);
}

/* A copy of a fixture, gzipped as a whole (so read in one pass); caller frees the path. */
static char *gzip_copy(const char *name)
{
	char *in_path = ferry_xasprintf("%s/%s", fixtures_dir, name);
	const char *base = strrchr(name, '/');
	char *out_path = ferry_xasprintf("%s/%s.gz", tmp_dir, base ? base + 1 : name);
	FILE *in = fopen(in_path, "rb");
	assert_non_null(in);
	gzFile out = gzopen(out_path, "wb");
	assert_non_null(out);
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(gzwrite(out, buf, (unsigned)n), (int)n);
	fclose(in);
	assert_int_equal(gzclose(out), Z_OK);
	free(in_path);
	return out_path;
}

static void test_sample_one_pass(void **state)
{
	(void)state;
	char *gz = gzip_copy("sample.tar");
	ferry_source *src;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_source_open(gz, &src, &err) < 0)
		fail_msg("%s: %s", gz, err.msg);
	assert_true(src->tree->one_pass);
	check_sample(src);
	ferry_source_free(src);
	free(gz);
}

/* ---- fixtures/dialects ---- */

static void check_docker25(ferry_source *src)
{
	assert_ptr_equal(src->format, &ferry_format_docker_archive);
	assert_int_equal(src->n_entries, 2);
	/* Named once each: index.json's io.containerd.image.name and RepoTags are the same name. */
	assert_names(&src->entries[0], "docker.io/example/web:1.0");
	assert_names(&src->entries[1], "docker.io/example/worker:2");
	const ferry_image *web = &src->entries[0].img;
	/* Docker's OCI manifest is used as it is. */
	assert_non_null(web->bytes);
	assert_string_equal(web->desc.digest.str, MAN_WEB);
	assert_string_equal(src->entries[1].img.desc.digest.str, MAN_WORKER);
	assert_string_equal(web->manifest.media_type, FERRY_MT_OCI_MANIFEST);
	assert_string_equal(web->config.path, "blobs/sha256/" CFG_WEB_HEX);
	assert_platform(web, "linux/amd64");
	assert_diff_ids_consistent(web);
	assert_layer(web, 0, "blobs/sha256/" BASE_HEX, BASE);
	assert_layer(web, 1, "blobs/sha256/" WEB_HEX, WEB);
	/* uncompressed: the layer digest is the diff_id */
	assert_string_equal(web->layers[0].desc.digest.str, BASE);
	assert_string_equal(web->layers[0].desc.media_type, FERRY_MT_OCI_LAYER);
	assert_int_equal(web->layers[0].desc.size, 5120);
	const ferry_image *worker = &src->entries[1].img;
	assert_layer(worker, 1, "blobs/sha256/" WORKER_HEX, WORKER);
}

static void test_docker25(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("", "dialects/docker25.tar");
	check_docker25(src);
	ferry_source_free(src);
	/* In one pass index.json comes before manifest.json, so the manifests are kept there too. */
	char *gz = gzip_copy("dialects/docker25.tar");
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_source_open(gz, &src, &err) < 0)
		fail_msg("%s: %s", gz, err.msg);
	check_docker25(src);
	ferry_source_free(src);
	free(gz);
}

static void test_containerd(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("", "dialects/containerd.tar");
	assert_ptr_equal(src->format, &ferry_format_docker_archive);
	assert_int_equal(src->n_entries, 2);
	assert_names(&src->entries[0], "docker.io/example/web:1.0");
	assert_names(&src->entries[1], "docker.io/example/worker:2");
	const ferry_image *web = &src->entries[0].img;
	assert_null(web->bytes);
	assert_string_equal(web->config.desc.digest.str, "sha256:" CFG_WEB_HEX);
	assert_diff_ids_consistent(web);
	/* gzip registry blobs: the path names the compressed digest, the diff_id the content */
	assert_layer(web, 0, "blobs/sha256/" BASE_GZ_HEX, BASE);
	assert_layer(web, 1, "blobs/sha256/" WEB_GZ_HEX, WEB);
	assert_true(web->layers[0].size_known);
	assert_int_equal(web->layers[0].desc.size, 243);
	assert_layer(&src->entries[1].img, 1, "blobs/sha256/" WORKER_GZ_HEX, WORKER);
	ferry_source_free(src);
}

static void test_crane(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("docker-archive:", "dialects/crane.tar");
	assert_int_equal(src->n_entries, 2);
	/* crane writes index.docker.io; it is docker.io */
	assert_names(&src->entries[0], "docker.io/example/web:1.0");
	assert_names(&src->entries[1], "registry.example.com:5000/team/worker:2");
	const ferry_image *web = &src->entries[0].img;
	assert_string_equal(web->config.path, "sha256:" CFG_WEB_HEX);
	assert_string_equal(web->config.desc.digest.str, "sha256:" CFG_WEB_HEX);
	assert_layer(web, 0, BASE_GZ_HEX ".tar.gz", BASE);
	assert_layer(web, 1, WEB_GZ_HEX ".tar.gz", WEB);
	const ferry_image *worker = &src->entries[1].img;
	assert_string_equal(worker->config.path, "sha256:" CFG_WORKER_HEX);
	assert_layer(worker, 0, BASE_GZ_HEX ".tar.gz", BASE);
	assert_layer(worker, 1, WORKER_GZ_HEX ".tar.gz", WORKER);
	assert_platform(worker, "linux/amd64");
	ferry_source_free(src);
}

static void test_podman(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("", "dialects/podman.tar");
	assert_int_equal(src->n_entries, 2);
	assert_names(&src->entries[0], "localhost/web:1.0");
	assert_names(&src->entries[1], "localhost/worker:2");
	const ferry_ref *r = &src->entries[0].names[0].ref;
	assert_string_equal(r->domain, "localhost");
	assert_string_equal(r->path, "web");
	assert_string_equal(r->tag, "1.0");
	const ferry_image *worker = &src->entries[1].img;
	assert_string_equal(worker->config.path, CFG_WORKER_HEX ".json");
	assert_layer(worker, 0, BASE_HEX ".tar", BASE);
	assert_layer(worker, 1, WORKER_HEX ".tar", WORKER);
	assert_int_equal(worker->layers[1].desc.size, 3072);
	ferry_source_free(src);
}

static void test_legacy_dup(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("", "dialects/legacy-dup.tar");
	assert_int_equal(src->n_entries, 2);
	assert_names(&src->entries[0], "docker.io/example/dup:one");
	assert_names(&src->entries[1], "docker.io/example/dup:two");
	const ferry_image *one = &src->entries[0].img, *two = &src->entries[1].img;
	assert_int_equal(one->n_layers, 2);
	assert_string_equal(one->layers[1].diff_id.str, DUP_NOEOF);
	assert_int_equal(one->layers[1].desc.size, 2048); /* no end-of-archive blocks */
	assert_int_equal(two->n_layers, 3);
	assert_diff_ids_consistent(two);
	assert_string_equal(two->layers[0].diff_id.str, BASE);
	assert_string_equal(two->layers[1].diff_id.str, DUP_EXTRA);
	assert_string_equal(two->layers[2].diff_id.str, BASE);
	/* The first layer of both images is the same stored file; the third is a symlink to it. */
	assert_string_equal(one->layers[0].path, two->layers[0].path);
	assert_string_not_equal(two->layers[2].path, two->layers[0].path);
	assert_true(two->layers[2].size_known);
	assert_int_equal(two->layers[2].desc.size, 5120);
	ferry_source_free(src);
}

static void test_oci_multi(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("", "dialects/oci-multi");
	assert_ptr_equal(src->format, &ferry_format_oci);
	assert_false(src->tree->one_pass);
	/* five index.json entries, one of them not an image */
	assert_int_equal(src->n_entries, 4);

	const ferry_entry *multi = &src->entries[0];
	assert_names(multi, "docker.io/example/multi:1.0");
	assert_true(multi->img.is_index);
	assert_string_equal(multi->img.desc.digest.str,
			    "sha256:0277c4ddd62b29ba643553774695db11a7af8bb1eb677ed0c01b0e477ede0ab6");
	assert_int_equal(multi->img.n_children, 2);
	assert_platform(&multi->img.children[0], "linux/amd64");
	assert_platform(&multi->img.children[1], "linux/arm64/v8");
	assert_string_equal(multi->img.children[1].cfg.platform.variant, "v8");
	for (size_t i = 0; i < 2; i++) {
		const ferry_image *c = &multi->img.children[i];
		assert_false(c->is_index);
		assert_int_equal(c->n_layers, 2);
		assert_diff_ids_consistent(c);
		assert_string_equal(c->layers[0].desc.media_type, FERRY_MT_OCI_LAYER_GZIP);
	}
	/* the platform-independent layer is shared */
	assert_string_equal(multi->img.children[0].layers[1].path, multi->img.children[1].layers[1].path);
	assert_string_equal(multi->img.children[0].layers[0].path, "blobs/sha256/" BASE_GZ_HEX);
	assert_string_equal(multi->img.children[0].layers[0].diff_id.str, BASE);

	/* crane: a full reference in ref.name */
	const ferry_entry *crane = &src->entries[1];
	assert_names(crane, "registry.example.com/crane/app:v2");
	assert_true(crane->names[0].has_ref);
	assert_string_equal(crane->names[0].ref.domain, "registry.example.com");
	assert_string_equal(crane->img.desc.digest.str,
			    "sha256:97203c2d7bbf4ce3f717dd2f331d1a709b90f9e517a177a808c0e92aec9a171f");
	/* skopeo: a bare tag */
	const ferry_entry *skopeo = &src->entries[2];
	assert_int_equal(skopeo->n_names, 1);
	assert_false(skopeo->names[0].has_ref);
	assert_string_equal(skopeo->names[0].bare_tag, "v3");
	/* no name at all */
	const ferry_entry *noname = &src->entries[3];
	assert_int_equal(noname->n_names, 0);
	assert_string_equal(noname->img.desc.digest.str,
			    "sha256:28292d3e16423dc4e4264b6973ffa3883db2a34f8eacf70d20025de42fd92516");
	for (size_t i = 1; i < 4; i++) {
		const ferry_image *img = &src->entries[i].img;
		assert_false(img->is_index);
		assert_platform(img, "linux/amd64");
		assert_diff_ids_consistent(img);
		assert_string_equal(img->layers[0].diff_id.str, BASE);
	}
	ferry_source_free(src);
}

static void test_lying_mediatype(void **state)
{
	(void)state;
	ferry_source *src = open_fixture("oci:", "dialects/lying-mediatype");
	assert_int_equal(src->n_entries, 1);
	assert_names(&src->entries[0], "docker.io/example/liar:1");
	const ferry_image *img = &src->entries[0].img;
	assert_int_equal(img->n_layers, 2);
	/* Reading keeps the label as declared; verify and convert sniff the bytes. */
	assert_string_equal(img->layers[1].desc.media_type, FERRY_MT_OCI_LAYER_GZIP);
	assert_string_equal(img->layers[1].desc.digest.str, img->layers[1].diff_id.str);
	ferry_source_free(src);
}

/* ---- what is not an image ---- */

static void expect_open_error(const char *loc, ferry_code code)
{
	ferry_source *src = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_source_open(loc, &src, &err) == 0) {
		ferry_source_free(src);
		fail_msg("%s was opened", loc);
	}
	if (code && err.code != code)
		fail_msg("%s: code %d, want %d (%s)", loc, err.code, code, err.msg);
	assert_true(err.msg[0] != '\0');
}

static void test_not_images(void **state)
{
	(void)state;
	char *p = ferry_xasprintf("%s/missing.tar", tmp_dir);
	expect_open_error(p, FERRY_E_NOTFOUND);
	free(p);

	/* a directory without oci-layout */
	p = ferry_xasprintf("%s/emptydir", tmp_dir);
	assert_int_equal(mkdir(p, 0700), 0);
	expect_open_error(p, 0);
	free(p);

	/* a text file */
	p = ferry_xasprintf("%s/notes.txt", tmp_dir);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("not a tar archive, just some words\n", f);
	fclose(f);
	expect_open_error(p, FERRY_E_FORMAT);
	/* oci: on a file, docker-archive: on a directory */
	char *loc = ferry_xasprintf("oci:%s", p);
	expect_open_error(loc, FERRY_E_USAGE);
	free(loc);
	free(p);
	loc = ferry_xasprintf("docker-archive:%s/dialects/oci-multi", fixtures_dir);
	expect_open_error(loc, FERRY_E_USAGE);
	free(loc);

	/* a tar of something else: neither manifest.json nor oci-layout */
	p = ferry_xasprintf("%s/other.tar", tmp_dir);
	char *cmd = ferry_xasprintf("tar -C '%s' -cf '%s' emptydir", tmp_dir, p);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	expect_open_error(p, FERRY_E_FORMAT);
	free(p);

	expect_open_error("", FERRY_E_USAGE);
}

/* A docker archive whose RepoTags holds tag; nothing else is wrong with it. */
static char *archive_tagged(const char *name, const char *tag)
{
	char *dir = ferry_xasprintf("%s/%s", tmp_dir, name);
	assert_int_equal(mkdir(dir, 0700), 0);
	char *p = ferry_xasprintf("%s/c.json", dir);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", f);
	fclose(f);
	free(p);
	p = ferry_xasprintf("%s/manifest.json", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f, "[{\"Config\":\"c.json\",\"RepoTags\":[\"%s\"],\"Layers\":[]}]", tag);
	fclose(f);
	free(p);
	char *tar = ferry_xasprintf("%s.tar", dir);
	char *cmd = ferry_xasprintf("tar -C '%s' -cf '%s' manifest.json c.json", dir, tar);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(dir);
	return tar;
}

/* A bad name inside an archive is bad data (FERRY_E_FORMAT), not a bad command line. */
static void test_bad_names(void **state)
{
	(void)state;
	char *p = archive_tagged("good-name", "example/app:1");
	ferry_source *src = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_source_open(p, &src, &err) < 0)
		fail_msg("%s: %s", p, err.msg);
	assert_names(&src->entries[0], "docker.io/example/app:1");
	ferry_source_free(src);
	free(p);
	p = archive_tagged("upper-name", "Example/App:1");
	expect_open_error(p, FERRY_E_FORMAT);
	free(p);
	p = archive_tagged("bad-tag", "example/app:-1");
	expect_open_error(p, FERRY_E_FORMAT);
	free(p);
	p = archive_tagged("bad-digest", "example/app@sha256:12");
	expect_open_error(p, FERRY_E_FORMAT);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample),
		cmocka_unit_test(test_sample_one_pass),
		cmocka_unit_test(test_docker25),
		cmocka_unit_test(test_containerd),
		cmocka_unit_test(test_crane),
		cmocka_unit_test(test_podman),
		cmocka_unit_test(test_legacy_dup),
		cmocka_unit_test(test_oci_multi),
		cmocka_unit_test(test_lying_mediatype),
		cmocka_unit_test(test_not_images),
		cmocka_unit_test(test_bad_names),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
