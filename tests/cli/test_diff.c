/* snapdiff diff against real git, on a git repository and on the store. */
#define _GNU_SOURCE
#include "track_util.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *scratch, *repo;

static void setup(void)
{
	scratch = tu_mkdtemp("diff");
	repo = tu_path(scratch, "repo");
	cr_assert_eq(mkdir(repo, 0755), 0);
}

static void teardown(void)
{
	tu_rm_rf(scratch);
	free(repo);
	free(scratch);
}

TestSuite(diff, .init = setup, .fini = teardown, .timeout = 600);

static void sh_in(const char *dir, const char *cmd)
{
	tu_result r;
	char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};

	tu_run(&r, dir, argv);
	cr_assert_eq(r.status, 0, "%s: %s", cmd, r.err);
	tu_result_dispose(&r);
}

static void commit(const char *msg)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd),
	         "git add -A && git -c user.name=t -c user.email=t@t "
	         "commit -q --allow-empty -m '%s'",
	         msg);
	sh_in(repo, cmd);
}

/* A repository whose HEAD~1..HEAD has every kind of change. */
static void make_history(void)
{
	sh_in(repo, "git init -q .");
	tu_write_str(repo, "keep.txt", "a\nb\nc\n");
	tu_write_str(repo, "modify.c", "int a;\nint b;\nint c;\nint d;\n");
	tu_write_str(repo, "delete.txt", "gone\ngone too\n");
	tu_write_str(repo, "to-link", "was a file\n");
	tu_write_str(repo, "mode.sh", "#!/bin/sh\n");
	tu_write(repo, "bin.dat", "\0\1\2", 3, 0);
	tu_write_str(repo, "no-eol", "x\ny");
	tu_write_str(repo, "dup.txt", "x\nx\nx\ny\nx\nx\n");
	tu_write_str(repo, "name with space.txt", "1\n");
	tu_write_str(repo, "\xc3\xbc.txt", "1\n");
	commit("one");
	tu_write_str(repo, "modify.c",
	             "int a;\nint B;\nint c;\nint d;\nint e;\n");
	sh_in(repo, "rm delete.txt to-link && ln -s keep.txt to-link && "
	            "chmod +x mode.sh");
	tu_write(repo, "bin.dat", "\0\1\2\3", 4, 0);
	tu_write_str(repo, "no-eol", "x\ny\n");
	tu_write_str(repo, "dup.txt", "x\ny\nx\nx\nz\nx\n");
	tu_write_str(repo, "added/new.txt", "n1\nn2\nn3\n");
	tu_write_str(repo, "name with space.txt", "2\n");
	tu_write_str(repo, "\xc3\xbc.txt", "2\n");
	tu_write(repo, "empty-added", "", 0, 0);
	commit("two");
}

Test(diff, text_formats_match_git_on_a_repository)
{
	static const char *flags[] = {"--numstat", "--name-status", "--stat"};

	make_history();
	for (size_t i = 0; i < 3; i++) {
		char *ours =
		    tu_sh_ok("'%s' diff --git-dir '%s/.git' HEAD~1 HEAD %s",
		             SDF_CLI, repo, flags[i]);
		char *theirs =
		    tu_sh_ok("git -C '%s' diff --no-renames %s HEAD~1 "
		             "HEAD",
		             repo, flags[i]);
		cr_assert_str_eq(ours, theirs, "%s differs:\n%s\nvs git:\n%s",
		                 flags[i], ours, theirs);
		free(ours);
		free(theirs);
	}
}

Test(diff, store_snapshots_match_git_on_the_same_trees)
{
	char *wt = tu_path(scratch, "wt"), *store = tu_path(scratch, "store");

	mkdir(wt, 0755);
	write_lines(wt, "build/CMakeFiles/CMakeConfigureLog.yaml", 3u << 20, 1);
	write_lines(wt, "build/build.ninja", 2u << 20, 1);
	tu_write_str(wt, "src/main.txt", "hello\n");
	char *t1 = cli_track(wt, store, NULL);
	write_lines(wt, "build/CMakeFiles/CMakeConfigureLog.yaml", 3u << 20, 2);
	write_lines(wt, "build/build.ninja", (2u << 20) + 4096, 1);
	tu_write_str(wt, "src/main.txt", "hello\nturn 2\n");
	char *t2 = cli_track(wt, store, NULL);
	char *ours = tu_sh_ok("'%s' diff --store '%s' %s %s --numstat", SDF_CLI,
	                      store, t1, t2);
	char *theirs =
	    tu_sh_ok("git --git-dir='%s' diff --no-renames --numstat "
	             "%s %s",
	             store, t1, t2);
	cr_assert_str_eq(ours, theirs);
	free(ours);
	free(theirs);
	/* FROM only: the worktree is snapshotted first */
	tu_write_str(wt, "src/main.txt", "hello\nturn 2\nturn 3\n");
	ours = tu_sh_ok("'%s' diff --worktree '%s' --store '%s' %s --numstat",
	                SDF_CLI, wt, store, t2);
	cr_assert_str_eq(ours, "1\t0\tsrc/main.txt\n");
	free(ours);
	free(t1);
	free(t2);
	free(wt);
	free(store);
}

static json_t *file_named(json_t *files, const char *path)
{
	size_t i;
	json_t *f;

	json_array_foreach(files, i, f)
	{
		if (!strcmp(json_string_value(json_object_get(f, "path")),
		            path))
			return f;
	}
	cr_assert_fail("no file %s in the JSON", path);
	return NULL;
}

Test(diff, json_has_every_field)
{
	json_error_t jerr;

	make_history();
	char *out = tu_sh_ok("'%s' diff --git-dir '%s/.git' HEAD~1 HEAD --json",
	                     SDF_CLI, repo);
	json_t *doc = json_loads(out, 0, &jerr);
	cr_assert_not_null(doc, "%s: %s", jerr.text, out);
	json_t *files = json_object_get(doc, "files");
	cr_assert(json_is_array(files));

	json_t *m = file_named(files, "modify.c");
	cr_assert_str_eq(json_string_value(json_object_get(m, "status")),
	                 "modified");
	cr_assert_eq(json_integer_value(json_object_get(m, "additions")), 2);
	cr_assert_eq(json_integer_value(json_object_get(m, "deletions")), 1);
	cr_assert_eq(json_integer_value(json_object_get(m, "old_lines")), 4);
	cr_assert_eq(json_integer_value(json_object_get(m, "new_lines")), 5);
	cr_assert(json_is_true(json_object_get(m, "exact")));
	cr_assert(json_is_false(json_object_get(m, "binary")));
	const char *patch = json_string_value(json_object_get(m, "patch"));
	cr_assert_not_null(patch);
	cr_assert(strstr(patch, "-int b;\n+int B;\n"), "%s", patch);
	cr_assert_eq(strlen(json_string_value(json_object_get(m, "old_oid"))),
	             40);

	json_t *d = file_named(files, "delete.txt");
	cr_assert_str_eq(json_string_value(json_object_get(d, "status")),
	                 "deleted");
	cr_assert_eq(json_integer_value(json_object_get(d, "deletions")), 2);
	cr_assert(json_is_null(json_object_get(d, "new_oid")));

	json_t *b = file_named(files, "bin.dat");
	cr_assert(json_is_true(json_object_get(b, "binary")));
	cr_assert_eq(json_integer_value(json_object_get(b, "new_size")), 4);

	json_t *t = file_named(files, "to-link");
	cr_assert_str_eq(json_string_value(json_object_get(t, "status")),
	                 "type_changed");
	cr_assert_str_eq(json_string_value(json_object_get(t, "new_mode")),
	                 "120000");

	json_t *tot = json_object_get(doc, "totals");
	cr_assert_eq(json_integer_value(json_object_get(tot, "files")),
	             json_array_size(files));
	cr_assert_gt(json_integer_value(json_object_get(tot, "peak_bytes")), 0);
	json_decref(doc);
	free(out);
}

Test(diff, caps_and_generated_files)
{
	json_error_t jerr;

	sh_in(repo, "git init -q .");
	tu_write_str(repo, "small.txt", "a\n");
	write_lines(repo, "big.log", 2u << 20, 1);
	write_lines(repo, "build/CMakeFiles/CMakeConfigureLog.yaml", 4096, 1);
	commit("one");
	tu_write_str(repo, "small.txt", "b\n");
	write_lines(repo, "big.log", 2u << 20, 2);
	write_lines(repo, "build/CMakeFiles/CMakeConfigureLog.yaml", 4096, 2);
	commit("two");
	char *out = tu_sh_ok("'%s' diff --git-dir '%s/.git' HEAD~1 HEAD --json",
	                     SDF_CLI, repo);
	json_t *doc = json_loads(out, 0, &jerr);
	cr_assert_not_null(doc);
	json_t *files = json_object_get(doc, "files");
	json_t *big = file_named(files, "big.log");
	cr_assert(json_is_true(json_object_get(big, "oversized")));
	cr_assert_null(json_object_get(big, "patch"));
	cr_assert_gt(json_integer_value(json_object_get(big, "additions")),
	             40000);
	json_t *gen =
	    file_named(files, "build/CMakeFiles/CMakeConfigureLog.yaml");
	cr_assert(json_is_true(json_object_get(gen, "generated")));
	cr_assert_not_null(
	    json_string_value(json_object_get(gen, "generated_reason")));
	cr_assert_null(json_object_get(gen, "patch"));
	json_t *small = file_named(files, "small.txt");
	cr_assert_not_null(json_object_get(small, "patch"));
	json_decref(doc);
	free(out);

	/* max-files stops the listing and says so */
	out = tu_sh_ok("'%s' diff --git-dir '%s/.git' HEAD~1 HEAD --json "
	               "--max-files 1",
	               SDF_CLI, repo);
	doc = json_loads(out, 0, &jerr);
	cr_assert_eq(json_array_size(json_object_get(doc, "files")), 1);
	cr_assert(json_is_true(
	    json_object_get(json_object_get(doc, "totals"), "truncated")));
	json_decref(doc);
	free(out);

	/* a tiny patch cap: the patch is absent and flagged */
	out = tu_sh_ok("'%s' diff --git-dir '%s/.git' HEAD~1 HEAD --json "
	               "--max-patch-bytes 10",
	               SDF_CLI, repo);
	doc = json_loads(out, 0, &jerr);
	small = file_named(json_object_get(doc, "files"), "small.txt");
	cr_assert_null(json_object_get(small, "patch"));
	cr_assert(json_is_true(json_object_get(small, "patch_truncated")));
	json_decref(doc);
	free(out);

	/* OpenCode's shape */
	out = tu_sh_ok("'%s' diff --git-dir '%s/.git' HEAD~1 HEAD --format "
	               "opencode",
	               SDF_CLI, repo);
	doc = json_loads(out, 0, &jerr);
	cr_assert(json_is_array(doc));
	json_t *e = json_array_get(doc, 0);
	cr_assert(json_is_string(json_object_get(e, "file")));
	cr_assert(json_is_string(json_object_get(e, "patch")));
	cr_assert(json_is_integer(json_object_get(e, "additions")));
	json_decref(doc);
	free(out);
}

Test(diff, exit_code_and_bad_input)
{
	tu_result r;

	make_history();
	tu_sh(&r,
	      "'%s' diff --git-dir '%s/.git' HEAD~1 HEAD --numstat --exit-code",
	      SDF_CLI, repo);
	cr_assert_eq(r.status, 1);
	tu_result_dispose(&r);
	tu_sh(&r, "'%s' diff --git-dir '%s/.git' HEAD HEAD --exit-code",
	      SDF_CLI, repo);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "");
	tu_result_dispose(&r);
	tu_sh(&r, "'%s' diff --git-dir '%s/.git' HEAD nosuchthing", SDF_CLI,
	      repo);
	cr_assert_neq(r.status, 0);
	cr_assert(strstr(r.err, "nosuchthing"), "%s", r.err);
	cr_assert_str_eq(r.out, "");
	tu_result_dispose(&r);
	tu_sh(&r, "'%s' diff --git-dir '%s/none' HEAD~1 HEAD", SDF_CLI,
	      scratch);
	cr_assert_neq(r.status, 0);
	cr_assert_str_eq(r.out, "");
	tu_result_dispose(&r);
	/* a corrupt object: a clear error, no partial output */
	sh_in(
	    repo,
	    "obj=$(git rev-parse HEAD:modify.c); "
	    "f=.git/objects/$(echo $obj | cut -c1-2)/$(echo $obj | cut -c3-); "
	    "chmod u+w $f; printf 'garbage' > $f");
	tu_sh(&r, "'%s' diff --git-dir '%s/.git' HEAD~1 HEAD --numstat",
	      SDF_CLI, repo);
	cr_assert_neq(r.status, 0);
	cr_assert_str_eq(r.out, "");
	cr_assert(strstr(r.err, "modify.c"), "%s", r.err);
	tu_result_dispose(&r);
}

Test(diff, large_rewrite_is_exact_within_bounds)
{
	tu_result r;

	sh_in(repo, "git init -q .");
	write_lines(repo, "a.yaml", TU_BIG(64u << 20), 1);
	commit("one");
	write_lines(repo, "a.yaml", TU_BIG(64u << 20), 2);
	commit("two");
	tu_sh(&r, "'%s' diff --git-dir '%s/.git' HEAD~1 HEAD --numstat",
	      SDF_CLI, repo);
	cr_assert_eq(r.status, 0, "%s", r.err);
	if (TU_CHECK_RSS)
		cr_assert_leq(r.maxrss_kb, 16 * 1024, "peak RSS %ld KiB",
		              r.maxrss_kb);
	char *theirs = tu_sh_ok("git -C '%s' diff --numstat HEAD~1 HEAD", repo);
	cr_assert_str_eq(r.out, theirs);
	free(theirs);
	tu_result_dispose(&r);
}

#ifndef SDF_SANITIZED
/* The cold diff's peak RSS of HEAD~1..HEAD after rewriting path. */
static long rewrite_peak_kb(const char *path, size_t bytes)
{
	tu_result r;
	long kb;

	write_lines(repo, path, bytes, 1);
	commit("one");
	write_lines(repo, path, bytes, 2);
	commit("two");
	tu_sh(&r, "'%s' diff --git-dir '%s/.git' HEAD~1 HEAD --numstat",
	      SDF_CLI, repo);
	cr_assert_eq(r.status, 0, "%s", r.err);
	char *theirs = tu_sh_ok("git -C '%s' diff --numstat HEAD~1 HEAD", repo);
	cr_assert_str_eq(r.out, theirs);
	free(theirs);
	kb = r.maxrss_kb;
	tu_result_dispose(&r);
	return kb;
}

/* The bound: 1 GiB artifacts within 1.1x of 16 MiB ones (the bench
 * measures that pair); here 16 MiB against 8 times as much. */
Test(diff, peak_rss_does_not_grow_with_file_size)
{
	sh_in(repo, "git init -q .");
	long small = rewrite_peak_kb("small.yaml", 16u << 20);
	long big = rewrite_peak_kb("big.yaml", 128u << 20);

	cr_assert_leq(big * 10, small * 11,
	              "peak RSS %ld KiB at 128 MiB, %ld KiB at 16 MiB", big,
	              small);
}
#endif

/* Objects of the two trees' changed blobs, as paths in the store. */
static void corrupt_blobs(const char *store, const char *t1, const char *t2)
{
	tu_result r;

	tu_sh(&r,
	      "cd '%s' && for o in $(git --git-dir=. diff --no-renames --raw "
	      "--no-abbrev "
	      "%s %s | awk '{print $3; print $4}'); do "
	      "f=objects/$(echo $o | cut -c1-2)/$(echo $o | cut -c3-); "
	      "[ -f $f ] && chmod u+w $f && printf junk > $f; done; true",
	      store, t1, t2);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tu_result_dispose(&r);
}

Test(diff, a_pair_seen_before_reads_no_blob)
{
	char *wt = tu_path(scratch, "wt"), *store = tu_path(scratch, "store");

	mkdir(wt, 0755);
	write_lines(wt, "big.yaml", 2u << 20, 1);
	tu_write_str(wt, "small.txt", "a\nb\n");
	char *t1 = cli_track(wt, store, NULL);
	write_lines(wt, "big.yaml", 2u << 20, 2);
	tu_write_str(wt, "small.txt", "a\nc\n");
	char *t2 = cli_track(wt, store, NULL);
	char *first = tu_sh_ok("'%s' diff --store '%s' %s %s --numstat",
	                       SDF_CLI, store, t1, t2);
	/* the blobs are gone: only the cache can answer now */
	corrupt_blobs(store, t1, t2);
	char *second = tu_sh_ok("'%s' diff --store '%s' %s %s --numstat",
	                        SDF_CLI, store, t1, t2);
	cr_assert_str_eq(first, second);
	/* a damaged cache record is a miss, not a wrong answer */
	tu_result r;
	tu_sh(&r,
	      "find '%s/snapdiff-cache' -type f -exec sh -c "
	      "'printf x > \"$1\"' _ {} \\;",
	      store);
	tu_result_dispose(&r);
	tu_sh(&r, "'%s' diff --store '%s' %s %s --numstat", SDF_CLI, store, t1,
	      t2);
	cr_assert_neq(r.status, 0, "corrupt objects and cache gave: %s", r.out);
	cr_assert_str_eq(r.out, "");
	tu_result_dispose(&r);
	free(first);
	free(second);
	free(t1);
	free(t2);
	free(wt);
	free(store);
}

Test(diff, cache_stays_within_its_bound)
{
	char *wt = tu_path(scratch, "wt"), *store = tu_path(scratch, "store");
	char *prev = NULL;

	mkdir(wt, 0755);
	for (int turn = 1; turn <= 5; turn++) {
		write_lines(wt, "big.yaml", 1u << 20, turn);
		char *t = cli_track(wt, store, NULL);
		if (turn == 1)
			free(tu_sh_ok("git --git-dir='%s' config "
			              "snapdiff.cacheMaxBytes 1500000",
			              store));
		if (prev) {
			char *ours = tu_sh_ok("'%s' diff --store '%s' %s %s "
			                      "--numstat",
			                      SDF_CLI, store, prev, t);
			char *theirs = tu_sh_ok("git --git-dir='%s' diff "
			                        "--numstat %s %s",
			                        store, prev, t);
			cr_assert_str_eq(ours, theirs);
			free(ours);
			free(theirs);
		}
		free(prev);
		prev = t;
	}
	char *du =
	    tu_sh_ok("find '%s/snapdiff-cache' -type f -printf '%%s\\n' | "
	             "awk '{s+=$1} END {print s+0}'",
	             store);
	cr_assert_leq(atol(du), 1500000, "cache holds %s bytes", du);
	cr_assert_gt(atol(du), 0);
	free(du);
	free(prev);
	free(wt);
	free(store);
}

Test(diff, prune_over_quota_drops_the_cache_first)
{
	char *wt = tu_path(scratch, "wt"), *store = tu_path(scratch, "store");

	mkdir(wt, 0755);
	write_lines(wt, "big.yaml", 1u << 20, 1);
	char *t1 = cli_track(wt, store, NULL);
	write_lines(wt, "big.yaml", 1u << 20, 2);
	char *t2 = cli_track(wt, store, NULL);
	free(tu_sh_ok("'%s' diff --store '%s' %s %s --numstat", SDF_CLI, store,
	              t1, t2));
	char *before =
	    tu_sh_ok("find '%s/snapdiff-cache' -type f | wc -l", store);
	cr_assert_gt(atoi(before), 0);
	/* a quota the snapshots alone fit in, the cache included do not */
	char *du = tu_sh_ok(
	    "du -sB1 -l --exclude=snapdiff-cache '%s' | cut -f1", store);
	free(tu_sh_ok("'%s' prune --store '%s' --grace 0 --max-bytes %ld",
	              SDF_CLI, store, atol(du) + 65536));
	char *after =
	    tu_sh_ok("find '%s/snapdiff-cache' -type f | wc -l", store);
	cr_assert_eq(atoi(after), 0);
	/* both snapshots are still there and the diff still right */
	char *ours = tu_sh_ok("'%s' diff --store '%s' %s %s --numstat", SDF_CLI,
	                      store, t1, t2);
	char *theirs =
	    tu_sh_ok("git --git-dir='%s' diff --numstat %s %s", store, t1, t2);
	cr_assert_str_eq(ours, theirs);
	free(ours);
	free(theirs);
	free(before);
	free(after);
	free(du);
	free(t1);
	free(t2);
	free(wt);
	free(store);
}

Test(diff, worktree_attributes_decide_binary_and_generated)
{
	char *wt = tu_path(scratch, "wt"), *store = tu_path(scratch, "store");
	json_error_t jerr;

	mkdir(wt, 0755);
	tu_write_str(wt, ".gitattributes",
	             "*.dat -diff\ngen.txt linguist-generated\n"
	             "build/** -linguist-generated\n");
	tu_write_str(wt, "x.dat", "text\n");
	tu_write_str(wt, "gen.txt", "a\n");
	tu_write_str(wt, "build/real.c", "int a;\n");
	char *t1 = cli_track(wt, store, NULL);
	tu_write_str(wt, "x.dat", "more text\n");
	tu_write_str(wt, "gen.txt", "b\n");
	tu_write_str(wt, "build/real.c", "int b;\n");
	char *t2 = cli_track(wt, store, NULL);
	char *out = tu_sh_ok("'%s' diff --store '%s' %s %s --json", SDF_CLI,
	                     store, t1, t2);
	json_t *doc = json_loads(out, 0, &jerr);
	cr_assert_not_null(doc);
	json_t *files = json_object_get(doc, "files");
	cr_assert(json_is_true(
	    json_object_get(file_named(files, "x.dat"), "binary")));
	json_t *gen = file_named(files, "gen.txt");
	cr_assert(json_is_true(json_object_get(gen, "generated")));
	cr_assert(
	    strstr(json_string_value(json_object_get(gen, "generated_reason")),
	           "attribute"));
	cr_assert(json_is_false(
	    json_object_get(file_named(files, "build/real.c"), "generated")));
	json_decref(doc);
	free(out);
	/* --numstat prints the attribute-binary file as git does */
	out = tu_sh_ok("'%s' diff --store '%s' %s %s --numstat", SDF_CLI, store,
	               t1, t2);
	cr_assert(strstr(out, "-\t-\tx.dat\n"), "%s", out);
	free(out);
	free(t1);
	free(t2);
	free(wt);
	free(store);
}
