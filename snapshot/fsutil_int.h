/* Private to snapshot/: small file helpers. */
#ifndef SDF_FSUTIL_INT_H
#define SDF_FSUTIL_INT_H

#include <stddef.h>
#include <zlib.h>

/*
 * Reads the whole of a small regular file (dirfd-relative, never through a
 * final symlink) into a NUL-terminated buffer from the counting allocator.
 * A missing file, a symlink or something other than a regular file gives 0
 * with *out NULL; over max bytes SDF_ETOOBIG; a failed read SDF_EIO.
 */
int sdf_read_small_file(char **out, size_t *len, int dirfd, const char *path,
                        size_t max);

/* Points a z_stream's allocation at the counting allocator. */
void sdf_zstream_use_budget(z_stream *zs);

#endif
