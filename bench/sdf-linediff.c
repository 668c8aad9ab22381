/*
 * sdf-linediff OLD NEW: prints "ADD\tDEL" as `git diff --numstat` would
 * ("-\t-" for binary), then on stderr whether the counts are exact, the
 * wall time, the allocator's peak and the process's peak RSS.
 *
 *	sdf-linediff [--budget SIZE] [--spill-dir DIR] [--ranges]
 *	             [--big-file SIZE] OLD NEW
 *
 * --big-file is git's core.bigFileThreshold: files over it are binary to
 * git. 512M (git's default) unless given; 0 counts lines whatever the size.
 *
 * --ranges also prints each change as "@@ -START,COUNT +START,COUNT" with
 * git's 1-based line numbers (as `git diff -U0` would number them).
 *
 * The two sides are streamed on two threads.
 */
#include "sdf_alloc.h"
#include "sdf_diff.h"
#include "sdf_error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (256u << 10)

typedef struct {
	const char *path;
	const char *spill_dir;
	sdf_diff_side *side;
	int rc;
	char err[SDF_ERROR_MSG_MAX];
} feeder;

static void *feed_file(void *arg)
{
	feeder *f = arg;
	sdf_diff_side_options so = SDF_DIFF_SIDE_OPTIONS_INIT;
	unsigned char *buf = NULL;
	int fd = -1;
	ssize_t n;

	so.spill_dir = f->spill_dir;
	f->rc = sdf_diff_side_new(&f->side, &so);
	if (f->rc < 0)
		goto done;
	buf = sdf_malloc(READ_CHUNK);
	if (!buf) {
		f->rc = SDF_EBUDGET;
		goto done;
	}
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		f->rc = sdf_error_set_errno(SDF_EIO, errno, "%s", f->path);
		goto done;
	}
	while ((n = read(fd, buf, READ_CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			f->rc =
			    sdf_error_set_errno(SDF_EIO, errno, "%s", f->path);
			goto done;
		}
		if ((f->rc = sdf_diff_side_feed(f->side, buf, (size_t)n)) < 0)
			goto done;
	}
	f->rc = sdf_diff_side_finish(f->side);
done:
	if (f->rc < 0)
		snprintf(f->err, sizeof(f->err), "%s", sdf_error_last());
	if (fd >= 0)
		close(fd);
	sdf_free(buf);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *to)
{
	fprintf(to, "usage: sdf-linediff [--budget SIZE] [--spill-dir DIR] "
	            "[--ranges] [--big-file SIZE] OLD NEW\n");
}

/* git's numbering: a range of 0 lines is named by the line before it. */
static int print_range(const sdf_diff_range *r, void *payload)
{
	(void)payload;
	printf("@@ -%llu,%llu +%llu,%llu\n",
	       (unsigned long long)(r->old_start + (r->old_count ? 1 : 0)),
	       (unsigned long long)r->old_count,
	       (unsigned long long)(r->new_start + (r->new_count ? 1 : 0)),
	       (unsigned long long)r->new_count);
	return 0;
}

int main(int argc, char **argv)
{
	sdf_diff_lines_options lo = SDF_DIFF_LINES_OPTIONS_INIT;
	sdf_diff_lines_result res;
	feeder f[2];
	pthread_t th[2];
	struct rusage ru;
	const char *dir = NULL;
	int big_set = 0;
	double t0 = now();
	int i, rc = 0;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--budget") && i + 1 < argc) {
			if (sdf_parse_size(argv[++i], &lo.work_budget)) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--big-file") && i + 1 < argc) {
			size_t big;

			if (sdf_parse_size(argv[++i], &big)) {
				usage(stderr);
				return 2;
			}
			lo.big_file_bytes = big ? big : UINT64_MAX;
			big_set = 1;
		} else if (!strcmp(argv[i], "--ranges")) {
			lo.range_cb = print_range;
		} else if (!strcmp(argv[i], "--spill-dir") && i + 1 < argc) {
			dir = argv[++i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (argc - i != 2) {
		usage(stderr);
		return 2;
	}
	lo.spill_dir = dir;
	if (!big_set)
		lo.big_file_bytes = SDF_DIFF_BIG_FILE_GIT;
	memset(f, 0, sizeof(f));
	for (int s = 0; s < 2; s++) {
		f[s].path = argv[i + s];
		f[s].spill_dir = dir;
		if (pthread_create(&th[s], NULL, feed_file, &f[s])) {
			fprintf(stderr,
			        "sdf-linediff: cannot start a thread\n");
			return 1;
		}
	}
	for (int s = 0; s < 2; s++)
		pthread_join(th[s], NULL);
	for (int s = 0; s < 2; s++) {
		if (f[s].rc < 0) {
			fprintf(stderr, "sdf-linediff: %s\n", f[s].err);
			rc = 1;
		}
	}
	if (lo.range_cb)
		printf("ranges\n");
	if (rc == 0 && sdf_diff_lines(&res, f[0].side, f[1].side, &lo) < 0) {
		fprintf(stderr, "sdf-linediff: %s\n", sdf_error_last());
		rc = 1;
	}
	if (rc == 0) {
		if (res.binary)
			printf("-\t-\n");
		else
			printf("%llu\t%llu\n",
			       (unsigned long long)res.additions,
			       (unsigned long long)res.deletions);
		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr,
		        "exact %d  time %.3f s  alloc peak %.1f MiB  "
		        "peak RSS %.1f MiB\n",
		        res.exact, now() - t0,
		        (double)sdf_alloc_peak() / (1 << 20),
		        (double)ru.ru_maxrss / 1024);
	}
	sdf_diff_side_free(f[0].side);
	sdf_diff_side_free(f[1].side);
	return rc;
}
