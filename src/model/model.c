#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

int ferry_json_parse(const void *buf, size_t len, const char *what, json_t **out, ferry_error *err)
{
	*out = NULL;
	if (len > FERRY_JSON_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s is %zu bytes, over the %u byte limit",
				       what, len, FERRY_JSON_MAX);
	json_error_t jerr;
	/* Duplicate keys are refused: two readers could otherwise see two documents. */
	json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s is not valid JSON: %s (line %d)", what,
				       jerr.text, jerr.line);
	if (!json_is_object(v) && !json_is_array(v)) {
		json_decref(v);
		return ferry_error_set(err, FERRY_E_FORMAT, "%s is not a JSON object", what);
	}
	*out = v;
	return 0;
}

const char *ferry_json_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

char *ferry_json_dump(json_t *v, size_t *len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		abort(); /* only fails on allocation */
	if (len)
		*len = strlen(s);
	return s;
}

bool ferry_media_type_is_index(const char *mt)
{
	return mt && (strcmp(mt, FERRY_MT_OCI_INDEX) == 0 || strcmp(mt, FERRY_MT_DOCKER_LIST) == 0);
}

bool ferry_media_type_is_manifest(const char *mt)
{
	return mt && (strcmp(mt, FERRY_MT_OCI_MANIFEST) == 0 || strcmp(mt, FERRY_MT_DOCKER_MANIFEST) == 0);
}

bool ferry_media_type_is_layer(const char *mt)
{
	return mt && (ferry_str_startswith(mt, "application/vnd.oci.image.layer.") ||
		      ferry_str_startswith(mt, "application/vnd.docker.image.rootfs."));
}

ferry_doc_kind ferry_doc_kind_of(const char *media_type, json_t *doc)
{
	if (ferry_media_type_is_index(media_type))
		return FERRY_DOC_INDEX;
	if (ferry_media_type_is_manifest(media_type))
		return FERRY_DOC_MANIFEST;
	if (media_type && *media_type)
		return FERRY_DOC_UNKNOWN;
	/* No media type: the OCI spec allows it; decide by shape. */
	if (doc && json_is_array(json_object_get(doc, "manifests")))
		return FERRY_DOC_INDEX;
	if (doc && json_is_object(json_object_get(doc, "config")))
		return FERRY_DOC_MANIFEST;
	return FERRY_DOC_UNKNOWN;
}

static int get_opt_string(json_t *obj, const char *key, char **out, const char *what, ferry_error *err)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: \"%s\" is not a string", what, key);
	*out = ferry_xstrdup(json_string_value(v));
	return 0;
}

static int platform_from_json(ferry_platform *p, json_t *obj, const char *what, ferry_error *err)
{
	memset(p, 0, sizeof(*p));
	if (!json_is_object(obj))
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: platform is not an object", what);
	if (get_opt_string(obj, "os", &p->os, what, err) < 0 ||
	    get_opt_string(obj, "architecture", &p->architecture, what, err) < 0 ||
	    get_opt_string(obj, "variant", &p->variant, what, err) < 0 ||
	    get_opt_string(obj, "os.version", &p->os_version, what, err) < 0) {
		ferry_platform_free(p);
		return -1;
	}
	return 0;
}

static json_t *platform_to_json(const ferry_platform *p)
{
	json_t *o = json_object();
	if (p->architecture)
		json_object_set_new(o, "architecture", json_string(p->architecture));
	if (p->os)
		json_object_set_new(o, "os", json_string(p->os));
	if (p->os_version)
		json_object_set_new(o, "os.version", json_string(p->os_version));
	if (p->variant)
		json_object_set_new(o, "variant", json_string(p->variant));
	return o;
}

void ferry_platform_copy(ferry_platform *dst, const ferry_platform *src)
{
	dst->os = ferry_xstrdup(src->os);
	dst->architecture = ferry_xstrdup(src->architecture);
	dst->variant = ferry_xstrdup(src->variant);
	dst->os_version = ferry_xstrdup(src->os_version);
}

void ferry_platform_free(ferry_platform *p)
{
	if (!p)
		return;
	free(p->os);
	free(p->architecture);
	free(p->variant);
	free(p->os_version);
	memset(p, 0, sizeof(*p));
}

char *ferry_platform_string(const ferry_platform *p)
{
	if (!p || (!p->os && !p->architecture))
		return ferry_xstrdup("unknown");
	return ferry_xasprintf("%s/%s%s%s", p->os ? p->os : "?", p->architecture ? p->architecture : "?",
			       p->variant ? "/" : "", p->variant ? p->variant : "");
}

int ferry_platform_parse(ferry_platform *p, const char *s, ferry_error *err)
{
	memset(p, 0, sizeof(*p));
	const char *a = strchr(s, '/');
	if (!a || a == s || !a[1])
		return ferry_error_set(err, FERRY_E_USAGE,
				       "invalid platform \"%s\": expected OS/ARCH[/VARIANT], e.g. linux/arm64", s);
	const char *v = strchr(a + 1, '/');
	if (v && (!v[1] || strchr(v + 1, '/') || v == a + 1))
		return ferry_error_set(err, FERRY_E_USAGE,
				       "invalid platform \"%s\": expected OS/ARCH[/VARIANT], e.g. linux/arm64", s);
	p->os = ferry_xstrndup(s, (size_t)(a - s));
	p->architecture = v ? ferry_xstrndup(a + 1, (size_t)(v - a - 1)) : ferry_xstrdup(a + 1);
	p->variant = v ? ferry_xstrdup(v + 1) : NULL;
	return 0;
}

static bool streq_null(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

bool ferry_platform_match(const ferry_platform *have, const ferry_platform *want)
{
	if (!have)
		return false;
	if (!streq_null(have->os, want->os) || !streq_null(have->architecture, want->architecture))
		return false;
	return !want->variant || streq_null(have->variant, want->variant);
}

int ferry_descriptor_from_json(ferry_descriptor *d, json_t *obj, const char *what, ferry_error *err)
{
	memset(d, 0, sizeof(*d));
	if (!json_is_object(obj))
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: descriptor is not an object", what);
	json_t *digest = json_object_get(obj, "digest");
	json_t *size = json_object_get(obj, "size");
	if (!json_is_string(digest))
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: descriptor has no digest", what);
	if (ferry_digest_parse(&d->digest, json_string_value(digest), err) < 0) {
		ferry_error_prefix(err, "%s", what);
		return -1;
	}
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: descriptor for %s has no valid size", what,
				       d->digest.str);
	d->size = (uint64_t)json_integer_value(size);
	if (get_opt_string(obj, "mediaType", &d->media_type, what, err) < 0)
		return -1;
	json_t *ann = json_object_get(obj, "annotations");
	if (ann) {
		if (!json_is_object(ann)) {
			ferry_descriptor_free(d);
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: annotations is not an object", what);
		}
		const char *k;
		json_t *v;
		json_object_foreach(ann, k, v)
		{
			if (!json_is_string(v)) {
				ferry_descriptor_free(d);
				return ferry_error_set(err, FERRY_E_FORMAT, "%s: annotation \"%.100s\" is not a string",
						       what, k);
			}
		}
		d->annotations = json_incref(ann);
	}
	json_t *plat = json_object_get(obj, "platform");
	if (plat) {
		d->platform = ferry_xcalloc(1, sizeof(*d->platform));
		if (platform_from_json(d->platform, plat, what, err) < 0) {
			ferry_descriptor_free(d);
			return -1;
		}
	}
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		if (!strcmp(k, "digest") || !strcmp(k, "size") || !strcmp(k, "mediaType") ||
		    !strcmp(k, "annotations") || !strcmp(k, "platform"))
			continue;
		if (!d->extra)
			d->extra = json_object();
		json_object_set(d->extra, k, v);
	}
	return 0;
}

json_t *ferry_descriptor_to_json(const ferry_descriptor *d)
{
	json_t *o = json_object();
	if (d->media_type)
		json_object_set_new(o, "mediaType", json_string(d->media_type));
	json_object_set_new(o, "digest", json_string(d->digest.str));
	json_object_set_new(o, "size", json_integer((json_int_t)d->size));
	if (d->extra)
		json_object_update(o, d->extra);
	if (d->annotations && json_object_size(d->annotations))
		json_object_set(o, "annotations", d->annotations);
	if (d->platform)
		json_object_set_new(o, "platform", platform_to_json(d->platform));
	return o;
}

void ferry_descriptor_copy(ferry_descriptor *dst, const ferry_descriptor *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->media_type = ferry_xstrdup(src->media_type);
	dst->digest = src->digest;
	dst->size = src->size;
	dst->annotations = src->annotations ? json_deep_copy(src->annotations) : NULL;
	dst->extra = src->extra ? json_deep_copy(src->extra) : NULL;
	if (src->platform) {
		dst->platform = ferry_xcalloc(1, sizeof(*dst->platform));
		ferry_platform_copy(dst->platform, src->platform);
	}
}

void ferry_descriptor_free(ferry_descriptor *d)
{
	if (!d)
		return;
	free(d->media_type);
	json_decref(d->annotations);
	json_decref(d->extra);
	if (d->platform) {
		ferry_platform_free(d->platform);
		free(d->platform);
	}
	memset(d, 0, sizeof(*d));
}

const char *ferry_descriptor_annotation(const ferry_descriptor *d, const char *key)
{
	return d->annotations ? ferry_json_str(d->annotations, key) : NULL;
}

static int check_schema(json_t *doc, const char *what, ferry_error *err)
{
	json_t *sv = json_object_get(doc, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: schemaVersion is not 2", what);
	return 0;
}

static int annotations_from(json_t *doc, json_t **out, const char *what, ferry_error *err)
{
	json_t *ann = json_object_get(doc, "annotations");
	*out = NULL;
	if (!ann)
		return 0;
	if (!json_is_object(ann))
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: annotations is not an object", what);
	const char *k;
	json_t *v;
	json_object_foreach(ann, k, v)
	{
		if (!json_is_string(v))
			return ferry_error_set(err, FERRY_E_FORMAT, "%s: annotation \"%.100s\" is not a string", what, k);
	}
	*out = json_incref(ann);
	return 0;
}

/* mediaType is optional, but when present it must be a string. */
static int media_type_of(json_t *doc, const char **mt, const char *what, ferry_error *err)
{
	json_t *v = json_object_get(doc, "mediaType");
	*mt = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: mediaType is not a string", what);
	*mt = json_string_value(v);
	return 0;
}

int ferry_manifest_parse(ferry_manifest *m, const void *buf, size_t len, ferry_error *err)
{
	memset(m, 0, sizeof(*m));
	json_t *doc;
	if (ferry_json_parse(buf, len, "manifest", &doc, err) < 0)
		return -1;
	int rc = -1;
	const char *mt = NULL;
	if (json_is_object(doc) && media_type_of(doc, &mt, "manifest", err) < 0)
		goto out;
	if (!json_is_object(doc) || ferry_doc_kind_of(mt, doc) != FERRY_DOC_MANIFEST) {
		ferry_error_set(err, FERRY_E_FORMAT, "document is not an image manifest (mediaType %s)",
				mt ? mt : "absent");
		goto out;
	}
	if (check_schema(doc, "manifest", err) < 0)
		goto out;
	if (ferry_descriptor_from_json(&m->config, json_object_get(doc, "config"), "manifest config", err) < 0)
		goto out;
	json_t *layers = json_object_get(doc, "layers");
	if (!json_is_array(layers)) {
		ferry_error_set(err, FERRY_E_FORMAT, "manifest has no layers array");
		goto out;
	}
	m->n_layers = json_array_size(layers);
	m->layers = ferry_xcalloc(m->n_layers, sizeof(*m->layers));
	for (size_t i = 0; i < m->n_layers; i++) {
		if (ferry_descriptor_from_json(&m->layers[i], json_array_get(layers, i), "manifest layer", err) < 0)
			goto out;
	}
	if (annotations_from(doc, &m->annotations, "manifest", err) < 0)
		goto out;
	json_t *subject = json_object_get(doc, "subject");
	if (subject) {
		m->subject = ferry_xcalloc(1, sizeof(*m->subject));
		if (ferry_descriptor_from_json(m->subject, subject, "manifest subject", err) < 0)
			goto out;
	}
	if (get_opt_string(doc, "artifactType", &m->artifact_type, "manifest", err) < 0)
		goto out;
	if (mt)
		m->media_type = ferry_xstrdup(mt);
	else
		m->media_type = ferry_xstrdup(m->config.media_type &&
							      strcmp(m->config.media_type, FERRY_MT_DOCKER_CONFIG) == 0
						      ? FERRY_MT_DOCKER_MANIFEST
						      : FERRY_MT_OCI_MANIFEST);
	rc = 0;
out:
	json_decref(doc);
	if (rc < 0)
		ferry_manifest_free(m);
	return rc;
}

void ferry_manifest_free(ferry_manifest *m)
{
	if (!m)
		return;
	free(m->media_type);
	ferry_descriptor_free(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		ferry_descriptor_free(&m->layers[i]);
	free(m->layers);
	json_decref(m->annotations);
	if (m->subject) {
		ferry_descriptor_free(m->subject);
		free(m->subject);
	}
	free(m->artifact_type);
	memset(m, 0, sizeof(*m));
}

int ferry_manifest_serialize(const ferry_manifest *m, char **out, size_t *len, ferry_error *err)
{
	(void)err;
	json_t *o = json_object();
	json_object_set_new(o, "schemaVersion", json_integer(2));
	json_object_set_new(o, "mediaType", json_string(m->media_type));
	if (m->artifact_type)
		json_object_set_new(o, "artifactType", json_string(m->artifact_type));
	json_object_set_new(o, "config", ferry_descriptor_to_json(&m->config));
	json_t *layers = json_array();
	for (size_t i = 0; i < m->n_layers; i++)
		json_array_append_new(layers, ferry_descriptor_to_json(&m->layers[i]));
	json_object_set_new(o, "layers", layers);
	if (m->subject)
		json_object_set_new(o, "subject", ferry_descriptor_to_json(m->subject));
	if (m->annotations && json_object_size(m->annotations))
		json_object_set(o, "annotations", m->annotations);
	*out = ferry_json_dump(o, len);
	json_decref(o);
	return 0;
}

int ferry_index_parse(ferry_index *ix, const void *buf, size_t len, ferry_error *err)
{
	memset(ix, 0, sizeof(*ix));
	json_t *doc;
	if (ferry_json_parse(buf, len, "index", &doc, err) < 0)
		return -1;
	int rc = -1;
	const char *mt = NULL;
	if (json_is_object(doc) && media_type_of(doc, &mt, "index", err) < 0)
		goto out;
	if (!json_is_object(doc) || ferry_doc_kind_of(mt, doc) != FERRY_DOC_INDEX) {
		ferry_error_set(err, FERRY_E_FORMAT, "document is not an image index (mediaType %s)",
				mt ? mt : "absent");
		goto out;
	}
	if (check_schema(doc, "index", err) < 0)
		goto out;
	json_t *ms = json_object_get(doc, "manifests");
	if (!json_is_array(ms)) {
		ferry_error_set(err, FERRY_E_FORMAT, "index has no manifests array");
		goto out;
	}
	ix->n_manifests = json_array_size(ms);
	ix->manifests = ferry_xcalloc(ix->n_manifests, sizeof(*ix->manifests));
	for (size_t i = 0; i < ix->n_manifests; i++) {
		if (ferry_descriptor_from_json(&ix->manifests[i], json_array_get(ms, i), "index entry", err) < 0)
			goto out;
	}
	if (annotations_from(doc, &ix->annotations, "index", err) < 0)
		goto out;
	ix->media_type = ferry_xstrdup(mt ? mt : FERRY_MT_OCI_INDEX);
	rc = 0;
out:
	json_decref(doc);
	if (rc < 0)
		ferry_index_free(ix);
	return rc;
}

void ferry_index_free(ferry_index *ix)
{
	if (!ix)
		return;
	free(ix->media_type);
	for (size_t i = 0; i < ix->n_manifests; i++)
		ferry_descriptor_free(&ix->manifests[i]);
	free(ix->manifests);
	json_decref(ix->annotations);
	memset(ix, 0, sizeof(*ix));
}

int ferry_index_serialize(const ferry_index *ix, char **out, size_t *len, ferry_error *err)
{
	(void)err;
	json_t *o = json_object();
	json_object_set_new(o, "schemaVersion", json_integer(2));
	json_object_set_new(o, "mediaType", json_string(ix->media_type ? ix->media_type : FERRY_MT_OCI_INDEX));
	json_t *ms = json_array();
	for (size_t i = 0; i < ix->n_manifests; i++)
		json_array_append_new(ms, ferry_descriptor_to_json(&ix->manifests[i]));
	json_object_set_new(o, "manifests", ms);
	if (ix->annotations && json_object_size(ix->annotations))
		json_object_set(o, "annotations", ix->annotations);
	*out = ferry_json_dump(o, len);
	json_decref(o);
	return 0;
}

int ferry_config_parse(ferry_config *c, const void *buf, size_t len, ferry_error *err)
{
	memset(c, 0, sizeof(*c));
	json_t *doc;
	if (ferry_json_parse(buf, len, "image config", &doc, err) < 0)
		return -1;
	int rc = -1;
	if (!json_is_object(doc)) {
		ferry_error_set(err, FERRY_E_FORMAT, "image config is not a JSON object");
		goto out;
	}
	json_t *rootfs = json_object_get(doc, "rootfs");
	json_t *ids = json_is_object(rootfs) ? json_object_get(rootfs, "diff_ids") : NULL;
	if (!json_is_array(ids)) {
		ferry_error_set(err, FERRY_E_FORMAT, "image config has no rootfs.diff_ids array");
		goto out;
	}
	c->n_diff_ids = json_array_size(ids);
	c->diff_ids = ferry_xcalloc(c->n_diff_ids, sizeof(*c->diff_ids));
	for (size_t i = 0; i < c->n_diff_ids; i++) {
		json_t *v = json_array_get(ids, i);
		if (!json_is_string(v)) {
			ferry_error_set(err, FERRY_E_FORMAT, "image config: diff_ids[%zu] is not a string", i);
			goto out;
		}
		if (ferry_digest_parse(&c->diff_ids[i], json_string_value(v), err) < 0) {
			ferry_error_prefix(err, "image config: diff_ids[%zu]", i);
			goto out;
		}
	}
	if (get_opt_string(doc, "os", &c->platform.os, "image config", err) < 0 ||
	    get_opt_string(doc, "architecture", &c->platform.architecture, "image config", err) < 0 ||
	    get_opt_string(doc, "variant", &c->platform.variant, "image config", err) < 0)
		goto out;
	rc = 0;
out:
	json_decref(doc);
	if (rc < 0)
		ferry_config_free(c);
	return rc;
}

void ferry_config_free(ferry_config *c)
{
	if (!c)
		return;
	free(c->diff_ids);
	ferry_platform_free(&c->platform);
	memset(c, 0, sizeof(*c));
}
