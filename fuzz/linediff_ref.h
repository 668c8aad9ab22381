/*
 * A reference for the line-diff core's counts: plain, in-memory and slow,
 * for small inputs. Used by fuzz_linediff and checked against git itself in
 * tests/diff/test_ref_git.c.
 *
 * git's numstat is not a minimal diff; it is what xdiff's steps give. For
 * inputs where xdiff's cost cutoffs cannot fire (fewer than 256 lines
 * left after the discard, see LDREF_MAX_LINES), those steps are:
 *  1. Lines are compared whole, with their "\n" (a last line without one
 *     is a line of its own, unequal to the same text with a newline).
 *  2. The longest common run of leading lines is dropped, then the longest
 *     common run of trailing lines among what is left.
 *  3. Each line left is given a verdict from how often its text occurs in
 *     the whole other file: never ("unmatched": changed), at least the
 *     limit L of its own file ("multimatch"), or in between ("matched").
 *     L is 2^k where k is the number of base-4 digits of the file's line
 *     count (1 for an empty file), capped at 1024.
 *  4. A multimatch line is set aside as changed when the run of unmatched
 *     and multimatch lines just before it and the run just after it (each
 *     looked at for at most 100 lines, within what step 2 left) both hold
 *     an unmatched line, and m, the number of multimatch lines in both
 *     runs plus two (the line itself counts once for each run), is less
 *     than a quarter of m plus the unmatched lines of both runs. (git
 *     agrees with "plus two", not "plus one": test_ref_git.) Other
 *     multimatch lines, and matched lines, are kept.
 *  5. A minimal diff (longest common subsequence) of the kept lines.
 * Deletions are the old lines set aside or not in the common subsequence;
 * additions likewise on the new side.
 */
#ifndef SDF_FUZZ_LINEDIFF_REF_H
#define SDF_FUZZ_LINEDIFF_REF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Total lines (both sides) under which the counts are exactly git's. */
#define LDREF_MAX_LINES 250

typedef struct {
	const char *p;
	size_t len; /* with the '\n' when there is one */
} ldref_line;

/* Splits buf into lines; *out is malloc'ed (NULL when there are none). */
static inline size_t ldref_split(const char *buf, size_t len, ldref_line **out)
{
	size_t n = 0, at = 0;
	ldref_line *v;

	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	if (len && buf[len - 1] != '\n')
		n++;
	*out = NULL;
	if (!n)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		abort();
	for (size_t k = 0; k < n; k++) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t l = nl ? (size_t)(nl - (buf + at)) + 1 : len - at;

		v[k].p = buf + at;
		v[k].len = l;
		at += l;
	}
	*out = v;
	return n;
}

static inline int ldref_eq(const ldref_line *a, const ldref_line *b)
{
	return a->len == b->len && !memcmp(a->p, b->p, a->len);
}

/* 2^(number of base-4 digits of n), 1 for 0. */
static inline size_t ldref_limit(size_t n)
{
	size_t l = 1;

	while (n > 0) {
		l *= 2;
		n /= 4;
	}
	return l > 1024 ? 1024 : l;
}

enum { LDREF_UNMATCHED, LDREF_MATCHED, LDREF_MULTI };

/*
 * Whether the multimatch line i is set aside, given the verdicts v of the
 * lines first..last (inclusive) that step 2 left.
 */
static inline int ldref_set_aside(const int *v, long i, long first, long last)
{
	long lo = i - 100 > first ? i - 100 : first;
	long hi = i + 100 < last ? i + 100 : last;
	long unmatched_before = 0, unmatched_after = 0, multi = 2;

	for (long k = i - 1; k >= lo && v[k] != LDREF_MATCHED; k--) {
		if (v[k] == LDREF_UNMATCHED)
			unmatched_before++;
		else
			multi++;
	}
	for (long k = i + 1; k <= hi && v[k] != LDREF_MATCHED; k++) {
		if (v[k] == LDREF_UNMATCHED)
			unmatched_after++;
		else
			multi++;
	}
	if (!unmatched_before || !unmatched_after)
		return 0;
	return 4 * multi < multi + unmatched_before + unmatched_after;
}

/* The counts, as git's numstat gives them for text (no NUL) files. */
static inline void ldref_numstat(const char *a, size_t alen, const char *b,
                                 size_t blen, uint64_t *add, uint64_t *del)
{
	ldref_line *l[2];
	size_t n[2], head = 0, tail = 0, kept_n[2] = {0, 0};
	size_t changed[2] = {0, 0};
	ldref_line **kept[2];
	int *v[2];

	n[0] = ldref_split(a, alen, &l[0]);
	n[1] = ldref_split(b, blen, &l[1]);
	while (head < n[0] && head < n[1] && ldref_eq(&l[0][head], &l[1][head]))
		head++;
	while (tail < n[0] - head && tail < n[1] - head &&
	       ldref_eq(&l[0][n[0] - 1 - tail], &l[1][n[1] - 1 - tail]))
		tail++;
	for (int s = 0; s < 2; s++) {
		size_t limit = ldref_limit(n[s]);

		v[s] = calloc(n[s] + 1, sizeof(int));
		kept[s] = calloc(n[s] + 1, sizeof(ldref_line *));
		if (!v[s] || !kept[s])
			abort();
		for (size_t i = head; i < n[s] - tail; i++) {
			size_t seen = 0;

			for (size_t j = 0; j < n[!s]; j++)
				seen += ldref_eq(&l[s][i], &l[!s][j]);
			v[s][i] = seen == 0       ? LDREF_UNMATCHED
			          : seen >= limit ? LDREF_MULTI
			                          : LDREF_MATCHED;
		}
		for (size_t i = head; i < n[s] - tail; i++) {
			int keep = v[s][i] == LDREF_MATCHED ||
			           (v[s][i] == LDREF_MULTI &&
			            !ldref_set_aside(v[s], (long)i, (long)head,
			                             (long)(n[s] - tail) - 1));
			if (keep)
				kept[s][kept_n[s]++] = &l[s][i];
			else
				changed[s]++;
		}
	}
	/* the longest common subsequence of the kept lines */
	{
		size_t w = kept_n[1] + 1, lcs;
		size_t *t = calloc((kept_n[0] + 1) * w, sizeof(size_t));

		if (!t)
			abort();
		for (size_t i = 1; i <= kept_n[0]; i++)
			for (size_t j = 1; j <= kept_n[1]; j++) {
				size_t up = t[(i - 1) * w + j];
				size_t left = t[i * w + j - 1];

				if (ldref_eq(kept[0][i - 1], kept[1][j - 1]))
					t[i * w + j] =
					    t[(i - 1) * w + j - 1] + 1;
				else
					t[i * w + j] = up > left ? up : left;
			}
		lcs = t[kept_n[0] * w + kept_n[1]];
		free(t);
		*del = changed[0] + kept_n[0] - lcs;
		*add = changed[1] + kept_n[1] - lcs;
	}
	for (int s = 0; s < 2; s++) {
		free(l[s]);
		free(v[s]);
		free(kept[s]);
	}
}

#endif
