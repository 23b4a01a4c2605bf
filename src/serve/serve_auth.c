/*
 * serve_auth.c - Basic auth for ferry serve against an htpasswd file.
 *
 * Only bcrypt entries are accepted (what `htpasswd -B` writes, and the only
 * kind docker-registry takes); libcrypt checks them.  A password once found
 * right is remembered by a hash of user, password and entry, so a client
 * pulling hundreds of blobs pays for bcrypt once, not per request.
 */
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "readfile.h"
#include "serve.h"
#include "util.h"

#define HTPASSWD_MAX (1u << 20) /* bytes of htpasswd file read */
#define AUTH_CACHE 64           /* passwords remembered as right */

typedef struct auth_user {
	char *name;
	char *hash;
} auth_user;

struct serve_auth {
	auth_user *users;
	size_t n_users, cap_users;
	pthread_mutex_t lock;
	ferry_digest ok[AUTH_CACHE];
	size_t next_ok;
};

static bool is_bcrypt(const char *h)
{
	return ferry_str_startswith(h, "$2y$") || ferry_str_startswith(h, "$2b$") || ferry_str_startswith(h, "$2a$");
}

static int parse_line(serve_auth *a, char *line, const char *path, size_t lineno, ferry_error *err)
{
	size_t len = strlen(line);
	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		line[--len] = 0;
	if (!len || line[0] == '#')
		return 0;
	char *colon = strchr(line, ':');
	if (!colon || colon == line)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s:%zu: not USER:HASH", path, lineno);
	*colon = 0;
	if (!is_bcrypt(colon + 1))
		return ferry_error_set(err, FERRY_E_FORMAT,
				       "%s:%zu: user %s: only bcrypt entries are accepted (make them with htpasswd -B)",
				       path, lineno, line);
	auth_user *u = FERRY_PUSH(a->users, a->n_users, a->cap_users);
	u->name = ferry_xstrdup(line);
	u->hash = ferry_xstrdup(colon + 1);
	return 0;
}

int serve_auth_load(const char *path, serve_auth **out, ferry_error *err)
{
	*out = NULL;
	char *text;
	size_t len;
	if (ferry_read_file(path, HTPASSWD_MAX, &text, &len, err) < 0)
		return -1;
	serve_auth *a = ferry_xcalloc(1, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	int rc = 0;
	size_t lineno = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save))
		rc = parse_line(a, line, path, ++lineno, err);
	explicit_bzero(text, len);
	free(text);
	if (rc == 0 && a->n_users == 0)
		rc = ferry_error_set(err, FERRY_E_FORMAT, "%s has no users", path);
	if (rc < 0) {
		serve_auth_free(a);
		return -1;
	}
	*out = a;
	return 0;
}

static void remembered_key(const char *user, const char *password, const char *hash, ferry_digest *d)
{
	ferry_hasher *h = ferry_hasher_new(FERRY_ALG_SHA256);
	ferry_hasher_update(h, user, strlen(user) + 1);
	ferry_hasher_update(h, password, strlen(password) + 1);
	ferry_hasher_update(h, hash, strlen(hash));
	ferry_hasher_final(h, d);
	ferry_hasher_free(h);
}

static bool bcrypt_ok(const char *password, const char *hash)
{
	struct crypt_data *cd = ferry_xcalloc(1, sizeof(*cd));
	const char *res = crypt_rn(password, hash, cd, sizeof(*cd));
	size_t hl = strlen(hash);
	bool ok = res && strlen(res) == hl && CRYPTO_memcmp(res, hash, hl) == 0;
	free(cd);
	return ok;
}

bool serve_auth_check(serve_auth *a, const char *user, const char *password)
{
	const auth_user *u = NULL;
	for (size_t i = 0; i < a->n_users && user; i++) {
		if (strcmp(a->users[i].name, user) == 0)
			u = &a->users[i];
	}
	if (!u || !password) {
		/* Take as long as a real check, so a wrong user name does not show. */
		bcrypt_ok("-", a->users[0].hash);
		return false;
	}
	ferry_digest key;
	remembered_key(user, password, u->hash, &key);
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < AUTH_CACHE; i++) {
		if (ferry_digest_eq(&a->ok[i], &key)) {
			pthread_mutex_unlock(&a->lock);
			return true;
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (!bcrypt_ok(password, u->hash))
		return false;
	pthread_mutex_lock(&a->lock);
	a->ok[a->next_ok++ % AUTH_CACHE] = key;
	pthread_mutex_unlock(&a->lock);
	return true;
}

void serve_auth_free(serve_auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_users; i++) {
		free(a->users[i].name);
		free(a->users[i].hash);
	}
	free(a->users);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
