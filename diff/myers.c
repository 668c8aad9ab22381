/*
 * xdiff's Myers stage, replayed over spilled hash sequences.
 *
 * The box [off1, lim1) x [off2, lim2) is shrunk by its common head and
 * tail, then split at a middle snake found by searching forwards from the
 * top-left corner and backwards from the bottom-right one, one edit cost
 * at a time. As in git 2.39's xdiff, the search gives up early: past
 * SNAKE_HEUR_COST it takes a diagonal that ends in a run of SNAKE_LEN equal
 * lines and got far enough, and at the cost cutoff it takes the furthest
 * reaching diagonal; the half on the side of such a guess is then solved
 * with no shortcuts. These choices decide which lines git calls changed,
 * so they are reproduced exactly (checked against git's output in
 * tests/diff).
 */
#include "myers_int.h"

#include "diff_int.h"

#include "sdf_alloc.h"
#include "sdf_error.h"

#include <string.h>

#define SNAKE_LEN 20        /* a "good" snake is longer than this */
#define SNAKE_HEUR_COST 256 /* the snake heuristic starts past this cost */
#define COST_CUTOFF_MIN 256 /* the cost cutoff is at least this */
#define GOOD_PATH_FACTOR 4  /* a guessed path must beat cost * this */

#define BLOCK_SHIFT 10 /* 1024 records, 4 KiB per cached block */
#define BLOCK_RECS ((int64_t)1 << BLOCK_SHIFT)
#define TRIM_CHUNK 16384 /* records read at a time by the trim */

/* Not an error: the K vectors would pass the work budget. */
#define OVER_WORK_BUDGET 1

/* One sequence: records [base, base + n) of a spill, read through a cache. */
typedef struct {
	const spill *sp;
	uint64_t base;
	int64_t n;
	const uint32_t *all; /* the whole range, when it is in memory */
	uint32_t *owned;     /* all, when we read it in */
	uint32_t *blocks;    /* else nslots blocks, direct mapped */
	int64_t *tags;
	int64_t nslots;
	uint32_t bad; /* returned after an I/O error; never a line id */
	int err;
} seq;

static uint32_t seq_miss(seq *s, int64_t i)
{
	int64_t blk = i >> BLOCK_SHIFT;
	int64_t slot = blk & (s->nslots - 1);
	uint32_t *dst = s->blocks + slot * BLOCK_RECS;

	{
		int64_t first = blk << BLOCK_SHIFT;
		int64_t cnt = s->n - first;
		int rc;

		if (cnt > BLOCK_RECS)
			cnt = BLOCK_RECS;
		rc = spill_read_at(s->sp, dst, (size_t)cnt * sizeof(*dst),
		                   (s->base + (uint64_t)first) * sizeof(*dst));
		if (rc < 0) {
			s->err = rc;
			s->tags[slot] = -1;
			return s->bad;
		}
		s->tags[slot] = blk;
	}
	return dst[i & (BLOCK_RECS - 1)];
}

static inline uint32_t seq_at(seq *s, int64_t i)
{
	int64_t blk, slot;

	if (s->all)
		return s->all[i];
	blk = i >> BLOCK_SHIFT;
	slot = blk & (s->nslots - 1);
	if (s->tags[slot] == blk)
		return s->blocks[slot * BLOCK_RECS + (i & (BLOCK_RECS - 1))];
	return seq_miss(s, i);
}

/*
 * The records from i on that sit together in memory: *avail of them (at
 * least 1) start at the returned pointer, or NULL after an I/O error.
 */
static const uint32_t *seq_run(seq *s, int64_t i, int64_t *avail)
{
	int64_t blk, slot;

	if (s->all) {
		*avail = s->n - i;
		return s->all + i;
	}
	blk = i >> BLOCK_SHIFT;
	slot = blk & (s->nslots - 1);
	if (s->tags[slot] != blk) {
		seq_miss(s, i);
		if (s->err)
			return NULL;
	}
	*avail = BLOCK_RECS - (i & (BLOCK_RECS - 1));
	if (*avail > s->n - i)
		*avail = s->n - i;
	return s->blocks + slot * BLOCK_RECS + (i & (BLOCK_RECS - 1));
}

/* The same backwards: records i, i - 1, ... down to i - *avail + 1. */
static const uint32_t *seq_run_back(seq *s, int64_t i, int64_t *avail)
{
	int64_t blk, slot;

	if (s->all) {
		*avail = i + 1;
		return s->all + i;
	}
	blk = i >> BLOCK_SHIFT;
	slot = blk & (s->nslots - 1);
	if (s->tags[slot] != blk) {
		seq_miss(s, i);
		if (s->err)
			return NULL;
	}
	*avail = (i & (BLOCK_RECS - 1)) + 1;
	return s->blocks + slot * BLOCK_RECS + (i & (BLOCK_RECS - 1));
}

/* Caches the sequence within bytes; everything when it fits. */
static int seq_open(seq *s, const spill *sp, uint64_t base, int64_t n,
                    size_t bytes, uint32_t bad)
{
	const unsigned char *mem = spill_memory(sp);

	memset(s, 0, sizeof(*s));
	s->sp = sp;
	s->base = base;
	s->n = n;
	s->bad = bad;
	if (n == 0)
		return 0;
	if (mem) {
		/* Small enough to have stayed in memory: no copy. */
		s->all = (const uint32_t *)(const void *)mem + base;
		return 0;
	}
	if ((uint64_t)n <= bytes / sizeof(uint32_t)) {
		s->owned = sdf_malloc((size_t)n * sizeof(uint32_t));
		if (!s->owned)
			return SDF_EBUDGET;
		s->all = s->owned;
		return spill_read_at(sp, s->owned, (size_t)n * sizeof(uint32_t),
		                     base * sizeof(uint32_t));
	}
	s->nslots = 2;
	while ((size_t)s->nslots * 2 * BLOCK_RECS * sizeof(uint32_t) <= bytes)
		s->nslots *= 2;
	s->blocks =
	    sdf_malloc((size_t)(s->nslots * BLOCK_RECS) * sizeof(uint32_t));
	s->tags = sdf_malloc((size_t)s->nslots * sizeof(int64_t));
	if (!s->blocks || !s->tags)
		return SDF_EBUDGET;
	for (int64_t k = 0; k < s->nslots; k++)
		s->tags[k] = -1;
	return 0;
}

static void seq_close(seq *s)
{
	sdf_free(s->owned);
	sdf_free(s->blocks);
	sdf_free(s->tags);
	s->all = s->owned = s->blocks = NULL;
	s->tags = NULL;
}

/* K values of the diagonals within half of a centre diagonal. */
typedef struct {
	int64_t *v;
	int64_t centre, half;
} kwin;

typedef struct {
	int64_t off1, lim1, off2, lim2;
	int need_min;
	/* Lines known equal at the head or tail (the snake it was cut at). */
	int64_t head_equal, tail_equal;
} box;

typedef struct {
	seq s1, s2;
	int64_t cost_cutoff;
	kwin fwd, bwd;
	size_t kv_budget; /* bytes both windows may take */
	box *stack;
	size_t depth, stack_cap;
	uint64_t chg1, chg2;
	unsigned char *mark[2]; /* optional: changed flags by kept index */
	int64_t head;           /* kept index of the middle's first line */
} solver;

typedef struct {
	int64_t i1, i2;
	int min_lo, min_hi;
	int64_t lo_tail_equal, hi_head_equal; /* see box */
} cut;

#define KF(d) (sv->fwd.v[(d)-sv->fwd.centre + sv->fwd.half])
#define KB(d) (sv->bwd.v[(d)-sv->bwd.centre + sv->bwd.half])

static inline int same(solver *sv, int64_t i1, int64_t i2)
{
	return seq_at(&sv->s1, i1) == seq_at(&sv->s2, i2);
}

/*
 * How far the lines from (i1, i2) on stay equal, before lim1 and lim2:
 * a snake walked a block of records at a time.
 */
static int64_t snake_down_cached(solver *sv, int64_t i1, int64_t i2,
                                 int64_t lim1, int64_t lim2)
{
	int64_t start = i1;

	while (i1 < lim1 && i2 < lim2) {
		int64_t a1, a2, n, k = 0;
		const uint32_t *p1 = seq_run(&sv->s1, i1, &a1);
		const uint32_t *p2 = seq_run(&sv->s2, i2, &a2);

		if (!p1 || !p2)
			break;
		n = a1 < a2 ? a1 : a2;
		if (n > lim1 - i1)
			n = lim1 - i1;
		if (n > lim2 - i2)
			n = lim2 - i2;
		while (k < n && p1[k] == p2[k])
			k++;
		i1 += k;
		i2 += k;
		if (k < n)
			break;
	}
	return i1 - start;
}

/* How far the lines before (i1, i2) stay equal, down to off1 and off2. */
static int64_t snake_up_cached(solver *sv, int64_t i1, int64_t i2, int64_t off1,
                               int64_t off2)
{
	int64_t start = i1;

	while (i1 > off1 && i2 > off2) {
		int64_t a1, a2, n, k = 0;
		const uint32_t *p1 = seq_run_back(&sv->s1, i1 - 1, &a1);
		const uint32_t *p2 = seq_run_back(&sv->s2, i2 - 1, &a2);

		if (!p1 || !p2)
			break;
		n = a1 < a2 ? a1 : a2;
		if (n > i1 - off1)
			n = i1 - off1;
		if (n > i2 - off2)
			n = i2 - off2;
		while (k < n && p1[-k] == p2[-k])
			k++;
		i1 -= k;
		i2 -= k;
		if (k < n)
			break;
	}
	return start - i1;
}

/* snake_down_cached(), with a tight loop when both sides are in memory. */
static inline int64_t snake_down(solver *sv, int64_t i1, int64_t i2,
                                 int64_t lim1, int64_t lim2)
{
	const uint32_t *x = sv->s1.all, *y = sv->s2.all;
	int64_t k = 0;

	if (!x || !y)
		return snake_down_cached(sv, i1, i2, lim1, lim2);
	while (i1 + k < lim1 && i2 + k < lim2 && x[i1 + k] == y[i2 + k])
		k++;
	return k;
}

static inline int64_t snake_up(solver *sv, int64_t i1, int64_t i2, int64_t off1,
                               int64_t off2)
{
	const uint32_t *x = sv->s1.all, *y = sv->s2.all;
	int64_t k = 0;

	if (!x || !y)
		return snake_up_cached(sv, i1, i2, off1, off2);
	while (i1 - k > off1 && i2 - k > off2 && x[i1 - k - 1] == y[i2 - k - 1])
		k++;
	return k;
}

/* Makes both windows reach half diagonals around their centres. */
static int kv_reserve(solver *sv, int64_t half)
{
	kwin *w[2] = {&sv->fwd, &sv->bwd};
	int64_t want;
	size_t bytes;

	if (sv->fwd.half >= half && sv->bwd.half >= half)
		return 0;
	want = sv->fwd.half ? sv->fwd.half : 64;
	while (want < half)
		want *= 2;
	bytes = 2 * (size_t)(2 * want + 1) * sizeof(int64_t);
	if (bytes > sv->kv_budget)
		return OVER_WORK_BUDGET;
	for (int k = 0; k < 2; k++) {
		int64_t *nv =
		    sdf_malloc((size_t)(2 * want + 1) * sizeof(int64_t));

		if (!nv)
			return SDF_EBUDGET;
		if (w[k]->v)
			memcpy(nv + (want - w[k]->half), w[k]->v,
			       (size_t)(2 * w[k]->half + 1) * sizeof(int64_t));
		sdf_free(w[k]->v);
		w[k]->v = nv;
		w[k]->half = want;
	}
	return 0;
}

/* The furthest reaching path, when the search has cost too much. */
static void cut_at_furthest(solver *sv, const box *bx, int64_t fmin,
                            int64_t fmax, int64_t bmin, int64_t bmax, cut *c)
{
	int64_t fsum = -1, fi1 = -1, bsum = INT64_MAX, bi1 = INT64_MAX;
	int64_t d, i1, i2;

	for (d = fmax; d >= fmin; d -= 2) {
		i1 = KF(d) < bx->lim1 ? KF(d) : bx->lim1;
		i2 = i1 - d;
		if (i2 > bx->lim2) {
			i1 = bx->lim2 + d;
			i2 = bx->lim2;
		}
		if (i1 + i2 > fsum) {
			fsum = i1 + i2;
			fi1 = i1;
		}
	}
	for (d = bmax; d >= bmin; d -= 2) {
		i1 = KB(d) > bx->off1 ? KB(d) : bx->off1;
		i2 = i1 - d;
		if (i2 < bx->off2) {
			i1 = bx->off2 + d;
			i2 = bx->off2;
		}
		if (i1 + i2 < bsum) {
			bsum = i1 + i2;
			bi1 = i1;
		}
	}
	if ((bx->lim1 + bx->lim2) - bsum < fsum - (bx->off1 + bx->off2)) {
		c->i1 = fi1;
		c->i2 = fsum - fi1;
		c->min_lo = 1;
		c->min_hi = 0;
	} else {
		c->i1 = bi1;
		c->i2 = bsum - bi1;
		c->min_lo = 0;
		c->min_hi = 1;
	}
}

/* A guessed split at a long snake, once the cost passed the trigger. */
static int cut_at_snake(solver *sv, const box *bx, int64_t ec, int64_t fmid,
                        int64_t fmin, int64_t fmax, int64_t bmid, int64_t bmin,
                        int64_t bmax, cut *c)
{
	int64_t best = 0, d, i1, i2, v, dd, k;

	for (d = fmax; d >= fmin; d -= 2) {
		dd = d > fmid ? d - fmid : fmid - d;
		i1 = KF(d);
		i2 = i1 - d;
		v = (i1 - bx->off1) + (i2 - bx->off2) - dd;
		if (v <= GOOD_PATH_FACTOR * ec || v <= best)
			continue;
		if (i1 < bx->off1 + SNAKE_LEN || i1 >= bx->lim1 ||
		    i2 < bx->off2 + SNAKE_LEN || i2 >= bx->lim2)
			continue;
		for (k = 1; k <= SNAKE_LEN && same(sv, i1 - k, i2 - k); k++)
			;
		if (k > SNAKE_LEN) {
			best = v;
			c->i1 = i1;
			c->i2 = i2;
		}
	}
	if (best > 0) {
		c->min_lo = 1;
		c->min_hi = 0;
		return 1;
	}
	for (d = bmax; d >= bmin; d -= 2) {
		dd = d > bmid ? d - bmid : bmid - d;
		i1 = KB(d);
		i2 = i1 - d;
		v = (bx->lim1 - i1) + (bx->lim2 - i2) - dd;
		if (v <= GOOD_PATH_FACTOR * ec || v <= best)
			continue;
		if (i1 <= bx->off1 || i1 > bx->lim1 - SNAKE_LEN ||
		    i2 <= bx->off2 || i2 > bx->lim2 - SNAKE_LEN)
			continue;
		for (k = 0; k < SNAKE_LEN && same(sv, i1 + k, i2 + k); k++)
			;
		if (k == SNAKE_LEN) {
			best = v;
			c->i1 = i1;
			c->i2 = i2;
		}
	}
	if (best > 0) {
		c->min_lo = 0;
		c->min_hi = 1;
		return 1;
	}
	return 0;
}

/* Finds where to split a box whose corners both differ. */
static int split(solver *sv, const box *bx, cut *c)
{
	const int64_t dmin = bx->off1 - bx->lim2, dmax = bx->lim1 - bx->off2;
	const int64_t fmid = bx->off1 - bx->off2, bmid = bx->lim1 - bx->lim2;
	const int odd = (int)((fmid - bmid) & 1);
	int64_t fmin = fmid, fmax = fmid, bmin = bmid, bmax = bmid;
	int64_t ec, d, i1, i2, start, k;
	int rc;

	if ((rc = kv_reserve(sv, 2)) != 0)
		return rc;
	sv->fwd.centre = fmid;
	sv->bwd.centre = bmid;
	KF(fmid) = bx->off1;
	KB(bmid) = bx->lim1;

	for (ec = 1;; ec++) {
		int long_snake = 0;
		int64_t *kf, *kb, fo, bo;

		if ((rc = kv_reserve(sv, ec + 1)) != 0)
			return rc;
		/* kf[d + fo], kb[d + bo]: the K values of diagonal d. */
		kf = sv->fwd.v;
		kb = sv->bwd.v;
		fo = sv->fwd.half - sv->fwd.centre;
		bo = sv->bwd.half - sv->bwd.centre;

		/* Widen the forward band by one, or narrow it at a wall. */
		if (fmin > dmin)
			kf[--fmin - 1 + fo] = -1;
		else
			++fmin;
		if (fmax < dmax)
			kf[++fmax + 1 + fo] = -1;
		else
			--fmax;
		for (d = fmax; d >= fmin; d -= 2) {
			i1 = kf[d - 1 + fo] >= kf[d + 1 + fo]
			         ? kf[d - 1 + fo] + 1
			         : kf[d + 1 + fo];
			start = i1;
			i2 = i1 - d;
			k = snake_down(sv, i1, i2, bx->lim1, bx->lim2);
			i1 += k;
			i2 += k;
			if (i1 - start > SNAKE_LEN)
				long_snake = 1;
			kf[d + fo] = i1;
			if (odd && bmin <= d && d <= bmax && kb[d + bo] <= i1) {
				c->i1 = i1;
				c->i2 = i2;
				c->min_lo = c->min_hi = 1;
				c->lo_tail_equal = i1 - start;
				return 0;
			}
		}

		/* The same backwards from the bottom-right corner. */
		if (bmin > dmin)
			kb[--bmin - 1 + bo] = INT64_MAX;
		else
			++bmin;
		if (bmax < dmax)
			kb[++bmax + 1 + bo] = INT64_MAX;
		else
			--bmax;
		for (d = bmax; d >= bmin; d -= 2) {
			i1 = kb[d - 1 + bo] < kb[d + 1 + bo]
			         ? kb[d - 1 + bo]
			         : kb[d + 1 + bo] - 1;
			start = i1;
			i2 = i1 - d;
			k = snake_up(sv, i1, i2, bx->off1, bx->off2);
			i1 -= k;
			i2 -= k;
			if (start - i1 > SNAKE_LEN)
				long_snake = 1;
			kb[d + bo] = i1;
			if (!odd && fmin <= d && d <= fmax &&
			    i1 <= kf[d + fo]) {
				c->i1 = i1;
				c->i2 = i2;
				c->min_lo = c->min_hi = 1;
				c->hi_head_equal = start - i1;
				return 0;
			}
		}

		if (bx->need_min)
			continue;
		if (long_snake && ec > SNAKE_HEUR_COST &&
		    cut_at_snake(sv, bx, ec, fmid, fmin, fmax, bmid, bmin, bmax,
		                 c))
			return 0;
		if (ec >= sv->cost_cutoff) {
			cut_at_furthest(sv, bx, fmin, fmax, bmin, bmax, c);
			return 0;
		}
	}
}

static int push(solver *sv, int64_t off1, int64_t lim1, int64_t off2,
                int64_t lim2, int need_min, int64_t head_equal,
                int64_t tail_equal)
{
	box *b;

	if (sv->depth == sv->stack_cap) {
		size_t cap = sv->stack_cap ? sv->stack_cap * 2 : 64;
		box *ns = sdf_reallocarray(sv->stack, cap, sizeof(box));

		if (!ns)
			return SDF_EBUDGET;
		sv->stack = ns;
		sv->stack_cap = cap;
	}
	b = &sv->stack[sv->depth++];
	b->off1 = off1;
	b->lim1 = lim1;
	b->off2 = off2;
	b->lim2 = lim2;
	b->need_min = need_min;
	b->head_equal = head_equal;
	b->tail_equal = tail_equal;
	return 0;
}

/* Divide and conquer, with a stack instead of recursion. */
static int solve(solver *sv, int64_t n1, int64_t n2)
{
	int rc = push(sv, 0, n1, 0, n2, 0, 0, 0);

	while (rc == 0 && sv->depth) {
		box bx = sv->stack[--sv->depth];
		int64_t k;
		cut c;

		/*
		 * Shrink the box by its equal head and tail, not walking again
		 * the lines the cut's snake showed equal (the walks would pass
		 * them all: they lie inside the box, on the same diagonal).
		 */
		bx.off1 += bx.head_equal;
		bx.off2 += bx.head_equal;
		k = snake_down(sv, bx.off1, bx.off2, bx.lim1, bx.lim2);
		bx.off1 += k;
		bx.off2 += k;
		if (bx.lim1 - bx.off1 < bx.tail_equal ||
		    bx.lim2 - bx.off2 < bx.tail_equal)
			bx.tail_equal = 0; /* the head walk went into it */
		bx.lim1 -= bx.tail_equal;
		bx.lim2 -= bx.tail_equal;
		k = snake_up(sv, bx.lim1, bx.lim2, bx.off1, bx.off2);
		bx.lim1 -= k;
		bx.lim2 -= k;
		if (bx.off1 == bx.lim1 || bx.off2 == bx.lim2) {
			sv->chg1 += (uint64_t)(bx.lim1 - bx.off1);
			sv->chg2 += (uint64_t)(bx.lim2 - bx.off2);
			if (sv->mark[0]) {
				memset(sv->mark[0] + sv->head + bx.off1, 1,
				       (size_t)(bx.lim1 - bx.off1));
				memset(sv->mark[1] + sv->head + bx.off2, 1,
				       (size_t)(bx.lim2 - bx.off2));
			}
			continue;
		}
		memset(&c, 0, sizeof(c));
		if ((rc = split(sv, &bx, &c)) != 0)
			break;
		if (sv->s1.err || sv->s2.err)
			break;
		rc = push(sv, c.i1, bx.lim1, c.i2, bx.lim2, c.min_hi,
		          c.hi_head_equal, 0);
		if (rc == 0)
			rc = push(sv, bx.off1, c.i1, bx.off2, c.i2, c.min_lo, 0,
			          c.lo_tail_equal);
	}
	if (rc == 0 && (sv->s1.err || sv->s2.err))
		rc = sv->s1.err ? sv->s1.err : sv->s2.err;
	return rc;
}

/* Common head and tail of two id spills, read a chunk at a time. */
static int trim_common(uint64_t *head, uint64_t *tail, const spill *sp1,
                       uint64_t n1, const spill *sp2, uint64_t n2)
{
	uint64_t lim = n1 < n2 ? n1 : n2, h = 0, t = 0;
	uint32_t *x, *y;
	int rc = 0, differ = 0;

	*head = *tail = 0;
	x = sdf_malloc(TRIM_CHUNK * sizeof(uint32_t));
	y = sdf_malloc(TRIM_CHUNK * sizeof(uint32_t));
	if (!x || !y) {
		rc = SDF_EBUDGET;
		goto done;
	}
	while (rc == 0 && !differ && h < lim) {
		size_t k,
		    n = lim - h < TRIM_CHUNK ? (size_t)(lim - h) : TRIM_CHUNK;

		if ((rc = spill_read_at(sp1, x, n * 4, h * 4)) < 0 ||
		    (rc = spill_read_at(sp2, y, n * 4, h * 4)) < 0)
			break;
		for (k = 0; k < n && x[k] == y[k]; k++)
			;
		h += k;
		differ = k < n;
	}
	differ = 0;
	while (rc == 0 && !differ && t < lim - h) {
		uint64_t left = lim - h - t;
		size_t k, n = left < TRIM_CHUNK ? (size_t)left : TRIM_CHUNK;

		if ((rc = spill_read_at(sp1, x, n * 4, (n1 - t - n) * 4)) < 0 ||
		    (rc = spill_read_at(sp2, y, n * 4, (n2 - t - n) * 4)) < 0)
			break;
		for (k = 0; k < n && x[n - 1 - k] == y[n - 1 - k]; k++)
			;
		t += k;
		differ = k < n;
	}
	*head = h;
	*tail = t;
done:
	sdf_free(x);
	sdf_free(y);
	return rc;
}

int myers_count(uint64_t *chg_old, uint64_t *chg_new, int *exact,
                const spill *old_ids, uint64_t n_old, const spill *new_ids,
                uint64_t n_new, size_t budget, unsigned char *mark_old,
                unsigned char *mark_new)
{
	solver sv;
	uint64_t head, tail, m1, m2;
	size_t cache;
	int rc;

	*chg_old = *chg_new = 0;
	*exact = 1;
	memset(&sv, 0, sizeof(sv));
	if (n_old == 0 || n_new == 0) {
		*chg_old = n_old;
		*chg_new = n_new;
		if (mark_old) {
			memset(mark_old, 1, (size_t)n_old);
			memset(mark_new, 1, (size_t)n_new);
		}
		return 0;
	}
	rc = trim_common(&head, &tail, old_ids, n_old, new_ids, n_new);
	if (rc < 0)
		return rc;
	m1 = n_old - head - tail;
	m2 = n_new - head - tail;
	if (m1 == 0 || m2 == 0) {
		*chg_old = m1;
		*chg_new = m2;
		if (mark_old) {
			memset(mark_old + head, 1, (size_t)m1);
			memset(mark_new + head, 1, (size_t)m2);
		}
		return 0;
	}
	sv.mark[0] = mark_old;
	sv.mark[1] = mark_new;
	sv.head = (int64_t)head;

	/* As xdiff: the cutoff follows all the records left for Myers. */
	sv.cost_cutoff = xdiff_sqrt((int64_t)(n_old + n_new + 3));
	if (sv.cost_cutoff < COST_CUTOFF_MIN)
		sv.cost_cutoff = COST_CUTOFF_MIN;
	/* The filters and tables are gone: caches and K vectors share all. */
	cache = budget / 8 * 3;
	sv.kv_budget = budget / 4;
	rc = seq_open(&sv.s1, old_ids, head, (int64_t)m1, cache, UINT32_MAX);
	if (rc == 0)
		rc = seq_open(&sv.s2, new_ids, head, (int64_t)m2, cache,
		              UINT32_MAX - 1);
	if (rc == 0)
		rc = solve(&sv, (int64_t)m1, (int64_t)m2);
	if (rc == OVER_WORK_BUDGET) {
		/* Our own window cap, not the allocator: give the bound. */
		rc = 0;
		*exact = 0;
		*chg_old = m1;
		*chg_new = m2;
	} else if (rc == 0) {
		*chg_old = sv.chg1;
		*chg_new = sv.chg2;
	}
	seq_close(&sv.s1);
	seq_close(&sv.s2);
	sdf_free(sv.fwd.v);
	sdf_free(sv.bwd.v);
	sdf_free(sv.stack);
	return rc;
}
