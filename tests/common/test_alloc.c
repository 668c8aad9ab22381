#include "sdf_alloc.h"
#include "sdf_error.h"

#include <criterion/criterion.h>
#include <string.h>

Test(alloc, counts_live_and_peak)
{
	size_t base = sdf_alloc_live();
	void *a = sdf_malloc(1000), *b = sdf_calloc(10, 100);

	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_geq(sdf_alloc_live(), base + 2000);
	cr_assert_geq(sdf_alloc_peak(), sdf_alloc_live());
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(((char *)b)[i], 0);
	sdf_free(a);
	sdf_free(b);
	cr_assert_eq(sdf_alloc_live(), base);
}

Test(alloc, limit_fails_cleanly_and_recovers)
{
	sdf_alloc_set_limit(sdf_alloc_live() + 64 * 1024);
	sdf_alloc_clear_failed();
	void *big = sdf_malloc(1024 * 1024);
	cr_assert_null(big);
	cr_assert_eq(sdf_error_last_code(), SDF_EBUDGET);
	cr_assert(strstr(sdf_error_last(), "memory budget exceeded"));
	cr_assert(sdf_alloc_failed());
	void *small = sdf_malloc(1024);
	cr_assert_not_null(small);
	cr_assert_leq(sdf_alloc_peak(), sdf_alloc_limit());
	sdf_free(small);
	sdf_alloc_set_limit(0);
}

Test(alloc, realloc_tracks_growth_and_shrink)
{
	size_t base = sdf_alloc_live();
	char *p = sdf_malloc(10);

	memcpy(p, "abcdefghij", 10);
	p = sdf_realloc(p, 100000);
	cr_assert_not_null(p);
	cr_assert_eq(memcmp(p, "abcdefghij", 10), 0);
	cr_assert_geq(sdf_alloc_live(), base + 100000);
	p = sdf_realloc(p, 5);
	cr_assert_lt(sdf_alloc_live(), base + 100);
	sdf_free(p);
	cr_assert_eq(sdf_alloc_live(), base);
	sdf_free(NULL);
}

Test(alloc, realloc_over_limit_keeps_old_block)
{
	char *p = sdf_malloc(16);
	memcpy(p, "keep", 5);
	sdf_alloc_set_limit(sdf_alloc_live() + 1024);
	char *q = sdf_realloc(p, 1 << 20);
	cr_assert_null(q);
	cr_assert_str_eq(p, "keep");
	sdf_alloc_set_limit(0);
	sdf_free(p);
}

Test(alloc, overflow_is_refused)
{
	cr_assert_null(sdf_calloc(SIZE_MAX / 2, 4));
	cr_assert_null(sdf_malloc(SIZE_MAX - 4));
	cr_assert_null(sdf_reallocarray(NULL, SIZE_MAX / 8, 16));
}

Test(alloc, injected_failure_hits_the_nth_allocation)
{
	sdf_alloc_fail_at(3);
	void *a = sdf_malloc(8), *b = sdf_malloc(8), *c = sdf_malloc(8),
	     *d = sdf_malloc(8);
	sdf_alloc_fail_at(0);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_null(c);
	cr_assert_not_null(d);
	sdf_free(a);
	sdf_free(b);
	sdf_free(d);
}

Test(alloc, parse_size)
{
	size_t v;

	cr_assert_eq(sdf_parse_size("123", &v), 0);
	cr_assert_eq(v, 123);
	cr_assert_eq(sdf_parse_size("64K", &v), 0);
	cr_assert_eq(v, 65536);
	cr_assert_eq(sdf_parse_size("16MiB", &v), 0);
	cr_assert_eq(v, 16u << 20);
	cr_assert_eq(sdf_parse_size("1G", &v), 0);
	cr_assert_eq(v, 1u << 30);
	cr_assert_neq(sdf_parse_size("-5", &v), 0);
	cr_assert_neq(sdf_parse_size("12X", &v), 0);
	cr_assert_neq(sdf_parse_size("", &v), 0);
}

Test(error, messages_and_errno)
{
	cr_assert_eq(sdf_error_set(SDF_ENOTFOUND, "no snapshot %s", "abc"),
	             SDF_ENOTFOUND);
	cr_assert_str_eq(sdf_error_last(), "no snapshot abc");
	cr_assert_eq(sdf_error_set_errno(SDF_EIO, 28, "write %s", "f"),
	             SDF_ENOSPC);
	cr_assert(strstr(sdf_error_last(), "write f: "));
	sdf_error_prefix("track");
	cr_assert(strncmp(sdf_error_last(), "track: write f", 14) == 0);
	cr_assert_str_eq(sdf_error_name(SDF_EBUDGET), "over_budget");
}
