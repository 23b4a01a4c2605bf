/*
 * transfer_check.c - reading a volume set or signed archive back: naming its
 * bad volumes (from NAME.sha256 and NAME.transfer.json), and checking a
 * signed transfer manifest offline (verify --key).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "engine_int.h"
#include "location.h"
#include "pkey.h"
#include "readfile.h"
#include "transfer.h"
#include "volumes.h"

#define HELD_SHOWN 4 /* blobs named in a message about a volume; the rest are counted */

/* NAME.transfer.json beside base, parsed (*doc NULL when there is none); *raw its bytes when asked. */
static int load_transfer(const char *base, json_t **doc, char **raw, size_t *len, ferry_error *err)
{
	*doc = NULL;
	char *path = ferry_transfer_path(base);
	char *buf = NULL;
	size_t n = 0;
	int rc = 0;
	if (access(path, F_OK) == 0 && (rc = ferry_read_file(path, FERRY_TRANSFER_MAX, &buf, &n, err)) == 0) {
		json_error_t je;
		*doc = json_loadb(buf, n, 0, &je);
		if (!*doc || !json_is_object(*doc) ||
		    json_integer_value(json_object_get(*doc, "ferryTransfer")) != FERRY_TRANSFER_VERSION) {
			json_decref(*doc);
			*doc = NULL;
			rc = ferry_error_set(err, FERRY_E_FORMAT, "%s is not a ferry transfer manifest", path);
		}
	}
	free(path);
	if (raw && rc == 0) {
		*raw = buf;
		*len = n;
	} else {
		free(buf);
	}
	return rc;
}

/* The volume called name in doc's list, or NULL. */
static json_t *doc_volume(json_t *doc, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(doc, "volumes"), i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));
		if (n && strcmp(n, name) == 0)
			return v;
	}
	return NULL;
}

/* " (it holds blobs A, B and 3 more)" for the volume called name, or "" (malloc'd). */
static char *held_text(json_t *doc, const char *name)
{
	json_t *blobs = json_object_get(doc_volume(doc, name), "blobs");
	size_t n = json_array_size(blobs);
	if (!n)
		return ferry_xstrdup("");
	char *s = ferry_xstrdup(" (it holds blob");
	for (size_t i = 0; i < n && i < HELD_SHOWN; i++) {
		const char *d = json_string_value(json_array_get(blobs, i));
		char *t = ferry_xasprintf("%s%s %.80s", s, i ? "," : n > 1 ? "s" : "", d ? d : "?");
		free(s);
		s = t;
	}
	char *t = n > HELD_SHOWN ? ferry_xasprintf("%s and %zu more)", s, n - HELD_SHOWN) : ferry_xasprintf("%s)", s);
	free(s);
	return t;
}

static const char *vol_name(const ferry_volset *vs, size_t i)
{
	const char *p = ferry_volset_path(vs, i), *b = strrchr(p, '/');
	return b ? b + 1 : p;
}

/* What is wrong with volume i without reading it (missing, size), or NULL (malloc'd). */
static char *volume_shape(const ferry_volset *vs, size_t i, json_t *doc)
{
	size_t n = ferry_volset_count(vs);
	char *held = held_text(doc, vol_name(vs, i));
	char *msg = NULL;
	json_t *dv = doc_volume(doc, vol_name(vs, i));
	uint64_t want = (uint64_t)json_integer_value(json_object_get(dv, "size"));
	if (ferry_volset_missing(vs, i))
		msg = ferry_xasprintf("volume %zu of %zu, %s, is missing%s", i + 1, n, ferry_volset_path(vs, i), held);
	else if (dv && ferry_volset_size(vs, i) != want)
		msg = ferry_xasprintf("volume %zu of %zu, %s, is %s: %llu bytes where the transfer manifest says "
				      "%llu%s",
				      i + 1, n, ferry_volset_path(vs, i), ferry_volset_size(vs, i) < want ? "short" : "too long",
				      (unsigned long long)ferry_volset_size(vs, i), (unsigned long long)want, held);
	free(held);
	return msg;
}

int ferry_volset_check(ferry_volset *vs, ferry_error *err)
{
	json_t *doc;
	if (load_transfer(ferry_volset_base(vs), &doc, NULL, NULL, err) < 0)
		return -1;
	size_t n_doc = json_array_size(json_object_get(doc, "volumes"));
	int rc = 0;
	if (doc && n_doc != ferry_volset_count(vs))
		rc = ferry_error_set(err, FERRY_E_FORMAT, "%s: %zu volumes found where its transfer manifest lists %zu",
				     ferry_volset_base(vs), ferry_volset_count(vs), n_doc);
	for (size_t i = 0; i < ferry_volset_count(vs) && rc == 0; i++) {
		char *m = volume_shape(vs, i, doc);
		if (m)
			rc = ferry_error_set(err, ferry_volset_missing(vs, i) ? FERRY_E_NOTFOUND : FERRY_E_FORMAT, "%s", m);
		free(m);
	}
	json_decref(doc);
	return rc;
}

/* sha256 hex of fd's whole content. */
static int hash_fd(int fd, const char *what, char hex[65], ferry_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	unsigned char *buf = ferry_xmalloc(FERRY_IO_CHUNK);
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, FERRY_IO_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ferry_error_errno(err, errno, "reading %s", what);
			break;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)n);
	}
	unsigned char d[32];
	unsigned int dl = 0;
	EVP_DigestFinal_ex(md, d, &dl);
	EVP_MD_CTX_free(md);
	free(buf);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return rc;
}

static int hash_path(const char *path, char hex[65], ferry_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, errno, "cannot open %s", path);
	int rc = hash_fd(fd, path, hex, err);
	close(fd);
	return rc;
}

static void report(ferry_problem_fn fn, void *ud, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void report(ferry_problem_fn fn, void *ud, size_t *n, const char *fmt, ...)
{
	char msg[FERRY_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(*n)++;
	if (fn)
		fn(msg, ud);
}

/* Every bad volume of vs (missing, wrong size, wrong sha256), each reported. */
static void check_volumes(ferry_volset *vs, json_t *doc, ferry_problem_fn fn, void *ud, size_t *n_bad)
{
	for (size_t i = 0; i < ferry_volset_count(vs); i++) {
		char *m = volume_shape(vs, i, doc);
		if (m) {
			report(fn, ud, n_bad, "%s", m);
			free(m);
			continue;
		}
		const char *want = ferry_volset_sha256(vs, i);
		json_t *dv = doc_volume(doc, vol_name(vs, i));
		const char *dwant = json_string_value(json_object_get(dv, "sha256"));
		if (!*want && !dwant)
			continue;
		char hex[65];
		ferry_error e = FERRY_ERROR_INIT;
		if (hash_path(ferry_volset_path(vs, i), hex, &e) < 0) {
			report(fn, ud, n_bad, "%s", e.msg);
			continue;
		}
		if ((*want && strcmp(hex, want) != 0) || (dwant && strcmp(hex, dwant) != 0)) {
			char *held = held_text(doc, vol_name(vs, i));
			report(fn, ud, n_bad, "volume %zu of %zu, %s, is corrupt or out of place: its sha256 is %s, the set "
			       "says %s%s", i + 1, ferry_volset_count(vs), ferry_volset_path(vs, i), hex,
			       *want ? want : dwant, held);
			free(held);
		}
	}
}

int ferry_volset_verify(const char *path, ferry_problem_fn fn, void *ud, size_t *n_bad, bool *is_set,
			ferry_error *err)
{
	*n_bad = 0;
	ferry_volset *vs;
	if (ferry_volset_open(path, &vs, err) < 0)
		return -1;
	*is_set = vs != NULL;
	if (!vs)
		return 0;
	json_t *doc;
	ferry_error e = FERRY_ERROR_INIT;
	if (load_transfer(ferry_volset_base(vs), &doc, NULL, NULL, &e) < 0)
		report(fn, ud, n_bad, "%s", e.msg);
	size_t n_doc = json_array_size(json_object_get(doc, "volumes"));
	if (doc && n_doc > ferry_volset_count(vs))
		report(fn, ud, n_bad, "%s: volumes %zu to %zu, which its transfer manifest lists, are missing",
		       ferry_volset_base(vs), ferry_volset_count(vs) + 1, n_doc);
	check_volumes(vs, doc, fn, ud, n_bad);
	json_decref(doc);
	ferry_volset_free(vs);
	return 0;
}

/* ---- verify --key: the signed transfer manifest ---- */

/* Does the signature in sig_path verify over raw with one of keys?  *who: the key's path. */
static int check_sig(const char *sig_path, const char *raw, size_t len, const char *const *keys, size_t n_keys,
		     const char **who, ferry_error *err)
{
	*who = NULL;
	char *text = NULL;
	size_t tl = 0;
	if (access(sig_path, F_OK) != 0)
		return ferry_error_set(err, FERRY_E_INTEGRITY, "%s: not signed (no %s)", sig_path, sig_path);
	if (ferry_read_file(sig_path, FERRY_TRANSFER_SIG_MAX, &text, &tl, err) < 0)
		return -1;
	while (tl && (text[tl - 1] == '\n' || text[tl - 1] == '\r'))
		text[--tl] = '\0';
	size_t sl = 0;
	unsigned char *sig = memchr(text, '\0', tl) ? NULL : ferry_base64_decode(text, &sl);
	free(text);
	int rc = 0;
	for (size_t k = 0; k < n_keys && rc == 0 && !*who; k++) {
		ferry_pkey *key;
		if ((rc = ferry_pkey_load_public(keys[k], &key, err)) < 0)
			break;
		bool good = false;
		if (sig && (rc = ferry_pkey_verify(key, raw, len, sig, sl, &good, err)) == 0 && good)
			*who = keys[k];
		ferry_pkey_free(key);
	}
	free(sig);
	return rc;
}

/* A single signed archive: its bytes against the manifest's one volume. */
static void check_single(const char *path, json_t *doc, ferry_problem_fn fn, void *ud, size_t *n_bad)
{
	json_t *vols = json_object_get(doc, "volumes");
	const char *want = json_string_value(json_object_get(json_array_get(vols, 0), "sha256"));
	char hex[65];
	ferry_error e = FERRY_ERROR_INIT;
	if (json_array_size(vols) != 1 || !want)
		report(fn, ud, n_bad, "%s: its transfer manifest does not describe one archive", path);
	else if (hash_path(path, hex, &e) < 0)
		report(fn, ud, n_bad, "%s", e.msg);
	else if (strcmp(hex, want) != 0)
		report(fn, ud, n_bad, "%s has changed since its transfer manifest was signed: its sha256 is %s, the "
		       "manifest says %s", path, hex, want);
}

int ferry_verify_transfer(const char *location, const char *const *keys, size_t n_keys, ferry_problem_fn fn,
			  void *ud, size_t *n_problems, const char **signer, ferry_error *err)
{
	*n_problems = 0;
	*signer = NULL;
	ferry_location loc;
	if (ferry_location_parse_source(location, &loc, err) < 0)
		return -1;
	ferry_volset *vs = NULL;
	int rc = loc.fmt == FERRY_FMT_REGISTRY || !strcmp(loc.path, "-") ? 0 : ferry_volset_open(loc.path, &vs, err);
	const char *base = vs ? ferry_volset_base(vs) : loc.path;
	json_t *doc = NULL;
	char *raw = NULL, *sig_path = ferry_transfer_sig_path(base);
	size_t len = 0;
	if (rc == 0)
		rc = load_transfer(base, &doc, &raw, &len, err);
	if (rc == 0 && !doc)
		rc = ferry_error_set(err, FERRY_E_NOTFOUND,
				     "%s: not signed: it has no transfer manifest (%s.transfer.json, written by convert "
				     "--sign-key)", location, base);
	if (rc == 0)
		rc = check_sig(sig_path, raw, len, keys, n_keys, signer, err);
	if (rc == 0 && !*signer)
		rc = ferry_error_set(err, FERRY_E_INTEGRITY,
				     "%s: the signature in %s does not verify with %s: the transfer manifest was changed, "
				     "or signed with another key", location, sig_path, n_keys == 1 ? keys[0] : "any key given");
	if (rc == 0 && vs)
		check_volumes(vs, doc, fn, ud, n_problems);
	else if (rc == 0)
		check_single(loc.path, doc, fn, ud, n_problems);
	json_decref(doc);
	free(raw);
	free(sig_path);
	ferry_volset_free(vs);
	ferry_location_free(&loc);
	return rc;
}
