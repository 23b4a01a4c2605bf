/*
 * registry/auth.c - WWW-Authenticate challenges, Basic credentials and
 * Bearer tokens.
 *
 * Tokens are fetched from the challenge's realm for a set of scopes
 * ("repository:team/app:pull,push") and cached under that set until shortly
 * before they expire, in a cache a connection shares with its siblings.  With a username and password the token request is a
 * GET with Basic credentials; with an identity token (from `docker login` to
 * a registry that issues them) it is an OAuth2 refresh_token POST.
 */
#include "registry/internal.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "util.h"

#define TOKEN_CACHE_MAX 256 /* a push of many repositories needs a token or two for each */
#define TOKEN_BODY_MAX (1u << 20)
#define TOKEN_DEFAULT_TTL 60 /* seconds, when the answer has no expires_in (as the spec says) */

/* ---- WWW-Authenticate ---- */

static bool tchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool t68char(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("-._~+/", c));
}

static void ows(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

void ferry_auth_free(ferry_auth_challenge *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].scheme);
		free(c[i].realm);
		free(c[i].service);
		free(c[i].scope);
	}
	free(c);
}

/* Is p at "token OWS =" (an auth-param) rather than a new scheme? */
static bool at_param(const char *p)
{
	const char *q = p;
	while (tchar(*q))
		q++;
	if (q == p)
		return false;
	ows(&q);
	return *q == '=';
}

/* token68 after a scheme: the run of token68 characters and '=' padding must end the challenge. */
static bool skip_token68(const char **pp)
{
	const char *p = *pp;
	while (t68char(*p))
		p++;
	if (p == *pp)
		return false;
	while (*p == '=')
		p++;
	const char *q = p;
	ows(&q);
	if (*q != ',' && *q != '\0')
		return false;
	*pp = q;
	return true;
}

/* Parse a parameter value at *pp into a new string; NULL when malformed. */
static char *param_value(const char **pp)
{
	const char *p = *pp;
	if (*p == '"') {
		p++;
		size_t cap = strlen(p) + 1, n = 0;
		char *v = ferry_xmalloc(cap);
		for (;;) {
			if (*p == '\0') {
				free(v);
				return NULL; /* unterminated */
			}
			if (*p == '"')
				break;
			if (*p == '\\') {
				p++;
				if (*p == '\0') {
					free(v);
					return NULL;
				}
			}
			v[n++] = *p++;
		}
		v[n] = '\0';
		*pp = p + 1;
		return v;
	}
	/*
	 * Unquoted: a token by the RFC, but registries have been seen sending
	 * bare URLs, so take anything up to a separator.
	 */
	const char *s = p;
	while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '"' && (unsigned char)*p > ' ')
		p++;
	if (p == s)
		return NULL;
	*pp = p;
	return ferry_xstrndup(s, (size_t)(p - s));
}

static void set_param(ferry_auth_challenge *c, const char *name, size_t nlen, char *value)
{
	char **dst = NULL;
	if (nlen == 5 && strncasecmp(name, "realm", 5) == 0)
		dst = &c->realm;
	else if (nlen == 7 && strncasecmp(name, "service", 7) == 0)
		dst = &c->service;
	else if (nlen == 5 && strncasecmp(name, "scope", 5) == 0)
		dst = &c->scope;
	if (!dst) {
		free(value);
		return;
	}
	if (*dst && dst == &c->scope) {
		/* Several scope parameters: one space-separated set. */
		char *both = ferry_xasprintf("%s %s", *dst, value);
		free(*dst);
		free(value);
		*dst = both;
	} else {
		free(*dst);
		*dst = value;
	}
}

int ferry_auth_parse(const char *header, ferry_auth_challenge **out, size_t *n, ferry_error *err)
{
	ferry_auth_challenge *list = NULL;
	size_t cnt = 0, cap = 0;
	const char *p = header ? header : "";
	const char *why = NULL;

	for (;;) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		const char *s = p;
		while (tchar(*p))
			p++;
		if (p == s) {
			why = "expected an authentication scheme";
			goto bad;
		}
		ferry_auth_challenge *c = FERRY_PUSH(list, cnt, cap);
		memset(c, 0, sizeof(*c));
		c->scheme = ferry_xstrndup(s, (size_t)(p - s));
		for (char *q = c->scheme; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		if (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t') {
			why = "bad character after the scheme";
			goto bad;
		}
		ows(&p);
		if (*p == '\0' || *p == ',')
			continue;
		if (!at_param(p)) {
			if (!skip_token68(&p)) {
				why = "expected name=value parameters";
				goto bad;
			}
			continue;
		}
		/* auth-params, until the string ends or a new scheme starts */
		for (;;) {
			const char *nm = p;
			while (tchar(*p))
				p++;
			size_t nlen = (size_t)(p - nm);
			ows(&p);
			p++; /* the '=' at_param() saw */
			ows(&p);
			char *v = param_value(&p);
			if (!v) {
				why = *p == '"' ? "unterminated quoted string" : "parameter without a value";
				goto bad;
			}
			set_param(c, nm, nlen, v);
			ows(&p);
			if (*p == '\0')
				break;
			if (*p != ',') {
				why = "expected ',' between parameters";
				goto bad;
			}
			while (*p == ',' || *p == ' ' || *p == '\t')
				p++;
			if (*p == '\0' || !at_param(p))
				break; /* end, or the next challenge's scheme */
		}
	}
	if (cnt == 0) {
		why = "no challenge";
		goto bad;
	}
	*out = list;
	*n = cnt;
	return 0;
bad:
	ferry_auth_free(list, cnt);
	*out = NULL;
	*n = 0;
	return ferry_error_set(err, FERRY_E_FORMAT, "cannot parse the registry's WWW-Authenticate header: %s at offset %zu",
			       why, (size_t)(p - (header ? header : "")));
}

/* ---- scopes ---- */

struct scope_item {
	char *resource; /* "repository:team/app" */
	char *actions;  /* "pull,push" (sorted, no duplicates) */
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct scope_item *)a)->resource, ((const struct scope_item *)b)->resource);
}

/* Sorted, de-duplicated union of the actions in a and b (comma lists). */
static char *merge_actions(const char *a, const char *b)
{
	char *all = ferry_xasprintf("%s,%s", a ? a : "", b ? b : "");
	char **v = NULL;
	size_t n = 0, cap = 0;
	for (char *save = NULL, *t = strtok_r(all, ",", &save); t; t = strtok_r(NULL, ",", &save))
		*FERRY_PUSH(v, n, cap) = t;
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	char *out = ferry_xmalloc(len);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
			continue;
		if (out[0])
			strcat(out, ",");
		strcat(out, v[i]);
	}
	free(v);
	free(all);
	return out;
}

/* Canonical form of a space-separated scope set: resources sorted, actions merged. */
static char *scope_canon(const char *scope)
{
	struct scope_item *items = NULL;
	size_t n = 0, cap = 0;
	char *copy = ferry_xstrdup(scope ? scope : "");
	for (char *save = NULL, *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		/* type:name:actions, the name may hold ':' (a registry port) */
		char *last = strrchr(t, ':');
		char *res, *act;
		if (!last || last == t || !strchr(t, ':') || strchr(t, ':') == last) {
			res = t;
			act = NULL;
		} else {
			*last = '\0';
			res = t;
			act = last + 1;
		}
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(items[i].resource, res) == 0)
				break;
		if (i == n) {
			struct scope_item *it = FERRY_PUSH(items, n, cap);
			it->resource = ferry_xstrdup(res);
			it->actions = merge_actions(act, NULL);
		} else {
			char *m = merge_actions(items[i].actions, act);
			free(items[i].actions);
			items[i].actions = m;
		}
	}
	free(copy);
	if (n > 1)
		qsort(items, n, sizeof(*items), cmp_item);
	char *out = ferry_xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *next = ferry_xasprintf("%s%s%s%s%s", out, i ? " " : "", items[i].resource,
					     items[i].actions[0] ? ":" : "", items[i].actions);
		free(out);
		out = next;
		free(items[i].resource);
		free(items[i].actions);
	}
	free(items);
	return out;
}

/* ---- token cache ---- */

struct reg_token_cache *reg_token_cache_new(void)
{
	struct reg_token_cache *tc = ferry_xcalloc(1, sizeof(*tc));
	pthread_mutex_init(&tc->mu, NULL);
	pthread_cond_init(&tc->fetched, NULL);
	tc->refs = 1;
	return tc;
}

struct reg_token_cache *reg_token_cache_ref(struct reg_token_cache *tc)
{
	pthread_mutex_lock(&tc->mu);
	tc->refs++;
	pthread_mutex_unlock(&tc->mu);
	return tc;
}

/* Under tc->mu. */
static void token_drop(struct reg_token_cache *tc, size_t i)
{
	free(tc->tokens[i].scope);
	ferry_free_secret(tc->tokens[i].token);
	memmove(&tc->tokens[i], &tc->tokens[i + 1], (tc->n - i - 1) * sizeof(*tc->tokens));
	tc->n--;
}

void reg_token_cache_unref(struct reg_token_cache *tc)
{
	if (!tc)
		return;
	pthread_mutex_lock(&tc->mu);
	bool last = --tc->refs == 0;
	pthread_mutex_unlock(&tc->mu);
	if (!last)
		return;
	while (tc->n)
		token_drop(tc, tc->n - 1);
	free(tc->tokens);
	pthread_cond_destroy(&tc->fetched);
	pthread_mutex_destroy(&tc->mu);
	free(tc);
}

void reg_tokens_clear(ferry_registry *r)
{
	struct reg_token_cache *tc = r->tc;
	pthread_mutex_lock(&tc->mu);
	/* Entries being fetched stay: their fetchers fill or drop them. */
	for (size_t i = tc->n; i-- > 0;)
		if (tc->tokens[i].token)
			token_drop(tc, i);
	pthread_mutex_unlock(&tc->mu);
}

/* The entry for canon, or -1.  Under tc->mu. */
static ssize_t token_index(struct reg_token_cache *tc, const char *canon)
{
	for (size_t i = 0; i < tc->n; i++)
		if (strcmp(tc->tokens[i].scope, canon) == 0)
			return (ssize_t)i;
	return -1;
}

/* Forget the token for canon (the registry refused it), unless it is being fetched. */
static void token_forget(ferry_registry *r, const char *canon)
{
	struct reg_token_cache *tc = r->tc;
	pthread_mutex_lock(&tc->mu);
	ssize_t i = token_index(tc, canon);
	if (i >= 0 && tc->tokens[i].token)
		token_drop(tc, (size_t)i);
	pthread_mutex_unlock(&tc->mu);
}

/* ---- fetching a token ---- */

static bool realm_may_see_secrets(ferry_registry *r, const char *realm)
{
	char *scheme, *host, *port;
	if (reg_url_parts(realm, &scheme, &host, &port) < 0)
		return false;
	bool ok = strcmp(scheme, "https") == 0;
	if (!ok) {
		/* Plain http: only to a loopback or explicitly insecure host. */
		char *hostport = ferry_xasprintf("%s%s%s", host, port ? ":" : "", port ? port : "");
		char *name = host[0] == '[' ? ferry_xstrndup(host + 1, strcspn(host + 1, "]")) : ferry_xstrdup(host);
		ok = ferry_is_loopback(name);
		for (size_t i = 0; !ok && i < r->n_insecure; i++)
			ok = strcasecmp(r->insecure[i], hostport) == 0 || strcasecmp(r->insecure[i], name) == 0;
		free(hostport);
		free(name);
	}
	free(scheme);
	free(host);
	free(port);
	return ok;
}

/* name=value, appended to an x-www-form-urlencoded body; libcurl escapes the value (wiped: it may be a secret). */
static void form_add(char **body, const char *name, const char *value)
{
	char *e = curl_easy_escape(NULL, value, 0);
	if (!e)
		abort(); /* out of memory, as in ferry_xmalloc */
	char *more = ferry_xasprintf("%s%s%s=%s", *body ? *body : "", *body ? "&" : "", name, e);
	explicit_bzero(e, strlen(e));
	curl_free(e);
	ferry_free_secret(*body);
	*body = more;
}

static int fetch_token(ferry_registry *r, const char *canon, char **token, long *ttl, ferry_error *err)
{
	const char *realm = r->realm;
	char *origin = reg_url_origin(realm);
	if (!origin)
		return ferry_error_set(err, FERRY_E_FAILED, "registry %s: its token service \"%.200s\" is not an http(s) URL",
				       r->domain, realm);
	bool creds = r->user || r->secret;
	if (creds && !realm_may_see_secrets(r, realm)) {
		free(origin);
		return ferry_error_set(err, FERRY_E_FAILED,
				       "registry %s: refusing to send the credentials from %s over plain http to its "
				       "token service (add the token host to --insecure-registry to allow it)",
				       r->domain, r->cred_source);
	}
	char *what = ferry_xasprintf("token service %s", origin);
	free(origin);

	reg_req q = {.what = what, .url = realm, .max_body = TOKEN_BODY_MAX, .no_auth = true};
	char *body = NULL, *authz = NULL, *scopes = ferry_xstrdup(canon);
	const char **query = NULL; /* key, value, ..., NULL */
	size_t nq = 0, cap_q = 0;
	if (creds && r->is_token) {
		/* OAuth2 refresh_token grant: the identity token never goes into a URL. */
		form_add(&body, "grant_type", "refresh_token");
		form_add(&body, "client_id", "ferry");
		form_add(&body, "service", r->service ? r->service : "");
		form_add(&body, "scope", canon);
		form_add(&body, "refresh_token", r->secret);
		q.method = "POST";
		q.content_type = "application/x-www-form-urlencoded";
		q.body = body;
		q.body_len = strlen(body);
	} else {
		if (r->service) {
			*FERRY_PUSH(query, nq, cap_q) = "service";
			*FERRY_PUSH(query, nq, cap_q) = r->service;
		}
		for (char *save = NULL, *t = strtok_r(scopes, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			*FERRY_PUSH(query, nq, cap_q) = "scope";
			*FERRY_PUSH(query, nq, cap_q) = t;
		}
		if (creds && r->user) {
			*FERRY_PUSH(query, nq, cap_q) = "account";
			*FERRY_PUSH(query, nq, cap_q) = r->user;
			char *pair = ferry_xasprintf("%s:%s", r->user, r->secret ? r->secret : "");
			char *b64 = ferry_base64_encode(pair, strlen(pair));
			ferry_free_secret(pair);
			authz = ferry_xasprintf("Basic %s", b64);
			ferry_free_secret(b64);
		}
		*FERRY_PUSH(query, nq, cap_q) = NULL;
		q.method = "GET";
		q.follow = true;
		q.authz = authz;
		q.query = query;
	}
	reg_resp p = {0};
	int rc = reg_do(r, &q, &p, err);
	ferry_free_secret(authz);
	ferry_free_secret(body);
	free(query);
	free(scopes);
	if (rc < 0)
		goto out;
	rc = -1;
	if (p.h.status == 401 || p.h.status == 403) {
		char said[600];
		reg_registry_said(p.body, p.body_len, said, sizeof(said));
		if (creds)
			ferry_error_set(err, FERRY_E_FAILED, "registry %s: %s refused the credentials from %s (HTTP %ld%s%s)",
					r->domain, what, r->cred_source, p.h.status, said[0] ? ": " : "", said);
		else
			ferry_error_set(err, FERRY_E_FAILED,
					"registry %s: %s refused anonymous access (HTTP %ld%s%s); log in, or pass --creds",
					r->domain, what, p.h.status, said[0] ? ": " : "", said);
		goto out;
	}
	if (p.h.status != 200) {
		reg_status_error(r, &q, &p, err);
		goto out;
	}
	json_t *j = json_loadb((const char *)p.body, p.body_len, 0, NULL);
	const char *tok = json_string_value(json_object_get(j, "token"));
	if (!tok || !*tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (!tok || !*tok) {
		json_decref(j);
		ferry_error_set(err, FERRY_E_FAILED, "%s: the answer holds no token", what);
		goto out;
	}
	*token = ferry_xstrdup(tok);
	json_t *exp = json_object_get(j, "expires_in");
	*ttl = json_is_integer(exp) && json_integer_value(exp) > 0 ? (long)json_integer_value(exp) : TOKEN_DEFAULT_TTL;
	if (*ttl > 24 * 3600)
		*ttl = 24 * 3600;
	json_decref(j);
	rc = 0;
out:
	if (p.body)
		explicit_bzero(p.body, p.body_len);
	reg_resp_clear(&p);
	free(what);
	return rc;
}

/*
 * The Authorization header for canon's token (*hdr, a secret), fetched if
 * no connection sharing the cache has it.  A connection needing a token
 * another is fetching waits for it rather than asking the service again.
 */
static int token_header(ferry_registry *r, const char *canon, char **hdr, ferry_error *err)
{
	struct reg_token_cache *tc = r->tc;
	pthread_mutex_lock(&tc->mu);
	for (;;) {
		ssize_t i = token_index(tc, canon);
		if (i < 0)
			break;
		struct reg_token *t = &tc->tokens[i];
		if (!t->token) {
			pthread_cond_wait(&tc->fetched, &tc->mu);
			continue;
		}
		if (t->expires > time(NULL)) {
			*hdr = ferry_xasprintf("Authorization: Bearer %s", t->token);
			pthread_mutex_unlock(&tc->mu);
			return 0;
		}
		token_drop(tc, (size_t)i);
		break;
	}
	/* Ours to fetch: an entry without a token says so to the others. */
	if (tc->n >= TOKEN_CACHE_MAX) {
		for (size_t i = 0; i < tc->n; i++)
			if (tc->tokens[i].token) {
				token_drop(tc, i); /* the oldest not being fetched */
				break;
			}
	}
	struct reg_token *e = FERRY_PUSH(tc->tokens, tc->n, tc->cap);
	e->scope = ferry_xstrdup(canon);
	e->token = NULL;
	e->expires = 0;
	pthread_mutex_unlock(&tc->mu);

	char *tok = NULL;
	long ttl = 0;
	int rc = fetch_token(r, canon, &tok, &ttl, err);

	pthread_mutex_lock(&tc->mu);
	ssize_t i = token_index(tc, canon);
	if (rc == 0) {
		*hdr = ferry_xasprintf("Authorization: Bearer %s", tok);
		if (i >= 0) {
			/* Renew a little early so a token never expires in flight. */
			long margin = ttl / 4 < 30 ? ttl / 4 : 30;
			tc->tokens[i].token = tok;
			tc->tokens[i].expires = time(NULL) + ttl - margin;
		} else {
			ferry_free_secret(tok);
		}
	} else if (i >= 0) {
		token_drop(tc, (size_t)i); /* the others try for themselves, and say why if it fails */
	}
	pthread_cond_broadcast(&tc->fetched);
	pthread_mutex_unlock(&tc->mu);
	return rc;
}

int reg_auth_header(ferry_registry *r, const char *scope, char **hdr, ferry_error *err)
{
	*hdr = NULL;
	if (r->auth == REG_AUTH_BASIC) {
		if (!r->user || r->is_token)
			return 0;
		char *pair = ferry_xasprintf("%s:%s", r->user, r->secret ? r->secret : "");
		char *b64 = ferry_base64_encode(pair, strlen(pair));
		ferry_free_secret(pair);
		*hdr = ferry_xasprintf("Authorization: Basic %s", b64);
		ferry_free_secret(b64);
		return 0;
	}
	if (r->auth != REG_AUTH_BEARER)
		return 0;
	char *canon = scope_canon(scope);
	int rc = token_header(r, canon, hdr, err);
	free(canon);
	return rc;
}

int reg_auth_challenged(ferry_registry *r, const char *www_auth, const char *scope, char **new_scope,
			ferry_error *err)
{
	*new_scope = NULL;
	ferry_auth_challenge *ch = NULL;
	size_t n = 0;
	ferry_error unparsed = FERRY_ERROR_INIT; /* a challenge we cannot read cannot help */
	if (!www_auth || ferry_auth_parse(www_auth, &ch, &n, &unparsed) < 0)
		return 0;
	int again = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ch[i].scheme, "bearer") == 0 && ch[i].realm) {
			r->auth = REG_AUTH_BEARER;
			if (!r->realm || strcmp(r->realm, ch[i].realm) != 0 ||
			    (ch[i].service && (!r->service || strcmp(r->service, ch[i].service) != 0))) {
				/* Another token service: tokens from the old one are useless. */
				reg_tokens_clear(r);
				free(r->realm);
				free(r->service);
				r->realm = ferry_xstrdup(ch[i].realm);
				r->service = ferry_xstrdup(ch[i].service);
			}
			if (reg_creds_load(r, err) < 0) {
				again = -1;
				break;
			}
			char *canon = scope_canon(scope);
			token_forget(r, canon);
			if (ch[i].scope) {
				/* The registry says which scope it wants (insufficient_scope). */
				char *both = ferry_xasprintf("%s %s", scope ? scope : "", ch[i].scope);
				char *merged = scope_canon(both);
				free(both);
				if (strcmp(merged, canon) != 0)
					*new_scope = merged;
				else
					free(merged);
			}
			free(canon);
			again = 1;
			break;
		}
	}
	if (again == 0) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(ch[i].scheme, "basic") != 0)
				continue;
			if (r->auth == REG_AUTH_BASIC)
				break; /* what we have was sent already */
			r->auth = REG_AUTH_BASIC;
			if (reg_creds_load(r, err) < 0) {
				again = -1;
				break;
			}
			again = r->user && !r->is_token;
			break;
		}
	}
	ferry_auth_free(ch, n);
	return again;
}
