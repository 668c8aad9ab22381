/* Private to snapshot/: the blob reader for callers holding a git_oid. */
#ifndef SDF_BLOB_READER_INT_H
#define SDF_BLOB_READER_INT_H

#include "store_int.h"

/* Like sdf_blob_reader_open_ext, reading through repo's object database. */
int sdf_blob_reader_open_oid(sdf_blob_reader **out, git_repository *repo,
			     const git_oid *id,
			     const sdf_blob_reader_options *opts);

#endif
