/* Private to snapshot/: recording snapshots. */
#ifndef SDF_SNAPSHOTS_INT_H
#define SDF_SNAPSHOTS_INT_H

#include "store_int.h"

/* 0 when label is NULL or acceptable (1-200 bytes, no control chars). */
int sdf_label_check(const char *label);

/*
 * Records tree_id as a snapshot (res->files and res->bytes must be set),
 * unless the newest snapshot has that tree and no label is given. Fills
 * res->tree, res->id and res->created.
 */
int sdf_snapshot_record(sdf_track_result *res, git_repository *repo,
                        const git_oid *tree_id, const char *label);

#endif
