/* Private to diff/: git's change compaction and its edit script. */
#ifndef SDF_DIFF_COMPACT_INT_H
#define SDF_DIFF_COMPACT_INT_H

#include "sdf_diff.h"

#include <stdint.h>

/* One side's lines, all in memory (only for files a patch is shown for). */
typedef struct {
	const sdf_diff_hash *hash;   /* n line hashes */
	const unsigned char *indent; /* n indents (SDF_DIFF_BLANK_LINE) */
	unsigned char *chg; /* chg[-1 .. n]: 1 = changed; chg[-1], chg[n] 0 */
	int64_t n;
} compact_side;

/*
 * xdl_change_compact: slides each group of changed lines of x as far up and
 * down as equal lines allow (merging groups that touch), then settles it
 * against a group of the other side if it can, else where the indent
 * heuristic scores best. Never changes how many lines are changed.
 */
void compact_changes(compact_side *x, compact_side *other);

/* Calls cb for each change, in order (see sdf_diff_range). */
int compact_emit(const compact_side *old_side, const compact_side *new_side,
                 sdf_diff_range_cb cb, void *payload);

#endif
