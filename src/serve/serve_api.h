/*
 * serve_api.h - the read-only distribution API: one request in, one
 * response out, answered from the index (serve_api.c).
 */
#ifndef FERRY_SERVE_API_H
#define FERRY_SERVE_API_H

#include <microhttpd.h>

#include "serve.h"

typedef struct serve_answer {
	struct MHD_Response *resp;
	unsigned status;
	uint64_t bytes; /* body size, for the access log */
	char problem[FERRY_ERROR_MSG_MAX]; /* a stale source: said once on stderr by the caller */
} serve_answer;

/* Route a GET, HEAD or other request for url (already percent-decoded) to its answer. */
void serve_api_answer(serve_index *ix, struct MHD_Connection *c, const char *method, const char *url,
		      serve_answer *out);
/* A spec error body {"errors":[{"code","message"}]} with status. */
void serve_api_error(serve_answer *out, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
