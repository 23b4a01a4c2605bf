/*
 * registry/creds.c - where registry credentials come from, and login/logout.
 *
 * Lookup order, first found wins:
 *   1. --creds USER:PASS
 *   2. $REGISTRY_AUTH_FILE
 *   3. $XDG_RUNTIME_DIR/containers/auth.json (podman, skopeo, buildah)
 *   4. $DOCKER_CONFIG/config.json
 *   5. ~/.docker/config.json
 * In each file: a credHelpers entry for the registry, then credsStore, then
 * the `auths` entry ("auth" = base64 of USER:PASS, or "identitytoken").
 * Helpers are run as `docker-credential-NAME get` with the server URL on
 * stdin.  Docker Hub is stored under "https://index.docker.io/v1/"; keys
 * are compared by host name, so "https://HOST/v1/", "HOST" and
 * "http://HOST" all match HOST.  Keys that hold a repository path without
 * a scheme ("quay.io/team/app", podman's per-repository entries) are not
 * used: the lookup is per registry.
 */
#include "registry/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "readfile.h"
#include "util.h"

#define CONFIG_MAX (4u << 20)
#define HELPER_OUT_MAX (64u << 10)
#define HELPER_TIMEOUT_MS 60000
#define DOCKER_HUB_KEY "https://index.docker.io/v1/"

extern char **environ;

static bool is_docker_hub(const char *host)
{
	return strcasecmp(host, "docker.io") == 0 || strcasecmp(host, "index.docker.io") == 0 ||
	       strcasecmp(host, "registry-1.docker.io") == 0;
}

/* The registry a config key names ("https://index.docker.io/v1/" -> docker.io); NULL: not a registry-wide key. */
static char *key_host(const char *key)
{
	const char *k = key;
	bool had_scheme = false;
	if (strncasecmp(k, "https://", 8) == 0)
		k += 8, had_scheme = true;
	else if (strncasecmp(k, "http://", 7) == 0)
		k += 7, had_scheme = true;
	size_t n = strcspn(k, "/");
	if (k[n] == '/' && !had_scheme) {
		/* "HOST/" is fine; "HOST/team/app" is scoped to a repository */
		if (k[n + 1] != '\0')
			return NULL;
	}
	if (n == 0)
		return NULL;
	char *h = ferry_xstrndup(k, n);
	if (is_docker_hub(h)) {
		free(h);
		return ferry_xstrdup("docker.io");
	}
	return h;
}

static bool key_matches(const char *key, const char *domain)
{
	char *h = key_host(key);
	bool m = h && strcasecmp(h, is_docker_hub(domain) ? "docker.io" : domain) == 0;
	free(h);
	return m;
}

/* What helpers and the config file call the registry. */
static const char *server_url(const char *domain)
{
	return is_docker_hub(domain) ? DOCKER_HUB_KEY : domain;
}

/* ---- credential helpers ---- */

static bool helper_name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return false;
	return true;
}

/*
 * Run `docker-credential-NAME action` with input on stdin; *out gets what it
 * printed (caller frees with ferry_free_secret), *status its exit status.
 */
static int run_helper(const char *name, const char *action, const char *input, char **out, int *status,
		      ferry_error *err)
{
	*out = NULL;
	if (!helper_name_ok(name))
		return ferry_error_set(err, FERRY_E_FORMAT, "invalid credential helper name \"%.100s\"", name);
	char *prog = ferry_xasprintf("docker-credential-%s", name);
	int in[2] = {-1, -1}, outp[2] = {-1, -1};
	int rc = -1;
	pid_t pid = -1;
	posix_spawn_file_actions_t fa;
	bool fa_init = false;
	size_t inlen = strlen(input);
	char *buf = NULL;
	size_t n = 0;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
		ferry_error_errno(err, errno, "cannot run %s", prog);
		goto out;
	}
	/*
	 * The input is tiny: write it all before starting the helper, so a
	 * helper that exits without reading can never give us SIGPIPE.
	 */
	if (inlen >= 65536 || write(in[1], input, inlen) != (ssize_t)inlen) {
		ferry_error_set(err, FERRY_E_FAILED, "cannot pass input to %s", prog);
		goto out;
	}
	close(in[1]);
	in[1] = -1;
	posix_spawn_file_actions_init(&fa);
	fa_init = true;
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	char *argv[] = {prog, (char *)action, NULL};
	int e = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	if (e != 0) {
		pid = -1;
		if (e == ENOENT)
			ferry_error_set(err, FERRY_E_FAILED, "credential helper %s is not installed (not found on PATH)", prog);
		else
			ferry_error_errno(err, e, "cannot run credential helper %s", prog);
		goto out;
	}
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;

	buf = ferry_xmalloc(HELPER_OUT_MAX + 1);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (spent >= HELPER_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			ferry_error_set(err, FERRY_E_FAILED, "credential helper %s did not answer within %d s", prog,
					HELPER_TIMEOUT_MS / 1000);
			goto out;
		}
		struct pollfd pfd = {.fd = outp[0], .events = POLLIN};
		int pr = poll(&pfd, 1, (int)(HELPER_TIMEOUT_MS - spent));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			continue;
		ssize_t got = read(outp[0], buf + n, HELPER_OUT_MAX - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (n == HELPER_OUT_MAX) {
			kill(pid, SIGKILL);
			ferry_error_set(err, FERRY_E_LIMIT, "credential helper %s printed more than %u bytes", prog,
					HELPER_OUT_MAX);
			goto out;
		}
	}
	buf[n] = '\0';
	rc = 0;
out:
	if (pid > 0) {
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	}
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	if (rc == 0 && *status == 127 && n == 0) {
		/* Where posix_spawnp cannot report a failed exec, the child exits 127. */
		rc = ferry_error_set(err, FERRY_E_FAILED, "credential helper %s is not installed (not found on PATH)", prog);
	}
	if (rc == 0) {
		*out = buf;
	} else if (buf) {
		explicit_bzero(buf, n);
		free(buf);
	}
	free(prog);
	return rc;
}

/* First line of a helper's output, cleaned up, for messages. */
static void helper_said(const char *out, char *msg, size_t cap)
{
	size_t n = 0;
	for (const char *p = out; *p && *p != '\n' && n + 1 < cap && n < 200; p++)
		msg[n++] = ((unsigned char)*p < ' ') ? ' ' : *p;
	msg[n] = '\0';
}

/* 1 found, 0 the helper has nothing for this registry, -1 error. */
static int helper_get(const char *name, const char *domain, char **user, char **secret, bool *is_token,
		      ferry_error *err)
{
	char *out = NULL;
	int status = 0;
	if (run_helper(name, "get", server_url(domain), &out, &status, err) < 0)
		return -1;
	int rc = -1;
	if (status != 0) {
		if (strcasestr(out, "credentials not found")) {
			rc = 0;
		} else {
			char msg[256];
			helper_said(out, msg, sizeof(msg));
			ferry_error_set(err, FERRY_E_FAILED, "credential helper docker-credential-%s failed (exit %d)%s%s",
					name, status, msg[0] ? ": " : "", msg);
		}
		ferry_free_secret(out);
		return rc;
	}
	json_t *j = json_loads(out, 0, NULL);
	ferry_free_secret(out);
	const char *u = json_string_value(json_object_get(j, "Username"));
	const char *s = json_string_value(json_object_get(j, "Secret"));
	if (!json_is_object(j) || !s) {
		ferry_error_set(err, FERRY_E_FORMAT,
				"credential helper docker-credential-%s printed something else than {\"Username\",\"Secret\"}",
				name);
	} else if (!*s) {
		rc = 0;
	} else {
		/* By convention the user "<token>" marks an identity token. */
		*is_token = u && strcmp(u, "<token>") == 0;
		*user = ferry_xstrdup(u && *u ? u : (*is_token ? "<token>" : NULL));
		*secret = ferry_xstrdup(s);
		rc = 1;
	}
	json_decref(j);
	return rc;
}

/* ---- config files ---- */

static char *home_dir(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return ferry_xstrdup(h);
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir ? ferry_xstrdup(pw->pw_dir) : NULL;
}

/* The file login writes: $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
static char *docker_config_path(ferry_error *err)
{
	const char *dc = getenv("DOCKER_CONFIG");
	if (dc && *dc)
		return ferry_xasprintf("%s/config.json", dc);
	char *home = home_dir();
	if (!home) {
		ferry_error_set(err, FERRY_E_FAILED, "cannot find the docker config: neither DOCKER_CONFIG nor HOME is set");
		return NULL;
	}
	char *p = ferry_xasprintf("%s/.docker/config.json", home);
	free(home);
	return p;
}

/* Load a JSON config: *j NULL when the file does not exist. */
static int load_config(const char *path, json_t **j, ferry_error *err)
{
	*j = NULL;
	if (access(path, F_OK) < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	char *buf;
	size_t n;
	if (ferry_read_file(path, CONFIG_MAX, &buf, &n, err) < 0) {
		ferry_error_prefix(err, "credentials file");
		if (err && err->code == FERRY_E_LIMIT)
			err->code = FERRY_E_FORMAT;
		return -1;
	}
	int rc = 0;
	if (n == 0) {
		*j = json_object(); /* an empty file counts as {} */
	} else {
		json_error_t je;
		*j = json_loadb(buf, n, 0, &je);
		if (!*j || !json_is_object(*j)) {
			rc = ferry_error_set(err, FERRY_E_FORMAT, "credentials file %s is not a JSON object%s%s (line %d)",
					     path, *j ? "" : ": ", *j ? "" : je.text, *j ? 0 : je.line);
			json_decref(*j);
			*j = NULL;
		}
	}
	explicit_bzero(buf, n);
	free(buf);
	return rc;
}

/* 1 found, 0 not, -1 error: the `auths` entry for domain in config j (from path). */
static int auths_lookup(json_t *j, const char *path, const char *domain, char **user, char **secret, bool *is_token,
			ferry_error *err)
{
	json_t *auths = json_object_get(j, "auths");
	if (!json_is_object(auths))
		return 0;
	/* The exact key first, then any key naming the same host. */
	json_t *e = json_object_get(auths, server_url(domain));
	const char *key = server_url(domain);
	if (!json_is_object(e)) {
		const char *k;
		json_t *v;
		e = NULL;
		json_object_foreach(auths, k, v) {
			if (json_is_object(v) && key_matches(k, domain)) {
				e = v;
				key = k;
				break;
			}
		}
	}
	if (!e)
		return 0;
	const char *auth = json_string_value(json_object_get(e, "auth"));
	const char *idt = json_string_value(json_object_get(e, "identitytoken"));
	const char *un = json_string_value(json_object_get(e, "username"));
	const char *pw = json_string_value(json_object_get(e, "password"));
	char *u = NULL, *s = NULL;
	if (auth && *auth) {
		size_t len = 0;
		unsigned char *dec = ferry_base64_decode(auth, &len);
		char *colon = dec ? memchr(dec, ':', len) : NULL;
		if (!colon || strlen((char *)dec) != len) {
			if (dec) {
				explicit_bzero(dec, len);
				free(dec);
			}
			return ferry_error_set(err, FERRY_E_FORMAT,
					       "credentials file %s: the \"auth\" of \"%.200s\" is not base64 of USER:PASSWORD",
					       path, key);
		}
		u = ferry_xstrndup((char *)dec, (size_t)(colon - (char *)dec));
		s = ferry_xstrdup(colon + 1);
		explicit_bzero(dec, len);
		free(dec);
	} else if (un && pw) {
		u = ferry_xstrdup(un);
		s = ferry_xstrdup(pw);
	}
	if (idt && *idt) {
		ferry_free_secret(s);
		s = ferry_xstrdup(idt);
		if (!u)
			u = ferry_xstrdup("<token>");
		*is_token = true;
	}
	if (!s) {
		free(u);
		return 0; /* an empty entry, as written next to a credsStore */
	}
	*user = u;
	*secret = s;
	return 1;
}

/* 1 found (*source set), 0 not, -1 error. */
static int file_lookup(const char *path, const char *domain, char **user, char **secret, bool *is_token, char **source,
		       ferry_error *err)
{
	json_t *j = NULL;
	if (load_config(path, &j, err) < 0)
		return -1;
	if (!j)
		return 0;
	int rc = 0;
	const char *helper = NULL;
	json_t *helpers = json_object_get(j, "credHelpers");
	if (json_is_object(helpers)) {
		const char *k;
		json_t *v;
		json_object_foreach(helpers, k, v) {
			if (json_is_string(v) && key_matches(k, domain)) {
				helper = json_string_value(v);
				break;
			}
		}
	}
	if (!helper || !*helper)
		helper = json_string_value(json_object_get(j, "credsStore"));
	if (helper && *helper) {
		rc = helper_get(helper, domain, user, secret, is_token, err);
		if (rc < 0)
			ferry_error_prefix(err, "credentials file %s", path);
		else if (rc > 0)
			*source = ferry_xasprintf("docker-credential-%s (set in %s)", helper, path);
	}
	if (rc == 0) {
		rc = auths_lookup(j, path, domain, user, secret, is_token, err);
		if (rc > 0)
			*source = ferry_xstrdup(path);
	}
	json_decref(j);
	return rc;
}

int ferry_creds_lookup(const char *domain, const char *cli_creds, char **user, char **secret, bool *is_token,
		       char **source, ferry_error *err)
{
	*user = *secret = *source = NULL;
	*is_token = false;
	if (cli_creds) {
		const char *colon = strchr(cli_creds, ':');
		if (!colon || colon == cli_creds)
			return ferry_error_set(err, FERRY_E_USAGE, "--creds must be USER:PASSWORD");
		*user = ferry_xstrndup(cli_creds, (size_t)(colon - cli_creds));
		*secret = ferry_xstrdup(colon + 1);
		*source = ferry_xstrdup("--creds");
		return 0;
	}
	char *paths[4] = {NULL};
	size_t np = 0;
	const char *e = getenv("REGISTRY_AUTH_FILE");
	if (e && *e)
		paths[np++] = ferry_xstrdup(e);
	e = getenv("XDG_RUNTIME_DIR");
	if (e && *e)
		paths[np++] = ferry_xasprintf("%s/containers/auth.json", e);
	e = getenv("DOCKER_CONFIG");
	if (e && *e)
		paths[np++] = ferry_xasprintf("%s/config.json", e);
	char *home = home_dir();
	if (home)
		paths[np++] = ferry_xasprintf("%s/.docker/config.json", home);
	free(home);

	int rc = 0;
	for (size_t i = 0; i < np; i++) {
		bool seen = false;
		for (size_t k = 0; k < i; k++)
			seen = seen || strcmp(paths[k], paths[i]) == 0;
		if (seen)
			continue;
		int f = file_lookup(paths[i], domain, user, secret, is_token, source, err);
		if (f < 0) {
			rc = -1;
			break;
		}
		if (f > 0)
			break;
	}
	for (size_t i = 0; i < np; i++)
		free(paths[i]);
	if (rc == 0 && !*source)
		*source = ferry_xstrdup("none");
	return rc;
}

int reg_creds_load(ferry_registry *r, ferry_error *err)
{
	if (r->creds_loaded)
		return 0;
	char *u = NULL, *s = NULL, *src = NULL;
	bool tok = false;
	if (ferry_creds_lookup(r->domain, r->cli_creds, &u, &s, &tok, &src, err) < 0)
		return -1;
	r->creds_loaded = true;
	r->user = u;
	r->secret = s;
	r->is_token = tok;
	if (r->cli_creds && r->cred_source && strcmp(src, "--creds") == 0) {
		/* Keep the caller's name for credentials it passed in (login's own prompt, say). */
		free(src);
		return 0;
	}
	free(r->cred_source);
	r->cred_source = src;
	return 0;
}

/* ---- login / logout ---- */

static int mkdir_p(const char *dir, ferry_error *err)
{
	char *d = ferry_xstrdup(dir);
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0700) < 0 && errno != EEXIST) {
			int e = errno;
			free(d);
			return ferry_error_errno(err, e, "cannot create %s", dir);
		}
		*p = '/';
	}
	int rc = 0;
	if (mkdir(d, 0700) < 0 && errno != EEXIST)
		rc = ferry_error_errno(err, errno, "cannot create %s", dir);
	free(d);
	return rc;
}

/* Replace path with j: a 0600 temp file in the same directory, fsync, rename. */
static int write_config(const char *path, json_t *j, ferry_error *err)
{
	char *dir = ferry_xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	else if (slash)
		slash[1] = '\0';
	else
		strcpy(dir, ".");
	int rc = mkdir_p(dir, err);
	free(dir);
	if (rc < 0)
		return -1;
	char *tmp = ferry_xasprintf("%s.XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = ferry_error_errno(err, errno, "cannot write %s", path);
		free(tmp);
		return rc;
	}
	char *text = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!text)
		rc = ferry_error_set(err, FERRY_E_FAILED, "cannot serialise %s", path);
	else if (fchmod(fd, 0600) < 0)
		rc = ferry_error_errno(err, errno, "cannot set the mode of %s", tmp);
	else if (ferry_write_all(fd, text, strlen(text), tmp, err) < 0 || ferry_write_all(fd, "\n", 1, tmp, err) < 0)
		rc = -1;
	else if (fsync(fd) < 0)
		rc = ferry_error_errno(err, errno, "cannot write %s", tmp);
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	if (close(fd) < 0 && rc == 0)
		rc = ferry_error_errno(err, errno, "cannot write %s", tmp);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = ferry_error_errno(err, errno, "cannot replace %s", path);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* The helper the config names for domain (credHelpers, then credsStore), or NULL. */
static const char *config_helper(json_t *j, const char *domain)
{
	json_t *helpers = json_object_get(j, "credHelpers");
	if (json_is_object(helpers)) {
		const char *k;
		json_t *v;
		json_object_foreach(helpers, k, v) {
			if (json_is_string(v) && key_matches(k, domain) && *json_string_value(v))
				return json_string_value(v);
		}
	}
	const char *s = json_string_value(json_object_get(j, "credsStore"));
	return s && *s ? s : NULL;
}

/* Drop every auths key naming domain; returns how many went. */
static int auths_remove(json_t *auths, const char *domain)
{
	int n = 0;
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(auths, tmp, k, v) {
		if (key_matches(k, domain)) {
			json_object_del(auths, k);
			n++;
		}
	}
	return n;
}

static int helper_call(const char *helper, const char *action, const char *input, const char *domain,
		       ferry_error *err)
{
	char *out = NULL;
	int status = 0;
	if (run_helper(helper, action, input, &out, &status, err) < 0)
		return -1;
	int rc = 0;
	if (status != 0) {
		char msg[256];
		helper_said(out, msg, sizeof(msg));
		rc = ferry_error_set(err, FERRY_E_FAILED, "credential helper docker-credential-%s could not %s the "
				     "credentials for %s (exit %d)%s%s", helper, action, domain, status,
				     msg[0] ? ": " : "", msg);
	}
	ferry_free_secret(out);
	return rc;
}

int ferry_creds_store(const char *domain, const char *user, const char *password, ferry_error *err)
{
	if (!user || !*user || strchr(user, ':'))
		return ferry_error_set(err, FERRY_E_USAGE, "the user name must be non-empty and without ':'");
	char *path = docker_config_path(err);
	if (!path)
		return -1;
	json_t *j = NULL;
	int rc = load_config(path, &j, err);
	if (rc < 0)
		goto out;
	if (!j)
		j = json_object();
	const char *helper = config_helper(j, domain);
	if (helper) {
		json_t *in = json_pack("{s:s, s:s, s:s}", "ServerURL", server_url(domain), "Username", user, "Secret",
				       password ? password : "");
		char *text = json_dumps(in, JSON_COMPACT);
		json_decref(in);
		rc = helper_call(helper, "store", text, domain, err);
		ferry_free_secret(text);
		goto out;
	}
	json_t *auths = json_object_get(j, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(j, "auths", auths);
	}
	auths_remove(auths, domain); /* no stale duplicate left to shadow the new entry */
	char *pair = ferry_xasprintf("%s:%s", user, password ? password : "");
	char *b64 = ferry_base64_encode(pair, strlen(pair));
	ferry_free_secret(pair);
	json_object_set_new(auths, server_url(domain), json_pack("{s:s}", "auth", b64));
	ferry_free_secret(b64);
	rc = write_config(path, j, err);
out:
	json_decref(j);
	free(path);
	return rc;
}

int ferry_creds_erase(const char *domain, ferry_error *err)
{
	char *path = docker_config_path(err);
	if (!path)
		return -1;
	json_t *j = NULL;
	int rc = load_config(path, &j, err);
	if (rc < 0)
		goto out;
	if (!j) {
		rc = ferry_error_set(err, FERRY_E_NOTFOUND, "not logged in to %s (%s does not exist)", domain, path);
		goto out;
	}
	const char *helper = config_helper(j, domain);
	if (helper) {
		rc = helper_call(helper, "erase", server_url(domain), domain, err);
		if (rc < 0)
			goto out;
	}
	json_t *auths = json_object_get(j, "auths");
	int removed = json_is_object(auths) ? auths_remove(auths, domain) : 0;
	if (removed > 0)
		rc = write_config(path, j, err);
	else if (!helper)
		rc = ferry_error_set(err, FERRY_E_NOTFOUND, "not logged in to %s (no entry in %s)", domain, path);
out:
	json_decref(j);
	free(path);
	return rc;
}
