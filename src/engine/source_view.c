/*
 * source_view.c - the public, read-only view of a ferry_source (source.h):
 * what a program needs to list images without seeing the image graph.
 */
#include <stdlib.h>

#include "format.h"
#include "image.h"
#include "source.h"

const char *ferry_source_format(const ferry_source *src)
{
	return src->format ? src->format->name : NULL;
}

size_t ferry_source_count(const ferry_source *src)
{
	return src->n_entries;
}

static const ferry_entry *entry_at(const ferry_source *src, size_t i)
{
	return i < src->n_entries ? &src->entries[i] : NULL;
}

size_t ferry_source_name_count(const ferry_source *src, size_t i)
{
	const ferry_entry *e = entry_at(src, i);
	return e ? e->n_names : 0;
}

char *ferry_source_name(const ferry_source *src, size_t i, size_t k)
{
	const ferry_entry *e = entry_at(src, i);
	return e && k < e->n_names ? ferry_name_string(&e->names[k]) : NULL;
}

const ferry_digest *ferry_source_digest(const ferry_source *src, size_t i)
{
	const ferry_entry *e = entry_at(src, i);
	return e && ferry_digest_is_set(&e->img.desc.digest) ? &e->img.desc.digest : NULL;
}

/*
 * The manifests under img, depth first as its indexes list them.  Indexes
 * nest at most FERRY_INDEX_DEPTH deep (the readers refuse deeper), so the
 * recursion is bounded.
 */
static size_t count_manifests(const ferry_image *img)
{
	if (!img->is_index)
		return 1;
	size_t n = 0;
	for (size_t c = 0; c < img->n_children; c++)
		n += count_manifests(&img->children[c]);
	return n;
}

/* The k-th of them; *k counts down the manifests passed. */
static const ferry_image *nth_manifest(const ferry_image *img, size_t *k)
{
	if (!img->is_index)
		return (*k)-- == 0 ? img : NULL;
	for (size_t c = 0; c < img->n_children; c++) {
		const ferry_image *found = nth_manifest(&img->children[c], k);
		if (found)
			return found;
	}
	return NULL;
}

size_t ferry_source_platform_count(const ferry_source *src, size_t i)
{
	const ferry_entry *e = entry_at(src, i);
	return e ? count_manifests(&e->img) : 0;
}

char *ferry_source_platform(const ferry_source *src, size_t i, size_t k)
{
	const ferry_entry *e = entry_at(src, i);
	const ferry_image *m = e ? nth_manifest(&e->img, &k) : NULL;
	return m ? ferry_platform_string(ferry_image_platform(m)) : NULL;
}
