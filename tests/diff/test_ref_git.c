/*
 * fuzz/linediff_ref.h (the reference fuzz_linediff checks the engine
 * against) agrees with `git diff --no-index --numstat` on thousands of
 * small random pairs drawn from a tiny alphabet, so that duplicates,
 * moves and multimatch lines abound: empty files, no final newline, CRLF.
 * The engine is checked on the same pairs.
 */
#include "../../fuzz/linediff_ref.h"
#include "diff_util.h"
#include "sdf_diff.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void random_file(dt_buf *f, dt_rng *rng, size_t lines)
{
	static const char *const words[] = {"a", "b", "c", "",  "{",
	                                    "}", "a", "a", "b", "  x"};
	int crlf = dt_rng_below(rng, 6) == 0;

	f->len = 0;
	dt_buf_add(f, "", 0);
	for (size_t i = 0; i < lines; i++) {
		if (dt_rng_below(rng, 8) == 0)
			dt_buf_addf(
			    f, "u%llu",
			    (unsigned long long)dt_rng_below(rng, 1000));
		else
			dt_buf_addf(
			    f, "%s",
			    words[dt_rng_below(rng, sizeof(words) /
			                                sizeof(words[0]))]);
		if (crlf || dt_rng_below(rng, 30) == 0)
			dt_buf_add(f, "\r\n", 2);
		else
			dt_buf_add(f, "\n", 1);
	}
	if (f->len && dt_rng_below(rng, 5) == 0)
		f->len--; /* no final newline */
}

/* b from a: lines dropped, added, moved and changed. */
static void mutate(dt_buf *b, const dt_buf *a, dt_rng *rng)
{
	size_t at = 0;

	b->len = 0;
	dt_buf_add(b, "", 0);
	while (at < a->len) {
		const char *nl = memchr(a->p + at, '\n', a->len - at);
		size_t n = nl ? (size_t)(nl - (a->p + at)) + 1 : a->len - at;
		uint64_t r = dt_rng_below(rng, 20);

		if (r == 0)
			dt_buf_addf(
			    b, "u%llu\n",
			    (unsigned long long)dt_rng_below(rng, 1000));
		else if (r == 1)
			dt_buf_add(b, "a\n", 2);
		else if (r == 2)
			dt_buf_add(b, a->p, n < a->len ? n : a->len); /* move */
		if (r != 3)
			dt_buf_add(b, a->p + at, n);
		at += n;
	}
	if (dt_rng_below(rng, 8) == 0 && b->len)
		b->len--;
}

#define PAIRS 3000

static dt_buf pa[PAIRS], pb[PAIRS];

static void write_file(const char *dir, const char *side, int i,
                       const dt_buf *f)
{
	char rel[64], *p;
	FILE *fp;

	snprintf(rel, sizeof(rel), "%s/%04d", side, i);
	p = tu_path(dir, rel);
	fp = fopen(p, "wb");
	cr_assert_not_null(fp, "%s", p);
	cr_assert_eq(fwrite(f->p, 1, f->len, fp), f->len);
	cr_assert_eq(fclose(fp), 0);
	free(p);
}

/*
 * One `git diff --no-index --numstat a b` over two directories of PAIRS
 * files each (one git process, not thousands): the counts of pair i.
 */
static void git_counts(const char *dir, uint64_t *add, uint64_t *del)
{
	char *argv[] = {"git", "diff", "--no-index", "--numstat",
	                "a",   "b",    NULL};
	tu_result res;
	char *line, *save = NULL;

	memset(add, 0, PAIRS * sizeof(*add));
	memset(del, 0, PAIRS * sizeof(*del));
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	tu_run(&res, dir, argv);
	cr_assert(res.status == 0 || res.status == 1, "git failed: %s",
	          res.err);
	for (line = strtok_r(res.out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long x, y;
		size_t n = strlen(line);
		int i;

		/* "ADD\tDEL\t{a => b}/NNNN" or "ADD\tDEL\ta/NNNN => b/NNNN" */
		cr_assert(sscanf(line, "%llu\t%llu\t", &x, &y) == 2,
		          "unexpected git output: %s", line);
		cr_assert_gt(n, 4);
		i = atoi(line + n - 4);
		cr_assert(i >= 0 && i < PAIRS, "%s", line);
		add[i] = x;
		del[i] = y;
	}
	tu_result_dispose(&res);
}

Test(diff_ref, reference_agrees_with_git)
{
	static uint64_t ga[PAIRS], gd[PAIRS];
	char *dir = tu_mkdtemp("ref-git");
	dt_rng rng;
	int differ = 0;

	tu_sh_ok("mkdir '%s/a' '%s/b'", dir, dir);
	dt_rng_seed(&rng, 20261123);
	for (int it = 0; it < PAIRS; it++) {
		random_file(&pa[it], &rng,
		            (size_t)dt_rng_below(&rng, it % 10 ? 24 : 90));
		if (dt_rng_below(&rng, 3) == 0)
			random_file(&pb[it], &rng,
			            (size_t)dt_rng_below(&rng, 40));
		else
			mutate(&pb[it], &pa[it], &rng);
		write_file(dir, "a", it, &pa[it]);
		write_file(dir, "b", it, &pb[it]);
	}
	git_counts(dir, ga, gd);
	for (int it = 0; it < PAIRS; it++) {
		const dt_buf *a = &pa[it], *b = &pb[it];
		sdf_diff_lines_result res;
		uint64_t ra, rd;

		ldref_numstat(a->p, a->len, b->p, b->len, &ra, &rd);
		cr_assert(ra == ga[it] && rd == gd[it],
		          "pair %d: reference +%llu -%llu, git +%llu -%llu\n"
		          "--- a\n%.*s\n--- b\n%.*s",
		          it, (unsigned long long)ra, (unsigned long long)rd,
		          (unsigned long long)ga[it],
		          (unsigned long long)gd[it], (int)a->len, a->p,
		          (int)b->len, b->p);
		cr_assert_eq(dt_diff(&res, a->p, a->len, b->p, b->len, NULL),
		             0);
		cr_assert(res.additions == ga[it] && res.deletions == gd[it],
		          "pair %d: engine differs from git", it);
		differ += ra + rd > 0;
		dt_buf_dispose(&pa[it]);
		dt_buf_dispose(&pb[it]);
	}
	cr_assert_gt(differ, PAIRS * 3 / 4, "too few pairs differ: %d", differ);
	tu_rm_rf(dir);
	free(dir);
}
