#include "sdf_alloc.h"
#include "sdf_error.h"

#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each block carries a 16-byte header holding its size, so free() knows how
 * much to uncount and the payload stays 16-byte aligned.
 */
#define HDR 16

static atomic_size_t live_bytes;
static atomic_size_t peak_bytes;
static atomic_size_t limit_bytes;
static atomic_uint_fast64_t fail_at;
static atomic_uint_fast64_t since_arm;
static _Thread_local int failed_here;
static _Thread_local int unrefused;

static int reserve(size_t n)
{
	size_t limit = atomic_load(&limit_bytes);
	size_t cur = atomic_load(&live_bytes);
	size_t next;

	do {
		if (n > SIZE_MAX - cur)
			return -1;
		next = cur + n;
		if (limit && next > limit && !unrefused)
			return -1;
	} while (!atomic_compare_exchange_weak(&live_bytes, &cur, next));

	size_t peak = atomic_load(&peak_bytes);
	while (next > peak &&
	       !atomic_compare_exchange_weak(&peak_bytes, &peak, next))
		;
	return 0;
}

static void release(size_t n)
{
	atomic_fetch_sub(&live_bytes, n);
}

static int injected_failure(void)
{
	uint64_t target = atomic_load(&fail_at);
	uint64_t nth = atomic_fetch_add(&since_arm, 1) + 1;

	return target && nth == target && !unrefused;
}

void sdf_alloc_unrefused_begin(void)
{
	unrefused++;
}

void sdf_alloc_unrefused_end(void)
{
	unrefused--;
}

static void note_failure(size_t n)
{
	failed_here = 1;
	sdf_error_set(SDF_EBUDGET,
	              "memory budget exceeded: %zu bytes requested with %zu of "
	              "%zu bytes in use",
	              n, sdf_alloc_live(), sdf_alloc_limit());
}

static size_t *header_of(void *ptr)
{
	return (size_t *)((char *)ptr - HDR);
}

void *sdf_malloc(size_t n)
{
	size_t total;
	void *block;

	if (n > SIZE_MAX - HDR || injected_failure()) {
		note_failure(n);
		return NULL;
	}
	total = n + HDR;
	if (reserve(total) < 0) {
		note_failure(n);
		return NULL;
	}
	block = malloc(total);
	if (!block) {
		release(total);
		note_failure(n);
		return NULL;
	}
	*(size_t *)block = total;
	return (char *)block + HDR;
}

void *sdf_malloc_over(size_t n)
{
	size_t total, cur, peak;
	void *block;

	if (n > SIZE_MAX - HDR)
		return NULL;
	total = n + HDR;
	if (!(block = malloc(total)))
		return NULL;
	cur = atomic_fetch_add(&live_bytes, total) + total;
	peak = atomic_load(&peak_bytes);
	while (cur > peak &&
	       !atomic_compare_exchange_weak(&peak_bytes, &peak, cur))
		;
	*(size_t *)block = total;
	return (char *)block + HDR;
}

void *sdf_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size) {
		note_failure(SIZE_MAX);
		return NULL;
	}
	p = sdf_malloc(nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

void *sdf_realloc(void *ptr, size_t n)
{
	size_t old_total, total;
	void *block;

	if (!ptr)
		return sdf_malloc(n);
	if (n > SIZE_MAX - HDR || injected_failure()) {
		note_failure(n);
		return NULL;
	}
	old_total = *header_of(ptr);
	total = n + HDR;
	if (total > old_total && reserve(total - old_total) < 0) {
		note_failure(n);
		return NULL;
	}
	block = realloc(header_of(ptr), total);
	if (!block) {
		if (total > old_total)
			release(total - old_total);
		note_failure(n);
		return NULL;
	}
	if (total < old_total)
		release(old_total - total);
	*(size_t *)block = total;
	return (char *)block + HDR;
}

void *sdf_reallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size) {
		note_failure(SIZE_MAX);
		return NULL;
	}
	return sdf_realloc(ptr, nmemb * size);
}

void sdf_free(void *ptr)
{
	if (!ptr)
		return;
	release(*header_of(ptr));
	free(header_of(ptr));
}

char *sdf_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = sdf_malloc(len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

char *sdf_strdup(const char *s)
{
	return sdf_strndup(s, SIZE_MAX - HDR - 1);
}

void sdf_alloc_set_limit(size_t bytes)
{
	atomic_store(&limit_bytes, bytes);
}

size_t sdf_alloc_limit(void)
{
	return atomic_load(&limit_bytes);
}

size_t sdf_alloc_live(void)
{
	return atomic_load(&live_bytes);
}

size_t sdf_alloc_peak(void)
{
	return atomic_load(&peak_bytes);
}

void sdf_alloc_reset_peak(void)
{
	atomic_store(&peak_bytes, atomic_load(&live_bytes));
}

size_t sdf_alloc_available(void)
{
	size_t limit = sdf_alloc_limit(), live = sdf_alloc_live();

	if (!limit)
		return SIZE_MAX;
	return live >= limit ? 0 : limit - live;
}

int sdf_alloc_failed(void)
{
	return failed_here;
}

void sdf_alloc_clear_failed(void)
{
	failed_here = 0;
}

void sdf_alloc_fail_at(uint64_t n)
{
	atomic_store(&since_arm, 0);
	atomic_store(&fail_at, n);
}

uint64_t sdf_alloc_count_since_arm(void)
{
	return atomic_load(&since_arm);
}

void sdf_alloc_tune_process(void)
{
#ifdef __GLIBC__
	/* the environment's MALLOC_* settings win */
	if (!getenv("MALLOC_MMAP_THRESHOLD_"))
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (!getenv("MALLOC_TRIM_THRESHOLD_"))
		mallopt(M_TRIM_THRESHOLD, 256 * 1024);
	/* glibc gives each busy thread an arena that keeps what it freed:
	 * with 8 daemon workers, RSS was twice what two arenas hold, for the
	 * same speed */
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, 2);
#endif
}

int sdf_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		return -1;
	}
	if (*end == 'i' && end[-1] != '\0' && shift)
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -1;
	if (shift && v > (ULLONG_MAX >> shift))
		return -1;
	v <<= shift;
	if (v > SIZE_MAX)
		return -1;
	*out = (size_t)v;
	return 0;
}
