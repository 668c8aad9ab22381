/*
 * Properties on arbitrary bytes (a fuzz-like sweep, replayed from fixed
 * seeds): line counts as git counts them, binary detection, chunking
 * invariance, and changes that add up to the counts.
 */
#include "diff_util.h"
#include "sdf_diff.h"
#include "sdf_error.h"

#include <criterion/criterion.h>
#include <string.h>

typedef struct {
	sdf_diff_range r[4096];
	size_t n;
} ranges;

static int collect(const sdf_diff_range *r, void *payload)
{
	ranges *l = payload;

	cr_assert_lt(l->n, sizeof(l->r) / sizeof(l->r[0]));
	l->r[l->n++] = *r;
	return 0;
}

static uint64_t git_count_lines(const dt_buf *b)
{
	uint64_t n = 0;

	for (size_t i = 0; i < b->len; i++)
		n += b->p[i] == '\n';
	return n + (b->len && b->p[b->len - 1] != '\n');
}

static void random_bytes(dt_buf *b, dt_rng *rng, size_t len, int nul)
{
	static const char pool[] = "ab  \t\n\n\n\r{}";

	b->len = 0;
	dt_buf_add(b, "", 0);
	for (size_t i = 0; i < len; i++) {
		char c = pool[dt_rng_below(rng, sizeof(pool) - 1)];

		if (nul && dt_rng_below(rng, 500) == 0)
			c = '\0';
		dt_buf_add(b, &c, 1);
	}
}

static void mutate(dt_buf *out, const dt_buf *in, dt_rng *rng)
{
	out->len = 0;
	dt_buf_add(out, "", 0);
	for (size_t i = 0; i < in->len; i++) {
		uint64_t r = dt_rng_below(rng, 100);

		if (r < 3)
			continue;
		if (r < 6)
			dt_buf_add(out, "\n", 1);
		if (r < 8)
			dt_buf_add(out, "x", 1);
		dt_buf_add(out, in->p + i, 1);
	}
}

static void check_pair(const dt_buf *a, const dt_buf *b, dt_rng *rng)
{
	sdf_diff_side *sa = NULL, *sb = NULL, *ca = NULL, *cb = NULL;
	sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result res, again;
	sdf_diff_stats st_a, st_b;
	static ranges got;
	uint64_t add = 0, del = 0, prev_old = 0, prev_new = 0;
	int binary = memchr(a->p, 0, a->len < 8000 ? a->len : 8000) ||
	             memchr(b->p, 0, b->len < 8000 ? b->len : 8000);

	cr_assert_eq(dt_side(&sa, a->p, a->len, 0), 0);
	cr_assert_eq(dt_side(&sb, b->p, b->len, 0), 0);
	cr_assert_eq(
	    dt_side(&ca, a->p, a->len, 1 + (size_t)dt_rng_below(rng, 64)), 0);
	cr_assert_eq(
	    dt_side(&cb, b->p, b->len, 1 + (size_t)dt_rng_below(rng, 64)), 0);
	cr_assert_eq(sdf_diff_side_stats(&st_a, sa), 0);
	cr_assert_eq(sdf_diff_side_stats(&st_b, sb), 0);
	cr_assert_eq(st_a.lines, git_count_lines(a));
	cr_assert_eq(st_b.lines, git_count_lines(b));

	got.n = 0;
	o.range_cb = collect;
	o.payload = &got;
	cr_assert_eq(sdf_diff_lines(&res, sa, sb, &o), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(res.binary, binary);
	cr_assert_eq(sdf_diff_lines(&again, ca, cb, NULL), 0);
	cr_assert_eq(again.additions, res.additions);
	cr_assert_eq(again.deletions, res.deletions);
	if (binary) {
		cr_assert_eq(got.n, 0);
		goto done;
	}
	cr_assert(res.exact && res.ranges);
	cr_assert_leq(res.additions, st_b.lines);
	cr_assert_leq(res.deletions, st_a.lines);
	cr_assert_eq(res.additions - res.deletions + st_a.lines, st_b.lines);
	for (size_t i = 0; i < got.n; i++) {
		const sdf_diff_range *r = &got.r[i];

		cr_assert(r->old_count || r->new_count);
		if (i) {
			/* At least one unchanged line between two changes. */
			cr_assert_gt(r->old_start, prev_old);
			cr_assert_gt(r->new_start, prev_new);
			cr_assert_eq(r->old_start - prev_old,
			             r->new_start - prev_new);
		} else {
			cr_assert_eq(r->old_start, r->new_start);
		}
		prev_old = r->old_start + r->old_count;
		prev_new = r->new_start + r->new_count;
		cr_assert_leq(prev_old, st_a.lines);
		cr_assert_leq(prev_new, st_b.lines);
		add += r->new_count;
		del += r->old_count;
	}
	cr_assert_eq(add, res.additions);
	cr_assert_eq(del, res.deletions);
	cr_assert_eq(st_a.lines - prev_old, st_b.lines - prev_new);

	/* A side against itself: nothing. */
	cr_assert_eq(sdf_diff_lines(&again, sa, ca, NULL), 0);
	cr_assert_eq(again.additions + again.deletions, 0);
done:
	sdf_diff_side_free(sa);
	sdf_diff_side_free(sb);
	sdf_diff_side_free(ca);
	sdf_diff_side_free(cb);
}

Test(diff_props, arbitrary_bytes)
{
	dt_buf a = {0}, b = {0};
	dt_rng rng;

	dt_rng_seed(&rng, 1234);
	for (int it = 0; it < 3000; it++) {
		size_t len = (size_t)dt_rng_below(&rng, it < 2500 ? 200 : 9000);

		random_bytes(&a, &rng, len, it % 7 == 0);
		if (dt_rng_below(&rng, 4) == 0)
			random_bytes(&b, &rng, (size_t)dt_rng_below(&rng, 300),
			             0);
		else
			mutate(&b, &a, &rng);
		check_pair(&a, &b, &rng);
	}
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
}
