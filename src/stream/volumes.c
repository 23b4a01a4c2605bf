/*
 * volumes.c - an archive cut into volumes (writing), and a set of volumes
 * read as one stream (reading).  See volumes.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "readfile.h"
#include "tmpname.h"
#include "util.h"
#include "volumes.h"

/* ---- sizes ---- */

static const struct {
	const char *name;
	uint64_t size;
} named_sizes[] = {
	{"fat32", ((uint64_t)4 << 30) - 1},
	{"dvd", 4700000000ull},
	{"bd", 25000000000ull},
};

static const struct {
	const char *suffix;
	uint64_t mult;
} units[] = {
	{"", 1},
	{"k", 1ull << 10},      {"K", 1ull << 10},      {"M", 1ull << 20},      {"G", 1ull << 30},
	{"T", 1ull << 40},      {"kB", 1000ull},        {"KB", 1000ull},        {"MB", 1000000ull},
	{"GB", 1000000000ull},  {"TB", 1000000000000ull},
};

int ferry_parse_volume_size(const char *s, uint64_t *out, ferry_error *err)
{
	*out = 0;
	uint64_t v = 0;
	for (size_t i = 0; i < sizeof(named_sizes) / sizeof(named_sizes[0]); i++)
		if (strcmp(s, named_sizes[i].name) == 0)
			v = named_sizes[i].size;
	if (!v) {
		const char *p = s;
		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p)) {
			if (v > (UINT64_MAX - 9) / 10)
				goto big;
			v = v * 10 + (uint64_t)(*p++ - '0');
		}
		size_t u = 0;
		for (; u < sizeof(units) / sizeof(units[0]); u++)
			if (strcmp(p, units[u].suffix) == 0)
				break;
		if (u == sizeof(units) / sizeof(units[0]))
			goto bad;
		if (v > FERRY_VOLUME_MAX_SIZE / units[u].mult)
			goto big;
		v *= units[u].mult;
	}
	if (v < FERRY_VOLUME_MIN)
		return ferry_error_set(err, FERRY_E_USAGE, "--split %s: a volume must be at least 1M (1048576 bytes)", s);
	if (v > FERRY_VOLUME_MAX_SIZE)
		goto big;
	*out = v;
	return 0;
bad:
	return ferry_error_set(err, FERRY_E_USAGE,
			       "--split %.100s: not a size (a number with k, M, G, T (1024-based) or kB, MB, GB, TB "
			       "(1000-based), or fat32, dvd, bd)",
			       s);
big:
	return ferry_error_set(err, FERRY_E_USAGE, "--split %.100s: too large (at most 1 PiB)", s);
}

/* ---- writing ---- */

typedef struct volw_file {
	char *tmp; /* NULL once renamed */
	char *final;
} volw_file;

struct ferry_volw {
	char *parent, *bname;
	uint64_t max;
	ferry_volume_info *vols;
	volw_file *files;
	size_t n, cap, cap_f;
	int fd;                 /* the volume being written, -1 between volumes */
	EVP_MD_CTX *md;
	uint64_t off;           /* archive bytes written */
	uint64_t flushed;       /* bytes of the current volume handed to writeback */
	bool cut_pending;
	uint64_t cut_at;
	bool finished, committed;
};

int ferry_volw_open(const char *path, uint64_t size, ferry_volw **out, ferry_error *err)
{
	*out = NULL;
	if (size < FERRY_VOLUME_MIN)
		return ferry_error_set(err, FERRY_E_USAGE, "a volume must be at least 1M");
	ferry_volw *v = ferry_xcalloc(1, sizeof(*v));
	v->parent = ferry_dest_parent(path);
	v->bname = ferry_dest_base(path);
	v->max = size;
	v->fd = -1;
	v->md = EVP_MD_CTX_new();
	struct stat st;
	if (stat(v->parent, &st) < 0 || !S_ISDIR(st.st_mode)) {
		ferry_volw_free(v);
		return ferry_error_set(err, FERRY_E_NOTFOUND, "cannot create the volumes of %s: no directory %s", path,
				       v->parent);
	}
	ferry_tmp_sweep(v->parent, NULL);
	*out = v;
	return 0;
}

static void hex_of(const unsigned char *md, char *hex)
{
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Close the volume being written: on disk, hashed. */
static int close_volume(ferry_volw *v, ferry_error *err)
{
	if (v->fd < 0)
		return 0;
	ferry_volume_info *vi = &v->vols[v->n - 1];
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(v->md, md, &mdlen);
	hex_of(md, vi->sha256);
	int rc = 0;
	if (fdatasync(v->fd) < 0)
		rc = ferry_error_errno(err, errno, "writing %s", v->files[v->n - 1].final);
	close(v->fd);
	v->fd = -1;
	return rc;
}

static int open_volume(ferry_volw *v, ferry_error *err)
{
	if (close_volume(v, err) < 0)
		return -1;
	if (v->n >= FERRY_VOLUMES_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT,
				       "%s/%s: more than %d volumes: choose a larger --split size", v->parent, v->bname,
				       FERRY_VOLUMES_MAX);
	char *name = ferry_xasprintf("%s.%03zu", v->bname, v->n + 1);
	volw_file *f = FERRY_PUSH(v->files, v->n, v->cap_f);
	v->n--; /* both arrays grow by one below */
	ferry_volume_info *vi = FERRY_PUSH(v->vols, v->n, v->cap);
	memset(vi, 0, sizeof(*vi));
	vi->name = name;
	vi->start = v->off;
	f->final = ferry_xasprintf("%s/%s", v->parent, name);
	f->tmp = ferry_tmp_template(v->parent, name);
	v->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (v->fd < 0) {
		int e = errno;
		free(f->tmp);
		f->tmp = NULL;
		return ferry_error_errno(err, e, "cannot create %s", f->final);
	}
	fchmod(v->fd, 0644);
	v->flushed = 0;
	EVP_DigestInit_ex(v->md, EVP_sha256(), NULL);
	return 0;
}

void ferry_volw_entry(ferry_volw *v, uint64_t start, uint64_t len)
{
	if (v->fd < 0 || len > v->max || start < v->off)
		return;
	uint64_t used = start - v->vols[v->n - 1].start; /* in the current volume when the entry starts */
	if (used > 0 && used < v->max && v->max - used < len) {
		v->cut_pending = true;
		v->cut_at = start;
	}
}

int ferry_volw_write(ferry_volw *v, const void *buf, size_t len, ferry_error *err)
{
	const unsigned char *p = buf;
	while (len) {
		if (ferry_interrupted)
			return ferry_error_set(err, FERRY_E_FAILED, "writing the volumes of %s: interrupted", v->bname);
		uint64_t used = v->fd < 0 ? 0 : v->off - v->vols[v->n - 1].start;
		bool cut = v->cut_pending && v->off == v->cut_at;
		if (v->fd < 0 || used == v->max || (cut && used > 0)) {
			v->cut_pending = false;
			if (open_volume(v, err) < 0)
				return -1;
			used = 0;
		}
		uint64_t room = v->max - used;
		if (v->cut_pending && v->cut_at > v->off && v->cut_at - v->off < room)
			room = v->cut_at - v->off;
		size_t chunk = len < room ? len : (size_t)room;
		if (ferry_write_all(v->fd, p, chunk, v->files[v->n - 1].final, err) < 0)
			return -1;
		EVP_DigestUpdate(v->md, p, chunk);
		v->vols[v->n - 1].size += chunk;
		ferry_writeback(v->fd, v->vols[v->n - 1].size, &v->flushed);
		v->off += chunk;
		p += chunk;
		len -= chunk;
	}
	return 0;
}

int ferry_volw_finish(ferry_volw *v, ferry_error *err)
{
	if (v->finished)
		return 0;
	if (v->n == 0 && open_volume(v, err) < 0)
		return -1;
	if (close_volume(v, err) < 0)
		return -1;
	v->finished = true;
	return 0;
}

const ferry_volume_info *ferry_volw_volumes(const ferry_volw *v, size_t *n)
{
	*n = v->n;
	return v->vols;
}

static int write_sha256sum(ferry_volw *v, char **tmp, ferry_error *err)
{
	*tmp = ferry_tmp_template(v->parent, v->bname);
	int fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(*tmp);
		*tmp = NULL;
		return ferry_error_errno(err, e, "cannot create %s/%s.sha256", v->parent, v->bname);
	}
	fchmod(fd, 0644);
	int rc = 0;
	for (size_t i = 0; i < v->n && rc == 0; i++) {
		char *line = ferry_xasprintf("%s  %s\n", v->vols[i].sha256, v->vols[i].name);
		rc = ferry_write_all(fd, line, strlen(line), "the .sha256 file", err);
		free(line);
	}
	if (rc == 0 && fdatasync(fd) < 0)
		rc = ferry_error_errno(err, errno, "writing %s.sha256", v->bname);
	close(fd);
	return rc;
}

static int rename_to(const char *tmp, const char *final, ferry_error *err)
{
	if (rename(tmp, final) < 0)
		return ferry_error_errno(err, errno, "cannot move %s into place", final);
	return 0;
}

int ferry_volw_commit(ferry_volw *v, char *const *tmps, char *const *finals, size_t n_extra, ferry_error *err)
{
	if (ferry_volw_finish(v, err) < 0)
		return -1;
	char *sumtmp = NULL;
	if (write_sha256sum(v, &sumtmp, err) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < v->n && rc == 0; i++) {
		rc = rename_to(v->files[i].tmp, v->files[i].final, err);
		if (rc == 0) {
			free(v->files[i].tmp);
			v->files[i].tmp = NULL;
		}
	}
	char *sumfinal = ferry_xasprintf("%s/%s.sha256", v->parent, v->bname);
	if (rc == 0)
		rc = rename_to(sumtmp, sumfinal, err);
	if (rc < 0)
		unlink(sumtmp);
	for (size_t i = 0; i < n_extra && rc == 0; i++)
		rc = rename_to(tmps[i], finals[i], err);
	free(sumfinal);
	free(sumtmp);
	if (rc < 0)
		return -1;
	v->committed = true;
	/* An earlier, longer set's tail is not part of this one. */
	for (size_t i = v->n + 1; i <= FERRY_VOLUMES_MAX; i++) {
		char *old = ferry_xasprintf("%s/%s.%03zu", v->parent, v->bname, i);
		int r = unlink(old);
		free(old);
		if (r < 0)
			break;
	}
	int dfd = open(v->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

void ferry_volw_free(ferry_volw *v)
{
	if (!v)
		return;
	if (v->fd >= 0)
		close(v->fd);
	for (size_t i = 0; i < v->n; i++) {
		if (v->files[i].tmp) {
			unlink(v->files[i].tmp);
			free(v->files[i].tmp);
		}
		free(v->files[i].final);
		free(v->vols[i].name);
	}
	free(v->files);
	free(v->vols);
	EVP_MD_CTX_free(v->md);
	free(v->parent);
	free(v->bname);
	free(v);
}

/* ---- reading ---- */

struct ferry_volset {
	char *base;
	size_t n;
	char **paths;
	char (*hex)[65];
	int *fds;
	uint64_t *start; /* n + 1 entries: start[n] is the total */
};

static bool is_hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

int ferry_sha256sum_parse(const char *text, size_t len, const char *bname, char (*hex)[65], size_t max, size_t *n,
			  ferry_error *err)
{
	*n = 0;
	size_t lineno = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		if (ll == 0) {
			p += 1;
			continue;
		}
		if (*n >= max)
			return ferry_error_set(err, FERRY_E_LIMIT, "more than %zu volumes listed", max);
		char *want = ferry_xasprintf("%s.%03zu", bname, *n + 1);
		size_t wl = strlen(want);
		/* "<64 hex><space><space or *><name>" */
		bool ok = ll == 66 + wl && memchr(p, '\0', ll) == NULL && is_hex64(p) && p[64] == ' ' &&
			  (p[65] == ' ' || p[65] == '*') && memcmp(p + 66, want, wl) == 0;
		if (!ok) {
			ferry_error_set(err, FERRY_E_FORMAT, "line %zu is not \"<sha256>  %s\"", lineno, want);
			free(want);
			return -1;
		}
		free(want);
		memcpy(hex[*n], p, 64);
		hex[*n][64] = '\0';
		(*n)++;
		p += ll + (nl ? 1 : 0);
	}
	if (*n == 0)
		return ferry_error_set(err, FERRY_E_FORMAT, "lists no volume");
	return 0;
}

/* Is path a set's first volume, or the base name of one?  *base is then the base path. */
static char *set_base(const char *path)
{
	struct stat st;
	if (ferry_str_endswith(path, ".001") && stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return ferry_xstrndup(path, strlen(path) - 4);
	if (stat(path, &st) == 0)
		return NULL;
	char *first = ferry_xasprintf("%s.001", path);
	bool there = stat(first, &st) == 0 && S_ISREG(st.st_mode);
	free(first);
	return there ? ferry_xstrdup(path) : NULL;
}

static int list_volumes(ferry_volset *vs, ferry_error *err)
{
	char *sum = ferry_xasprintf("%s.sha256", vs->base);
	char *text = NULL;
	size_t len = 0;
	vs->hex = ferry_xcalloc(FERRY_VOLUMES_MAX, sizeof(*vs->hex));
	int rc = 0;
	if (access(sum, F_OK) == 0) {
		char *bname = ferry_dest_base(vs->base);
		rc = ferry_read_file(sum, FERRY_SHA256SUM_MAX, &text, &len, err);
		if (rc == 0)
			rc = ferry_sha256sum_parse(text, len, bname, vs->hex, FERRY_VOLUMES_MAX, &vs->n, err);
		if (rc < 0)
			ferry_error_prefix(err, "%s", sum);
		free(bname);
		free(text);
	} else {
		struct stat st;
		for (vs->n = 0; vs->n < FERRY_VOLUMES_MAX; vs->n++) {
			char *p = ferry_xasprintf("%s.%03zu", vs->base, vs->n + 1);
			bool there = stat(p, &st) == 0;
			free(p);
			if (!there)
				break;
		}
	}
	free(sum);
	return rc;
}

int ferry_volset_open(const char *path, ferry_volset **out, ferry_error *err)
{
	*out = NULL;
	char *base = set_base(path);
	if (!base)
		return 0;
	ferry_volset *vs = ferry_xcalloc(1, sizeof(*vs));
	vs->base = base;
	if (list_volumes(vs, err) < 0) {
		ferry_volset_free(vs);
		return -1;
	}
	vs->paths = ferry_xcalloc(vs->n, sizeof(*vs->paths));
	vs->fds = ferry_xcalloc(vs->n, sizeof(*vs->fds));
	vs->start = ferry_xcalloc(vs->n + 1, sizeof(*vs->start));
	for (size_t i = 0; i < vs->n; i++)
		vs->fds[i] = -1;
	for (size_t i = 0; i < vs->n; i++) {
		vs->paths[i] = ferry_xasprintf("%s.%03zu", base, i + 1);
		vs->fds[i] = open(vs->paths[i], O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (vs->fds[i] >= 0 && (fstat(vs->fds[i], &st) < 0 || !S_ISREG(st.st_mode))) {
			close(vs->fds[i]);
			vs->fds[i] = -1;
		}
		vs->start[i + 1] = vs->start[i] + (vs->fds[i] >= 0 ? (uint64_t)st.st_size : 0);
	}
	*out = vs;
	return 0;
}

void ferry_volset_free(ferry_volset *vs)
{
	if (!vs)
		return;
	for (size_t i = 0; i < vs->n; i++) {
		if (vs->fds && vs->fds[i] >= 0)
			close(vs->fds[i]);
		if (vs->paths)
			free(vs->paths[i]);
	}
	free(vs->paths);
	free(vs->fds);
	free(vs->start);
	free(vs->hex);
	free(vs->base);
	free(vs);
}

bool ferry_volset_missing(const ferry_volset *vs, size_t i)
{
	return vs->fds[i] < 0;
}

uint64_t ferry_volset_size(const ferry_volset *vs, size_t i)
{
	return vs->start[i + 1] - vs->start[i];
}

size_t ferry_volset_count(const ferry_volset *vs)
{
	return vs->n;
}

uint64_t ferry_volset_total(const ferry_volset *vs)
{
	return vs->start[vs->n];
}

const char *ferry_volset_base(const ferry_volset *vs)
{
	return vs->base;
}

const char *ferry_volset_path(const ferry_volset *vs, size_t i)
{
	return vs->paths[i];
}

const char *ferry_volset_sha256(const ferry_volset *vs, size_t i)
{
	return vs->hex[i];
}

size_t ferry_volset_which(const ferry_volset *vs, uint64_t off)
{
	size_t lo = 0, hi = vs->n;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (vs->start[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

ssize_t ferry_volset_pread(ferry_volset *vs, void *buf, size_t len, uint64_t off, ferry_error *err)
{
	if (off >= ferry_volset_total(vs) || len == 0)
		return 0;
	size_t i = ferry_volset_which(vs, off);
	if (vs->fds[i] < 0)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "volume %s is missing", vs->paths[i]);
	uint64_t left = vs->start[i + 1] - off;
	if (len > left)
		len = (size_t)left;
	for (;;) {
		ssize_t n = pread(vs->fds[i], buf, len, (off_t)(off - vs->start[i]));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ferry_error_errno(err, errno, "reading %s", vs->paths[i]);
		if (n == 0)
			return ferry_error_set(err, FERRY_E_FORMAT, "%s is shorter than when the set was opened",
					       vs->paths[i]);
		return n;
	}
}

typedef struct vs_stream {
	ferry_istream base;
	ferry_volset *vs;
	uint64_t off, left;
} vs_stream;

static ssize_t vs_read(ferry_istream *s, void *buf, size_t len, ferry_error *err)
{
	vs_stream *r = (vs_stream *)s;
	if (r->left == 0)
		return 0;
	if (len > r->left)
		len = (size_t)r->left;
	ssize_t n = ferry_volset_pread(r->vs, buf, len, r->off, err);
	if (n == 0)
		return ferry_error_set(err, FERRY_E_FORMAT, "%s: the set ends early", r->vs->base);
	if (n > 0) {
		r->off += (uint64_t)n;
		r->left -= (uint64_t)n;
	}
	return n;
}

static void vs_close(ferry_istream *s)
{
	free(s);
}

ferry_istream *ferry_volset_range(ferry_volset *vs, uint64_t off, uint64_t len)
{
	vs_stream *r = ferry_xcalloc(1, sizeof(*r));
	r->base.read = vs_read;
	r->base.close = vs_close;
	r->vs = vs;
	r->off = off;
	r->left = len;
	return &r->base;
}

int ferry_volset_locate(ferry_volset *vs, uint64_t off, uint64_t len, int *fd, uint64_t *voff, ferry_error *err)
{
	*fd = -1;
	size_t i = ferry_volset_which(vs, off);
	if (vs->fds[i] < 0)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "volume %s is missing", vs->paths[i]);
	if (off + len > vs->start[i + 1])
		return ferry_error_set(err, FERRY_E_FAILED, "%s: these bytes span volumes %s and the next",
				       vs->base, vs->paths[i]);
	*fd = fcntl(vs->fds[i], F_DUPFD_CLOEXEC, 0);
	if (*fd < 0)
		return ferry_error_errno(err, errno, "%s", vs->paths[i]);
	*voff = off - vs->start[i];
	return 0;
}
