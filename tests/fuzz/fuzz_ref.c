/* libFuzzer target: the reference parser and everything built on a parsed reference. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_error err = FERRY_ERROR_INIT;
	char *s = ferry_xstrndup((const char *)data, size);
	ferry_ref r;
	if (ferry_ref_parse(&r, s, &err) == 0) {
		ferry_ref_default_tag(&r);
		char *a = ferry_ref_string(&r), *b = ferry_ref_familiar(&r), *c = ferry_ref_name(&r);
		/* What we print must parse back to the same reference. */
		ferry_ref again;
		if (ferry_ref_parse(&again, a, &err) != 0 || !ferry_ref_eq(&r, &again))
			abort();
		ferry_ref_free(&again);
		ferry_ref_set_prefix(&r, "localhost:5000/mirror", &err);
		ferry_ref_set_domain(&r, "[::1]:5000", &err);
		free(a);
		free(b);
		free(c);
		ferry_ref_free(&r);
	}
	ferry_tag_valid(s);
	ferry_domain_check(s, &err);
	free(s);
	return 0;
}
