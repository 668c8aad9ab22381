#include "track_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cli_track(const char *wt, const char *store, const char *extra)
{
	tu_result r;
	char *tree;

	tu_sh(&r, "'%s' track --worktree '%s' --store '%s' %s", SDF_CLI, wt,
	      store, extra ? extra : "");
	cr_assert_eq(r.status, 0, "track failed (%d): %s", r.status, r.err);
	tree = tu_last_line(r.out);
	cr_assert_eq(strlen(tree), 40, "not a tree id: '%s'", tree);
	tu_result_dispose(&r);
	return tree;
}

char *git_tree(const char *wt)
{
	return tu_git_tree(wt);
}

char *expect_same_tree(const char *wt, const char *store)
{
	char *ours = cli_track(wt, store, NULL), *theirs = git_tree(wt);

	cr_assert_str_eq(ours, theirs, "snapdiff %s != git %s in %s", ours,
	                 theirs, wt);
	free(theirs);
	return ours;
}

void write_lines(const char *dir, const char *rel, size_t size, int turn)
{
	char *p = tu_path(dir, rel), line[128];
	char *buf = malloc(1 << 20);
	size_t done = 0, fill = 0;
	FILE *f;

	tu_write(dir, rel, "", 0, 0);
	f = fopen(p, "wb");
	cr_assert_not_null(f);
	for (unsigned long n = 0; done < size; n++) {
		int len = snprintf(line, sizeof(line),
		                   "turn %06d line %012lu payload abcdefghij\n",
		                   turn, n);
		size_t take = (size_t)len;
		if (take > size - done)
			take = size - done;
		if (fill + take > (1 << 20)) {
			fwrite(buf, 1, fill, f);
			fill = 0;
		}
		memcpy(buf + fill, line, take);
		fill += take;
		done += take;
	}
	fwrite(buf, 1, fill, f);
	fclose(f);
	free(buf);
	free(p);
}
