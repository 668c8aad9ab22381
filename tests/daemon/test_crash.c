/*
 * snapdiffd killed with SIGKILL while it serves track and diff requests,
 * then started again on the same store and socket; and a store that fails
 * under it (a full disk, damaged objects): errors, never a lost snapshot,
 * and the daemon keeps serving.
 */
#define _GNU_SOURCE
#include "daemon_util.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static dm_daemon d;
static char *wt, *store;

static void setup(void)
{
	dm_start(&d, NULL);
	wt = tu_path(d.dir, "wt");
	store = tu_path(d.dir, "store");
	cr_assert_eq(mkdir(wt, 0755), 0);
}

static void teardown(void)
{
	tu_result r;

	tu_sh(&r, "umount '%s/small' 2>/dev/null; true", d.dir);
	tu_result_dispose(&r);
	dm_stop(&d);
	dm_dispose(&d);
	free(wt);
	free(store);
}

TestSuite(crash, .init = setup, .fini = teardown, .timeout = 900);

static unsigned env_uint(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends a request without waiting for its answer. */
static void send_request(int fd, int id, const char *method, const char *params)
{
	char *req;

	cr_assert(asprintf(&req,
	                   "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\","
	                   "\"params\":%s}",
	                   id, method, params) > 0);
	dm_send(fd, req);
	free(req);
}

static char *params_for(const char *st, const char *from, const char *to)
{
	char *p;

	cr_assert(asprintf(&p,
	                   "{\"worktree\":\"%s\",\"store\":\"%s\"%s%s%s%s%s%s}",
	                   wt, st, from ? ",\"from\":\"" : "", from ? from : "",
	                   from ? "\"" : "", to ? ",\"to\":\"" : "",
	                   to ? to : "", to ? "\"" : "") > 0);
	return p;
}

/* snapshot.track through the daemon; returns the tree id. */
static char *daemon_track(const char *st)
{
	char *p = params_for(st, NULL, NULL), *tree;
	json_t *res = dm_result(&d, "snapshot.track", p);

	tree = strdup(json_string_value(json_object_get(res, "tree")));
	json_decref(res);
	free(p);
	return tree;
}

/* The daemon's and the CLI's diff of from..to agree (file by file). */
static void expect_diff_as_cli(const char *from, const char *to,
                               const char *what)
{
	char *p, *cli;
	json_t *res, *ours;

	cr_assert(asprintf(&p,
	                   "{\"store\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
	                   "\"stream\":false}",
	                   store, from, to) > 0);
	res = dm_result(&d, "snapshot.diff", p);
	cli = tu_sh_ok("'%s' diff --store '%s' %s %s --json", SDF_CLI, store,
	               from, to);
	ours = json_loads(cli, 0, NULL);
	cr_assert_not_null(ours, "%s", cli);
	cr_assert(json_equal(json_object_get(res, "files"),
	                     json_object_get(ours, "files")),
	          "%s: the daemon's diff differs from the CLI's", what);
	json_decref(res);
	json_decref(ours);
	free(cli);
	free(p);
}

/* The store passes git fsck --strict (unreferenced objects allowed) and
 * holds every tree in trees[0..n). */
static void expect_store_whole(char **trees, unsigned n, const char *what)
{
	size_t len = 1;
	tu_result r;
	char *all;

	for (unsigned i = 0; i < n; i++)
		len += strlen(trees[i]) + 8;
	all = calloc(1, len);
	for (unsigned i = 0; i < n; i++)
		strcat(strcat(all, trees[i]), "^{tree} ");
	tu_sh(&r, "git --git-dir='%s' fsck --strict --no-dangling 2>&1", store);
	cr_assert_eq(r.status, 0, "%s: %s", what, r.out);
	tu_result_dispose(&r);
	tu_sh(&r,
	      "for t in %s; do echo $t; done | git --git-dir='%s' "
	      "cat-file --batch-check | grep -v ' tree '; true",
	      all, store);
	cr_assert_str_eq(r.out, "", "%s: lost %s", what, r.out);
	tu_result_dispose(&r);
	free(all);
}

static void change_worktree(unsigned round)
{
	char path[64], *big = tu_path(wt, "big.log");

	dm_generate(big, (int)round, 1 + round % 2);
	snprintf(path, sizeof(path), "src/f%02u.c", round % 20);
	tu_write_str(wt, path, path);
	snprintf(path, sizeof(path), "new/r%03u", round);
	tu_write_str(wt, path, path);
	free(big);
}

/*
 * kill -9 of the daemon at a random point while it tracks and diffs on
 * three connections, then a restart on the same socket (a stale one left
 * behind) and store: the store is whole, every snapshot restores
 * byte-exact, the next track has git's tree and diffs (from the cache the
 * killed daemon was writing) agree with the CLI's. SDF_DAEMON_KILL_ROUNDS
 * and SDF_KILL_SEED as for the CLI's test.
 */
Test(crash, kill_9_while_serving_track_and_diff, .timeout = 3600)
{
#ifdef SDF_SANITIZED
	unsigned rounds = env_uint("SDF_DAEMON_KILL_ROUNDS", 5);
#else
	unsigned rounds = env_uint("SDF_DAEMON_KILL_ROUNDS", 10);
#endif
	unsigned seed = env_uint("SDF_KILL_SEED", (unsigned)time(NULL));
	char **trees = calloc(rounds + 1, sizeof(*trees)), *why, *p;
	unsigned answered = 0;
	long span_us;
	double t0;

#ifdef SDF_VALGRIND
	cr_skip_test("valgrind checks nothing in a killed program");
#endif
	cr_log_info("kill -9 of snapdiffd: %u rounds, SDF_KILL_SEED=%u", rounds,
	            seed);
	srand(seed);
	for (int i = 0; i < 20; i++) {
		char path[32];
		snprintf(path, sizeof(path), "src/f%02d.c", i);
		tu_write_str(wt, path, "int x;\n");
	}
	change_worktree(0);
	trees[0] = daemon_track(store);
	/* how long one round of requests takes when nothing is killed */
	change_worktree(1);
	t0 = now();
	p = params_for(store, trees[0], NULL);
	json_decref(dm_result(&d, "snapshot.diff", p));
	free(p);
	span_us = (long)((now() - t0) * 1.5e6) + 1000;
	for (unsigned round = 1; round <= rounds; round++) {
		long delay = rand() % span_us;
		int fds[3];

		cr_assert(asprintf(&why, "seed %u round %u (kill after %ld us)",
		                   seed, round, delay) > 0);
		change_worktree(round + 1);
		for (int i = 0; i < 3; i++)
			fds[i] = dm_connect(&d);
		p = params_for(store, NULL, NULL);
		send_request(fds[0], 1, "snapshot.track", p);
		free(p);
		p = params_for(store, trees[0], NULL);
		send_request(fds[1], 2, "snapshot.diff", p);
		free(p);
		p = params_for(store, trees[0], trees[round - 1]);
		send_request(fds[2], 3, "snapshot.diff", p);
		free(p);
		usleep((useconds_t)delay);
		struct stat sb;
		/* which requests had been answered (in part) */
		for (int i = 0; i < 3; i++) {
			struct pollfd pf = {fds[i], POLLIN, 0};
			answered +=
			    poll(&pf, 1, 0) > 0 && (pf.revents & POLLIN);
		}
		dm_kill9(&d);
		for (int i = 0; i < 3; i++)
			close(fds[i]);
		cr_assert_eq(stat(d.sock, &sb), 0, "%s: no stale socket", why);
		expect_store_whole(trees, round, why);
		tu_expect_restores_like_git(
		    SDF_CLI, store, trees[(unsigned)rand() % round], why);
		dm_launch(&d, NULL);
		json_decref(dm_result(&d, "service.ping", NULL));
		trees[round] = daemon_track(store);
		char *theirs = tu_git_tree(wt);
		cr_assert_str_eq(trees[round], theirs, "%s", why);
		free(theirs);
		expect_diff_as_cli(trees[0], trees[round], why);
		free(why);
	}
	expect_store_whole(trees, rounds + 1, "at the end");
	for (unsigned i = 0; i <= rounds; i++) {
		tu_expect_restores_like_git(SDF_CLI, store, trees[i],
		                            "at the end");
		free(trees[i]);
	}
	cr_log_info("kill -9 of snapdiffd: %u kills survived, %u of %u "
	            "requests had an answer started (seed %u)",
	            rounds, answered, 3 * rounds, seed);
	free(trees);
}

/* A fresh connection's answer to one request (result or error). */
static json_t *call_once(const char *method, const char *params)
{
	int fd = dm_connect(&d);
	json_t *r = dm_call(fd, 1, method, params, NULL);

	close(fd);
	return r;
}

static const char *error_message(json_t *resp)
{
	const char *m = json_string_value(
	    json_object_get(json_object_get(resp, "error"), "message"));

	return m ? m : "";
}

/*
 * The store's disk fills up during a track through the daemon: an error
 * answer, the store as it was, and the daemon serves on (other stores
 * too); with room again the same store tracks.
 */
Test(crash, full_disk_during_track_is_an_error_and_the_daemon_serves_on)
{
	char *mnt = tu_path(d.dir, "small"), *small, *t0, *t1, *p;
	json_t *r;
	tu_result res;

	cr_assert_eq(mkdir(mnt, 0700), 0);
	tu_sh(&res, "mount -t tmpfs -o size=4m tmpfs '%s'", mnt);
	if (res.status != 0) {
		tu_result_dispose(&res);
		free(mnt);
		cr_skip("cannot mount a tmpfs here");
	}
	tu_result_dispose(&res);
	small = tu_path(mnt, "store");
	tu_write_str(wt, "a.txt", "first\n");
	t0 = daemon_track(small);
	free(tu_sh_ok("head -c 8388608 /dev/urandom > '%s/big.bin'", wt));
	p = params_for(small, NULL, NULL);
	for (int i = 0; i < 3; i++) {
		r = call_once("snapshot.track", p);
		cr_assert_neq(dm_error_code(r), 0,
		              "track on a full disk "
		              "succeeded");
		cr_assert(strstr(error_message(r), "No space left") ||
		              strstr(error_message(r), "no space"),
		          "%s", error_message(r));
		json_decref(r);
	}
	free(p);
	json_decref(dm_result(&d, "service.ping", NULL));
	free(daemon_track(store)); /* another store: fine */
	free(tu_sh_ok("git --git-dir='%s' fsck --strict --no-dangling 2>&1 && "
	              "git --git-dir='%s' cat-file -e %s",
	              small, small, t0));
	free(tu_sh_ok("rm '%s/big.bin'", wt));
	t1 = daemon_track(small);
	cr_assert_str_eq(t0, t1);
	free(tu_sh_ok("umount '%s'", mnt));
	free(t0);
	free(t1);
	free(small);
	free(mnt);
}

/*
 * Objects of one snapshot damaged under the daemon (a truncated tree, on
 * which libgit2 alone loops forever; a blob with flipped bytes): diff and
 * restore of it are answered with an error, everything else as before,
 * and the daemon keeps serving.
 */
Test(crash, damaged_store_gets_errors_and_the_daemon_serves_on)
{
	char *t1, *t2, *t3, *p, *blob, *other;
	json_t *r;

	tu_write_str(wt, "a.txt", "one\n");
	dm_generate(tu_path(wt, "big.log"), 1, 1);
	t1 = daemon_track(store);
	tu_write_str(wt, "only2/x.txt", "two\n");
	dm_generate(tu_path(wt, "big.log"), 2, 1);
	t2 = daemon_track(store);
	free(tu_sh_ok("rm -r '%s/only2'", wt));
	dm_generate(tu_path(wt, "big.log"), 3, 1);
	t3 = daemon_track(store);
	blob =
	    tu_sh_ok_last("git --git-dir='%s' rev-parse %s:big.log", store, t2);
	/* the root tree of t2 cut short; t2's big.log with bytes flipped */
	free(tu_sh_ok("cd '%s/objects' && chmod u+w %.2s/%s %.2s/%s && "
	              "truncate -s 10 %.2s/%s && "
	              "printf '\\377\\377\\377\\377' | dd of=%.2s/%s bs=1 "
	              "seek=40 conv=notrunc 2>/dev/null",
	              store, t2, t2 + 2, blob, blob + 2, t2, t2 + 2, blob,
	              blob + 2));
	for (int i = 0; i < 2; i++) {
		cr_assert(asprintf(&p,
		                   "{\"store\":\"%s\",\"from\":\"%s\",\"to\":"
		                   "\"%s\",\"stream\":false}",
		                   store, i ? t2 : t1, i ? t3 : t2) > 0);
		r = call_once("snapshot.diff", p);
		cr_assert_neq(dm_error_code(r), 0, "diff of a damaged tree");
		cr_assert(strstr(error_message(r), "damaged"), "%s",
		          error_message(r));
		json_decref(r);
		free(p);
	}
	other = tu_path(d.dir, "restored");
	cr_assert_eq(mkdir(other, 0755), 0);
	cr_assert(asprintf(&p,
	                   "{\"worktree\":\"%s\",\"store\":\"%s\",\"tree\":"
	                   "\"%s\"}",
	                   other, store, t2) > 0);
	r = call_once("snapshot.restore", p);
	cr_assert_neq(dm_error_code(r), 0);
	cr_assert(strstr(error_message(r), "damaged"), "%s", error_message(r));
	json_decref(r);
	free(p);
	/* a diff that needs the damaged blob but not the tree */
	free(tu_sh_ok("git --git-dir='%s' update-ref refs/tags/t2big "
	              "$(printf '100644 blob %s\\tbig.log\\n' | "
	              "git --git-dir='%s' mktree --missing)",
	              store, blob, store));
	cr_assert(asprintf(&p,
	                   "{\"store\":\"%s\",\"from\":\"%s\",\"to\":"
	                   "\"refs/tags/t2big\",\"stream\":false}",
	                   store, t1) > 0);
	r = call_once("snapshot.diff", p);
	cr_assert_neq(dm_error_code(r), 0, "diff of a damaged blob");
	cr_assert(strstr(error_message(r), "big.log"), "%s", error_message(r));
	json_decref(r);
	free(p);
	/* the rest is served as before */
	json_decref(dm_result(&d, "service.ping", NULL));
	expect_diff_as_cli(t1, t3, "intact snapshots");
	tu_expect_restores_like_git(SDF_CLI, store, t1, "t1");
	tu_expect_restores_like_git(SDF_CLI, store, t3, "t3");
	tu_write_str(wt, "a.txt", "after the damage\n");
	char *t4 = daemon_track(store), *theirs = tu_git_tree(wt);
	cr_assert_str_eq(t4, theirs);
	free(t4);
	free(theirs);
	free(other);
	free(blob);
	free(t1);
	free(t2);
	free(t3);
}
