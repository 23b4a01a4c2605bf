/*
 * list.c - listing the images of a location with libferry: one line per
 * image, "DIGEST NAME,... PLATFORM,..." ("-" when the source has no manifest).
 *
 *   cc list.c $(pkg-config --cflags --libs libferry) -o list
 *   ./list oci:layout/
 */
#include <stdio.h>
#include <stdlib.h>

#include <ferry/ferry.h>

/* Print the n strings get(src, i, k) returns, comma-separated. */
static void print_list(const ferry_source *src, size_t i, size_t n,
		       char *(*get)(const ferry_source *, size_t, size_t))
{
	for (size_t k = 0; k < n; k++) {
		char *s = get(src, i, k);
		printf("%s%s", k ? "," : "", s);
		free(s);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s LOCATION\n", argv[0]);
		return 2;
	}
	ferry_source *src;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_source_open(argv[1], &src, &err) < 0) {
		fprintf(stderr, "list: %s\n", err.msg);
		return (int)err.code;
	}
	for (size_t i = 0; i < ferry_source_count(src); i++) {
		const ferry_digest *d = ferry_source_digest(src, i);
		printf("%s ", d ? d->str : "-");
		print_list(src, i, ferry_source_name_count(src, i), ferry_source_name);
		printf(" ");
		print_list(src, i, ferry_source_platform_count(src, i), ferry_source_platform);
		printf("\n");
	}
	ferry_source_free(src);
	return 0;
}
