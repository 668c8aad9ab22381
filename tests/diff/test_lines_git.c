/*
 * The line counts against git itself (`git diff --no-index --numstat`) on
 * many generated pairs, and against a textbook LCS on small ones.
 */
#include "diff_util.h"
#include "sdf_diff.h"
#include "sdf_error.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINES 40000

/* A file as a list of lines from an alphabet (index into it). */
typedef struct {
	int *v;
	size_t n;
} lines;

typedef struct {
	char **text; /* each with its '\n' (or "\r\n") */
	size_t n;
} alphabet;

static void alphabet_make(alphabet *al, dt_rng *rng, size_t n)
{
	al->n = n;
	al->text = calloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		char tmp[64];

		switch (dt_rng_below(rng, 8)) {
		case 0:
			snprintf(tmp, sizeof(tmp), "line %zu\r\n", i);
			break;
		case 1:
			snprintf(tmp, sizeof(tmp), "%s\n", i % 2 ? "" : "}");
			break;
		default:
			snprintf(tmp, sizeof(tmp), "line %zu\n", i);
		}
		al->text[i] = strdup(tmp);
	}
}

static void alphabet_free(alphabet *al)
{
	for (size_t i = 0; i < al->n; i++)
		free(al->text[i]);
	free(al->text);
}

static void lines_random(lines *l, dt_rng *rng, size_t n, size_t k)
{
	l->v = malloc((n + 1) * sizeof(int));
	l->n = n;
	for (size_t i = 0; i < n; i++)
		l->v[i] = (int)dt_rng_below(rng, k);
}

static void lines_insert(lines *l, size_t at, int x)
{
	memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof(int));
	l->v[at] = x;
	l->n++;
}

/* b := a with edits: deletions, insertions, replacements, block moves. */
static void lines_edit(lines *b, const lines *a, dt_rng *rng, size_t k,
                       size_t edits)
{
	b->v = malloc((a->n + edits * 9 + 1) * sizeof(int));
	b->n = a->n;
	memcpy(b->v, a->v, a->n * sizeof(int));
	for (size_t e = 0; e < edits; e++) {
		uint64_t op = dt_rng_below(rng, 10);
		size_t at = (size_t)dt_rng_below(rng, b->n + 1);

		if (op < 3 && b->n) {
			at = (size_t)dt_rng_below(rng, b->n);
			memmove(b->v + at, b->v + at + 1,
			        (b->n - at - 1) * sizeof(int));
			b->n--;
		} else if (op < 6) {
			lines_insert(b, at, (int)dt_rng_below(rng, k));
		} else if (op < 8 && b->n) {
			b->v[dt_rng_below(rng, b->n)] =
			    (int)dt_rng_below(rng, k);
		} else if (b->n > 2) {
			/* Move a block of up to 8 lines elsewhere. */
			int blk[8];
			size_t from = (size_t)dt_rng_below(rng, b->n);
			size_t len = 1 + (size_t)dt_rng_below(rng, 8);

			if (len > b->n - from)
				len = b->n - from;
			memcpy(blk, b->v + from, len * sizeof(int));
			memmove(b->v + from, b->v + from + len,
			        (b->n - from - len) * sizeof(int));
			b->n -= len;
			at = (size_t)dt_rng_below(rng, b->n + 1);
			for (size_t i = 0; i < len; i++)
				lines_insert(b, at + i, blk[i]);
		}
	}
}

static void render(dt_buf *out, const lines *l, const alphabet *al,
                   int drop_last_newline)
{
	out->len = 0;
	dt_buf_add(out, "", 0);
	for (size_t i = 0; i < l->n; i++)
		dt_buf_add(out, al->text[l->v[i]], strlen(al->text[l->v[i]]));
	if (drop_last_newline && out->len && out->p[out->len - 1] == '\n')
		out->p[--out->len] = '\0';
}

/* Textbook LCS of two byte buffers split into lines. */
typedef struct {
	const char **p;
	size_t *len;
	size_t n;
} split;

static void split_lines(split *s, const dt_buf *b)
{
	size_t cap = 16;

	s->p = malloc(cap * sizeof(char *));
	s->len = malloc(cap * sizeof(size_t));
	s->n = 0;
	for (size_t i = 0; i < b->len;) {
		const char *nl = memchr(b->p + i, '\n', b->len - i);
		size_t n = nl ? (size_t)(nl - (b->p + i)) + 1 : b->len - i;

		if (s->n == cap) {
			cap *= 2;
			s->p = realloc(s->p, cap * sizeof(char *));
			s->len = realloc(s->len, cap * sizeof(size_t));
		}
		s->p[s->n] = b->p + i;
		s->len[s->n++] = n;
		i += n;
	}
}

static int line_eq(const split *x, size_t i, const split *y, size_t j)
{
	return x->len[i] == y->len[j] && !memcmp(x->p[i], y->p[j], x->len[i]);
}

static size_t lcs(const split *x, const split *y)
{
	size_t *row = calloc((y->n + 1) * 2, sizeof(size_t)), res;
	size_t *prev = row, *cur = row + y->n + 1;

	for (size_t i = 1; i <= x->n; i++) {
		for (size_t j = 1; j <= y->n; j++) {
			if (line_eq(x, i - 1, y, j - 1))
				cur[j] = prev[j - 1] + 1;
			else
				cur[j] =
				    prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
		}
		size_t *t = prev;
		prev = cur;
		cur = t;
	}
	res = prev[y->n];
	free(row);
	return res;
}

static long xdiff_sqrt_ref(long n)
{
	long i = 1;

	for (; n > 0; n >>= 2)
		i <<= 1;
	return i;
}

/* Whether some line occurs at least "multimatch" times on the other side. */
static int has_multimatch(const split *x, const split *y)
{
	for (int side = 0; side < 2; side++) {
		const split *s = side ? y : x, *o = side ? x : y;
		long lim = xdiff_sqrt_ref((long)s->n);

		if (lim > 1024)
			lim = 1024;
		for (size_t i = 0; i < s->n; i++) {
			long c = 0;

			for (size_t j = 0; j < o->n; j++)
				c += line_eq(s, i, o, j);
			if (c >= lim)
				return 1;
		}
	}
	return 0;
}

typedef struct {
	size_t pairs;
	size_t min_lines, max_lines;
	size_t alphabet_min, alphabet_max;
	size_t edits_min, edits_max;
	int no_fresh; /* b is always an edit of a */
	int check_lcs;
	size_t work_budget;
	uint64_t seed;
} campaign;

static void run_campaign(const campaign *c)
{
	char *dir = tu_mkdtemp("diff-git");
	sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
	dt_buf a = {0}, b = {0};
	dt_rng rng;
	size_t equal_lcs = 0, nonzero = 0;

	o.work_budget = c->work_budget;
	dt_rng_seed(&rng, c->seed);
	for (size_t it = 0; it < c->pairs; it++) {
		alphabet al;
		lines la, lb;
		size_t k = c->alphabet_min +
		           (size_t)dt_rng_below(&rng, c->alphabet_max -
		                                          c->alphabet_min + 1);
		size_t na =
		    c->min_lines +
		    (size_t)dt_rng_below(&rng, c->max_lines - c->min_lines + 1);
		sdf_diff_lines_result res;
		uint64_t gadd, gdel;

		alphabet_make(&al, &rng, k);
		lines_random(&la, &rng, na, k);
		if (!c->no_fresh && dt_rng_below(&rng, 6) == 0)
			lines_random(
			    &lb, &rng,
			    (size_t)dt_rng_below(&rng, c->max_lines + 1), k);
		else
			lines_edit(
			    &lb, &la, &rng, k,
			    c->edits_min +
			        (size_t)dt_rng_below(
			            &rng, c->edits_max - c->edits_min + 1));
		render(&a, &la, &al, dt_rng_below(&rng, 5) == 0);
		render(&b, &lb, &al, dt_rng_below(&rng, 5) == 0);
		tu_write(dir, "a", a.p, a.len, 0644);
		tu_write(dir, "b", b.p, b.len, 0644);

		cr_assert_eq(dt_git_numstat(dir, "a", "b", &gadd, &gdel), 0);
		cr_assert_eq(dt_diff(&res, a.p, a.len, b.p, b.len, &o), 0,
		             "pair %zu: %s", it, sdf_error_last());
		cr_assert(res.exact, "pair %zu not exact", it);
		cr_assert(res.additions == gadd && res.deletions == gdel,
		          "seed %llu pair %zu (%zu and %zu lines): git %llu "
		          "%llu, ours %llu %llu",
		          (unsigned long long)c->seed, it, la.n, lb.n,
		          (unsigned long long)gadd, (unsigned long long)gdel,
		          (unsigned long long)res.additions,
		          (unsigned long long)res.deletions);
		nonzero += gadd + gdel > 0;

		if (c->check_lcs) {
			split sa, sb;
			size_t common, minimal;

			split_lines(&sa, &a);
			split_lines(&sb, &b);
			common = lcs(&sa, &sb);
			minimal = sa.n + sb.n - 2 * common;
			cr_assert_geq(res.additions + res.deletions, minimal);
			cr_assert_eq(res.deletions - (sa.n - common),
			             res.additions - (sb.n - common));
			if (!has_multimatch(&sa, &sb)) {
				cr_assert_eq(res.additions + res.deletions,
				             minimal, "pair %zu", it);
				equal_lcs++;
			}
			free(sa.p);
			free(sa.len);
			free(sb.p);
			free(sb.len);
		}
		free(la.v);
		free(lb.v);
		alphabet_free(&al);
	}
	cr_assert_gt(nonzero, c->pairs / 2);
	if (c->check_lcs)
		cr_assert_gt(equal_lcs, c->pairs / 10);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
	tu_rm_rf(dir);
	free(dir);
}

Test(diff_git, small_pairs_with_many_duplicates)
{
	campaign c = {.pairs = 400,
	              .max_lines = 40,
	              .alphabet_min = 1,
	              .alphabet_max = 12,
	              .edits_max = 10,
	              .check_lcs = 1,
	              .seed = 1};

	run_campaign(&c);
}

Test(diff_git, small_pairs_with_few_duplicates)
{
	campaign c = {.pairs = 200,
	              .max_lines = 60,
	              .alphabet_min = 20,
	              .alphabet_max = 200,
	              .edits_max = 15,
	              .check_lcs = 1,
	              .seed = 2};

	run_campaign(&c);
}

/* Thousands of lines: multimatch discards, the snake heuristic, cutoffs. */
Test(diff_git, medium_pairs)
{
	campaign c = {.pairs = 60,
	              .max_lines = 6000,
	              .alphabet_min = 3,
	              .alphabet_max = 3000,
	              .edits_max = 1500,
	              .seed = 3};

	run_campaign(&c);
}

/*
 * Lines that occur a few times each and dense edits: the Myers cost passes
 * 256 while long snakes exist, so xdiff guesses splits at good snakes.
 */
Test(diff_git, snake_heuristic_pairs)
{
	campaign c = {.pairs = 12,
	              .min_lines = 6000,
	              .max_lines = 9000,
	              .alphabet_min = 1000,
	              .alphabet_max = 2000,
	              .edits_min = 600,
	              .edits_max = 1400,
	              .no_fresh = 1,
	              .seed = 5};

	run_campaign(&c);
}

/* A middle far larger than the tiny budget's cache: read from the spill. */
Test(diff_git, large_middle_tiny_budget)
{
	campaign c = {.pairs = 3,
	              .min_lines = 60000,
	              .max_lines = 80000,
	              .alphabet_min = 15000,
	              .alphabet_max = 30000,
	              .edits_min = 300,
	              .edits_max = 3000,
	              .no_fresh = 1,
	              .work_budget = SDF_DIFF_WORK_BUDGET_MIN,
	              .seed = 6};

	run_campaign(&c);
}

/* The same with a tiny work budget: block caches, split tables. */
Test(diff_git, medium_pairs_tiny_budget)
{
	campaign c = {.pairs = 40,
	              .max_lines = 20000,
	              .alphabet_min = 50,
	              .alphabet_max = 20000,
	              .edits_max = 3000,
	              .work_budget = SDF_DIFF_WORK_BUDGET_MIN,
	              .seed = 4};

	run_campaign(&c);
}

/* Identical, empty, and one-sided pairs. */
Test(diff_git, edge_pairs)
{
	const char *cases[][2] = {
	    {"", ""},           {"", "a\n"},
	    {"a\n", ""},        {"a", "a\n"},
	    {"a\n", "a"},       {"a\nb", "a\nb"},
	    {"a\r\n", "a\n"},   {"x\ny\nz\n", "x\nz\n"},
	    {"\n\n\n", "\n\n"}, {"a\nb\nc\n", "c\nb\na\n"},
	};
	char *dir = tu_mkdtemp("diff-edge");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sdf_diff_lines_result res;
		uint64_t add, del;

		tu_write_str(dir, "a", cases[i][0]);
		tu_write_str(dir, "b", cases[i][1]);
		cr_assert_eq(dt_git_numstat(dir, "a", "b", &add, &del), 0);
		cr_assert_eq(dt_diff(&res, cases[i][0], strlen(cases[i][0]),
		                     cases[i][1], strlen(cases[i][1]), NULL),
		             0);
		cr_assert(res.exact);
		cr_assert(res.additions == add && res.deletions == del,
		          "case %zu: git %llu %llu ours %llu %llu", i,
		          (unsigned long long)add, (unsigned long long)del,
		          (unsigned long long)res.additions,
		          (unsigned long long)res.deletions);
	}
	tu_rm_rf(dir);
	free(dir);
}
