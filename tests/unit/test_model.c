/*
 * test_model.c - the JSON documents: manifests, indexes, image configs,
 * descriptors and platforms.  Valid documents parse into the right values;
 * malformed or hostile ones (wrong types, duplicate keys, bad digests, wrong
 * schemaVersion, oversized, invalid UTF-8, deep nesting) are refused with the
 * right error code and leave nothing to free.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DG_A "sha256:" HEX_A
#define DG_B "sha256:" HEX_B
#define DG_C "sha256:" HEX_C

#define CFG_DESC "{\"mediaType\":\"" FERRY_MT_OCI_CONFIG "\",\"digest\":\"" DG_A "\",\"size\":7023}"
#define LAYER_B "{\"mediaType\":\"" FERRY_MT_OCI_LAYER_GZIP "\",\"digest\":\"" DG_B "\",\"size\":32654}"
#define LAYER_C                                                                                              \
	"{\"mediaType\":\"" FERRY_MT_OCI_LAYER_GZIP "\",\"digest\":\"" DG_C "\",\"size\":16724,"                \
	"\"urls\":[\"https://example.com/layer\"],\"annotations\":{\"org.example.layer\":\"two\"}}"

static const char oci_manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" FERRY_MT_OCI_MANIFEST "\",\"config\":" CFG_DESC
	",\"layers\":[" LAYER_B "," LAYER_C "],\"annotations\":{\"org.example.key\":\"value\"}}";

static const char docker_manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" FERRY_MT_DOCKER_MANIFEST "\",\"config\":{\"mediaType\":\"" FERRY_MT_DOCKER_CONFIG
	"\",\"size\":1469,\"digest\":\"" DG_A "\"},\"layers\":[{\"mediaType\":\"" FERRY_MT_DOCKER_LAYER_GZIP
	"\",\"size\":2479,\"digest\":\"" DG_B "\"}]}";

static const char oci_index[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" FERRY_MT_OCI_INDEX "\",\"manifests\":["
	"{\"mediaType\":\"" FERRY_MT_OCI_MANIFEST "\",\"digest\":\"" DG_A "\",\"size\":500,"
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" FERRY_MT_OCI_MANIFEST "\",\"digest\":\"" DG_B "\",\"size\":501,"
	"\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"},"
	"\"annotations\":{\"" FERRY_ANN_REF_NAME "\":\"1.0\"}},"
	"{\"mediaType\":\"application/vnd.example.sbom+json\",\"digest\":\"" DG_C "\",\"size\":12,"
	"\"artifactType\":\"application/spdx+json\"}"
	"],\"annotations\":{\"org.example.index\":\"yes\"}}";

static const char config_doc[] =
	"{\"architecture\":\"arm64\",\"variant\":\"v8\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DG_A "\",\"" DG_B "\"]},"
	"\"history\":[{\"created_by\":\"x\"}]}";

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		if (c[i])
			return false;
	}
	return true;
}

/* ---- manifests ---- */

static void test_manifest_oci(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_manifest m;
	assert_int_equal(ferry_manifest_parse(&m, oci_manifest, strlen(oci_manifest), &err), 0);
	assert_string_equal(m.media_type, FERRY_MT_OCI_MANIFEST);
	assert_string_equal(m.config.media_type, FERRY_MT_OCI_CONFIG);
	assert_string_equal(m.config.digest.str, DG_A);
	assert_int_equal(m.config.size, 7023);
	assert_int_equal(m.n_layers, 2);
	assert_string_equal(m.layers[0].digest.str, DG_B);
	assert_int_equal(m.layers[0].size, 32654);
	assert_string_equal(m.layers[0].media_type, FERRY_MT_OCI_LAYER_GZIP);
	assert_null(m.layers[0].annotations);
	assert_null(m.layers[0].extra);
	assert_string_equal(m.layers[1].digest.str, DG_C);
	assert_string_equal(ferry_descriptor_annotation(&m.layers[1], "org.example.layer"), "two");
	assert_null(ferry_descriptor_annotation(&m.layers[1], "org.example.nope"));
	/* urls is kept as an extra member, so a rebuilt manifest does not lose it */
	assert_non_null(m.layers[1].extra);
	assert_string_equal(json_string_value(json_array_get(json_object_get(m.layers[1].extra, "urls"), 0)),
			    "https://example.com/layer");
	assert_string_equal(ferry_json_str(m.annotations, "org.example.key"), "value");
	ferry_manifest_free(&m);
	assert_true(all_zero(&m, sizeof(m)));
	ferry_manifest_free(&m); /* freeing twice (zeroed) is harmless */
	ferry_manifest_free(NULL);
}

static void test_manifest_docker_and_inferred(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_manifest m;
	assert_int_equal(ferry_manifest_parse(&m, docker_manifest, strlen(docker_manifest), &err), 0);
	assert_string_equal(m.media_type, FERRY_MT_DOCKER_MANIFEST);
	assert_int_equal(m.n_layers, 1);
	assert_int_equal(m.layers[0].size, 2479);
	ferry_manifest_free(&m);

	/* No mediaType (allowed by OCI): inferred from the config's type. */
	const char *no_mt_docker = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" FERRY_MT_DOCKER_CONFIG
				   "\",\"digest\":\"" DG_A "\",\"size\":1},\"layers\":[]}";
	assert_int_equal(ferry_manifest_parse(&m, no_mt_docker, strlen(no_mt_docker), &err), 0);
	assert_string_equal(m.media_type, FERRY_MT_DOCKER_MANIFEST);
	assert_int_equal(m.n_layers, 0);
	ferry_manifest_free(&m);

	const char *no_mt_oci = "{\"schemaVersion\":2,\"config\":" CFG_DESC ",\"layers\":[" LAYER_B "]}";
	assert_int_equal(ferry_manifest_parse(&m, no_mt_oci, strlen(no_mt_oci), &err), 0);
	assert_string_equal(m.media_type, FERRY_MT_OCI_MANIFEST);
	ferry_manifest_free(&m);

	/* sha512 digests are valid too */
	const char *sha512 = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" FERRY_MT_OCI_CONFIG
			     "\",\"digest\":\"sha512:" HEX_A HEX_B "\",\"size\":3},\"layers\":[]}";
	assert_int_equal(ferry_manifest_parse(&m, sha512, strlen(sha512), &err), 0);
	assert_int_equal(m.config.digest.alg, FERRY_ALG_SHA512);
	ferry_manifest_free(&m);
}

struct bad_doc {
	const char *name;
	const char *json;
	ferry_code code;
};

#define M_HEAD "{\"schemaVersion\":2,\"mediaType\":\"" FERRY_MT_OCI_MANIFEST "\","

static const struct bad_doc bad_manifests[] = {
	{"not JSON", "{", FERRY_E_FORMAT},
	{"empty", "", FERRY_E_FORMAT},
	{"trailing garbage", M_HEAD "\"config\":" CFG_DESC ",\"layers\":[]}x", FERRY_E_FORMAT},
	{"a JSON array", "[]", FERRY_E_FORMAT},
	{"a JSON string", "\"manifest\"", FERRY_E_FORMAT},
	{"an index", oci_index, FERRY_E_FORMAT},
	{"schemaVersion 1", "{\"schemaVersion\":1,\"mediaType\":\"" FERRY_MT_OCI_MANIFEST "\",\"config\":" CFG_DESC
			    ",\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"schemaVersion 3", "{\"schemaVersion\":3,\"mediaType\":\"" FERRY_MT_OCI_MANIFEST "\",\"config\":" CFG_DESC
			    ",\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"schemaVersion as a string", "{\"schemaVersion\":\"2\",\"mediaType\":\"" FERRY_MT_OCI_MANIFEST
				      "\",\"config\":" CFG_DESC ",\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"schemaVersion missing", "{\"mediaType\":\"" FERRY_MT_OCI_MANIFEST "\",\"config\":" CFG_DESC ",\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"no config", M_HEAD "\"layers\":[]}", FERRY_E_FORMAT},
	{"config is a string", M_HEAD "\"config\":\"" DG_A "\",\"layers\":[]}", FERRY_E_FORMAT},
	{"no layers", M_HEAD "\"config\":" CFG_DESC "}", FERRY_E_FORMAT},
	{"layers is an object", M_HEAD "\"config\":" CFG_DESC ",\"layers\":{}}", FERRY_E_FORMAT},
	{"a layer is a string", M_HEAD "\"config\":" CFG_DESC ",\"layers\":[\"" DG_B "\"]}", FERRY_E_FORMAT},
	{"digest is a number", M_HEAD "\"config\":{\"digest\":5,\"size\":1},\"layers\":[]}", FERRY_E_FORMAT},
	{"digest missing", M_HEAD "\"config\":{\"size\":1},\"layers\":[]}", FERRY_E_FORMAT},
	{"digest uppercase hex", M_HEAD "\"config\":{\"digest\":\"sha256:" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
					"\",\"size\":1},\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"digest too short", M_HEAD "\"config\":{\"digest\":\"sha256:abc\",\"size\":1},\"layers\":[]}", FERRY_E_FORMAT},
	{"digest with a path in it", M_HEAD "\"config\":{\"digest\":\"sha256:../../../../etc/passwd\",\"size\":1},"
					    "\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"digest of an unknown algorithm", M_HEAD "\"config\":{\"digest\":\"md5:" HEX_A "\",\"size\":1},\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"layer digest bad", M_HEAD "\"config\":" CFG_DESC ",\"layers\":[" LAYER_B ",{\"digest\":\"sha256:" HEX_A
					    "0\",\"size\":1}]}",
	 FERRY_E_FORMAT},
	{"size is a string", M_HEAD "\"config\":{\"digest\":\"" DG_A "\",\"size\":\"7023\"},\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"size is negative", M_HEAD "\"config\":{\"digest\":\"" DG_A "\",\"size\":-1},\"layers\":[]}", FERRY_E_FORMAT},
	{"size is a real", M_HEAD "\"config\":{\"digest\":\"" DG_A "\",\"size\":1.5},\"layers\":[]}", FERRY_E_FORMAT},
	{"size missing", M_HEAD "\"config\":{\"digest\":\"" DG_A "\"},\"layers\":[]}", FERRY_E_FORMAT},
	{"size overflows", M_HEAD "\"config\":{\"digest\":\"" DG_A "\",\"size\":99999999999999999999999},\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"descriptor mediaType is a number", M_HEAD "\"config\":{\"mediaType\":7,\"digest\":\"" DG_A
						    "\",\"size\":1},\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"descriptor annotations is an array", M_HEAD "\"config\":" CFG_DESC ",\"layers\":[{\"digest\":\"" DG_B
						      "\",\"size\":1,\"annotations\":[]}]}",
	 FERRY_E_FORMAT},
	{"descriptor annotation value is a number", M_HEAD "\"config\":" CFG_DESC ",\"layers\":[{\"digest\":\"" DG_B
							   "\",\"size\":1,\"annotations\":{\"a\":1}}]}",
	 FERRY_E_FORMAT},
	{"manifest annotations is a string", M_HEAD "\"config\":" CFG_DESC ",\"layers\":[],\"annotations\":\"x\"}",
	 FERRY_E_FORMAT},
	{"duplicate top-level key", M_HEAD "\"config\":" CFG_DESC ",\"layers\":[],\"layers\":[" LAYER_B "]}",
	 FERRY_E_FORMAT},
	{"duplicate key in a descriptor", M_HEAD "\"config\":{\"digest\":\"" DG_A "\",\"size\":1,\"digest\":\"" DG_B
						 "\"},\"layers\":[]}",
	 FERRY_E_FORMAT},
	{"invalid UTF-8 in a string", M_HEAD "\"config\":" CFG_DESC ",\"layers\":[],\"annotations\":{\"a\":\"\xff\xfe\"}}",
	 FERRY_E_FORMAT},
	{"overlong UTF-8 encoding", M_HEAD "\"config\":" CFG_DESC ",\"layers\":[],\"annotations\":{\"a\":\"\xc0\xaf\"}}",
	 FERRY_E_FORMAT},
	{"NUL escape in a string", M_HEAD "\"config\":" CFG_DESC ",\"layers\":[],\"annotations\":{\"a\":\"x\\u0000y\"}}",
	 FERRY_E_FORMAT},
	{"unknown mediaType", "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example+json\",\"config\":" CFG_DESC
			      ",\"layers\":[]}",
	 FERRY_E_FORMAT},
};

/* Parse buf as a manifest expecting failure with code; report (not abort) a mismatch. */
static bool manifest_fails(const char *name, const void *buf, size_t len, ferry_code code)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_manifest m;
	memset(&m, 0x5a, sizeof(m));
	int rc = ferry_manifest_parse(&m, buf, len, &err);
	bool ok = rc == -1 && err.code == code && err.msg[0] != '\0' && all_zero(&m, sizeof(m));
	if (!ok)
		print_error("manifest case \"%s\": rc %d, code %d (want -1, %d), message \"%s\"\n", name, rc, err.code,
			    code, err.msg);
	if (rc == 0)
		ferry_manifest_free(&m);
	return ok;
}

static void test_manifest_rejects(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(bad_manifests) / sizeof(bad_manifests[0]); i++)
		bad += !manifest_fails(bad_manifests[i].name, bad_manifests[i].json, strlen(bad_manifests[i].json),
				       bad_manifests[i].code);
	/* A raw NUL byte inside the document (len covers it) */
	static const char nul[] = M_HEAD "\"config\":" CFG_DESC ",\"layers\":[]}\0 ";
	bad += !manifest_fails("raw NUL byte", nul, sizeof(nul) - 1, FERRY_E_FORMAT);
	assert_int_equal(bad, 0);
}

static void test_duplicate_key_message(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_manifest m;
	const char *doc = M_HEAD "\"config\":" CFG_DESC ",\"layers\":[],\"layers\":[]}";
	assert_int_equal(ferry_manifest_parse(&m, doc, strlen(doc), &err), -1);
	assert_non_null(strstr(err.msg, "duplicate"));
}

/* The manifest's own mediaType, when present, must be a string like every other member. */
static void test_manifest_media_type_wrong_type(void **state)
{
	(void)state;
	const char *doc = "{\"schemaVersion\":2,\"mediaType\":5,\"config\":" CFG_DESC ",\"layers\":[]}";
	assert_true(manifest_fails("top-level mediaType is a number", doc, strlen(doc), FERRY_E_FORMAT));
}

/* OCI: annotation values MUST be strings, at the top level as in descriptors. */
static void test_manifest_annotation_values(void **state)
{
	(void)state;
	const char *doc = M_HEAD "\"config\":" CFG_DESC ",\"layers\":[],\"annotations\":{\"a\":1}}";
	assert_true(manifest_fails("top-level annotation value is a number", doc, strlen(doc), FERRY_E_FORMAT));
}

static void test_size_limit(void **state)
{
	(void)state;
	/* A valid manifest padded with whitespace to exactly the limit parses... */
	size_t n = FERRY_JSON_MAX;
	char *buf = ferry_xmalloc(n + 2);
	size_t base = strlen(oci_manifest);
	memcpy(buf, oci_manifest, base);
	memset(buf + base, ' ', n + 2 - base);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_manifest m;
	assert_int_equal(ferry_manifest_parse(&m, buf, n, &err), 0);
	assert_int_equal(m.n_layers, 2);
	ferry_manifest_free(&m);
	/* ...one byte more is refused as a limit, not a format error. */
	assert_true(manifest_fails("4 MiB + 1", buf, n + 1, FERRY_E_LIMIT));

	ferry_index ix;
	ferry_error_clear(&err);
	assert_int_equal(ferry_index_parse(&ix, buf, n + 1, &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
	ferry_config c;
	ferry_error_clear(&err);
	assert_int_equal(ferry_config_parse(&c, buf, n + 1, &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
	json_t *j;
	ferry_error_clear(&err);
	assert_int_equal(ferry_json_parse(buf, n + 1, "thing", &j, &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
	assert_null(j);
	free(buf);
}

static void test_deep_nesting(void **state)
{
	(void)state;
	/* 100000 nested arrays inside an annotation: refused, without blowing the stack. */
	size_t depth = 100000;
	const char *head = M_HEAD "\"config\":" CFG_DESC ",\"layers\":[],\"x\":";
	size_t hl = strlen(head);
	char *buf = ferry_xmalloc(hl + 2 * depth + 2);
	memcpy(buf, head, hl);
	memset(buf + hl, '[', depth);
	memset(buf + hl + depth, ']', depth);
	buf[hl + 2 * depth] = '}';
	buf[hl + 2 * depth + 1] = '\0';
	assert_true(manifest_fails("deep nesting", buf, hl + 2 * depth + 1, FERRY_E_FORMAT));

	ferry_config c;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_config_parse(&c, buf + hl, 2 * depth, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	free(buf);
}

/* OCI 1.1: subject and artifactType are parsed, kept through a rebuild, and a malformed subject is refused. */
static void test_manifest_referrer(void **state)
{
	(void)state;
	static const char art[] =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"artifactType\":\"application/spdx+json\","
		"\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"" DG_A "\",\"size\":2},"
		"\"layers\":[{\"mediaType\":\"application/spdx+json\",\"digest\":\"" DG_B "\",\"size\":9}],"
		"\"subject\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" DG_C "\",\"size\":7}}";
	ferry_error err = FERRY_ERROR_INIT;
	ferry_manifest m, back;
	assert_int_equal(ferry_manifest_parse(&m, art, strlen(art), &err), 0);
	assert_non_null(m.subject);
	assert_string_equal(m.subject->digest.str, DG_C);
	assert_string_equal(m.artifact_type, "application/spdx+json");
	char *s;
	size_t len;
	assert_int_equal(ferry_manifest_serialize(&m, &s, &len, &err), 0);
	assert_int_equal(ferry_manifest_parse(&back, s, len, &err), 0);
	assert_non_null(back.subject);
	assert_string_equal(back.subject->digest.str, DG_C);
	assert_string_equal(back.artifact_type, "application/spdx+json");
	free(s);
	ferry_manifest_free(&back);
	ferry_manifest_free(&m);
	static const char bad[] =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"" DG_A "\",\"size\":2},"
		"\"layers\":[],\"subject\":{\"digest\":\"sha256:nothex\",\"size\":7}}";
	assert_int_equal(ferry_manifest_parse(&m, bad, strlen(bad), &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
}

static void test_manifest_round_trip(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_manifest a, b;
	assert_int_equal(ferry_manifest_parse(&a, oci_manifest, strlen(oci_manifest), &err), 0);
	char *s1;
	size_t l1;
	assert_int_equal(ferry_manifest_serialize(&a, &s1, &l1, &err), 0);
	assert_int_equal(strlen(s1), l1);
	assert_int_equal(ferry_manifest_parse(&b, s1, l1, &err), 0);
	assert_string_equal(b.media_type, a.media_type);
	assert_string_equal(b.config.digest.str, a.config.digest.str);
	assert_int_equal(b.config.size, a.config.size);
	assert_string_equal(b.config.media_type, a.config.media_type);
	assert_int_equal(b.n_layers, a.n_layers);
	for (size_t i = 0; i < a.n_layers; i++) {
		assert_string_equal(b.layers[i].digest.str, a.layers[i].digest.str);
		assert_int_equal(b.layers[i].size, a.layers[i].size);
		assert_string_equal(b.layers[i].media_type, a.layers[i].media_type);
		assert_true(json_equal(b.layers[i].annotations, a.layers[i].annotations) ||
			    (!a.layers[i].annotations && !b.layers[i].annotations));
		assert_true(json_equal(b.layers[i].extra, a.layers[i].extra) ||
			    (!a.layers[i].extra && !b.layers[i].extra));
	}
	assert_true(json_equal(a.annotations, b.annotations));
	/* Serialising is deterministic: the re-parsed manifest gives the same bytes. */
	char *s2;
	size_t l2;
	assert_int_equal(ferry_manifest_serialize(&b, &s2, &l2, &err), 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(s1, s2, l1);
	/* And the JSON is the same document as the input. */
	json_error_t je;
	json_t *in = json_loads(oci_manifest, 0, &je), *out = json_loads(s1, 0, &je);
	assert_non_null(in);
	assert_non_null(out);
	assert_true(json_equal(in, out));
	json_decref(in);
	json_decref(out);
	free(s1);
	free(s2);
	ferry_manifest_free(&a);
	ferry_manifest_free(&b);
}

/* ---- indexes ---- */

static void test_index(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_index ix;
	assert_int_equal(ferry_index_parse(&ix, oci_index, strlen(oci_index), &err), 0);
	assert_string_equal(ix.media_type, FERRY_MT_OCI_INDEX);
	assert_int_equal(ix.n_manifests, 3);
	assert_non_null(ix.manifests[0].platform);
	assert_string_equal(ix.manifests[0].platform->os, "linux");
	assert_string_equal(ix.manifests[0].platform->architecture, "amd64");
	assert_null(ix.manifests[0].platform->variant);
	assert_string_equal(ix.manifests[1].platform->variant, "v8");
	assert_string_equal(ferry_descriptor_annotation(&ix.manifests[1], FERRY_ANN_REF_NAME), "1.0");
	/* An unknown entry is parsed (the reader decides to skip it), artifactType kept. */
	assert_string_equal(ix.manifests[2].media_type, "application/vnd.example.sbom+json");
	assert_null(ix.manifests[2].platform);
	assert_string_equal(ferry_json_str(ix.manifests[2].extra, "artifactType"), "application/spdx+json");
	assert_string_equal(ferry_json_str(ix.annotations, "org.example.index"), "yes");

	char *s;
	size_t len;
	assert_int_equal(ferry_index_serialize(&ix, &s, &len, &err), 0);
	json_error_t je;
	json_t *in = json_loads(oci_index, 0, &je), *out = json_loadb(s, len, 0, &je);
	assert_non_null(out);
	assert_true(json_equal(in, out));
	json_decref(in);
	json_decref(out);
	ferry_index ix2;
	assert_int_equal(ferry_index_parse(&ix2, s, len, &err), 0);
	assert_int_equal(ix2.n_manifests, 3);
	assert_string_equal(ix2.manifests[1].platform->variant, "v8");
	ferry_index_free(&ix2);
	free(s);
	ferry_index_free(&ix);
	assert_true(all_zero(&ix, sizeof(ix)));
	ferry_index_free(NULL);

	/* A Docker manifest list; and an index without a mediaType (OCI allows it). */
	const char *list = "{\"schemaVersion\":2,\"mediaType\":\"" FERRY_MT_DOCKER_LIST "\",\"manifests\":[{\"mediaType\":\"" FERRY_MT_DOCKER_MANIFEST
			   "\",\"size\":7143,\"digest\":\"" DG_A "\",\"platform\":{\"architecture\":\"ppc64le\",\"os\":\"linux\"}}]}";
	assert_int_equal(ferry_index_parse(&ix, list, strlen(list), &err), 0);
	assert_string_equal(ix.media_type, FERRY_MT_DOCKER_LIST);
	assert_string_equal(ix.manifests[0].platform->architecture, "ppc64le");
	ferry_index_free(&ix);
	const char *bare = "{\"schemaVersion\":2,\"manifests\":[]}";
	assert_int_equal(ferry_index_parse(&ix, bare, strlen(bare), &err), 0);
	assert_string_equal(ix.media_type, FERRY_MT_OCI_INDEX);
	assert_int_equal(ix.n_manifests, 0);
	ferry_index_free(&ix);
}

#define I_HEAD "{\"schemaVersion\":2,\"mediaType\":\"" FERRY_MT_OCI_INDEX "\","
#define I_ENTRY "{\"mediaType\":\"" FERRY_MT_OCI_MANIFEST "\",\"digest\":\"" DG_A "\",\"size\":5}"

static const struct bad_doc bad_indexes[] = {
	{"a manifest", oci_manifest, FERRY_E_FORMAT},
	{"no manifests", I_HEAD "\"annotations\":{}}", FERRY_E_FORMAT},
	{"manifests is an object", I_HEAD "\"manifests\":{}}", FERRY_E_FORMAT},
	{"schemaVersion 1", "{\"schemaVersion\":1,\"mediaType\":\"" FERRY_MT_OCI_INDEX "\",\"manifests\":[]}",
	 FERRY_E_FORMAT},
	{"entry is a number", I_HEAD "\"manifests\":[1]}", FERRY_E_FORMAT},
	{"entry with a bad digest", I_HEAD "\"manifests\":[{\"digest\":\"sha256:zz\",\"size\":1}]}", FERRY_E_FORMAT},
	{"entry without size", I_HEAD "\"manifests\":[{\"digest\":\"" DG_A "\"}]}", FERRY_E_FORMAT},
	{"platform is a string", I_HEAD "\"manifests\":[{\"digest\":\"" DG_A "\",\"size\":1,\"platform\":\"linux\"}]}",
	 FERRY_E_FORMAT},
	{"platform os is a number", I_HEAD "\"manifests\":[{\"digest\":\"" DG_A
					   "\",\"size\":1,\"platform\":{\"os\":1,\"architecture\":\"amd64\"}}]}",
	 FERRY_E_FORMAT},
	{"duplicate entry key", I_HEAD "\"manifests\":[{\"digest\":\"" DG_A "\",\"size\":1,\"size\":2}]}", FERRY_E_FORMAT},
	{"duplicate manifests", I_HEAD "\"manifests\":[],\"manifests\":[" I_ENTRY "]}", FERRY_E_FORMAT},
	{"annotations is an array", I_HEAD "\"manifests\":[],\"annotations\":[]}", FERRY_E_FORMAT},
	{"invalid UTF-8", I_HEAD "\"manifests\":[],\"annotations\":{\"k\":\"\xed\xa0\x80\"}}", FERRY_E_FORMAT},
};

static void test_index_rejects(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(bad_indexes) / sizeof(bad_indexes[0]); i++) {
		const struct bad_doc *c = &bad_indexes[i];
		ferry_error err = FERRY_ERROR_INIT;
		ferry_index ix;
		memset(&ix, 0x5a, sizeof(ix));
		int rc = ferry_index_parse(&ix, c->json, strlen(c->json), &err);
		if (rc != -1 || err.code != c->code || !err.msg[0] || !all_zero(&ix, sizeof(ix))) {
			print_error("index case \"%s\": rc %d, code %d, message \"%s\"\n", c->name, rc, err.code,
				    err.msg);
			bad++;
		}
		if (rc == 0)
			ferry_index_free(&ix);
	}
	assert_int_equal(bad, 0);
}

/* The same rules for an index's own mediaType and annotations. */
static void test_index_member_types(void **state)
{
	(void)state;
	static const struct bad_doc cases[] = {
		{"top-level mediaType is a number", "{\"schemaVersion\":2,\"mediaType\":[],\"manifests\":[]}",
		 FERRY_E_FORMAT},
		{"top-level annotation value is a number", I_HEAD "\"manifests\":[],\"annotations\":{\"k\":true}}",
		 FERRY_E_FORMAT},
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ferry_error err = FERRY_ERROR_INIT;
		ferry_index ix;
		int rc = ferry_index_parse(&ix, cases[i].json, strlen(cases[i].json), &err);
		if (rc != -1 || err.code != cases[i].code) {
			print_error("index case \"%s\": rc %d, code %d\n", cases[i].name, rc, err.code);
			bad++;
		}
		if (rc == 0)
			ferry_index_free(&ix);
	}
	assert_int_equal(bad, 0);
}

/* ---- configs ---- */

static void test_config(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_config c;
	assert_int_equal(ferry_config_parse(&c, config_doc, strlen(config_doc), &err), 0);
	assert_int_equal(c.n_diff_ids, 2);
	assert_string_equal(c.diff_ids[0].str, DG_A);
	assert_string_equal(c.diff_ids[1].str, DG_B);
	assert_string_equal(c.platform.os, "linux");
	assert_string_equal(c.platform.architecture, "arm64");
	assert_string_equal(c.platform.variant, "v8");
	ferry_config_free(&c);
	assert_true(all_zero(&c, sizeof(c)));
	ferry_config_free(NULL);

	/* os/architecture may be missing; an image may have no layers. */
	const char *minimal = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	assert_int_equal(ferry_config_parse(&c, minimal, strlen(minimal), &err), 0);
	assert_int_equal(c.n_diff_ids, 0);
	assert_null(c.platform.os);
	assert_null(c.platform.architecture);
	ferry_config_free(&c);
}

#define ROOTFS_OK "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DG_A "\"]}"

static const struct bad_doc bad_configs[] = {
	{"array", "[]", FERRY_E_FORMAT},
	{"not JSON", "{\"rootfs\":", FERRY_E_FORMAT},
	{"no rootfs", "{\"os\":\"linux\"}", FERRY_E_FORMAT},
	{"rootfs is an array", "{\"rootfs\":[]}", FERRY_E_FORMAT},
	{"no diff_ids", "{\"rootfs\":{\"type\":\"layers\"}}", FERRY_E_FORMAT},
	{"diff_ids is a string", "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":\"" DG_A "\"}}", FERRY_E_FORMAT},
	{"diff_id is a number", "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[1]}}", FERRY_E_FORMAT},
	{"diff_id not a digest", "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:1234\"]}}", FERRY_E_FORMAT},
	{"diff_id uppercase", "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"SHA256:" HEX_A "\"]}}", FERRY_E_FORMAT},
	{"os is a number", "{\"os\":1," ROOTFS_OK "}", FERRY_E_FORMAT},
	{"architecture is an object", "{\"architecture\":{}," ROOTFS_OK "}", FERRY_E_FORMAT},
	{"variant is an array", "{\"variant\":[]," ROOTFS_OK "}", FERRY_E_FORMAT},
	{"duplicate os", "{\"os\":\"linux\",\"os\":\"windows\"," ROOTFS_OK "}", FERRY_E_FORMAT},
	{"duplicate rootfs", "{" ROOTFS_OK ",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", FERRY_E_FORMAT},
	{"invalid UTF-8", "{\"os\":\"lin\x80ux\"," ROOTFS_OK "}", FERRY_E_FORMAT},
};

static void test_config_rejects(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < sizeof(bad_configs) / sizeof(bad_configs[0]); i++) {
		const struct bad_doc *c = &bad_configs[i];
		ferry_error err = FERRY_ERROR_INIT;
		ferry_config cfg;
		memset(&cfg, 0x5a, sizeof(cfg));
		int rc = ferry_config_parse(&cfg, c->json, strlen(c->json), &err);
		if (rc != -1 || err.code != c->code || !err.msg[0] || !all_zero(&cfg, sizeof(cfg))) {
			print_error("config case \"%s\": rc %d, code %d, message \"%s\"\n", c->name, rc, err.code,
				    err.msg);
			bad++;
		}
		if (rc == 0)
			ferry_config_free(&cfg);
	}
	assert_int_equal(bad, 0);
}

/* ---- document kinds and media types ---- */

static void test_doc_kinds(void **state)
{
	(void)state;
	json_error_t je;
	json_t *idx = json_loads("{\"manifests\":[]}", 0, &je);
	json_t *man = json_loads("{\"config\":{}}", 0, &je);
	assert_int_equal(ferry_doc_kind_of(FERRY_MT_OCI_INDEX, NULL), FERRY_DOC_INDEX);
	assert_int_equal(ferry_doc_kind_of(FERRY_MT_DOCKER_LIST, NULL), FERRY_DOC_INDEX);
	assert_int_equal(ferry_doc_kind_of(FERRY_MT_OCI_MANIFEST, NULL), FERRY_DOC_MANIFEST);
	assert_int_equal(ferry_doc_kind_of(FERRY_MT_DOCKER_MANIFEST, NULL), FERRY_DOC_MANIFEST);
	assert_int_equal(ferry_doc_kind_of(NULL, idx), FERRY_DOC_INDEX);
	assert_int_equal(ferry_doc_kind_of(NULL, man), FERRY_DOC_MANIFEST);
	assert_int_equal(ferry_doc_kind_of("", man), FERRY_DOC_MANIFEST);
	/* A declared type wins over the shape. */
	assert_int_equal(ferry_doc_kind_of("application/vnd.example+json", man), FERRY_DOC_UNKNOWN);
	assert_int_equal(ferry_doc_kind_of(NULL, NULL), FERRY_DOC_UNKNOWN);
	json_decref(idx);
	json_decref(man);

	assert_true(ferry_media_type_is_layer(FERRY_MT_OCI_LAYER));
	assert_true(ferry_media_type_is_layer(FERRY_MT_OCI_LAYER_ZSTD));
	assert_true(ferry_media_type_is_layer(FERRY_MT_DOCKER_LAYER_GZIP));
	assert_true(ferry_media_type_is_layer(FERRY_MT_DOCKER_FOREIGN));
	assert_false(ferry_media_type_is_layer(FERRY_MT_OCI_CONFIG));
	assert_false(ferry_media_type_is_layer(NULL));
	assert_false(ferry_media_type_is_index(FERRY_MT_OCI_MANIFEST));
	assert_false(ferry_media_type_is_manifest(FERRY_MT_OCI_INDEX));
	assert_false(ferry_media_type_is_manifest(NULL));
	assert_false(ferry_media_type_is_index(NULL));
}

/* ---- platforms ---- */

static void test_platform_parse(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_platform p;
	assert_int_equal(ferry_platform_parse(&p, "linux/amd64", &err), 0);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.architecture, "amd64");
	assert_null(p.variant);
	assert_null(p.os_version);
	char *s = ferry_platform_string(&p);
	assert_string_equal(s, "linux/amd64");
	free(s);
	ferry_platform_free(&p);
	assert_true(all_zero(&p, sizeof(p)));

	assert_int_equal(ferry_platform_parse(&p, "linux/arm64/v8", &err), 0);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.architecture, "arm64");
	assert_string_equal(p.variant, "v8");
	s = ferry_platform_string(&p);
	assert_string_equal(s, "linux/arm64/v8");
	free(s);
	ferry_platform_free(&p);

	static const char *const bad[] = {"", "linux", "/amd64", "linux/", "/", "linux//v8", "linux/arm64/",
					  "linux/arm64/v8/extra", "//"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_error_clear(&err);
		memset(&p, 0x5a, sizeof(p));
		if (ferry_platform_parse(&p, bad[i], &err) != -1 || err.code != FERRY_E_USAGE)
			fail_msg("platform \"%s\" was accepted", bad[i]);
		assert_true(all_zero(&p, sizeof(p)));
		assert_non_null(strstr(err.msg, "OS/ARCH"));
	}

	s = ferry_platform_string(NULL);
	assert_string_equal(s, "unknown");
	free(s);
	ferry_platform empty = {0};
	s = ferry_platform_string(&empty);
	assert_string_equal(s, "unknown");
	free(s);
	ferry_platform_free(NULL);
}

static void test_platform_match(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	ferry_platform arm64, arm64v8, arm64v7, amd64, win;
	assert_int_equal(ferry_platform_parse(&arm64, "linux/arm64", &err), 0);
	assert_int_equal(ferry_platform_parse(&arm64v8, "linux/arm64/v8", &err), 0);
	assert_int_equal(ferry_platform_parse(&arm64v7, "linux/arm64/v7", &err), 0);
	assert_int_equal(ferry_platform_parse(&amd64, "linux/amd64", &err), 0);
	assert_int_equal(ferry_platform_parse(&win, "windows/amd64", &err), 0);

	assert_true(ferry_platform_match(&arm64v8, &arm64));   /* no variant asked: any */
	assert_true(ferry_platform_match(&arm64v8, &arm64v8));
	assert_false(ferry_platform_match(&arm64v8, &arm64v7));
	assert_false(ferry_platform_match(&arm64, &arm64v8)); /* asked for v8, image says nothing */
	assert_true(ferry_platform_match(&amd64, &amd64));
	assert_false(ferry_platform_match(&win, &amd64));
	assert_false(ferry_platform_match(&amd64, &arm64));
	assert_false(ferry_platform_match(NULL, &amd64));
	ferry_platform no_os = {.architecture = "amd64"};
	assert_false(ferry_platform_match(&no_os, &amd64));

	ferry_platform_free(&arm64);
	ferry_platform_free(&arm64v8);
	ferry_platform_free(&arm64v7);
	ferry_platform_free(&amd64);
	ferry_platform_free(&win);
}

/* ---- descriptors ---- */

static void test_descriptor_copy(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	const char *src_json = "{\"mediaType\":\"" FERRY_MT_OCI_MANIFEST "\",\"digest\":\"" DG_B "\",\"size\":42,"
			       "\"annotations\":{\"k\":\"v\"},\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\","
			       "\"variant\":\"v7\",\"os.version\":\"6.1\"},\"urls\":[\"https://x\"]}";
	json_error_t je;
	json_t *obj = json_loads(src_json, 0, &je);
	assert_non_null(obj);
	ferry_descriptor src, dst;
	assert_int_equal(ferry_descriptor_from_json(&src, obj, "test", &err), 0);
	json_decref(obj);
	assert_string_equal(src.platform->os_version, "6.1");

	ferry_descriptor_copy(&dst, &src);
	assert_string_equal(dst.media_type, FERRY_MT_OCI_MANIFEST);
	assert_ptr_not_equal(dst.media_type, src.media_type);
	assert_true(ferry_digest_eq(&dst.digest, &src.digest));
	assert_int_equal(dst.size, 42);
	assert_non_null(dst.platform);
	assert_ptr_not_equal(dst.platform, src.platform);
	assert_string_equal(dst.platform->os, "linux");
	assert_string_equal(dst.platform->architecture, "arm");
	assert_string_equal(dst.platform->variant, "v7");
	assert_string_equal(dst.platform->os_version, "6.1");
	assert_ptr_not_equal(dst.platform->variant, src.platform->variant);
	assert_string_equal(ferry_descriptor_annotation(&dst, "k"), "v");

	/* A deep copy: changing the source afterwards leaves the copy alone. */
	json_object_set_new(src.annotations, "k", json_string("changed"));
	json_array_append_new(json_object_get(src.extra, "urls"), json_string("https://y"));
	assert_string_equal(ferry_descriptor_annotation(&dst, "k"), "v");
	assert_int_equal(json_array_size(json_object_get(dst.extra, "urls")), 1);

	/* Back to JSON: the same members (platform, annotations, urls). */
	json_t *j = ferry_descriptor_to_json(&dst);
	json_t *want = json_loads(src_json, 0, &je);
	assert_true(json_equal(j, want));
	json_decref(j);
	json_decref(want);

	ferry_descriptor_free(&src);
	assert_true(all_zero(&src, sizeof(src)));
	assert_string_equal(dst.platform->os, "linux"); /* still valid after the source is gone */
	ferry_descriptor_free(&dst);
	ferry_descriptor_free(NULL);

	/* A bare descriptor copies to a bare one. */
	ferry_descriptor bare = {0}, bare2;
	assert_int_equal(ferry_digest_parse(&bare.digest, DG_C, &err), 0);
	ferry_descriptor_copy(&bare2, &bare);
	assert_null(bare2.media_type);
	assert_null(bare2.annotations);
	assert_null(bare2.platform);
	assert_null(bare2.extra);
	assert_string_equal(bare2.digest.str, DG_C);
	ferry_descriptor_free(&bare2);

	ferry_platform pc;
	ferry_platform pfrom = {.os = "linux", .architecture = "s390x"};
	ferry_platform_copy(&pc, &pfrom);
	assert_string_equal(pc.architecture, "s390x");
	assert_ptr_not_equal(pc.architecture, pfrom.architecture);
	assert_null(pc.variant);
	ferry_platform_free(&pc);
}

static void test_json_parse(void **state)
{
	(void)state;
	ferry_error err = FERRY_ERROR_INIT;
	json_t *j;
	assert_int_equal(ferry_json_parse("[1,2]", 5, "manifest.json", &j, &err), 0);
	assert_true(json_is_array(j));
	json_decref(j);
	assert_int_equal(ferry_json_parse("42", 2, "manifest.json", &j, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	assert_non_null(strstr(err.msg, "manifest.json"));
	ferry_error_clear(&err);
	assert_int_equal(ferry_json_parse("{\"a\":1,\"a\":2}", 13, "index.json", &j, &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	assert_non_null(strstr(err.msg, "index.json"));
	assert_null(j);
	/* only len bytes are read: a valid prefix of a longer buffer */
	assert_int_equal(ferry_json_parse("{}garbage", 2, "x", &j, &err), 0);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_oci),
		cmocka_unit_test(test_manifest_docker_and_inferred),
		cmocka_unit_test(test_manifest_rejects),
		cmocka_unit_test(test_duplicate_key_message),
		cmocka_unit_test(test_manifest_media_type_wrong_type),
		cmocka_unit_test(test_manifest_annotation_values),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_manifest_round_trip),
		cmocka_unit_test(test_manifest_referrer),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_index_rejects),
		cmocka_unit_test(test_index_member_types),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_rejects),
		cmocka_unit_test(test_doc_kinds),
		cmocka_unit_test(test_platform_parse),
		cmocka_unit_test(test_platform_match),
		cmocka_unit_test(test_descriptor_copy),
		cmocka_unit_test(test_json_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
