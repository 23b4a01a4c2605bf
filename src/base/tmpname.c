#include "tmpname.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* dirname() or basename() of path, where "dir/" names dir itself (caller frees). */
static char *path_part(const char *path, bool dir)
{
	char *copy = ferry_xstrdup(path);
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	char *part = ferry_xstrdup(dir ? dirname(copy) : basename(copy));
	free(copy);
	return part;
}

char *ferry_dest_parent(const char *path)
{
	return path_part(path, true);
}

char *ferry_dest_base(const char *path)
{
	return path_part(path, false);
}

char *ferry_tmp_template(const char *dir, const char *base)
{
	return ferry_xasprintf("%s/.%s.ferry-%ld-XXXXXX", dir, base, (long)getpid());
}

/* A file, or a directory tree we created (bounded depth); links are removed, never followed. */
static void remove_at(int dfd, const char *name, int depth)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return;
	if (depth > 4)
		return;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			remove_at(fd, de->d_name, depth + 1);
	}
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

void ferry_remove_tree(const char *path)
{
	remove_at(AT_FDCWD, path, 0);
}

void ferry_tmp_sweep(const char *dir, const char *base)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (n[0] != '.')
			continue;
		const char *tag = strstr(n, ".ferry-");
		if (!tag)
			continue;
		if (base && ((size_t)(tag - n - 1) != strlen(base) || strncmp(n + 1, base, strlen(base)) != 0))
			continue;
		char *end;
		long pid = strtol(tag + 7, &end, 10);
		if (pid <= 0 || *end != '-')
			continue;
		/* Only a process that no longer exists leaves a leftover. */
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		remove_at(dirfd(d), n, 0);
	}
	closedir(d);
}

const char *ferry_tmp_dir(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/tmp";
}

int ferry_spool_open(const char *dest, ferry_error *err)
{
	char *dir = dest ? ferry_dest_parent(dest) : ferry_xstrdup(ferry_tmp_dir());
	char *path = ferry_tmp_template(dir, "spool");
	int fd = mkostemp(path, O_CLOEXEC);
	int e = errno;
	if (fd >= 0)
		unlink(path);
	else
		ferry_error_errno(err, e, "cannot create a spool file in %s", dir);
	free(path);
	free(dir);
	return fd;
}
