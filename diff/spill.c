/* Unlinked temporary files and buffered record readers over them. */
#include "diff_int.h"

#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATH_CAP 4096

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

int spill_open(spill *s, const char *dir, size_t bufsize)
{
	int fd;

	s->fd = -1;
	s->size = 0;
	s->len = 0;
	s->cap = 0;
	s->buf = NULL;
	if (bufsize) {
		s->buf = sdf_malloc(bufsize);
		if (!s->buf)
			return SDF_EBUDGET;
		s->cap = bufsize;
	}
	fd = open_unlinked(spill_dir_or_default(dir));
	if (fd < 0) {
		sdf_free(s->buf);
		s->buf = NULL;
		s->cap = 0;
		return fd;
	}
	s->fd = fd;
	return 0;
}

int spill_pwrite(int fd, const void *p, size_t n, uint64_t off)
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

int spill_pread(int fd, void *p, size_t n, uint64_t off)
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

int spill_flush(spill *s)
{
	int rc;

	if (!s->len)
		return 0;
	rc = spill_pwrite(s->fd, s->buf, s->len, s->size - s->len);
	if (rc == 0)
		s->len = 0;
	return rc;
}

int spill_write(spill *s, const void *p, size_t n)
{
	const unsigned char *c = p;
	int rc;

	if (!s->cap) {
		rc = spill_pwrite(s->fd, p, n, s->size);
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

void spill_close(spill *s)
{
	if (s->fd >= 0)
		close(s->fd);
	sdf_free(s->buf);
	s->fd = -1;
	s->buf = NULL;
	s->len = s->cap = 0;
	s->size = 0;
}

int rec_reader_open(rec_reader *r, int fd, uint64_t base, uint64_t from,
                    uint64_t to, int backwards, size_t bufbytes)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->base = base;
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
	rc = spill_pread(r->fd, r->buf, n * sizeof(sdf_diff_hash),
	                 r->base + start * sizeof(sdf_diff_hash));
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
