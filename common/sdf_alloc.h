/*
 * The one counting allocator. Every allocation of the process goes through
 * it (libgit2, zlib, zstd and jansson are wired in by the modules that own
 * them), so the budget counts real bytes: live, peak and a hard limit.
 *
 * Over the limit an allocation returns NULL and records SDF_EBUDGET in the
 * thread's error slot; nothing aborts.
 */
#ifndef SDF_ALLOC_H
#define SDF_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *sdf_malloc(size_t n);
void *sdf_calloc(size_t nmemb, size_t size);
void *sdf_realloc(void *ptr, size_t n);
void *sdf_reallocarray(void *ptr, size_t nmemb, size_t size);
void sdf_free(void *ptr);
/*
 * n bytes counted but past the limit (no fault injection either), for the
 * one caller that must not see a refusal in mid-step and then gives up
 * (api/: jansson asserts when its lexer cannot grow a buffer). NULL only
 * when the C library fails.
 */
void *sdf_malloc_over(size_t n);
char *sdf_strdup(const char *s);
char *sdf_strndup(const char *s, size_t n);

/* Bytes the caller may count on: live + n <= limit (0 = unlimited). */
void sdf_alloc_set_limit(size_t bytes);
size_t sdf_alloc_limit(void);
size_t sdf_alloc_live(void);
size_t sdf_alloc_peak(void);
void sdf_alloc_reset_peak(void);
/* Bytes still available under the limit (SIZE_MAX when unlimited). */
size_t sdf_alloc_available(void);

/*
 * Set when an allocation on this thread failed since the last clear. Lets a
 * caller tell "a library ran out of budget" from other library failures.
 */
int sdf_alloc_failed(void);
void sdf_alloc_clear_failed(void);

/*
 * Between begin and end (nestable, this thread only) allocations are
 * counted but never refused, neither by the limit nor by fault injection:
 * for the few calls into a library that cannot survive a refusal (libgit2
 * 1.5.1's attribute lookups wait forever on a lock they left held). Keep
 * such sections to small, bounded work.
 */
void sdf_alloc_unrefused_begin(void);
void sdf_alloc_unrefused_end(void);

static inline int sdf_alloc_unrefused_end_with(int v)
{
	sdf_alloc_unrefused_end();
	return v;
}

/* The int expression e, evaluated with allocations never refused. */
#define SDF_UNREFUSED(e)                                                       \
	(sdf_alloc_unrefused_begin(), sdf_alloc_unrefused_end_with(e))

/*
 * Fault injection for tests: the n-th allocation from now (1-based, counted
 * process-wide) fails as if over budget; 0 disables. Returns how many
 * allocations were made since the last arm, so a test can tell whether the
 * armed one was reached.
 */
void sdf_alloc_fail_at(uint64_t n);
uint64_t sdf_alloc_count_since_arm(void);

/*
 * Tunes the C library's malloc for a process that streams: large buffers
 * are mapped and unmapped (the default raises that threshold as buffers are
 * freed, and the heap then keeps what the last large file needed), and
 * threads share two arenas instead of one each. Call early in main().
 */
void sdf_alloc_tune_process(void);

/* Parses "123", "64K", "16M", "1G" (powers of 1024). 0 on success. */
int sdf_parse_size(const char *s, size_t *out);

#endif
