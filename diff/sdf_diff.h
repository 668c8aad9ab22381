/*
 * The line-diff core: exact `git diff --numstat` additions and deletions
 * (git 2.39's xdiff, Myers, default options) for two byte streams, in
 * memory bounded by a budget whatever the file sizes.
 *
 * A side is streamed once (any chunking); each line is reduced to a 128-bit
 * XXH3 hash which is spilled to an unlinked temporary file. The diff then
 * works on the hash sequences only: it never holds a body.
 *
 *	sdf_diff_side *a = NULL, *b = NULL;
 *	sdf_diff_side_new(&a, NULL); ... sdf_diff_side_feed(a, buf, n); ...
 *	sdf_diff_side_finish(a);   (same for b, possibly on another thread)
 *	sdf_diff_lines_result res;
 *	sdf_diff_lines(&res, a, b, NULL);
 *
 * All memory comes from the counting allocator (common/sdf_alloc.h); over
 * the allocator's limit a call returns SDF_EBUDGET and leaks nothing.
 */
#ifndef SDF_DIFF_H
#define SDF_DIFF_H

#include <stddef.h>
#include <stdint.h>

/* A 128-bit XXH3 hash (low and high 64 bits). */
typedef struct {
	uint64_t lo, hi;
} sdf_diff_hash;

/* One side being streamed. Sides share no state: feed two from two threads. */
typedef struct sdf_diff_side sdf_diff_side;

typedef struct {
	/* Directory for the side's spill file; NULL: $TMPDIR, else /tmp. */
	const char *spill_dir;
} sdf_diff_side_options;

#define SDF_DIFF_SIDE_OPTIONS_INIT                                             \
	{                                                                      \
		NULL                                                           \
	}

typedef struct {
	uint64_t bytes;
	/* Lines as git counts them: a last line without '\n' is a line. */
	uint64_t lines;
	/* A NUL byte in the first 8000 bytes: git prints "-\t-". */
	int binary;
	/* Non-empty and the last byte is not '\n'. */
	int ends_without_newline;
	/* XXH3-128 of all the bytes. */
	sdf_diff_hash content;
} sdf_diff_stats;

/* opts may be NULL. */
int sdf_diff_side_new(sdf_diff_side **out, const sdf_diff_side_options *opts);
/* Feeds the next len bytes; any chunking gives the same result. */
int sdf_diff_side_feed(sdf_diff_side *side, const void *buf, size_t len);
/* Ends the stream; the side is then read-only and may be diffed many times. */
int sdf_diff_side_finish(sdf_diff_side *side);
/* Valid after finish. */
int sdf_diff_side_stats(sdf_diff_stats *out, const sdf_diff_side *side);
void sdf_diff_side_free(sdf_diff_side *side);

/*
 * Writes a finished side (its stats, line hashes and indents) to fd at its
 * current offset, for a cache: a side reopened from it diffs as the
 * original did without the body being read again. About 17 bytes a line.
 */
int sdf_diff_side_save(const sdf_diff_side *side, int fd);
/*
 * A finished side read in place from what sdf_diff_side_save() wrote at
 * offset of fd (which may be closed afterwards: the side keeps its own
 * descriptors). A damaged or truncated one is SDF_ECORRUPT.
 */
int sdf_diff_side_open_saved(sdf_diff_side **out, int fd, uint64_t offset);

/* Default bytes for the in-memory stages of sdf_diff_lines(). */
#define SDF_DIFF_WORK_BUDGET_DEFAULT (8u << 20)
/* The smallest work budget sdf_diff_lines() accepts. */
#define SDF_DIFF_WORK_BUDGET_MIN (256u << 10)

/*
 * One change, as git's xdiff reports it after its change compaction (with
 * the indent heuristic, git's default): old lines [old_start, old_start +
 * old_count) became new lines [new_start, new_start + new_count). 0-based;
 * a count may be 0 (then start is the line before which lines were added
 * or after which they were removed). Ranges come in file order and are
 * separated by at least one unchanged line.
 */
typedef struct {
	uint64_t old_start, old_count;
	uint64_t new_start, new_count;
} sdf_diff_range;

/* Returns 0 to go on, or a negative code that sdf_diff_lines() returns. */
typedef int (*sdf_diff_range_cb)(const sdf_diff_range *range, void *payload);

typedef struct {
	/*
	 * Bytes the in-memory stages may use (hash tables, filters, caches,
	 * Myers vectors); 0: SDF_DIFF_WORK_BUDGET_DEFAULT, below
	 * SDF_DIFF_WORK_BUDGET_MIN: SDF_EINVAL. The process-wide allocator
	 * limit still applies on top of this.
	 */
	size_t work_budget;
	/* Directory for the diff's own spill files; NULL: $TMPDIR or /tmp. */
	const char *spill_dir;
	/*
	 * Optional: receives the changes, for a patch renderer to re-stream
	 * both bodies. Ranges need about 20 bytes per line of both sides in
	 * the work budget (fine for any file a patch is shown for); when they
	 * do not fit, the counts are still given and result.ranges is 0.
	 */
	sdf_diff_range_cb range_cb;
	void *payload;
	/*
	 * 0: the two sides' stages run on two threads when the files are
	 * large enough for it to pay; 1: everything on the caller's thread.
	 */
	unsigned threads;
	/*
	 * git's core.bigFileThreshold: git calls a side of more bytes binary
	 * ("-\t-"). 0: no such limit (lines are counted whatever the size);
	 * SDF_DIFF_BIG_FILE_GIT: git's default, for output identical to git's.
	 */
	uint64_t big_file_bytes;
} sdf_diff_lines_options;

#define SDF_DIFF_BIG_FILE_GIT ((uint64_t)512 << 20)

#define SDF_DIFF_LINES_OPTIONS_INIT                                            \
	{                                                                      \
		0, NULL, NULL, NULL, 0, 0                                      \
	}

typedef struct {
	/* Lines added (new side) and deleted (old side), as git's numstat. */
	uint64_t additions, deletions;
	/*
	 * 1: the counts are git's. 0: the Myers stage did not fit the work
	 * budget and the counts are an upper bound (every line that xdiff
	 * could still have matched counted as changed); never 0 + 0 for
	 * sides that differ.
	 */
	int exact;
	/*
	 * Either side is binary (a NUL in its first 8000 bytes, or more bytes
	 * than big_file_bytes): no line counts, git prints "-\t-".
	 */
	int binary;
	/* The range callback saw every change (only with exact counts). */
	int ranges;
} sdf_diff_lines_result;

/*
 * Counts the lines `git diff --no-index --numstat old new` reports, for two
 * finished sides. opts may be NULL.
 */
int sdf_diff_lines(sdf_diff_lines_result *out, const sdf_diff_side *old_side,
                   const sdf_diff_side *new_side,
                   const sdf_diff_lines_options *opts);

#endif
