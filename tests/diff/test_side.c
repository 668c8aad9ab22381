/* The hashing side: chunking, line counts, binary, content hash, threads. */
#include "diff_util.h"
#include "sdf_alloc.h"
#include "sdf_diff.h"
#include "sdf_error.h"
#include "testutil.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sdf_diff_stats stats_of(const char *s, size_t len, size_t chunk)
{
	sdf_diff_side *side = NULL;
	sdf_diff_stats st;

	cr_assert_eq(dt_side(&side, s, len, chunk), 0, "%s", sdf_error_last());
	cr_assert_eq(sdf_diff_side_stats(&st, side), 0);
	sdf_diff_side_free(side);
	return st;
}

Test(diff_side, counts_lines_as_git)
{
	struct {
		const char *s;
		uint64_t lines;
		int no_eol;
	} cases[] = {
	    {"", 0, 0},       {"\n", 1, 0},         {"a", 1, 1},
	    {"a\n", 1, 0},    {"a\nb", 2, 1},       {"a\nb\n", 2, 0},
	    {"\n\n\n", 3, 0}, {"a\r\nb\r\n", 2, 0}, {"a\r\nb\r", 2, 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sdf_diff_stats st = stats_of(cases[i].s, strlen(cases[i].s), 0);

		cr_assert_eq(st.lines, cases[i].lines, "case %zu", i);
		cr_assert_eq(st.bytes, strlen(cases[i].s));
		cr_assert_eq(st.ends_without_newline, cases[i].no_eol,
		             "case %zu", i);
		cr_assert_eq(st.binary, 0);
	}
}

Test(diff_side, chunking_does_not_matter)
{
	dt_buf b = {0};
	dt_rng rng;
	sdf_diff_stats whole, st;

	dt_rng_seed(&rng, 7);
	for (int i = 0; i < 3000; i++) {
		uint64_t n = dt_rng_below(&rng, 300);

		for (uint64_t k = 0; k < n; k++)
			dt_buf_add(&b, &"abc \r\t"[dt_rng_below(&rng, 6)], 1);
		if (dt_rng_below(&rng, 10))
			dt_buf_add(&b, "\n", 1);
	}
	whole = stats_of(b.p, b.len, 0);
	cr_assert_gt(whole.lines, 2000);
	for (size_t chunk = 1; chunk < 5000; chunk = chunk * 3 + 1) {
		st = stats_of(b.p, b.len, chunk);
		cr_assert_eq(st.lines, whole.lines);
		cr_assert_eq(st.content.lo, whole.content.lo);
		cr_assert_eq(st.content.hi, whole.content.hi);
	}

	/* And the line hashes: a byte-fed side has no differences. */
	{
		sdf_diff_side *x = NULL, *y = NULL;
		sdf_diff_lines_result res;

		cr_assert_eq(dt_side(&x, b.p, b.len, 1), 0);
		cr_assert_eq(dt_side(&y, b.p, b.len, 0), 0);
		cr_assert_eq(sdf_diff_lines(&res, x, y, NULL), 0);
		cr_assert_eq(res.additions + res.deletions, 0);
		cr_assert(res.exact);
		sdf_diff_side_free(x);
		sdf_diff_side_free(y);
	}
	dt_buf_dispose(&b);
}

Test(diff_side, content_hash_is_xxh3_128)
{
	const char *s = "one\ntwo\nthree";
	XXH128_hash_t h = XXH3_128bits(s, strlen(s));
	sdf_diff_stats st = stats_of(s, strlen(s), 2);

	cr_assert_eq(st.content.lo, h.low64);
	cr_assert_eq(st.content.hi, h.high64);
	h = XXH3_128bits("", 0);
	st = stats_of("", 0, 0);
	cr_assert_eq(st.content.lo, h.low64);
	cr_assert_eq(st.content.hi, h.high64);
}

Test(diff_side, binary_is_a_nul_in_the_first_8000_bytes)
{
	static char buf[9000];
	sdf_diff_stats st;

	memset(buf, 'x', sizeof(buf));
	buf[7999] = '\0';
	st = stats_of(buf, sizeof(buf), 0);
	cr_assert_eq(st.binary, 1);
	st = stats_of(buf, sizeof(buf), 1000);
	cr_assert_eq(st.binary, 1);
	buf[7999] = 'x';
	buf[8000] = '\0';
	st = stats_of(buf, sizeof(buf), 7);
	cr_assert_eq(st.binary, 0);
	cr_assert_eq(st.lines, 1);
}

Test(diff_side, binary_pair_reports_binary)
{
	sdf_diff_lines_result res;

	cr_assert_eq(dt_diff(&res, "a\0b\n", 4, "a\n", 2, NULL), 0);
	cr_assert_eq(res.binary, 1);
	cr_assert_eq(res.additions + res.deletions, 0);
}

Test(diff_side, misuse_is_an_error)
{
	sdf_diff_side *side = NULL;
	sdf_diff_stats st;
	sdf_diff_lines_result res;

	cr_assert_eq(sdf_diff_side_new(&side, NULL), 0);
	cr_assert_eq(sdf_diff_side_feed(side, "a\n", 2), 0);
	cr_assert_eq(sdf_diff_side_stats(&st, side), SDF_EINVAL);
	cr_assert_eq(sdf_diff_lines(&res, side, side, NULL), SDF_EINVAL);
	cr_assert_eq(sdf_diff_side_finish(side), 0);
	cr_assert_eq(sdf_diff_side_feed(side, "b\n", 2), SDF_EINVAL);
	sdf_diff_side_free(side);
	sdf_diff_side_free(NULL);
}

/* Small sides stay in memory; a large one needs its spill directory. */
Test(diff_side, spill_dir_must_exist)
{
	sdf_diff_side *side = NULL;
	sdf_diff_side_options o = SDF_DIFF_SIDE_OPTIONS_INIT;
	int rc = 0;

	o.spill_dir = "/nonexistent/snapdiff";
	cr_assert_eq(sdf_diff_side_new(&side, &o), 0);
	cr_assert_eq(sdf_diff_side_feed(side, "a\nb\n", 4), 0);
	for (int i = 0; i < 100000 && rc == 0; i++)
		rc = sdf_diff_side_feed(side, "line\n", 5);
	cr_assert_eq(rc, SDF_EIO);
	cr_assert(strstr(sdf_error_last(), "/nonexistent/snapdiff"));
	cr_assert_eq(sdf_diff_side_finish(side), SDF_EINVAL);
	sdf_diff_side_free(side);
}

typedef struct {
	dt_buf *buf;
	sdf_diff_side *side;
	int rc;
} feed_job;

static void *feed_thread(void *arg)
{
	feed_job *j = arg;

	j->rc = dt_side(&j->side, j->buf->p, j->buf->len, 4096);
	return NULL;
}

Test(diff_side, two_sides_on_two_threads)
{
	dt_buf a = {0}, b = {0};
	feed_job ja, jb;
	pthread_t ta, tb;
	sdf_diff_lines_result res;
	sdf_diff_stats sa, sb;

	for (int i = 0; i < 200000; i++) {
		dt_buf_addf(&a, "line %d\n", i);
		dt_buf_addf(&b, "line %d\n", i % 1000 == 0 ? -i : i);
	}
	ja = (feed_job){&a, NULL, -1};
	jb = (feed_job){&b, NULL, -1};
	cr_assert_eq(pthread_create(&ta, NULL, feed_thread, &ja), 0);
	cr_assert_eq(pthread_create(&tb, NULL, feed_thread, &jb), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	cr_assert_eq(ja.rc, 0);
	cr_assert_eq(jb.rc, 0);
	cr_assert_eq(sdf_diff_side_stats(&sa, ja.side), 0);
	cr_assert_eq(sdf_diff_side_stats(&sb, jb.side), 0);
	cr_assert_eq(sa.lines, 200000);
	cr_assert_eq(sb.lines, 200000);
	cr_assert_eq(sdf_diff_lines(&res, ja.side, jb.side, NULL), 0);
	/* Line 0 is the same ("-0" prints as "0"); 199 others changed. */
	cr_assert_eq(res.additions, 199);
	cr_assert_eq(res.deletions, 199);
	cr_assert(res.exact);
	sdf_diff_side_free(ja.side);
	sdf_diff_side_free(jb.side);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
}

static int count_ranges(const sdf_diff_range *r, void *payload)
{
	(void)r;
	(*(int *)payload)++;
	return 0;
}

Test(diff_side, saved_side_diffs_as_the_original)
{
	char *dir = tu_mkdtemp("diff-saved");
	char *path = tu_path(dir, "cache");
	dt_buf a = {0}, b = {0};
	sdf_diff_side *sa = NULL, *sb = NULL, *ra = NULL, *rb = NULL;
	sdf_diff_lines_result want, got;
	sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_stats s1, s2;
	int fd, nwant = 0, ngot = 0;
	off_t second;

	for (int i = 0; i < 5000; i++) {
		dt_buf_addf(&a, "%s%d\n", i % 7 ? "\t" : "", i % 300);
		dt_buf_addf(&b, "%s%d\n", i % 5 ? "\t" : "", i % 290);
	}
	dt_buf_add(&b, "tail", 4);
	cr_assert_eq(dt_side(&sa, a.p, a.len, 100), 0);
	cr_assert_eq(dt_side(&sb, b.p, b.len, 100), 0);
	o.range_cb = count_ranges;
	o.payload = &nwant;
	cr_assert_eq(sdf_diff_lines(&want, sa, sb, &o), 0);

	/* Two saved sides in one file, the second at an offset. */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sdf_diff_side_save(sa, fd), 0);
	second = lseek(fd, 0, SEEK_CUR);
	cr_assert_eq(sdf_diff_side_save(sb, fd), 0);
	cr_assert_eq(sdf_diff_side_open_saved(&ra, fd, 0), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(sdf_diff_side_open_saved(&rb, fd, (uint64_t)second), 0);
	close(fd);
	sdf_diff_side_free(sa);
	sdf_diff_side_free(sb);

	o.payload = &ngot;
	cr_assert_eq(sdf_diff_lines(&got, ra, rb, &o), 0);
	cr_assert_eq(got.additions, want.additions);
	cr_assert_eq(got.deletions, want.deletions);
	cr_assert(got.exact && got.ranges);
	cr_assert_eq(ngot, nwant);
	cr_assert_gt(ngot, 0);
	cr_assert_eq(sdf_diff_side_stats(&s1, rb), 0);
	cr_assert_eq(s1.lines, 5001);
	cr_assert_eq(s1.bytes, b.len);
	cr_assert_eq(s1.ends_without_newline, 1);
	cr_assert_eq(dt_side(&sb, b.p, b.len, 0), 0);
	cr_assert_eq(sdf_diff_side_stats(&s2, sb), 0);
	cr_assert_eq(s1.content.lo, s2.content.lo);
	cr_assert_eq(s1.content.hi, s2.content.hi);
	sdf_diff_side_free(sb);

	/* Truncated or foreign files are refused. */
	cr_assert_eq(truncate(path, (off_t)second - 10), 0);
	fd = open(path, O_RDONLY);
	cr_assert_eq(sdf_diff_side_open_saved(&sa, fd, 0), SDF_ECORRUPT);
	cr_assert_eq(sdf_diff_side_open_saved(&sa, fd, 100), SDF_ECORRUPT);
	close(fd);
	cr_assert_null(sa);

	sdf_diff_side_free(ra);
	sdf_diff_side_free(rb);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
	tu_rm_rf(dir);
	free(path);
	free(dir);
}

/* A small diff stays in memory: no spill directory is even looked at. */
Test(diff_side, small_diffs_touch_no_files)
{
	sdf_diff_side_options so = SDF_DIFF_SIDE_OPTIONS_INIT;
	sdf_diff_lines_options lo = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_side *a = NULL, *b = NULL;
	sdf_diff_lines_result res;
	int n = 0;

	so.spill_dir = lo.spill_dir = "/nonexistent/snapdiff";
	lo.range_cb = count_ranges;
	lo.payload = &n;
	cr_assert_eq(sdf_diff_side_new(&a, &so), 0);
	cr_assert_eq(sdf_diff_side_new(&b, &so), 0);
	for (int i = 0; i < 1000; i++) {
		char line[32];
		int len = snprintf(line, sizeof(line), "%d\n", i);

		cr_assert_eq(sdf_diff_side_feed(a, line, (size_t)len), 0);
		if (i % 10)
			cr_assert_eq(sdf_diff_side_feed(b, line, (size_t)len),
			             0);
	}
	cr_assert_eq(sdf_diff_side_finish(a), 0);
	cr_assert_eq(sdf_diff_side_finish(b), 0);
	cr_assert_eq(sdf_diff_lines(&res, a, b, &lo), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(res.deletions, 100);
	cr_assert_eq(res.additions, 0);
	cr_assert_eq(n, 100);
	sdf_diff_side_free(a);
	sdf_diff_side_free(b);
}

/* git's core.bigFileThreshold: a side over it is binary to git. */
Test(diff_side, big_files_are_binary_as_in_git)
{
	sdf_diff_lines_options o = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result res;
	dt_buf a = {0}, b = {0};

	for (int i = 0; i < 1000; i++) {
		dt_buf_addf(&a, "%d\n", i);
		dt_buf_addf(&b, "%d\n", i + 1);
	}
	cr_assert_eq(dt_diff(&res, a.p, a.len, b.p, b.len, &o), 0);
	cr_assert_not(res.binary);
	cr_assert_eq(res.additions, 1);
	/* `git -c core.bigFileThreshold=1k diff --numstat` prints "-\t-". */
	o.big_file_bytes = 1024;
	cr_assert_eq(dt_diff(&res, a.p, a.len, b.p, b.len, &o), 0);
	cr_assert(res.binary);
	cr_assert_eq(res.additions + res.deletions, 0);
	o.big_file_bytes = a.len;
	cr_assert_eq(dt_diff(&res, a.p, a.len, a.p, a.len, &o), 0);
	cr_assert_not(res.binary);
	o.big_file_bytes = SDF_DIFF_BIG_FILE_GIT;
	cr_assert_eq(dt_diff(&res, a.p, a.len, b.p, b.len, &o), 0);
	cr_assert_not(res.binary);
	dt_buf_dispose(&a);
	dt_buf_dispose(&b);
}
