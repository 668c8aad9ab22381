/*
 * libgit2-numstat: `git diff --numstat FROM TO` the way a libgit2 user writes
 * it: git_diff_tree_to_tree, then git_patch_from_diff and
 * git_patch_line_stats for each file. The comparison point for snapdiff diff
 * in bench/ (it is not part of snapdiff, and does nothing to bound memory).
 *
 * usage: libgit2-numstat GIT_DIR FROM TO
 * prints "ADDED\tDELETED\tPATH" per changed file ("-\t-\tPATH" if binary).
 */
#include <git2.h>
#include <stdio.h>

static int fail(const char *what)
{
	const git_error *e = git_error_last();

	fprintf(stderr, "libgit2-numstat: %s: %s\n", what,
	        e && e->message ? e->message : "unknown error");
	return 1;
}

static int tree_of(git_tree **out, git_repository *repo, const char *spec)
{
	git_object *obj = NULL;
	int rc;

	if ((rc = git_revparse_single(&obj, repo, spec)) < 0)
		return rc;
	rc = git_object_peel((git_object **)out, obj, GIT_OBJECT_TREE);
	git_object_free(obj);
	return rc;
}

int main(int argc, char **argv)
{
	git_repository *repo = NULL;
	git_tree *a = NULL, *b = NULL;
	git_diff *diff = NULL;
	int rc = 1;

	if (argc != 4) {
		fputs("usage: libgit2-numstat GIT_DIR FROM TO\n", stderr);
		return 2;
	}
	git_libgit2_init();
	if (git_repository_open_bare(&repo, argv[1]) < 0) {
		rc = fail("open");
		goto done;
	}
	if (tree_of(&a, repo, argv[2]) < 0 || tree_of(&b, repo, argv[3]) < 0) {
		rc = fail("resolve");
		goto done;
	}
	if (git_diff_tree_to_tree(&diff, repo, a, b, NULL) < 0) {
		rc = fail("diff");
		goto done;
	}
	for (size_t i = 0; i < git_diff_num_deltas(diff); i++) {
		git_patch *patch = NULL;
		const git_diff_delta *d;
		size_t adds = 0, dels = 0;

		if (git_patch_from_diff(&patch, diff, i) < 0) {
			rc = fail("patch");
			goto done;
		}
		d = git_patch_get_delta(patch);
		if (d->flags & GIT_DIFF_FLAG_BINARY) {
			printf("-\t-\t%s\n", d->new_file.path);
		} else {
			git_patch_line_stats(NULL, &adds, &dels, patch);
			printf("%zu\t%zu\t%s\n", adds, dels, d->new_file.path);
		}
		git_patch_free(patch);
	}
	rc = fflush(stdout) ? 1 : 0;
done:
	git_diff_free(diff);
	git_tree_free(a);
	git_tree_free(b);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return rc;
}
