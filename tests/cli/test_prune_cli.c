/*
 * snapdiff prune / du / pin run as programs: every snapshot inside the
 * policy restores byte-exact afterwards and git fsck stays clean; many
 * turns under a small quota end under it; prune racing track loses
 * nothing; du agrees with the filesystem.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "track_util.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *wt, *scratch, *store;

static void setup(void)
{
	umask(022);
	wt = tu_mkdtemp("pc-wt");
	scratch = tu_mkdtemp("pc-scratch");
	store = tu_path(scratch, "store");
}

static void teardown(void)
{
	tu_rm_rf(wt);
	tu_rm_rf(scratch);
	free(wt);
	free(scratch);
	free(store);
}

TestSuite(prune_cli, .init = setup, .fini = teardown, .timeout = 900);

/* snapdiff ARGS on the test's store; returns the exit status. */
static int snapdiff(tu_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int snapdiff(tu_result *r, const char *fmt, ...)
{
	va_list ap;
	char *args;
	int rc;

	va_start(ap, fmt);
	args = tu_vformat(fmt, ap);
	va_end(ap);
	rc = tu_sh(r, "'%s' %s", SDF_CLI, args);
	free(args);
	return rc;
}

/* snapdiff ARGS --json, asserted to succeed, parsed. */
static json_t *snapdiff_json(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static json_t *snapdiff_json(const char *fmt, ...)
{
	tu_result r;
	va_list ap;
	char *args, *line;
	json_t *v;
	json_error_t je;

	va_start(ap, fmt);
	args = tu_vformat(fmt, ap);
	va_end(ap);
	cr_assert_eq(tu_sh(&r, "'%s' %s --json", SDF_CLI, args), 0,
	             "snapdiff %s: %s", args, r.err);
	line = tu_last_line(r.out);
	v = json_loads(line, 0, &je);
	cr_assert_not_null(v, "not JSON: %s", line);
	free(line);
	free(args);
	tu_result_dispose(&r);
	return v;
}

static json_int_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert(json_is_integer(v), "no integer %s", key);
	return json_integer_value(v);
}

static void fsck(void)
{
	tu_result r;

	cr_assert_eq(
	    tu_sh(&r, "git --git-dir='%s' fsck --no-dangling --strict", store),
	    0, "fsck: %s%s", r.out, r.err);
	tu_result_dispose(&r);
}

/* Every path under dir with its type, mode, size and link target. */
static char *listing(const char *dir)
{
	tu_result r;
	char *out;

	cr_assert_eq(tu_sh(&r,
	                   "cd '%s' && find . -printf '%%p %%y %%m %%s %%l\\n' "
	                   "| LC_ALL=C sort",
	                   dir),
	             0, "%s", r.err);
	out = r.out;
	r.out = NULL;
	tu_result_dispose(&r);
	return out;
}

/* Restores tree into a fresh directory; asserts it equals want. */
static void expect_restores_as(const char *tree, const char *want)
{
	char *dir = tu_mkdtemp("pc-restore"), *a, *b;
	tu_result r;

	cr_assert_eq(snapdiff(&r, "restore %s --worktree '%s' --store '%s'",
	                      tree, dir, store),
	             0, "restore %s: %s", tree, r.err);
	tu_result_dispose(&r);
	a = listing(dir);
	b = listing(want);
	cr_assert_str_eq(a, b, "restored %s differs:\n%s\n---\n%s", tree, a, b);
	cr_assert_eq(tu_sh(&r, "diff -r --no-dereference '%s' '%s'", dir, want),
	             0, "%s", r.out);
	tu_result_dispose(&r);
	free(a);
	free(b);
	tu_rm_rf(dir);
	free(dir);
}

static int has_object(const char *hex)
{
	tu_result r;
	int rc = tu_sh(&r, "git --git-dir='%s' cat-file -e %s", store, hex);

	tu_result_dispose(&r);
	return rc == 0;
}

/* A turn's worktree: nested dirs, an exec bit, a symlink, fresh bytes. */
static void make_turn(int i)
{
	tu_sh_ok_last(
	    "set -e; cd '%s'; mkdir -p src/deep bin; "
	    "printf 'shared\\n' > src/shared.txt; "
	    "head -c %d /dev/urandom > src/deep/blob-%d.bin; "
	    "rm -f src/deep/blob-%d.bin; "
	    "printf '#!/bin/sh\\necho %d\\n' > bin/run; chmod 755 bin/run; "
	    "ln -sfn src/shared.txt link; printf 'turn %d\\n' > 'name with "
	    "space.txt'",
	    wt, 20000 + i * 1000, i, i - 1, i, i);
}

Test(prune_cli, every_kept_snapshot_restores_byte_exact)
{
	char *trees[6], *copies[6], *only[6];
	tu_result r;
	json_t *o;

	for (int i = 0; i < 6; i++) {
		char label[16];
		make_turn(i);
		snprintf(label, sizeof(label), "--label l%d", i);
		trees[i] = cli_track(wt, store, label);
		copies[i] = tu_mkdtemp("pc-copy");
		tu_sh_ok_last("cp -a '%s/.' '%s/'", wt, copies[i]);
		only[i] = tu_sh_ok_last(
		    "git hash-object '%s/src/deep/blob-%d.bin'", wt, i);
	}
	cr_assert_eq(snapdiff(&r, "pin l1 --store '%s'", store), 0, "%s",
	             r.err);
	tu_result_dispose(&r);
	o = snapdiff_json("prune --store '%s' --keep-count 3 --grace 0", store);
	cr_assert_eq(json_array_size(json_object_get(o, "expired")), 2);
	cr_assert_eq(jint(o, "snapshots"), 6);
	cr_assert_gt(jint(o, "objects_deleted"), 0);
	json_decref(o);
	fsck();
	for (int i = 0; i < 6; i++) {
		int kept = i == 1 || i >= 3;
		cr_assert_eq(has_object(only[i]), kept, "turn %d", i);
		if (kept) {
			expect_restores_as(trees[i], copies[i]);
		} else {
			char *dir = tu_mkdtemp("pc-gone");
			cr_assert_neq(snapdiff(&r,
			                       "restore %s --worktree '%s' "
			                       "--store '%s'",
			                       trees[i], dir, store),
			              0);
			tu_result_dispose(&r);
			tu_rm_rf(dir);
			free(dir);
		}
		tu_rm_rf(copies[i]);
		free(copies[i]);
		free(trees[i]);
		free(only[i]);
	}
}

Test(prune_cli, many_turns_under_a_small_quota)
{
	const uint64_t quota = 8u << 20;
	char *tree = NULL, *copy = tu_mkdtemp("pc-copy"), *v;
	json_t *o;

	tu_sh_ok_last(
	    "cd '%s' && mkdir -p docs && seq 1 2000 > docs/numbers.txt", wt);
	/* over the quota from the fifth turn on */
	for (int i = 0; i < TU_ROUNDS(30, 8); i++) {
		/* a few MiB, every byte rewritten, nothing to compress */
		tu_sh_ok_last("head -c %d /dev/urandom > '%s/artifact.bin'",
		              (2 << 20) + i * 4096, wt);
		free(tree);
		tree = cli_track(wt, store, NULL);
		/* the policy is saved once; later prunes read it from config */
		if (i == 0)
			o = snapdiff_json("prune --store '%s' --max-bytes %llu "
			                  "--grace 0 --save",
			                  store, (unsigned long long)quota);
		else
			o = snapdiff_json("prune --store '%s'", store);
		cr_assert_leq((uint64_t)jint(o, "bytes_after"), quota,
		              "turn %d: %lld", i,
		              (long long)jint(o, "bytes_after"));
		cr_assert(json_is_false(json_object_get(o, "over_quota")));
		json_decref(o);
	}
	v = tu_sh_ok_last("git --git-dir='%s' config snapdiff.maxBytes", store);
	cr_assert_eq(strtoull(v, NULL, 10), quota);
	free(v);
	v = tu_sh_ok_last("du -s -B1 -l '%s' | cut -f1", store);
	cr_assert_leq(strtoull(v, NULL, 10), quota, "du: %s", v);
	free(v);
	o = snapdiff_json("du --store '%s'", store);
	cr_assert_leq((uint64_t)jint(o, "bytes"), quota);
	cr_assert_geq(jint(o, "snapshots"), 2);
	json_decref(o);
	tu_sh_ok_last("cp -a '%s/.' '%s/'", wt, copy);
	expect_restores_as(tree, copy);
	fsck();
	free(tree);
	tu_rm_rf(copy);
	free(copy);
}

/*
 * Tracks and prunes at once, many times over: each track's snapshot is the
 * newest when both are done, whole, and restores as the worktree was.
 */
Test(prune_cli, prune_racing_track_loses_nothing)
{
	char *copy = tu_mkdtemp("pc-copy");

	tu_sh_ok_last("cd '%s' && mkdir -p many && for i in $(seq 1 200); do "
	              "echo $i > many/f$i; done",
	              wt);
	free(cli_track(wt, store, NULL));
	for (int i = 0; i < TU_ROUNDS(15, 4); i++) {
		tu_result r;
		char *tree, *newest;

		tu_sh_ok_last(
		    "head -c %d /dev/urandom > '%s/big.bin'; echo %d > "
		    "'%s/many/f%d'",
		    (3 << 20) + i, wt, i, wt, 1 + i * 7);
		cr_assert_eq(
		    tu_sh(&r,
		          "S='%s'; W='%s'; D='%s'; "
		          "( \"$S\" prune --store \"$D\" --keep-count 1 "
		          "--grace 0 >/dev/null; echo $? > \"$D.p1\" ) & "
		          "( \"$S\" track --worktree \"$W\" --store \"$D\" "
		          "> \"$D.t\"; echo $? > \"$D.t1\" ) & "
		          "( sleep 0.0%d; \"$S\" prune --store \"$D\" "
		          "--keep-count 1 --grace 0 >/dev/null; "
		          "echo $? > \"$D.p2\" ) & wait; "
		          "cat \"$D.p1\" \"$D.t1\" \"$D.p2\" | tr -d '\\n'",
		          SDF_CLI, wt, store, i % 10),
		    0, "%s", r.err);
		cr_assert_str_eq(r.out, "000", "exit codes %s", r.out);
		tu_result_dispose(&r);
		tree = tu_sh_ok_last("tail -n1 '%s.t'", store);
		cr_assert_eq(strlen(tree), 40, "%s", tree);
		newest =
		    tu_sh_ok_last("'%s' log --store '%s' | tail -n1 | cut -f2",
		                  SDF_CLI, store);
		cr_assert_str_eq(newest, tree);
		fsck();
		tu_sh_ok_last("rm -rf '%s'/* && cp -a '%s/.' '%s/'", copy, wt,
		              copy);
		expect_restores_as(tree, copy);
		free(tree);
		free(newest);
	}
	tu_rm_rf(copy);
	free(copy);
}

Test(prune_cli, a_writer_without_the_lock_is_covered_by_the_grace)
{
	char *tree, *foreign;
	json_t *o;

	tu_sh_ok_last("echo a > '%s/a'", wt);
	tree = cli_track(wt, store, NULL);
	/* stock git writing into the store takes no snapdiff lock */
	foreign =
	    tu_sh_ok_last("head -c 1000 /dev/urandom | git --git-dir='%s' "
	                  "hash-object -w --stdin",
	                  store);
	o = snapdiff_json("prune --store '%s'", store); /* default: 1h */
	cr_assert_eq(jint(o, "objects_young"), 1);
	cr_assert_eq(jint(o, "objects_deleted"), 0);
	json_decref(o);
	cr_assert(has_object(foreign));
	o = snapdiff_json("prune --store '%s' --grace 0", store);
	cr_assert_eq(jint(o, "objects_deleted"), 1);
	json_decref(o);
	cr_assert_not(has_object(foreign));
	cr_assert(has_object(tree));
	free(tree);
	free(foreign);
}

Test(prune_cli, du_matches_the_disk)
{
	char *v, *first, *last;
	json_t *o, *arr;
	tu_result r;

	for (int i = 0; i < 4; i++) {
		make_turn(i);
		free(cli_track(wt, store, NULL));
	}
	o = snapdiff_json("du --store '%s'", store);
	v = tu_sh_ok_last("du -s -B1 -l '%s' | cut -f1", store);
	cr_assert_eq((uint64_t)jint(o, "bytes"), strtoull(v, NULL, 10),
	             "du says %s", v);
	free(v);
	v = tu_sh_ok_last(
	    "find '%s' -printf '%%b\\n' | awk '{s+=$1} END {printf "
	    "\"%%d\\n\", s*512}'",
	    store);
	cr_assert_eq((uint64_t)jint(o, "bytes"), strtoull(v, NULL, 10));
	free(v);
	v = tu_sh_ok_last("find '%s/objects' -type f -regex "
	                  "'.*/[0-9a-f][0-9a-f]/[0-9a-f]*' | wc -l",
	                  store);
	cr_assert_eq((uint64_t)jint(o, "objects"), strtoull(v, NULL, 10));
	free(v);
	cr_assert_eq(jint(o, "snapshots"), 4);
	first = tu_sh_ok_last("'%s' log --store '%s' | head -n1 | cut -f1",
	                      SDF_CLI, store);
	last = tu_sh_ok_last("'%s' log --store '%s' | tail -n1 | cut -f1",
	                     SDF_CLI, store);
	cr_assert_str_eq(json_string_value(json_object_get(o, "oldest")),
	                 first);
	cr_assert_str_eq(json_string_value(json_object_get(o, "newest")), last);
	json_decref(o);
	free(first);
	free(last);
	/* --all: every store in the default directory */
	cr_assert_eq(tu_sh(&r,
	                   "export XDG_DATA_HOME='%s/xdg'; mkdir -p '%s/w1' "
	                   "'%s/w2'; echo 1 > '%s/w1/f'; echo 2 > '%s/w2/f'; "
	                   "'%s' track --worktree '%s/w1' >/dev/null && "
	                   "'%s' track --worktree '%s/w2' >/dev/null && "
	                   "'%s' du --all --json",
	                   scratch, scratch, scratch, scratch, scratch, SDF_CLI,
	                   scratch, SDF_CLI, scratch, SDF_CLI),
	             0, "%s", r.err);
	arr = json_loads(r.out, 0, NULL);
	cr_assert(json_is_array(arr), "%s", r.out);
	cr_assert_eq(json_array_size(arr), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *s = json_array_get(arr, i);
		v = tu_sh_ok_last(
		    "du -s -B1 -l '%s' | cut -f1",
		    json_string_value(json_object_get(s, "store")));
		cr_assert_eq((uint64_t)jint(s, "bytes"), strtoull(v, NULL, 10));
		cr_assert_eq(jint(s, "snapshots"), 1);
		free(v);
	}
	json_decref(arr);
	tu_result_dispose(&r);
}

Test(prune_cli, dry_run_pins_and_bad_input)
{
	char *before, *after, *v;
	json_t *o;
	tu_result r;

	for (int i = 0; i < 4; i++) {
		char label[16];
		make_turn(i);
		snprintf(label, sizeof(label), "--label l%d", i);
		free(cli_track(wt, store, label));
	}
	before = listing(store);
	o = snapdiff_json("prune --store '%s' --keep-count 1 --grace 0 "
	                  "--dry-run",
	                  store);
	cr_assert_eq(json_array_size(json_object_get(o, "expired")), 3);
	cr_assert(json_is_true(json_object_get(o, "dry_run")));
	json_decref(o);
	after = listing(store);
	cr_assert_str_eq(before, after, "a dry run changed the store");
	free(before);
	free(after);
	/* text output names what expires, and why */
	v = tu_sh_ok_last(
	    "'%s' prune --store '%s' --keep-count 1 -n | head -n1", SDF_CLI,
	    store);
	cr_assert(strstr(v, "keep-count") && strstr(v, "l0"), "%s", v);
	free(v);

	cr_assert_eq(snapdiff(&r, "pin l0 --store '%s'", store), 0);
	cr_assert_str_eq(r.out, "pinned 1 snapshot\n");
	tu_result_dispose(&r);
	o = snapdiff_json("prune --store '%s' --keep-count 1 --grace 0", store);
	cr_assert_eq(json_array_size(json_object_get(o, "expired")), 2);
	json_decref(o);
	o = snapdiff_json("du --store '%s'", store);
	cr_assert_eq(jint(o, "snapshots"), 2);
	cr_assert_eq(jint(o, "pinned"), 1);
	json_decref(o);
	cr_assert_eq(snapdiff(&r, "unpin l0 --store '%s'", store), 0);
	tu_result_dispose(&r);
	o = snapdiff_json("prune --store '%s' --keep-count 1 --grace 0", store);
	cr_assert_eq(json_array_size(json_object_get(o, "expired")), 1);
	json_decref(o);
	fsck();

	cr_assert_eq(
	    snapdiff(&r, "prune --store '%s' --keep-count many", store), 2);
	tu_result_dispose(&r);
	cr_assert_eq(snapdiff(&r, "prune --store '%s' --grace 1w", store), 2);
	tu_result_dispose(&r);
	cr_assert_eq(snapdiff(&r, "prune --store '%s' --max-bytes", store), 2);
	tu_result_dispose(&r);
	cr_assert_eq(snapdiff(&r, "pin --store '%s'", store), 2);
	tu_result_dispose(&r);
	cr_assert_eq(snapdiff(&r, "pin nosuch --store '%s'", store), 1);
	cr_assert(strstr(r.err, "nosuch"), "%s", r.err);
	tu_result_dispose(&r);
	cr_assert_eq(snapdiff(&r, "du --store '%s/nothing-here'", scratch), 1);
	tu_result_dispose(&r);
	cr_assert_eq(snapdiff(&r, "prune --store '%s/nothing-here'", scratch),
	             1);
	tu_result_dispose(&r);
}
