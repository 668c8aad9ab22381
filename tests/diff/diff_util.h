/* Helpers for the diff/ suites: sides from buffers, git as the oracle. */
#ifndef SDF_TESTS_DIFF_UTIL_H
#define SDF_TESTS_DIFF_UTIL_H

#include "sdf_diff.h"

#include <stddef.h>
#include <stdint.h>

/* A finished side holding buf, fed chunk bytes at a time (0: all at once). */
int dt_side(sdf_diff_side **out, const void *buf, size_t len, size_t chunk);

/* sdf_diff_lines() on two buffers; returns its result code. */
int dt_diff(sdf_diff_lines_result *res, const void *a, size_t alen,
            const void *b, size_t blen, const sdf_diff_lines_options *opts);

/*
 * `git diff --no-index --numstat a b` in dir, with no user or system
 * configuration. Returns 1 for "-\t-" (binary), else 0 with the counts
 * (0 and 0 when git prints nothing).
 */
int dt_git_numstat(const char *dir, const char *a, const char *b, uint64_t *add,
                   uint64_t *del);

/* `git diff --no-index --no-color -U3 a b` in dir; free() the result. */
char *dt_git_patch(const char *dir, const char *a, const char *b);

/* A small deterministic generator (xorshift64*). */
typedef struct {
	uint64_t s;
} dt_rng;

void dt_rng_seed(dt_rng *r, uint64_t seed);
uint64_t dt_rng_next(dt_rng *r);
/* Uniform in [0, n). */
uint64_t dt_rng_below(dt_rng *r, uint64_t n);

/* A growable byte buffer (plain malloc: test-side memory). */
typedef struct {
	char *p;
	size_t len, cap;
} dt_buf;

void dt_buf_add(dt_buf *b, const void *p, size_t n);
void dt_buf_addf(dt_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void dt_buf_dispose(dt_buf *b);

#endif
