/* libFuzzer target: image lists (plain lines and skopeo sync YAML) and semver ranges. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_list l;
	if (ferry_list_parse((const char *)data, size, "fuzz", &l, &err) == 0) {
		for (size_t i = 0; i < l.n_items; i++) {
			if (!l.items[i].ref || (l.items[i].kind != FERRY_LIST_REF && l.items[i].kind != FERRY_LIST_ALL &&
						!l.items[i].pattern))
				abort();
			if (l.items[i].kind != FERRY_LIST_REF)
				ferry_list_tag_matches(&l.items[i], "1.2.3");
		}
		ferry_list_free(&l);
	}
	/* The same bytes as a range, matched against a few versions. */
	char *s = ferry_xstrndup((const char *)data, size);
	if (ferry_semver_range_check(s, &err) == 0) {
		ferry_semver_match(s, "1.2.3");
		ferry_semver_match(s, "v0.0.1-rc.1+b");
	}
	free(s);
	return 0;
}
