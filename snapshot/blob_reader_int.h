/* Private to snapshot/: the blob reader for callers holding a git_oid. */
#ifndef SDF_BLOB_READER_INT_H
#define SDF_BLOB_READER_INT_H

#include "store_int.h"

/* Like sdf_blob_reader_open_ext, reading through repo's object database. */
int sdf_blob_reader_open_oid(sdf_blob_reader **out, git_repository *repo,
                             const git_oid *id,
                             const sdf_blob_reader_options *opts);

/*
 * The blob id of size bytes read from fd (with buf of cap bytes as
 * scratch), as `git hash-object` computes it. SDF_ECHANGED when fd does not
 * hold exactly size bytes.
 */
int sdf_blob_id_of_fd(git_oid *out, int fd, uint64_t size, void *buf,
                      size_t cap);
/* The blob id of len bytes in memory. */
void sdf_blob_id_of_buf(git_oid *out, const void *data, size_t len);

#endif
