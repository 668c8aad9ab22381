/* gitignore matching, checked against git's own check-ignore. */
#include "ignore_int.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(wildmatch, basics)
{
	cr_assert(sdf_wildmatch("*.log", "a.log", 0));
	cr_assert_not(sdf_wildmatch("*.log", "a.log.txt", 0));
	cr_assert(sdf_wildmatch("a?c", "abc", 1));
	cr_assert_not(sdf_wildmatch("a?c", "a/c", 1));
	cr_assert(sdf_wildmatch("a*", "a/b", 0));
	cr_assert_not(sdf_wildmatch("a*", "a/b", 1));
	cr_assert(sdf_wildmatch("[a-c]x", "bx", 1));
	cr_assert_not(sdf_wildmatch("[!a-c]x", "bx", 1));
	cr_assert(sdf_wildmatch("[^a-c]x", "dx", 1));
	cr_assert(sdf_wildmatch("[]]", "]", 1));
	cr_assert(sdf_wildmatch("[[:digit:]]*", "7up", 1));
	cr_assert_not(sdf_wildmatch("[[:digit:]]*", "up", 1));
	cr_assert(sdf_wildmatch("\\*", "*", 1));
	cr_assert_not(sdf_wildmatch("\\*", "x", 1));
	cr_assert(sdf_wildmatch("\\#x", "#x", 1));
}

Test(wildmatch, double_star)
{
	cr_assert(sdf_wildmatch("**/foo", "foo", 1));
	cr_assert(sdf_wildmatch("**/foo", "a/b/foo", 1));
	cr_assert(sdf_wildmatch("a/**/b", "a/b", 1));
	cr_assert(sdf_wildmatch("a/**/b", "a/x/y/b", 1));
	cr_assert_not(sdf_wildmatch("a/**/b", "a/x/y/c", 1));
	cr_assert(sdf_wildmatch("abc/**", "abc/x/y", 1));
	cr_assert_not(sdf_wildmatch("abc/**", "abd/x", 1));
	/* "**" not between slashes is an ordinary star */
	cr_assert(sdf_wildmatch("a**b", "axxb", 1));
	cr_assert_not(sdf_wildmatch("a**b", "ax/xb", 1));
}

/*
 * A worktree of files and rules; every path's verdict must equal
 * `git check-ignore`'s with a fresh GIT_DIR.
 */
Test(ignore, agrees_with_git_check_ignore)
{
	char *wt = tu_mkdtemp("ignore");
	static const char *files[] = {
	    "a.log",
	    "keep.log",
	    "build/out.o",
	    "rootonly",
	    "sub/rootonly",
	    "x/tmp/y/z",
	    "dir/junk",
	    "dir/important",
	    "sub/drop.txt",
	    "sub/keep.txt",
	    "sub/inner/drop2.txt",
	    "sub/inner/other.txt",
	    "doc/a.md",
	    "doc/deep/b.md",
	    "cache/x",
	    "src/cache/y",
	    "space trail",
	    "#hash",
	    "!bang",
	    "Makefile",
	    "nested/a/b/c.o",
	};
	tu_write_str(wt, ".gitignore",
	             "*.log\nbuild/\n!keep.log\n/rootonly\n**/tmp/**\n"
	             "dir/*\n!dir/important\ndoc/**/*.md\n!doc/a.md\n"
	             "/cache/\nspace trail  \n\\#hash\n\\!bang\n*.o\n"
	             "# comment\n\n");
	tu_write_str(wt, "sub/.gitignore", "*.txt\n!keep.txt\n");
	tu_write_str(wt, "sub/inner/.gitignore", "!drop2.txt\n");
	tu_write_str(wt, "nested/.gitignore", "!a/b/c.o\n");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		tu_write_str(wt, files[i], "x\n");

	sdf_ignore *ig = NULL;
	cr_assert_eq(sdf_ignore_new(&ig, NULL, NULL), 0);
	int root = open(wt, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(sdf_ignore_push_dir(ig, root, ""), 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *f = files[i];
		/* enter each parent directory, as the walk does */
		char dir[256] = "";
		int pushed = 0, ignored = 0;
		for (const char *s = strchr(f, '/'); s;
		     s = strchr(s + 1, '/')) {
			size_t n = (size_t)(s - f);
			char sub[256];
			memcpy(sub, f, n);
			sub[n] = '\0';
			if (sdf_ignore_check(ig, sub, 1)) {
				ignored = 1;
				break;
			}
			memcpy(dir, f, n + 1);
			dir[n + 1] = '\0';
			int fd = openat(root, sub, O_RDONLY | O_DIRECTORY);
			cr_assert_eq(sdf_ignore_push_dir(ig, fd, dir), 0);
			close(fd);
			pushed++;
		}
		if (!ignored)
			ignored = sdf_ignore_check(ig, f, 0);
		while (pushed--)
			sdf_ignore_pop_dir(ig);

		tu_result r;
		tu_sh(&r,
		      "cd '%s' && d=$(mktemp -d) && git init -q --bare $d && "
		      "GIT_DIR=$d GIT_WORK_TREE=. git check-ignore -q '%s'; "
		      "s=$?; rm -rf $d; exit $s",
		      wt, f);
		cr_assert_eq(ignored, r.status == 0, "%s: ours %d, git says %s",
		             f, ignored,
		             r.status == 0 ? "ignored" : "not ignored");
		tu_result_dispose(&r);
	}
	close(root);
	sdf_ignore_free(ig);
	tu_rm_rf(wt);
	free(wt);
}
