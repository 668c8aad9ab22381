#define _GNU_SOURCE
/* snapdiff track against real git on generated worktrees. */
#include "track_util.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *wt, *store, *scratch;

static void setup(void)
{
	scratch = tu_mkdtemp("track");
	wt = tu_path(scratch, "wt");
	store = tu_path(scratch, "store");
	cr_assert_eq(mkdir(wt, 0755), 0);
}

static void teardown(void)
{
	tu_rm_rf(scratch);
	free(wt);
	free(store);
	free(scratch);
}

TestSuite(track, .init = setup, .fini = teardown, .timeout = 600);

/* Runs a shell command inside the worktree. */
static void sh_ok(const char *cmd)
{
	tu_result r;
	char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};

	tu_run(&r, wt, argv);
	cr_assert_eq(r.status, 0, "%s: %s", cmd, r.err);
	tu_result_dispose(&r);
}

static void make_variety(void)
{
	tu_write_str(wt, "src/main.c", "int main(void) { return 0; }\n");
	tu_write_str(wt, "src/deep/er/still/file.txt", "deep\n");
	tu_write_str(wt, "name with spaces.txt", "spaces\n");
	tu_write_str(wt,
	             "\xc3\xbcnic\xc3\xb8"
	             "de-\xe6\x97\xa5\xe6\x9c\xac.md",
	             "utf8 name\n");
	tu_write_str(wt, "crlf.txt", "a\r\nb\r\n");
	tu_write_str(wt, "ident.c", "/* $Id$ */\n");
	tu_write_str(wt, "no-newline", "last line");
	tu_write(wt, "empty", "", 0, 0);
	tu_write(wt, "bin.dat", "\0\1\2\3\0", 5, 0);
	tu_write_str(wt, "run.sh", "#!/bin/sh\necho hi\n");
	chmod(tu_path(wt, "run.sh"), 0755);
	/* attributes that would convert content if the store honoured them */
	tu_write_str(wt, ".gitattributes", "* text=auto eol=crlf\n*.c ident\n");
	sh_ok("ln -s src/main.c link && ln -s does/not/exist dangling "
	      "&& ln -s ../.. up");
}

Test(track, same_tree_as_git_on_a_varied_worktree)
{
	make_variety();
	char *t = expect_same_tree(wt, store);
	free(t);
}

Test(track, honours_ignore_rules_like_git)
{
	make_variety();
	tu_write_str(wt, ".gitignore",
	             "*.log\nbuild/\n!keep.log\n/rootonly\n**/tmp/**\n"
	             "dir/*\n!dir/important\n");
	tu_write_str(wt, "a.log", "ignored\n");
	tu_write_str(wt, "keep.log", "kept by negation\n");
	tu_write_str(wt, "build/out.o", "ignored dir\n");
	tu_write_str(wt, "rootonly", "ignored at root\n");
	tu_write_str(wt, "sub/rootonly", "kept: pattern is anchored\n");
	tu_write_str(wt, "x/tmp/y/z", "ignored by **\n");
	tu_write_str(wt, "dir/junk", "ignored\n");
	tu_write_str(wt, "dir/important", "kept\n");
	tu_write_str(wt, "sub/.gitignore", "*.txt\n!keep.txt\n");
	tu_write_str(wt, "sub/drop.txt", "ignored in sub\n");
	tu_write_str(wt, "sub/keep.txt", "kept in sub\n");
	tu_write_str(wt, "sub/inner/.gitignore", "!drop2.txt\n");
	tu_write_str(wt, "sub/inner/drop2.txt", "re-included deeper\n");
	char *t = expect_same_tree(wt, store);

	tu_result r;
	tu_sh(&r, "git --git-dir='%s' ls-tree -r --name-only %s", store, t);
	cr_assert(strstr(r.out, "keep.log\n"));
	cr_assert(strstr(r.out, "sub/rootonly\n"));
	cr_assert(strstr(r.out, "dir/important\n"));
	cr_assert_null(strstr(r.out, "a.log"));
	cr_assert_null(strstr(r.out, "build/out.o"));
	cr_assert_null(strstr(r.out, "dir/junk"));
	cr_assert_null(strstr(r.out, "sub/drop.txt"));
	tu_result_dispose(&r);
	free(t);
}

Test(track, project_git_dir_exclude_and_contents_are_respected)
{
	sh_ok("git init -q . && echo secret > .git/secret && "
	      "echo local-only >> .git/info/exclude");
	tu_write_str(wt, "local-only", "excluded by .git/info/exclude\n");
	tu_write_str(wt, "tracked", "kept\n");
	char *t = expect_same_tree(wt, store);

	tu_result r;
	tu_sh(&r, "git --git-dir='%s' ls-tree -r --name-only %s", store, t);
	cr_assert_str_eq(r.out, "tracked\n");
	tu_result_dispose(&r);
	free(t);
}

Test(track, core_excludesfile_from_global_config)
{
	char *home = tu_path(scratch, "home"), *cmd;

	mkdir(home, 0700);
	tu_write_str(home, ".gitconfig",
	             "[core]\n\texcludesFile = ~/global-ignore\n");
	tu_write_str(home, "global-ignore", "*.swp\n");
	tu_write_str(wt, "a.swp", "editor junk\n");
	tu_write_str(wt, "a.txt", "real\n");
	cr_assert(asprintf(&cmd, "HOME=%s", home) > 0);
	putenv(cmd);
	unsetenv("XDG_CONFIG_HOME");
	char *t = expect_same_tree(wt, store);
	tu_result r;
	tu_sh(&r, "git --git-dir='%s' ls-tree -r --name-only %s", store, t);
	cr_assert_str_eq(r.out, "a.txt\n");
	tu_result_dispose(&r);
	free(t);
	free(home);
}

Test(track, follows_every_kind_of_change)
{
	char *t;

	make_variety();
	free(expect_same_tree(wt, store));
	/* modify, same size; grow; delete; add */
	tu_write_str(wt, "src/main.c", "int main(void) { return 1; }\n");
	tu_write_str(wt, "crlf.txt", "a\r\nb\r\nc\r\n");
	sh_ok("rm empty src/deep/er/still/file.txt");
	tu_write_str(wt, "new/dir/file", "new\n");
	free(expect_same_tree(wt, store));
	/* mode only, file to symlink, symlink to file, dir to file */
	sh_ok("chmod +x crlf.txt && rm bin.dat && ln -s crlf.txt "
	      "bin.dat");
	sh_ok("rm link && echo now-a-file > link");
	sh_ok("rm -r new/dir && echo file > new/dir");
	free(expect_same_tree(wt, store));
	/* a file to a directory */
	sh_ok("rm new/dir && mkdir new/dir && echo x > "
	      "new/dir/x");
	free(expect_same_tree(wt, store));
	/* tracked files that become ignored leave the snapshot */
	tu_write_str(wt, ".gitignore", "src/\n*.md\n");
	t = expect_same_tree(wt, store);
	tu_result r;
	tu_sh(&r, "git --git-dir='%s' ls-tree -r --name-only %s", store, t);
	cr_assert_null(strstr(r.out, "src/"));
	cr_assert_null(strstr(r.out, ".md"));
	tu_result_dispose(&r);
	free(t);
	/* and come back when the rule goes */
	sh_ok("rm .gitignore");
	free(expect_same_tree(wt, store));
	/* an emptied worktree */
	sh_ok("find . -mindepth 1 -delete");
	t = expect_same_tree(wt, store);
	cr_assert_str_eq(t, "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
	free(t);
}

Test(track, touched_identical_file_is_read_once_then_trusted)
{
	tu_result r;

	tu_write_str(wt, "a.txt", "same content\n");
	tu_write_str(wt, "b.txt", "other\n");
	char *t1 = cli_track(wt, store, NULL);
	sleep(1);
	sh_ok("touch a.txt");
	/* the touched file is read (hashed) once, found identical */
	tu_sh(&r,
	      "ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=open,openat -o "
	      "'%s/strace1' '%s' track "
	      "--worktree '%s' --store '%s' && grep -c 'a.txt' '%s/strace1'",
	      scratch, SDF_CLI, wt, store, scratch);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(atoi(tu_last_line(r.out)), 1, "opened %s times",
	             tu_last_line(r.out));
	cr_assert(strstr(r.out, t1));
	tu_result_dispose(&r);
	/* and not again */
	tu_sh(&r,
	      "ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=open,openat -o "
	      "'%s/strace2' '%s' track "
	      "--worktree '%s' --store '%s' && grep -c 'a.txt' '%s/strace2'",
	      scratch, SDF_CLI, wt, store, scratch);
	cr_assert_eq(atoi(tu_last_line(r.out)), 0, "opened again");
	tu_result_dispose(&r);
	free(t1);
}

Test(track, log_lists_snapshots_with_labels)
{
	tu_result r;

	tu_write_str(wt, "f", "1\n");
	char *t1 = cli_track(wt, store, "--label first");
	char *t1b = cli_track(wt, store, NULL); /* unchanged: no new entry */
	cr_assert_str_eq(t1, t1b);
	tu_write_str(wt, "f", "2\n");
	char *t2 = cli_track(wt, store, NULL);
	tu_sh(&r, "'%s' log --store '%s' --json", SDF_CLI, store);
	cr_assert_eq(r.status, 0, "%s", r.err);
	char *first = strstr(r.out, t1), *second = strstr(r.out, t2);
	cr_assert(first && second && first < second, "%s", r.out);
	cr_assert(strstr(r.out, "\"label\":\"first\""));
	cr_assert(strstr(r.out, "\"files\":1"));
	cr_assert_eq(strstr(strstr(r.out, t1) + 40, t1), NULL,
	             "unchanged re-track added an entry: %s", r.out);
	tu_result_dispose(&r);
	/* stock git sees every snapshot as reachable */
	tu_sh(&r,
	      "git --git-dir='%s' for-each-ref refs/snapdiff/snapshots | wc -l "
	      "&& git --git-dir='%s' fsck --no-dangling 2>&1",
	      store, store);
	cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
	cr_assert_eq(atoi(r.out), 2);
	tu_result_dispose(&r);
	/* labels and ids resolve as tree-ishes */
	tu_sh(&r, "'%s' log --store '%s'", SDF_CLI, store);
	cr_assert(strstr(r.out, "first"));
	tu_result_dispose(&r);
	free(t1);
	free(t1b);
	free(t2);
}

Test(track, large_files_stay_under_16_mib)
{
	tu_result r;

	write_lines(wt, "build/CMakeFiles/CMakeConfigureLog.yaml",
	            TU_BIG(128u << 20), 1);
	write_lines(wt, "build/build.ninja", TU_BIG(96u << 20), 1);
	tu_write_str(wt, "src/main.txt", "hello\n");
	for (int turn = 1; turn <= 2; turn++) {
		if (turn == 2) {
			write_lines(wt,
			            "build/CMakeFiles/CMakeConfigureLog.yaml",
			            TU_BIG(128u << 20), 2);
			write_lines(wt, "build/build.ninja", TU_BIG(96u << 20),
			            2);
		}
		tu_sh(&r, "'%s' track --worktree '%s' --store '%s'", SDF_CLI,
		      wt, store);
		cr_assert_eq(r.status, 0, "%s", r.err);
		if (TU_CHECK_RSS)
			cr_assert_leq(r.maxrss_kb, 16 * 1024,
			              "turn %d: peak RSS %ld KiB", turn,
			              r.maxrss_kb);
		char *ours = tu_last_line(r.out), *theirs = git_tree(wt);
		cr_assert_str_eq(ours, theirs);
		free(ours);
		free(theirs);
		tu_result_dispose(&r);
	}
}

Test(track, concurrent_tracks_both_succeed)
{
	tu_result r;

	for (int i = 0; i < 200; i++) {
		char name[32];
		snprintf(name, sizeof(name), "d%d/f%d", i % 10, i);
		tu_write_str(wt, name, name);
	}
	write_lines(wt, "big", TU_BIG(16u << 20), 1);
	tu_sh(&r,
	      "'%s' track --worktree '%s' --store '%s' > '%s/o1' & "
	      "'%s' track --worktree '%s' --store '%s' > '%s/o2'; s2=$?; "
	      "wait $!; s1=$?; [ $s1 = 0 ] && [ $s2 = 0 ] && "
	      "cmp '%s/o1' '%s/o2' && cat '%s/o1'",
	      SDF_CLI, wt, store, scratch, SDF_CLI, wt, store, scratch, scratch,
	      scratch, scratch);
	cr_assert_eq(r.status, 0, "%s %s", r.out, r.err);
	char *theirs = git_tree(wt), *ours = tu_last_line(r.out);
	cr_assert_str_eq(ours, theirs);
	free(ours);
	free(theirs);
	tu_result_dispose(&r);
}

/* An unsigned from the environment (for long runs by hand), else dflt. */
static unsigned env_uint(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

/*
 * kill -9 of a track at a random point of its run, many times: the store
 * stays consistent, every snapshot taken so far restores byte-exact, and
 * the next track succeeds with git's tree. SDF_KILL_ROUNDS=N runs more
 * rounds by hand, SDF_KILL_SEED=S replays a failure.
 */
Test(track, survives_kill_9_at_any_point, .timeout = 3600)
{
#ifdef SDF_SANITIZED
	unsigned rounds = env_uint("SDF_KILL_ROUNDS", 16);
#else
	unsigned rounds = env_uint("SDF_KILL_ROUNDS", 40);
#endif
	unsigned seed = env_uint("SDF_KILL_SEED", (unsigned)time(NULL));
	unsigned killed = 0, finished = 0;
	char **trees = calloc(rounds + 1, sizeof(*trees));
	char *out = tu_path(scratch, "track.out"), *why;
	long span_us;
	tu_result r;

#ifdef SDF_VALGRIND
	cr_skip_test("valgrind checks nothing in a killed program");
#endif
	cr_log_info("kill -9 of track: %u rounds, SDF_KILL_SEED=%u", rounds,
	            seed);
	srand(seed);
	tu_write_str(wt, "keep.txt", "first snapshot\n");
	for (int i = 0; i < 60; i++) {
		char name[32];
		snprintf(name, sizeof(name), "many/f%03d", i);
		tu_write_str(wt, name, name);
	}
	free(cli_track(wt, store, "--label empty"));
	write_lines(wt, "big.log", 1u << 20, 0);
	/* how long an uninterrupted track of a changed worktree takes */
	tu_sh(&r, "'%s' track --worktree '%s' --store '%s' --label base",
	      SDF_CLI, wt, store);
	cr_assert_eq(r.status, 0, "%s", r.err);
	span_us = (long)(r.seconds * 1e6) + 1000;
	trees[0] = tu_last_line(r.out);
	tu_result_dispose(&r);
	for (unsigned round = 1; round <= rounds; round++) {
		int st = 0;
		long delay = rand() % span_us;
		char name[32];

		cr_assert(asprintf(&why, "seed %u round %u (kill after %ld us)",
		                   seed, round, delay) > 0);
		/* every kind of change, so each phase of track has work */
		write_lines(wt, "big.log", (1u + round % 3) << 19, (int)round);
		snprintf(name, sizeof(name), "many/f%03u", round % 60);
		tu_write_str(wt, name, why);
		snprintf(name, sizeof(name), "new/r%03u", round);
		tu_write_str(wt, name, why);
		snprintf(name, sizeof(name), "new/r%03u", round - 1);
		char *gone = tu_path(wt, name);
		cr_assert(unlink(gone) == 0 || round == 1, "%s", gone);
		free(gone);
		pid_t pid = fork();
		cr_assert(pid >= 0);
		if (pid == 0) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			dup2(fd, 1);
			dup2(fd, 2);
			execl(SDF_CLI, SDF_CLI, "track", "--worktree", wt,
			      "--store", store, (char *)NULL);
			_exit(127);
		}
		usleep((useconds_t)delay);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		if (WIFSIGNALED(st)) {
			killed++;
		} else {
			char *o = tu_read(scratch, "track.out", NULL);
			cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			          "%s: track failed: %s", why, o);
			free(o);
			finished++;
		}
		/* the store is consistent (unreferenced objects allowed) */
		tu_sh(&r, "git --git-dir='%s' fsck --strict --no-dangling 2>&1",
		      store);
		cr_assert_eq(r.status, 0, "%s: %s", why, r.out);
		tu_result_dispose(&r);
		/* every snapshot so far is there; one of them (the last
		 * every other round) restores byte-exact; all at the end */
		char *all = calloc((size_t)round + 1, 40 + 8);
		for (unsigned i = 0; i < round; i++)
			strcat(strcat(all, trees[i]), "^{tree} ");
		tu_sh(&r,
		      "for t in %s; do echo $t; done | "
		      "git --git-dir='%s' cat-file --batch-check | "
		      "grep -v ' tree '; true",
		      all, store);
		cr_assert_str_eq(r.out, "", "%s: lost %s", why, r.out);
		tu_result_dispose(&r);
		free(all);
		tu_expect_restores_like_git(
		    SDF_CLI, store,
		    trees[round % 2 ? round - 1 : (unsigned)rand() % round],
		    why);
		/* the next track succeeds, with git's tree */
		trees[round] = expect_same_tree(wt, store);
		free(why);
	}
	tu_sh(&r, "'%s' log --store '%s' --json", SDF_CLI, store);
	cr_assert_eq(r.status, 0, "seed %u: %s", seed, r.err);
	for (unsigned i = 0; i <= rounds; i++) {
		cr_assert(strstr(r.out, trees[i]), "seed %u: %s not logged",
		          seed, trees[i]);
		tu_expect_restores_like_git(SDF_CLI, store, trees[i],
		                            "at the end");
		free(trees[i]);
	}
	tu_result_dispose(&r);
	cr_log_info("kill -9 of track: %u killed, %u finished first "
	            "(seed %u)",
	            killed, finished, seed);
	free(trees);
	free(out);
}

Test(track, bad_input_gets_one_clear_line)
{
	tu_result r;

	tu_sh(&r, "'%s' track --worktree '%s/nope' --store '%s'", SDF_CLI,
	      scratch, store);
	cr_assert_neq(r.status, 0);
	cr_assert(strstr(r.err, "snapdiff: error: worktree"), "%s", r.err);
	cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "%s",
	             r.err);
	tu_result_dispose(&r);

	tu_write_str(scratch, "plainfile", "x");
	tu_sh(&r, "'%s' track --worktree '%s' --store '%s/plainfile'", SDF_CLI,
	      wt, scratch);
	cr_assert_neq(r.status, 0);
	cr_assert(strstr(r.err, "not a store"), "%s", r.err);
	tu_result_dispose(&r);

	tu_sh(&r,
	      "'%s' track --worktree '%s' --store '%s' --label \"$(printf "
	      "'a\\nb')\"",
	      SDF_CLI, wt, store);
	cr_assert_neq(r.status, 0);
	cr_assert(strstr(r.err, "control"), "%s", r.err);
	tu_result_dispose(&r);

	tu_sh(&r, "'%s' track --bogus", SDF_CLI);
	cr_assert_eq(r.status, 2);
	tu_result_dispose(&r);

	tu_sh(&r, "'%s' log --store '%s/none'", SDF_CLI, scratch);
	cr_assert_neq(r.status, 0);
	cr_assert(strstr(r.err, "no snapdiff store"), "%s", r.err);
	tu_result_dispose(&r);
}

Test(track, memory_limit_fails_cleanly)
{
	tu_result r;

	for (int i = 0; i < 300; i++) {
		char name[32];
		snprintf(name, sizeof(name), "d%d/file-%d.txt", i % 17, i);
		tu_write_str(wt, name, name);
	}
	tu_sh(&r, "'%s' --memory-limit 200K track --worktree '%s' --store '%s'",
	      SDF_CLI, wt, store);
	cr_assert_eq(r.status, 1, "status %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "memory budget exceeded"), "%s", r.err);
	tu_result_dispose(&r);
	/* nothing lost: a normal track afterwards works */
	free(expect_same_tree(wt, store));
}

Test(track, file_changing_while_read_is_retried_or_reported)
{
	tu_result r;

	tu_write_str(wt, "stable", "stable\n");
	/* a writer that keeps rewriting a file with different sizes */
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		char *p = tu_path(wt, "hot.log");
		for (unsigned i = 0; i < 4000; i++) {
			FILE *f = fopen(p, "w");
			if (!f)
				_exit(1);
			for (unsigned k = 0; k < 2000 + (i % 7) * 500; k++)
				fprintf(f, "%u %u\n", i, k);
			fclose(f);
		}
		_exit(0);
	}
	for (int i = 0; i < 5; i++) {
		tu_sh(&r, "'%s' track --worktree '%s' --store '%s'", SDF_CLI,
		      wt, store);
		cr_assert_eq(r.status, 0, "%s", r.err);
		if (r.err[0])
			cr_assert(strstr(r.err, "hot.log"), "%s", r.err);
		tu_result_dispose(&r);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	free(expect_same_tree(wt, store));
}

/* Line n of the stream the writers below write: fixed width, so any
 * prefix of the stream is easy to check. */
#define LINE_LEN 32
static void hot_line(char out[LINE_LEN + 1], unsigned n)
{
	snprintf(out, LINE_LEN + 1, "%010u grows, shrinks, goes\n", n);
}

enum hot_kind { HOT_GROWS, HOT_SHRINKS, HOT_VANISHES };

/* Child: keeps changing wt/hot.log so that at every instant it is absent
 * or a prefix of the stream. Never returns. */
static void hot_writer(enum hot_kind kind)
{
	enum { LINES = 128 * 1024 }; /* 4 MiB */
	char *p = tu_path(wt, "hot.log"), *tmp = tu_path(wt, "hot.tmp");
	char *full = malloc((size_t)LINES * LINE_LEN + 1);
	int fd;

	for (unsigned i = 0; i < LINES; i++)
		hot_line(full + (size_t)i * LINE_LEN, i);
	for (unsigned turn = 0;; turn++) {
		switch (kind) {
		case HOT_GROWS: /* appends, starting over now and then */
			fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			for (size_t off = 0; off < (size_t)LINES * LINE_LEN;
			     off += 4096)
				if (write(fd, full + off, 4096) < 0)
					_exit(1);
			close(fd);
			break;
		case HOT_SHRINKS: /* cut shorter and shorter, then refilled */
			fd = open(p, O_WRONLY | O_CREAT, 0644);
			if (pwrite(fd, full, (size_t)LINES * LINE_LEN, 0) < 0)
				_exit(1);
			for (off_t len = (off_t)LINES * LINE_LEN; len > 0;
			     len -= 40961)
				if (ftruncate(fd, len) < 0)
					_exit(1);
			close(fd);
			break;
		case HOT_VANISHES: /* replaced whole, then deleted */
			fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (write(fd, full, (size_t)(turn % 64 + 1) << 14) < 0)
				_exit(1);
			close(fd);
			rename(tmp, p);
			usleep(turn % 3 * 5000);
			unlink(p);
			break;
		}
		usleep(turn % 4 * 10000); /* now and then, a quiet moment */
	}
}

/* The stored hot.log of tree, if any, is a prefix of the writers' stream
 * (no torn or mixed content). */
static size_t expect_hot_prefix(const char *tree, const char *what)
{
	char *blob = tu_path(scratch, "hot.blob"), line[LINE_LEN + 1];
	size_t len = 0;
	tu_result r;

	tu_sh(&r,
	      "git --git-dir='%s' cat-file -e %s:hot.log 2>/dev/null || "
	      "exit 0; git --git-dir='%s' cat-file blob %s:hot.log > '%s'",
	      store, tree, store, tree, blob);
	cr_assert_eq(r.status, 0, "%s: %s", what, r.err);
	tu_result_dispose(&r);
	char *got = tu_read(scratch, "hot.blob", &len);
	for (size_t off = 0; got && off < len; off += LINE_LEN) {
		size_t n = len - off < LINE_LEN ? len - off : LINE_LEN;
		hot_line(line, (unsigned)(off / LINE_LEN));
		cr_assert(!memcmp(got + off, line, n),
		          "%s: hot.log is torn at byte %zu of %zu", what, off,
		          len);
	}
	unlink(blob);
	free(got);
	free(blob);
	return len;
}

/* A file that grows, shrinks or disappears while track reads it: each
 * track succeeds (a warning at most), stores a state the file really had,
 * and once it stops the next track has git's tree. */
Test(track, file_growing_shrinking_or_vanishing_while_read)
{
	static const struct {
		enum hot_kind kind;
		const char *name;
	} cases[] = {{HOT_GROWS, "grows"},
	             {HOT_SHRINKS, "shrinks"},
	             {HOT_VANISHES, "vanishes"}};
	tu_result r;

	tu_write_str(wt, "stable", "stable\n");
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		pid_t pid = fork();
		cr_assert(pid >= 0);
		if (pid == 0)
			hot_writer(cases[c].kind);
		for (int i = 0; i < 4; i++) {
			tu_sh(&r, "'%s' track --worktree '%s' --store '%s'",
			      SDF_CLI, wt, store);
			cr_assert_eq(r.status, 0, "%s: %s", cases[c].name,
			             r.err);
			if (r.err[0])
				cr_assert(strstr(r.err, "hot.log") &&
				              strstr(r.err, "warning"),
				          "%s: %s", cases[c].name, r.err);
			char *tree = tu_last_line(r.out);
			cr_log_info("%s: stored %zu bytes of hot.log%s",
			            cases[c].name,
			            expect_hot_prefix(tree, cases[c].name),
			            r.err[0] ? " (warned)" : "");
			free(tree);
			tu_result_dispose(&r);
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		tu_sh(&r, "git --git-dir='%s' fsck --strict --no-dangling 2>&1",
		      store);
		cr_assert_eq(r.status, 0, "%s: %s", cases[c].name, r.out);
		tu_result_dispose(&r);
		free(expect_same_tree(wt, store));
		unlink(tu_path(wt, "hot.tmp"));
	}
}

/* Runs the CLI as nobody (as root every file is readable). */
#define AS_NOBODY                                                              \
	"setpriv --reuid=65534 --regid=65534 --clear-groups env HOME='%s' "

/*
 * The CLI as nobody can run it (malloc'd): SDF_CLI, or a copy in the
 * sandbox when a directory above the build is closed to others (a checkout
 * under /root, in a mktemp -d). Under valgrind the wrapper needs the build
 * directory itself: skipped then.
 */
static char *cli_for_nobody(void)
{
	tu_result r;
	int ok;

	tu_sh(&r, AS_NOBODY "test -x '%s'", scratch, SDF_CLI);
	ok = r.status == 0;
	tu_result_dispose(&r);
	if (ok)
		return strdup(SDF_CLI);
#ifdef SDF_VALGRIND
	cr_skip("nobody cannot reach %s", SDF_CLI);
#endif
	tu_sh(&r, "mkdir -p '%s/bin' && cp '%s' '%s/bin/snapdiff'", scratch,
	      SDF_CLI, scratch);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tu_result_dispose(&r);
	return tu_path(scratch, "bin/snapdiff");
}

/* An unreadable file is skipped (kept as it was, or left out when new)
 * and reported; the rest is tracked. With --strict, a clean failure. */
Test(track, unreadable_file_is_skipped_or_fails_with_strict)
{
	char *t1, *t2, *t3, *expected, *cli;
	tu_result r;

	tu_sh(&r, "command -v setpriv");
	if (r.status != 0) {
		tu_result_dispose(&r);
		cr_skip("no setpriv here");
	}
	tu_result_dispose(&r);
	cli = cli_for_nobody();
	tu_write_str(wt, "a.txt", "a\n");
	tu_write_str(wt, "secret.txt", "readable at first\n");
	tu_write_str(wt, "sub/inner.txt", "inner\n");
	/* nobody owns the sandbox and the store */
	tu_sh(&r, "chown -R 65534:65534 '%s' && chmod 755 '%s'", scratch,
	      scratch);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tu_result_dispose(&r);
	tu_sh(&r, AS_NOBODY "'%s' track --worktree '%s' --store '%s'", scratch,
	      cli, wt, store);
	cr_assert_eq(r.status, 0, "%s", r.err);
	t1 = tu_last_line(r.out);
	tu_result_dispose(&r);

	/* changed and made unreadable; a new unreadable file; a change
	 * elsewhere */
	tu_write_str(wt, "secret.txt", "changed, then made unreadable\n");
	tu_write_str(wt, "new-secret.txt", "never readable\n");
	tu_write_str(wt, "a.txt", "a changed\n");
	tu_sh(&r,
	      "cd '%s' && chown 65534:65534 secret.txt new-secret.txt a.txt && "
	      "chmod 000 secret.txt new-secret.txt",
	      wt);
	tu_result_dispose(&r);
	tu_sh(&r, AS_NOBODY "'%s' track --worktree '%s' --store '%s'", scratch,
	      cli, wt, store);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.err, "warning: kept 'secret.txt' as it was"), "%s",
	          r.err);
	cr_assert(strstr(r.err, "'new-secret.txt'"), "%s", r.err);
	cr_assert(strstr(r.err, "Permission denied"), "%s", r.err);
	t2 = tu_last_line(r.out);
	tu_result_dispose(&r);
	/* the tree: a.txt as now, secret.txt as it was, no new-secret.txt */
	tu_sh(&r,
	      "git --git-dir='%s' ls-tree -r %s | cut -f2 | tr '\\n' ' '; "
	      "git --git-dir='%s' cat-file blob %s:secret.txt; "
	      "git --git-dir='%s' cat-file blob %s:a.txt",
	      store, t2, store, t2, store, t2);
	cr_assert_str_eq(r.out,
	                 "a.txt secret.txt sub/inner.txt readable at first\n"
	                 "a changed\n");
	tu_result_dispose(&r);

	/* --json lists them */
	tu_sh(&r, AS_NOBODY "'%s' track --json --worktree '%s' --store '%s'",
	      scratch, cli, wt, store);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "{\"path\":\"secret.txt\",\"error\":\"io\""),
	          "%s", r.out);
	tu_result_dispose(&r);

	/* --strict: one line, exit 1, no new snapshot */
	tu_write_str(wt, "a.txt", "a changed again\n");
	tu_sh(&r, AS_NOBODY "'%s' track --strict --worktree '%s' --store '%s'",
	      scratch, cli, wt, store);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert(strstr(r.err, "snapdiff: error: '"), "%s", r.err);
	cr_assert(strstr(r.err, "secret.txt': open: Permission denied"), "%s",
	          r.err);
	cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "%s",
	             r.err);
	tu_result_dispose(&r);
	tu_sh(&r, "'%s' log --store '%s' --json", SDF_CLI, store);
	cr_assert_null(strstr(r.out, "a changed again"));
	tu_result_dispose(&r);

	/* readable again: the next track has git's tree */
	tu_sh(&r, "chmod 644 '%s/secret.txt' '%s/new-secret.txt'", wt, wt);
	tu_result_dispose(&r);
	t3 = cli_track(wt, store, NULL);
	expected = git_tree(wt);
	cr_assert_str_eq(t3, expected);
	cr_assert_str_neq(t1, t2);
	tu_sh(&r, "git --git-dir='%s' fsck --strict --no-dangling 2>&1", store);
	cr_assert_eq(r.status, 0, "%s", r.out);
	tu_result_dispose(&r);
	free(t1);
	free(t2);
	free(t3);
	free(expected);
	free(cli);
}

Test(track, full_disk_fails_cleanly_and_loses_nothing)
{
	tu_result r;
	char *mnt = tu_path(scratch, "small");

	mkdir(mnt, 0700);
	tu_sh(&r, "mount -t tmpfs -o size=4m tmpfs '%s'", mnt);
	if (r.status != 0) {
		tu_result_dispose(&r);
		free(mnt);
		cr_skip("cannot mount a tmpfs here: %s", r.err);
	}
	tu_result_dispose(&r);
	char *small_store = tu_path(mnt, "store");
	tu_write_str(wt, "a.txt", "first\n");
	char *t0 = cli_track(wt, small_store, NULL);
	/* incompressible data larger than the disk */
	tu_sh(&r, "head -c 8388608 /dev/urandom > '%s/big.bin'", wt);
	tu_result_dispose(&r);
	tu_sh(&r, "'%s' track --worktree '%s' --store '%s'", SDF_CLI, wt,
	      small_store);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert(strstr(r.err, "No space left") || strstr(r.err, "no space"),
	          "%s", r.err);
	tu_result_dispose(&r);
	tu_sh(&r,
	      "git --git-dir='%s' fsck --no-dangling 2>&1 && "
	      "git --git-dir='%s' cat-file -e %s",
	      small_store, small_store, t0);
	cr_assert_eq(r.status, 0, "%s", r.out);
	tu_result_dispose(&r);
	/* once there is room again, tracking works */
	tu_sh(&r, "rm '%s/big.bin'", wt);
	tu_result_dispose(&r);
	char *t1 = cli_track(wt, small_store, NULL);
	cr_assert_str_eq(t0, t1);
	tu_sh(&r, "umount '%s'", mnt);
	tu_result_dispose(&r);
	free(t0);
	free(t1);
	free(small_store);
	free(mnt);
}

/*
 * Names git refuses to add (and restore to write), as NTFS and vfat take
 * them for .git: left out and reported, or --strict fails. The snapshot
 * then restores; it is the tree of the worktree without them.
 */
Test(track, names_git_refuses_are_left_out)
{
	static const char *const refused[] = {".git.", "GIT~1", "d/.git ",
	                                      "d/git~1/x"};
	char *ours, *theirs;
	tu_result r;

	tu_write_str(wt, "ok.txt", "ok\n");
	tu_write_str(wt, "d/kept.txt", "kept\n");
	theirs = tu_git_tree(wt);
	for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++)
		tu_write_str(wt, refused[i], "x\n");
	tu_sh(&r, "'%s' track --worktree '%s' --store '%s'", SDF_CLI, wt,
	      store);
	cr_assert_eq(r.status, 0, "%s", r.err);
	ours = tu_last_line(r.out);
	cr_assert_str_eq(ours, theirs);
	cr_assert(strstr(r.err, "'.git.'") && strstr(r.err, "'GIT~1'") &&
	              strstr(r.err, "'d/.git '") && strstr(r.err, "'d/git~1'"),
	          "%s", r.err);
	tu_result_dispose(&r);
	tu_expect_restores_like_git(SDF_CLI, store, ours, "without them");

	tu_sh(&r, "'%s' track --worktree '%s' --store '%s' --strict", SDF_CLI,
	      wt, store);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert(strstr(r.err, "refuses"), "%s", r.err);
	tu_result_dispose(&r);
	free(ours);
	free(theirs);
}
