/*
 * serve_http.c - the server around the API: the listening socket (plain
 * HTTP on loopback only), TLS, Basic auth, one access-log line per request,
 * and the signals (SIGTERM: finish what is in flight; SIGINT: stop now).
 *
 * HTTP itself is libmicrohttpd's: a pool of threads on epoll, each
 * connection in a small fixed memory pool, blob bytes sent with sendfile
 * from the source file.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "readfile.h"
#include "serve_api.h"
#include "stream.h"
#include "util.h"

#define POOL_THREADS 4
#define CONN_LIMIT 1000
#define CONN_TIMEOUT 60 /* seconds a connection may sit idle */
#define PEM_MAX (1u << 20)
#define LOG_URL_MAX 512

typedef struct server {
	serve_index *ix;
	const serve_opts *o;
	serve_auth *auth;
	atomic_int in_flight;
	atomic_bool draining;
	pthread_mutex_t log_lock;
} server;

typedef struct request {
	struct timespec start;
	char url[LOG_URL_MAX];
	char method[12];
	char *user;
	unsigned status;
	uint64_t bytes;
	bool seen;     /* the headers were handed over once */
	bool answered;
} request;

/* ---- listening ---- */

static int resolve_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, ferry_error *err)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host) || !colon[1])
		return ferry_error_set(err, FERRY_E_USAGE, "--listen %s: expected HOST:PORT", listen);
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = 0;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
	int r = getaddrinfo(host, colon + 1, &hints, &res);
	if (r != 0)
		return ferry_error_set(err, FERRY_E_USAGE, "--listen %s: %s", listen, gai_strerror(r));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int open_listener(const serve_opts *o, bool tls, int *fd_out, char *url, size_t url_len, ferry_error *err)
{
	const char *listen_s = o->listen ? o->listen : "127.0.0.1:5000";
	struct sockaddr_storage ss;
	socklen_t len;
	char host[INET6_ADDRSTRLEN + 2] = "?", port[16] = "?";
	if (resolve_listen(listen_s, &ss, &len, err) < 0)
		return -1;
	getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	if (!tls && !ferry_is_loopback(host))
		return ferry_error_set(err, FERRY_E_USAGE,
				       "--listen %s is not a loopback address: plain HTTP is served on loopback only "
				       "(give --tls-cert and --tls-key)",
				       listen_s);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return ferry_error_errno(err, e, "cannot listen on %s", listen_s);
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(url, url_len, "%s://%s%s%s:%s", tls ? "https" : "http", ss.ss_family == AF_INET6 ? "[" : "", host,
		 ss.ss_family == AF_INET6 ? "]" : "", port);
	*fd_out = fd;
	return 0;
}

/* ---- the access log ---- */

static void client_address(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(buf, len, "-");
	if (ci && ci->client_addr) {
		socklen_t sl = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								       : sizeof(struct sockaddr_in);
		getnameinfo(ci->client_addr, sl, buf, (socklen_t)len, NULL, 0, NI_NUMERICHOST);
	}
}

static void log_request(server *s, struct MHD_Connection *c, const request *r)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double secs = (double)(now.tv_sec - r->start.tv_sec) + (double)(now.tv_nsec - r->start.tv_nsec) / 1e9;
	time_t t = time(NULL);
	struct tm tm;
	char ts[32], client[INET6_ADDRSTRLEN];
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	client_address(c, client, sizeof(client));
	pthread_mutex_lock(&s->log_lock);
	if (s->o->json) {
		json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:i, s:I, s:f}", "time", ts, "client", client,
					 "method", r->method, "url", r->url, "user", r->user, "status", (int)r->status, "bytes",
					 (json_int_t)r->bytes, "seconds", secs);
		char *txt = json_dumps(line, JSON_COMPACT);
		if (txt)
			printf("%s\n", txt);
		fflush(stdout);
		free(txt);
		json_decref(line);
	} else {
		fprintf(stderr, "%s %s %s \"%s %s\" %u %llu %.3fs\n", ts, client, r->user ? r->user : "-", r->method, r->url,
			r->status, (unsigned long long)r->bytes, secs);
	}
	pthread_mutex_unlock(&s->log_lock);
}

/* ---- the request callbacks ---- */

/* Called first for every request, with the URL as sent: the log keeps it printable. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)c;
	server *s = cls;
	request *r = ferry_xcalloc(1, sizeof(*r));
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	size_t i = 0;
	for (; uri && uri[i] && i < LOG_URL_MAX - 1; i++)
		r->url[i] = (uri[i] > 0x20 && uri[i] < 0x7f && uri[i] != '"' && uri[i] != '\\') ? uri[i] : '?';
	r->url[i] = 0;
	snprintf(r->method, sizeof(r->method), "-");
	atomic_fetch_add(&s->in_flight, 1);
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	server *s = cls;
	request *r = *req_cls;
	if (!r)
		return;
	if (!r->answered)
		r->status = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408 : 499;
	if (!s->o->quiet)
		log_request(s, c, r);
	free(r->user);
	free(r);
	*req_cls = NULL;
	atomic_fetch_sub(&s->in_flight, 1);
}

/*
 * Percent-decoding of the path, by libcurl.  A decoded NUL would cut the
 * path short and make it name something else: such a path becomes one no
 * route takes.
 */
static size_t unescape(void *cls, struct MHD_Connection *c, char *uri)
{
	(void)cls, (void)c;
	int len = 0;
	char *dec = curl_easy_unescape(NULL, uri, 0, &len);
	if (!dec)
		return strlen(uri); /* left escaped: no route takes a '%' */
	if (memchr(dec, 0, (size_t)len)) {
		curl_free(dec);
		strcpy(uri, "/!"); /* shorter than any URI holding an escape */
		return 2;
	}
	memcpy(uri, dec, (size_t)len + 1); /* never longer than the escaped form */
	curl_free(dec);
	return (size_t)len;
}

/* Basic auth: true when the request may go on; else a 401 is queued. */
static bool authorised(server *s, struct MHD_Connection *c, request *r, enum MHD_Result *ret)
{
	if (!s->auth)
		return true;
	char *pass = NULL;
	char *user = MHD_basic_auth_get_username_password(c, &pass);
	bool ok = user && serve_auth_check(s->auth, user, pass);
	if (user)
		r->user = ferry_xstrdup(user);
	MHD_free(user);
	MHD_free(pass);
	if (ok)
		return true;
	serve_answer a;
	serve_api_error(&a, MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED", "authentication required");
	MHD_add_response_header(a.resp, "Docker-Distribution-API-Version", "registry/2.0");
	*ret = MHD_queue_basic_auth_fail_response(c, "ferry", a.resp);
	MHD_destroy_response(a.resp);
	r->status = MHD_HTTP_UNAUTHORIZED;
	r->bytes = a.bytes;
	r->answered = true;
	return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	(void)version, (void)upload_data;
	server *s = cls;
	request *r = *req_cls;
	bool reads = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
	if (!r->seen && reads) {
		/*
		 * A response queued at the very first call makes MHD close the
		 * connection afterwards: right for a refused write (its body is
		 * never read), wrong for reads, which keep the connection alive.
		 */
		r->seen = true;
		return MHD_YES;
	}
	if (r->answered) {
		*upload_data_size = 0; /* a write's body, refused already: dropped */
		return MHD_YES;
	}
	snprintf(r->method, sizeof(r->method), "%.10s", method);
	enum MHD_Result ret = MHD_NO;
	if (!authorised(s, c, r, &ret))
		return ret;
	serve_answer a;
	serve_api_answer(s->ix, c, method, url, &a);
	if (a.problem[0]) {
		pthread_mutex_lock(&s->log_lock);
		fprintf(stderr, "ferry: %s\n", a.problem);
		pthread_mutex_unlock(&s->log_lock);
	}
	if (atomic_load(&s->draining))
		MHD_add_response_header(a.resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, a.status, a.resp);
	MHD_destroy_response(a.resp);
	*upload_data_size = 0;
	r->status = a.status;
	r->bytes = a.bytes;
	r->answered = true;
	return ret;
}

/* ---- start, run, stop ---- */

/* More descriptors: each connection may hold a blob's fd besides its socket. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct MHD_Daemon *start_daemon(server *s, int listen_fd, const char *cert, const char *key)
{
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC;
	if (cert)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem tls[] = {
		{cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cert},
		{cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)key},
		{MHD_OPTION_END, 0, NULL},
	};
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, listen_fd,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT,
				MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
				MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
}

static void banner(const serve_opts *o, serve_index *ix, const char *url)
{
	json_t *names = serve_index_names(ix);
	if (o->json) {
		json_t *doc = json_pack("{s:s, s:s, s:O}", "event", "listening", "url", url, "images", names);
		char *txt = json_dumps(doc, JSON_COMPACT);
		printf("%s\n", txt);
		fflush(stdout);
		free(txt);
		json_decref(doc);
	} else if (!o->quiet) {
		fprintf(stderr, "ferry: serving %s (read-only)\n", url);
		size_t i;
		json_t *n;
		json_array_foreach(names, i, n)
			fprintf(stderr, "  %s\n", json_string_value(n));
		fprintf(stderr, "ferry: SIGTERM finishes the requests in flight and stops; SIGINT stops at once\n");
	}
	json_decref(names);
}

/* Wait for a signal; after SIGTERM (or SIGHUP), until what is in flight is done. true: stopped by SIGINT. */
static bool wait_for_signals(server *s, struct MHD_Daemon *d, int *listen_fd)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	int sig = 0;
	while (sigwait(&set, &sig) != 0)
		;
	if (sig == SIGINT) {
		ferry_interrupted = 1; /* the exit status says so: 130 */
		return true;
	}
	atomic_store(&s->draining, true);
	*listen_fd = MHD_quiesce_daemon(d); /* no new connections; the socket is ours again */
	struct timespec tick = {0, 20 * 1000 * 1000};
	while (atomic_load(&s->in_flight) > 0) {
		if (sigtimedwait(&set, NULL, &tick) == SIGINT) {
			ferry_interrupted = 1;
			return true;
		}
	}
	return false;
}

int serve_run(serve_index *ix, const serve_opts *o, ferry_error *err)
{
	server s = {.ix = ix, .o = o};
	pthread_mutex_init(&s.log_lock, NULL);
	char *cert = NULL, *key = NULL;
	int listen_fd = -1, rc = -1;
	char url[128];
	size_t len;
	if (o->tls_cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		ferry_error_set(err, FERRY_E_USAGE,
				"this ferry's libmicrohttpd has no TLS (the static build): --tls-cert needs the packaged ferry");
		goto out;
	}
	if (o->tls_cert && (ferry_read_file(o->tls_cert, PEM_MAX, &cert, &len, err) < 0 ||
			    ferry_read_file(o->tls_key, PEM_MAX, &key, &len, err) < 0))
		goto out;
	if (o->htpasswd && serve_auth_load(o->htpasswd, &s.auth, err) < 0)
		goto out;
	if (open_listener(o, cert != NULL, &listen_fd, url, sizeof(url), err) < 0)
		goto out;
	raise_fd_limit();
	/* Signals go to sigwait here, never to the server's threads (they inherit the mask). */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	struct MHD_Daemon *d = start_daemon(&s, listen_fd, cert, key);
	if (!d) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		ferry_error_set(err, FERRY_E_FAILED, "cannot start the HTTP server on %s%s", url,
				cert ? " (is the certificate or key malformed?)" : "");
		goto out;
	}
	banner(o, ix, url);
	listen_fd = -1; /* MHD closes it, unless quiesced */
	bool interrupted = wait_for_signals(&s, d, &listen_fd);
	MHD_stop_daemon(d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	rc = interrupted ? ferry_error_set(err, FERRY_E_FAILED, "interrupted") : 0;
out:
	if (listen_fd >= 0)
		close(listen_fd);
	serve_auth_free(s.auth);
	free(cert);
	if (key)
		explicit_bzero(key, strlen(key));
	free(key);
	pthread_mutex_destroy(&s.log_lock);
	return rc;
}
