/*
 * format.c - the table of formats, and the bidding that picks the one a
 * source is in (as libarchive asks each registered format to bid).
 *
 * Adding a format: write formats/<name>.c with its ferry_format (a bid when
 * it can be recognised from its contents), and add it to the table below.
 */
#include <stdio.h>
#include <string.h>

#include "format.h"
#include "util.h"

/* The formats read from and written to files, in bidding order; --format names one of them. */
static const ferry_format *const file_formats[] = {
	&ferry_format_docker_archive,
	&ferry_format_oci,
	&ferry_format_oci_archive,
};
#define N_FILE_FORMATS (sizeof(file_formats) / sizeof(file_formats[0]))

const ferry_format *ferry_format_by_id(ferry_fmt id)
{
	if (id == FERRY_FMT_REGISTRY)
		return &ferry_format_registry; /* docker:// only: neither a file nor a --format */
	for (size_t i = 0; i < N_FILE_FORMATS; i++) {
		if (file_formats[i]->id == id)
			return file_formats[i];
	}
	return NULL;
}

const ferry_format *ferry_format_by_name(const char *name)
{
	for (size_t i = 0; i < N_FILE_FORMATS; i++) {
		if (strcmp(file_formats[i]->name, name) == 0)
			return file_formats[i];
	}
	return NULL;
}

/* "a tar archive but neither a docker archive (no manifest.json) nor an OCI archive (no oci-layout)" */
static int no_bid(const char *display, bool is_dir, ferry_error *err)
{
	char list[FERRY_ERROR_MSG_MAX] = "";
	size_t n = 0, len = 0;
	for (size_t i = 0; i < N_FILE_FORMATS; i++)
		n += file_formats[i]->bid && file_formats[i]->is_tar != is_dir;
	for (size_t i = 0, k = 0; i < N_FILE_FORMATS && len < sizeof(list); i++) {
		const ferry_format *f = file_formats[i];
		if (!f->bid || f->is_tar == is_dir)
			continue;
		const char *sep = k == 0 ? "" : k + 1 == n ? " nor " : ", ";
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", sep, f->unrecognised);
		k++;
	}
	return ferry_error_set(err, FERRY_E_FORMAT, "%s is a %s but %s%s", display,
			       is_dir ? "directory" : "tar archive", n > 1 ? "neither " : "not ", list);
}

int ferry_format_bid(ferry_tree *t, bool is_dir, const char *display, const ferry_format **out,
		     ferry_error *err)
{
	*out = NULL;
	int best = 0;
	for (size_t i = 0; i < N_FILE_FORMATS; i++) {
		const ferry_format *f = file_formats[i];
		if (!f->bid || f->is_tar == is_dir)
			continue;
		int bid = 0;
		if (f->bid(t, best, &bid, err) < 0)
			return -1;
		if (bid > best) {
			best = bid;
			*out = f;
		}
	}
	return *out ? 0 : no_bid(display, is_dir, err);
}
