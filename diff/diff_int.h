/* Private to diff/: spill files, record readers and the side's internals. */
#ifndef SDF_DIFF_INT_H
#define SDF_DIFF_INT_H

#include "sdf_diff.h"

#include <stdint.h>
#include <stdio.h>

/*
 * A spill file: created unlinked (O_TMPFILE, else mkstemp + unlink) in a
 * directory, written through a buffer, read back with pread. The format of a
 * hash spill is raw sdf_diff_hash records (16 bytes, host byte order), so a
 * saved side can later be reopened from it.
 */
typedef struct {
	int fd;
	uint64_t size; /* bytes written so far, buffer included */
	unsigned char *buf;
	size_t len, cap;
} spill;

#define SPILL_INIT                                                             \
	{                                                                      \
		-1, 0, NULL, 0, 0                                              \
	}

int spill_open(spill *s, const char *dir, size_t bufsize);
int spill_write(spill *s, const void *p, size_t n);
int spill_flush(spill *s);
void spill_close(spill *s);

/* Reads exactly n bytes at off; a short file is SDF_ECORRUPT. */
int spill_pread(int fd, void *p, size_t n, uint64_t off);
int spill_pwrite(int fd, const void *p, size_t n, uint64_t off);

/*
 * Reads hash records [from, to) of a spill forwards (or backwards: then the
 * records come out from to - 1 down to from), a buffer at a time.
 */
typedef struct {
	int fd;
	uint64_t base;      /* byte offset of record 0 in the file */
	uint64_t next, end; /* forwards: next record to load; backwards too */
	uint64_t from;
	int backwards;
	sdf_diff_hash *buf;
	size_t cap, len, pos;
} rec_reader;

int rec_reader_open(rec_reader *r, int fd, uint64_t base, uint64_t from,
                    uint64_t to, int backwards, size_t bufbytes);
/* rec_reader_next() when the buffer is used up. */
int rec_reader_refill(rec_reader *r, const sdf_diff_hash **out);

/* *out := the next record, or NULL at the end. 0 or an error. */
static inline int rec_reader_next(rec_reader *r, const sdf_diff_hash **out)
{
	if (r->pos == r->len)
		return rec_reader_refill(r, out);
	if (r->backwards)
		*out = &r->buf[r->len - 1 - r->pos++];
	else
		*out = &r->buf[r->pos++];
	return 0;
}
void rec_reader_close(rec_reader *r);

static inline int hash_eq(const sdf_diff_hash *a, const sdf_diff_hash *b)
{
	return a->lo == b->lo && a->hi == b->hi;
}

/*
 * Where a side's hash sequence lives (from a byte offset: a saved side is
 * read in place); what sdf_diff_lines() reads.
 */
int side_spill_fd(const sdf_diff_side *side);
uint64_t side_spill_base(const sdf_diff_side *side);
uint64_t side_indent_base(const sdf_diff_side *side);
/*
 * A byte per line: its indent as xdiff measures it for its indent
 * heuristic (tabs to multiples of 8, at most 200), or SDF_DIFF_BLANK_LINE
 * for a line of whitespace only.
 */
#define SDF_DIFF_BLANK_LINE 255
int side_indent_fd(const sdf_diff_side *side);
uint64_t side_records(const sdf_diff_side *side);
int side_finished(const sdf_diff_side *side);
int side_binary(const sdf_diff_side *side);

/* The directory for temporary files: dir, else $TMPDIR, else /tmp. */
const char *spill_dir_or_default(const char *dir);

/*
 * xdiff's bogus square root: 2^(number of base-4 digits of n), 1 for 0.
 * Used for the multimatch limit and the Myers cost cutoff.
 */
static inline int64_t xdiff_sqrt(int64_t n)
{
	int64_t i = 1;

	for (; n > 0; n >>= 2)
		i <<= 1;
	return i;
}

#endif
