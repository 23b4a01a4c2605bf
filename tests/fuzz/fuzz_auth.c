/* libFuzzer target: the WWW-Authenticate parser (every challenge of a header value). */
#include <stdint.h>
#include <stdlib.h>

#include "registry.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = ferry_xstrndup((const char *)data, size);
	ferry_error err = FERRY_ERROR_INIT;
	ferry_auth_challenge *c = NULL;
	size_t n = 0;
	if (ferry_auth_parse(s, &c, &n, &err) == 0)
		ferry_auth_free(c, n);
	free(s);
	return 0;
}
