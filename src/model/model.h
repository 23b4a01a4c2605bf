/*
 * model.h - the JSON documents of an image: descriptors, image manifests
 * (OCI and Docker schema 2), image indexes (OCI index, Docker manifest list)
 * and the parts of an image config ferry needs.
 *
 * Parsers take the exact bytes (which are kept elsewhere: a manifest's bytes
 * are its identity) and validate strictly: right JSON types, no duplicate
 * keys, valid digests, documents no larger than FERRY_JSON_MAX.
 */
#ifndef FERRY_MODEL_H
#define FERRY_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

/* Manifests, indexes and configs larger than this are refused (as other tools do). */
#define FERRY_JSON_MAX (4u << 20)

#define FERRY_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define FERRY_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define FERRY_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define FERRY_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define FERRY_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define FERRY_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define FERRY_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define FERRY_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define FERRY_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define FERRY_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define FERRY_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define FERRY_MT_DOCKER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

#define FERRY_ANN_REF_NAME "org.opencontainers.image.ref.name"
#define FERRY_ANN_CONTAINERD_NAME "io.containerd.image.name"
/* ferry's own: on an index.json entry of a referrer, the digest of its subject. */
#define FERRY_ANN_REFERRER_SUBJECT "vnd.ferry.referrer.subject"
#define FERRY_MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
/* On a delta's index.json: the blobs it left out, "DIGEST=SIZE,..." sorted (README "Air-gapped transfer"). */
#define FERRY_ANN_DELTA_EXPECTED "io.ferry.delta.expected"

typedef struct ferry_platform {
	char *os;
	char *architecture;
	char *variant;    /* NULL when absent */
	char *os_version; /* NULL when absent */
} ferry_platform;

typedef struct ferry_descriptor {
	char *media_type;
	ferry_digest digest;
	uint64_t size;
	json_t *annotations;      /* owned reference to an object, or NULL */
	ferry_platform *platform; /* owned, or NULL */
	json_t *extra;            /* owned: other members (urls, artifactType...), or NULL */
} ferry_descriptor;

typedef enum {
	FERRY_DOC_UNKNOWN = 0,
	FERRY_DOC_MANIFEST, /* OCI image manifest or Docker schema 2 */
	FERRY_DOC_INDEX,    /* OCI image index or Docker manifest list */
} ferry_doc_kind;

typedef struct ferry_manifest {
	char *media_type; /* as declared, else inferred from the config's type */
	ferry_descriptor config;
	ferry_descriptor *layers;
	size_t n_layers;
	json_t *annotations; /* owned, or NULL */
	/* OCI 1.1: the manifest this one is about, and what kind of artifact it is. */
	ferry_descriptor *subject; /* owned, or NULL */
	char *artifact_type;       /* owned, or NULL */
} ferry_manifest;

typedef struct ferry_index {
	char *media_type;
	ferry_descriptor *manifests;
	size_t n_manifests;
	json_t *annotations; /* owned, or NULL */
} ferry_index;

typedef struct ferry_config {
	ferry_digest *diff_ids;
	size_t n_diff_ids;
	ferry_platform platform; /* os/architecture may be NULL when absent */
} ferry_config;

/* Parse a JSON document: size cap, duplicate keys refused, must be an object. what names it in errors. */
int ferry_json_parse(const void *buf, size_t len, const char *what, json_t **out, ferry_error *err);

/* What a document is, from its mediaType, or (when absent) its shape. */
ferry_doc_kind ferry_doc_kind_of(const char *media_type, json_t *doc);
bool ferry_media_type_is_index(const char *mt);
bool ferry_media_type_is_manifest(const char *mt);
bool ferry_media_type_is_layer(const char *mt);

int ferry_descriptor_from_json(ferry_descriptor *d, json_t *obj, const char *what, ferry_error *err);
json_t *ferry_descriptor_to_json(const ferry_descriptor *d); /* new reference */
void ferry_descriptor_copy(ferry_descriptor *dst, const ferry_descriptor *src);
void ferry_descriptor_free(ferry_descriptor *d);
const char *ferry_descriptor_annotation(const ferry_descriptor *d, const char *key);

void ferry_platform_copy(ferry_platform *dst, const ferry_platform *src);
void ferry_platform_free(ferry_platform *p);
char *ferry_platform_string(const ferry_platform *p); /* "linux/arm64/v8", caller frees */
/* Parse "os/arch[/variant]" (--platform). */
int ferry_platform_parse(ferry_platform *p, const char *s, ferry_error *err);
/* Does have match want? (variant only compared when want has one) */
bool ferry_platform_match(const ferry_platform *have, const ferry_platform *want);

int ferry_manifest_parse(ferry_manifest *m, const void *buf, size_t len, ferry_error *err);
void ferry_manifest_free(ferry_manifest *m);
/* Serialise canonically (compact, sorted keys order as written). Caller frees *out. */
int ferry_manifest_serialize(const ferry_manifest *m, char **out, size_t *len, ferry_error *err);

int ferry_index_parse(ferry_index *ix, const void *buf, size_t len, ferry_error *err);
void ferry_index_free(ferry_index *ix);
int ferry_index_serialize(const ferry_index *ix, char **out, size_t *len, ferry_error *err);

int ferry_config_parse(ferry_config *c, const void *buf, size_t len, ferry_error *err);
void ferry_config_free(ferry_config *c);

/* json helpers */
const char *ferry_json_str(json_t *obj, const char *key); /* NULL unless a string */
/* Compact JSON with a trailing newline omitted; caller frees. */
char *ferry_json_dump(json_t *v, size_t *len);

#endif
