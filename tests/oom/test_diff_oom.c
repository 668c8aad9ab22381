/*
 * Allocation failures in a diff (sdf_summarize, the composition the CLI
 * and the daemon share), with the cache cold and warm: two snapshots with
 * every kind of change (added, deleted, modified, a type change, an exec
 * bit, a binary file, a file over the size cap, patches under the caps).
 * For n = 1, 2, ... a child diffs with its n-th allocation failing: it
 * fails with SDF_EBUDGET, having handed out only files that are right (a
 * prefix of the real output, never presented as the whole), or it
 * succeeds with exactly the real output; nothing leaks; and a normal diff
 * right after it, on the cache it left, gives the real output again.
 */
#include "oom_util.h"
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "sdf_snapshot.h"
#include "summary.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BIG_BYTES ((size_t)640 << 10)

static char *root, *wt, *stpath;
static char tree_a[SDF_OID_HEXSZ + 1], tree_b[SDF_OID_HEXSZ + 1];

/* What a diff handed out: each file's JSON, one a line (plain malloc: the
 * test's own memory, outside the budget). */
struct output {
	char *text;
	size_t len, cap;
	sdf_diff_totals totals;
};

static struct output ref;

static void setup(void)
{
	oom_dirs_make("oom-diff", &root, &wt, &stpath);
}

static void teardown(void)
{
	oom_dirs_free(root, wt, stpath);
	free(ref.text);
}

TestSuite(diff_oom, .init = setup, .fini = teardown, .timeout = 900);

static void write_big(int turn)
{
	char *buf = malloc(BIG_BYTES);
	size_t at = 0;

	cr_assert_not_null(buf);
	for (unsigned i = 0; at < BIG_BYTES; i++) {
		int k = snprintf(buf + at, BIG_BYTES - at, "line %u%s\n", i,
		                 turn && i % 5000 == 7 ? " changed" : "");
		at += (size_t)k < BIG_BYTES - at ? (size_t)k : BIG_BYTES - at;
	}
	tu_write(wt, "big.txt", buf, BIG_BYTES, 0644);
	free(buf);
}

static void track(char out[SDF_OID_HEXSZ + 1])
{
	sdf_track_options o = SDF_TRACK_OPTIONS_INIT;
	sdf_track_result res;
	sdf_store *s;

	cr_assert_eq(sdf_store_open(&s, stpath, wt, SDF_STORE_CREATE), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(sdf_snapshot_track(&res, s, &o), 0, "%s",
	             sdf_error_last());
	sdf_store_free(s);
	memcpy(out, res.tree, SDF_OID_HEXSZ + 1);
}

/* Two snapshots, every kind of change between them. */
static void fixture(void)
{
	static const char bin_a[] = "\x01\x02\x00binary\x00one\n";
	static const char bin_b[] = "\x01\x02\x00binary\x00two\n";

	/* attributes decide too: a lookup that fails must not pass for
	 * "unspecified" */
	tu_write_str(wt, ".gitattributes", "gen.txt linguist-generated\n");
	tu_write_str(wt, "gen.txt", "generated 1\n");
	tu_write_str(wt, "mod.txt", "one\ntwo\nthree\nfour\nfive\n");
	tu_write_str(wt, "del.txt", "deleted\nlines\n");
	tu_write_str(wt, "type.txt", "a file, then a link\n");
	tu_write_str(wt, "exec.sh", "#!/bin/sh\necho hi\n");
	tu_write_str(wt, "dir/sub/deep.txt", "deep\n");
	tu_write(wt, "bin.dat", bin_a, sizeof(bin_a) - 1, 0644);
	write_big(0);
	track(tree_a);
	tu_write_str(wt, "mod.txt", "one\nTWO\nthree\nfour\nfive\nsix\n");
	tu_write_str(wt, "new.txt", "added\n");
	tu_write_str(wt, "gen.txt", "generated 2\n");
	tu_write_str(wt, "dir/sub/deep.txt", "deeper\n");
	tu_write(wt, "bin.dat", bin_b, sizeof(bin_b) - 1, 0644);
	free(tu_sh_ok("cd '%s' && rm del.txt type.txt && ln -s mod.txt "
	              "type.txt && chmod +x exec.sh",
	              wt));
	write_big(1);
	track(tree_b);
}

static void out_add(struct output *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2;
		o->text = realloc(o->text, o->cap);
		if (!o->text)
			abort();
	}
	memcpy(o->text + o->len, s, n);
	o->len += n;
	o->text[o->len] = '\0';
}

/* As the CLI's --json: each file encoded as it comes. */
static int on_file(const sdf_file_summary *f, void *payload)
{
	struct output *o = payload;
	json_t *j = sdf_api_file_json(f);
	char *text = j ? sdf_api_dumps(j) : NULL;

	json_decref(j);
	if (!text)
		return sdf_error_set(SDF_EBUDGET, "cannot encode a file");
	out_add(o, text, strlen(text));
	out_add(o, "\n", 1);
	sdf_free(text);
	return 0;
}

/*
 * The diff, with its n-th allocation failing (0: none); *reached: the
 * allocations made. The store is opened first, as the CLI does before it
 * diffs (libgit2 1.5.1 leaks when git_repository_open fails).
 */
static int diff_at(struct output *o, int no_cache, uint64_t n,
                   uint64_t *reached)
{
	sdf_summary_options opts = SDF_SUMMARY_OPTIONS_INIT;
	sdf_store *s = NULL;
	int err;

	memset(o, 0, sizeof(*o));
	*reached = 0;
	if ((err = sdf_store_open(&s, stpath, NULL, 0)) < 0)
		return err;
	/* big.txt is over it: oversized, counted but no patch */
	opts.max_file_bytes = 512 << 10;
	opts.no_cache = no_cache;
	opts.on_file = on_file;
	opts.payload = o;
	sdf_alloc_clear_failed();
	sdf_alloc_fail_at(n);
	err = sdf_summarize(&o->totals, s, NULL, tree_a, tree_b, &opts);
	*reached = sdf_alloc_count_since_arm();
	sdf_alloc_fail_at(0);
	sdf_store_free(s);
	return err;
}

static int diff(struct output *o, int no_cache)
{
	uint64_t reached;

	return diff_at(o, no_cache, 0, &reached);
}

static int same_totals(const sdf_diff_totals *a, const sdf_diff_totals *b)
{
	return a->files == b->files && a->additions == b->additions &&
	       a->deletions == b->deletions &&
	       a->binary_files == b->binary_files &&
	       a->generated_files == b->generated_files &&
	       a->oversized_files == b->oversized_files &&
	       a->estimated_files == b->estimated_files &&
	       a->patch_bytes == b->patch_bytes &&
	       a->truncated == b->truncated &&
	       a->omitted_files == b->omitted_files;
}

static int diff_child(uint64_t n, void *arg, char *msg, size_t cap)
{
	struct output o, again;
	size_t live0;
	uint64_t reached;
	int err, rc;

	(void)arg;
	oom_warm_thread();
	live0 = sdf_alloc_live();
	err = diff_at(&o, 0, n, &reached);
	oom_note("returned %d: %s\n", err, err ? sdf_error_last() : "");
	if (sdf_alloc_live() != live0) {
		snprintf(msg, cap, "leak: %zu bytes", sdf_alloc_live() - live0);
		return err == SDF_EBUDGET ? OOM_LEAK : OOM_BAD;
	}
	if (err == 0) {
		if (o.len != ref.len || memcmp(o.text, ref.text, ref.len) ||
		    !same_totals(&o.totals, &ref.totals))
			return oom_bad(msg, cap, "a success that lies:\n%s",
			               o.text ? o.text : "");
		rc = reached >= n ? OOM_ABSORBED : OOM_DONE;
	} else {
		if (err != SDF_EBUDGET)
			return oom_bad(msg, cap, "code %d (%s): %s", err,
			               sdf_error_name(err), sdf_error_last());
		if (reached < n)
			return oom_bad(msg, cap, "failed without a failure");
		if (o.len > ref.len ||
		    (o.len && memcmp(o.text, ref.text, o.len)))
			return oom_bad(msg, cap,
			               "wrong files before failing:\n%s",
			               o.text);
		rc = OOM_FAILED;
	}
	free(o.text);
	/* the cache that attempt left serves a normal diff right */
	if ((err = diff(&again, 0)) < 0)
		return oom_bad(msg, cap, "the next diff: %s", sdf_error_last());
	if (again.len != ref.len || memcmp(again.text, ref.text, ref.len) ||
	    !same_totals(&again.totals, &ref.totals))
		return oom_bad(msg, cap, "the next diff differs:\n%s",
		               again.text);
	free(again.text);
	return rc;
}

/*
 * A leak that is libgit2's (see oom_libgit2_leak_site): the diff returns
 * SDF_EBUDGET cleanly, and the next one is right.
 */
static int libgit2_leak(const oom_child *c)
{
	return strncmp(c->msg, "returned -2: ", 13) == 0 &&
	       oom_libgit2_leak_site(c->msg + 13);
}

/* Runs the loop; cold: the cache is emptied before each n. */
static void loop(int cold)
{
	char *cache = tu_path(stpath, "snapdiff-cache");
	uint64_t n, step = oom_stride();
	oom_tally t = {0};
	struct timespec t0, t1;
	oom_child c;
	int st = -1;

	fixture();
	cr_assert_eq(diff(&ref, 1), 0, "%s", sdf_error_last());
	cr_assert_eq(ref.totals.files, 9, "%s", ref.text);
	cr_assert_eq(ref.totals.generated_files, 1);
	cr_assert_eq(ref.totals.oversized_files, 1);
	cr_assert_eq(ref.totals.binary_files, 1);
	cr_assert_gt(ref.totals.patch_bytes, 0);
	if (!cold) {
		struct output warm;
		cr_assert_eq(diff(&warm, 0), 0, "%s", sdf_error_last());
		free(warm.text);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (n = oom_first(); n < 1000000; n += step) {
		if (cold)
			tu_rm_rf(cache);
		oom_fork(&c, diff_child, n, NULL);
		if ((st = oom_judge(&t, &c, n, "diff", libgit2_leak)) ==
		    OOM_DONE)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(st, OOM_DONE, "never succeeded");
	cr_assert_gt(t.failed, 20);
	cr_assert_eq(t.crashes, 0, "libgit2 crashed (see the log)");
	cr_log_info(
	    "diff (%s cache): %llu failure points injected (every "
	    "%llu-th of %llu allocations): %llu clean failures, %llu "
	    "absorbed, %llu libgit2 crashes, %llu libgit2 leaks, %.1f s",
	    cold ? "cold" : "warm", (unsigned long long)oom_points(&t),
	    (unsigned long long)step, (unsigned long long)n - 1,
	    (unsigned long long)t.failed, (unsigned long long)t.absorbed,
	    (unsigned long long)t.crashes, (unsigned long long)t.leaks,
	    (double)(t1.tv_sec - t0.tv_sec) +
	        (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(cache);
}

Test(diff_oom, cold_cache)
{
	loop(1);
}

Test(diff_oom, warm_cache)
{
	loop(0);
}
