/*
 * The composition of the store and the engine: per-file summaries of the
 * changes between two trees, each side streamed from the store into the
 * line engine (the two sides of a large file on two threads). Shared by the
 * CLI and the daemon.
 */
#ifndef SDF_SUMMARY_H
#define SDF_SUMMARY_H

#include "sdf_api.h"
#include "sdf_snapshot.h"

typedef struct {
	uint64_t max_file_bytes;        /* above it: oversized, no patch */
	uint64_t max_patch_bytes;       /* per file */
	uint64_t max_total_patch_bytes; /* for the whole diff */
	uint64_t max_files;             /* 0: no limit */
	int patches;                    /* render patches where they fit */
	size_t work_budget;             /* the line engine's; 0: default */
	int no_cache;                   /* neither read nor fill the cache */
	/* Called for each file in git's order; a negative return stops. */
	int (*on_file)(const sdf_file_summary *f, void *payload);
	void *payload;
} sdf_summary_options;

#define SDF_SUMMARY_MAX_FILE_BYTES ((uint64_t)1 << 20)
#define SDF_SUMMARY_MAX_PATCH_BYTES ((uint64_t)64 << 10)
#define SDF_SUMMARY_MAX_TOTAL_PATCH_BYTES ((uint64_t)1 << 20)
#define SDF_SUMMARY_OPTIONS_INIT                                               \
	{                                                                      \
		SDF_SUMMARY_MAX_FILE_BYTES, SDF_SUMMARY_MAX_PATCH_BYTES,       \
		    SDF_SUMMARY_MAX_TOTAL_PATCH_BYTES, 0, 1, 0, 0, NULL, NULL  \
	}

/*
 * Summarizes the changes from tree old_tree to new_tree (ids) of the store.
 * reader2 is a second handle on the same store for the second thread (one
 * git_repository per thread); NULL reads both sides on this thread.
 */
int sdf_summarize(sdf_diff_totals *totals, sdf_store *st, sdf_store *reader2,
                  const char *old_tree, const char *new_tree,
                  const sdf_summary_options *opts);

#endif
