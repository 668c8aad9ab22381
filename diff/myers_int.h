/* Private to diff/: xdiff's Myers stage over two spilled hash sequences. */
#ifndef SDF_DIFF_MYERS_INT_H
#define SDF_DIFF_MYERS_INT_H

#include "diff_int.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Runs xdiff's divide-and-conquer Myers (its cost cutoff, snake heuristic,
 * need_min off at the top) on the records [0, n_old) and [0, n_new) of two
 * spills of line ids (uint32, equal for equal content): the lines that
 * survived the discard. *chg_old and *chg_new
 * receive how many of them are changed.
 *
 * Memory stays within budget: the sequences are read through a block
 * cache (all of the middle when it fits) and the K vectors are windows of
 * the diagonals actually reached. When those windows would pass the budget,
 * *exact is 0 and the counts are the untrimmed middle (an upper bound).
 *
 * mark_old and mark_new, when not NULL, hold n_old and n_new zeroed bytes;
 * the changed lines' bytes are set to 1 (meaningful only when exact).
 */
int myers_count(uint64_t *chg_old, uint64_t *chg_new, int *exact,
                const spill *old_ids, uint64_t n_old, const spill *new_ids,
                uint64_t n_new, size_t budget, unsigned char *mark_old,
                unsigned char *mark_new);

#endif
