/*
 * Allocation failures in track: a worktree with every kind of change (new,
 * modified, deleted, an exec bit, a symlink, nested directories, an ignored
 * file, a file of a few MiB that is streamed in chunks) over a store with
 * one snapshot. For n = 1, 2, ... a child tracks with its n-th allocation
 * failing. Each attempt fails cleanly (SDF_EBUDGET, nothing leaked) or
 * succeeds with the tree git gives; after it the store is consistent: the
 * earlier snapshot is intact, no lock file is left, and (every few n) fsck
 * is clean, a normal track succeeds on what the attempt left and the earlier
 * snapshot restores byte-exact. The store is then put back as it was, so
 * every n starts from the same state.
 */
#include "oom_util.h"
#include "sdf_alloc.h"
#include "sdf_error.h"
#include "sdf_snapshot.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* three of the 256 KiB chunks track reads */
#define BIG_BYTES ((size_t)640 << 10)
/* Every CHECK_EVERY-th failure gets the expensive checks. */
#define CHECK_EVERY 64

static char *root, *wt, *stpath, *pristine, *snap1dir;

static void setup(void)
{
	oom_dirs_make("oom-track", &root, &wt, &stpath);
	pristine = tu_path(root, "pristine");
	snap1dir = tu_path(root, "snap1");
}

static void teardown(void)
{
	oom_dirs_free(root, wt, stpath);
	free(pristine);
	free(snap1dir);
}

TestSuite(track_oom, .init = setup, .fini = teardown, .timeout = 900);

/* dir/rel := size bytes of numbered lines. */
static void write_big(const char *rel, size_t size)
{
	char *buf = malloc(size);
	size_t at = 0;

	cr_assert_not_null(buf);
	for (unsigned i = 0; at < size; i++) {
		int k =
		    snprintf(buf + at, size - at, "line %u of a big file\n", i);
		at += (size_t)k < size - at ? (size_t)k : size - at;
	}
	tu_write(wt, rel, buf, size, 0644);
	free(buf);
}

/* The tree `git add -A && git write-tree` gives with a fresh GIT_DIR. */
static char *git_tree(void)
{
	return tu_sh_ok_last(
	    "set -e; g='%s/g'; rm -rf \"$g\"; git init -q --bare \"$g\"; "
	    "echo '* -text -ident' > \"$g/info/attributes\"; "
	    "GIT_DIR=\"$g\" GIT_WORK_TREE='%s' git add -A; "
	    "GIT_DIR=\"$g\" GIT_WORK_TREE='%s' git write-tree; rm -rf \"$g\"",
	    root, wt, wt);
}

struct track_case {
	char expect[SDF_OID_HEXSZ + 1]; /* the tree of the worktree */
};

/* Tracks with the n-th allocation failing (n = 0: none). */
static int track_child(uint64_t n, void *arg, char *msg, size_t cap)
{
	const struct track_case *tc = arg;
	sdf_track_options o = SDF_TRACK_OPTIONS_INIT;
	sdf_track_result res;
	sdf_store *s = NULL;
	size_t live0;
	uint64_t reached;
	int err;

	oom_warm_thread();
	live0 = sdf_alloc_live();
	/* as the CLI opens it: the store and the worktree given */
	if (sdf_store_open(&s, stpath, wt, 0) < 0)
		return oom_bad(msg, cap, "open: %s", sdf_error_last());
	/* one worker: the n-th allocation is the same one on every run */
	o.workers = 1;
	sdf_alloc_clear_failed();
	sdf_alloc_fail_at(n);
	err = sdf_snapshot_track(&res, s, &o);
	reached = sdf_alloc_count_since_arm();
	sdf_alloc_fail_at(0);
	/* what came back, in case freeing the store crashes (see below) */
	oom_note("returned %d: %s\n", err, err ? sdf_error_last() : "");
	sdf_store_free(s);
	if (sdf_alloc_live() != live0) {
		snprintf(msg, cap, "leak: %zu bytes", sdf_alloc_live() - live0);
		return err == SDF_EBUDGET || (err == 0 && reached >= n)
		           ? OOM_LEAK
		           : OOM_BAD;
	}
	if (err == 0) {
		if (strcmp(res.tree, tc->expect) != 0)
			return oom_bad(msg, cap, "tree %s, git says %s",
			               res.tree, tc->expect);
		/* a failed attempt may have recorded it already (see
		 * recorded_anyway below); then the next finds it */
		if (n && !res.created)
			return oom_bad(msg, cap, "no snapshot created");
		return n && reached >= n ? OOM_ABSORBED : OOM_DONE;
	}
	snprintf(msg, cap, "%d %s", err, sdf_error_last());
	if (err != SDF_EBUDGET)
		return oom_bad(msg, cap, "code %d (%s), not budget: %s", err,
		               sdf_error_name(err), sdf_error_last());
	if (!n || reached < n)
		return oom_bad(msg, cap,
		               "failed without an injected failure: %s",
		               sdf_error_last());
	return OOM_FAILED;
}

/*
 * The earlier snapshot and the store after an attempt. Returns 1 when the
 * failed attempt recorded the snapshot all the same (an allocation failed
 * after libgit2 wrote refs/snapdiff/head: the error is then about a
 * snapshot that is there, which the next track finds).
 */
static int check_store(const char *snap1, const char *tree1, uint64_t n,
                       int full, const struct track_case *tc)
{
	char t1[41], head[41], *lock, ref[128];
	oom_child c;
	int recorded;

	snprintf(ref, sizeof(ref), "refs/snapdiff/snapshots/%s", snap1);
	oom_rev_tree(t1, stpath, ref);
	oom_rev_tree(head, stpath, "refs/snapdiff/head");
	cr_assert_str_eq(t1, tree1, "n=%llu: the earlier snapshot is gone",
	                 (unsigned long long)n);
	recorded = strcmp(head, tc->expect) == 0;
	cr_assert(recorded || strcmp(head, tree1) == 0,
	          "n=%llu: refs/snapdiff/head has tree '%s'",
	          (unsigned long long)n, head);
	/*
	 * Lock files a failed libgit2 write leaves (it does not remove them
	 * when an allocation fails) that track clears under the store lock,
	 * and those of snapshot refs, whose names are never used again (prune
	 * removes them). Any other is stale; with one, the next track is
	 * checked at once.
	 */
	static const char *const cleared[] = {"/index.lock",
	                                      "/refs/snapdiff/head.lock", NULL};
	lock = oom_find_lock(stpath, cleared);
	cr_assert(!lock || strstr(lock, "/refs/snapdiff/snapshots/"),
	          "n=%llu: %s left", (unsigned long long)n, lock);
	free(lock);
	if ((lock = oom_find_lock(stpath, NULL))) {
		full = 1;
		free(lock);
	}
	if (!full)
		return recorded;
	free(tu_sh_ok("git --git-dir='%s' fsck --no-dangling --strict 2>&1",
	              stpath));
	/* a normal track on what the attempt left */
	cr_assert_eq(oom_fork(&c, track_child, 0, (void *)tc), OOM_DONE,
	             "n=%llu: the next track: exit %d: %s",
	             (unsigned long long)n, c.status, c.msg);
	/* and the earlier snapshot restores byte-exact (with git: our
	 * restore would write into the worktree being tracked) */
	free(
	    tu_sh_ok("set -e; rm -rf '%s/x'; mkdir '%s/x'; "
	             "git --git-dir='%s' archive 'refs/snapdiff/snapshots/%s' "
	             "| tar -x -C '%s/x'; diff -r --no-dereference '%s/x' '%s'",
	             root, root, stpath, snap1, root, root, snap1dir));
	return recorded;
}

/*
 * Crashes that are libgit2's (1.5.1) and that our code cannot avoid, an
 * allocation failing inside
 *  - git_index_add of a new path (index_insert): the entry goes into the
 *    index's sorted vector, then growing its path map fails and the entry
 *    is freed but left in the vector; git_index_free (sdf_store_free ->
 *    git_repository_free) frees it again and glibc aborts, after track
 *    returned SDF_EBUDGET cleanly;
 *  - git_index_write_tree (tree.c write_tree): it then reads a tree entry
 *    it never got, git_tree_entry_filemode(NULL);
 *  - git_reference_lookup (the loose ref backend does not check the
 *    reference it allocates and returns success with NULL, which
 *    git_refdb_lookup dereferences).
 * No public call sizes the index's map ahead, and the others have no way
 * round short of not using libgit2 for the index, the tree and the refs.
 * A crash is a kill -9 at that point: the store is checked as after any
 * failure. Crashes while loading the config and the ref database, and a
 * leak while loading the object database, were avoided by loading them in
 * sdf_store_open, before any fault window.
 */

/*
 * A leak that is libgit2's (see oom_libgit2_leak_site): track returns
 * SDF_EBUDGET cleanly; the store is checked as for any failure.
 */
static int libgit2_leak(const oom_child *c)
{
	return strncmp(c->msg, "returned -2: ", 13) == 0 &&
	       oom_libgit2_leak_site(c->msg + 13);
}

Test(track_oom, every_allocation_failure_is_clean)
{
	struct track_case tc;
	sdf_track_options o = SDF_TRACK_OPTIONS_INIT;
	sdf_track_result res;
	sdf_store *s;
	char *tree, *out, id1[64], tree1[SDF_OID_HEXSZ + 1];
	uint64_t n, step = oom_stride(), full = 0, recorded = 0;
	oom_tally t = {0};
	struct timespec t0, t1;
	oom_child c;
	int st;

	/* the first snapshot */
	tu_write_str(wt, "a.txt", "alpha\nbeta\ngamma\n");
	tu_write_str(wt, "keep.txt", "unchanged\n");
	tu_write_str(wt, "old.txt", "to be deleted\n");
	tu_write_str(wt, "run.sh", "#!/bin/sh\necho hi\n");
	tu_write_str(wt, "dir/sub/deep.txt", "deep\n");
	tu_write_str(wt, ".gitignore", "*.log\n");
	cr_assert_eq(sdf_store_open(&s, stpath, wt, SDF_STORE_CREATE), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(sdf_snapshot_track(&res, s, &o), 0, "%s",
	             sdf_error_last());
	sdf_store_free(s);
	snprintf(id1, sizeof(id1), "%s", res.id);
	snprintf(tree1, sizeof(tree1), "%s", res.tree);
	free(tu_sh_ok("cp -a '%s' '%s' && cp -a '%s' '%s'", wt, snap1dir,
	              stpath, pristine));

	/* every kind of change */
	tu_write_str(wt, "a.txt", "alpha\nBETA\ngamma\ndelta\n");
	free(tu_sh_ok("rm '%s/old.txt' && chmod +x '%s/run.sh' && "
	              "ln -s a.txt '%s/link'",
	              wt, wt, wt));
	tu_write_str(wt, "dir/new/n1.txt", "new one\n");
	tu_write_str(wt, "dir/new/deeper/n2.txt", "new two\n");
	tu_write_str(wt, "build.log", "ignored\n");
	write_big("big.txt", BIG_BYTES);
	tree = git_tree();
	snprintf(tc.expect, sizeof(tc.expect), "%s", tree);
	free(tree);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (n = oom_first(); n < 1000000; n += step) {
		oom_fork(&c, track_child, n, &tc);
		st = oom_judge(&t, &c, n, "track", libgit2_leak);
		if (st == OOM_DONE)
			break;
		/* a crash is a kill -9 at that point: checked in full */
		int deep = st == OOM_CRASHED ||
		           (t.failed + t.absorbed) % CHECK_EVERY == 1;
		full += deep;
		recorded += (uint64_t)check_store(id1, tree1, n, deep, &tc);
		/* the next n starts from the same store */
		tu_rm_rf(stpath);
		oom_copy_tree(pristine, stpath);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(st, OOM_DONE, "never succeeded");
	cr_assert_gt(t.failed * step, 50, "only %llu failure points",
	             (unsigned long long)t.failed);
	cr_assert_eq(t.crashes, 0, "libgit2 crashed (see the log)");
	cr_log_info(
	    "track: %llu failure points injected (every %llu-th of "
	    "%llu allocations): %llu clean failures, %llu absorbed, "
	    "%llu full checks, %llu recorded before failing, %llu libgit2 "
	    "crashes, %llu libgit2 leaks, %.1f s",
	    (unsigned long long)oom_points(&t), (unsigned long long)step,
	    (unsigned long long)n - 1, (unsigned long long)t.failed,
	    (unsigned long long)t.absorbed, (unsigned long long)full,
	    (unsigned long long)recorded, (unsigned long long)t.crashes,
	    (unsigned long long)t.leaks,
	    (double)(t1.tv_sec - t0.tv_sec) +
	        (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	/* what the last attempt left: consistent, and its snapshot git's */
	free(tu_sh_ok("git --git-dir='%s' fsck --no-dangling --strict 2>&1",
	              stpath));
	out = tu_sh_ok_last("git --git-dir='%s' rev-parse "
	                    "'refs/snapdiff/head^{tree}'",
	                    stpath);
	cr_assert_str_eq(out, tc.expect);
	free(out);
}

/*
 * Opening a store with its n-th allocation failing: SDF_EBUDGET, never
 * "no snapdiff store" (sdf_store_open said so when it could not build the
 * path it looks for, and with SDF_STORE_CREATE it would then have tried to
 * create a store over the existing one), and nothing leaks (libgit2 1.5.1
 * leaks when an allocation fails while it opens a repository: those are
 * never refused).
 */
static int open_child(uint64_t n, void *arg, char *msg, size_t cap)
{
	sdf_store *s = NULL;
	uint64_t reached;
	size_t live0;
	int err;

	(void)arg;
	oom_warm_thread();
	live0 = sdf_alloc_live();
	sdf_alloc_fail_at(n);
	err = sdf_store_open(&s, stpath, wt, SDF_STORE_CREATE);
	reached = sdf_alloc_count_since_arm();
	sdf_alloc_fail_at(0);
	sdf_store_free(s);
	if (sdf_alloc_live() != live0)
		return oom_bad(msg, cap, "leak: %zu bytes (returned %d: %s)",
		               sdf_alloc_live() - live0, err,
		               err ? sdf_error_last() : "");
	if (err == 0)
		return reached >= n ? OOM_ABSORBED : OOM_DONE;
	if (err != SDF_EBUDGET)
		return oom_bad(msg, cap, "code %d (%s): %s", err,
		               sdf_error_name(err), sdf_error_last());
	return OOM_FAILED;
}

Test(track_oom, store_open_fails_with_budget)
{
	sdf_store *s;
	oom_child c;
	oom_tally t = {0};
	uint64_t n;
	int st = -1;

	tu_write_str(wt, "a.txt", "a\n");
	cr_assert_eq(sdf_store_open(&s, stpath, wt, SDF_STORE_CREATE), 0, "%s",
	             sdf_error_last());
	sdf_store_free(s);
	for (n = 1; n < 100000; n++) {
		oom_fork(&c, open_child, n, NULL);
		if ((st = oom_judge(&t, &c, n, "store open", NULL)) == OOM_DONE)
			break;
	}
	cr_assert_eq(st, OOM_DONE);
	/* snapdiff's own: the store, its paths */
	cr_assert_gt(t.failed, 2);
	cr_assert_eq(t.crashes, 0);
	cr_log_info("store open: %llu allocations, %llu budget failures",
	            (unsigned long long)n - 1, (unsigned long long)t.failed);
}
