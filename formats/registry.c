/*
 * registry.c - a registry as a format: reading is the OCI reader over the
 * registry tree (src/tree/tree_registry.c); writing pushes manifests under
 * their names (the registry store's extension: src/store/store_registry.c).
 */
#include "format.h"
#include "store.h"

static int registry_read(ferry_source *src, ferry_error *err)
{
	return ferry_format_oci.read(src, err);
}

static int registry_write_meta(ferry_store *store, const ferry_out_entry *entries, size_t n, ferry_error *err)
{
	/* Only a registry store can push: ferry_store_publish() says so for any other. */
	return ferry_store_publish(store, entries, n, err);
}

const ferry_format ferry_format_registry = {
	.id = FERRY_FMT_REGISTRY,
	.name = "docker",
	.is_tar = false,
	.layers = FERRY_LAYERS_COMPRESSED,
	.needs_repository = true,
	.read = registry_read,
	.write_meta = registry_write_meta,
};
