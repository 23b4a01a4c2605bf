#include "pathlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream.h"

/* Does path still name the file open as fd? */
static bool still_at(const char *path, int fd)
{
	struct stat a, b;
	return stat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int ferry_path_lock(const char *path, int *fd, ferry_error *err)
{
	*fd = -1;
	for (;;) {
		int f = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (f < 0) {
			int e = errno;
			if (e == ENOENT)
				return ferry_error_set(err, FERRY_E_NOTFOUND, "%s does not exist", path);
			return ferry_error_errno(err, e, "cannot lock %s", path);
		}
		while (flock(f, LOCK_EX) < 0) {
			int e = errno;
			if (e == EINTR && !ferry_interrupted)
				continue;
			close(f);
			if (e == EINTR)
				return ferry_error_set(err, FERRY_E_FAILED, "%s: interrupted while waiting for its lock", path);
			return ferry_error_errno(err, e, "cannot lock %s", path);
		}
		if (still_at(path, f)) {
			*fd = f;
			return 0;
		}
		/* Replaced while we waited: lock what is there now. */
		close(f);
	}
}
