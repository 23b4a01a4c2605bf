/*
 * test_registry.c - the registry client's offline parts: WWW-Authenticate
 * parsing, credential lookup (files, helpers), login/logout file edits,
 * Location/URL rules, header parsing; and the protocol itself against a
 * scripted HTTP server on 127.0.0.1 (chunked upload with a resumed PATCH,
 * Bearer token flow, retries, redirects, manifest checks, resumed download).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "digest.h"
#include "model.h"
#include "registry.h"
#include "registry/internal.h"
#include "scratch.h"
#include "stream.h"
#include "util.h"

/* ---- helpers ---- */

static char *tmpdir; /* this case's scratch directory (owned) */

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = ferry_xmalloc(1 << 16);
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *b64(const char *s)
{
	return ferry_base64_encode(s, strlen(s));
}

/* A fresh HOME with no credential variables set. */
static int creds_setup(void **state)
{
	(void)state;
	tmpdir = scratch_make("test_registry");
	assert_non_null(tmpdir);
	char *home = ferry_xasprintf("%s/home", tmpdir);
	mkdir(home, 0700);
	char *dd = ferry_xasprintf("%s/.docker", home);
	mkdir(dd, 0700);
	setenv("HOME", home, 1);
	unsetenv("DOCKER_CONFIG");
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	free(home);
	free(dd);
	return 0;
}

static int creds_teardown(void **state)
{
	(void)state;
	assert_int_equal(scratch_remove(tmpdir), 0);
	tmpdir = NULL;
	return 0;
}

/* ---- WWW-Authenticate ---- */

static void test_auth_parse_bearer(void **state)
{
	(void)state;
	ferry_auth_challenge *c;
	size_t n;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_auth_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
					  "scope=\"repository:samalba/my-app:pull,push\"",
					  &c, &n, &err),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].scheme, "bearer");
	assert_string_equal(c[0].realm, "https://auth.docker.io/token");
	assert_string_equal(c[0].service, "registry.docker.io");
	assert_string_equal(c[0].scope, "repository:samalba/my-app:pull,push");
	ferry_auth_free(c, n);

	/* several challenges, spaces around '=' and after commas, unknown params ignored */
	assert_int_equal(ferry_auth_parse("Basic realm=\"Registry Realm\", Bearer realm = \"https://a/t\" , "
					  "charset=\"UTF-8\", service=\"svc\"",
					  &c, &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].scheme, "basic");
	assert_string_equal(c[0].realm, "Registry Realm");
	assert_null(c[0].service);
	assert_string_equal(c[1].scheme, "bearer");
	assert_string_equal(c[1].realm, "https://a/t");
	assert_string_equal(c[1].service, "svc");
	assert_null(c[1].scope);
	ferry_auth_free(c, n);

	/* escaped quotes and backslashes; case-insensitive scheme and names */
	assert_int_equal(ferry_auth_parse("BEARER Realm=\"a\\\"b\\\\c,d\",SERVICE=x", &c, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].scheme, "bearer");
	assert_string_equal(c[0].realm, "a\"b\\c,d");
	assert_string_equal(c[0].service, "x");
	ferry_auth_free(c, n);

	/* unquoted values, even URLs; a bare scheme; token68 */
	assert_int_equal(ferry_auth_parse("Bearer realm=https://auth.example/token?x=1,service=reg.example, Basic, "
					  "Negotiate YII+/abc==, Basic realm=r",
					  &c, &n, &err),
			 0);
	assert_int_equal(n, 4);
	assert_string_equal(c[0].realm, "https://auth.example/token?x=1");
	assert_string_equal(c[0].service, "reg.example");
	assert_string_equal(c[1].scheme, "basic");
	assert_null(c[1].realm);
	assert_string_equal(c[2].scheme, "negotiate");
	assert_string_equal(c[3].scheme, "basic");
	assert_string_equal(c[3].realm, "r");
	ferry_auth_free(c, n);

	/* two scope parameters become one set */
	assert_int_equal(ferry_auth_parse("Bearer realm=\"r\",scope=\"repository:a:pull\",scope=\"repository:b:pull\"",
					  &c, &n, &err),
			 0);
	assert_string_equal(c[0].scope, "repository:a:pull repository:b:pull");
	ferry_auth_free(c, n);
}

static void test_auth_parse_garbage(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"   ",
		",,",
		"=x",
		"\"Bearer\"",
		"Bearer realm=\"unterminated",
		"Bearer realm=\"x\\",
		"Bearer realm=",
		"Bearer realm=\"x\" junk",
		"Bearer realm=\"x\",=y",
		"Bearer realm=\"x\" \"y\"",
		"@@@",
		"Bearer=x",
		"Bearer realm==\"x\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_auth_challenge *c = (void *)1;
		size_t n = 99;
		ferry_error err = FERRY_ERROR_INIT;
		if (ferry_auth_parse(bad[i], &c, &n, &err) != -1)
			fail_msg("accepted garbage: %s", bad[i]);
		assert_null(c);
		assert_int_equal(n, 0);
		assert_int_equal(err.code, FERRY_E_FORMAT);
		assert_non_null(strstr(err.msg, "WWW-Authenticate"));
	}
}

/* ---- URLs, base64, headers ---- */

static void join_ok(const char *req, const char *loc, const char *want)
{
	ferry_error err = FERRY_ERROR_INIT;
	char *got = reg_url_join(req, loc, &err);
	if (!got)
		fail_msg("join(%s, %s) failed: %s", req, loc, err.msg);
	assert_string_equal(got, want);
	free(got);
}

static void join_bad(const char *req, const char *loc, const char *msg_part)
{
	ferry_error err = FERRY_ERROR_INIT;
	char *got = reg_url_join(req, loc, &err);
	if (got)
		fail_msg("join(%s, %s) accepted: %s", req, loc, got);
	assert_non_null(strstr(err.msg, msg_part));
}

/* Percent-encodings compare in either case (libcurl's URL API writes them in lowercase). */
static void query_ok(const char *url, const char *key, const char *value, const char *want)
{
	char *got = reg_url_add_query(url, key, value);
	if (!got || strcasecmp(got, want) != 0)
		fail_msg("add_query(%s, %s, %s): got %s, want %s", url, key, value, got ? got : "NULL", want);
	free(got);
}

static void test_location(void **state)
{
	(void)state;
	const char *up = "https://reg.example:5000/v2/team/app/blobs/uploads/";
	join_ok(up, "/v2/team/app/blobs/uploads/u1?_state=abc",
		"https://reg.example:5000/v2/team/app/blobs/uploads/u1?_state=abc");
	join_ok(up, "https://other.example/upload/u1?sig=x", "https://other.example/upload/u1?sig=x");
	join_ok(up, "HTTPS://other.example/u", "https://other.example/u"); /* libcurl writes schemes in lowercase */
	join_ok(up, "//cdn.example/u", "https://cdn.example/u");
	join_ok(up, "u2?x=1", "https://reg.example:5000/v2/team/app/blobs/uploads/u2?x=1");
	join_ok("https://h/v2/a/blobs/uploads/u1?_state=z", "u2", "https://h/v2/a/blobs/uploads/u2");
	join_ok("https://h", "x", "https://h/x");
	join_ok("http://127.0.0.1:5000/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/u?q=1",
		"http://127.0.0.1:5000/v2/a/blobs/uploads/u?q=1");
	join_ok("http://127.0.0.1:5000/v2/", "https://127.0.0.1:5000/v2/", "https://127.0.0.1:5000/v2/");
	join_ok("https://[::1]:5000/v2/a/tags/list", "/v2/a/tags/list?last=b&n=2",
		"https://[::1]:5000/v2/a/tags/list?last=b&n=2");
	join_bad(up, "http://reg.example:5000/v2/x", "plain http");
	join_bad(up, "ftp://x/y", "unsupported scheme");
	join_bad(up, "", "empty Location");
	join_bad(up, "/v2/x y", "control characters");
	join_bad(up, NULL, "empty Location");

	query_ok("https://h/v2/a/blobs/uploads/u1?_state=abc", "digest", "sha256:0f",
		 "https://h/v2/a/blobs/uploads/u1?_state=abc&digest=sha256%3A0f");
	query_ok("https://h/v2/a/blobs/uploads/u1", "digest", "sha256:0f",
		 "https://h/v2/a/blobs/uploads/u1?digest=sha256%3A0f");
	query_ok("https://h/u?", "from", "team/app", "https://h/u?from=team%2Fapp");
	query_ok("https://h/u?a=1&", "n", "a b~_.-&=", "https://h/u?a=1&n=a+b~_.-%26%3D");
	query_ok("https://h/u?sig=AB%2Bc", "n", "1", "https://h/u?sig=AB%2Bc&n=1"); /* what was there is kept */
	assert_null(reg_url_add_query("/v2/a", "n", "1")); /* not a URL */

	char *o = reg_url_origin("https://h:1/v2/x?y");
	assert_string_equal(o, "https://h:1");
	free(o);
	o = reg_url_origin("http://h?x");
	assert_string_equal(o, "http://h");
	free(o);
	o = reg_url_origin("https://[::1]:5000/v2/");
	assert_string_equal(o, "https://[::1]:5000");
	free(o);
	assert_null(reg_url_origin("ftp://h/x"));
	assert_null(reg_url_origin("https://"));
	assert_null(reg_url_origin("https://:5000/x"));
	assert_null(reg_url_origin("reg.example/v2/"));
}

/* What reg_trace prints for a request (captured from stderr). */
static char *trace_of(const char *method, const char *url, long status)
{
	ferry_registry r = {.debug = true};
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0 && dup2(fileno(tmp), STDERR_FILENO) >= 0);
	reg_trace(&r, method, url, status, NULL);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char buf[1024] = "";
	rewind(tmp);
	size_t n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return ferry_xstrdup(buf);
}

/* --debug shows the keys of a query, and the values of harmless keys only. */
static void test_trace_redacts(void **state)
{
	(void)state;
	char *t = trace_of("PUT", "https://h/v2/a/blobs/uploads/u1?_state=s3cret&digest=sha256%3a0f&X-Amz-Signature=abc", 201);
	assert_string_equal(t, "ferry: registry: PUT https://h/v2/a/blobs/uploads/u1?_state=<redacted>&digest=sha256%3a0f"
			       "&X-Amz-Signature=<redacted> -> 201\n");
	free(t);
	char *u = reg_url_add_query("https://h/v2/a/blobs/uploads/", "mount", "sha256:0f");
	char *v = reg_url_add_query(u, "from", "team/app");
	t = trace_of("POST", v, 0);
	assert_true(strcasecmp(t, "ferry: registry: POST https://h/v2/a/blobs/uploads/?mount=sha256%3A0f&from=team%2Fapp\n") ==
		    0);
	free(t);
	free(u);
	free(v);
}

static void test_base64_loopback(void **state)
{
	(void)state;
	static const char *const v[] = {"", "a", "ab", "abc", "user:pa:ss", "\xff\xfe"};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = b64(v[i]);
		size_t n = 99;
		unsigned char *d = ferry_base64_decode(e, &n);
		assert_non_null(d);
		assert_int_equal(n, strlen(v[i]));
		assert_memory_equal(d, v[i], n);
		free(d);
		free(e);
	}
	size_t n;
	unsigned char *d = ferry_base64_decode("dXNlcjpwdw", &n); /* unpadded "user:pw" */
	assert_non_null(d);
	assert_int_equal(n, 7);
	assert_memory_equal(d, "user:pw", 7);
	free(d);
	assert_null(ferry_base64_decode("dX=lcjpw", &n));
	assert_null(ferry_base64_decode("dXNl*jpw", &n));
	assert_null(ferry_base64_decode("d", &n));

	assert_true(ferry_is_loopback("localhost"));
	assert_true(ferry_is_loopback("LOCALHOST"));
	assert_true(ferry_is_loopback("127.0.0.1"));
	assert_true(ferry_is_loopback("127.3.2.1"));
	assert_true(ferry_is_loopback("::1"));
	assert_false(ferry_is_loopback("128.0.0.1"));
	assert_false(ferry_is_loopback("localhost.example"));
	assert_false(ferry_is_loopback("::2"));
	assert_false(ferry_is_loopback("example.com"));
}

static void feed(reg_headers *h, const char *line)
{
	reg_headers_line(h, line, strlen(line));
}

static void test_headers(void **state)
{
	(void)state;
	reg_headers h = {0};
	feed(&h, "HTTP/1.1 307 Temporary Redirect\r\n");
	feed(&h, "Location: https://elsewhere/x\r\n");
	feed(&h, "HTTP/1.1 401 Unauthorized\r\n");
	assert_int_equal(h.status, 401);
	assert_null(h.location); /* forgotten with the old response */
	feed(&h, "www-authenticate: Basic realm=\"a\"\r\n");
	feed(&h, "WWW-Authenticate:   Bearer realm=\"b\"  \r\n");
	feed(&h, "Content-Length: 1234\r\n");
	feed(&h, "OCI-Chunk-Min-Length: 5242880\r\n");
	feed(&h, "Docker-Content-Digest: sha256:abc\r\n");
	feed(&h, "Range: 0-99\r\n");
	feed(&h, "Retry-After: 3\r\n");
	feed(&h, "X-Other: y\r\n");
	feed(&h, "\r\n");
	assert_string_equal(h.www_auth, "Basic realm=\"a\", Bearer realm=\"b\"");
	assert_true(h.has_length);
	assert_int_equal(h.content_length, 1234);
	assert_int_equal(h.chunk_min, 5242880);
	assert_string_equal(h.digest, "sha256:abc");
	assert_string_equal(h.range, "0-99");
	assert_string_equal(h.retry_after, "3");
	feed(&h, "HTTP/2 200\r\n");
	assert_int_equal(h.status, 200);
	assert_null(h.www_auth);
	feed(&h, "content-length: -5\r\n");
	assert_false(h.has_length);
	reg_headers_clear(&h);
}

/* ---- credentials ---- */

struct got {
	char *user, *secret, *source;
	bool tok;
	int rc;
	ferry_error err;
};

static struct got lookup(const char *domain, const char *cli)
{
	struct got g = {0};
	g.rc = ferry_creds_lookup(domain, cli, &g.user, &g.secret, &g.tok, &g.source, &g.err);
	return g;
}

static void got_free(struct got *g)
{
	free(g->user);
	free(g->secret);
	free(g->source);
}

static void expect(const char *domain, const char *user, const char *secret, const char *source_part)
{
	struct got g = lookup(domain, NULL);
	if (g.rc != 0)
		fail_msg("lookup %s: %s", domain, g.err.msg);
	if (!user) {
		assert_null(g.user);
		assert_null(g.secret);
		assert_string_equal(g.source, "none");
	} else {
		if (!g.user || strcmp(g.user, user) != 0 || strcmp(g.secret, secret) != 0)
			fail_msg("lookup %s: got %s/%s from %s", domain, g.user ? g.user : "(null)",
				 g.secret ? g.secret : "(null)", g.source);
		if (!strstr(g.source, source_part))
			fail_msg("lookup %s: source %s lacks %s", domain, g.source, source_part);
	}
	got_free(&g);
}

static char *path_in(const char *rel)
{
	return ferry_xasprintf("%s/%s", tmpdir, rel);
}

static void test_creds_cli(void **state)
{
	(void)state;
	struct got g = lookup("localhost:5000", "alice:s3:cr3t");
	assert_int_equal(g.rc, 0);
	assert_string_equal(g.user, "alice");
	assert_string_equal(g.secret, "s3:cr3t");
	assert_string_equal(g.source, "--creds");
	assert_false(g.tok);
	got_free(&g);
	g = lookup("localhost:5000", "nocolon");
	assert_int_equal(g.rc, -1);
	assert_int_equal(g.err.code, FERRY_E_USAGE);
	assert_null(g.user);
	got_free(&g);
	g = lookup("localhost:5000", ":pw");
	assert_int_equal(g.rc, -1);
	got_free(&g);

	expect("localhost:5000", NULL, NULL, NULL); /* no files at all */
}

static void test_creds_files(void **state)
{
	(void)state;
	char *hub = b64("hubuser:hubpw"), *loc = b64("lu:lp"), *ex = b64("eu:ep:x"), *tok = b64("<token>:");
	char *cfg = path_in("home/.docker/config.json");
	char *text = ferry_xasprintf("{\"auths\":{"
				     "\"https://index.docker.io/v1/\":{\"auth\":\"%s\"},"
				     "\"localhost:5000\":{\"auth\":\"%s\"},"
				     "\"http://reg.example:5000/v2/\":{\"auth\":\"%s\"},"
				     "\"quay.io/team/app\":{\"auth\":\"%s\"},"
				     "\"tok.example\":{\"auth\":\"%s\",\"identitytoken\":\"idt-123\"},"
				     "\"plain.example\":{\"username\":\"pu\",\"password\":\"pp\"},"
				     "\"empty.example\":{}"
				     "}}",
				     hub, loc, ex, loc, tok);
	write_file(cfg, text, 0600);
	free(text);

	expect("docker.io", "hubuser", "hubpw", cfg);
	expect("index.docker.io", "hubuser", "hubpw", cfg);
	expect("localhost:5000", "lu", "lp", cfg);
	expect("reg.example:5000", "eu", "ep:x", cfg);
	expect("reg.example", NULL, NULL, NULL);
	expect("quay.io", NULL, NULL, NULL); /* only a repository-scoped entry */
	expect("plain.example", "pu", "pp", cfg);
	expect("empty.example", NULL, NULL, NULL);
	struct got g = lookup("tok.example", NULL);
	assert_int_equal(g.rc, 0);
	assert_true(g.tok);
	assert_string_equal(g.user, "<token>");
	assert_string_equal(g.secret, "idt-123");
	got_free(&g);

	/* $DOCKER_CONFIG comes before ~/.docker */
	char *dc = path_in("dc");
	mkdir(dc, 0700);
	char *dcfile = path_in("dc/config.json");
	char *dcu = b64("dcuser:dcpw");
	text = ferry_xasprintf("{\"auths\":{\"localhost:5000\":{\"auth\":\"%s\"}}}", dcu);
	write_file(dcfile, text, 0600);
	free(text);
	setenv("DOCKER_CONFIG", dc, 1);
	expect("localhost:5000", "dcuser", "dcpw", dcfile);
	expect("docker.io", "hubuser", "hubpw", cfg); /* not there: on to ~/.docker */

	/* XDG_RUNTIME_DIR/containers/auth.json before that */
	char *xdg = path_in("xdg");
	char *xdgc = path_in("xdg/containers");
	mkdir(xdg, 0700);
	mkdir(xdgc, 0700);
	char *authjson = path_in("xdg/containers/auth.json");
	char *xu = b64("xdguser:xdgpw");
	text = ferry_xasprintf("{\"auths\":{\"localhost:5000\":{\"auth\":\"%s\"}}}", xu);
	write_file(authjson, text, 0600);
	free(text);
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	expect("localhost:5000", "xdguser", "xdgpw", authjson);

	/* and $REGISTRY_AUTH_FILE before everything */
	char *raf = path_in("raf.json");
	char *ru = b64("rafuser:rafpw");
	text = ferry_xasprintf("{\"auths\":{\"localhost:5000\":{\"auth\":\"%s\"}}}", ru);
	write_file(raf, text, 0600);
	free(text);
	setenv("REGISTRY_AUTH_FILE", raf, 1);
	expect("localhost:5000", "rafuser", "rafpw", raf);

	/* --creds beats all files */
	g = lookup("localhost:5000", "c:d");
	assert_string_equal(g.user, "c");
	assert_string_equal(g.source, "--creds");
	got_free(&g);

	/* broken files are errors that name the file */
	write_file(raf, "{\"auths\": {", 0600);
	g = lookup("localhost:5000", NULL);
	assert_int_equal(g.rc, -1);
	assert_int_equal(g.err.code, FERRY_E_FORMAT);
	assert_non_null(strstr(g.err.msg, raf));
	got_free(&g);
	write_file(raf, "{\"auths\":{\"localhost:5000\":{\"auth\":\"bm9jb2xvbg==\"}}}", 0600); /* "nocolon" */
	g = lookup("localhost:5000", NULL);
	assert_int_equal(g.rc, -1);
	assert_non_null(strstr(g.err.msg, "USER:PASSWORD"));
	assert_null(strstr(g.err.msg, "nocolon"));
	got_free(&g);
	write_file(raf, "", 0600); /* empty is {} */
	expect("localhost:5000", "xdguser", "xdgpw", authjson);

	free(hub);
	free(loc);
	free(ex);
	free(tok);
	free(cfg);
	free(dc);
	free(dcfile);
	free(dcu);
	free(xdg);
	free(xdgc);
	free(authjson);
	free(xu);
	free(raf);
	free(ru);
}

/* A fake docker-credential-NAME on PATH; it logs what it got to TMP/helper.log. */
static char *old_path;

static void install_helper(const char *name)
{
	char *bin = path_in("bin");
	mkdir(bin, 0700);
	char *file = ferry_xasprintf("%s/docker-credential-%s", bin, name);
	char *log = path_in("helper.log");
	char *script = ferry_xasprintf(
		"#!/bin/sh\n"
		"in=$(cat)\n"
		"printf '%%s %%s\\n' \"$1\" \"$in\" >> '%s'\n"
		"case \"$1:$in\" in\n"
		"get:helper.example) echo '{\"ServerURL\":\"helper.example\",\"Username\":\"hu\",\"Secret\":\"hs\"}' ;;\n"
		"get:https://index.docker.io/v1/) echo '{\"ServerURL\":\"x\",\"Username\":\"<token>\",\"Secret\":\"hubtok\"}' ;;\n"
		"get:broken.example) echo 'keychain is locked'; exit 3 ;;\n"
		"get:*) echo 'credentials not found in native keychain'; exit 1 ;;\n"
		"store:*|erase:*) ;;\n"
		"esac\n",
		log);
	write_file(file, script, 0755);
	if (!old_path)
		old_path = ferry_xstrdup(getenv("PATH"));
	char *p = ferry_xasprintf("%s:%s", bin, old_path);
	setenv("PATH", p, 1);
	free(p);
	free(bin);
	free(file);
	free(log);
	free(script);
}

static void test_creds_helpers(void **state)
{
	(void)state;
	install_helper("fake");
	char *cfg = path_in("home/.docker/config.json");
	char *fb = b64("fileuser:filepw");
	char *text = ferry_xasprintf("{\"credsStore\":\"fake\",\"credHelpers\":{\"special.example\":\"missing\","
				     "\"https://bad name.example\":\"../evil\"},"
				     "\"auths\":{\"fallback.example\":{\"auth\":\"%s\"},\"helper.example\":{}}}",
				     fb);
	write_file(cfg, text, 0600);
	free(text);
	free(fb);

	expect("helper.example", "hu", "hs", "docker-credential-fake");
	struct got g = lookup("docker.io", NULL);
	assert_int_equal(g.rc, 0);
	assert_true(g.tok);
	assert_string_equal(g.secret, "hubtok");
	got_free(&g);
	/* the helper has nothing: the file's own entry is used */
	expect("fallback.example", "fileuser", "filepw", cfg);
	expect("nothing.example", NULL, NULL, NULL);
	/* a helper failing for another reason is an error, with its message */
	g = lookup("broken.example", NULL);
	assert_int_equal(g.rc, -1);
	assert_non_null(strstr(g.err.msg, "keychain is locked"));
	assert_non_null(strstr(g.err.msg, "docker-credential-fake"));
	got_free(&g);
	/* credHelpers beats credsStore; a missing helper says so */
	g = lookup("special.example", NULL);
	assert_int_equal(g.rc, -1);
	assert_non_null(strstr(g.err.msg, "docker-credential-missing"));
	assert_non_null(strstr(g.err.msg, "not installed"));
	got_free(&g);

	/* the helper was fed the server URL; docker.io as https://index.docker.io/v1/ */
	char *log = path_in("helper.log");
	char *l = read_file(log);
	assert_non_null(l);
	assert_non_null(strstr(l, "get helper.example\n"));
	assert_non_null(strstr(l, "get https://index.docker.io/v1/\n"));
	free(l);

	/* login through the helper: it gets the JSON, the file is left alone */
	char *before = read_file(cfg);
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_creds_store("helper.example", "nu", "npw", &err), 0);
	char *after = read_file(cfg);
	assert_string_equal(before, after);
	l = read_file(log);
	assert_non_null(strstr(l, "store {\"ServerURL\":\"helper.example\",\"Username\":\"nu\",\"Secret\":\"npw\"}"));
	free(l);
	assert_int_equal(ferry_creds_erase("helper.example", &err), 0);
	l = read_file(log);
	assert_non_null(strstr(l, "erase helper.example\n"));
	free(l);
	free(before);
	free(after);
	free(log);
	free(cfg);
	setenv("PATH", old_path, 1);
}

static void test_login_logout(void **state)
{
	(void)state;
	char *dc = path_in("newdir/docker");
	setenv("DOCKER_CONFIG", dc, 1);
	char *file = path_in("newdir/docker/config.json");
	ferry_error err = FERRY_ERROR_INIT;

	assert_int_equal(ferry_creds_erase("localhost:5000", &err), -1);
	assert_int_equal(err.code, FERRY_E_NOTFOUND);

	assert_int_equal(ferry_creds_store("localhost:5000", "u1", "p:1", &err), 0);
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(dc, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	expect("localhost:5000", "u1", "p:1", file);

	/* other content survives; an old entry for the same host is replaced, not duplicated */
	write_file(file,
		   "{\"psFormat\":\"table\",\"auths\":{\"http://localhost:5000/v1/\":{\"auth\":\"eDp5\"},"
		   "\"other.example\":{\"auth\":\"eDp5\"}}}",
		   0644);
	assert_int_equal(ferry_creds_store("localhost:5000", "u2", "p2", &err), 0);
	assert_int_equal(ferry_creds_store("docker.io", "hu", "hp", &err), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	json_t *j = json_load_file(file, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "psFormat")), "table");
	json_t *auths = json_object_get(j, "auths");
	assert_int_equal(json_object_size(auths), 3);
	assert_non_null(json_object_get(auths, "localhost:5000"));
	assert_non_null(json_object_get(auths, "other.example"));
	char *want = b64("hu:hp");
	assert_string_equal(json_string_value(json_object_get(json_object_get(auths, "https://index.docker.io/v1/"), "auth")),
			    want);
	free(want);
	json_decref(j);
	expect("localhost:5000", "u2", "p2", file);
	expect("docker.io", "hu", "hp", file);

	assert_int_equal(ferry_creds_erase("localhost:5000", &err), 0);
	expect("localhost:5000", NULL, NULL, NULL);
	expect("other.example", "x", "y", file);
	assert_int_equal(ferry_creds_erase("localhost:5000", &err), -1);
	assert_int_equal(err.code, FERRY_E_NOTFOUND);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(ferry_creds_store("localhost:5000", "a:b", "p", &err), -1);
	assert_int_equal(err.code, FERRY_E_USAGE);
	assert_int_equal(ferry_creds_store("localhost:5000", "", "p", &err), -1);

	/* an unparsable file is never overwritten */
	write_file(file, "not json", 0600);
	assert_int_equal(ferry_creds_store("localhost:5000", "u", "p", &err), -1);
	assert_int_equal(err.code, FERRY_E_FORMAT);
	char *t = read_file(file);
	assert_string_equal(t, "not json");
	free(t);
	free(dc);
	free(file);
}

/* ---- opening ---- */

static void test_open(void **state)
{
	(void)state;
	ferry_registry_opts o;
	ferry_registry_opts_init(&o);
	assert_true(o.tls_verify);
	assert_int_equal(o.retries, 3);
	ferry_registry *r = NULL;
	ferry_error err = FERRY_ERROR_INIT;

	assert_int_equal(ferry_registry_open("docker.io", &o, &r, &err), 0);
	assert_string_equal(r->host, "registry-1.docker.io");
	assert_false(r->may_http);
	assert_string_equal(ferry_registry_cred_source(r), "none");
	ferry_registry_free(r);
	assert_int_equal(ferry_registry_open("index.docker.io", &o, &r, &err), 0);
	assert_string_equal(r->domain, "docker.io");
	ferry_registry_free(r);

	assert_int_equal(ferry_registry_open("[::1]:5000", &o, &r, &err), 0);
	assert_string_equal(r->hostname, "::1");
	assert_true(r->may_http);
	ferry_registry_free(r);
	assert_int_equal(ferry_registry_open("127.0.0.1:5000", &o, &r, &err), 0);
	assert_true(r->may_http);
	ferry_registry_free(r);

	const char *ins[] = {"reg.example:5000", "http://other.example"};
	o.insecure = ins;
	o.n_insecure = 2;
	assert_int_equal(ferry_registry_open("reg.example:5000", &o, &r, &err), 0);
	assert_true(r->may_http);
	ferry_registry_free(r);
	assert_int_equal(ferry_registry_open("reg.example:5001", &o, &r, &err), 0);
	assert_false(r->may_http);
	ferry_registry_free(r);
	assert_int_equal(ferry_registry_open("other.example:444", &o, &r, &err), 0);
	assert_true(r->may_http);
	ferry_registry_free(r);
	o.n_insecure = 0;

	assert_int_equal(ferry_registry_open("not a domain", &o, &r, &err), -1);
	assert_null(r);
	o.creds = "nocolon";
	assert_int_equal(ferry_registry_open("localhost:5000", &o, &r, &err), -1);
	assert_int_equal(err.code, FERRY_E_USAGE);
	o.creds = "u:p";
	assert_int_equal(ferry_registry_open("localhost:5000", &o, &r, &err), 0);
	assert_string_equal(ferry_registry_cred_source(r), "--creds");
	ferry_registry_free(r);
	o.creds = NULL;

	/* cert dirs: a missing explicit one, a client cert without its key */
	char *cd = path_in("certs");
	o.cert_dir = cd;
	assert_int_equal(ferry_registry_open("localhost:5000", &o, &r, &err), -1);
	assert_non_null(strstr(err.msg, cd));
	mkdir(cd, 0700);
	char *crt = path_in("certs/ca.crt");
	write_file(crt, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 0600);
	assert_int_equal(ferry_registry_open("localhost:5000", &o, &r, &err), 0);
	assert_non_null(r->ca_pem);
	assert_non_null(strstr(r->ca_pem, "MIIB\n"));
	assert_null(r->client_cert);
	ferry_registry_free(r);
	char *cc = path_in("certs/client.cert");
	write_file(cc, "x", 0600);
	assert_int_equal(ferry_registry_open("localhost:5000", &o, &r, &err), -1);
	assert_non_null(strstr(err.msg, "client.key"));
	char *ck = path_in("certs/client.key");
	write_file(ck, "x", 0600);
	assert_int_equal(ferry_registry_open("localhost:5000", &o, &r, &err), 0);
	assert_string_equal(r->client_cert, cc);
	assert_string_equal(r->client_key, ck);
	ferry_registry_free(r);
	free(cd);
	free(crt);
	free(cc);
	free(ck);
}

static void test_unreachable(void **state)
{
	(void)state;
	/* Find a closed port: bind one, then close it. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	getsockname(s, (struct sockaddr *)&a, &al);
	close(s);
	char dom[64];
	snprintf(dom, sizeof(dom), "127.0.0.1:%d", ntohs(a.sin_port));

	ferry_registry_opts o;
	ferry_registry_opts_init(&o);
	o.retries = 0;
	ferry_registry *r;
	ferry_error err = FERRY_ERROR_INIT;
	assert_int_equal(ferry_registry_open(dom, &o, &r, &err), 0);
	ferry_digest d;
	ferry_digest_buffer(FERRY_ALG_SHA256, "", 0, &d);
	bool ex = true;
	assert_int_equal(ferry_registry_blob_exists(r, "team/app", &d, &ex, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "cannot reach registry"));
	assert_non_null(strstr(err.msg, dom));
	assert_int_equal(ferry_registry_blob_exists(r, "Bad/Name", &d, &ex, NULL, &err), -1);
	assert_int_equal(err.code, FERRY_E_USAGE);
	assert_int_equal(ferry_registry_blob_exists(r, "a//b", &d, &ex, NULL, &err), -1);
	assert_int_equal(ferry_registry_blob_exists(r, "../x", &d, &ex, NULL, &err), -1);
	assert_int_equal(ferry_registry_blob_exists(r, "a/../b", &d, &ex, NULL, &err), -1);
	assert_int_equal(ferry_registry_blob_exists(r, "a/./b", &d, &ex, NULL, &err), -1);
	assert_int_equal(ferry_registry_blob_exists(r, "a/b/", &d, &ex, NULL, &err), -1);
	assert_int_equal(ferry_registry_blob_exists(r, "a/b-", &d, &ex, NULL, &err), -1);
	assert_int_equal(ferry_registry_blob_exists(r, "a?b", &d, &ex, NULL, &err), -1);
	assert_int_equal(ferry_registry_blob_exists(r, "", &d, &ex, NULL, &err), -1);
	assert_int_equal(err.code, FERRY_E_USAGE);
	ferry_registry_free(r);
}

/* ---- a scripted HTTP server on 127.0.0.1 ---- */

struct req {
	char method[16];
	char target[2048];
	char auth[512];
	char content_range[128];
	char range[128];
	char content_type[256];
	unsigned char *body;
	size_t body_len;
};

struct srv;
typedef void (*handler_fn)(struct srv *s, int fd, struct req *q);

#define LOG_MAX 128

struct srv {
	int lfd, port;
	pthread_t th;
	volatile int stop;
	handler_fn h;
	pthread_mutex_t mu;
	char log[LOG_MAX][400]; /* "METHOD target [auth]" */
	int nlog;
	/* state the handlers share */
	unsigned char *store; /* upload bytes received */
	size_t store_len;
	int count[8];
	char base[64]; /* "http://127.0.0.1:PORT" */
};

static void respond(int fd, int status, const char *headers, size_t clen, const void *body, size_t blen)
{
	char head[4096];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
			 status, clen, headers ? headers : "");
	if (write(fd, head, (size_t)n) != n)
		return;
	size_t off = 0;
	while (off < blen) {
		ssize_t w = write(fd, (const char *)body + off, blen - off);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void respond_json(int fd, int status, const char *headers, const char *json)
{
	char h[1024];
	snprintf(h, sizeof(h), "Content-Type: application/json\r\n%s", headers ? headers : "");
	respond(fd, status, h, strlen(json), json, strlen(json));
}

static void hdr_value(const char *hdrs, const char *name, char *out, size_t cap)
{
	out[0] = '\0';
	size_t nl = strlen(name);
	for (const char *p = hdrs; p && *p;) {
		const char *e = strstr(p, "\r\n");
		if (!e)
			break;
		if ((size_t)(e - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(e - v);
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return;
		}
		p = e + 2;
	}
}

static bool read_request(int fd, struct req *q)
{
	memset(q, 0, sizeof(*q));
	char buf[65536];
	size_t n = 0;
	char *end = NULL;
	while (!end) {
		if (n + 1 >= sizeof(buf))
			return false;
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r <= 0)
			return false;
		if (n == 0 && !(buf[0] >= 'A' && buf[0] <= 'Z'))
			return false; /* a TLS ClientHello: this server only speaks plain HTTP */
		n += (size_t)r;
		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (sscanf(buf, "%15s %2047s HTTP/1.1", q->method, q->target) != 2)
		return false;
	size_t hl = (size_t)(end + 4 - buf);
	char saved = buf[hl];
	buf[hl] = '\0';
	char *hdrs = strstr(buf, "\r\n") + 2;
	char cl[32];
	hdr_value(hdrs, "Authorization", q->auth, sizeof(q->auth));
	hdr_value(hdrs, "Content-Range", q->content_range, sizeof(q->content_range));
	hdr_value(hdrs, "Range", q->range, sizeof(q->range));
	hdr_value(hdrs, "Content-Type", q->content_type, sizeof(q->content_type));
	hdr_value(hdrs, "Content-Length", cl, sizeof(cl));
	buf[hl] = saved;
	size_t want = cl[0] ? (size_t)strtoull(cl, NULL, 10) : 0;
	q->body = ferry_xmalloc(want + 1);
	size_t have = n - hl < want ? n - hl : want;
	memcpy(q->body, buf + hl, have);
	while (have < want) {
		ssize_t r = read(fd, q->body + have, want - have);
		if (r <= 0) {
			free(q->body);
			q->body = NULL;
			return false;
		}
		have += (size_t)r;
	}
	q->body_len = want;
	return true;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	while (!s->stop) {
		struct pollfd p = {.fd = s->lfd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		struct timeval tv = {.tv_sec = 5};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		struct req q;
		if (read_request(fd, &q)) {
			pthread_mutex_lock(&s->mu);
			if (s->nlog < LOG_MAX)
				snprintf(s->log[s->nlog++], sizeof(s->log[0]), "%s %.300s%s%.80s", q.method,
					 q.target, q.auth[0] ? " " : "", q.auth);
			pthread_mutex_unlock(&s->mu);
			s->h(s, fd, &q);
		}
		free(q.body);
		close(fd);
	}
	return NULL;
}

static struct srv *srv_start(handler_fn h)
{
	struct srv *s = ferry_xcalloc(1, sizeof(*s));
	s->h = h;
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	getsockname(s->lfd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
	assert_int_equal(listen(s->lfd, 16), 0);
	pthread_create(&s->th, NULL, srv_main, s);
	return s;
}

static void srv_stop(struct srv *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->lfd);
	pthread_mutex_destroy(&s->mu);
	free(s->store);
	free(s);
}

/* How many logged requests start with prefix. */
static int srv_count(struct srv *s, const char *prefix)
{
	int c = 0;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->nlog; i++)
		c += strncasecmp(s->log[i], prefix, strlen(prefix)) == 0; /* %3A or %3a: the same */
	pthread_mutex_unlock(&s->mu);
	return c;
}

static void srv_dump(struct srv *s)
{
	for (int i = 0; i < s->nlog; i++)
		print_message("# %s\n", s->log[i]);
}

static ferry_registry *srv_open(struct srv *s, const char *creds, int retries)
{
	ferry_registry_opts o;
	ferry_registry_opts_init(&o);
	o.creds = creds;
	o.retries = retries;
	ferry_registry *r = NULL;
	ferry_error err = FERRY_ERROR_INIT;
	char dom[32];
	snprintf(dom, sizeof(dom), "127.0.0.1:%d", s->port);
	if (ferry_registry_open(dom, &o, &r, &err) < 0)
		fail_msg("open: %s", err.msg);
	return r;
}

static void store_append(struct srv *s, const void *b, size_t n)
{
	s->store = ferry_xrealloc(s->store, s->store_len + n + 1);
	memcpy(s->store + s->store_len, b, n);
	s->store_len += n;
}

/* ---- upload: chunks, a failed PATCH resumed from the Range, query kept ---- */

static void h_upload(struct srv *s, int fd, struct req *q)
{
	char hdr[512];
	if (strcmp(q->target, "/v2/") == 0)
		return respond(fd, 200, NULL, 0, NULL, 0);
	if (strcmp(q->method, "POST") == 0) {
		s->count[0]++;
		/* relative Location with a query, and a minimum chunk length */
		snprintf(hdr, sizeof(hdr), "Location: /v2/t/a/blobs/uploads/u1?_state=s0\r\n%s",
			 s->count[1] ? "OCI-Chunk-Min-Length: 1500\r\n" : "");
		return respond(fd, 202, hdr, 0, NULL, 0);
	}
	if (strcmp(q->method, "PATCH") == 0) {
		unsigned long long a = 0, b = 0;
		if (sscanf(q->content_range, "%llu-%llu", &a, &b) != 2 || a != s->store_len ||
		    b - a + 1 != q->body_len || strcmp(q->content_type, "application/octet-stream") != 0)
			return respond_json(fd, 416, NULL, "{\"errors\":[{\"code\":\"RANGE_INVALID\",\"message\":\"bad\"}]}");
		s->count[2]++;
		if (s->count[2] == 2 && !s->count[1]) {
			/* keep 300 bytes of the second chunk, then fail */
			store_append(s, q->body, 300);
			return respond(fd, 500, NULL, 0, NULL, 0);
		}
		store_append(s, q->body, q->body_len);
		snprintf(hdr, sizeof(hdr), "Location: %s/v2/t/a/blobs/uploads/u1?_state=p%d\r\nRange: 0-%zu\r\n", s->base,
			 s->count[2], s->store_len - 1);
		return respond(fd, 202, hdr, 0, NULL, 0);
	}
	if (strcmp(q->method, "GET") == 0 && strstr(q->target, "/blobs/uploads/u1")) {
		snprintf(hdr, sizeof(hdr), "Location: /v2/t/a/blobs/uploads/u1?_state=g\r\nRange: 0-%zu\r\n",
			 s->store_len - 1);
		return respond(fd, 204, hdr, 0, NULL, 0);
	}
	if (strcmp(q->method, "PUT") == 0) {
		store_append(s, q->body, q->body_len);
		ferry_digest d;
		ferry_digest_buffer(FERRY_ALG_SHA256, s->store, s->store_len, &d);
		char *want = reg_url_add_query("http://h/", "digest", d.str);
		bool ok = strstr(q->target, strchr(want, '?') + 1) != NULL;
		free(want);
		if (!ok)
			return respond_json(fd, 400, NULL, "{\"errors\":[{\"code\":\"DIGEST_INVALID\",\"message\":\"x\"}]}");
		snprintf(hdr, sizeof(hdr), "Docker-Content-Digest: %s\r\nLocation: /v2/t/a/blobs/%s\r\n", d.str, d.str);
		return respond(fd, 201, hdr, 0, NULL, 0);
	}
	if (strcmp(q->method, "DELETE") == 0)
		return respond(fd, 204, NULL, 0, NULL, 0);
	respond(fd, 404, NULL, 0, NULL, 0);
}

static void upload(ferry_registry *r, const unsigned char *data, size_t len, int *rc, ferry_error *err)
{
	ferry_digest d;
	ferry_digest_buffer(FERRY_ALG_SHA256, data, len, &d);
	ferry_upload *up;
	ferry_ostream *out;
	*rc = ferry_registry_upload_begin(r, "t/a", &up, &out, err);
	if (*rc < 0)
		return;
	for (size_t off = 0; off < len; off += 333) {
		if (ferry_write(out, data + off, len - off < 333 ? len - off : 333, err) < 0) {
			*rc = -1;
			ferry_registry_upload_abort(up);
			return;
		}
	}
	*rc = ferry_registry_upload_finish(up, &d, err);
}

static void test_upload_resume(void **state)
{
	(void)state;
	setenv("FERRY_UPLOAD_CHUNK_TEST", "1000", 1);
	unsigned char data[2500];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + i / 256);
	struct srv *s = srv_start(h_upload);
	ferry_registry *r = srv_open(s, NULL, 2);
	ferry_error err = FERRY_ERROR_INIT;
	int rc;
	upload(r, data, sizeof(data), &rc, &err);
	if (rc < 0) {
		srv_dump(s);
		fail_msg("upload: %s", err.msg);
	}
	assert_int_equal(s->store_len, sizeof(data));
	assert_memory_equal(s->store, data, sizeof(data));
	/* PATCH 0-999, PATCH 1000-1999 (fails after 300), GET status, PATCH 1300-1999, PATCH 2000-2499, PUT */
	assert_int_equal(srv_count(s, "PATCH"), 4);
	assert_int_equal(srv_count(s, "GET /v2/t/a/blobs/uploads/u1?_state=p1"), 1);
	assert_int_equal(srv_count(s, "PATCH /v2/t/a/blobs/uploads/u1?_state=g"), 1);
	assert_int_equal(srv_count(s, "PUT /v2/t/a/blobs/uploads/u1?_state=p4&digest=sha256%3A"), 1);

	/* OCI-Chunk-Min-Length raises the chunk size: 1500 + 1000 */
	free(s->store);
	s->store = NULL;
	s->store_len = 0;
	s->count[1] = 1;
	s->count[2] = 0;
	s->nlog = 0;
	upload(r, data, sizeof(data), &rc, &err);
	if (rc < 0)
		fail_msg("upload: %s", err.msg);
	assert_int_equal(srv_count(s, "PATCH"), 2);
	assert_memory_equal(s->store, data, sizeof(data));

	/* a small blob: POST then one PUT with the bytes */
	free(s->store);
	s->store = NULL;
	s->store_len = 0;
	s->nlog = 0;
	upload(r, data, 999, &rc, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(srv_count(s, "PATCH"), 0);
	assert_int_equal(srv_count(s, "PUT /v2/t/a/blobs/uploads/u1?_state=s0&digest="), 1);
	assert_int_equal(s->store_len, 999);

	ferry_registry_free(r);
	srv_stop(s);
	unsetenv("FERRY_UPLOAD_CHUNK_TEST");
}

/* ---- Bearer tokens: challenge, scopes, caching; Basic errors never show the secret ---- */

static void h_bearer(struct srv *s, int fd, struct req *q)
{
	char hdr[512];
	if (ferry_str_startswith(q->target, "/token?")) {
		s->count[0]++;
		if (!q->auth[0])
			return respond_json(fd, 200, NULL, "{\"token\":\"ANON\"}");
		/* "alice:pw" */
		if (strcmp(q->auth, "Basic YWxpY2U6cHc=") != 0)
			return respond_json(fd, 401, NULL, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad password\"}]}");
		char tok[64];
		snprintf(tok, sizeof(tok), "{\"access_token\":\"T%d\",\"expires_in\":3600}", s->count[0]);
		return respond_json(fd, 200, NULL, tok);
	}
	snprintf(hdr, sizeof(hdr),
		 "WWW-Authenticate: Bearer realm=\"%s/token\",service=\"svc\"%s\r\n", s->base,
		 strstr(q->target, "manifests") ? ",scope=\"repository:t/a:pull,push\",error=\"insufficient_scope\"" : "");
	if (!ferry_str_startswith(q->auth, "Bearer ") || strcmp(q->auth, "Bearer ANON") == 0)
		return respond_json(fd, 401, hdr, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}");
	if (strcmp(q->target, "/v2/") == 0)
		return respond(fd, 200, NULL, 0, NULL, 0);
	if (strcmp(q->method, "HEAD") == 0)
		return respond(fd, 200, "Content-Length: 5\r\n", 5, NULL, 0);
	if (strcmp(q->method, "PUT") == 0) {
		/* the manifest PUT needs the push token, the one fetched second or later */
		if (strcmp(q->auth, "Bearer T1") == 0)
			return respond_json(fd, 401, hdr, "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"need push\"}]}");
		return respond(fd, 201, NULL, 0, NULL, 0);
	}
	respond(fd, 404, NULL, 0, NULL, 0);
}

static void test_bearer(void **state)
{
	(void)state;
	struct srv *s = srv_start(h_bearer);
	ferry_registry *r = srv_open(s, "alice:pw", 0);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_digest d;
	ferry_digest_buffer(FERRY_ALG_SHA256, "hello", 5, &d);
	bool ex = false;
	uint64_t size = 0;
	for (int i = 0; i < 3; i++) {
		if (ferry_registry_blob_exists(r, "t/a", &d, &ex, &size, &err) < 0) {
			srv_dump(s);
			fail_msg("HEAD: %s", err.msg);
		}
		assert_true(ex);
		assert_int_equal(size, 5);
	}
	/* one token for the three HEADs, asked with service and scope */
	assert_int_equal(srv_count(s, "GET /token?service=svc&scope=repository%3At%2Fa%3Apull&account=alice "), 1);
	assert_int_equal(srv_count(s, "GET /token"), 1);
	assert_int_equal(srv_count(s, "HEAD /v2/t/a/blobs/sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e7304"
				      "3362938b9824 Bearer T1"), 3);
	assert_string_equal(ferry_registry_cred_source(r), "--creds");

	/* PUT asks for a pull,push token */
	const char *m = "{}";
	if (ferry_registry_manifest_put(r, "t/a", "v1", FERRY_MT_OCI_MANIFEST, m, 2, &err) < 0) {
		srv_dump(s);
		fail_msg("PUT: %s", err.msg);
	}
	assert_int_equal(srv_count(s, "GET /token?service=svc&scope=repository%3At%2Fa%3Apull%2Cpush"), 1);
	assert_int_equal(srv_count(s, "PUT /v2/t/a/manifests/v1 Bearer T2"), 1);
	ferry_registry_free(r);

	/* login: a token without scope proves the credentials */
	r = srv_open(s, "alice:pw", 0);
	assert_int_equal(ferry_registry_check_login(r, &err), 0);
	assert_int_equal(srv_count(s, "GET /token?service=svc&account=alice "), 1);
	ferry_registry_free(r);

	/* wrong password: the message names --creds and the token service, never the password */
	r = srv_open(s, "alice:hunter2", 0);
	assert_int_equal(ferry_registry_check_login(r, &err), -1);
	assert_null(strstr(err.msg, "hunter2"));
	assert_int_equal(ferry_registry_blob_exists(r, "t/a", &d, &ex, &size, &err), -1);
	assert_non_null(strstr(err.msg, "refused the credentials from --creds"));
	assert_non_null(strstr(err.msg, "bad password"));
	assert_null(strstr(err.msg, "hunter2"));
	ferry_registry_free(r);

	/* no credentials at all */
	r = srv_open(s, NULL, 0);
	assert_int_equal(ferry_registry_blob_exists(r, "t/a", &d, &ex, &size, &err), -1);
	assert_non_null(strstr(err.msg, "denied anonymous access"));
	ferry_registry_free(r);
	srv_stop(s);
}

static void h_basic(struct srv *s, int fd, struct req *q)
{
	(void)s;
	if (strcmp(q->auth, "Basic Ym9iOnMzY3JldA==") != 0) /* bob:s3cret */
		return respond_json(fd, 401, "WWW-Authenticate: Basic realm=\"r\"\r\n",
				    "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}");
	if (strcmp(q->target, "/v2/") == 0)
		return respond(fd, 200, NULL, 0, NULL, 0);
	if (strstr(q->target, "/denied/"))
		return respond_json(fd, 403, NULL,
				    "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"no\"},{\"code\":\"X\",\"message\":\"two\"}]}");
	respond(fd, 404, NULL, 0, NULL, 0);
}

static void test_basic(void **state)
{
	(void)state;
	struct srv *s = srv_start(h_basic);
	ferry_registry *r = srv_open(s, "bob:s3cret", 0);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_digest d;
	ferry_digest_buffer(FERRY_ALG_SHA256, "x", 1, &d);
	bool ex = true;
	assert_int_equal(ferry_registry_check_login(r, &err), 0);
	assert_int_equal(ferry_registry_blob_exists(r, "t/a", &d, &ex, NULL, &err), 0);
	assert_false(ex);
	/* HEAD answers carry no body: only the status */
	assert_int_equal(ferry_registry_blob_exists(r, "denied/a", &d, &ex, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "denied access with the credentials from --creds (HTTP 403)"));
	unsigned char *buf;
	size_t len;
	char *mt;
	assert_int_equal(ferry_registry_manifest_get(r, "denied/a", "v1", &buf, &len, &mt, &d, &err), -1);
	assert_non_null(strstr(err.msg, "denied access with the credentials from --creds"));
	assert_non_null(strstr(err.msg, "DENIED: no; X: two"));
	ferry_registry_free(r);

	r = srv_open(s, "bob:wrong-pw", 0);
	assert_int_equal(ferry_registry_check_login(r, &err), -1);
	assert_non_null(strstr(err.msg, "refused the credentials from --creds"));
	assert_int_equal(ferry_registry_blob_exists(r, "t/a", &d, &ex, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "refused the credentials from --creds"));
	assert_null(strstr(err.msg, "wrong-pw"));
	ferry_registry_free(r);

	r = srv_open(s, NULL, 0);
	assert_int_equal(ferry_registry_blob_exists(r, "t/a", &d, &ex, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "no credentials were found"));
	ferry_registry_free(r);
	srv_stop(s);
}

/* ---- retries ---- */

static void h_flaky(struct srv *s, int fd, struct req *q)
{
	if (strcmp(q->target, "/v2/") == 0)
		return respond(fd, 200, NULL, 0, NULL, 0);
	s->count[0]++;
	if (s->count[0] == 1)
		return respond(fd, 503, "Retry-After: 0\r\n", 0, NULL, 0);
	if (s->count[0] == 2)
		return respond(fd, 429, "Retry-After: Thu, 01 Jan 1970 00:00:00 GMT\r\n", 0, NULL, 0);
	if (s->count[0] == 3)
		return; /* connection closed without an answer */
	respond(fd, 200, "Content-Length: 7\r\n", 7, NULL, 0);
}

static void test_retries(void **state)
{
	(void)state;
	struct srv *s = srv_start(h_flaky);
	ferry_registry *r = srv_open(s, NULL, 3);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_digest d;
	ferry_digest_buffer(FERRY_ALG_SHA256, "x", 1, &d);
	bool ex = false;
	if (ferry_registry_blob_exists(r, "t/a", &d, &ex, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(ex);
	assert_int_equal(s->count[0], 4);
	ferry_registry_free(r);

	s->count[0] = 0;
	r = srv_open(s, NULL, 0);
	assert_int_equal(ferry_registry_blob_exists(r, "t/a", &d, &ex, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "HTTP 503"));
	assert_int_equal(s->count[0], 1);
	ferry_registry_free(r);
	srv_stop(s);
}

/* ---- manifests ---- */

static const char manifest_body[] = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
				    "\"manifests\":[]}";

static void h_manifest(struct srv *s, int fd, struct req *q)
{
	(void)s;
	char hdr[512];
	ferry_digest d;
	ferry_digest_buffer(FERRY_ALG_SHA256, manifest_body, strlen(manifest_body), &d);
	if (strcmp(q->target, "/v2/") == 0)
		return respond(fd, 200, NULL, 0, NULL, 0);
	if (strcmp(q->target, "/v2/t/a/manifests/good") == 0 || ferry_str_endswith(q->target, d.str)) {
		snprintf(hdr, sizeof(hdr), "Content-Type: " FERRY_MT_OCI_INDEX "; charset=utf-8\r\nDocker-Content-Digest: %s\r\n",
			 d.str);
		return respond(fd, 200, hdr, strlen(manifest_body), manifest_body, strlen(manifest_body));
	}
	if (strcmp(q->target, "/v2/t/a/manifests/untyped") == 0)
		return respond(fd, 200, "Content-Type: application/json\r\n", strlen(manifest_body), manifest_body,
			       strlen(manifest_body));
	if (strcmp(q->target, "/v2/t/a/manifests/liar") == 0) {
		snprintf(hdr, sizeof(hdr), "Content-Type: " FERRY_MT_OCI_INDEX "\r\nDocker-Content-Digest: sha256:%064d\r\n", 0);
		return respond(fd, 200, hdr, strlen(manifest_body), manifest_body, strlen(manifest_body));
	}
	if (strcmp(q->target, "/v2/t/a/manifests/huge") == 0) {
		size_t n = FERRY_JSON_MAX + 1;
		char *big = ferry_xmalloc(n);
		memset(big, ' ', n);
		respond(fd, 200, "Content-Type: " FERRY_MT_OCI_INDEX "\r\n", n, big, n);
		free(big);
		return;
	}
	if (strcmp(q->method, "PUT") == 0) {
		ferry_digest got;
		ferry_digest_buffer(FERRY_ALG_SHA256, q->body, q->body_len, &got);
		if (strcmp(q->content_type, FERRY_MT_OCI_INDEX) != 0)
			return respond(fd, 400, NULL, 0, NULL, 0);
		snprintf(hdr, sizeof(hdr), "Docker-Content-Digest: %s\r\n",
			 strstr(q->target, "/liar") ? "sha256:0000000000000000000000000000000000000000000000000000000000000000"
						    : got.str);
		return respond(fd, 201, hdr, 0, NULL, 0);
	}
	respond_json(fd, 404, NULL, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}");
}

static void test_manifests(void **state)
{
	(void)state;
	struct srv *s = srv_start(h_manifest);
	ferry_registry *r = srv_open(s, NULL, 0);
	ferry_error err = FERRY_ERROR_INIT;
	unsigned char *buf;
	size_t len;
	char *mt;
	ferry_digest d, want;
	ferry_digest_buffer(FERRY_ALG_SHA256, manifest_body, strlen(manifest_body), &want);

	assert_int_equal(ferry_registry_manifest_get(r, "t/a", "good", &buf, &len, &mt, &d, &err), 0);
	assert_int_equal(len, strlen(manifest_body));
	assert_memory_equal(buf, manifest_body, len);
	assert_string_equal(mt, FERRY_MT_OCI_INDEX);
	assert_true(ferry_digest_eq(&d, &want));
	free(buf);
	free(mt);
	assert_int_equal(ferry_registry_manifest_get(r, "t/a", want.str, &buf, &len, &mt, &d, &err), 0);
	free(buf);
	free(mt);
	assert_int_equal(ferry_registry_manifest_get(r, "t/a", "untyped", &buf, &len, &mt, &d, &err), 0);
	assert_string_equal(mt, FERRY_MT_OCI_INDEX); /* from the document */
	free(buf);
	free(mt);

	assert_int_equal(ferry_registry_manifest_get(r, "t/a", "liar", &buf, &len, &mt, &d, &err), -1);
	assert_int_equal(err.code, FERRY_E_INTEGRITY);
	assert_null(buf);
	char other[80];
	snprintf(other, sizeof(other), "sha256:%064d", 1);
	assert_int_equal(ferry_registry_manifest_get(r, "t/a", other, &buf, &len, &mt, &d, &err), -1);
	assert_int_equal(err.code, FERRY_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "said MANIFEST_UNKNOWN: manifest unknown"));
	assert_int_equal(ferry_registry_manifest_get(r, "t/a", "huge", &buf, &len, &mt, &d, &err), -1);
	assert_int_equal(err.code, FERRY_E_LIMIT);
	assert_int_equal(ferry_registry_manifest_get(r, "t/a", "bad tag!", &buf, &len, &mt, &d, &err), -1);
	assert_int_equal(err.code, FERRY_E_USAGE);

	assert_int_equal(ferry_registry_manifest_put(r, "t/a", "v1", FERRY_MT_OCI_INDEX, manifest_body,
						     strlen(manifest_body), &err), 0);
	assert_int_equal(ferry_registry_manifest_put(r, "t/liar", "v1", FERRY_MT_OCI_INDEX, manifest_body,
						     strlen(manifest_body), &err), -1);
	assert_int_equal(err.code, FERRY_E_INTEGRITY);
	/* by digest: the bytes must match it */
	assert_int_equal(ferry_registry_manifest_put(r, "t/a", other, FERRY_MT_OCI_INDEX, manifest_body,
						     strlen(manifest_body), &err), -1);
	assert_int_equal(err.code, FERRY_E_INTEGRITY);
	ferry_registry_free(r);
	srv_stop(s);
}

/* ---- downloads: resume after a cut, Range ignored, redirect, wrong bytes ---- */

#define BLOB_LEN 300000

static unsigned char blob[BLOB_LEN];

static void h_blob(struct srv *s, int fd, struct req *q)
{
	char hdr[512];
	if (strcmp(q->target, "/v2/") == 0)
		return respond(fd, 200, NULL, 0, NULL, 0);
	if (strstr(q->target, "/v2/t/redir/")) {
		/* another host name for the same server: curl must not pass our Authorization on */
		snprintf(hdr, sizeof(hdr), "Location: http://localhost:%d/data/%s\r\n", s->port,
			 strrchr(q->target, '/') + 1);
		return respond(fd, 307, hdr, 0, NULL, 0);
	}
	if (strstr(q->target, "/bad/")) {
		unsigned char copy[1000];
		memcpy(copy, blob, sizeof(copy));
		copy[500] ^= 1;
		return respond(fd, 200, NULL, sizeof(copy), copy, sizeof(copy));
	}
	s->count[0]++;
	unsigned long long from = 0;
	if (q->range[0] && sscanf(q->range, "bytes=%llu-", &from) == 1 && !strstr(q->target, "/norange/")) {
		snprintf(hdr, sizeof(hdr), "Content-Range: bytes %llu-%d/%d\r\n", from, BLOB_LEN - 1, BLOB_LEN);
		return respond(fd, 206, hdr, BLOB_LEN - from, blob + from, BLOB_LEN - from);
	}
	/* the first answer stops half-way */
	respond(fd, 200, NULL, BLOB_LEN, blob, s->count[0] == 1 ? BLOB_LEN / 2 : BLOB_LEN);
}

static void download(ferry_registry *r, const char *repo, size_t n, int *rc, ferry_error *err, unsigned char *out,
		     size_t *got)
{
	ferry_digest d;
	ferry_digest_buffer(FERRY_ALG_SHA256, blob, n, &d);
	ferry_istream *in;
	uint64_t size;
	*got = 0;
	*rc = ferry_registry_blob_open(r, repo, &d, &in, &size, err);
	if (*rc < 0)
		return;
	ssize_t k;
	while ((k = ferry_read(in, out + *got, 7777, err)) > 0)
		*got += (size_t)k;
	*rc = k < 0 ? -1 : 0;
	ferry_istream_close(in);
}

static void test_download(void **state)
{
	(void)state;
	for (size_t i = 0; i < BLOB_LEN; i++)
		blob[i] = (unsigned char)(i * 31 + (i >> 9));
	unsigned char *out = ferry_xmalloc(BLOB_LEN + 8000);
	struct srv *s = srv_start(h_blob);
	ferry_registry *r = srv_open(s, NULL, 2);
	ferry_error err = FERRY_ERROR_INIT;
	int rc;
	size_t got;

	download(r, "t/a", BLOB_LEN, &rc, &err, out, &got);
	if (rc < 0) {
		srv_dump(s);
		fail_msg("%s", err.msg);
	}
	assert_int_equal(got, BLOB_LEN);
	assert_memory_equal(out, blob, BLOB_LEN);
	assert_int_equal(s->count[0], 2); /* resumed once */

	s->count[0] = 0;
	download(r, "t/norange", BLOB_LEN, &rc, &err, out, &got);
	if (rc < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(got, BLOB_LEN);
	assert_memory_equal(out, blob, BLOB_LEN);

	s->count[0] = 1; /* no cut this time */
	download(r, "t/redir", BLOB_LEN, &rc, &err, out, &got);
	if (rc < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(got, BLOB_LEN);

	download(r, "t/bad", 1000, &rc, &err, out, &got);
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, FERRY_E_INTEGRITY);
	ferry_registry_free(r);

	/* with credentials, the redirect target must not see them */
	s->nlog = 0;
	r = srv_open(s, "u:topsecret", 2);
	download(r, "t/redir", BLOB_LEN, &rc, &err, out, &got);
	assert_int_equal(rc, 0);
	assert_int_equal(srv_count(s, "GET /data/"), 1);
	for (int i = 0; i < s->nlog; i++)
		if (ferry_str_startswith(s->log[i], "GET /data/"))
			assert_null(strstr(s->log[i], "Basic"));
	ferry_registry_free(r);
	srv_stop(s);
	free(out);
}

/* ---- tags: pagination over Link ---- */

static void h_tags(struct srv *s, int fd, struct req *q)
{
	char hdr[256];
	if (strcmp(q->target, "/v2/") == 0)
		return respond(fd, 200, NULL, 0, NULL, 0);
	if (strcmp(q->target, "/v2/t/a/tags/list") == 0)
		return respond_json(fd, 200, "Link: </v2/t/a/tags/list?last=b&n=2>; rel=\"next\"\r\n",
				    "{\"name\":\"t/a\",\"tags\":[\"a\",\"b\"]}");
	if (strcmp(q->target, "/v2/t/a/tags/list?last=b&n=2") == 0)
		return respond_json(fd, 200, NULL, "{\"name\":\"t/a\",\"tags\":[\"c\"]}");
	if (strcmp(q->target, "/v2/t/empty/tags/list") == 0)
		return respond_json(fd, 200, NULL, "{\"name\":\"t/empty\",\"tags\":null}");
	if (strcmp(q->target, "/v2/t/away/tags/list") == 0) {
		snprintf(hdr, sizeof(hdr), "Link: <http://localhost:%d/v2/t/away/tags/list?last=x>; rel=\"next\"\r\n",
			 s->port);
		return respond_json(fd, 200, hdr, "{\"name\":\"t/away\",\"tags\":[\"x\"]}");
	}
	respond_json(fd, 404, NULL, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known\"}]}");
}

static void test_tags(void **state)
{
	(void)state;
	struct srv *s = srv_start(h_tags);
	ferry_registry *r = srv_open(s, NULL, 0);
	ferry_error err = FERRY_ERROR_INIT;
	char **tags;
	size_t n;
	assert_int_equal(ferry_registry_tags(r, "t/a", &tags, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(tags[0], "a");
	assert_string_equal(tags[2], "c");
	for (size_t i = 0; i < n; i++)
		free(tags[i]);
	free(tags);
	assert_int_equal(ferry_registry_tags(r, "t/empty", &tags, &n, &err), 0);
	assert_int_equal(n, 0);
	free(tags);
	assert_int_equal(ferry_registry_tags(r, "t/away", &tags, &n, &err), -1);
	assert_non_null(strstr(err.msg, "another host"));
	assert_int_equal(ferry_registry_tags(r, "t/none", &tags, &n, &err), -1);
	assert_int_equal(err.code, FERRY_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "NAME_UNKNOWN"));
	ferry_registry_free(r);
	srv_stop(s);
}

int main(void)
{
	/* ferry may close a connection before the fake server has written all (a body refused from its header). */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_parse_bearer),
		cmocka_unit_test(test_auth_parse_garbage),
		cmocka_unit_test(test_location),
		cmocka_unit_test(test_trace_redacts),
		cmocka_unit_test(test_base64_loopback),
		cmocka_unit_test(test_headers),
		cmocka_unit_test_setup_teardown(test_creds_cli, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_creds_files, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_creds_helpers, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_login_logout, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_open, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_unreachable, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_upload_resume, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_bearer, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_basic, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_retries, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_manifests, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_download, creds_setup, creds_teardown),
		cmocka_unit_test_setup_teardown(test_tags, creds_setup, creds_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(old_path);
	return rc;
}
