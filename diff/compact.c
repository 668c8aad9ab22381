/*
 * Where git puts a group of changed lines that could move: the change
 * compaction of git 2.39's xdiff with its indent heuristic (on by default),
 * written from its description and checked against git's hunks in
 * tests/diff.
 *
 * A group can slide down when its first line equals the line after it, and
 * up when its last line equals the line before it. Each group is slid all
 * the way up, then all the way down (absorbing groups it touches, and again
 * while it grows). If some position lines it up with a changed group of the
 * other side, the lowest such position wins; otherwise every position in
 * reach (at most INDENT_MAX_SLIDE lines up) is scored by the indentation
 * around its two boundaries and the best, lowest on ties, wins.
 */
#include "compact_int.h"

#include "diff_int.h"

#define MAX_BLANKS 20        /* blank lines looked at around a boundary */
#define INDENT_MAX_SLIDE 100 /* how far up the heuristic looks */
/* The heuristic's weights (smaller scores are better). */
#define W_START_OF_FILE 1
#define W_END_OF_FILE 21
#define W_TOTAL_BLANK (-30)
#define W_POST_BLANK 6
#define W_INDENT (-4)
#define W_INDENT_BLANK 10
#define W_OUTDENT 24
#define W_OUTDENT_BLANK 17
#define W_DEDENT 23
#define W_DEDENT_BLANK 17
#define W_EFFECTIVE_INDENT 60

typedef struct {
	int64_t start, end; /* changed lines [start, end); may be empty */
} group;

static inline int same_line(const compact_side *x, int64_t i, int64_t j)
{
	return hash_eq(&x->hash[i], &x->hash[j]);
}

static inline int indent_of(const compact_side *x, int64_t i)
{
	return x->indent[i] == SDF_DIFF_BLANK_LINE ? -1 : x->indent[i];
}

static void group_first(const compact_side *x, group *g)
{
	g->start = g->end = 0;
	while (x->chg[g->end])
		g->end++;
}

static int group_next(const compact_side *x, group *g)
{
	if (g->end == x->n)
		return -1;
	g->start = g->end + 1;
	for (g->end = g->start; x->chg[g->end]; g->end++)
		;
	return 0;
}

static int group_prev(const compact_side *x, group *g)
{
	if (g->start == 0)
		return -1;
	g->end = g->start - 1;
	for (g->start = g->end; x->chg[g->start - 1]; g->start--)
		;
	return 0;
}

static int slide_down(compact_side *x, group *g)
{
	if (g->end >= x->n || !same_line(x, g->start, g->end))
		return -1;
	x->chg[g->start++] = 0;
	x->chg[g->end++] = 1;
	while (x->chg[g->end])
		g->end++;
	return 0;
}

static int slide_up(compact_side *x, group *g)
{
	if (g->start <= 0 || !same_line(x, g->start - 1, g->end - 1))
		return -1;
	x->chg[--g->start] = 1;
	x->chg[--g->end] = 0;
	while (x->chg[g->start - 1])
		g->start--;
	return 0;
}

typedef struct {
	int effective_indent;
	int penalty;
} score;

/* Adds the badness of a boundary just above line `at` to s. */
static void score_boundary(const compact_side *x, int64_t at, score *s)
{
	int at_end = at >= x->n;
	int indent = at_end ? -1 : indent_of(x, at);
	int pre_blank = 0, pre_indent = -1, post_blank = 0, post_indent = -1;
	int blanks_after, blanks, eff;
	int64_t i;

	for (i = at - 1; i >= 0; i--) {
		pre_indent = indent_of(x, i);
		if (pre_indent != -1)
			break;
		if (++pre_blank == MAX_BLANKS) {
			pre_indent = 0;
			break;
		}
	}
	for (i = at + 1; i < x->n; i++) {
		post_indent = indent_of(x, i);
		if (post_indent != -1)
			break;
		if (++post_blank == MAX_BLANKS) {
			post_indent = 0;
			break;
		}
	}

	if (pre_indent == -1 && pre_blank == 0)
		s->penalty += W_START_OF_FILE;
	if (at_end)
		s->penalty += W_END_OF_FILE;
	blanks_after = indent == -1 ? 1 + post_blank : 0;
	blanks = pre_blank + blanks_after;
	s->penalty += W_TOTAL_BLANK * blanks + W_POST_BLANK * blanks_after;
	eff = indent != -1 ? indent : post_indent;
	s->effective_indent += eff;
	if (eff == -1 || pre_indent == -1 || eff == pre_indent)
		return;
	if (eff > pre_indent)
		s->penalty += blanks ? W_INDENT_BLANK : W_INDENT;
	else if (post_indent != -1 && post_indent > eff)
		s->penalty += blanks ? W_OUTDENT_BLANK : W_OUTDENT;
	else
		s->penalty += blanks ? W_DEDENT_BLANK : W_DEDENT;
}

/* <= 0 when a is at least as good as b. */
static int score_cmp(const score *a, const score *b)
{
	int by_indent = (a->effective_indent > b->effective_indent) -
	                (a->effective_indent < b->effective_indent);

	return W_EFFECTIVE_INDENT * by_indent + (a->penalty - b->penalty);
}

/* The end of the best position for g (slid all the way down now). */
static int64_t best_end(const compact_side *x, const group *g, int64_t size,
                        int64_t earliest_end)
{
	int64_t shift = earliest_end, best = -1;
	score best_score = {0, 0};

	if (g->end - size - 1 > shift)
		shift = g->end - size - 1;
	if (g->end - INDENT_MAX_SLIDE > shift)
		shift = g->end - INDENT_MAX_SLIDE;
	for (; shift <= g->end; shift++) {
		score s = {0, 0};

		score_boundary(x, shift, &s);
		score_boundary(x, shift - size, &s);
		if (best == -1 || score_cmp(&s, &best_score) <= 0) {
			best_score = s;
			best = shift;
		}
	}
	return best;
}

void compact_changes(compact_side *x, compact_side *other)
{
	group g, go;

	group_first(x, &g);
	group_first(other, &go);
	for (;;) {
		if (g.end != g.start) {
			int64_t size, earliest_end, matched_end, target;

			do {
				size = g.end - g.start;
				matched_end = -1;
				while (!slide_up(x, &g))
					group_prev(other, &go);
				earliest_end = g.end;
				if (go.end > go.start)
					matched_end = g.end;
				while (!slide_down(x, &g)) {
					group_next(other, &go);
					if (go.end > go.start)
						matched_end = g.end;
				}
			} while (size != g.end - g.start);

			if (g.end == earliest_end) {
				/* It cannot move. */
			} else if (matched_end != -1) {
				while (go.end == go.start) {
					slide_up(x, &g);
					group_prev(other, &go);
				}
			} else {
				target = best_end(x, &g, size, earliest_end);
				while (g.end > target) {
					slide_up(x, &g);
					group_prev(other, &go);
				}
			}
		}
		if (group_next(x, &g))
			break;
		group_next(other, &go);
	}
}

int compact_emit(const compact_side *a, const compact_side *b,
                 sdf_diff_range_cb cb, void *payload)
{
	int64_t i1 = 0, i2 = 0;
	int rc;

	while (i1 < a->n || i2 < b->n) {
		sdf_diff_range r;

		if (!a->chg[i1] && !b->chg[i2]) {
			i1++;
			i2++;
			continue;
		}
		r.old_start = (uint64_t)i1;
		r.new_start = (uint64_t)i2;
		while (a->chg[i1])
			i1++;
		while (b->chg[i2])
			i2++;
		r.old_count = (uint64_t)i1 - r.old_start;
		r.new_count = (uint64_t)i2 - r.new_start;
		if ((rc = cb(&r, payload)) != 0)
			return rc;
	}
	return 0;
}
