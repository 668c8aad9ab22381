/* Helpers shared by the CLI integration tests. */
#ifndef SDF_TRACK_UTIL_H
#define SDF_TRACK_UTIL_H

#include "testutil.h"

/* snapdiff track of wt into store; asserts success, returns the tree id. */
char *cli_track(const char *wt, const char *store, const char *extra);
/* The tree `git add -A && git write-tree` gives with a fresh GIT_DIR. */
char *git_tree(const char *wt);
/* Asserts both give the same tree; returns it. */
char *expect_same_tree(const char *wt, const char *store);
/* Writes size bytes of numbered lines for turn into dir/rel. */
void write_lines(const char *dir, const char *rel, size_t size, int turn);

#endif
