/*
 * convert.c - converting images with libferry: the library example of README.md.
 *
 *   cc convert.c $(pkg-config --cflags --libs libferry) -o convert
 *   ./convert docker-save.tar oci-layout/
 */
#include <stdio.h>

#include <ferry/ferry.h>

/* Called by the engine as it works: here, one line per image written. */
static void on_event(const ferry_event *ev, void *ud)
{
	(void)ud;
	if (ev->kind == FERRY_EV_IMAGE_DONE)
		printf("wrote %s (%s)\n", ev->name, ev->digest->str);
	else if (ev->kind == FERRY_EV_WARNING)
		fprintf(stderr, "warning: %s\n", ev->message);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s SRC DST\n", argv[0]);
		return 2;
	}
	ferry_convert_opts opts = {.on_event = on_event};
	ferry_convert_stats stats;
	ferry_error err = FERRY_ERROR_INIT;
	if (ferry_convert(argv[1], argv[2], &opts, &stats, &err) < 0) {
		fprintf(stderr, "convert: %s\n", err.msg);
		return (int)err.code; /* the same exit codes as the ferry command */
	}
	printf("%zu images, %zu blobs written, %llu bytes\n", stats.images, stats.blobs_written,
	       (unsigned long long)stats.bytes_written);
	return 0;
}
