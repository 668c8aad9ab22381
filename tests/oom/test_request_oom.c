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
	cr_assert_eq(sdf_snapshot_global_init(), 0, "%s", sdf_error_last());
	sdf_api_global_init();
	root = tu_mkdtemp("oom-rpc");
	wt = tu_path(root, "wt");
	stpath = tu_path(root, "store");
	umask(022);
	cfg.max_depth = SDF_RPC_MAX_DEPTH_DEFAULT;
	cfg.max_line = SDF_RPC_MAX_LINE_DEFAULT;
	cfg.max_message = DAEMON_MAX_MESSAGE_DEFAULT;
}

static void teardown(void)
{
	tu_rm_rf(root);
	free(root);
	free(wt);
	free(stpath);
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
	json_t *result = NULL;
	char buf[1024], *reply = NULL, *copy = NULL;
	size_t len;
	int rc, owned = 0;

	sdf_error_clear();
	daemon_request_parse(&m, &req, &fail, line, strlen(line),
	                     cfg.max_depth);
	if (!m) {
		reply = daemon_error_reply(&len, &owned, buf, sizeof(buf),
		                           fail.id, fail.code, fail.message, 0);
		sdf_rpc_failure_dispose(&fail);
	} else {
		call.id = req.id;
		call.params = req.params;
		rc = daemon_request_run(&result, m, &call);
		if (rc == 0 && !call.id) {
			json_decref(result);
			reply = NULL;
		} else if (rc == 0) {
			owned = 1;
			reply = sdf_rpc_result_line(&len, call.id, result);
			if (!reply)
				rc = sdf_error_set(
				    SDF_EBUDGET, "over the memory budget while "
				                 "encoding the result");
		}
		if (rc < 0)
			reply = daemon_error_reply(
			    &len, &owned, buf, sizeof(buf), call.id,
			    rc == DAEMON_EPARAMS ? SDF_RPC_INVALID_PARAMS : 0,
			    sdf_error_last(), rc);
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
 * got against want (the unfaulted reply): 0 when alike, 1 when got is the
 * budget error (if budget_ok), -1 otherwise (why in msg).
 */
static int judge(const char *got, const char *want, int budget_ok, char *msg,
                 size_t cap)
{
	json_error_t e;
	json_t *g, *w, *err;
	int r = -1;

	if (!got || !want) {
		snprintf(msg, cap, "reply %s, expected %s", got ? got : "none",
		         want ? want : "none");
		return got == want ? 0 : -1;
	}
	g = json_loads(got, 0, &e);
	w = json_loads(want, 0, &e);
	if (!g || !w || !json_is_object(g) ||
	    !json_equal(json_object_get(g, "jsonrpc"), json_string("2.0")) ||
	    !json_equal(json_object_get(g, "id"), json_object_get(w, "id")) ||
	    (json_object_get(g, "result") != NULL) ==
	        (json_object_get(g, "error") != NULL)) {
		snprintf(msg, cap, "not a JSON-RPC reply: %s", got);
		goto done;
	}
	err = json_object_get(g, "error");
	if (budget_ok && err &&
	    json_integer_value(json_object_get(err, "code")) ==
	        SDF_RPC_EBUDGET &&
	    json_string_length(json_object_get(err, "message")) > 0) {
		r = 1;
		goto done;
	}
	if (alike(g, w)) {
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
	size_t live0;
	uint64_t reached;
	int j;

	oom_warm_thread();
	live0 = sdf_alloc_live();
	notified = 0;
	sdf_alloc_fail_at(n);
	got = handle(rc->line);
	reached = sdf_alloc_count_since_arm();
	sdf_alloc_fail_at(0);
	oom_note("reply: %s\n", got ? got : "(none)");
	if (sdf_alloc_live() != live0)
		return oom_bad(msg, cap, "leak: %zu bytes",
		               sdf_alloc_live() - live0);
	if ((j = judge(got, rc->want, 1, msg, cap)) < 0)
		return OOM_BAD;
	if (j == 0 && reached >= n && notified != rc->notices)
		return oom_bad(msg, cap, "%u notifications, not %u", notified,
		               rc->notices);
	free(got);
	/* and the next request is served as ever */
	again = handle(rc->line);
	if (judge(again, rc->want, 0, msg, cap) != 0)
		return OOM_BAD;
	free(again);
	if (j == 1)
		return reached >= n ? OOM_FAILED
		                    : oom_bad(msg, cap, "a failure unasked");
	return reached >= n ? OOM_ABSORBED : OOM_DONE;
}

Test(request_oom, every_method_fails_cleanly)
{
	char lines[12][1024];
	struct req_case rc;
	uint64_t n, step = oom_stride(), total = 0, budget_errors = 0;
	uint64_t crashes = 0;
	struct timespec t0, t1;
	oom_child c;
	char site[256];
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
		uint64_t failed = 0;

		notified = 0;
		rc.line = lines[i];
		rc.want = handle(lines[i]);
		rc.notices = notified;
		cr_assert_not_null(rc.want);
		cr_assert_null(strstr(rc.want, "\"code\":-32001"), "%s",
		               rc.want);
		for (n = oom_first(); n < 1000000; n += step) {
			st = oom_fork(&c, request_child, n, &rc);
			if (oom_libgit2_crash(&c, site, sizeof(site))) {
				crashes++;
				cr_log_info(
				    "%s n=%llu: libgit2 crashed: %s\n%s",
				    lines[i], (unsigned long long)n, site,
				    c.msg);
				continue;
			}
			cr_assert(st == OOM_DONE || st == OOM_FAILED ||
			              st == OOM_ABSORBED,
			          "%s\nn=%llu: exit %d: %s", lines[i],
			          (unsigned long long)n, st, c.msg);
			if (st == OOM_DONE)
				break;
			failed += st == OOM_FAILED;
			total++;
		}
		cr_assert_eq(st, OOM_DONE);
		budget_errors += failed;
		cr_log_info("%.60s: %llu allocations, %llu budget errors",
		            lines[i] + 24, (unsigned long long)n - 1,
		            (unsigned long long)failed);
		free(rc.want);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_log_warn("requests: %llu failure points injected (every %llu-th), "
	            "%llu budget error replies, %llu libgit2 crashes, %.1f s",
	            (unsigned long long)(total + crashes),
	            (unsigned long long)step, (unsigned long long)budget_errors,
	            (unsigned long long)crashes,
	            (double)(t1.tv_sec - t0.tv_sec) +
	                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}
