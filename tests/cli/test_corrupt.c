/*
 * A store damaged under snapdiff (an object's bytes flipped, an object cut
 * short or deleted, a snapshot ref overwritten): the commands that need the
 * damaged part fail with a clear error and a non-zero exit; the others,
 * and every other snapshot, work as before.
 */
#define _GNU_SOURCE
#include "track_util.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *scratch, *wt, *pristine, *store;

static void setup(void)
{
	scratch = tu_mkdtemp("corrupt");
	wt = tu_path(scratch, "wt");
	pristine = tu_path(scratch, "pristine");
	store = tu_path(scratch, "store");
	cr_assert_eq(mkdir(wt, 0755), 0);
}

static void teardown(void)
{
	tu_result r;

	tu_sh(&r, "umount '%s/small' 2>/dev/null; true", scratch);
	tu_result_dispose(&r);
	tu_rm_rf(scratch);
	free(scratch);
	free(wt);
	free(pristine);
	free(store);
}

TestSuite(corrupt, .init = setup, .fini = teardown, .timeout = 600);

enum damage { FLIP, TRUNCATE, DELETE };

/* Damages the loose object oid of store. */
static void damage_object(const char *oid, enum damage how)
{
	static const char *const cmd[] = {
	    /* four bytes inside the zlib stream */
	    "printf '\\377\\377\\377\\377' | dd of=\"$f\" bs=1 seek=12 "
	    "conv=notrunc 2>/dev/null",
	    "truncate -s 10 \"$f\"",
	    "rm \"$f\"",
	};

	free(tu_sh_ok("f='%s/objects/%.2s/%s' && test -f \"$f\" && "
	              "chmod u+w \"$f\" && %s",
	              store, oid, oid + 2, cmd[how]));
}

/* Runs the CLI; asserts a non-zero exit and needle in the first line of
 * stderr, which begins "snapdiff: error: ". */
static void expect_failure(const char *what, const char *needle,
                           const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect_failure(const char *what, const char *needle,
                           const char *fmt, ...)
{
	va_list ap;
	char *args, *nl;
	tu_result r;

	va_start(ap, fmt);
	args = tu_vformat(fmt, ap);
	va_end(ap);
	/* a hang (libgit2 on a truncated object) fails as status 124 */
	tu_sh(&r, "timeout 120 '%s' %s", SDF_CLI, args);
	cr_assert_neq(r.status, 0, "%s: %s succeeded", what, args);
	cr_assert(r.status == 1, "%s: %s: status %d: %s", what, args, r.status,
	          r.err);
	cr_assert(!strncmp(r.err, "snapdiff: error: ", 17), "%s: %s: %s", what,
	          args, r.err);
	nl = strchr(r.err, '\n');
	cr_assert_not_null(nl);
	*nl = '\0';
	cr_assert(strstr(r.err, needle), "%s: %s: %s", what, args, r.err);
	tu_result_dispose(&r);
	free(args);
}

Test(corrupt, damaged_objects_and_refs_fail_cleanly_and_lose_nothing)
{
	char *t1, *t2, *t3, *blob2, *sub2, *ref2;
	static const struct {
		const char *name;
		int target; /* 0: the blob, 1: the root tree, 2: a subtree,
		               3: the snapshot ref */
		enum damage how;
		const char *needle; /* in diff's and restore's error */
	} cases[] = {
	    {"blob bytes flipped", 0, FLIP, "big"},
	    {"blob truncated", 0, TRUNCATE, "big"},
	    {"blob deleted", 0, DELETE, "big"},
	    {"tree bytes flipped", 1, FLIP, "tree"},
	    {"tree truncated", 1, TRUNCATE, "tree"},
	    {"subtree deleted", 2, DELETE, "not found"},
	    {"snapshot ref overwritten", 3, FLIP, "unknown tree-ish 'two'"},
	};

	/* three snapshots; the second has objects of its own */
	tu_write_str(wt, "a.txt", "one\n");
	write_lines(wt, "big", 64 << 10, 1);
	t1 = cli_track(wt, pristine, "--label one");
	write_lines(wt, "big", 80 << 10, 2);
	tu_write_str(wt, "only2/x.txt", "only in two\n");
	t2 = cli_track(wt, pristine, "--label two");
	free(tu_sh_ok("rm -r '%s/only2'", wt));
	write_lines(wt, "big", 96 << 10, 3);
	t3 = cli_track(wt, pristine, "--label three");
	blob2 =
	    tu_sh_ok_last("git --git-dir='%s' rev-parse %s:big", pristine, t2);
	sub2 = tu_sh_ok_last("git --git-dir='%s' rev-parse %s:only2", pristine,
	                     t2);
	ref2 = tu_sh_ok_last("git --git-dir='%s' for-each-ref "
	                     "--format='%%(refname)' refs/snapdiff/snapshots | "
	                     "sed -n 2p",
	                     pristine);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *what = cases[i].name;
		tu_result r;

		free(tu_sh_ok("rm -rf '%s' && cp -a '%s' '%s'", store, pristine,
		              store));
		switch (cases[i].target) {
		case 0:
			damage_object(blob2, cases[i].how);
			break;
		case 1:
			damage_object(t2, cases[i].how);
			break;
		case 2:
			damage_object(sub2, cases[i].how);
			break;
		default:
			free(tu_sh_ok("echo 'not a ref' > '%s/%s'", store,
			              ref2));
		}
		/* what needs the damaged part fails, with one clear line */
		expect_failure(what, cases[i].needle,
		               "diff --store '%s' one two", store);
		expect_failure(what, cases[i].needle,
		               "diff --store '%s' two three --stat", store);
		char *dir = tu_path(scratch, "restore-two");
		free(tu_sh_ok("rm -rf '%s' && mkdir '%s'", dir, dir));
		expect_failure(what, cases[i].needle,
		               "restore two --worktree '%s' --store '%s'", dir,
		               store);
		free(dir);
		/* the rest works: log, the other snapshots, their diff */
		tu_sh(&r, "'%s' log --store '%s' --json", SDF_CLI, store);
		cr_assert_eq(r.status, 0, "%s: %s", what, r.err);
		cr_assert(strstr(r.out, t1) && strstr(r.out, t3), "%s: %s",
		          what, r.out);
		tu_result_dispose(&r);
		tu_expect_restores_like_git(SDF_CLI, store, t1, what);
		tu_expect_restores_like_git(SDF_CLI, store, t3, what);
		free(tu_sh_ok("'%s' diff --store '%s' one three --numstat",
		              SDF_CLI, store));
		/* and track goes on, with git's tree */
		tu_write_str(wt, "a.txt", what);
		free(expect_same_tree(wt, store));
	}
	free(t1);
	free(t2);
	free(t3);
	free(blob2);
	free(sub2);
	free(ref2);
}

/* Mounts a tmpfs of size at dir, or skips the test. */
static void small_disk(const char *dir, const char *size)
{
	tu_result r;

	cr_assert_eq(mkdir(dir, 0700), 0);
	tu_sh(&r, "mount -t tmpfs -o size=%s tmpfs '%s'", size, dir);
	if (r.status != 0) {
		tu_result_dispose(&r);
		cr_skip("cannot mount a tmpfs here");
	}
	tu_result_dispose(&r);
}

/*
 * The store's disk fills up while diff writes its result cache, at
 * several points (nothing left, a few KiB, a few records): diff still
 * prints git's counts, and no later diff (from whatever reached the cache)
 * prints anything else; no temporary file is left in the cache.
 */
Test(corrupt, diff_with_a_full_disk_for_its_cache)
{
	char *mnt = tu_path(scratch, "small"), *st, *t1, *t2, *want;
	static const int room_kib[] = {0, 4, 24, 96, 400};

	small_disk(mnt, "6m");
	st = tu_path(mnt, "store");
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "text%d.log", i);
		write_lines(wt, name, (size_t)(300 + 40 * i) << 10, 1);
	}
	t1 = cli_track(wt, st, NULL);
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "text%d.log", i);
		write_lines(wt, name, (size_t)(320 + 40 * i) << 10, 2 + i);
	}
	t2 = cli_track(wt, st, NULL);
	want = tu_sh_ok("git --git-dir='%s' diff --numstat %s %s", st, t1, t2);
	for (size_t i = 0; i < sizeof(room_kib) / sizeof(room_kib[0]); i++) {
		tu_result r;
		/* an empty cache, then a disk with room_kib KiB left */
		free(tu_sh_ok(
		    "rm -rf '%s/snapdiff-cache' && "
		    "(head -c 100000000 /dev/zero > '%s/filler' "
		    "2>/dev/null; true) && truncate -s -%d '%s/filler'",
		    st, mnt, room_kib[i] << 10, mnt));
		for (int turn = 0; turn < 3; turn++) {
			tu_sh(&r, "'%s' diff --store '%s' %s %s --numstat",
			      SDF_CLI, st, t1, t2);
			cr_assert_eq(r.status, 0, "%d KiB free, turn %d: %s",
			             room_kib[i], turn, r.err);
			cr_assert_str_eq(r.out, want, "%d KiB free, turn %d",
			                 room_kib[i], turn);
			tu_result_dispose(&r);
			if (turn == 0) /* room again: the cache fills */
				free(tu_sh_ok("rm '%s/filler'", mnt));
		}
		tu_sh(&r, "find '%s/snapdiff-cache' -name '*.tmp-*'", st);
		cr_assert_str_eq(r.out, "", "debris: %s", r.out);
		tu_result_dispose(&r);
	}
	free(tu_sh_ok("umount '%s'", mnt));
	free(want);
	free(t1);
	free(t2);
	free(st);
	free(mnt);
}
