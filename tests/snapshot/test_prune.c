/*
 * Retention, pins, prune and du through the library: expiry by count, age
 * and bytes with pinned and newest snapshots kept, the grace period, the
 * index as a root, temporary files, dry runs and allocation failures.
 */
#define _GNU_SOURCE
#include "sdf_alloc.h"
#include "sdf_error.h"
#include "sdf_snapshot.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *wt, *stdir, *stpath;
static sdf_store *st;

static void setup(void)
{
	cr_assert_eq(sdf_snapshot_global_init(), 0, "%s", sdf_error_last());
	wt = tu_mkdtemp("pr-wt");
	stdir = tu_mkdtemp("pr-st");
	stpath = tu_path(stdir, "store");
	umask(022);
	cr_assert_eq(sdf_store_open(&st, stpath, wt, SDF_STORE_CREATE), 0, "%s",
	             sdf_error_last());
}

static void teardown(void)
{
	sdf_store_free(st);
	st = NULL;
	tu_rm_rf(wt);
	tu_rm_rf(stdir);
	free(wt);
	free(stdir);
	free(stpath);
}

TestSuite(prune, .init = setup, .fini = teardown, .timeout = 300);

static int sh_status(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static int sh_status(const char *fmt, ...)
{
	tu_result r;
	va_list ap;
	char *cmd;
	int status;

	va_start(ap, fmt);
	cmd = tu_vformat(fmt, ap);
	va_end(ap);
	status = tu_sh(&r, "%s", cmd);
	tu_result_dispose(&r);
	free(cmd);
	return status;
}

/* git fsck: nothing missing, broken or strange. */
static void fsck(void)
{
	tu_result r;

	cr_assert_eq(
	    tu_sh(&r, "git --git-dir='%s' fsck --no-dangling --strict", stpath),
	    0, "fsck: %s%s", r.out, r.err);
	tu_result_dispose(&r);
}

static int has_object(const char *hex)
{
	return sh_status("git --git-dir='%s' cat-file -e %s", stpath, hex) == 0;
}

/* The blob id of content, as git would store it. */
static char *blob_id(const char *content)
{
	return tu_sh_ok_last("printf '%%s' '%s' | git hash-object --stdin",
	                     content);
}

static void track(sdf_track_result *res, const char *label)
{
	sdf_track_options o = SDF_TRACK_OPTIONS_INIT;

	o.label = label;
	cr_assert_eq(sdf_snapshot_track(res, st, &o), 0, "%s",
	             sdf_error_last());
}

/* A turn: a file unique to it, a file every turn shares. */
static void turn(int i, sdf_track_result *res)
{
	char name[32], body[64], label[32];

	snprintf(name, sizeof(name), "only-%d.txt", i);
	snprintf(body, sizeof(body), "turn %d only\n", i);
	tu_write_str(wt, name, body);
	tu_write_str(wt, "shared/all.txt", "in every turn\n");
	if (i > 0) { /* the previous turn's file goes */
		char *p;
		snprintf(name, sizeof(name), "only-%d.txt", i - 1);
		p = tu_path(wt, name);
		unlink(p);
		free(p);
	}
	snprintf(label, sizeof(label), "t%d", i);
	track(res, label);
}

static void prune(sdf_prune_result *res, uint32_t days, uint32_t count,
                  uint64_t bytes, int64_t grace)
{
	sdf_retention pol = {days, count, bytes, grace};
	sdf_prune_options o = SDF_PRUNE_OPTIONS_INIT;

	o.policy = &pol;
	cr_assert_eq(sdf_store_prune(res, st, &o), 0, "%s", sdf_error_last());
}

static size_t log_count(void)
{
	sdf_snapshot_info *list;
	size_t n;

	cr_assert_eq(sdf_snapshot_log(&list, &n, st), 0, "%s",
	             sdf_error_last());
	sdf_snapshot_log_free(list, n);
	return n;
}

static int has_snapshot(const char *id)
{
	sdf_snapshot_info *list;
	size_t n;
	int found = 0;

	cr_assert_eq(sdf_snapshot_log(&list, &n, st), 0);
	for (size_t i = 0; i < n; i++)
		found |= !strcmp(list[i].id, id);
	sdf_snapshot_log_free(list, n);
	return found;
}

/* ---- policy ------------------------------------------------------------ */

Test(prune, policy_lives_in_the_store_config)
{
	sdf_retention p, q = {7, 50, (uint64_t)2 << 30, 600};
	int64_t d;
	char *v;

	cr_assert_eq(sdf_retention_get(&p, st), 0);
	cr_assert_eq(p.keep_days, 0);
	cr_assert_eq(p.keep_count, 0);
	cr_assert_eq(p.max_bytes, 0);
	cr_assert_eq(p.grace_seconds, SDF_PRUNE_GRACE_DEFAULT);
	cr_assert_eq(sdf_retention_set(st, &q), 0, "%s", sdf_error_last());
	cr_assert_eq(sdf_retention_get(&p, st), 0);
	cr_assert_eq(memcmp(&p, &q, sizeof(p)), 0);
	v = tu_sh_ok_last("git --git-dir='%s' config snapdiff.keepCount",
	                  stpath);
	cr_assert_str_eq(v, "50");
	free(v);
	/* stock git writes it too, with git's suffixes */
	tu_sh_ok_last("git --git-dir='%s' config snapdiff.maxBytes 3g && "
	              "git --git-dir='%s' config snapdiff.pruneGrace 2h",
	              stpath, stpath);
	cr_assert_eq(sdf_retention_get(&p, st), 0, "%s", sdf_error_last());
	cr_assert_eq(p.max_bytes, (uint64_t)3 << 30);
	cr_assert_eq(p.grace_seconds, 7200);
	/* zero limits unset their keys */
	q.keep_days = q.keep_count = 0;
	q.max_bytes = 0;
	q.grace_seconds = SDF_PRUNE_GRACE_DEFAULT;
	cr_assert_eq(sdf_retention_set(st, &q), 0);
	cr_assert_neq(
	    sh_status("git --git-dir='%s' config snapdiff.keepCount", stpath),
	    0);
	tu_sh_ok_last("git --git-dir='%s' config snapdiff.pruneGrace soon",
	              stpath);
	cr_assert_eq(sdf_retention_get(&p, st), SDF_EINVAL);

	cr_assert_eq(sdf_parse_duration("0", &d), 0);
	cr_assert_eq(d, 0);
	cr_assert_eq(sdf_parse_duration("90s", &d), 0);
	cr_assert_eq(d, 90);
	cr_assert_eq(sdf_parse_duration("30m", &d), 0);
	cr_assert_eq(d, 1800);
	cr_assert_eq(sdf_parse_duration("7d", &d), 0);
	cr_assert_eq(d, 7 * 86400);
	cr_assert_lt(sdf_parse_duration("-1", &d), 0);
	cr_assert_lt(sdf_parse_duration("1w", &d), 0);
	cr_assert_lt(sdf_parse_duration("1hh", &d), 0);
	cr_assert_lt(sdf_parse_duration("", &d), 0);
}

/* ---- expiry ------------------------------------------------------------ */

Test(prune, keep_count_keeps_pinned_and_newest)
{
	sdf_track_result t[6];
	sdf_prune_result res;
	char *only[6];
	size_t n;

	for (int i = 0; i < 6; i++) {
		char body[64];
		turn(i, &t[i]);
		snprintf(body, sizeof(body), "turn %d only\n", i);
		only[i] = blob_id(body);
		cr_assert(has_object(only[i]));
	}
	cr_assert_eq(sdf_snapshot_pin(&n, st, "t1", 1), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(n, 1);
	cr_assert_eq(sdf_snapshot_is_pinned(st, t[1].id), 1);
	cr_assert_eq(sdf_snapshot_pin(&n, st, "no-such-label", 1),
	             SDF_ENOTFOUND);

	prune(&res, 0, 2, 0, 0);
	cr_assert_eq(res.snapshots, 6);
	cr_assert_eq(res.expired, 3, "expired %zu", res.expired);
	cr_assert_eq(res.pinned, 1);
	cr_assert_eq(log_count(), 3);
	cr_assert(has_snapshot(t[1].id) && has_snapshot(t[4].id) &&
	          has_snapshot(t[5].id));
	for (int i = 0; i < 6; i++) {
		int kept = i == 1 || i >= 4;
		cr_assert_eq(has_object(only[i]), kept, "turn %d's blob", i);
		cr_assert_eq(has_object(t[i].tree), kept, "turn %d's tree", i);
	}
	cr_assert(has_object(tu_sh_ok_last("printf 'in every turn\\n' | "
	                                   "git hash-object --stdin")));
	cr_assert_geq(res.objects_deleted, 6); /* 3 blobs, 3 trees, 3 commits */
	fsck();

	/* keep-count 1: only the newest and the pin */
	prune(&res, 0, 1, 0, 0);
	cr_assert_eq(log_count(), 2);
	/* unpinned, it goes too */
	cr_assert_eq(sdf_snapshot_pin(&n, st, t[1].id, 0), 0);
	cr_assert_eq(n, 1);
	prune(&res, 0, 1, 0, 0);
	cr_assert_eq(log_count(), 1);
	cr_assert(has_snapshot(t[5].id));
	cr_assert_not(has_object(only[1]));
	fsck();
	for (int i = 0; i < 6; i++)
		free(only[i]);
}

/* A snapshot as an older snapdiff would have recorded it days ago. */
static void old_snapshot(const char *id, int days_ago, const char *content,
                         char **blob)
{
	char *tree, *commit;

	*blob = tu_sh_ok_last(
	    "printf '%%s' '%s' | git --git-dir='%s' hash-object -w "
	    "--stdin",
	    content, stpath);
	tree = tu_sh_ok_last("printf '100644 blob %s\\told.txt\\n' | "
	                     "git --git-dir='%s' mktree",
	                     *blob, stpath);
	commit = tu_sh_ok_last(
	    "GIT_COMMITTER_DATE=\"$(date -d '%d days ago' +%%s) "
	    "+0000\" GIT_AUTHOR_DATE=\"$(date -d '%d days ago' "
	    "+%%s) +0000\" git --git-dir='%s' -c user.name=snapdiff "
	    "-c user.email=snapdiff@localhost commit-tree %s -m "
	    "'snapdiff snapshot' -m 'id: %s'",
	    days_ago, days_ago, stpath, tree, id);
	tu_sh_ok_last(
	    "git --git-dir='%s' update-ref refs/snapdiff/snapshots/%s %s",
	    stpath, id, commit);
	/* the objects are as old as the snapshot */
	tu_sh_ok_last(
	    "cd '%s/objects' && touch -d '%d days ago' %.2s/%s %.2s/%s %.2s/%s",
	    stpath, days_ago, *blob, *blob + 2, tree, tree + 2, commit,
	    commit + 2);
	free(tree);
	free(commit);
}

Test(prune, keep_days_expires_by_age_keeps_pins)
{
	sdf_track_result a, b;
	sdf_prune_result res;
	char *b20, *b10, *b3;
	size_t n;

	old_snapshot("20200101T000000.000000000Z", 20, "twenty\n", &b20);
	old_snapshot("20200201T000000.000000000Z", 10, "ten\n", &b10);
	old_snapshot("20200301T000000.000000000Z", 3, "three\n", &b3);
	turn(0, &a);
	turn(1, &b);
	cr_assert_eq(log_count(), 5);
	cr_assert_eq(sdf_snapshot_pin(&n, st, "20200101T000000.000000000Z", 1),
	             0);
	/* the default grace: the old objects are older than it */
	prune(&res, 7, 0, 0, SDF_PRUNE_GRACE_DEFAULT);
	cr_assert_eq(res.expired, 1);
	cr_assert_eq(log_count(), 4);
	cr_assert_not(has_snapshot("20200201T000000.000000000Z"));
	cr_assert(has_object(b20)); /* pinned */
	cr_assert_not(has_object(b10));
	cr_assert(has_object(b3));
	fsck();
	/* keep-days 1: everything old but the pin goes, the new stay */
	prune(&res, 1, 0, 0, SDF_PRUNE_GRACE_DEFAULT);
	cr_assert_eq(log_count(), 3);
	cr_assert_not(has_object(b3));
	cr_assert(has_snapshot(a.id) && has_snapshot(b.id));
	fsck();
	free(b20);
	free(b10);
	free(b3);
}

static uint64_t disk_bytes(void)
{
	char *v = tu_sh_ok_last("find '%s' -printf '%%b\\n' | awk '{s+=$1} END "
	                        "{printf \"%%d\\n\", s*512}'",
	                        stpath);
	uint64_t b = strtoull(v, NULL, 10);

	free(v);
	return b;
}

Test(prune, max_bytes_expires_oldest_first_until_under)
{
	sdf_track_result t[10];
	sdf_prune_result res;
	sdf_store_usage u;
	sdf_snapshot_info *list;
	size_t n;
	const uint64_t quota = 1536 * 1024;

	for (int i = 0; i < 10; i++) {
		char label[16];
		tu_sh_ok_last("head -c 196608 /dev/urandom > '%s/big.bin'", wt);
		snprintf(label, sizeof(label), "t%d", i);
		track(&t[i], label);
	}
	cr_assert_eq(sdf_snapshot_pin(&n, st, "t2", 1), 0);
	cr_assert_gt(disk_bytes(), quota);
	prune(&res, 0, 0, quota, 0);
	cr_assert_eq(res.over_quota, 0);
	cr_assert_leq(res.bytes_after, quota, "%llu",
	              (unsigned long long)res.bytes_after);
	cr_assert_eq(disk_bytes(), res.bytes_after);
	cr_assert_eq(sdf_store_du(&u, st), 0);
	cr_assert_eq(u.bytes, res.bytes_after);
	cr_assert_gt(res.expired, 0);
	/* what is left: the pin and the newest turns, none in between gone */
	cr_assert_eq(sdf_snapshot_log(&list, &n, st), 0);
	cr_assert_eq(n, 10 - res.expired);
	cr_assert_str_eq(list[0].id, t[2].id);
	for (size_t i = 1; i < n; i++)
		cr_assert_str_eq(list[i].id, t[10 - (n - i)].id);
	sdf_snapshot_log_free(list, n);
	fsck();
	/* a quota nothing can meet: all but the pin and the newest go */
	prune(&res, 0, 0, 4096, 0);
	cr_assert_eq(res.over_quota, 1);
	cr_assert_eq(log_count(), 2);
	cr_assert(has_snapshot(t[2].id) && has_snapshot(t[9].id));
	fsck();
}

/*
 * Over the quota within the grace period: the same snapshots expire as they
 * would later (young objects weigh like old ones), nothing is deleted yet,
 * and the next prune after the grace frees them.
 */
Test(prune, max_bytes_inside_the_grace_expires_no_more)
{
	sdf_track_result t[8];
	sdf_prune_result res;
	const uint64_t quota = 1536 * 1024;
	size_t left;

	for (int i = 0; i < 8; i++) {
		tu_sh_ok_last("head -c 196608 /dev/urandom > '%s/big.bin'", wt);
		track(&t[i], NULL);
	}
	prune(&res, 0, 0, quota, SDF_PRUNE_GRACE_DEFAULT);
	cr_assert_gt(res.expired, 0);
	cr_assert_lt(res.expired, 7, "every snapshot but the newest expired");
	cr_assert_eq(res.objects_deleted, 0);
	cr_assert_gt(res.objects_young, 0);
	cr_assert_eq(res.over_quota, 1);
	left = log_count();
	fsck();
	/* an hour later */
	tu_sh_ok_last(
	    "find '%s/objects' -type f -exec touch -d '2 hours ago' {} +",
	    stpath);
	prune(&res, 0, 0, quota, SDF_PRUNE_GRACE_DEFAULT);
	cr_assert_eq(res.expired, 0);
	cr_assert_eq(log_count(), left);
	cr_assert_gt(res.objects_deleted, 0);
	cr_assert_eq(res.over_quota, 0);
	cr_assert_leq(disk_bytes(), quota);
	cr_assert(has_snapshot(t[7].id));
	fsck();
}

/* ---- what is deleted, what is kept --------------------------------------- */

Test(prune, unreachable_objects_go_after_the_grace)
{
	sdf_track_result t;
	sdf_prune_result res;
	char *junk;

	turn(0, &t);
	junk = tu_sh_ok_last(
	    "printf 'nobody wants me' | git --git-dir='%s' hash-object "
	    "-w --stdin",
	    stpath);
	prune(&res, 0, 0, 0, SDF_PRUNE_GRACE_DEFAULT);
	cr_assert(has_object(junk), "a young object was deleted");
	cr_assert_eq(res.objects_young, 1);
	cr_assert_eq(res.objects_deleted, 0);
	tu_sh_ok_last("touch -d '2 hours ago' '%s/objects/%.2s/%s'", stpath,
	              junk, junk + 2);
	prune(&res, 0, 0, 0, SDF_PRUNE_GRACE_DEFAULT);
	cr_assert_not(has_object(junk));
	cr_assert_eq(res.objects_deleted, 1);
	/* grace 0: at once */
	free(junk);
	junk = tu_sh_ok_last(
	    "printf 'me neither' | git --git-dir='%s' hash-object -w "
	    "--stdin",
	    stpath);
	prune(&res, 0, 0, 0, 0);
	cr_assert_not(has_object(junk));
	cr_assert(has_object(t.tree));
	fsck();
	free(junk);
}

Test(prune, the_index_keeps_what_the_next_track_reuses)
{
	sdf_track_result a, b;
	sdf_prune_result res;
	char *sub, *blob;

	tu_write_str(wt, "a/b/c.txt", "deep\n");
	tu_write_str(wt, "d.txt", "top\n");
	track(&a, NULL);
	sub = tu_sh_ok_last("git --git-dir='%s' rev-parse %s:a/b", stpath,
	                    a.tree);
	blob = blob_id("deep\n");
	/* no ref keeps the snapshot any more: only the index */
	tu_sh_ok_last("git --git-dir='%s' for-each-ref --format='%%(refname)' "
	              "refs/snapdiff | while read r; do "
	              "git --git-dir='%s' update-ref -d \"$r\"; done",
	              stpath, stpath);
	cr_assert_eq(log_count(), 0);
	cr_assert_eq(sh_status("grep -q TREE '%s/index'", stpath), 0,
	             "no cache tree in the index");
	prune(&res, 0, 0, 0, 0);
	cr_assert_gt(res.objects_deleted, 0); /* the commit */
	cr_assert(has_object(blob));
	cr_assert(has_object(sub), "a cached tree was deleted");
	cr_assert(has_object(a.tree));
	/* the next track trusts both; its snapshot is whole */
	tu_write_str(wt, "e.txt", "new\n");
	track(&b, NULL);
	fsck();
	cr_assert_eq(sh_status("git --git-dir='%s' ls-tree -r %s >/dev/null",
	                       stpath, b.tree),
	             0);
	free(sub);
	free(blob);
}

/* A ref straight to a large blob: kept, and only its header is read. */
Test(prune, a_ref_to_a_blob_keeps_it_unread)
{
	sdf_track_result t;
	sdf_prune_result res;
	size_t limit = sdf_alloc_limit();
	char *blob;

	turn(0, &t);
	blob =
	    tu_sh_ok_last("head -c 33554432 /dev/urandom | git --git-dir='%s' "
	                  "hash-object -w --stdin",
	                  stpath);
	tu_sh_ok_last("git --git-dir='%s' update-ref refs/tags/a-blob %s",
	              stpath, blob);
	sdf_alloc_set_limit(sdf_alloc_live() + (8u << 20));
	prune(&res, 0, 0, 0, 0);
	sdf_alloc_set_limit(limit);
	cr_assert(has_object(blob));
	cr_assert(has_object(t.tree));
	tu_sh_ok_last("git --git-dir='%s' update-ref -d refs/tags/a-blob",
	              stpath);
	prune(&res, 0, 0, 0, 0);
	cr_assert_not(has_object(blob));
	fsck();
	free(blob);
}

static void write_old(const char *rel, const char *age)
{
	tu_write_str(stpath, rel, "stale");
	tu_sh_ok_last("touch -d '%s' '%s/%s'", age, stpath, rel);
}

static int store_has(const char *rel)
{
	char *p = tu_path(stpath, rel);
	int ok = access(p, F_OK) == 0;

	free(p);
	return ok;
}

Test(prune, stale_temporary_files_go)
{
	sdf_track_result t;
	sdf_prune_result res;

	turn(0, &t);
	write_old("objects/tmp_object_git2_AbCdEf", "2 hours ago");
	write_old("objects/ab/0123456789_git2_XyZ", "2 hours ago");
	write_old("refs/snapdiff/head.lock", "2 hours ago");
	write_old("info/exclude.snapdiff-tmp", "2 hours ago");
	write_old("packed-refs.lock", "2 hours ago");
	write_old("index.lock", "now");
	write_old("objects/tmp_object_git2_fresh", "now");
	prune(&res, 0, 0, 0, SDF_PRUNE_GRACE_DEFAULT);
	cr_assert_eq(res.temp_deleted, 6, "%llu",
	             (unsigned long long)res.temp_deleted);
	cr_assert_not(store_has("objects/tmp_object_git2_AbCdEf"));
	cr_assert_not(store_has("objects/ab/0123456789_git2_XyZ"));
	cr_assert_not(store_has("refs/snapdiff/head.lock"));
	cr_assert_not(store_has("info/exclude.snapdiff-tmp"));
	cr_assert_not(store_has("packed-refs.lock"));
	cr_assert_not(store_has("index.lock"));
	cr_assert(store_has("objects/tmp_object_git2_fresh"));
	cr_assert(store_has("snapdiff.lock"));
	cr_assert(store_has("index"));
	/* the head can move again */
	tu_write_str(wt, "more.txt", "more\n");
	track(&t, NULL);
	fsck();
}

static char *listing(void)
{
	tu_result r;
	char *out;

	cr_assert_eq(tu_sh(&r,
	                   "cd '%s' && find . -printf '%%p %%s %%T@\\n' | "
	                   "LC_ALL=C sort",
	                   stpath),
	             0);
	out = r.out;
	r.out = NULL;
	tu_result_dispose(&r);
	return out;
}

struct names {
	int n;
	char reasons[8][16];
};

static void on_expired(const sdf_snapshot_info *s, const char *reason,
                       void *payload)
{
	struct names *nm = payload;

	(void)s;
	if (nm->n < 8)
		snprintf(nm->reasons[nm->n], sizeof(nm->reasons[0]), "%s",
		         reason);
	nm->n++;
}

Test(prune, dry_run_changes_nothing_and_predicts)
{
	sdf_track_result t;
	sdf_prune_result dry, real;
	sdf_retention pol = {0, 2, 0, 0};
	sdf_prune_options o = SDF_PRUNE_OPTIONS_INIT;
	struct names nm = {0};
	char *before, *after;

	for (int i = 0; i < 5; i++)
		turn(i, &t);
	before = listing();
	o.policy = &pol;
	o.flags = SDF_PRUNE_DRY_RUN;
	o.expired = on_expired;
	o.payload = &nm;
	cr_assert_eq(sdf_store_prune(&dry, st, &o), 0, "%s", sdf_error_last());
	after = listing();
	cr_assert_str_eq(before, after);
	cr_assert_eq(nm.n, 3);
	cr_assert_str_eq(nm.reasons[0], "keep-count");
	o.flags = 0;
	cr_assert_eq(sdf_store_prune(&real, st, &o), 0);
	cr_assert_eq(real.expired, dry.expired);
	cr_assert_eq(real.objects_deleted, dry.objects_deleted);
	cr_assert_eq(real.bytes_deleted, dry.bytes_deleted);
	cr_assert_leq(real.bytes_after, dry.bytes_after); /* + empty dirs */
	free(before);
	free(after);
	fsck();
}

/* ---- du ------------------------------------------------------------------ */

Test(prune, du_matches_the_filesystem)
{
	sdf_track_result t;
	sdf_store_usage u;
	char *v;

	for (int i = 0; i < 4; i++)
		turn(i, &t);
	cr_assert_eq(sdf_store_du(&u, st), 0, "%s", sdf_error_last());
	cr_assert_eq(u.bytes, disk_bytes());
	v = tu_sh_ok_last("du -s -B1 -l '%s' | cut -f1", stpath);
	cr_assert_eq(u.bytes, strtoull(v, NULL, 10), "du says %s", v);
	free(v);
	v = tu_sh_ok_last(
	    "find '%s/objects' -type f -regex '.*/[0-9a-f][0-9a-f]/[0-9a-f]*' "
	    "| wc -l",
	    stpath);
	cr_assert_eq(u.loose_objects, strtoull(v, NULL, 10));
	cr_assert_eq(u.objects, u.loose_objects);
	free(v);
	v = tu_sh_ok_last(
	    "find '%s' -type f -printf '%%s\\n' | awk '{s+=$1} END "
	    "{printf \"%%d\\n\", s}'",
	    stpath);
	cr_assert_eq(u.apparent_bytes, strtoull(v, NULL, 10));
	free(v);
	cr_assert_eq(u.snapshots, 4);
	cr_assert_str_eq(u.newest, t.id);
	cr_assert_lt(strcmp(u.oldest, u.newest), 0);
	/* packed objects are counted from the pack's index */
	tu_sh_ok_last("git --git-dir='%s' repack -q -a -d", stpath);
	cr_assert_eq(sdf_store_du(&u, st), 0);
	cr_assert_eq(u.packs, 1);
	cr_assert_gt(u.packed_objects, 0);
	cr_assert_eq(u.bytes, disk_bytes());
}

Test(prune, packed_objects_are_left_alone)
{
	sdf_track_result t;
	sdf_prune_result res;

	for (int i = 0; i < 3; i++)
		turn(i, &t);
	tu_sh_ok_last("git --git-dir='%s' repack -q -a -d", stpath);
	tu_write_str(wt, "after.txt", "after the repack\n");
	track(&t, NULL);
	prune(&res, 0, 1, 0, 0);
	cr_assert_eq(log_count(), 1);
	fsck();
	cr_assert(has_object(t.tree));
}

/* ---- allocation failures --------------------------------------------------
 * Prune with its n-th allocation failing, n = 1, 2, ... until it succeeds,
 * each in a child process. It must fail cleanly (over budget, or a ref lock
 * a failed attempt left), or crash inside libgit2 (1.5 dereferences NULL on
 * some out-of-memory paths: a crash is a kill -9 at that point); after every
 * attempt the kept snapshots are whole and fsck is clean.
 */
static int prune_failing_at(uint64_t n)
{
	sdf_store *s2;
	sdf_prune_result res;
	sdf_retention pol = {0, 2, 0, 0};
	sdf_prune_options o = SDF_PRUNE_OPTIONS_INIT;
	pid_t pid = fork();
	int status, err;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (sdf_store_open(&s2, stpath, NULL, 0) < 0)
			_exit(100);
		o.policy = &pol;
		sdf_alloc_fail_at(n);
		err = sdf_store_prune(&res, s2, &o);
		if (err == 0)
			_exit(!n || sdf_alloc_count_since_arm() < n ? 0 : 101);
		_exit(-err);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Test(prune, allocation_failures_lose_nothing)
{
	sdf_track_result t[5];
	uint64_t n;
	int rc = -1, crashes = 0, clean = 0;

#ifdef SDF_SANITIZED
	cr_skip_test("libgit2 leaks on its out-of-memory paths");
#endif
	for (int i = 0; i < 5; i++)
		turn(i, &t[i]);
	tu_sh_ok_last("printf junk | git --git-dir='%s' hash-object -w --stdin",
	              stpath);
	for (n = 1; n < 100000; n++) {
		rc = prune_failing_at(n);
		if (rc == 0)
			break;
		if (rc >= 128)
			crashes++;
		else
			cr_assert(rc == -SDF_EBUDGET || rc == -SDF_ELOCKED ||
			              rc == 101,
			          "n=%llu: exit %d", (unsigned long long)n, rc);
		clean += rc < 128;
		cr_assert(has_object(t[3].tree) && has_object(t[4].tree),
		          "n=%llu: a kept tree is gone", (unsigned long long)n);
		cr_assert(has_snapshot(t[3].id) && has_snapshot(t[4].id),
		          "n=%llu (exit %d): a kept snapshot is gone: %s",
		          (unsigned long long)n, rc,
		          tu_sh_ok_last(
		              "git --git-dir='%s' for-each-ref | tr '\\n' ' '",
		              stpath));
		if (n % 8 == 1)
			fsck();
	}
	cr_assert_eq(rc, 0, "never succeeded");
	cr_assert_gt(n, 10);
	cr_log_info("prune: %llu allocations, %d clean failures, %d crashes "
	            "in libgit2",
	            (unsigned long long)n, clean, crashes);
	/* and a normal prune finishes what the failed ones began */
	cr_assert_eq(prune_failing_at(0), 0);
	cr_assert_eq(log_count(), 2);
	fsck();
}
