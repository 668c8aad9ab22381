/*
 * api/: the protocol as data. The per-file summary of a diff, its one JSON
 * encoder (the daemon and `snapdiff diff --json` send the same bytes) and
 * the git-identical text formats. Knows nothing of libgit2 or the engine:
 * the service fills these plain structs.
 */
#ifndef SDF_API_H
#define SDF_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Routes jansson's allocations through the counting allocator. Call once,
 * before any JSON is built. */
void sdf_api_global_init(void);

typedef enum {
	SDF_FILE_ADDED,
	SDF_FILE_DELETED,
	SDF_FILE_MODIFIED,
	SDF_FILE_RENAMED,
	SDF_FILE_TYPE_CHANGED
} sdf_file_status;

/* "added", "deleted", "modified", "renamed", "type_changed". */
const char *sdf_file_status_name(sdf_file_status s);

/* What one changed path became. Absent sides have zero ids/modes/sizes. */
typedef struct {
	const char *path;
	const char *old_path; /* renames only, else NULL */
	sdf_file_status status;
	char old_oid[41], new_oid[41]; /* "" when the side is absent */
	uint32_t old_mode, new_mode;   /* 0 when the side is absent */
	uint64_t old_size, new_size;
	uint64_t old_lines, new_lines;
	uint64_t additions, deletions;
	/* XXH3-128 of each side's bytes, 32 hex digits ("" when absent) */
	char old_hash[33], new_hash[33];
	int exact;     /* 0 only when additions/deletions are an estimate */
	int binary;    /* no line counts: git prints "-\t-" */
	int generated; /* generated_reason says which rule fired */
	const char *generated_reason;
	int oversized; /* a side is over max_file_bytes: no patch */
	const char *patch; /* unified diff, NULL when none */
	size_t patch_len;
	int patch_truncated; /* a cap stopped it: the patch is absent */
} sdf_file_summary;

typedef struct {
	uint64_t files, additions, deletions;
	uint64_t binary_files, generated_files, oversized_files;
	uint64_t estimated_files; /* files whose counts are not exact */
	uint64_t patch_bytes;
	int truncated;		  /* max_files stopped the listing */
	uint64_t omitted_files;	  /* files left out by that cap */
	uint64_t peak_bytes;	  /* the allocator's peak for the run */
} sdf_diff_totals;

/* The JSON object of one file (the daemon's snapshot.diff.file payload). */
json_t *sdf_api_file_json(const sdf_file_summary *f);
/* The JSON object of the totals. */
json_t *sdf_api_totals_json(const sdf_diff_totals *t);
/* One entry of OpenCode's SnapshotFileDiff array. */
json_t *sdf_api_file_opencode_json(const sdf_file_summary *f);

#endif
