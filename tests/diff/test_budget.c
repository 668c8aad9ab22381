/* Budgets: the work budget, the allocator's limit, allocation failures. */
#include "diff_util.h"
#include "sdf_alloc.h"
#include "sdf_diff.h"
#include "sdf_error.h"

#include <criterion/criterion.h>
#include <string.h>

/* n lines drawn from k distinct ones (so each occurs about n/k times). */
static void random_text(dt_buf *b, dt_rng *rng, size_t n, size_t k)
{
	for (size_t i = 0; i < n; i++)
		dt_buf_addf(b, "l%llu\n",
		            (unsigned long long)dt_rng_below(rng, k));
}

/* A pair with scattered edits, some of them moving duplicated lines. */
static void edited_pair(dt_buf *a, dt_buf *b, uint64_t seed, size_t n)
{
	dt_rng rng;

	dt_rng_seed(&rng, seed);
	for (size_t i = 0; i < n; i++) {
		uint64_t r = dt_rng_below(&rng, 1000);

		if (i % 17 == 0) {
			dt_buf_add(a, "\n", 1);
		} else {
			dt_buf_addf(a, "line %zu\n", i);
		}
		if (r < 5)
			continue; /* deleted */
		if (r < 10)
			dt_buf_addf(b, "new %zu\n", i);
		else if (r < 13)
			dt_buf_add(b, "\n", 1);
		else if (i % 17 == 0)
			dt_buf_add(b, "\n", 1);
		else
			dt_buf_addf(b, "line %zu\n", i);
	}
}

static int count_range(const sdf_diff_range *r, void *payload)
{
	(void)r;
	(void)payload;
	return 0;
}

Test(diff_budget, tiny_work_budget_gives_the_same_counts)
{
	dt_buf a = {0}, b = {0};
	sdf_diff_lines_options tiny = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result big, small;

	edited_pair(&a, &b, 1, 200000);
	tiny.work_budget = SDF_DIFF_WORK_BUDGET_MIN;
	cr_assert_eq(dt_diff(&big, a.p, a.len, b.p, b.len, NULL), 0);
	sdf_alloc_reset_peak();
	size_t base = sdf_alloc_live();
	cr_assert_eq(dt_diff(&small, a.p, a.len, b.p, b.len, &tiny), 0);
	cr_assert(big.exact);
	cr_assert_gt(big.additions, 0);
	if (small.exact) {
		cr_assert_eq(small.additions, big.additions);
		cr_assert_eq(small.deletions, big.deletions);
	}
	/* The sides' own buffers come on top of the work budget. */
	cr_assert_leq(sdf_alloc_peak() - base,
	              SDF_DIFF_WORK_BUDGET_MIN + (512u << 10));
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
}

/*
 * Millions of distinct lines on both sides under the smallest budget: the
 * counting table cannot hold a bucket, which is then counted in parts.
 */
Test(diff_budget, split_counting_tables_give_the_same_counts, .timeout = 300)
{
	dt_buf a = {0}, b = {0};
	dt_rng rng;
	sdf_diff_lines_options tiny = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result big, small;
	const int n = 1700000;

	dt_rng_seed(&rng, 5);
	for (int i = 0; i < n; i++) {
		uint64_t r = dt_rng_below(&rng, 1000);

		/* Mostly different lines: (nearly) all distinct. */
		dt_buf_addf(&a, "%d\n", i);
		if (r < 3)
			continue;
		if (r < 6)
			dt_buf_addf(&b, "%d\n", (int)dt_rng_below(&rng, n));
		dt_buf_addf(&b, i % 50 ? "x%d\n" : "%d\n", i);
	}
	tiny.work_budget = SDF_DIFF_WORK_BUDGET_MIN;
	cr_assert_eq(dt_diff(&big, a.p, a.len, b.p, b.len, NULL), 0);
	cr_assert_eq(dt_diff(&small, a.p, a.len, b.p, b.len, &tiny), 0, "%s",
	             sdf_error_last());
	cr_assert(big.exact);
	cr_assert_gt(big.additions, 1000);
	cr_assert(small.exact);
	cr_assert_eq(small.additions, big.additions);
	cr_assert_eq(small.deletions, big.deletions);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
}

Test(diff_budget, work_budget_under_the_minimum_is_rejected)
{
	sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result res;

	o.work_budget = 1000;
	cr_assert_eq(dt_diff(&res, "a\n", 2, "b\n", 2, &o), SDF_EINVAL);
}

/*
 * A heavy diff of a million lines: the Myers vectors would pass the tiny
 * budget, so the counts are flagged as an estimate, never a silent guess.
 */
Test(diff_budget, myers_over_budget_is_flagged, .timeout = 120)
{
	dt_buf a = {0}, b = {0};
	dt_rng rng;
	sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result res;
	const size_t n = 1100000;

	dt_rng_seed(&rng, 9);
	random_text(&a, &rng, n, n / 2);
	random_text(&b, &rng, n, n / 2);
	o.work_budget = SDF_DIFF_WORK_BUDGET_MIN;
	cr_assert_eq(dt_diff(&res, a.p, a.len, b.p, b.len, &o), 0, "%s",
	             sdf_error_last());
	cr_assert_not(res.exact);
	cr_assert_gt(res.additions, 0);
	cr_assert_gt(res.deletions, 0);
	cr_assert_leq(res.additions, n);
	cr_assert_leq(res.deletions, n);
	cr_assert_eq(res.additions, res.deletions);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
}

/* Fail the 1st, 2nd, ... allocation: a clean SDF_EBUDGET, nothing leaked. */
Test(diff_budget, every_allocation_failure_is_clean)
{
	dt_buf a = {0}, b = {0};
	sdf_diff_lines_result want, res;
	int failures = 0;

	edited_pair(&a, &b, 2, 3000);
	cr_assert_eq(dt_diff(&want, a.p, a.len, b.p, b.len, NULL), 0);
	for (uint64_t nth = 1;; nth++) {
		size_t base = sdf_alloc_live();
		int rc;

		sdf_alloc_fail_at(nth);
		rc = dt_diff(&res, a.p, a.len, b.p, b.len, NULL);
		uint64_t made = sdf_alloc_count_since_arm();
		sdf_alloc_fail_at(0);
		cr_assert_eq(sdf_alloc_live(), base, "leak after failure %llu",
		             (unsigned long long)nth);
		if (made < nth) {
			/* The armed failure was never reached: done. */
			cr_assert_eq(rc, 0);
			break;
		}
		cr_assert_eq(rc, SDF_EBUDGET, "failure %llu gave %d (%s)",
		             (unsigned long long)nth, rc, sdf_error_last());
		failures++;
	}
	cr_assert_eq(res.additions, want.additions);
	cr_assert_eq(res.deletions, want.deletions);
	cr_assert_gt(failures, 10);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
}

/* The same with spill files, two threads and ranges. */
Test(diff_budget, every_allocation_failure_is_clean_large, .timeout = 300)
{
	dt_buf a = {0}, b = {0};
	sdf_diff_side *sa = NULL, *sb = NULL;
	sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result want, res;
	int failures = 0;

	edited_pair(&a, &b, 4, 40000);
	cr_assert_eq(dt_side(&sa, a.p, a.len, 0), 0);
	cr_assert_eq(dt_side(&sb, b.p, b.len, 0), 0);
	cr_assert_eq(sdf_diff_lines(&want, sa, sb, NULL), 0);
	o.range_cb = count_range;
	o.payload = &failures; /* any counter will do */
	for (uint64_t nth = 1;; nth++) {
		size_t base = sdf_alloc_live();
		int rc;

		sdf_alloc_fail_at(nth);
		rc = sdf_diff_lines(&res, sa, sb, &o);
		uint64_t made = sdf_alloc_count_since_arm();
		sdf_alloc_fail_at(0);
		cr_assert_eq(sdf_alloc_live(), base, "leak after failure %llu",
		             (unsigned long long)nth);
		if (made < nth) {
			cr_assert_eq(rc, 0);
			break;
		}
		cr_assert_eq(rc, SDF_EBUDGET, "failure %llu gave %d (%s)",
		             (unsigned long long)nth, rc, sdf_error_last());
	}
	cr_assert_eq(res.additions, want.additions);
	cr_assert_eq(res.deletions, want.deletions);
	sdf_diff_side_free(sa);
	sdf_diff_side_free(sb);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
}

Test(diff_budget, allocator_limit_is_a_clean_error)
{
	dt_buf a = {0}, b = {0};
	sdf_diff_side *sa = NULL, *sb = NULL;
	sdf_diff_lines_result res;
	size_t base;

	edited_pair(&a, &b, 3, 50000);
	cr_assert_eq(dt_side(&sa, a.p, a.len, 0), 0);
	cr_assert_eq(dt_side(&sb, b.p, b.len, 0), 0);
	base = sdf_alloc_live();
	sdf_alloc_set_limit(base + 100000);
	cr_assert_eq(sdf_diff_lines(&res, sa, sb, NULL), SDF_EBUDGET);
	cr_assert_eq(res.additions + res.deletions, 0);
	cr_assert_eq(sdf_alloc_live(), base);
	sdf_alloc_set_limit(0);
	cr_assert_eq(sdf_diff_lines(&res, sa, sb, NULL), 0);
	cr_assert(res.exact);
	sdf_diff_side_free(sa);
	sdf_diff_side_free(sb);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
}
