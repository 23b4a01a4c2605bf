#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vset(ferry_error *err, ferry_code code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int ferry_error_set(ferry_error *err, ferry_code code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vset(err, code, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int ferry_error_errno(ferry_error *err, int errnum, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vset(err, FERRY_E_FAILED, fmt, ap);
		va_end(ap);
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	}
	return -1;
}

void ferry_error_prefix(ferry_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	char prefix[FERRY_ERROR_MSG_MAX];
	char old[FERRY_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* Assemble by hand: the result is cut at the buffer size, which is fine. */
	memcpy(old, err->msg, sizeof(old));
	size_t p = strnlen(prefix, sizeof(err->msg) - 1);
	memcpy(err->msg, prefix, p);
	if (p + 2 < sizeof(err->msg)) {
		err->msg[p++] = ':';
		err->msg[p++] = ' ';
	}
	size_t o = strnlen(old, sizeof(old));
	if (o > sizeof(err->msg) - 1 - p)
		o = sizeof(err->msg) - 1 - p;
	memcpy(err->msg + p, old, o);
	err->msg[p + o] = '\0';
}

void ferry_error_clear(ferry_error *err)
{
	if (err) {
		err->code = FERRY_OK;
		err->msg[0] = '\0';
	}
}

void ferry_error_prefix_once(ferry_error *err, const char *what)
{
	if (!err)
		return;
	size_t n = strlen(what);
	if (strncmp(err->msg, what, n) == 0 && err->msg[n] == ':')
		return;
	ferry_error_prefix(err, "%s", what);
}
