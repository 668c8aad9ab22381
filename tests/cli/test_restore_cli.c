/*
 * snapdiff restore / revert, run as a program against real git: round
 * trips, reverts, hostile trees, bad input and the peak RSS of restoring a
 * 64 MiB file.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "track_util.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *wt, *scratch, *store, *outside, *fence;

static void setup(void)
{
	umask(022);
	wt = tu_mkdtemp("rc-wt");
	scratch = tu_mkdtemp("rc-scratch");
	outside = tu_mkdtemp("rc-outside");
	store = tu_path(scratch, "store");
}

static void teardown(void)
{
	tu_result r;

	/* the full-disk test mounts a tmpfs there */
	tu_sh(&r, "umount '%s/mnt' 2>/dev/null; true", scratch);
	tu_result_dispose(&r);
	tu_rm_rf(wt);
	tu_rm_rf(scratch);
	tu_rm_rf(outside);
	tu_rm_rf(fence);
	free(fence);
	fence = NULL;
	free(wt);
	free(scratch);
	free(outside);
	free(store);
}

TestSuite(restore_cli, .init = setup, .fini = teardown, .timeout = 600);

/* Runs a shell command; asserts it succeeds. */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(tu_sh_okv(fmt, ap));
	va_end(ap);
}

/* snapdiff COMMAND ARGS (a shell fragment) on the test's worktree, store. */
static int snapdiff(tu_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int snapdiff(tu_result *r, const char *fmt, ...)
{
	va_list ap;
	char *args, *sp;
	int rc;

	va_start(ap, fmt);
	args = tu_vformat(fmt, ap);
	va_end(ap);
	/* the options go right after the command: paths come last */
	sp = strchr(args, ' ');
	rc = tu_sh(r, "'%s' %.*s --worktree '%s' --store '%s' %s", SDF_CLI,
	           sp ? (int)(sp - args) : (int)strlen(args), args, wt, store,
	           sp ? sp + 1 : "");
	free(args);
	return rc;
}

/* Every path under dir with its type, mode, size and link target. */
static char *listing(const char *dir)
{
	tu_result r;
	char *out;

	cr_assert_eq(tu_sh(&r,
	                   "cd '%s' && find . -path ./.git -prune -o -printf "
	                   "'%%p %%y %%m %%s %%l\\n' | LC_ALL=C sort",
	                   dir),
	             0, "%s", r.err);
	out = r.out;
	r.out = NULL;
	tu_result_dispose(&r);
	return out;
}

static void expect_same_dirs(const char *a, const char *b)
{
	char *la = listing(a), *lb = listing(b);
	tu_result r;

	cr_assert_str_eq(la, lb, "listings differ:\n%s\n---\n%s", la, lb);
	cr_assert_eq(tu_sh(&r, "diff -r --no-dereference '%s' '%s'", a, b), 0,
	             "%s", r.out);
	tu_result_dispose(&r);
	free(la);
	free(lb);
}

static int exists(const char *rel)
{
	char *p = tu_path(wt, rel);
	struct stat sb;
	int ok = lstat(p, &sb) == 0;

	free(p);
	return ok;
}

static void expect_content(const char *rel, const char *content)
{
	char *got = tu_read(wt, rel, NULL);

	cr_assert_not_null(got, "%s is missing", rel);
	cr_assert_str_eq(got, content, "%s", rel);
	free(got);
}

static void varied_worktree(void)
{
	tu_write_str(wt, ".gitignore", "*.log\n");
	tu_write_str(wt, "a.txt", "hello\n");
	tu_write_str(wt, "empty", "");
	tu_write_str(wt, "dir one/sp ace \xc3\xa9.txt", "spaces\n");
	tu_write_str(wt, "\xc3\xbcn\xc3\xaf/\xc3\xb1.txt", "non-ascii\n");
	tu_write_str(wt, "d/e/f/deep.txt", "deep\n");
	tu_write(wt, "d/run.sh", "#!/bin/sh\necho hi\n", 18, 0755);
	tu_write_str(wt, "todir/x.txt", "was a dir\n");
	tu_write_str(wt, "tofile", "was a file\n");
	tu_write_str(wt, "linkme.txt", "was a file, becomes a link\n");
	tu_write_str(wt, "keep.log", "ignored\n");
	sh("cd '%s' && ln -s ../a.txt d/link && ln -s 'nowhere/x y' dangling",
	   wt);
}

Test(restore_cli, round_trip_against_git)
{
	char *tree, *again, *ref = tu_path(scratch, "ref");
	tu_result r;

	varied_worktree();
	tree = expect_same_tree(wt, store);
	sh("cp -a '%s' '%s'", wt, ref);

	/* every kind of change */
	sh("cd '%s' && echo changed > a.txt && rm empty && chmod -x d/run.sh "
	   "&& rm d/link && echo not-a-link > d/link && rm -r todir && "
	   "echo file > todir && rm tofile && mkdir tofile && "
	   "rm linkme.txt && ln -s '%s/linked' linkme.txt && "
	   "rm -r 'dir one' d/e && echo x > d/e && rm dangling && "
	   "ln -s a.txt dangling && echo mine > keep.log && "
	   "echo untracked > new.txt",
	   wt, outside);
	cr_assert_eq(snapdiff(&r, "restore %s", tree), 0, "%s", r.err);
	cr_assert(strstr(r.out, "M\ta.txt\n"), "%s", r.out);
	cr_assert(strstr(r.out, "A\tempty\n"), "%s", r.out);
	cr_assert(strstr(r.out, "D\td/e\n"), "%s", r.out);
	cr_assert(strstr(r.out, "A\td/e/f/deep.txt\n"), "%s", r.out);
	cr_assert_null(strstr(r.out, "new.txt"), "%s", r.out);
	cr_assert(strstr(r.err, "snapdiff: restored"), "%s", r.err);
	tu_result_dispose(&r);

	/* files outside the snapshot and ignored ones are left alone */
	expect_content("new.txt", "untracked\n");
	expect_content("keep.log", "mine\n");
	char *ls = listing(outside);
	cr_assert_str_eq(ls, ". d 700 4096 \n", "%s", ls);
	free(ls);
	sh("cd '%s' && rm new.txt && echo ignored > keep.log", wt);
	expect_same_dirs(ref, wt);
	again = expect_same_tree(wt, store);
	cr_assert_str_eq(again, tree);

	/* a second restore finds nothing to do (racy entries: by content) */
	cr_assert_eq(snapdiff(&r, "restore %s --json", tree), 0, "%s", r.err);
	cr_assert(strstr(r.out, "\"written\":0,"), "%s", r.out);
	cr_assert(strstr(r.out, "\"failed\":0,"), "%s", r.out);
	cr_assert(strstr(r.out, "\"peak_rss_bytes\":"), "%s", r.out);
	tu_result_dispose(&r);
	expect_same_dirs(ref, wt);
	free(again);
	free(tree);
	free(ref);
}

Test(restore_cli, restores_by_label_and_snapshot_id)
{
	char *t1, *t2;
	tu_result r;

	tu_write_str(wt, "f.txt", "one\n");
	t1 = cli_track(wt, store, "--label first");
	tu_write_str(wt, "f.txt", "two\n");
	t2 = cli_track(wt, store, NULL);
	cr_assert_str_neq(t1, t2);
	cr_assert_eq(snapdiff(&r, "restore first"), 0, "%s", r.err);
	tu_result_dispose(&r);
	expect_content("f.txt", "one\n");
	cr_assert_eq(snapdiff(&r, "restore %s", t2), 0, "%s", r.err);
	tu_result_dispose(&r);
	expect_content("f.txt", "two\n");
	free(t1);
	free(t2);
}

Test(restore_cli, revert_file_new_file_and_directory)
{
	char *t1, *t2, *t3;
	tu_result r;

	tu_write_str(wt, ".gitignore", "*.log\n");
	tu_write_str(wt, "keep.txt", "keep\n");
	tu_write_str(wt, "mod.txt", "original\n");
	tu_write_str(wt, "src/a.c", "a\n");
	tu_write_str(wt, "src/sub/b.c", "b\n");
	t1 = cli_track(wt, store, NULL);
	tu_write_str(wt, "keep.txt", "changed, not reverted\n");
	tu_write_str(wt, "mod.txt", "modified\n");
	tu_write_str(wt, "src/a.c", "A\n");
	sh("rm -r '%s/src/sub'", wt);
	tu_write_str(wt, "src/later.c", "tracked later\n");
	tu_write_str(wt, "gen/out.o", "tracked later\n");
	t2 = cli_track(wt, store, NULL);
	tu_write_str(wt, "created.txt", "after the snapshot\n");
	tu_write_str(wt, "src/unknown.c", "never tracked\n");
	tu_write_str(wt, "src/x.log", "ignored\n");

	cr_assert_eq(
	    snapdiff(&r, "revert %s -- mod.txt created.txt src gen/", t1), 0,
	    "%s", r.err);
	cr_assert(strstr(r.out, "M\tmod.txt\n"), "%s", r.out);
	cr_assert(strstr(r.out, "D\tcreated.txt\n"), "%s", r.out);
	cr_assert(strstr(r.out, "D\tsrc/later.c\n"), "%s", r.out);
	cr_assert(strstr(r.out, "D\tgen/out.o\n"), "%s", r.out);
	cr_assert(strstr(r.out, "A\tsrc/sub/b.c\n"), "%s", r.out);
	tu_result_dispose(&r);
	expect_content("mod.txt", "original\n");
	expect_content("keep.txt", "changed, not reverted\n");
	expect_content("src/a.c", "a\n");
	expect_content("src/sub/b.c", "b\n");
	expect_content("src/unknown.c", "never tracked\n");
	expect_content("src/x.log", "ignored\n");
	cr_assert(!exists("created.txt"));
	cr_assert(!exists("src/later.c"));
	cr_assert(!exists("gen"), "the emptied directory should go");

	/* with --json: counts, and revert of what is already reverted */
	cr_assert_eq(snapdiff(&r, "revert %s --json -- mod.txt", t1), 0, "%s",
	             r.err);
	cr_assert(strstr(r.out, "\"ok\":true"), "%s", r.out);
	cr_assert(strstr(r.out, "\"removed\":0,"), "%s", r.out);
	tu_result_dispose(&r);

	sh("cd '%s' && rm src/unknown.c && echo keep > keep.txt", wt);
	t3 = cli_track(wt, store, NULL);
	cr_assert_str_eq(t3, t1);
	free(t1);
	free(t2);
	free(t3);
}

/* One line on stderr, non-zero exit, the worktree as it was. */
static void expect_refusal(const char *args, const char *needle)
{
	char *before = listing(wt), *after, *nl;
	tu_result r;

	cr_assert_neq(snapdiff(&r, "%s", args), 0, "%s", args);
	cr_assert(strncmp(r.err, "snapdiff: ", 10) == 0, "%s", r.err);
	nl = strchr(r.err, '\n');
	cr_assert(nl && (!nl[1] || strstr(nl + 1, "see snapdiff --help")),
	          "more than one line: %s", r.err);
	cr_assert(strstr(r.err, needle), "%s: %s", args, r.err);
	cr_assert_str_eq(r.out, "");
	tu_result_dispose(&r);
	after = listing(wt);
	cr_assert_str_eq(before, after, "%s changed the worktree", args);
	free(before);
	free(after);
}

Test(restore_cli, bad_input_gets_one_clear_line)
{
	char *tree;
	tu_result r;

	tu_write_str(wt, "a.txt", "a\n");
	tree = cli_track(wt, store, NULL);
	tu_write_str(wt, "a.txt", "changed\n");
	tu_write_str(wt, "new.txt", "new\n");
	expect_refusal("restore no-such-snapshot", "unknown tree-ish");
	expect_refusal("restore 0123456789abcdef0123456789abcdef01234567",
	               "unknown tree-ish");
	expect_refusal("restore", "which snapshot");
	char *args;
	cr_assert(asprintf(&args, "revert %s -- ../x", tree) > 0);
	expect_refusal(args, "'..'");
	free(args);
	cr_assert(asprintf(&args, "revert %s -- new.txt /etc/passwd", tree) >
	          0);
	expect_refusal(args, "absolute");
	free(args);
	cr_assert(asprintf(&args, "revert %s -- .git/config", tree) > 0);
	expect_refusal(args, ".git");
	free(args);
	cr_assert(asprintf(&args, "revert %s", tree) > 0);
	expect_refusal(args, "after '--'");
	free(args);
	cr_assert(asprintf(&args, "restore %s --bogus", tree) > 0);
	expect_refusal(args, "--bogus");
	free(args);

	/* a store that does not exist */
	tu_sh(&r, "'%s' restore %s --worktree '%s' --store '%s/none'", SDF_CLI,
	      tree, wt, scratch);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "snapdiff: error: no snapdiff store"), "%s",
	          r.err);
	tu_result_dispose(&r);
	expect_content("a.txt", "changed\n");
	free(tree);
}

Test(restore_cli, hostile_trees_write_nothing)
{
	char *tree, *blob, *sub, *bad, *args, *escape, *parent;
	char name[64];
	struct stat sb;
	tu_result r;
	static const char *const bad_names[] = {"..", ".git", ".GiT", "a\\\\b"};

	/* "../NAME" would land beside the worktree */
	snprintf(name, sizeof(name), "sdf-escape-%ld", (long)getpid());
	parent = strdup(wt);
	*strrchr(parent, '/') = '\0';
	escape = tu_path(parent, name);
	tu_write_str(wt, "a.txt", "a\n");
	tree = cli_track(wt, store, NULL);
	cr_assert_eq(
	    tu_sh(&r, "git --git-dir='%s' rev-parse %s:a.txt", store, tree), 0);
	blob = tu_last_line(r.out);
	tu_result_dispose(&r);
	cr_assert_eq(tu_sh(&r,
	                   "printf '100644 blob %s\\t%s\\n100644 blob "
	                   "%s\\tconfig\\n' | GIT_DIR='%s' git mktree",
	                   blob, name, blob, store),
	             0, "%s", r.err);
	sub = tu_last_line(r.out);
	tu_result_dispose(&r);
	sh("rm '%s/a.txt'", wt);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		cr_assert_eq(tu_sh(&r,
		                   "printf '100644 blob %s\\taaa\\n040000 tree "
		                   "%s\\t%s\\n' | GIT_DIR='%s' git mktree",
		                   blob, sub, bad_names[i], store),
		             0, "%s", r.err);
		bad = tu_last_line(r.out);
		tu_result_dispose(&r);
		cr_assert(asprintf(&args, "restore %s", bad) > 0);
		expect_refusal(args, "unsafe path");
		free(args);
		/* one level down, for revert of the directory above */
		cr_assert_eq(tu_sh(&r,
		                   "printf '040000 tree %s\\tgood\\n' | "
		                   "GIT_DIR='%s' git mktree",
		                   bad, store),
		             0, "%s", r.err);
		free(bad);
		bad = tu_last_line(r.out);
		tu_result_dispose(&r);
		cr_assert(asprintf(&args, "revert %s -- good", bad) > 0);
		expect_refusal(args, "unsafe path");
		free(args);
		cr_assert(asprintf(&args, "restore %s", bad) > 0);
		expect_refusal(args, "unsafe path");
		free(args);
		free(bad);
		cr_assert_neq(lstat(escape, &sb), 0, "%s was written", escape);
		cr_assert(!exists(".git"));
		cr_assert(!exists("aaa"));
	}
	free(escape);
	free(parent);
	free(sub);
	free(blob);
	free(tree);
}

Test(restore_cli, symlinks_planted_outside_are_replaced)
{
	char *tree, *ls, *p;
	tu_result r;

	tu_write_str(wt, "dir/inner.txt", "inner\n");
	tu_write_str(wt, "dir/sub/deeper.txt", "deeper\n");
	tu_write_str(wt, "file.txt", "file\n");
	tree = cli_track(wt, store, NULL);
	sh("rm -r '%s/dir' '%s/file.txt'", wt, wt);
	p = tu_path(wt, "dir");
	cr_assert_eq(symlink(outside, p), 0);
	free(p);
	p = tu_path(outside, "file.txt");
	char *l = tu_path(wt, "file.txt");
	cr_assert_eq(symlink(p, l), 0);
	free(p);
	free(l);
	cr_assert_eq(snapdiff(&r, "restore %s", tree), 0, "%s", r.err);
	tu_result_dispose(&r);
	ls = listing(outside);
	cr_assert_str_eq(ls, ". d 700 4096 \n", "written outside: %s", ls);
	free(ls);
	expect_content("dir/inner.txt", "inner\n");
	expect_content("dir/sub/deeper.txt", "deeper\n");
	expect_content("file.txt", "file\n");
	free(tree);
}

Test(restore_cli, directory_in_the_way_is_reported_and_the_rest_written)
{
	char *tree;
	tu_result r;

	tu_write_str(wt, "a.txt", "a\n");
	tu_write_str(wt, "b.txt", "b\n");
	tu_write_str(wt, "c.txt", "c\n");
	tree = cli_track(wt, store, NULL);
	sh("cd '%s' && rm a.txt b.txt c.txt && mkdir b.txt && "
	   "echo mine > b.txt/mine",
	   wt);
	cr_assert_eq(snapdiff(&r, "restore %s --json", tree), 1, "%s", r.err);
	cr_assert(strstr(r.err, "snapdiff: error: 'b.txt': a directory"), "%s",
	          r.err);
	cr_assert(strstr(r.out, "\"ok\":false"), "%s", r.out);
	cr_assert(strstr(r.out, "\"failed\":1,"), "%s", r.out);
	cr_assert(strstr(r.out, "\"path\":\"b.txt\""), "%s", r.out);
	cr_assert(strstr(r.out, "\"written\":2,"), "%s", r.out);
	tu_result_dispose(&r);
	expect_content("a.txt", "a\n");
	expect_content("c.txt", "c\n");
	expect_content("b.txt/mine", "mine\n");
	free(tree);
}

static void write_noise(const char *path, size_t size, uint64_t seed)
{
	FILE *f = fopen(path, "wb");
	uint64_t *buf = malloc(1 << 20), x = seed | 1;

	cr_assert_not_null(f);
	for (size_t done = 0; done < size; done += 1 << 20) {
		for (size_t i = 0; i < (1 << 20) / 8; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* a quarter text, so zlib has some work to do */
			buf[i] = i % 4 ? x : 0x6f6c6c6568206f6cULL;
		}
		cr_assert_eq(fwrite(buf, 1, 1 << 20, f), 1u << 20);
	}
	fclose(f);
	free(buf);
}

static long long json_number(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	cr_assert_not_null(p, "no %s in %s", key, json);
	return strtoll(p + strlen(pat), NULL, 10);
}

Test(restore_cli, restoring_64_mib_stays_under_16_mib)
{
	char *tree, *big = tu_path(wt, "big.bin");
	char *ref = tu_path(scratch, "big.ref");
	tu_result r;

	write_noise(ref, TU_BIG((size_t)64 << 20), 99);
	sh("cp '%s' '%s' && echo small > '%s/small.txt'", ref, big, wt);
	tree = cli_track(wt, store, NULL);
	for (int round = 0; round < 2; round++) {
		if (round == 0)
			sh("rm '%s'", big); /* deleted */
		else
			sh("echo changed > '%s'", big); /* modified */
		char *argv[] = {SDF_CLI,      "restore", tree,
		                "--worktree", wt,        "--store",
		                store,        "--json",  NULL};
		cr_assert_eq(tu_run(&r, NULL, argv), 0, "%s", r.err);
		cr_log_info("restore of 64 MiB (%s): peak RSS %ld KiB, "
		            "allocator peak %lld bytes",
		            round ? "modified" : "deleted", r.maxrss_kb,
		            json_number(r.out, "peak_bytes"));
		cr_assert_eq(json_number(r.out, "written"), 1, "%s", r.out);
		cr_assert_eq(json_number(r.out, "written_bytes"),
		             TU_BIG(64 << 20));
		if (TU_CHECK_RSS)
			cr_assert_leq(r.maxrss_kb, 16 * 1024,
			              "peak RSS %ld KiB", r.maxrss_kb);
#ifndef SDF_SANITIZED
		cr_assert_leq(json_number(r.out, "peak_bytes"), 4 << 20);
#endif
		tu_result_dispose(&r);
		sh("cmp '%s' '%s'", ref, big);
	}
	free(tree);
	free(big);
	free(ref);
}

Test(restore_cli, full_disk_fails_cleanly)
{
	char *mnt = tu_path(scratch, "mnt"), *tree, *ls;
	tu_result r;

	cr_assert_eq(mkdir(mnt, 0755), 0);
	tu_sh(&r, "mount -t tmpfs -o size=4m tmpfs '%s'", mnt);
	if (r.status != 0) {
		tu_result_dispose(&r);
		free(mnt);
		cr_skip("cannot mount a tmpfs here");
	}
	tu_result_dispose(&r);
	/* the worktree is the small disk; the store is elsewhere */
	tu_write_str(mnt, "a.txt", "a\n");
	sh("head -c 3000000 /dev/urandom > '%s/big.bin'", mnt);
	tree = cli_track(mnt, store, NULL);
	sh("rm '%s/big.bin' && head -c 2000000 /dev/urandom > '%s/filler' && "
	   "echo changed > '%s/a.txt'",
	   mnt, mnt, mnt);
	tu_sh(&r, "'%s' restore %s --worktree '%s' --store '%s'", SDF_CLI, tree,
	      mnt, store);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert(strstr(r.err, "snapdiff: error: 'big.bin'"), "%s", r.err);
	cr_assert(strstr(r.err, "No space left"), "%s", r.err);
	tu_result_dispose(&r);
	ls = listing(mnt);
	cr_assert_null(strstr(ls, ".snapdiff-"), "temporary file left: %s", ls);
	cr_assert_null(strstr(ls, "big.bin"), "%s", ls);
	free(ls);
	/* the rest of the worktree is as it was; with room, it works */
	sh("test $(stat -c %%s '%s/filler') = 2000000 && rm '%s/filler'", mnt,
	   mnt);
	tu_sh(&r, "'%s' restore %s --worktree '%s' --store '%s'", SDF_CLI, tree,
	      mnt, store);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tu_result_dispose(&r);
	char *a = tu_read(mnt, "a.txt", NULL);
	cr_assert_str_eq(a, "a\n");
	free(a);
	free(tree);
	free(mnt);
}

/* kill -9 at any point: each file is old or new, never half; no debris. */
Test(restore_cli, kill_9_leaves_whole_files_and_no_debris)
{
	char *tree, *ls, *oldref = tu_path(scratch, "old.ref");
	char *newref = tu_path(scratch, "new.ref");
	static const char *const delays[] = {"0",    "0.01", "0.03", "0.05",
	                                     "0.08", "0.12", "0.2",  "0.4"};
	tu_result r;

#ifdef SDF_VALGRIND
	cr_skip_test("valgrind checks nothing in a killed program");
#endif
	write_noise(newref, (size_t)24 << 20, 7);
	write_noise(oldref, (size_t)24 << 20, 8);
	sh("cp '%s' '%s/big.bin' && echo a > '%s/a.txt'", newref, wt, wt);
	tree = cli_track(wt, store, NULL);
	for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
		sh("cp '%s' '%s/big.bin'", oldref, wt);
		sh("'%s' restore %s --worktree '%s' --store '%s' >/dev/null "
		   "2>&1 & pid=$!; sleep %s; kill -9 $pid 2>/dev/null; "
		   "wait $pid; true",
		   SDF_CLI, tree, wt, store, delays[i]);
		sh("cmp -s '%s' '%s/big.bin' || cmp '%s' '%s/big.bin'", newref,
		   wt, oldref, wt);
		ls = listing(wt);
		if (access("/proc/self/fd", X_OK) == 0)
			cr_assert_null(strstr(ls, ".snapdiff-"),
			               "debris after kill at %ss: %s",
			               delays[i], ls);
		free(ls);
	}
	cr_assert_eq(tu_sh(&r, "git --git-dir='%s' fsck --no-progress", store),
	             0, "%s%s", r.out, r.err);
	tu_result_dispose(&r);
	cr_assert_eq(snapdiff(&r, "restore %s", tree), 0, "%s", r.err);
	tu_result_dispose(&r);
	sh("cmp '%s' '%s/big.bin'", newref, wt);
	free(tree);
	free(oldref);
	free(newref);
}

/* ---- hostile trees: nothing is ever written outside the worktree ------ */

/*
 * Moves the worktree into a fence: FENCE/wt, beside FENCE/sentinel.txt,
 * and puts a sentinel into the symlink target directory, so that a write
 * anywhere around the worktree shows in fingerprint().
 */
static void fence_worktree(void)
{
	tu_rm_rf(wt);
	free(wt);
	fence = tu_mkdtemp("rc-fence");
	wt = tu_path(fence, "wt");
	cr_assert_eq(mkdir(wt, 0755), 0);
	tu_write_str(fence, "sentinel.txt", "the worktree's parent\n");
	tu_write_str(outside, "sentinel.txt", "where symlinks point\n");
	free(cli_track(wt, store, NULL)); /* the store */
}

/* Every path under dir but prune (with type, mode, size and link target)
 * and the SHA-1 of every file's content. */
static char *fingerprint(const char *dir, const char *prune)
{
	char *out;

	out = tu_sh_ok("cd '%s' && find . -path './%s' -prune -o -printf "
	               "'%%p %%y %%m %%s %%l\\n' | LC_ALL=C sort && "
	               "find . -path './%s' -prune -o -type f -print0 | "
	               "LC_ALL=C sort -z | xargs -0r sha1sum",
	               dir, prune, prune);
	return out;
}

struct fences {
	char *fence, *outside;
};

static void fences_take(struct fences *f)
{
	f->fence = fingerprint(fence, "wt");
	f->outside = fingerprint(outside, "-");
}

/* Asserts nothing changed around the worktree since fences_take(). */
static void fences_check(struct fences *f, const char *what)
{
	char *now = fingerprint(fence, "wt");

	cr_assert_str_eq(now, f->fence, "%s: written beside the worktree:\n%s",
	                 what, now);
	free(now);
	now = fingerprint(outside, "-");
	cr_assert_str_eq(now, f->outside, "%s: written through a symlink:\n%s",
	                 what, now);
	free(now);
}

static void fences_dispose(struct fences *f)
{
	free(f->fence);
	free(f->outside);
}

/* Stores a blob; returns its id. */
static char *blob_of(const char *content)
{
	return tu_sh_ok_last("printf '%%s' '%s' | git --git-dir='%s' "
	                     "hash-object -w --stdin",
	                     content, store);
}

struct raw_entry {
	const char *mode, *name, *oid;
};

/*
 * Writes a tree object of exactly these entries, in this order, whatever
 * they are (git mktree refuses the hostile ones); returns its id.
 */
static char *raw_tree(const struct raw_entry *e, size_t n)
{
	char *path = tu_path(scratch, "raw-tree"), *id;
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s %s", e[i].mode, e[i].name);
		fputc(0, f);
		for (int k = 0; k < 20; k++) {
			unsigned v;
			cr_assert_eq(sscanf(e[i].oid + 2 * k, "%2x", &v), 1);
			fputc((int)v, f);
		}
	}
	fclose(f);
	id = tu_sh_ok_last("git --git-dir='%s' hash-object -t tree --literally "
	                   "-w '%s'",
	                   store, path);
	free(path);
	return id;
}

/* Trees whose names would escape or alias, or that are malformed: restore
 * and revert refuse them whole, with one line, and write nothing. */
Test(restore_cli, hostile_raw_trees_are_refused_whole)
{
	char *blob, *link, *sub, *dotgit, *args;
	struct fences f;
	tu_result r;

	fence_worktree();
	tu_write_str(wt, "keep.txt", "keep\n");
	free(cli_track(wt, store, NULL));
	blob = blob_of("payload\n");
	link = blob_of("../../outside-link-target");
	struct raw_entry one[] = {{"100644", "f", blob}};
	sub = raw_tree(one, 1);
	struct raw_entry git_dir[] = {{"40000", ".Git", sub}};
	dotgit = raw_tree(git_dir, 1);
	const struct {
		struct raw_entry e[3];
		size_t n;
		const char *needle;
	} cases[] = {
	    {{{"100644", "a/b", blob}}, 1, "unsafe path"},
	    {{{"100644", "../escape", blob}}, 1, "unsafe path"},
	    {{{"100644", "/tmp/abs", blob}}, 1, "unsafe path"},
	    {{{"100644", "..", blob}}, 1, "unsafe path"},
	    {{{"40000", "..", sub}}, 1, "unsafe path"},
	    {{{"40000", ".", sub}}, 1, "unsafe path"},
	    {{{"100644", ".GIT", blob}}, 1, "unsafe path"},
	    {{{"40000", ".gIt", sub}}, 1, "unsafe path"},
	    {{{"40000", "a", dotgit}}, 1, "a/.Git'"},
	    {{{"100644", "x", blob}, {"40000", "x", sub}},
	     2,
	     "x' is a duplicate"},
	    {{{"120000", "x", link}, {"40000", "x", sub}},
	     2,
	     "x' is a duplicate"},
	    {{{"100644", "x", blob},
	      {"100644", "x-1", blob},
	      {"40000", "x", sub}},
	     3,
	     "x' is a duplicate"},
	    {{{"100644", "x", blob}, {"100755", "x", blob}},
	     2,
	     "x' is a duplicate"},
	    {{{"100644", "b", blob}, {"100644", "a", blob}}, 2, "out of order"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *bad = raw_tree(cases[i].e, cases[i].n), *up;
		struct raw_entry good[] = {{"40000", "good", bad}};

		fences_take(&f);
		cr_assert(asprintf(&args, "restore %s", bad) > 0);
		expect_refusal(args, cases[i].needle);
		free(args);
		/* one level down, for revert and restore */
		up = raw_tree(good, 1);
		cr_assert(asprintf(&args, "restore %s", up) > 0);
		expect_refusal(args, cases[i].needle);
		free(args);
		cr_assert(asprintf(&args, "revert %s -- good", up) > 0);
		expect_refusal(args, cases[i].needle);
		free(args);
		fences_check(&f, cases[i].e[0].name);
		fences_dispose(&f);
		cr_assert(!exists("good") && !exists("x") && !exists("a"));
		free(up);
		free(bad);
	}
	/* the store is intact and restores what it had */
	cr_assert_eq(tu_sh(&r,
	                   "git --git-dir='%s' fsck --no-dangling 2>&1 | "
	                   "grep -v 'duplicate\\|unsorted\\|full pathnames\\|"
	                   "\\.\\.\\|hasDot\\|empty\\|^error in tree\\|"
	                   "badTree\\|zero-padded'; true",
	                   store),
	             0);
	tu_result_dispose(&r);
	free(dotgit);
	free(sub);
	free(link);
	free(blob);
}

/*
 * Names that NTFS or vfat would take for .git (".git.", ".git ", "GIT~1",
 * ".git::$INDEX_ALLOCATION") are refused whole, like .git itself, although
 * Linux filesystems keep them apart; names that merely start with .git are
 * ordinary files. The worktree's own .git is never touched.
 */
Test(restore_cli, git_lookalikes_are_refused_and_the_real_git_untouched)
{
	char *blob, *tree, *before, *after, *args;
	static const char *const refused[] = {
	    ".git.", ".git ", "GIT~1", ".Git. .", ".git::$INDEX_ALLOCATION"};
	/* in git's order */
	static const char *const kept[] = {".git-keep", ".github", ".gitx"};
	struct raw_entry e[3];
	struct fences f;

	fence_worktree();
	sh("git init -q '%s' && echo '[x]' >> '%s/.git/config'", wt, wt);
	blob = blob_of("not a repository\n");
	before = tu_sh_ok("cd '%s/.git' && find . -printf '%%p %%s\\n' | sort "
	                  "&& cat config",
	                  wt);
	fences_take(&f);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct raw_entry one[] = {{"100644", refused[i], blob}};
		tree = raw_tree(one, 1);
		cr_assert(asprintf(&args, "restore %s", tree) > 0);
		expect_refusal(args, "unsafe path");
		free(args);
		free(tree);
	}
	for (size_t i = 0; i < 3; i++)
		e[i] = (struct raw_entry){"100644", kept[i], blob};
	tree = raw_tree(e, 3);
	cr_assert(asprintf(&args, "restore %s", tree) > 0);
	tu_result r;
	cr_assert_eq(snapdiff(&r, "%s", args), 0, "%s", r.err);
	tu_result_dispose(&r);
	free(args);
	for (size_t i = 0; i < 3; i++)
		expect_content(kept[i], "not a repository\n");
	after = tu_sh_ok("cd '%s/.git' && find . -printf '%%p %%s\\n' | sort "
	                 "&& cat config",
	                 wt);
	cr_assert_str_eq(before, after, "the worktree's .git changed");
	fences_check(&f, "git lookalikes");
	fences_dispose(&f);
	free(before);
	free(after);
	free(tree);
	free(blob);
}

/*
 * Between two restores an attacker swaps a directory of the worktree for a
 * symlink to elsewhere: the next restore and revert replace the symlink
 * and write nothing through it, at any depth.
 */
Test(restore_cli, symlink_swapped_for_directory_between_restores)
{
	char *t1, *t2, *p;
	struct fences f;
	tu_result r;

	fence_worktree();
	tu_write_str(wt, "dir/a.txt", "a1\n");
	tu_write_str(wt, "dir/sub/b.txt", "b1\n");
	tu_write_str(wt, "x/y/z/deep.txt", "deep1\n");
	tu_write_str(wt, "top.txt", "top1\n");
	t1 = cli_track(wt, store, NULL);
	tu_write_str(wt, "dir/a.txt", "a2\n");
	tu_write_str(wt, "dir/new.txt", "new2\n");
	tu_write_str(wt, "x/y/z/deep.txt", "deep2\n");
	sh("rm -r '%s/dir/sub'", wt);
	t2 = cli_track(wt, store, NULL);
	cr_assert_eq(snapdiff(&r, "restore %s", t1), 0, "%s", r.err);
	tu_result_dispose(&r);

	for (int round = 0; round < 3; round++) {
		/* the attacker: dir/ and x/y/ become symlinks outside, with
		 * the same names waiting there */
		sh("cd '%s' && rm -rf dir x/y && ln -s '%s' dir && "
		   "ln -s '%s' x/y",
		   wt, outside, outside);
		sh("mkdir -p '%s/sub' '%s/z' && echo mine > '%s/a.txt' && "
		   "echo mine > '%s/z/deep.txt'",
		   outside, outside, outside, outside);
		fences_take(&f);
		if (round == 0) {
			cr_assert_eq(snapdiff(&r, "restore %s", t2), 0, "%s",
			             r.err);
		} else if (round == 1) {
			cr_assert_eq(snapdiff(&r, "restore %s", t1), 0, "%s",
			             r.err);
		} else {
			cr_assert_eq(snapdiff(&r,
			                      "revert %s -- dir/a.txt "
			                      "dir/sub x/y/z/deep.txt",
			                      t2),
			             0, "%s", r.err);
		}
		tu_result_dispose(&r);
		fences_check(&f, round == 2 ? "revert" : "restore");
		fences_dispose(&f);
		p = tu_path(wt, "dir");
		struct stat sb;
		cr_assert_eq(lstat(p, &sb), 0);
		cr_assert(S_ISDIR(sb.st_mode), "dir is not a real directory");
		free(p);
		expect_content("dir/a.txt", round == 1 ? "a1\n" : "a2\n");
		expect_content("x/y/z/deep.txt",
		               round == 1 ? "deep1\n" : "deep2\n");
		cr_assert(round == 1 ? exists("dir/sub/b.txt")
		                     : !exists("dir/sub"));
		sh("rm -rf '%s/sub' '%s/z' '%s/a.txt'", outside, outside,
		   outside);
	}
	free(t1);
	free(t2);
}

/*
 * An attacker swaps directories and symlinks to outside in a loop while
 * restores run: restores may report what they could not write, but never
 * write outside.
 */
Test(restore_cli, racing_symlink_swaps_never_escape)
{
	char *t1, *t2, *real = tu_path(scratch, "real");
	struct fences f;
	tu_result r;

	fence_worktree();
	for (int i = 0; i < 40; i++) {
		char name[32];
		snprintf(name, sizeof(name), "d/s%d/f%d.txt", i % 4, i);
		tu_write_str(wt, name, "one\n");
	}
	t1 = cli_track(wt, store, NULL);
	sh("cd '%s' && for f in d/s*/f*.txt; do echo two > $f; done", wt);
	t2 = cli_track(wt, store, NULL);
	fences_take(&f);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		char *d = tu_path(wt, "d"), *s1 = tu_path(wt, "d/s1");
		for (;;) {
			/* the whole of d/, then one level down */
			rename(d, real);
			symlink(outside, d);
			usleep(500);
			unlink(d);
			rename(real, d);
			if (unlink(s1) < 0)
				rename(s1, real);
			symlink(outside, s1);
			usleep(500);
			unlink(s1);
		}
	}
	for (int i = 0; i < 12; i++) {
		snapdiff(&r, "restore %s", i % 2 ? t1 : t2);
		cr_assert(r.status == 0 || r.status == 1, "%d: %s", r.status,
		          r.err);
		tu_result_dispose(&r);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fences_check(&f, "racing restores");
	fences_dispose(&f);
	/* and once the attacker is gone, restore puts everything back */
	sh("rm -rf '%s'", real);
	cr_assert_eq(snapdiff(&r, "restore %s", t2), 0, "%s", r.err);
	tu_result_dispose(&r);
	expect_content("d/s1/f1.txt", "two\n");
	expect_content("d/s3/f39.txt", "two\n");
	free(t1);
	free(t2);
	free(real);
}

/*
 * Names that collide on case-insensitive filesystems (README and readme,
 * Dir and dir): on Linux both are written as the tree says, and a symlink
 * under one name never redirects a write to the other. (On a casefolded
 * directory, ext4 -O casefold, the second name opens the first's entry; a
 * symlink there is replaced, never followed: directories are opened with
 * O_NOFOLLOW and files are renamed into place.)
 */
Test(restore_cli, case_collisions_do_not_redirect)
{
	char *target, *file, *lnk, *dlink, *sub, *tree, *ls;
	struct fences f;
	tu_result r;

	fence_worktree();
	target = tu_path(outside, "sentinel.txt");
	file = blob_of("the real readme\n");
	lnk = blob_of(target);
	dlink = blob_of(outside);
	struct raw_entry in_dir[] = {{"100644", "sentinel.txt", file}};
	sub = raw_tree(in_dir, 1);
	/* git's order: upper case first */
	struct raw_entry e[] = {{"120000", "DIR", dlink},
	                        {"120000", "README", lnk},
	                        {"40000", "dir", sub},
	                        {"100644", "readme", file}};
	tree = raw_tree(e, 4);
	fences_take(&f);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(snapdiff(&r, "restore %s", tree), 0, "%s", r.err);
		tu_result_dispose(&r);
		fences_check(&f, "case collisions");
		expect_content("readme", "the real readme\n");
		expect_content("dir/sentinel.txt", "the real readme\n");
		ls = listing(wt);
		cr_assert(strstr(ls, "./README l 777"), "%s", ls);
		cr_assert(strstr(ls, "./DIR l 777"), "%s", ls);
		cr_assert(strstr(ls, "./dir d 755"), "%s", ls);
		free(ls);
	}
	fences_dispose(&f);
	free(tree);
	free(sub);
	free(dlink);
	free(lnk);
	free(file);
	free(target);
}

/* Nesting beyond the cap, paths beyond PATH_MAX: refused whole. A tree of
 * many entries: written, nothing beside it. */
Test(restore_cli, huge_and_deep_trees)
{
	char *blob, *deep, *tree, *args, *ls;
	struct fences f;
	tu_result r;

	fence_worktree();
	blob = blob_of("leaf\n");
	/* 300 directories deep (the cap is 256) */
	deep = tu_sh_ok_last(
	    "cd '%s' && export GIT_DIR='%s' && "
	    "t=$(printf '100644 blob %s\\tleaf\\n' | git mktree) && "
	    "i=0; while [ $i -lt 300 ]; do "
	    "t=$(printf '040000 tree %%s\\td\\n' $t | git mktree); "
	    "i=$((i+1)); done; echo $t",
	    scratch, store, blob);
	fences_take(&f);
	cr_assert(asprintf(&args, "restore %s", deep) > 0);
	expect_refusal(args, "more than 256 deep");
	free(args);
	/* 20 directories of 250-byte names: 5000 bytes, over PATH_MAX */
	tree = tu_sh_ok_last(
	    "cd '%s' && export GIT_DIR='%s' && "
	    "n=$(printf 'n%%0249d' 0) && "
	    "t=$(printf '100644 blob %s\\tleaf\\n' | git mktree) && "
	    "i=0; while [ $i -lt 20 ]; do "
	    "t=$(printf '040000 tree %%s\\t%%s\\n' $t $n | git mktree); "
	    "i=$((i+1)); done; echo $t",
	    scratch, store, blob);
	cr_assert(asprintf(&args, "restore %s", tree) > 0);
	expect_refusal(args, "too long");
	free(args);
	free(tree);
	/* 20000 entries in one directory */
	tree =
	    tu_sh_ok_last("cd '%s' && export GIT_DIR='%s' && "
	                  "s=$(seq -f '100644 blob %s\tf%%05g' 0 19999 | "
	                  "git mktree) && "
	                  "printf '040000 tree %%s\\tmany\\n' $s | git mktree",
	                  scratch, store, blob);
	cr_assert_eq(snapdiff(&r, "restore %s --json", tree), 0, "%s", r.err);
	cr_assert(strstr(r.out, "\"written\":20000,"), "%s", r.out);
	tu_result_dispose(&r);
	ls = tu_sh_ok("ls '%s/many' | wc -l", wt);
	cr_assert_eq(atoi(ls), 20000);
	free(ls);
	expect_content("many/f19999", "leaf\n");
	fences_check(&f, "huge trees");
	fences_dispose(&f);
	free(tree);
	free(deep);
	free(blob);
}
