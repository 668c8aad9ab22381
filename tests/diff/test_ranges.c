/*
 * The change ranges against git's own hunks: `git diff -U3` parsed back
 * into groups of changed lines (its compaction and indent heuristic
 * decide where a movable group goes).
 */
#include "diff_util.h"
#include "sdf_diff.h"
#include "sdf_error.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANGES 100000

typedef struct {
	sdf_diff_range r[MAX_RANGES];
	size_t n;
} range_list;

static int collect(const sdf_diff_range *r, void *payload)
{
	range_list *l = payload;

	cr_assert_lt(l->n, MAX_RANGES);
	l->r[l->n++] = *r;
	return 0;
}

static int stop_at_second(const sdf_diff_range *r, void *payload)
{
	int *seen = payload;

	(void)r;
	return ++*seen == 2 ? SDF_ECANCELED : 0;
}

/* Groups of '-' and '+' lines between context lines of a unified diff. */
static void parse_patch(range_list *l, const char *patch)
{
	unsigned long long o = 0, n = 0;
	int open = 0;
	sdf_diff_range cur = {0, 0, 0, 0};

	l->n = 0;
	for (const char *p = patch; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		unsigned long long os, oc = 1, ns, nc = 1;

		if (!strncmp(p, "@@ ", 3)) {
			if (open)
				l->r[l->n++] = cur;
			open = 0;
			if (sscanf(p, "@@ -%llu,%llu +%llu,%llu", &os, &oc, &ns,
			           &nc) != 4) {
				char tmp[64];

				/* A count of 1 may be left out. */
				cr_assert_lt(len, sizeof(tmp));
				memcpy(tmp, p, len);
				tmp[len] = '\0';
				oc = nc = 1;
				if (sscanf(tmp, "@@ -%llu,%llu +%llu @@", &os,
				           &oc, &ns) != 3 &&
				    sscanf(tmp, "@@ -%llu +%llu,%llu @@", &os,
				           &ns, &nc) != 3)
					cr_assert(sscanf(tmp,
					                 "@@ -%llu +%llu @@",
					                 &os, &ns) == 2,
					          "hunk header: %s", tmp);
			}
			/* 1-based, and a 0-line range names the line before. */
			o = oc ? os - 1 : os;
			n = nc ? ns - 1 : ns;
		} else if (!strncmp(p, "diff ", 5) ||
		           !strncmp(p, "index ", 6) || !strncmp(p, "--- ", 4) ||
		           !strncmp(p, "+++ ", 4) ||
		           !strncmp(p, "new file", 8) ||
		           !strncmp(p, "deleted file", 12) || *p == '\\') {
			/* headers and "\ No newline at end of file" */
		} else if (*p == ' ') {
			if (open)
				l->r[l->n++] = cur;
			open = 0;
			o++;
			n++;
		} else if (*p == '-' || *p == '+') {
			if (!open) {
				cur = (sdf_diff_range){o, 0, n, 0};
				open = 1;
			}
			if (*p == '-') {
				cur.old_count++;
				o++;
			} else {
				cur.new_count++;
				n++;
			}
		}
		p += len + (eol ? 1 : 0);
	}
	if (open)
		l->r[l->n++] = cur;
}

static const char *const alphabet[] = {
    "\n",           "  \n",           "}\n",           "\t}\n",
    "if (x) {\n",   "\tif (y) {\n",   "\t\treturn;\n", "    a = 1;\n",
    "    b = 2;\n", "/* c */\n",      "int f(void)\n", "{\n",
    "\tx++;\n",     "        y--;\n", "\r\n",          "line\n",
};

static void make_text(dt_buf *b, dt_rng *rng, size_t n, size_t k)
{
	b->len = 0;
	dt_buf_add(b, "", 0);
	for (size_t i = 0; i < n; i++) {
		const char *s = alphabet[dt_rng_below(rng, k)];

		dt_buf_add(b, s, strlen(s));
	}
}

/* b := a with some lines deleted, inserted or replaced. */
static void make_edit(dt_buf *out, const dt_buf *a, dt_rng *rng, size_t k)
{
	out->len = 0;
	dt_buf_add(out, "", 0);
	for (size_t i = 0; i < a->len;) {
		const char *nl = memchr(a->p + i, '\n', a->len - i);
		size_t n = nl ? (size_t)(nl - (a->p + i)) + 1 : a->len - i;
		uint64_t r = dt_rng_below(rng, 100);

		if (r < 8) {
			const char *s = alphabet[dt_rng_below(rng, k)];

			dt_buf_add(out, s, strlen(s));
		}
		if (r >= 4 && r < 12) {
			/* deleted or replaced */
		} else {
			dt_buf_add(out, a->p + i, n);
		}
		i += n;
	}
}

Test(diff_ranges, hunks_match_git)
{
	char *dir = tu_mkdtemp("diff-ranges");
	static range_list want, got;
	dt_buf a = {0}, b = {0};
	dt_rng rng;
	size_t moved = 0;

	dt_rng_seed(&rng, 42);
	for (int it = 0; it < 250; it++) {
		size_t k = 2 + (size_t)dt_rng_below(&rng, 15);
		size_t n = (size_t)dt_rng_below(&rng, it < 200 ? 60 : 3000);
		sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
		sdf_diff_lines_result res;
		uint64_t add = 0, del = 0;
		char *patch;

		make_text(&a, &rng, n, k);
		make_edit(&b, &a, &rng, k);
		if (dt_rng_below(&rng, 5) == 0 && b.len)
			b.p[--b.len] = '\0';
		tu_write(dir, "a", a.p, a.len, 0644);
		tu_write(dir, "b", b.p, b.len, 0644);
		patch = dt_git_patch(dir, "a", "b");
		parse_patch(&want, patch);
		free(patch);

		got.n = 0;
		o.range_cb = collect;
		o.payload = &got;
		cr_assert_eq(dt_diff(&res, a.p, a.len, b.p, b.len, &o), 0);
		cr_assert(res.exact && res.ranges);
		cr_assert_eq(got.n, want.n, "pair %d: %zu ranges, git %zu", it,
		             got.n, want.n);
		for (size_t i = 0; i < got.n; i++) {
			cr_assert(
			    !memcmp(&got.r[i], &want.r[i], sizeof(got.r[i])),
			    "pair %d range %zu: ours -%llu,%llu "
			    "+%llu,%llu git -%llu,%llu +%llu,%llu",
			    it, i, (unsigned long long)got.r[i].old_start,
			    (unsigned long long)got.r[i].old_count,
			    (unsigned long long)got.r[i].new_start,
			    (unsigned long long)got.r[i].new_count,
			    (unsigned long long)want.r[i].old_start,
			    (unsigned long long)want.r[i].old_count,
			    (unsigned long long)want.r[i].new_start,
			    (unsigned long long)want.r[i].new_count);
			add += got.r[i].new_count;
			del += got.r[i].old_count;
			moved +=
			    got.r[i].old_count == 0 || got.r[i].new_count == 0;
		}
		cr_assert_eq(add, res.additions);
		cr_assert_eq(del, res.deletions);
	}
	cr_assert_gt(moved, 100);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
	tu_rm_rf(dir);
	free(dir);
}

Test(diff_ranges, callback_can_stop)
{
	sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result res;
	const char *a = "1\n2\n3\n4\n5\n", *b = "1\nx\n3\n4\ny\n";
	int seen = 0;

	o.range_cb = stop_at_second;
	o.payload = &seen;
	cr_assert_eq(dt_diff(&res, a, strlen(a), b, strlen(b), &o),
	             SDF_ECANCELED);
	cr_assert_eq(seen, 2);
}

Test(diff_ranges, too_many_lines_for_the_budget_still_counts)
{
	sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result res;
	static range_list got;
	dt_buf a = {0}, b = {0};

	for (int i = 0; i < 20000; i++) {
		dt_buf_addf(&a, "%d\n", i);
		dt_buf_addf(&b, "%d\n", i % 100 ? i : -i);
	}
	o.work_budget = SDF_DIFF_WORK_BUDGET_MIN;
	o.range_cb = collect;
	o.payload = &got;
	cr_assert_eq(dt_diff(&res, a.p, a.len, b.p, b.len, &o), 0);
	cr_assert(res.exact);
	cr_assert_not(res.ranges);
	cr_assert_eq(got.n, 0);
	cr_assert_eq(res.additions, 199);
	o.work_budget = 0;
	cr_assert_eq(dt_diff(&res, a.p, a.len, b.p, b.len, &o), 0);
	cr_assert(res.ranges);
	cr_assert_eq(got.n, 199);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
}
