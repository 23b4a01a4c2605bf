#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define READ_STEP (64u << 10)

int ferry_read_fd_all(int fd, size_t cap, char **buf, size_t *len, const char *what, ferry_error *err)
{
	char *b = NULL;
	size_t n = 0, room = 0;
	*buf = NULL;
	*len = 0;
	for (;;) {
		/* Room for one more step and the NUL; one byte past cap is enough to know it is too big. */
		size_t step = cap - n < READ_STEP ? cap - n + 1 : READ_STEP;
		ferry_grow((void **)&b, &room, n + step + 1, 1);
		ssize_t r = read(fd, b + n, step);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(b);
			return ferry_error_errno(err, e, "cannot read %s", what);
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > cap) {
			free(b);
			return ferry_error_set(err, FERRY_E_LIMIT, "%s is larger than %zu bytes", what, cap);
		}
	}
	ferry_grow((void **)&b, &room, n + 1, 1);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int ferry_read_file(const char *path, size_t cap, char **buf, size_t *len, ferry_error *err)
{
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, errno, "cannot read %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > cap) {
		close(fd);
		return ferry_error_set(err, FERRY_E_LIMIT, "%s is not a regular file of at most %zu bytes", path, cap);
	}
	int rc = ferry_read_fd_all(fd, cap, buf, len, path, err);
	close(fd);
	return rc;
}
