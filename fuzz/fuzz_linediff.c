/*
 * fuzz_linediff: the line-diff core (diff/sdf_diff.h) against the plain
 * reference of linediff_ref.h, and against itself.
 *
 * Input: byte 0 picks the mode (bit 0: the rest is text as is, else each
 * byte is a line from a tiny alphabet so that duplicates, moves and
 * multimatch lines abound), byte 1 seeds the chunk sizes, bytes 2-3 say
 * where the old file ends and the new one begins. Checked on every input:
 *  - the counts are the reference's when both files have at most
 *    LDREF_MAX_LINES lines between them (no cutoff of xdiff can fire);
 *  - the same counts and ranges whatever the chunking, on one thread or
 *    the default, with the smallest work budget or the default;
 *  - additions - deletions == new lines - old lines, and the line counts
 *    and binary verdict are git's;
 *  - the ranges are an edit script: in file order, separated by unchanged
 *    lines, the lines outside them equal pairwise in order, their counts
 *    adding up to the additions and deletions;
 *  - nothing allocated is left live.
 */
#include "fuzz_util.h"
#include "linediff_ref.h"
#include "sdf_alloc.h"
#include "sdf_diff.h"
#include "sdf_error.h"

#include <stdlib.h>
#include <string.h>

#define MAX_RANGES 8192

typedef struct {
	sdf_diff_range r[MAX_RANGES];
	size_t n;
	int overflow;
} range_list;

static range_list got[3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int collect(const sdf_diff_range *r, void *payload)
{
	range_list *l = payload;

	if (l->n == MAX_RANGES) {
		l->overflow = 1;
		return 0;
	}
	l->r[l->n++] = *r;
	return 0;
}

/* A finished side of buf fed in chunks from rng (max 0: all at once). */
static sdf_diff_side *side_of(const char *buf, size_t len, uint64_t *rng,
                              size_t max)
{
	sdf_diff_side *s = NULL;
	size_t at = 0;

	FZ_CHECK(sdf_diff_side_new(&s, NULL) == 0, "side_new: %s",
	         sdf_error_last());
	while (at < len) {
		size_t n = max ? 1 + fz_rng(rng) % max : len;

		if (n > len - at)
			n = len - at;
		FZ_CHECK(sdf_diff_side_feed(s, buf + at, n) == 0, "feed: %s",
		         sdf_error_last());
		at += n;
	}
	FZ_CHECK(sdf_diff_side_finish(s) == 0, "finish: %s", sdf_error_last());
	return s;
}

/* The text of the tiny-alphabet mode: one line (or part of one) a byte. */
static size_t tokens(char *out, const uint8_t *in, size_t n)
{
	static const char *const words[] = {
	    "a\n", "b\n", "c\n", "\n",   "a\r\n", "{\n", "}\n", "  x\n",
	    "a\n", "b\n", "a",   "\r\n", "a\n",   "b\n", "c\n", NULL,
	};
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		const char *w = words[in[i] % 16];

		if (w) {
			memcpy(out + len, w, strlen(w));
			len += strlen(w);
		} else {
			len += (size_t)sprintf(out + len, "u%u\n", in[i] / 16);
		}
	}
	return len;
}

/* The ranges are an edit script of a into b, adding up to the counts. */
static void check_ranges(const range_list *l, const ldref_line *a, size_t na,
                         const ldref_line *b, size_t nb,
                         const sdf_diff_lines_result *res)
{
	uint64_t i = 0, j = 0, add = 0, del = 0;

	FZ_CHECK(!l->overflow, "more than %d ranges", MAX_RANGES);
	for (size_t k = 0; k < l->n; k++) {
		const sdf_diff_range *r = &l->r[k];

		FZ_CHECK(r->old_count || r->new_count, "empty range %zu", k);
		FZ_CHECK(r->old_start >= i && r->new_start >= j,
		         "range %zu out of order", k);
		FZ_CHECK(r->old_start - i == r->new_start - j,
		         "range %zu: unequal gaps", k);
		FZ_CHECK(k == 0 || r->old_start > i, "ranges %zu and %zu touch",
		         k - 1, k);
		for (; i < r->old_start; i++, j++)
			FZ_CHECK(ldref_eq(&a[i], &b[j]),
			         "old line %llu and new line %llu differ "
			         "outside the ranges",
			         (unsigned long long)i, (unsigned long long)j);
		i += r->old_count;
		j += r->new_count;
		FZ_CHECK(i <= na && j <= nb, "range %zu past the end", k);
		del += r->old_count;
		add += r->new_count;
	}
	FZ_CHECK(na - i == nb - j, "unequal tails");
	for (; i < na; i++, j++)
		FZ_CHECK(ldref_eq(&a[i], &b[j]), "tail line %llu differs",
		         (unsigned long long)i);
	FZ_CHECK(add == res->additions && del == res->deletions,
	         "ranges add up to +%llu -%llu, counts +%llu -%llu",
	         (unsigned long long)add, (unsigned long long)del,
	         (unsigned long long)res->additions,
	         (unsigned long long)res->deletions);
}

static int has_nul(const char *p, size_t n)
{
	return memchr(p, '\0', n < 8000 ? n : 8000) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunk_max[4] = {1, 7, 100, 5000};
	fz_in in = {data, size};
	uint8_t mode = fz_byte(&in), seed = fz_byte(&in);
	size_t split = (size_t)fz_byte(&in) << 8 | fz_byte(&in);
	size_t live0 = sdf_alloc_live(), na, nb, alen, blen;
	uint64_t rng = ((uint64_t)mode << 8 | seed) + 1;
	sdf_diff_side *sa[3] = {NULL, NULL, NULL}, *sb[3] = {NULL, NULL, NULL};
	sdf_diff_lines_result res[3];
	sdf_diff_stats st_a, st_b;
	ldref_line *la, *lb;
	char *a, *b;
	int binary;

	if (in.len > 1200)
		return 0; /* keep executions cheap */
	split = in.len ? split % (in.len + 1) : 0;
	if (mode & 1) {
		a = malloc(split + 1);
		b = malloc(in.len - split + 1);
		FZ_CHECK(a && b, "malloc");
		memcpy(a, in.p, split);
		memcpy(b, in.p + split, in.len - split);
		alen = split;
		blen = in.len - split;
	} else {
		a = malloc(split * 8 + 1);
		b = malloc((in.len - split) * 8 + 1);
		FZ_CHECK(a && b, "malloc");
		alen = tokens(a, in.p, split);
		blen = tokens(b, in.p + split, in.len - split);
	}
	binary = has_nul(a, alen) || has_nul(b, blen);
	na = ldref_split(a, alen, &la);
	nb = ldref_split(b, blen, &lb);

	/* 0: chunked, ranges; 1: whole, one thread; 2: chunked, min budget */
	for (int k = 0; k < 3; k++) {
		sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
		size_t max = k == 1 ? 0 : chunk_max[(mode >> (2 * k + 1)) & 3];

		sa[k] = side_of(a, alen, &rng, max);
		sb[k] = side_of(b, blen, &rng, max);
		got[k].n = 0;
		got[k].overflow = 0;
		o.range_cb = collect;
		o.payload = &got[k];
		if (k == 1)
			o.threads = 1;
		if (k == 2)
			o.work_budget = SDF_DIFF_WORK_BUDGET_MIN;
		FZ_CHECK(sdf_diff_lines(&res[k], sa[k], sb[k], &o) == 0,
		         "diff %d: %s", k, sdf_error_last());
	}
	FZ_CHECK(sdf_diff_side_stats(&st_a, sa[0]) == 0 &&
	             sdf_diff_side_stats(&st_b, sb[0]) == 0,
	         "stats");
	FZ_CHECK(st_a.lines == na && st_b.lines == nb,
	         "lines %llu/%llu, git counts %zu/%zu",
	         (unsigned long long)st_a.lines, (unsigned long long)st_b.lines,
	         na, nb);
	FZ_CHECK(st_a.bytes == alen && st_b.bytes == blen, "bytes");
	for (int k = 0; k < 3; k++) {
		FZ_CHECK(res[k].binary == binary, "diff %d: binary %d", k,
		         res[k].binary);
		FZ_CHECK(res[k].additions == res[0].additions &&
		             res[k].deletions == res[0].deletions &&
		             res[k].exact == res[0].exact &&
		             res[k].ranges == res[0].ranges,
		         "diff %d: +%llu -%llu, diff 0: +%llu -%llu", k,
		         (unsigned long long)res[k].additions,
		         (unsigned long long)res[k].deletions,
		         (unsigned long long)res[0].additions,
		         (unsigned long long)res[0].deletions);
		FZ_CHECK(got[k].n == got[0].n &&
		             !memcmp(got[k].r, got[0].r,
		                     got[0].n * sizeof(got[0].r[0])),
		         "diff %d: other ranges", k);
	}
	if (!binary) {
		FZ_CHECK(res[0].exact && res[0].ranges,
		         "small diff not exact (%d) or without ranges (%d)",
		         res[0].exact, res[0].ranges);
		FZ_CHECK(res[0].additions - res[0].deletions == nb - na,
		         "+%llu -%llu for %zu -> %zu lines",
		         (unsigned long long)res[0].additions,
		         (unsigned long long)res[0].deletions, na, nb);
		check_ranges(&got[0], la, na, lb, nb, &res[0]);
		if (na + nb <= LDREF_MAX_LINES) {
			uint64_t add, del;

			ldref_numstat(a, alen, b, blen, &add, &del);
			FZ_CHECK(
			    add == res[0].additions && del == res[0].deletions,
			    "engine +%llu -%llu, reference +%llu -%llu",
			    (unsigned long long)res[0].additions,
			    (unsigned long long)res[0].deletions,
			    (unsigned long long)add, (unsigned long long)del);
		}
	} else {
		FZ_CHECK(got[0].n == 0, "ranges for a binary file");
	}
	for (int k = 0; k < 3; k++) {
		sdf_diff_side_free(sa[k]);
		sdf_diff_side_free(sb[k]);
	}
	free(la);
	free(lb);
	free(a);
	free(b);
	FZ_CHECK(sdf_alloc_live() == live0, "leak: %zu live bytes, were %zu",
	         sdf_alloc_live(), live0);
	return 0;
}
