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
	int oversized;     /* a side is over max_file_bytes: no patch */
	const char *patch; /* unified diff, NULL when none */
	size_t patch_len;
	int patch_truncated; /* a cap stopped it: the patch is absent */
} sdf_file_summary;

typedef struct {
	uint64_t files, additions, deletions;
	uint64_t binary_files, generated_files, oversized_files;
	uint64_t estimated_files; /* files whose counts are not exact */
	uint64_t patch_bytes;
	int truncated;          /* max_files stopped the listing */
	uint64_t omitted_files; /* files left out by that cap */
	uint64_t peak_bytes;    /* the allocator's peak for the run */
	uint64_t cache_hits;    /* files answered from the store's cache
	                           (not in the JSON: it depends on history) */
} sdf_diff_totals;

/*
 * How the service fills an sdf_file_summary so that the text formats below
 * print what `git diff --no-renames` prints (git 2.39, checked by
 * tests/api/test_git_text.c against real repositories):
 *
 * - One entry per changed path, in git's order (tree order: byte order of
 *   the full paths, a directory sorting as if it ended in '/'). The writers
 *   print the array in the order given.
 * - A type change (file <-> symlink, status SDF_FILE_TYPE_CHANGED) is ONE
 *   entry in all three formats: "T" in --name-status, and in --numstat and
 *   --stat the line counts of the old blob against the new one (a symlink's
 *   blob is its target text, usually without a final newline), exactly as
 *   for a modification. Only `git diff -p` splits it into a deletion and an
 *   addition; the patch in `patch` may do the same, the counts do not.
 * - A mode-only change (100644 -> 100755) is a modification with
 *   additions = deletions = 0: "0\t0\tpath", " path | 0".
 * - An added empty file is "0\t0", " path | 0" and "A".
 * - A submodule (gitlink, mode 160000) is one line per present side, the
 *   "Subproject commit <id>" git diffs: 1/1 when it moved, 1/0 added, 0/1
 *   deleted; never binary.
 * - Binary (either side binary): additions = deletions = 0, binary = 1;
 *   numstat prints "-\t-", stat prints "Bin OLD_SIZE -> NEW_SIZE bytes"
 *   from old_size/new_size, or a bare "Bin" when both sides have the same
 *   content (old_oid equal to new_oid, e.g. a mode-only change). Binary
 *   files count as files in the stat summary but add no insertions or
 *   deletions to it.
 * - Paths are raw bytes; the writers quote them as git does with
 *   core.quotePath=true (see sdf_api_quote_path).
 * - Renames have no place in --no-renames output: the text writers reject
 *   an SDF_FILE_RENAMED entry with SDF_EINVAL (before writing anything).
 */

/*
 * The JSON object of one file (the daemon's snapshot.diff.file payload).
 * Keys, in this order: path, old_path (renames only), status, old_oid,
 * new_oid, old_mode, new_mode, old_size, new_size, old_lines, new_lines,
 * additions, deletions, exact, binary, generated, generated_reason, oversized,
 * patch (only when there is one), patch_truncated, old_hash, new_hash.
 *
 * A side is absent when its mode is 0 (added: old side; deleted: new side);
 * then its oid, mode and hash are null (also an oid or hash given as "").
 * Modes are git's octal strings ("100644", "120000"). generated_reason is
 * null unless generated. Counts are JSON integers (clamped to INT64_MAX).
 *
 * Paths that are not valid UTF-8 cannot be JSON strings; they are given in
 * git's C-quoted form (the quotes included: "\"caf\\351\"") so nothing
 * is lost. Invalid UTF-8 inside a patch or a reason becomes U+FFFD. A patch
 * with patch_len 0 is taken as NUL-terminated.
 *
 * Returns a new reference, or NULL (with sdf_error_last() set: SDF_EINVAL
 * for a NULL or malformed summary or a path over 64 KiB, SDF_EBUDGET when
 * out of budget).
 */
json_t *sdf_api_file_json(const sdf_file_summary *f);
/*
 * The JSON object of the totals: files, additions, deletions, binary_files,
 * generated_files, oversized_files, estimated_files, patch_bytes, truncated
 * (Gitaly's overflow marker: max_files stopped the listing), omitted_files
 * (always present, 0 unless truncated), peak_bytes.
 */
json_t *sdf_api_totals_json(const sdf_diff_totals *t);
/*
 * One entry of OpenCode's SnapshotFileDiff array: {file, patch, additions,
 * deletions, status}. patch is "" when we have none; status is "added",
 * "deleted" or "modified" (renamed and type_changed map to "modified").
 */
json_t *sdf_api_file_opencode_json(const sdf_file_summary *f);

/*
 * Flags to dump the objects above with: compact, and keys in insertion
 * order (jansson >= 2.8 always keeps it; the flag says we rely on it).
 */
#define SDF_API_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/*
 * j as text with SDF_API_JSON_FLAGS (sdf_free it), or NULL with
 * SDF_EBUDGET set. Use it, not json_dumps: jansson 2.14 ignores a failed
 * allocation while it writes an object's key and returns text with that
 * key cut short ({"a":0,":0}).
 */
char *sdf_api_dumps(const json_t *j);

/*
 * `snapdiff diff --format opencode`: the JSON array of
 * sdf_api_file_opencode_json entries, then a newline. One entry is built at
 * a time, so memory does not grow with n. 0, or a negative SDF_E code
 * (SDF_EIO when the stream failed).
 */
int sdf_api_write_opencode(FILE *out, const sdf_file_summary *files, size_t n);

/*
 * Git's quoting of a path (core.quotePath=true, as in every format below):
 * a path holding '"', '\\', a byte below 0x20, 0x7f or a byte >= 0x80 is
 * written in double quotes with \a \b \t \n \v \f \r \" \\ and
 * three-digit octal escapes for the other such bytes; any other path is
 * written as it is. Like snprintf: writes at most cap bytes including the
 * NUL (dst may be NULL when cap is 0) and returns the quoted length.
 */
size_t sdf_api_quote_path(char *dst, size_t cap, const char *path);
/* 1 when sdf_api_quote_path would add quotes, else 0. */
int sdf_api_path_needs_quote(const char *path);

/*
 * The text formats, byte-identical to `git diff --no-renames --numstat`,
 * `--name-status` and `--stat`. Nothing is written unless every entry is
 * well-formed (a path, a known status other than renamed): SDF_EINVAL.
 * SDF_EIO when the stream reports an error. n == 0 writes nothing.
 */
int sdf_api_write_numstat(FILE *out, const sdf_file_summary *files, size_t n);
int sdf_api_write_name_status(FILE *out, const sdf_file_summary *files,
                              size_t n);

/* --stat[=width[,name-width]] and --stat-graph-width. All zero: git's. */
typedef struct {
	/*
	 * Total columns. 0 does what git does when it is not given: $COLUMNS
	 * if it is a positive number, else the terminal's width when out is
	 * a terminal, else 80. A daemon should pass its client's value.
	 */
	int width;
	int name_width;  /* cap on the name column, 0 = none */
	int graph_width; /* cap on the +/- graph, 0 = none */
} sdf_api_stat_options;

#define SDF_API_STAT_OPTIONS_INIT                                              \
	{                                                                      \
		0, 0, 0                                                        \
	}

/* opts may be NULL for the defaults. SDF_EBUDGET if the name buffer (the
 * longest quoted path) cannot be allocated; nothing is written then. */
int sdf_api_write_stat(FILE *out, const sdf_file_summary *files, size_t n,
                       const sdf_api_stat_options *opts);

#endif
