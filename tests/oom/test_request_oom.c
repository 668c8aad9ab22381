/*
 * Allocation failures in snapdiffd's request handling, in-process: a
 * request line decoded, its method found and run, its reply encoded (the
 * server's part between reading a line and sending a reply, through the
 * same calls: daemon_request_parse, daemon_request_run, the reply
 * encoders). For each method, and for a malformed and an unknown one, for
 * n = 1, 2, ... a child handles the line with its n-th allocation failing:
 * the reply is well-formed JSON-RPC, either the right result or an error
 * with the budget code (the standard error a bad line gets, for those);
 * nothing leaks; and the same line handled again right after gives the
 * right reply.
 */
#include "daemon_int.h"
#include "oom_util.h"
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "sdf_snapshot.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- what the server provides to the methods ---- */

static unsigned notified; /* notification lines encoded */

int daemon_notify(daemon_call *call, const char *method, json_t *params)
{
	size_t len;
	char *line;

	if (!call->id) {
		json_decref(params);
		return 0;
	}
	if (!(line = sdf_rpc_notification_line(&len, method, params)))
		return sdf_error_set(SDF_EBUDGET,
		                     "over the memory budget while encoding a "
		                     "notification");
	sdf_free(line);
	notified++;
	return 0;
}

int daemon_canceled(daemon_call *call)
{
	(void)call;
	return 0;
}

json_t *daemon_server_stats(void)
{
	return json_pack("{s:I, s:I, s:I}", "memory_limit",
	                 (json_int_t)sdf_alloc_limit(), "live_bytes",
	                 (json_int_t)sdf_alloc_live(), "peak_bytes",
	                 (json_int_t)sdf_alloc_peak());
}

void daemon_count_cache_hits(uint64_t n)
{
	(void)n;
}

void daemon_pruner_note(const char *store_path, int tracked)
{
	(void)store_path;
	(void)tracked;
}

/* ---- the fixture ---- */

static char *root, *wt, *stpath;
static daemon_config cfg;

static void setup(void)
{
	oom_dirs_make("oom-rpc", &root, &wt, &stpath);
	cfg.max_depth = SDF_RPC_MAX_DEPTH_DEFAULT;
	cfg.max_line = SDF_RPC_MAX_LINE_DEFAULT;
	cfg.max_message = DAEMON_MAX_MESSAGE_DEFAULT;
}

static void teardown(void)
{
	oom_dirs_free(root, wt, stpath);
}

TestSuite(request_oom, .init = setup, .fini = teardown, .timeout = 900);

static void track(const char *label)
{
	sdf_track_options o = SDF_TRACK_OPTIONS_INIT;
	sdf_track_result res;
	sdf_store *s;

	o.label = label;
	cr_assert_eq(sdf_store_open(&s, stpath, wt, SDF_STORE_CREATE), 0, "%s",
	             sdf_error_last());
	cr_assert_eq(sdf_snapshot_track(&res, s, &o), 0, "%s",
	             sdf_error_last());
	sdf_store_free(s);
}

static void fixture(void)
{
	tu_write_str(wt, "a.txt", "one\ntwo\nthree\n");
	tu_write_str(wt, "gone.txt", "gone\n");
	tu_write_str(wt, "d/x.sh", "#!/bin/sh\n");
	track("one");
	tu_write_str(wt, "a.txt", "one\nTWO\nthree\nfour\n");
	tu_write_str(wt, "b.txt", "new\n");
	free(tu_sh_ok("cd '%s' && rm gone.txt && chmod +x d/x.sh", wt));
	track("two");
}

/* Names in dir (sorted, space-separated, into out). */
static void listing(char *out, size_t cap, const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") &&
		    strcmp(names[i]->d_name, "..") && used < cap)
			used +=
			    (size_t)snprintf(out + used, cap - used, "%s%s",
			                     used ? " " : "", names[i]->d_name);
		free(names[i]);
	}
	free(names);
}

/*
 * 0 when the worktree is as snapshot "two" has it, whatever was asked of it
 * (restores and reverts to "two" leave it so; nothing else writes it), and
 * holds nothing else (no temporary file); else OOM_BAD with why in msg.
 */
static int worktree_is_two(char *msg, size_t cap)
{
	static const char *const files[][2] = {
	    {"a.txt", "one\nTWO\nthree\nfour\n"},
	    {"b.txt", "new\n"},
	    {"d/x.sh", "#!/bin/sh\n"}};
	char names[256], *sub = tu_path(wt, "d"), *x = tu_path(wt, "d/x.sh");
	struct stat sb;
	int bad = 0;

	listing(names, sizeof(names), wt);
	if (strcmp(names, "a.txt b.txt d"))
		bad = oom_bad(msg, cap, "worktree holds: %s", names);
	listing(names, sizeof(names), sub);
	if (!bad && strcmp(names, "x.sh"))
		bad = oom_bad(msg, cap, "worktree's d/ holds: %s", names);
	if (!bad && (stat(x, &sb) < 0 || !(sb.st_mode & S_IXUSR)))
		bad = oom_bad(msg, cap, "d/x.sh is not executable");
	for (size_t i = 0; !bad && i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		char *got = tu_read(wt, files[i][0], &len);
		if (!got || len != strlen(files[i][1]) ||
		    memcmp(got, files[i][1], len))
			bad = oom_bad(msg, cap, "%s is not as in \"two\"",
			              files[i][0]);
		free(got);
	}
	free(sub);
	free(x);
	return bad;
}

/* ---- one request, line to reply, as the server handles it ---- */

/*
 * The reply the server would send to line (plain malloc'd: the test's
 * memory), or NULL when it would send nothing (a notification).
 */
static char *handle(const char *line)
{
	const daemon_method *m;
	sdf_rpc_request req;
	sdf_rpc_failure fail;
	daemon_call call = {&cfg, NULL, NULL, NULL};
	char buf[1024], *reply = NULL, *copy = NULL;
	size_t len = 0;
	int rc, owned = 0;

	sdf_error_clear();
	daemon_request_parse(&m, &req, &fail, line, strlen(line),
	                     cfg.max_depth);
	if (!m) {
		if (!fail.notification)
			reply = daemon_error_reply(&len, &owned, buf,
			                           sizeof(buf), fail.id,
			                           fail.code, fail.message, 0);
		sdf_rpc_failure_dispose(&fail);
	} else {
		call.id = req.id;
		call.params = req.params;
		rc = daemon_request_run(&reply, &len, m, &call);
		owned = reply != NULL;
		if (rc < 0 && call.id)
			reply = daemon_failure_reply(&len, &owned, buf,
			                             sizeof(buf), call.id, rc);
		sdf_rpc_request_dispose(&req);
	}
	if (reply) {
		copy = strndup(reply, len);
		if (!copy)
			abort();
	}
	if (owned)
		sdf_free(reply);
	return copy;
}

/* ---- judging a reply ---- */

static int request_leak(const oom_child *c)
{
	return oom_libgit2_leak_site(c->msg);
}

/* Values that differ from run to run (figures of the process). */
static int volatile_key(const char *k)
{
	return strstr(k, "peak") || strstr(k, "live") || strstr(k, "time") ||
	       !strcmp(k, "pid") || !strcmp(k, "id");
}

/* Two results alike but for the volatile values (of objects, any depth). */
static int alike(json_t *a, json_t *b)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_typeof(a) != json_typeof(b))
		return 0;
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach(a, k, v)
		{
			json_t *w = json_object_get(b, k);
			if (!w || (!volatile_key(k) && !alike(v, w)))
				return 0;
		}
		return 1;
	}
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		json_array_foreach(
		    a, i, v) if (!alike(v, json_array_get(b, i))) return 0;
		return 1;
	}
	return json_equal(a, b);
}

/*
 * A restore's written/unchanged split depends on its index, a cache it
 * goes without when it cannot load it (every file is then written again,
 * with the same bytes): when the files add up, the split of got (a
 * result) is taken as want's. 0 when they do not add up.
 */
static int counts_by_cache(json_t *got, json_t *want)
{
	static const char *const keys[] = {"written", "written_bytes",
	                                   "unchanged"};
	json_t *g = json_object_get(got, "result");
	json_t *w = json_object_get(want, "result");

	if (!json_is_object(g) || !json_is_object(w) ||
	    !json_object_get(w, "unchanged"))
		return 1;
	if (json_integer_value(json_object_get(g, "written")) +
	        json_integer_value(json_object_get(g, "unchanged")) !=
	    json_integer_value(json_object_get(w, "written")) +
	        json_integer_value(json_object_get(w, "unchanged")))
		return 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		json_object_set(g, keys[i], json_object_get(w, keys[i]));
	return 1;
}

/*
 * got against want (the unfaulted reply): 0 when alike, 1 when got is the
 * budget error (if budget_ok), -1 otherwise (why in msg).
 */
static int judge(const char *got, const char *want, int budget_ok, char *msg,
                 size_t cap)
{
	json_error_t e;
	json_t *g, *w, *err, *res;
	int r = -1;

	if (!got || !want) {
		snprintf(msg, cap, "reply %s, expected %s", got ? got : "none",
		         want ? want : "none");
		return got == want ? 0 : -1;
	}
	g = json_loads(got, 0, &e);
	w = json_loads(want, 0, &e);
	if (!g || !w || !json_is_object(g) ||
	    strcmp(json_string_value(json_object_get(g, "jsonrpc")) ?: "",
	           "2.0") ||
	    (json_object_get(g, "result") != NULL) ==
	        (json_object_get(g, "error") != NULL)) {
		snprintf(msg, cap, "not a JSON-RPC reply: %s", got);
		goto done;
	}
	err = json_object_get(g, "error");
	/*
	 * Out of budget while the line is parsed, its id is not known: the
	 * reply's id is null then (JSON-RPC's rule for an unreadable id).
	 */
	if (budget_ok && err &&
	    json_integer_value(json_object_get(err, "code")) ==
	        SDF_RPC_EBUDGET &&
	    json_string_length(json_object_get(err, "message")) > 0 &&
	    (json_equal(json_object_get(g, "id"), json_object_get(w, "id")) ||
	     json_is_null(json_object_get(g, "id")))) {
		r = 1;
		goto done;
	}
	/*
	 * A restore or revert that stopped half way reports what it did, with
	 * ok false and the error (docs/protocol.md); the worktree is checked
	 * by the caller.
	 */
	res = json_object_get(g, "result");
	if (budget_ok && json_is_object(res) &&
	    json_equal(json_object_get(g, "id"), json_object_get(w, "id")) &&
	    json_is_false(json_object_get(res, "ok")) &&
	    !strcmp(json_string_value(json_object_get(res, "error")) ?: "",
	            "over_budget") &&
	    json_string_length(json_object_get(res, "message")) > 0) {
		r = 1;
		goto done;
	}
	if (counts_by_cache(g, w) && alike(g, w)) {
		r = 0;
		goto done;
	}
	snprintf(msg, cap, "reply\n%s\nexpected\n%s", got, want);
done:
	json_decref(g);
	json_decref(w);
	return r;
}

struct req_case {
	const char *line;
	char *want;       /* the unfaulted reply */
	unsigned notices; /* notifications it sends */
};

static int request_child(uint64_t n, void *arg, char *msg, size_t cap)
{
	struct req_case *rc = arg;
	char *got, *again;
	size_t live0, leaked;
	uint64_t reached;
	int j;

	oom_warm_thread();
	live0 = sdf_alloc_live();
	notified = 0;
	sdf_alloc_fail_at(n);
	got = handle(rc->line);
	reached = sdf_alloc_count_since_arm();
	sdf_alloc_fail_at(0);
	leaked = sdf_alloc_live() - live0;
	oom_note("reply: %s\n", got ? got : "(none)");
	if ((j = judge(got, rc->want, 1, msg, cap)) < 0)
		return OOM_BAD;
	if (j == 0 && reached >= n && notified != rc->notices)
		return oom_bad(msg, cap, "%u notifications, not %u", notified,
		               rc->notices);
	if (j == 1 && reached < n)
		return oom_bad(msg, cap, "a failure unasked");
	free(got);
	if (worktree_is_two(msg, cap))
		return OOM_BAD;
	/* and the next request is served as ever */
	again = handle(rc->line);
	if (judge(again, rc->want, 0, msg, cap) != 0 ||
	    worktree_is_two(msg, cap))
		return OOM_BAD;
	free(again);
	if (leaked) {
		snprintf(msg, cap, "leak: %zu bytes", leaked);
		/* a budget error may be a libgit2 leak (the test judges) */
		return j == 1 ? OOM_LEAK : OOM_BAD;
	}
	if (j == 1)
		return OOM_FAILED;
	return reached >= n ? OOM_ABSORBED : OOM_DONE;
}

Test(request_oom, every_method_fails_cleanly)
{
	char lines[12][1024];
	struct req_case rc;
	uint64_t n, step = oom_stride();
	oom_tally all = {0};
	struct timespec t0, t1;
	oom_child c;
	int k = 0, st = -1;

	fixture();
#define LINE(...) snprintf(lines[k++], sizeof(lines[0]), __VA_ARGS__)
	LINE("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.ping\"}");
	LINE("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"service.stats\"}");
	LINE("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"snapshot.track\","
	     "\"params\":{\"worktree\":\"%s\",\"store\":\"%s\"}}",
	     wt, stpath);
	LINE("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"snapshot.log\","
	     "\"params\":{\"store\":\"%s\"}}",
	     stpath);
	LINE("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"snapshot.diff\","
	     "\"params\":{\"store\":\"%s\",\"from\":\"one\",\"to\":\"two\"}}",
	     stpath);
	LINE("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"snapshot.diff\","
	     "\"params\":{\"store\":\"%s\",\"from\":\"one\",\"to\":\"two\","
	     "\"stream\":false}}",
	     stpath);
	LINE("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"snapshot.restore\","
	     "\"params\":{\"store\":\"%s\",\"tree\":\"two\"}}",
	     stpath);
	LINE("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"snapshot.revert\","
	     "\"params\":{\"store\":\"%s\",\"tree\":\"two\","
	     "\"paths\":[\"a.txt\",\"d\"]}}",
	     stpath);
	LINE("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"snapshot.file\","
	     "\"params\":{\"store\":\"%s\",\"tree\":\"two\","
	     "\"path\":\"a.txt\"}}",
	     stpath);
	LINE("{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"no.such\"}");
	LINE("{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":[1,2}");
	LINE("{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"snapshot.log\","
	     "\"params\":{\"store\":7}}");
#undef LINE
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < k; i++) {
		oom_tally t = {0};

		notified = 0;
		rc.line = lines[i];
		rc.want = handle(lines[i]);
		rc.notices = notified;
		cr_assert_not_null(rc.want);
		cr_assert_null(strstr(rc.want, "\"code\":-32001"), "%s",
		               rc.want);
		for (n = oom_first(); n < 1000000; n += step) {
			oom_fork(&c, request_child, n, &rc);
			if ((st = oom_judge(&t, &c, n, lines[i],
			                    request_leak)) == OOM_DONE)
				break;
		}
		cr_assert_eq(st, OOM_DONE);
		all.failed += t.failed;
		all.absorbed += t.absorbed;
		all.crashes += t.crashes;
		all.leaks += t.leaks;
		cr_log_info("%.60s: %llu allocations, %llu budget errors",
		            lines[i] + 24, (unsigned long long)n - 1,
		            (unsigned long long)t.failed);
		free(rc.want);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_log_info("requests: %llu failure points injected (every %llu-th), "
	            "%llu budget error replies, %llu libgit2 crashes, %llu "
	            "libgit2 leaks, %.1f s",
	            (unsigned long long)oom_points(&all),
	            (unsigned long long)step, (unsigned long long)all.failed,
	            (unsigned long long)all.crashes,
	            (unsigned long long)all.leaks,
	            (double)(t1.tv_sec - t0.tv_sec) +
	                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	/* the daemon must never crash: snapdiff keeps libgit2 off the paths
	 * where it cannot survive a refusal */
	cr_assert_eq(all.crashes, 0);
}
