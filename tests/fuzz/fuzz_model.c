/*
 * libFuzzer target: the JSON model parsers (manifest, index, config, docker
 * manifest.json, platform, inventory files, a delta's expectations).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "inventory.h"
#include "model.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_error err = FERRY_ERROR_INIT;
	ferry_manifest m;
	if (ferry_manifest_parse(&m, data, size, &err) == 0) {
		char *out;
		size_t len;
		ferry_manifest_serialize(&m, &out, &len, &err);
		ferry_manifest m2;
		if (ferry_manifest_parse(&m2, out, len, &err) != 0)
			abort(); /* what we write must read back */
		ferry_manifest_free(&m2);
		free(out);
		ferry_manifest_free(&m);
	}
	ferry_index ix;
	if (ferry_index_parse(&ix, data, size, &err) == 0) {
		char *out;
		size_t len;
		ferry_index_serialize(&ix, &out, &len, &err);
		ferry_index ix2;
		if (ferry_index_parse(&ix2, out, len, &err) != 0)
			abort();
		ferry_index_free(&ix2);
		free(out);
		ferry_index_free(&ix);
	}
	struct ferry_dm_entry *dm;
	size_t ndm;
	if (ferry_dm_parse(data, size, &dm, &ndm, &err) == 0)
		ferry_dm_free(dm, ndm);
	ferry_config c;
	if (ferry_config_parse(&c, data, size, &err) == 0)
		ferry_config_free(&c);
	/* an inventory file (convert --have), and a delta's expectations annotation */
	ferry_inventory *inv = ferry_inventory_new();
	if (ferry_inventory_parse(inv, data, size, "fuzz", &err) == 0)
		json_decref(ferry_inventory_json(inv));
	ferry_inventory_free(inv);
	ferry_source esrc = {0};
	char *ann = ferry_xstrndup((const char *)data, size < 65536 ? size : 65536);
	if (ferry_source_parse_expected(&esrc, ann, &err) == 0)
		free(ferry_expected_format(esrc.expected, esrc.n_expected));
	free(esrc.expected);
	free(ann);
	char *s = ferry_xstrndup((const char *)data, size < 256 ? size : 256);
	ferry_platform p;
	if (ferry_platform_parse(&p, s, &err) == 0) {
		free(ferry_platform_string(&p));
		ferry_platform_free(&p);
	}
	free(s);
	return 0;
}
