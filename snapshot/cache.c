/* The store's bounded result cache (sdf_cache.h). */
#include "sdf_cache.h"
#include "store_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_DIR "snapdiff-cache"
#define MAX_RECORD ((size_t)16 << 20)

struct sdf_cache {
	char *root; /* STORE/snapdiff-cache */
	uint64_t max_bytes;
	uint64_t total; /* bytes on disk, known once scanned */
	int scanned;
};

static void *zalloc(void *opaque, size_t n)
{
	(void)opaque;
	return sdf_malloc(n);
}

static void zfree(void *opaque, void *p)
{
	(void)opaque;
	sdf_free(p);
}

static const ZSTD_customMem zmem = {zalloc, zfree, NULL};

/*
 * Both read the repository's own config object (loaded by sdf_store_open),
 * not a snapshot of it: libgit2 1.5.1 leaks, or crashes, when an allocation
 * fails while it builds a config snapshot.
 */
static int config_u64(uint64_t *out, git_repository *repo, const char *key)
{
	git_config *cfg = NULL;
	int64_t v = 0;
	int found = 0;

	if (git_repository_config(&cfg, repo) == 0 &&
	    git_config_get_int64(&v, cfg, key) == 0 && v > 0) {
		*out = (uint64_t)v;
		found = 1;
	}
	git_error_clear();
	git_config_free(cfg);
	return found;
}

static int is_snapdiff_store(git_repository *repo)
{
	git_config *cfg = NULL;
	git_buf buf = GIT_BUF_INIT;
	int yes = 0;

	if (git_repository_config(&cfg, repo) == 0 &&
	    git_config_get_string_buf(&buf, cfg, "snapdiff.worktree") == 0)
		yes = 1;
	git_error_clear();
	git_buf_dispose(&buf);
	git_config_free(cfg);
	return yes;
}

int sdf_cache_open(sdf_cache **out, sdf_store *st)
{
	sdf_cache *c;
	size_t len;

	*out = NULL;
	if (!is_snapdiff_store(st->repo))
		return 0;
	if (!(c = sdf_calloc(1, sizeof(*c))))
		return SDF_EBUDGET;
	len = strlen(st->path) + sizeof(CACHE_DIR) + 2;
	if (!(c->root = sdf_malloc(len))) {
		sdf_free(c);
		return SDF_EBUDGET;
	}
	snprintf(c->root, len, "%s/" CACHE_DIR, st->path);
	c->max_bytes = SDF_CACHE_MAX_BYTES_DEFAULT;
	config_u64(&c->max_bytes, st->repo, "snapdiff.cachemaxbytes");
	*out = c;
	return 0;
}

void sdf_cache_free(sdf_cache *c)
{
	if (!c)
		return;
	sdf_free(c->root);
	sdf_free(c);
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 200)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_'))
			return 0;
	return 1;
}

static int record_path(char *buf, size_t cap, const sdf_cache *c,
                       const char *kind, const char *key)
{
	if (!valid_name(kind) || !valid_name(key))
		return sdf_error_set(SDF_EINVAL, "bad cache key '%s/%s'", kind,
		                     key);
	if ((size_t)snprintf(buf, cap, "%s/%s/%.2s/%s", c->root, kind, key,
	                     key + 2) >= cap)
		return sdf_error_set(SDF_EINVAL, "cache path too long");
	return 0;
}

/* Creates the directories above file (the cache root included). */
static int mkdirs_for(const char *file)
{
	char buf[PATH_MAX];
	size_t len = strlen(file);

	if (len >= sizeof(buf))
		return sdf_error_set(SDF_EINVAL, "cache path too long");
	memcpy(buf, file, len + 1);
	for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return sdf_error_set_errno(SDF_EIO, errno,
			                           "cannot create '%s'", buf);
		*s = '/';
	}
	return 0;
}

/* Marks a record as just used (eviction is by mtime). */
static void touch(int fd)
{
	futimens(fd, NULL);
}

int sdf_cache_open_file(int *fd, sdf_cache *c, const char *kind,
                        const char *key)
{
	char path[PATH_MAX];
	int err;

	*fd = -1;
	if ((err = record_path(path, sizeof(path), c, kind, key)) < 0)
		return err;
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT
		           ? sdf_error_set(SDF_ENOTFOUND, "not cached")
		           : sdf_error_set_errno(SDF_EIO, errno,
		                                 "cannot open '%s'", path);
	touch(*fd);
	return 0;
}

int sdf_cache_get(void **data, size_t *len, sdf_cache *c, const char *kind,
                  const char *key)
{
	struct stat st;
	unsigned char *raw = NULL, *out = NULL;
	unsigned long long size;
	ZSTD_DCtx *dctx = NULL;
	size_t got = 0, r;
	ssize_t n;
	int fd, err;

	*data = NULL;
	*len = 0;
	if ((err = sdf_cache_open_file(&fd, c, kind, key)) < 0)
		return err;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > MAX_RECORD) {
		err = sdf_error_set(SDF_ECORRUPT, "bad cache record %s", key);
		goto done;
	}
	if (!(raw = sdf_malloc((size_t)st.st_size + 1))) {
		err = SDF_EBUDGET;
		goto done;
	}
	while (got < (size_t)st.st_size &&
	       (n = read(fd, raw + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	size = ZSTD_getFrameContentSize(raw, got);
	if (got != (size_t)st.st_size || size == ZSTD_CONTENTSIZE_ERROR ||
	    size == ZSTD_CONTENTSIZE_UNKNOWN || size > MAX_RECORD) {
		err = sdf_error_set(SDF_ECORRUPT, "bad cache record %s", key);
		goto done;
	}
	if (!(out = sdf_malloc((size_t)size + 1)) ||
	    !(dctx = ZSTD_createDCtx_advanced(zmem))) {
		err = SDF_EBUDGET;
		goto done;
	}
	r = ZSTD_decompressDCtx(dctx, out, (size_t)size, raw, got);
	if (ZSTD_isError(r) || r != size) {
		err = sdf_error_set(SDF_ECORRUPT, "bad cache record %s", key);
		goto done;
	}
	*data = out;
	*len = (size_t)size;
	out = NULL;
done:
	ZSTD_freeDCtx(dctx);
	sdf_free(out);
	sdf_free(raw);
	close(fd);
	return err;
}

int sdf_cache_create_file(sdf_cache_file *f, sdf_cache *c, const char *kind,
                          const char *key)
{
	int err;

	f->fd = -1;
	if ((err = record_path(f->final, sizeof(f->final), c, kind, key)) < 0)
		return err;
	if ((size_t)snprintf(f->tmp, sizeof(f->tmp), "%s.tmp-XXXXXX",
	                     f->final) >= sizeof(f->tmp))
		return sdf_error_set(SDF_EINVAL, "cache path too long");
	if ((err = mkdirs_for(f->final)) < 0)
		return err;
	if ((f->fd = mkstemp(f->tmp)) < 0)
		return sdf_error_set_errno(SDF_EIO, errno, "cannot create '%s'",
		                           f->tmp);
	return 0;
}

void sdf_cache_abort_file(sdf_cache_file *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		unlink(f->tmp);
		f->fd = -1;
	}
}

struct entry {
	char *path;
	uint64_t bytes;
	struct timespec used;
};

struct scan {
	struct entry *v;
	size_t n, cap;
	uint64_t total;
	int err;
};

static void scan_dir(struct scan *s, const char *dir, int depth)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while (!s->err && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		                     de->d_name) >= sizeof(path) ||
		    lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 2) {
			scan_dir(s, path, depth + 1);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		s->total += (uint64_t)st.st_size;
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 64;
			struct entry *v =
			    sdf_reallocarray(s->v, cap, sizeof(*v));
			if (!v) {
				s->err = SDF_EBUDGET;
				break;
			}
			s->v = v;
			s->cap = cap;
		}
		if (!(s->v[s->n].path = sdf_strdup(path))) {
			s->err = SDF_EBUDGET;
			break;
		}
		s->v[s->n].bytes = (uint64_t)st.st_size;
		s->v[s->n].used = st.st_mtim;
		s->n++;
	}
	closedir(d);
}

static int by_use(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return 0;
}

/* Evicts least recently used records until the cache is within bounds. */
static int enforce_bound(sdf_cache *c)
{
	struct scan s = {0};
	int err;

	scan_dir(&s, c->root, 0);
	c->total = s.total;
	c->scanned = 1;
	if ((err = s.err) == 0 && s.total > c->max_bytes) {
		qsort(s.v, s.n, sizeof(*s.v), by_use);
		for (size_t i = 0; i < s.n && s.total > c->max_bytes; i++)
			if (unlink(s.v[i].path) == 0)
				s.total -= s.v[i].bytes;
		c->total = s.total;
	}
	for (size_t i = 0; i < s.n; i++)
		sdf_free(s.v[i].path);
	sdf_free(s.v);
	return err;
}

int sdf_cache_clear(sdf_store *st, uint64_t *freed)
{
	struct scan s = {0};
	char root[PATH_MAX];

	if ((size_t)snprintf(root, sizeof(root), "%s/" CACHE_DIR, st->path) >=
	    sizeof(root))
		return sdf_error_set(SDF_EINVAL, "store path too long");
	scan_dir(&s, root, 0);
	for (size_t i = 0; i < s.n; i++) {
		if (!s.err && unlink(s.v[i].path) == 0)
			*freed += s.v[i].bytes;
		sdf_free(s.v[i].path);
	}
	sdf_free(s.v);
	return s.err;
}

int sdf_cache_commit_file(sdf_cache *c, sdf_cache_file *f)
{
	int err = 0;
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		st.st_size = 0;
	if ((uint64_t)st.st_size > c->max_bytes) {
		/* larger than the whole cache: not worth keeping */
		sdf_cache_abort_file(f);
		return 0;
	}
	if (close(f->fd) < 0)
		err = sdf_error_set_errno(SDF_EIO, errno, "cannot write '%s'",
		                          f->tmp);
	f->fd = -1;
	if (!err && rename(f->tmp, f->final) < 0)
		err = sdf_error_set_errno(SDF_EIO, errno, "cannot write '%s'",
		                          f->final);
	if (err) {
		unlink(f->tmp);
		return err;
	}
	/* scan the directory only the first time and when over the bound */
	c->total += (uint64_t)st.st_size;
	if (c->scanned && c->total <= c->max_bytes)
		return 0;
	return enforce_bound(c);
}

int sdf_cache_put(sdf_cache *c, const char *kind, const char *key,
                  const void *data, size_t len)
{
	sdf_cache_file f;
	ZSTD_CCtx *cctx = NULL;
	void *out = NULL;
	size_t bound = ZSTD_compressBound(len), n;
	int err;

	if (len > MAX_RECORD)
		return sdf_error_set(SDF_ETOOBIG, "cache record too large");
	if ((err = sdf_cache_create_file(&f, c, kind, key)) < 0)
		return err;
	if (!(out = sdf_malloc(bound)) ||
	    !(cctx = ZSTD_createCCtx_advanced(zmem))) {
		err = SDF_EBUDGET;
		goto fail;
	}
	n = ZSTD_compressCCtx(cctx, out, bound, data, len, 3);
	if (ZSTD_isError(n)) {
		err =
		    sdf_error_set(SDF_ERROR, "zstd: %s", ZSTD_getErrorName(n));
		goto fail;
	}
	if (write(f.fd, out, n) != (ssize_t)n) {
		err = sdf_error_set_errno(SDF_EIO, errno, "cannot write '%s'",
		                          f.tmp);
		goto fail;
	}
	ZSTD_freeCCtx(cctx);
	sdf_free(out);
	return sdf_cache_commit_file(c, &f);
fail:
	ZSTD_freeCCtx(cctx);
	sdf_free(out);
	sdf_cache_abort_file(&f);
	return err;
}
