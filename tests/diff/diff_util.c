#include "diff_util.h"

#include "testutil.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dt_side(sdf_diff_side **out, const void *buf, size_t len, size_t chunk)
{
	const char *p = buf;
	sdf_diff_side *side = NULL;
	int rc;

	*out = NULL;
	if ((rc = sdf_diff_side_new(&side, NULL)) < 0)
		return rc;
	if (chunk == 0)
		chunk = len ? len : 1;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		if ((rc = sdf_diff_side_feed(side, p + off, n)) < 0)
			goto fail;
	}
	if ((rc = sdf_diff_side_finish(side)) < 0)
		goto fail;
	*out = side;
	return 0;
fail:
	sdf_diff_side_free(side);
	return rc;
}

int dt_diff(sdf_diff_lines_result *res, const void *a, size_t alen,
            const void *b, size_t blen, const sdf_diff_lines_options *opts)
{
	sdf_diff_side *sa = NULL, *sb = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = dt_side(&sa, a, alen, 0)) == 0 &&
	    (rc = dt_side(&sb, b, blen, 0)) == 0)
		rc = sdf_diff_lines(res, sa, sb, opts);
	sdf_diff_side_free(sa);
	sdf_diff_side_free(sb);
	return rc;
}

int dt_git_numstat(const char *dir, const char *a, const char *b, uint64_t *add,
                   uint64_t *del)
{
	char *argv[] = {"git",     "diff",    "--no-index", "--numstat",
	                (char *)a, (char *)b, NULL};
	unsigned long long x = 0, y = 0;
	tu_result res;
	int rc = 0;

	/* Only git's defaults: no diff.algorithm from someone's config. */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	*add = *del = 0;
	tu_run(&res, dir, argv);
	cr_assert(res.status == 0 || res.status == 1, "git failed: %s",
	          res.err);
	if (res.out_len == 0) {
		tu_result_dispose(&res);
		return 0;
	}
	if (!strncmp(res.out, "-\t-\t", 4)) {
		rc = 1;
	} else {
		cr_assert(sscanf(res.out, "%llu\t%llu\t", &x, &y) == 2,
		          "unexpected git output: %s", res.out);
		*add = x;
		*del = y;
	}
	tu_result_dispose(&res);
	return rc;
}

char *dt_git_patch(const char *dir, const char *a, const char *b)
{
	char *argv[] = {"git",        "diff",          "--no-index",
	                "--no-color", "--no-ext-diff", "-U3",
	                (char *)a,    (char *)b,       NULL};
	tu_result res;
	char *out;

	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	tu_run(&res, dir, argv);
	cr_assert(res.status == 0 || res.status == 1, "git failed: %s",
	          res.err);
	out = res.out;
	res.out = NULL;
	tu_result_dispose(&res);
	return out;
}

void dt_rng_seed(dt_rng *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
	if (!r->s)
		r->s = 1;
}

uint64_t dt_rng_next(dt_rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

uint64_t dt_rng_below(dt_rng *r, uint64_t n)
{
	return n ? dt_rng_next(r) % n : 0;
}

void dt_buf_add(dt_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void dt_buf_addf(dt_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(tmp));
	dt_buf_add(b, tmp, (size_t)n);
}

void dt_buf_dispose(dt_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
