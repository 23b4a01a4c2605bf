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

#include <openssl/evp.h>

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

/*
 * The base as it appears in a temporary name: a long one (a destination
 * name near the filesystem's 255-byte limit) is cut and followed by a hash
 * of the whole, so that the temporary name fits wherever the name itself does.
 */
static char *tmp_base(const char *base)
{
	size_t n = strlen(base);
	if (n <= FERRY_TMP_BASE_MAX)
		return ferry_xstrdup(base);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_Digest(base, n, md, &mdlen, EVP_sha256(), NULL);
	return ferry_xasprintf("%.*s~%02x%02x%02x%02x%02x%02x%02x%02x", FERRY_TMP_BASE_KEEP, base, md[0], md[1], md[2],
			       md[3], md[4], md[5], md[6], md[7]);
}

char *ferry_tmp_template(const char *dir, const char *base)
{
	char *b = tmp_base(base);
	char *t = ferry_xasprintf("%s/.%s.ferry-%ld-XXXXXX", dir, b, (long)getpid());
	free(b);
	return t;
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

void ferry_tmp_sweep(const char *dir, const char *base_name)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char *base = base_name ? tmp_base(base_name) : NULL;
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
	free(base);
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
