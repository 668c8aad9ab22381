/* Private to diff/: spill files, record readers and the side's internals. */
#ifndef SDF_DIFF_INT_H
#define SDF_DIFF_INT_H

#include "sdf_diff.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * A spill: bytes kept in memory while they are few (up to mem_cap), else in
 * a file created unlinked (O_TMPFILE, else mkstemp + unlink) in a directory:
 * small diffs never touch the file system. Appends are buffered; writes at
 * an offset and reads are direct. A hash spill is raw sdf_diff_hash records
 * (16 bytes, host byte order), so a saved side can be reopened in place.
 */
typedef struct {
	int fd;             /* -1 while in memory */
	uint64_t base;      /* where the content starts in fd (saved sides) */
	uint64_t size;      /* bytes of content */
	unsigned char *buf; /* in memory: the content; in a file: appends */
	size_t len;         /* in a file: appended bytes not yet written */
	size_t cap;         /* bytes allocated at buf */
	size_t mem_cap;     /* the most kept in memory */
	char *dir;          /* where to create the file */
} spill;

int spill_open(spill *s, const char *dir, size_t mem_cap);
/* A spill over an existing file's bytes [base, base + size) (read-only). */
int spill_adopt(spill *s, int fd, uint64_t base, uint64_t size);
int spill_write(spill *s, const void *p, size_t n);

/* spill_write() of a few bytes: a copy when they fit in the buffer. */
static inline int spill_put(spill *s, const void *p, size_t n)
{
	size_t at = s->fd < 0 ? (size_t)s->size : s->len;

	if (at + n > s->cap || (s->fd >= 0 && at + n == s->cap))
		return spill_write(s, p, n);
	memcpy(s->buf + at, p, n);
	s->size += n;
	if (s->fd >= 0)
		s->len += n;
	return 0;
}
int spill_write_at(spill *s, const void *p, size_t n, uint64_t off);
/* Grows the content to size bytes, zeroed. */
int spill_extend(spill *s, uint64_t size);
int spill_flush(spill *s);
/* Done writing: flushed, and no more memory than the content needs. */
int spill_finish(spill *s);
/* Reads exactly n bytes at off of flushed content; short: SDF_ECORRUPT. */
int spill_read_at(const spill *s, void *p, size_t n, uint64_t off);
/* The content when it is in memory, else NULL. */
static inline const unsigned char *spill_memory(const spill *s)
{
	return s->fd < 0 ? s->buf : NULL;
}
void spill_close(spill *s);

/* Reads exactly n bytes at off of a file; short: SDF_ECORRUPT. */
int fd_pread(int fd, void *p, size_t n, uint64_t off);

/*
 * Reads hash records [from, to) of a spill forwards (or backwards: then the
 * records come out from to - 1 down to from), a buffer at a time.
 */
typedef struct {
	const spill *sp;
	uint64_t next, end; /* forwards: next record to load; backwards too */
	uint64_t from;
	int backwards;
	sdf_diff_hash *buf;
	size_t cap, len, pos;
} rec_reader;

int rec_reader_open(rec_reader *r, const spill *sp, uint64_t from, uint64_t to,
                    int backwards, size_t bufbytes);
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

/* A side's line hashes and indents; what sdf_diff_lines() reads. */
const spill *side_hashes(const sdf_diff_side *side);
/*
 * A byte per line: its indent as xdiff measures it for its indent
 * heuristic (tabs to multiples of 8, at most 200), or SDF_DIFF_BLANK_LINE
 * for a line of whitespace only.
 */
#define SDF_DIFF_BLANK_LINE 255
const spill *side_indents(const sdf_diff_side *side);
uint64_t side_records(const sdf_diff_side *side);
uint64_t side_bytes(const sdf_diff_side *side);
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
