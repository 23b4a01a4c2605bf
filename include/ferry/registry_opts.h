/*
 * registry_opts.h - how libferry talks to registries (docker:// locations):
 * credentials, TLS, plain-HTTP hosts, retries, stalls.
 */
#ifndef FERRY_REGISTRY_OPTS_H
#define FERRY_REGISTRY_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "export.h"

typedef struct ferry_registry_opts {
	const char *creds;                  /* --creds USER:PASS (NULL: look up the credential files) */
	const char *creds_label;            /* what to call creds in messages (NULL: "--creds") */
	const char *cert_dir;               /* --cert-dir DIR: ca.crt / *.crt, client.cert, client.key */
	bool tls_verify;                    /* false with --tls-verify=false */
	const char *const *insecure;        /* --insecure-registry HOST[:PORT], may use plain HTTP */
	size_t n_insecure;
	int retries;                        /* attempts after the first for retryable failures */
	bool debug;                         /* trace requests (method, URL without query secrets, status) to stderr */
	int stall_seconds;                  /* a transfer that moves no byte for this long fails (retryable) */
	bool no_referrers;                  /* a pull looks for no referrers or cosign tags (--no-referrers) */
} ferry_registry_opts;

#define FERRY_STALL_SECONDS 120

/* Defaults: tls_verify true, retries 3, stall_seconds FERRY_STALL_SECONDS. Call it before setting fields. */
FERRY_API void ferry_registry_opts_init(ferry_registry_opts *o);

#endif
