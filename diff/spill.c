/* Spills (memory first, then an unlinked file) and record readers. */
#include "diff_int.h"

#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATH_CAP 4096
#define FIRST_CAP 256 /* bytes first allocated for a spill in memory */

const char *spill_dir_or_default(const char *dir)
{
	const char *env;

	if (dir && *dir)
		return dir;
	env = getenv("TMPDIR");
	if (env && *env)
		return env;
	return "/tmp";
}

static int open_unlinked(const char *dir)
{
	char path[PATH_CAP];
	int fd, n;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return sdf_error_set_errno(
		    SDF_EIO, errno, "cannot create a spill file in %s", dir);
#endif
	n = snprintf(path, sizeof(path), "%s/sdf-spill-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return sdf_error_set(SDF_EINVAL, "spill directory too long");
	fd = mkstemp(path);
	if (fd < 0)
		return sdf_error_set_errno(
		    SDF_EIO, errno, "cannot create a spill file in %s", dir);
	unlink(path);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		close(fd);
		return sdf_error_set_errno(SDF_EIO, errno, "fcntl");
	}
	return fd;
}

int spill_open(spill *s, const char *dir, size_t mem_cap)
{
	const char *d = spill_dir_or_default(dir);

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->mem_cap = mem_cap;
	s->dir = sdf_strdup(d);
	if (!s->dir)
		return SDF_EBUDGET;
	if (mem_cap == 0) {
		int fd = open_unlinked(d);

		if (fd < 0)
			return fd;
		s->fd = fd;
	}
	return 0;
}

int spill_adopt(spill *s, int fd, uint64_t base, uint64_t size)
{
	memset(s, 0, sizeof(*s));
	s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (s->fd < 0)
		return sdf_error_set_errno(SDF_EIO, errno, "dup");
	s->base = base;
	s->size = size;
	return 0;
}

static int fd_pwrite(int fd, const void *p, size_t n, uint64_t off)
{
	const unsigned char *c = p;

	while (n) {
		ssize_t w = pwrite(fd, c, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return sdf_error_set_errno(SDF_EIO, errno,
			                           "cannot write a spill file");
		}
		c += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int fd_pread(int fd, void *p, size_t n, uint64_t off)
{
	unsigned char *c = p;

	while (n) {
		ssize_t r = pread(fd, c, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return sdf_error_set_errno(SDF_EIO, errno,
			                           "cannot read a spill file");
		}
		if (r == 0)
			return sdf_error_set(
			    SDF_ECORRUPT, "spill file shorter than expected");
		c += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Makes room for need bytes in memory (need <= mem_cap). */
static int grow(spill *s, size_t need)
{
	size_t cap = s->cap ? s->cap : FIRST_CAP;
	unsigned char *nb;

	if (need <= s->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > s->mem_cap)
		cap = s->mem_cap;
	nb = sdf_realloc(s->buf, cap);
	if (!nb)
		return SDF_EBUDGET;
	s->buf = nb;
	s->cap = cap;
	return 0;
}

/* From memory to a file: the content is written out, buf buffers appends. */
static int to_file(spill *s)
{
	int fd = open_unlinked(s->dir), rc;

	if (fd < 0)
		return fd;
	rc = s->size ? fd_pwrite(fd, s->buf, (size_t)s->size, 0) : 0;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	s->fd = fd;
	s->len = 0;
	/* Only appends need a buffer now (spill_write makes it on demand):
	 * writers at offsets go straight to the file. */
	sdf_free(s->buf);
	s->buf = NULL;
	s->cap = 0;
	return 0;
}

int spill_flush(spill *s)
{
	int rc;

	if (s->fd < 0 || !s->len)
		return 0;
	rc = fd_pwrite(s->fd, s->buf, s->len, s->base + s->size - s->len);
	if (rc == 0)
		s->len = 0;
	return rc;
}

int spill_write(spill *s, const void *p, size_t n)
{
	const unsigned char *c = p;
	int rc;

	if (n == 0)
		return 0;
	if (s->fd < 0) {
		if (s->size + n <= s->mem_cap) {
			if ((rc = grow(s, (size_t)s->size + n)) < 0)
				return rc;
			memcpy(s->buf + s->size, p, n);
			s->size += n;
			return 0;
		}
		if ((rc = to_file(s)) < 0)
			return rc;
	}
	if (!s->cap && s->mem_cap && (rc = grow(s, s->mem_cap)) < 0)
		return rc;
	if (!s->cap) {
		rc = fd_pwrite(s->fd, p, n, s->base + s->size);
		if (rc == 0)
			s->size += n;
		return rc;
	}
	while (n) {
		size_t k = s->cap - s->len;

		if (k > n)
			k = n;
		memcpy(s->buf + s->len, c, k);
		s->len += k;
		s->size += k;
		c += k;
		n -= k;
		if (s->len == s->cap && (rc = spill_flush(s)) < 0)
			return rc;
	}
	return 0;
}

int spill_write_at(spill *s, const void *p, size_t n, uint64_t off)
{
	int rc;

	if (n == 0)
		return 0;
	if (s->fd < 0) {
		if (off + n <= s->mem_cap) {
			if ((rc = grow(s, (size_t)(off + n))) < 0)
				return rc;
			if (off > s->size)
				memset(s->buf + s->size, 0,
				       (size_t)(off - s->size));
			memcpy(s->buf + off, p, n);
			if (off + n > s->size)
				s->size = off + n;
			return 0;
		}
		if ((rc = to_file(s)) < 0)
			return rc;
	}
	if ((rc = spill_flush(s)) < 0)
		return rc;
	if ((rc = fd_pwrite(s->fd, p, n, s->base + off)) < 0)
		return rc;
	if (off + n > s->size)
		s->size = off + n;
	return 0;
}

int spill_extend(spill *s, uint64_t size)
{
	int rc;

	if (size <= s->size)
		return 0;
	if (s->fd < 0) {
		if (size <= s->mem_cap) {
			if ((rc = grow(s, (size_t)size)) < 0)
				return rc;
			memset(s->buf + s->size, 0, (size_t)(size - s->size));
			s->size = size;
			return 0;
		}
		if ((rc = to_file(s)) < 0)
			return rc;
	}
	if ((rc = spill_flush(s)) < 0)
		return rc;
	if (ftruncate(s->fd, (off_t)(s->base + size)) < 0)
		return sdf_error_set_errno(SDF_EIO, errno,
		                           "cannot size a spill file");
	s->size = size;
	return 0;
}

int spill_finish(spill *s)
{
	int rc;

	if (s->fd >= 0) {
		if ((rc = spill_flush(s)) < 0)
			return rc;
		sdf_free(s->buf);
		s->buf = NULL;
		s->cap = 0;
	}
	/* In memory, buf grew by doubling: at most twice the content. */
	s->mem_cap = 0; /* nothing more to come */
	return 0;
}

int spill_read_at(const spill *s, void *p, size_t n, uint64_t off)
{
	if (n == 0)
		return 0;
	if (off + n > s->size - (s->fd >= 0 ? s->len : 0))
		return sdf_error_set(SDF_ECORRUPT,
		                     "spill read past its written content");
	if (s->fd < 0) {
		memcpy(p, s->buf + off, n);
		return 0;
	}
	return fd_pread(s->fd, p, n, s->base + off);
}

void spill_close(spill *s)
{
	if (s->fd >= 0)
		close(s->fd);
	sdf_free(s->buf);
	sdf_free(s->dir);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

int rec_reader_open(rec_reader *r, const spill *sp, uint64_t from, uint64_t to,
                    int backwards, size_t bufbytes)
{
	memset(r, 0, sizeof(*r));
	r->sp = sp;
	r->from = from;
	r->end = to;
	r->backwards = backwards;
	r->next = backwards ? to : from;
	r->cap = bufbytes / sizeof(sdf_diff_hash);
	if (r->cap == 0)
		r->cap = 1;
	if (r->cap > to - from && to > from)
		r->cap = (size_t)(to - from);
	r->buf = sdf_malloc(r->cap * sizeof(sdf_diff_hash));
	if (!r->buf)
		return SDF_EBUDGET;
	return 0;
}

static int reader_fill(rec_reader *r)
{
	uint64_t left, start;
	size_t n;
	int rc;

	left = r->backwards ? r->next - r->from : r->end - r->next;
	if (left == 0) {
		r->len = r->pos = 0;
		return 0;
	}
	n = left < r->cap ? (size_t)left : r->cap;
	start = r->backwards ? r->next - n : r->next;
	rc = spill_read_at(r->sp, r->buf, n * sizeof(sdf_diff_hash),
	                   start * sizeof(sdf_diff_hash));
	if (rc < 0)
		return rc;
	r->len = n;
	r->pos = 0;
	r->next = r->backwards ? start : start + n;
	return 0;
}

int rec_reader_refill(rec_reader *r, const sdf_diff_hash **out)
{
	int rc;

	if ((rc = reader_fill(r)) < 0)
		return rc;
	if (r->len == 0) {
		*out = NULL;
		return 0;
	}
	if (r->backwards)
		*out = &r->buf[r->len - 1 - r->pos++];
	else
		*out = &r->buf[r->pos++];
	return 0;
}

void rec_reader_close(rec_reader *r)
{
	sdf_free(r->buf);
	r->buf = NULL;
	r->len = r->pos = 0;
}
