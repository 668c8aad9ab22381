/* Small file helpers (fsutil_int.h). */
#include "fsutil_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int sdf_read_small_file(char **out, size_t *len, int dirfd, const char *path,
                        size_t max)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	ssize_t n;
	int fd, err = 0;

	*out = NULL;
	*len = 0;
	fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP
		           ? 0
		           : sdf_error_set_errno(SDF_EIO, errno,
		                                 "cannot read '%s'", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return sdf_error_set(SDF_ETOOBIG, "'%s' is over %zu bytes",
		                     path, max);
	}
	if (!(buf = sdf_malloc((size_t)st.st_size + 1))) {
		close(fd);
		return SDF_EBUDGET;
	}
	while (got < (size_t)st.st_size &&
	       (n = read(fd, buf + got, (size_t)st.st_size - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = sdf_error_set_errno(SDF_EIO, errno,
			                          "cannot read '%s'", path);
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (err) {
		sdf_free(buf);
		return err;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	return sdf_reallocarray(NULL, items, size);
}

static void z_free(voidpf opaque, voidpf ptr)
{
	(void)opaque;
	sdf_free(ptr);
}

void sdf_zstream_use_budget(z_stream *zs)
{
	zs->zalloc = z_alloc;
	zs->zfree = z_free;
	zs->opaque = Z_NULL;
}
