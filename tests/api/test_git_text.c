/*
 * --numstat, --name-status and --stat against real git on generated
 * repositories: every shape the service meets, and random ones for the stat
 * graph's scaling and the name column's truncation at many widths.
 */
#define _GNU_SOURCE
#include "api_util.h"
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int w_numstat(FILE *out, const at_diff *d, const void *arg)
{
	(void)arg;
	return sdf_api_write_numstat(out, d->files, d->n);
}

static int w_name_status(FILE *out, const at_diff *d, const void *arg)
{
	(void)arg;
	return sdf_api_write_name_status(out, d->files, d->n);
}

static int w_stat(FILE *out, const at_diff *d, const void *arg)
{
	return sdf_api_write_stat(out, d->files, d->n, arg);
}

/* Ours must equal git's `git diff --no-renames FLAGS FROM TO`. */
static void expect_git(const char *repo, const char *env, const char *flags,
                       const char *from, const char *to, at_writer w,
                       const at_diff *d, const void *arg)
{
	char *git = at_sh(NULL, repo, "%s git diff --no-renames %s %s %s", env,
	                  flags, from, to);
	char *ours = at_capture(w, d, arg);

	cr_expect_str_eq(ours, git, "%s %s differs:\n--- ours\n%s--- git\n%s",
	                 env, flags, ours, git);
	free(git);
	free(ours);
}

static void expect_all(const char *repo, const char *from, const char *to)
{
	static const int widths[] = {1,  22, 30,  40,  50, 60,
	                             72, 80, 100, 150, 250};
	at_diff d;

	at_load(&d, repo, from, to);
	cr_assert_gt(d.n, 0);
	expect_git(repo, "", "--numstat", from, to, w_numstat, &d, NULL);
	expect_git(repo, "", "--name-status", from, to, w_name_status, &d,
	           NULL);
	expect_git(repo, "", "--stat", from, to, w_stat, &d, NULL);
	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		sdf_api_stat_options o = SDF_API_STAT_OPTIONS_INIT;
		char flag[64], env[64];

		o.width = widths[i];
		snprintf(flag, sizeof(flag), "--stat=%d", widths[i]);
		expect_git(repo, "", flag, from, to, w_stat, &d, &o);

		/* $COLUMNS when no width is given */
		snprintf(env, sizeof(env), "COLUMNS=%d", widths[i]);
		setenv("COLUMNS", env + 8, 1);
		expect_git(repo, env, "--stat", from, to, w_stat, &d, NULL);
		unsetenv("COLUMNS");

		/* name and graph width caps (git reads past the name when
		 * the name column is under 3 wide, so not those) */
		o.name_width = widths[i] / 3 + 4;
		snprintf(flag, sizeof(flag), "--stat=%d,%d", widths[i],
		         o.name_width);
		expect_git(repo, "", flag, from, to, w_stat, &d, &o);
		o.name_width = 0;
		o.graph_width = widths[i] / 4 + 1;
		snprintf(flag, sizeof(flag), "--stat=%d --stat-graph-width=%d",
		         widths[i], o.graph_width);
		expect_git(repo, "", flag, from, to, w_stat, &d, &o);
	}
	at_dispose(&d);
}

static char *repo;

static void setup(void)
{
	repo = at_repo_new("api-git");
}

static void teardown(void)
{
	tu_rm_rf(repo);
	free(repo);
}

TestSuite(git_text, .init = setup, .fini = teardown, .timeout = 600);

#define LONGDIR                                                                \
	"aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbb/"                        \
	"cccccccccccccccccccccccccc/dddddddddddddddddddddddd"

/* Every shape at once: the service's whole menu. */
static const char shapes_before[] =
    "seq 1 10 > mod.txt && seq 1 5000 > big.txt && echo hi > del.txt && "
    "echo x > mode.sh && echo target > tolink && ln -s mod.txt fromlink && "
    "printf 'a\\0b' > bin.dat && printf 'a\\0b' > binmode && "
    "printf 'zz\\0' > bindel && printf 'x' > 'sp ace.txt' && "
    "printf 'q' > 'quo\"te' && printf 'q' > 'back\\\\slash' && "
    "printf 't' > \"$(printf 'ta\\tb')\" && "
    "printf 'n' > \"$(printf 'nl\\nx')\" && "
    "printf 'u' > \"$(printf 'caf\\303\\251.txt')\" && "
    "printf 'd' > \"$(printf 'de\\177l')\" && "
    "printf 'c' > \"$(printf 'c\\001\\a\\b\\v\\f\\r\\033')\" && "
    "printf 'l' > \"$(printf 'lat\\351n')\" && "
    "mkdir -p " LONGDIR " 'dir with space' && "
    "echo 1 > " LONGDIR "/long-file-name.txt && "
    "echo 1 > 'dir with space/f' && seq 1 300 > shrink.txt && "
    "printf 'no newline' > nonl";

static const char shapes_after[] =
    "seq 1 12 | sed 's/5/five/' > mod.txt && "
    "seq 1 5000 | sed 's/^1/X/' > big.txt && rm del.txt && "
    "chmod +x mode.sh binmode && rm tolink && ln -s mod.txt tolink && "
    "rm fromlink && echo 'now a file' > fromlink && "
    "printf 'a\\0bc' > bin.dat && rm bindel && "
    "printf '\\0\\0\\0\\0\\0' > binadd && : > empty && "
    "echo new > added.txt && seq 1 7000 > added-big.txt && "
    "for f in 'sp ace.txt' 'quo\"te' 'back\\\\slash' "
    "\"$(printf 'ta\\tb')\" \"$(printf 'nl\\nx')\" "
    "\"$(printf 'caf\\303\\251.txt')\" \"$(printf 'de\\177l')\" "
    "\"$(printf 'c\\001\\a\\b\\v\\f\\r\\033')\" "
    "\"$(printf 'lat\\351n')\" 'dir with space/f' " LONGDIR
    "/long-file-name.txt; do echo more >> \"$f\"; done && "
    "seq 1 3 > shrink.txt && printf 'no newline either' > nonl";

Test(git_text, every_shape)
{
	free(at_sh(NULL, repo, "%s", shapes_before));
	at_commit(repo, "one");
	free(at_sh(NULL, repo, "%s", shapes_after));
	at_commit(repo, "two");
	expect_all(repo, "HEAD~", "HEAD");
	/* and backwards: adds become deletes, symlinks files */
	expect_all(repo, "HEAD", "HEAD~");
}

Test(git_text, type_change_is_one_entry)
{
	at_diff d;

	free(at_sh(NULL, repo, "echo target > t && ln -s t l"));
	at_commit(repo, "one");
	free(at_sh(NULL, repo, "rm t l && ln -s l t && echo file > l"));
	at_commit(repo, "two");
	at_load(&d, repo, "HEAD~", "HEAD");
	cr_assert_eq(d.n, 2);
	cr_expect_eq(d.files[0].status, SDF_FILE_TYPE_CHANGED);
	cr_expect_eq(d.files[1].status, SDF_FILE_TYPE_CHANGED);
	cr_expect_eq(d.files[0].new_mode, 0100644);
	cr_expect_eq(d.files[1].new_mode, 0120000);
	at_dispose(&d);
	expect_all(repo, "HEAD~", "HEAD");
}

Test(git_text, submodules)
{
	free(at_sh(NULL, repo,
	           "echo a > a && git update-index --add --cacheinfo "
	           "160000,1111111111111111111111111111111111111111,sub && "
	           "git update-index --add --cacheinfo "
	           "160000,3333333333333333333333333333333333333333,gone && "
	           "git add a && git commit -q -m one"));
	free(at_sh(NULL, repo,
	           "git update-index --cacheinfo "
	           "160000,2222222222222222222222222222222222222222,sub && "
	           "git update-index --force-remove gone && "
	           "git update-index --add --cacheinfo "
	           "160000,4444444444444444444444444444444444444444,new && "
	           "git commit -q -m two"));
	expect_all(repo, "HEAD~", "HEAD");
}

Test(git_text, binary_only_and_mode_only)
{
	free(at_sh(NULL, repo, "printf '\\0' > b && echo x > m"));
	at_commit(repo, "one");
	free(at_sh(NULL, repo, "chmod +x b m"));
	at_commit(repo, "two");
	expect_all(repo, "HEAD~", "HEAD");
	free(at_sh(NULL, repo, "head -c 123456 /dev/zero > b"));
	at_commit(repo, "three");
	expect_all(repo, "HEAD~", "HEAD");
}

Test(git_text, only_deletions)
{
	free(at_sh(NULL, repo, "seq 1 100 > a && seq 1 1 > b"));
	at_commit(repo, "one");
	free(at_sh(NULL, repo, "rm a && : > b"));
	at_commit(repo, "two");
	expect_all(repo, "HEAD~", "HEAD");
}

Test(git_text, one_file_one_line)
{
	free(at_sh(NULL, repo, "echo a > a"));
	at_commit(repo, "one");
	free(at_sh(NULL, repo, "echo b > a"));
	at_commit(repo, "two");
	expect_all(repo, "HEAD~", "HEAD");
	/* the single-insertion summary */
	free(at_sh(NULL, repo, "echo c >> a"));
	at_commit(repo, "three");
	expect_all(repo, "HEAD~", "HEAD");
}

/* A deterministic generator, so a failure can be replayed. */
static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return rnd_state >> 33;
}

static void write_lines(const char *rel, size_t n, const char *tag)
{
	char *path = tu_path(repo, rel);
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %zu\n", tag, i);
	fclose(f);
	free(path);
}

static void random_repo(uint64_t seed)
{
	static const size_t sizes[] = {0,  1,   2,   3,    5,    9,    17,
	                               40, 100, 333, 1000, 4096, 12000};
	size_t nfiles = 3 + rnd() % 30;
	char rel[512];

	rnd_state = seed;
	for (int pass = 0; pass < 2; pass++) {
		rnd_state = seed;
		for (size_t i = 0; i < nfiles; i++) {
			size_t depth = rnd() % 4, namelen = 1 + rnd() % 60;
			size_t pos = 0;
			uint64_t before = rnd() % 13, after = rnd() % 13;
			uint64_t kind = rnd() % 10, keep = rnd() % 2;

			for (size_t k = 0; k < depth; k++)
				pos += (size_t)snprintf(
				    rel + pos, sizeof(rel) - pos, "d%zu%.*s/",
				    k, (int)(rnd() % 30),
				    "dddddddddddddddddddd"
				    "dddddddddd");
			snprintf(rel + pos, sizeof(rel) - pos, "f%zu_%.*s", i,
			         (int)namelen,
			         "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
			         "nnnnnnnnnnnnnnnnnnnn");
			if (pass == 0) {
				char *dir = tu_path(repo, rel);

				*strrchr(dir, '/') = '\0';
				free(at_sh(NULL, repo, "mkdir -p '%s'", dir));
				free(dir);
				if (kind != 0)
					write_lines(rel, sizes[before], "x");
				continue;
			}
			if (kind == 1) {
				char *p = tu_path(repo, rel);

				unlink(p);
				free(p);
			} else if (kind == 2) {
				/* binary, sizes from the counts */
				char *p = tu_path(repo, rel);
				FILE *f = fopen(p, "w");

				fputc(0, f);
				for (size_t k = 0; k < sizes[after] * 7; k++)
					fputc('b', f);
				fclose(f);
				free(p);
			} else {
				/* keep a prefix of the old lines, add new */
				char *p = tu_path(repo, rel);
				FILE *f = fopen(p, "w");

				for (size_t k = 0; k < sizes[before] / 2 * keep;
				     k++)
					fprintf(f, "x %zu\n", k);
				for (size_t k = 0; k < sizes[after]; k++)
					fprintf(f, "y %zu\n", k);
				fclose(f);
				free(p);
			}
		}
		at_commit(repo, pass ? "two" : "one");
	}
}

Test(git_text, random_shapes)
{
	for (uint64_t seed = 1; seed <= 6; seed++) {
		free(at_sh(NULL, repo,
		           "git rm -rq --ignore-unmatch . && "
		           "rm -rf ./*"));
		at_commit(repo, "clean");
		random_repo(seed * 7919);
		expect_all(repo, "HEAD~", "HEAD");
	}
}

/* Git's quoting of every byte a file name can hold, in all three formats. */
Test(git_text, every_byte_in_a_name)
{
	char name[8];

	for (int c = 1; c < 256; c++) {
		if (c == '/')
			continue;
		snprintf(name, sizeof(name), "n%c", c);
		tu_write_str(repo, name, "a\n");
	}
	at_commit(repo, "one");
	for (int c = 1; c < 256; c++) {
		if (c == '/')
			continue;
		snprintf(name, sizeof(name), "n%c", c);
		tu_write_str(repo, name, c % 2 ? "b\n" : "a\nb\n");
	}
	at_commit(repo, "two");
	expect_all(repo, "HEAD~", "HEAD");
}

Test(git_text, columns_as_git_reads_it)
{
	static const char *vals[] = {"abc", "0",          "-5", " 100", "100x",
	                             "+50", "4294967376", "",   "23"};
	at_diff d;

	free(at_sh(NULL, repo,
	           "mkdir -p a/b/c && seq 1 50 > "
	           "a/b/c/a-rather-long-file-name-for-the-test"));
	at_commit(repo, "one");
	free(at_sh(NULL, repo,
	           "seq 1 1000 > a/b/c/a-rather-long-file-name-"
	           "for-the-test && echo x > short"));
	at_commit(repo, "two");
	at_load(&d, repo, "HEAD~", "HEAD");
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		char env[64];

		snprintf(env, sizeof(env), "COLUMNS='%s'", vals[i]);
		setenv("COLUMNS", vals[i], 1);
		expect_git(repo, env, "--stat", "HEAD~", "HEAD", w_stat, &d,
		           NULL);
		unsetenv("COLUMNS");
	}
	at_dispose(&d);
}

Test(git_text, empty_diff_prints_nothing)
{
	at_diff d;

	free(at_sh(NULL, repo, "echo a > a"));
	at_commit(repo, "one");
	at_load(&d, repo, "HEAD", "HEAD");
	cr_assert_eq(d.n, 0);
	expect_git(repo, "", "--numstat", "HEAD", "HEAD", w_numstat, &d, NULL);
	expect_git(repo, "", "--name-status", "HEAD", "HEAD", w_name_status, &d,
	           NULL);
	expect_git(repo, "", "--stat", "HEAD", "HEAD", w_stat, &d, NULL);
	at_dispose(&d);
}

Test(git_text, bad_input_writes_nothing)
{
	sdf_file_summary f[2] = {{.path = "a", .status = SDF_FILE_ADDED},
	                         {.path = NULL, .status = SDF_FILE_ADDED}};
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	cr_expect_eq(sdf_api_write_numstat(out, f, 2), SDF_EINVAL);
	cr_expect_eq(sdf_api_write_name_status(out, f, 2), SDF_EINVAL);
	cr_expect_eq(sdf_api_write_stat(out, f, 2, NULL), SDF_EINVAL);
	f[1].path = "b";
	f[1].status = SDF_FILE_RENAMED;
	cr_expect_eq(sdf_api_write_stat(out, f, 2, NULL), SDF_EINVAL);
	f[1].status = (sdf_file_status)42;
	cr_expect_eq(sdf_api_write_numstat(out, f, 2), SDF_EINVAL);
	cr_expect_eq(sdf_api_write_numstat(out, NULL, 2), SDF_EINVAL);
	cr_expect_eq(sdf_api_write_numstat(NULL, f, 1), SDF_EINVAL);
	cr_expect_eq(sdf_api_write_stat(out, NULL, 0, NULL), 0);
	/* out of budget for the name buffer: an error, no output */
	f[1].status = SDF_FILE_DELETED;
	sdf_alloc_fail_at(1);
	cr_expect_eq(sdf_api_write_stat(out, f, 2, NULL), SDF_EBUDGET);
	sdf_alloc_fail_at(0);
	fclose(out);
	cr_expect_eq(len, 0, "wrote %s", buf);
	free(buf);
}
