/*
 * Peak memory on large pairs, in a child process (its ru_maxrss), with the
 * counts checked against git. The two shapes of the seed repro: every line
 * rewritten, and a regeneration where about 1% of the lines change.
 */
#include "diff_util.h"
#include "sdf_alloc.h"
#include "sdf_diff.h"
#include "sdf_error.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define LARGE_MIB 64
/* The whole child process, libc and the test runner's pages included. */
#define RSS_CAP_KB (24 * 1024)

/* Sanitizers' shadow memory says nothing about ours: no cap then. */
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_RSS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECK_RSS 0
#endif
#endif
#ifndef CHECK_RSS
#define CHECK_RSS 1
#endif

/* Writes about mib MiB of one shape; turn 1 is the old side. */
static void generate(const char *path, int shape, int turn, size_t mib)
{
	FILE *f = fopen(path, "w");
	size_t target = mib << 20, total = 0;
	dt_rng rng, edit;

	cr_assert_not_null(f);
	dt_rng_seed(&rng, (uint64_t)turn * 1000 + (uint64_t)shape);
	dt_rng_seed(&edit, (uint64_t)turn);
	for (size_t i = 0; total < target; i++) {
		char line[128];
		int n;

		if (shape == 0) {
			n = snprintf(line, sizeof(line),
			             "turn %d line %08zu %016llx\n", turn, i,
			             (unsigned long long)dt_rng_next(&rng));
		} else {
			uint64_t r = dt_rng_below(&edit, 10000);

			if (i % 13 == 0)
				n = snprintf(line, sizeof(line), "\n");
			else if (i % 29 == 0)
				n = snprintf(line, sizeof(line), "  }\n");
			else
				n = snprintf(line, sizeof(line),
				             "  entry_%08zu: value %zu\n", i,
				             i * 7 % 1000);
			if (turn > 1) {
				if (r < 40) {
					n = snprintf(line, sizeof(line),
					             "  entry_%08zu: turn %d\n",
					             i, turn);
				} else if (r < 70) {
					total += (size_t)fprintf(
					    f, "  inserted %zu\n", i);
				} else if (r < 100) {
					continue;
				} else if (r < 105) {
					n = snprintf(line, sizeof(line), "\n");
				}
			}
		}
		cr_assert(fwrite(line, 1, (size_t)n, f) == (size_t)n);
		total += (size_t)n;
	}
	cr_assert_eq(fclose(f), 0);
}

typedef struct {
	unsigned long long add, del;
	int exact;
	long maxrss_kb;
} child_result;

/* Streams both files into sides and diffs them, in a fresh child. */
static void child_diff(child_result *out, const char *a, const char *b)
{
	int p[2], st = 0;
	struct rusage ru;
	pid_t pid;
	char msg[128] = {0};

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		const char *path[2] = {a, b};
		sdf_diff_side *side[2] = {NULL, NULL};
		sdf_diff_lines_result res;
		static char buf[256 << 10];
		int rc = 0;

		close(p[0]);
		for (int s = 0; s < 2 && rc == 0; s++) {
			int fd = open(path[s], O_RDONLY);
			ssize_t n;

			rc = fd < 0 ? -1 : sdf_diff_side_new(&side[s], NULL);
			while (rc == 0 && (n = read(fd, buf, sizeof(buf))) > 0)
				rc =
				    sdf_diff_side_feed(side[s], buf, (size_t)n);
			if (rc == 0)
				rc = sdf_diff_side_finish(side[s]);
			if (fd >= 0)
				close(fd);
		}
		if (rc == 0)
			rc = sdf_diff_lines(&res, side[0], side[1], NULL);
		if (rc == 0)
			snprintf(msg, sizeof(msg), "%llu %llu %d",
			         (unsigned long long)res.additions,
			         (unsigned long long)res.deletions, res.exact);
		else
			snprintf(msg, sizeof(msg), "error %d %s", rc,
			         sdf_error_last());
		if (write(p[1], msg, strlen(msg)) < 0)
			_exit(2);
		_exit(rc == 0 ? 0 : 1);
	}
	close(p[1]);
	ssize_t n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR)
		;
	cr_assert(n > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "child failed: %s", msg);
	cr_assert_eq(
	    sscanf(msg, "%llu %llu %d", &out->add, &out->del, &out->exact), 3);
	out->maxrss_kb = ru.ru_maxrss;
}

static void check_shape(int shape, size_t old_mib, size_t new_mib)
{
	char *dir = tu_mkdtemp("diff-large");
	char *a = tu_path(dir, "old"), *b = tu_path(dir, "new");
	child_result got;
	uint64_t add, del;

	generate(a, shape, 1, old_mib);
	generate(b, shape, 2, new_mib);
	child_diff(&got, a, b);
	cr_assert_eq(dt_git_numstat(dir, "old", "new", &add, &del), 0);
	cr_log_info("shape %d: %llu %llu, peak RSS %ld KiB", shape, got.add,
	            got.del, got.maxrss_kb);
	cr_assert(got.exact);
	cr_assert(got.add == add && got.del == del,
	          "git %llu %llu, ours %llu %llu", (unsigned long long)add,
	          (unsigned long long)del, got.add, got.del);
	cr_assert_gt(add + del, 0);
	if (CHECK_RSS)
		cr_assert_leq(got.maxrss_kb, RSS_CAP_KB, "peak RSS %ld KiB",
		              got.maxrss_kb);
	tu_rm_rf(dir);
	free(a);
	free(b);
	free(dir);
}

Test(diff_large, every_line_rewritten, .timeout = 300)
{
	check_shape(0, LARGE_MIB, LARGE_MIB * 3 / 4);
}

Test(diff_large, one_percent_changed, .timeout = 300)
{
	check_shape(1, LARGE_MIB, LARGE_MIB);
}
