/* Private to snapshot/: shared by retention.c and prune.c. */
#ifndef SDF_PRUNE_INT_H
#define SDF_PRUNE_INT_H

#include "store_int.h"

#include <time.h>

#define SDF_PINNED_REF_PREFIX "refs/snapdiff/pinned/"

/* What a walk over the store's files found. */
typedef struct {
	struct timespec cutoff; /* loose objects modified after it are young */
	uint64_t bytes;         /* st_blocks * 512, files and directories */
	uint64_t apparent_bytes;
	uint64_t files;
	uint64_t loose_objects, loose_bytes;
	uint64_t young_objects, young_bytes; /* loose, after cutoff */
	uint64_t packs, packed_objects, pack_bytes;
} sdf_store_scan;

/* Walks every file under the store (cutoff must be set by the caller). */
int sdf_store_scan_run(sdf_store_scan *out, const char *store_path);

/* The snapshot ids that have a pinned ref, sorted; free with sdf_free. */
int sdf_pinned_ids(char ***out, size_t *count, git_repository *repo);
void sdf_pinned_ids_free(char **ids, size_t count);
/* 1 when id is in the sorted list. */
int sdf_pinned_has(char *const *ids, size_t count, const char *id);

#endif
