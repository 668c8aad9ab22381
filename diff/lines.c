/*
 * sdf_diff_lines(): git's numstat over two spilled hash sequences.
 *
 * The stages replay git 2.39's xdiff (xdl_prepare_env, xdl_do_diff) with
 * default options:
 *  1. Drop the common head and tail of whole lines.
 *  2. For each line left, count how often its content occurs in the whole
 *     other file. Zero: the line is discarded (changed). At or over the
 *     "multimatch" limit (xdiff_sqrt of its own file's line count, at most
 *     MULTIMATCH_MAX): discarded too when it sits in a run of unmatched
 *     lines (see mmatch_discard), kept otherwise. The rest is kept.
 *  3. Myers over the kept lines only (myers.c).
 * Additions and deletions are the discarded plus the Myers-changed lines of
 * each side. (git's final change compaction slides hunks but never changes
 * how many lines each side has changed.)
 *
 * The counts of stage 2 are exact in bounded memory: a pair of bit filters
 * first sets aside the lines whose content certainly does not occur on the
 * other side; the remaining candidates are scattered into buckets by hash,
 * each small enough for a fixed-size counting table; the per-line verdicts
 * are then gathered back in line order by merging the buckets' outputs.
 */
#include "compact_int.h"
#include "diff_int.h"
#include "myers_int.h"

#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MULTIMATCH_MAX 1024 /* xdiff's cap on the multimatch limit */
#define MMATCH_WINDOW 100   /* lines looked at each side of a multimatch */
#define MMATCH_RATIO 4      /* discard when unmatched > 3 x multimatch */
#define RING 256            /* > 2 * MMATCH_WINDOW + 1, a power of two */
#define FINE_BITS 10        /* buckets are made of 1024 fine ones */
#define NFINE (1u << FINE_BITS)
#define IO_BYTES (64u << 10)
/* Below this many lines, a second thread costs more than it saves. */
#define THREADS_MIN_LINES (1u << 16)

/* Verdicts, as xdiff's per-line "dis" values. */
enum { NO_MATCH = 0, MATCHED = 1, MULTI = 2 };

/*
 * A candidate's word: its verdict in the top two bits, and a line id below:
 * the same number for the same content, what the Myers stage compares.
 */
#define ID_BITS 30
#define ID_MAX ((uint64_t)1 << ID_BITS)
#define WORD(v, id) ((uint32_t)(v) << ID_BITS | (uint32_t)(id))
#define WORD_VERDICT(w) ((unsigned char)((w) >> ID_BITS))
#define WORD_ID(w) ((w) & (uint32_t)(ID_MAX - 1))

typedef struct {
	uint64_t lo;
	uint32_t hi;
	uint16_t cnt[2]; /* occurrences in each side, saturating */
} slot;

typedef struct {
	const sdf_diff_side *side[2];
	const spill *src[2]; /* the sides' line hashes */
	uint64_t n[2];       /* records */
	uint64_t start[2];   /* the range left by the head/tail trim */
	uint64_t end[2];     /* (exclusive) */
	int64_t mlim[2];     /* multimatch limit of each side's lines */
	size_t budget;
	const char *dir;

	uint64_t *filter[2];  /* bit filter of each side's line hashes */
	uint64_t filter_mask; /* words - 1 */
	spill cand[2];        /* a bit per line: may occur on the other side */

	/* Candidates: lines whose content may occur on the other side. */
	uint64_t fine_cnt[2][NFINE];
	uint16_t fine_to_bucket[NFINE];
	uint32_t nbuckets;
	uint64_t *bucket_off[2]; /* first candidate of each bucket, per side */
	uint64_t *bucket_cnt[2];
	spill scatter[2]; /* candidates' hashes, bucket by bucket */
	spill verdict[2]; /* a word per candidate, same layout */
	size_t table_slots;
	uint64_t id_base; /* line ids of the table being judged */

	uint64_t discarded[2];
	uint64_t kept[2];
	spill keep[2]; /* the kept lines' ids, in order */

	int threads; /* run the sides' stages on two threads */

	/* Only when the caller wants the ranges: */
	int ranges;
	unsigned char *chg_mem[2]; /* n + 2 bytes: 1 changed, 2 discarded */
	unsigned char *chg[2];     /* chg_mem + 1, so chg[-1] is valid */
	unsigned char *mark[2];    /* Myers' changes, by kept index */
} run;

/* Bytes per line (both sides) the ranges need at most. */
#define RANGE_BYTES_PER_LINE 20

static inline uint32_t fine_of(const sdf_diff_hash *h)
{
	return (uint32_t)(h->hi >> (64 - FINE_BITS));
}

/*
 * The filters are blocked: a line sets three bits of one 64-bit word, so a
 * test costs one cache miss, not three.
 */
static inline uint64_t filter_bits(const sdf_diff_hash *h)
{
	return (uint64_t)1 << (h->lo >> 32 & 63) |
	       (uint64_t)1 << (h->lo >> 38 & 63) |
	       (uint64_t)1 << (h->lo >> 44 & 63);
}

static inline void filter_add(uint64_t *f, uint64_t mask,
                              const sdf_diff_hash *h)
{
	f[h->hi & mask] |= filter_bits(h);
}

static inline int filter_has(const uint64_t *f, uint64_t mask,
                             const sdf_diff_hash *h)
{
	uint64_t bits = filter_bits(h);

	return (f[h->hi & mask] & bits) == bits;
}

/* Stage 1: the common head and tail of whole lines. */
static int trim_ends(run *r)
{
	uint64_t lim = r->n[0] < r->n[1] ? r->n[0] : r->n[1];
	uint64_t head = 0, tail = 0;
	rec_reader a, b;
	const sdf_diff_hash *x, *y;
	int rc = 0;

	for (int back = 0; back < 2 && rc == 0; back++) {
		uint64_t *cnt = back ? &tail : &head;
		uint64_t max = lim - head;

		if (max == 0)
			break;
		memset(&b, 0, sizeof(b));
		rc = rec_reader_open(&a, r->src[0], back ? r->n[0] - max : 0,
		                     back ? r->n[0] : max, back, IO_BYTES);
		if (rc == 0)
			rc = rec_reader_open(
			    &b, r->src[1], back ? r->n[1] - max : 0,
			    back ? r->n[1] : max, back, IO_BYTES);
		while (rc == 0 && *cnt < max) {
			if ((rc = rec_reader_next(&a, &x)) < 0 ||
			    (rc = rec_reader_next(&b, &y)) < 0)
				break;
			if (!x || !y || !hash_eq(x, y))
				break;
			(*cnt)++;
		}
		rec_reader_close(&a);
		rec_reader_close(&b);
	}
	for (int s = 0; s < 2; s++) {
		r->start[s] = head;
		r->end[s] = r->n[s] - tail;
	}
	return rc;
}

/* Adds every line of side s to its filter. */
static int filter_side(run *r, int s)
{
	rec_reader rd;
	const sdf_diff_hash *h;
	int rc;

	if ((rc = rec_reader_open(&rd, r->src[s], 0, r->n[s], 0, IO_BYTES)) < 0)
		return rc;
	while ((rc = rec_reader_next(&rd, &h)) == 0 && h)
		filter_add(r->filter[s], r->filter_mask, h);
	rec_reader_close(&rd);
	return rc;
}

/*
 * Counts side s's candidates per fine bucket, and writes down which lines
 * they are (a bit per line, 64 to a word): the later stages read that
 * instead of the filters, which are then freed.
 */
static int count_side(run *r, int s)
{
	rec_reader rd;
	const sdf_diff_hash *h;
	uint64_t word = 0, i = 0;
	int rc;

	if ((rc = spill_open(&r->cand[s], r->dir, r->budget / 64)) < 0)
		return rc;
	if ((rc = rec_reader_open(&rd, r->src[s], 0, r->n[s], 0, IO_BYTES)) < 0)
		return rc;
	while ((rc = rec_reader_next(&rd, &h)) == 0 && h) {
		if (filter_has(r->filter[!s], r->filter_mask, h)) {
			r->fine_cnt[s][fine_of(h)]++;
			word |= (uint64_t)1 << (i & 63);
		}
		if ((++i & 63) == 0) {
			if ((rc = spill_put(&r->cand[s], &word, 8)) < 0)
				break;
			word = 0;
		}
	}
	if (rc == 0 && (i & 63))
		rc = spill_put(&r->cand[s], &word, 8);
	if (rc == 0)
		rc = spill_finish(&r->cand[s]);
	rec_reader_close(&rd);
	return rc;
}

/* Reads a side's candidate bits back in line order. */
typedef struct {
	const spill *sp;
	uint64_t words[512];
	size_t len, pos; /* words held, next word */
	uint64_t next;   /* next word to load */
	uint64_t word;   /* the current word, shifted as it is read */
	unsigned left;   /* bits left in word */
} cand_reader;

static void cand_reader_init(cand_reader *c, const spill *sp)
{
	memset(c, 0, sizeof(*c));
	c->sp = sp;
}

/* The next line's bit: 0 or 1, or a negative code. */
static int cand_next(cand_reader *c)
{
	int bit;

	if (c->left == 0) {
		if (c->pos == c->len) {
			uint64_t words = c->sp->size / 8 - c->next;
			size_t n = words < 512 ? (size_t)words : 512;
			int rc;

			if (n == 0)
				return sdf_error_set(
				    SDF_ECORRUPT, "candidate bits ended early");
			rc = spill_read_at(c->sp, c->words, n * 8, c->next * 8);
			if (rc < 0)
				return rc;
			c->next += n;
			c->len = n;
			c->pos = 0;
		}
		c->word = c->words[c->pos++];
		c->left = 64;
	}
	bit = (int)(c->word & 1);
	c->word >>= 1;
	c->left--;
	return bit;
}

typedef int (*side_fn)(run *r, int s);

typedef struct {
	run *r;
	side_fn fn;
	int rc;
	char msg[SDF_ERROR_MSG_MAX];
} side_job;

static void *side_job_main(void *arg)
{
	side_job *j = arg;

	j->rc = j->fn(j->r, 1);
	if (j->rc < 0)
		snprintf(j->msg, sizeof(j->msg), "%s", sdf_error_last());
	return NULL;
}

/*
 * fn for both sides: the new side on a second thread when the run is big
 * enough for that to pay, the old one here. The first error wins.
 */
static int both_sides(run *r, side_fn fn)
{
	side_job job;
	pthread_t th;
	int rc;

	if (!r->threads) {
		if ((rc = fn(r, 0)) < 0)
			return rc;
		return fn(r, 1);
	}
	memset(&job, 0, sizeof(job));
	job.r = r;
	job.fn = fn;
	if (pthread_create(&th, NULL, side_job_main, &job) != 0) {
		if ((rc = fn(r, 0)) < 0)
			return rc;
		return fn(r, 1);
	}
	rc = fn(r, 0);
	pthread_join(th, NULL);
	if (rc < 0)
		return rc;
	if (job.rc < 0)
		return sdf_error_set(job.rc, "%s", job.msg);
	return 0;
}

/* Stage 2a: filters, then how many candidates fall in each fine bucket. */
static int build_filters(run *r)
{
	uint64_t most = r->n[0] > r->n[1] ? r->n[0] : r->n[1];
	size_t bytes = 64, cap = r->budget / 8;
	int rc;

	/* About 16 bits per line, within an eighth of the budget each. */
	while (bytes < cap && bytes * 8 < most * 16)
		bytes *= 2;
	if (bytes > cap)
		bytes /= 2;
	r->filter_mask = (uint64_t)bytes / 8 - 1;
	for (int s = 0; s < 2; s++) {
		r->filter[s] = sdf_calloc(1, bytes);
		if (!r->filter[s])
			return SDF_EBUDGET;
	}
	if ((rc = both_sides(r, filter_side)) < 0)
		return rc;
	rc = both_sides(r, count_side);
	/* Done with: the candidate bits tell the later stages. */
	for (int s = 0; s < 2; s++) {
		sdf_free(r->filter[s]);
		r->filter[s] = NULL;
	}
	return rc;
}

/* Groups fine buckets into buckets of at most half the table's slots. */
static int plan_buckets(run *r)
{
	size_t table_bytes = 1024;
	uint64_t cap, fill = 0;
	uint32_t nb = 0;

	while (table_bytes * 2 <= r->budget / 4)
		table_bytes *= 2;
	r->table_slots = table_bytes / sizeof(slot);
	cap = r->table_slots / 2;
	for (uint32_t f = 0; f < NFINE; f++) {
		uint64_t c = r->fine_cnt[0][f] + r->fine_cnt[1][f];

		if (fill && fill + c > cap) {
			nb++;
			fill = 0;
		}
		r->fine_to_bucket[f] = (uint16_t)nb;
		fill += c;
	}
	r->nbuckets = nb + 1;
	for (int s = 0; s < 2; s++) {
		r->bucket_off[s] = sdf_calloc(r->nbuckets, sizeof(uint64_t));
		r->bucket_cnt[s] = sdf_calloc(r->nbuckets, sizeof(uint64_t));
		if (!r->bucket_off[s] || !r->bucket_cnt[s])
			return SDF_EBUDGET;
		for (uint32_t f = 0; f < NFINE; f++)
			r->bucket_cnt[s][r->fine_to_bucket[f]] +=
			    r->fine_cnt[s][f];
		for (uint32_t b = 1; b < r->nbuckets; b++)
			r->bucket_off[s][b] =
			    r->bucket_off[s][b - 1] + r->bucket_cnt[s][b - 1];
	}
	return 0;
}

/* Per-bucket write buffers for the scatter. */
typedef struct {
	sdf_diff_hash *buf;
	size_t per; /* records per bucket buffer */
	size_t *len;
	uint64_t *done; /* records flushed, per bucket */
} scatter_state;

static int scatter_flush(run *r, int s, scatter_state *st, uint32_t b)
{
	int rc;

	if (!st->len[b])
		return 0;
	rc = spill_write_at(&r->scatter[s], st->buf + b * st->per,
	                    st->len[b] * sizeof(sdf_diff_hash),
	                    (r->bucket_off[s][b] + st->done[b]) *
	                        sizeof(sdf_diff_hash));
	st->done[b] += st->len[b];
	st->len[b] = 0;
	return rc;
}

/* Stage 2b: every candidate's hash into its bucket's region. */
static int scatter(run *r, int s)
{
	scatter_state st;
	rec_reader rd;
	cand_reader cr;
	const sdf_diff_hash *h;
	uint64_t total;
	int rc;

	memset(&st, 0, sizeof(st));
	memset(&rd, 0, sizeof(rd));
	st.per = (r->budget / 64) / r->nbuckets / sizeof(sdf_diff_hash);
	if (st.per < 16)
		st.per = 16;
	if (st.per > 4096)
		st.per = 4096;
	st.buf = sdf_malloc(st.per * r->nbuckets * sizeof(sdf_diff_hash));
	st.len = sdf_calloc(r->nbuckets, sizeof(size_t));
	st.done = sdf_calloc(r->nbuckets, sizeof(uint64_t));
	rc = (!st.buf || !st.len || !st.done) ? SDF_EBUDGET : 0;
	/* In memory when it all fits there, else straight to a file. */
	total = r->bucket_off[s][r->nbuckets - 1] +
	        r->bucket_cnt[s][r->nbuckets - 1];
	if (rc == 0)
		rc = spill_open(&r->scatter[s], r->dir,
		                total * sizeof(sdf_diff_hash) <= r->budget / 16
		                    ? r->budget / 16
		                    : 0);
	if (rc == 0)
		rc = rec_reader_open(&rd, r->src[s], 0, r->n[s], 0, IO_BYTES);
	cand_reader_init(&cr, &r->cand[s]);
	while (rc == 0 && (rc = rec_reader_next(&rd, &h)) == 0 && h) {
		uint32_t b;
		int c = cand_next(&cr);

		if (c <= 0) {
			rc = c;
			continue;
		}
		b = r->fine_to_bucket[fine_of(h)];
		st.buf[b * st.per + st.len[b]++] = *h;
		if (st.len[b] == st.per)
			rc = scatter_flush(r, s, &st, b);
	}
	for (uint32_t b = 0; rc == 0 && b < r->nbuckets; b++)
		rc = scatter_flush(r, s, &st, b);
	rec_reader_close(&rd);
	sdf_free(st.buf);
	sdf_free(st.len);
	sdf_free(st.done);
	return rc;
}

/* The counting table of one bucket (or one part of it). */
typedef struct {
	slot *slots;
	size_t mask;
	size_t used, limit;
} table;

/* The slot of h; inserts it when add. NULL: absent, or the table is full. */
static slot *table_find(table *t, const sdf_diff_hash *h, int add)
{
	size_t i = (size_t)h->lo & t->mask;
	uint32_t hi = (uint32_t)h->hi;

	for (;; i = (i + 1) & t->mask) {
		slot *sl = &t->slots[i];

		if (sl->cnt[0] == 0 && sl->cnt[1] == 0) {
			if (!add || t->used >= t->limit)
				return NULL;
			t->used++;
			sl->lo = h->lo;
			sl->hi = hi;
			return sl;
		}
		if (sl->lo == h->lo && sl->hi == hi)
			return sl;
	}
}

static inline int part_of(const sdf_diff_hash *h, uint32_t nparts)
{
	/* Bits the table and the buckets do not use. */
	return (int)((h->lo >> 40) & (nparts - 1));
}

/*
 * Counts part `part` of bucket b of both sides into t. 1 when the table
 * filled up (split the bucket into more parts), 0 done, or an error.
 */
static int count_part(run *r, table *t, uint32_t b, uint32_t part,
                      uint32_t nparts)
{
	memset(t->slots, 0, (t->mask + 1) * sizeof(slot));
	t->used = 0;
	for (int s = 0; s < 2; s++) {
		uint64_t from = r->bucket_off[s][b];
		uint64_t to = from + r->bucket_cnt[s][b];
		rec_reader rd;
		const sdf_diff_hash *h;
		int rc;

		if (from == to)
			continue;
		rc =
		    rec_reader_open(&rd, &r->scatter[s], from, to, 0, IO_BYTES);
		while (rc == 0 && (rc = rec_reader_next(&rd, &h)) == 0 && h) {
			slot *sl;

			if ((uint32_t)part_of(h, nparts) != part)
				continue;
			sl = table_find(t, h, 1);
			if (!sl) {
				rc = 1;
				break;
			}
			if (sl->cnt[s] < UINT16_MAX)
				sl->cnt[s]++;
		}
		rec_reader_close(&rd);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static inline unsigned char verdict_of(uint16_t other, int64_t mlim)
{
	if (other == 0)
		return NO_MATCH;
	return (int64_t)other >= mlim ? MULTI : MATCHED;
}

/* Writes the words of part `part` of bucket b, side s. */
static int judge_part(run *r, table *t, int s, uint32_t b, uint32_t part,
                      uint32_t nparts, uint32_t *out, sdf_diff_hash *hs,
                      size_t chunk)
{
	uint64_t from = r->bucket_off[s][b], cnt = r->bucket_cnt[s][b];
	int rc;

	for (uint64_t done = 0; done < cnt;) {
		size_t n = cnt - done < chunk ? (size_t)(cnt - done) : chunk;
		uint64_t at = from + done;

		rc = spill_read_at(&r->scatter[s], hs, n * sizeof(*hs),
		                   at * sizeof(*hs));
		if (rc == 0 && nparts > 1)
			rc = spill_read_at(&r->verdict[s], out, n * 4, at * 4);
		if (rc < 0)
			return rc;
		for (size_t k = 0; k < n; k++) {
			slot *sl;

			if ((uint32_t)part_of(&hs[k], nparts) != part)
				continue;
			sl = table_find(t, &hs[k], 0);
			if (!sl)
				return sdf_error_set(SDF_ERROR, "line lost");
			out[k] = WORD(verdict_of(sl->cnt[!s], r->mlim[s]),
			              r->id_base + (uint64_t)(sl - t->slots));
		}
		rc = spill_write_at(&r->verdict[s], out, n * 4, at * 4);
		if (rc < 0)
			return rc;
		done += n;
	}
	return 0;
}

/* Stage 2c: the verdict of every candidate, bucket by bucket. */
static int judge(run *r)
{
	table t;
	uint32_t *out = NULL;
	sdf_diff_hash *hs = NULL;
	size_t chunk = 4096;
	size_t alloc = r->table_slots < 1024 ? r->table_slots : 1024;
	int rc = 0;

	memset(&t, 0, sizeof(t));
	/* As big as the biggest bucket needs, within the budget's share. */
	for (uint32_t b = 0; b < r->nbuckets; b++) {
		uint64_t cnt = r->bucket_cnt[0][b] + r->bucket_cnt[1][b];

		while (alloc < r->table_slots && alloc < 2 * cnt)
			alloc *= 2;
	}
	t.slots = sdf_malloc(alloc * sizeof(slot));
	out = sdf_malloc(chunk * sizeof(*out));
	hs = sdf_malloc(chunk * sizeof(*hs));
	if (!t.slots || !out || !hs) {
		rc = SDF_EBUDGET;
		goto done;
	}
	for (int s = 0; s < 2 && rc == 0; s++) {
		rc = spill_open(&r->verdict[s], r->dir, r->budget / 64);
		if (rc == 0)
			rc = spill_extend(&r->verdict[s],
			                  r->scatter[s].size /
			                      sizeof(sdf_diff_hash) * 4);
	}
	for (uint32_t b = 0; rc == 0 && b < r->nbuckets; b++) {
		uint64_t cnt = r->bucket_cnt[0][b] + r->bucket_cnt[1][b];
		size_t slots = r->table_slots < 1024 ? r->table_slots : 1024;
		uint32_t nparts = 1;

		/* A table for what this bucket holds: less to clear. */
		while (slots < r->table_slots && slots < 2 * cnt)
			slots *= 2;
		t.mask = slots - 1;
		t.limit = slots - slots / 4;
		for (uint32_t part = 0; rc == 0 && part < nparts;) {
			rc = count_part(r, &t, b, part, nparts);
			if (rc == 1) {
				/* Too many distinct lines: finer parts. */
				if (nparts >= (1u << 20)) {
					rc = sdf_error_set(
					    SDF_ERROR,
					    "hash table cannot be split");
					break;
				}
				nparts *= 2;
				part = 0;
				rc = 0;
				continue;
			}
			if (r->id_base + t.mask + 1 > ID_MAX) {
				rc = sdf_error_set(SDF_ETOOBIG,
				                   "too many distinct lines");
				break;
			}
			for (int s = 0; s < 2 && rc == 0; s++)
				rc = judge_part(r, &t, s, b, part, nparts, out,
				                hs, chunk);
			r->id_base += t.mask + 1;
			part++;
		}
	}
done:
	sdf_free(t.slots);
	sdf_free(out);
	sdf_free(hs);
	return rc;
}

/* Reads the words back in line order, a cursor per bucket. */
typedef struct {
	uint32_t *buf; /* per words per bucket */
	size_t per;
	uint32_t *pos, *len;
	uint64_t *next; /* next verdict to load, per bucket */
} gather_state;

static int gather_next(run *r, int s, gather_state *g, uint32_t b, uint32_t *w)
{
	if (g->pos[b] == g->len[b]) {
		uint64_t left =
		    r->bucket_off[s][b] + r->bucket_cnt[s][b] - g->next[b];
		size_t n = left < g->per ? (size_t)left : g->per;
		int rc;

		if (n == 0)
			return sdf_error_set(SDF_ECORRUPT,
			                     "verdict stream ended early");
		rc = spill_read_at(&r->verdict[s], g->buf + b * g->per, n * 4,
		                   g->next[b] * 4);
		if (rc < 0)
			return rc;
		g->next[b] += n;
		g->len[b] = (uint32_t)n;
		g->pos[b] = 0;
	}
	*w = g->buf[b * g->per + g->pos[b]++];
	return 0;
}

/*
 * xdl_clean_mmatch: whether the multimatch line at ring index i is dropped.
 * Looks at most MMATCH_WINDOW lines each way within [lo, hi] (inclusive):
 * runs of unmatched and multimatch lines before and after it; it is dropped
 * when both runs hold an unmatched line and the multimatch lines (itself
 * included) are under a quarter of the lines seen.
 */
static int mmatch_discard(const unsigned char *dis, uint64_t i, uint64_t lo,
                          uint64_t hi)
{
	uint64_t no_before = 0, multi_before = 1, no_after = 0, multi_after = 1,
	         r;

	if (i - lo > MMATCH_WINDOW)
		lo = i - MMATCH_WINDOW;
	if (hi - i > MMATCH_WINDOW)
		hi = i + MMATCH_WINDOW;
	for (r = 1; i - r + 1 > lo; r++) {
		unsigned char v = dis[(i - r) & (RING - 1)];

		if (v == NO_MATCH)
			no_before++;
		else if (v == MULTI)
			multi_before++;
		else
			break;
	}
	if (no_before == 0)
		return 0;
	for (r = 1; i + r <= hi; r++) {
		unsigned char v = dis[(i + r) & (RING - 1)];

		if (v == NO_MATCH)
			no_after++;
		else if (v == MULTI)
			multi_after++;
		else
			break;
	}
	if (no_after == 0)
		return 0;
	no_after += no_before;
	multi_after += multi_before;
	return multi_after * MMATCH_RATIO < multi_after + no_after;
}

/* Decides line i (its verdict and hash are in the ring). */
static int settle(run *r, int s, const unsigned char *dis, const uint32_t *ids,
                  uint64_t i)
{
	unsigned char v = dis[i & (RING - 1)];

	if (v == MATCHED || (v == MULTI && !mmatch_discard(dis, i, r->start[s],
	                                                   r->end[s] - 1))) {
		r->kept[s]++;
		return spill_put(&r->keep[s], &ids[i & (RING - 1)],
		                 sizeof(uint32_t));
	}
	r->discarded[s]++;
	if (r->chg[s])
		r->chg[s][i] = 2;
	return 0;
}

/* Stage 2d: verdicts in line order, the discard, the kept lines spilled. */
static int discard(run *r, int s)
{
	gather_state g;
	rec_reader rd;
	cand_reader cr;
	const sdf_diff_hash *h;
	unsigned char dis[RING];
	uint32_t ids[RING];
	uint64_t i = 0, settled = r->start[s];
	int rc;

	memset(&g, 0, sizeof(g));
	memset(&rd, 0, sizeof(rd));
	g.per = (r->budget / 64) / r->nbuckets / sizeof(uint32_t);
	if (g.per < 16)
		g.per = 16;
	if (g.per > 16384)
		g.per = 16384;
	g.buf = sdf_malloc(g.per * r->nbuckets * sizeof(uint32_t));
	g.pos = sdf_calloc(r->nbuckets, sizeof(uint32_t));
	g.len = sdf_calloc(r->nbuckets, sizeof(uint32_t));
	g.next = sdf_calloc(r->nbuckets, sizeof(uint64_t));
	rc = (!g.buf || !g.pos || !g.len || !g.next) ? SDF_EBUDGET : 0;
	for (uint32_t b = 0; rc == 0 && b < r->nbuckets; b++)
		g.next[b] = r->bucket_off[s][b];
	if (rc == 0)
		rc = spill_open(&r->keep[s], r->dir, r->budget / 32);
	if (rc == 0)
		rc = rec_reader_open(&rd, r->src[s], 0, r->end[s], 0, IO_BYTES);
	cand_reader_init(&cr, &r->cand[s]);
	while (rc == 0 && (rc = rec_reader_next(&rd, &h)) == 0 && h) {
		uint32_t w = WORD(NO_MATCH, 0);
		int c = cand_next(&cr);

		if (c < 0) {
			rc = c;
			break;
		}
		if (c) {
			rc = gather_next(r, s, &g,
			                 r->fine_to_bucket[fine_of(h)], &w);
			if (rc < 0)
				break;
		}
		if (i >= r->start[s]) {
			dis[i & (RING - 1)] = WORD_VERDICT(w);
			ids[i & (RING - 1)] = WORD_ID(w);
			if (i >= r->start[s] + MMATCH_WINDOW)
				rc = settle(r, s, dis, ids, i - MMATCH_WINDOW);
			if (i >= r->start[s] + MMATCH_WINDOW)
				settled = i - MMATCH_WINDOW + 1;
		}
		i++;
	}
	for (; rc == 0 && settled < r->end[s]; settled++)
		rc = settle(r, s, dis, ids, settled);
	if (rc == 0)
		rc = spill_finish(&r->keep[s]);
	rec_reader_close(&rd);
	sdf_free(g.buf);
	sdf_free(g.pos);
	sdf_free(g.len);
	sdf_free(g.next);
	return rc;
}

/* Discarded lines and Myers' changes into one changed flag per line. */
static void merge_changes(run *r)
{
	for (int s = 0; s < 2; s++) {
		uint64_t k = 0;

		for (uint64_t i = r->start[s]; i < r->end[s]; i++) {
			if (r->chg[s][i] == 2)
				r->chg[s][i] = 1;
			else
				r->chg[s][i] = r->mark[s][k++];
		}
	}
}

/* Compacts the changes as git does and hands them to the callback. */
static int emit_ranges(run *r, const sdf_diff_lines_options *opts)
{
	compact_side cs[2];
	sdf_diff_hash *hash[2] = {NULL, NULL};
	unsigned char *indent[2] = {NULL, NULL};
	int rc = 0;

	for (int s = 0; s < 2 && rc == 0; s++) {
		size_t n = (size_t)r->n[s];

		hash[s] = sdf_malloc(n ? n * sizeof(sdf_diff_hash) : 1);
		indent[s] = sdf_malloc(n ? n : 1);
		if (!hash[s] || !indent[s]) {
			rc = SDF_EBUDGET;
			break;
		}
		rc = spill_read_at(r->src[s], hash[s],
		                   n * sizeof(sdf_diff_hash), 0);
		if (rc == 0)
			rc = spill_read_at(side_indents(r->side[s]), indent[s],
			                   n, 0);
		cs[s].hash = hash[s];
		cs[s].indent = indent[s];
		cs[s].chg = r->chg[s];
		cs[s].n = (int64_t)n;
	}
	if (rc == 0) {
		compact_changes(&cs[0], &cs[1]);
		compact_changes(&cs[1], &cs[0]);
		rc =
		    compact_emit(&cs[0], &cs[1], opts->range_cb, opts->payload);
	}
	for (int s = 0; s < 2; s++) {
		sdf_free(hash[s]);
		sdf_free(indent[s]);
	}
	return rc;
}

static void run_dispose(run *r)
{
	for (int s = 0; s < 2; s++) {
		sdf_free(r->chg_mem[s]);
		sdf_free(r->mark[s]);
		sdf_free(r->filter[s]);
		spill_close(&r->cand[s]);
		sdf_free(r->bucket_off[s]);
		sdf_free(r->bucket_cnt[s]);
		spill_close(&r->scatter[s]);
		spill_close(&r->verdict[s]);
		spill_close(&r->keep[s]);
	}
}

/* Frees what the Myers stage does not need. */
static void run_shed(run *r)
{
	for (int s = 0; s < 2; s++) {
		spill_close(&r->cand[s]);
		spill_close(&r->scatter[s]);
		spill_close(&r->verdict[s]);
	}
}

int sdf_diff_lines(sdf_diff_lines_result *out, const sdf_diff_side *old_side,
                   const sdf_diff_side *new_side,
                   const sdf_diff_lines_options *opts)
{
	run *r = NULL;
	uint64_t chg[2] = {0, 0}, big;
	int exact = 1, rc = 0;

	memset(out, 0, sizeof(*out));
	out->exact = 1;
	if (!old_side || !new_side || !side_finished(old_side) ||
	    !side_finished(new_side))
		return sdf_error_set(SDF_EINVAL, "diff sides not finished");
	big = opts && opts->big_file_bytes ? opts->big_file_bytes : UINT64_MAX;
	if (side_binary(old_side) || side_binary(new_side) ||
	    side_bytes(old_side) > big || side_bytes(new_side) > big) {
		out->binary = 1;
		return 0;
	}
	r = sdf_calloc(1, sizeof(*r));
	if (!r)
		return SDF_EBUDGET;
	for (int s = 0; s < 2; s++) {
		r->scatter[s].fd = r->verdict[s].fd = r->keep[s].fd = -1;
		r->cand[s].fd = -1;
		r->side[s] = s ? new_side : old_side;
		r->src[s] = side_hashes(r->side[s]);
		r->n[s] = side_records(r->side[s]);
		r->mlim[s] = xdiff_sqrt((int64_t)r->n[s]);
		if (r->mlim[s] > MULTIMATCH_MAX)
			r->mlim[s] = MULTIMATCH_MAX;
	}
	r->budget = opts && opts->work_budget ? opts->work_budget
	                                      : SDF_DIFF_WORK_BUDGET_DEFAULT;
	r->dir = opts ? opts->spill_dir : NULL;
	r->threads = (!opts || opts->threads != 1) &&
	             r->n[0] + r->n[1] >= THREADS_MIN_LINES;
	if (r->budget < SDF_DIFF_WORK_BUDGET_MIN) {
		rc = sdf_error_set(SDF_EINVAL, "work budget under %u bytes",
		                   SDF_DIFF_WORK_BUDGET_MIN);
		goto done;
	}

	if (opts && opts->range_cb &&
	    r->n[0] + r->n[1] <= r->budget / RANGE_BYTES_PER_LINE) {
		r->ranges = 1;
		for (int s = 0; s < 2; s++) {
			r->chg_mem[s] = sdf_calloc((size_t)r->n[s] + 2, 1);
			if (!r->chg_mem[s]) {
				rc = SDF_EBUDGET;
				goto done;
			}
			r->chg[s] = r->chg_mem[s] + 1;
		}
	}

	if ((rc = trim_ends(r)) < 0)
		goto done;
	if (r->start[0] == r->end[0] || r->start[1] == r->end[1]) {
		/* One side is left empty: the other one is all changed. */
		out->deletions = r->end[0] - r->start[0];
		out->additions = r->end[1] - r->start[1];
		for (int s = 0; r->ranges && s < 2; s++)
			memset(r->chg[s] + r->start[s], 1,
			       (size_t)(r->end[s] - r->start[s]));
		goto finish;
	}
	if ((rc = build_filters(r)) < 0 || (rc = plan_buckets(r)) < 0)
		goto done;
	rc = both_sides(r, scatter);
	if (rc == 0)
		rc = judge(r);
	if (rc == 0)
		rc = both_sides(r, discard);
	if (rc < 0)
		goto done;
	run_shed(r);
	for (int s = 0; r->ranges && s < 2; s++) {
		r->mark[s] = sdf_calloc((size_t)r->kept[s] + 1, 1);
		if (!r->mark[s]) {
			rc = SDF_EBUDGET;
			goto done;
		}
	}
	rc = myers_count(&chg[0], &chg[1], &exact, &r->keep[0], r->kept[0],
	                 &r->keep[1], r->kept[1], r->budget, r->mark[0],
	                 r->mark[1]);
	if (rc < 0)
		goto done;
	out->deletions = r->discarded[0] + chg[0];
	out->additions = r->discarded[1] + chg[1];
	out->exact = exact;
	if (!exact)
		r->ranges = 0;
	if (r->ranges)
		merge_changes(r);
finish:
	for (int s = 0; s < 2; s++) {
		sdf_free(r->mark[s]);
		r->mark[s] = NULL;
		spill_close(&r->keep[s]);
	}
	if (r->ranges && (out->additions || out->deletions))
		rc = emit_ranges(r, opts);
	out->ranges = r->ranges;
done:
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	if (r)
		run_dispose(r);
	sdf_free(r);
	return rc;
}
