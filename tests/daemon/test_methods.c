/* Every method of a real snapdiffd, against the snapdiff CLI's output. */
#define _GNU_SOURCE
#include "daemon_util.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static dm_daemon d;
static char *wt, *store;

static void setup(void)
{
	dm_start(&d, NULL);
	wt = tu_path(d.dir, "wt");
	store = tu_path(d.dir, "store");
	tu_write_str(wt, "keep.txt", "a\nb\nc\n");
	tu_write_str(wt, "src/main.c", "int a;\nint b;\nint c;\n");
	tu_write_str(wt, "gone.txt", "bye\n");
	tu_write_str(wt, ".gitignore", "*.o\n");
	tu_write_str(wt, "junk.o", "ignored\n");
}

static void teardown(void)
{
	dm_stop(&d); /* a test that failed left it running */
	dm_dispose(&d);
	free(wt);
	free(store);
}

TestSuite(methods, .init = setup, .fini = teardown, .timeout = 300);

static json_t *track(const char *label)
{
	char params[8192];

	snprintf(params, sizeof(params),
	         "{\"worktree\":\"%s\",\"store\":\"%s\"%s%s%s}", wt, store,
	         label ? ",\"label\":\"" : "", label ? label : "",
	         label ? "\"" : "");
	return dm_result(&d, "snapshot.track", params);
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	cr_assert_not_null(s, "no string '%s'", key);
	return s;
}

/* The CLI's `diff --json` output for the same store and trees. */
static json_t *cli_diff(const char *from, const char *to, const char *format)
{
	char *argv[] = {SDF_CLI,
	                "diff",
	                "--store",
	                store,
	                (char *)from,
	                (char *)to,
	                format ? "--format" : "--json",
	                (char *)format,
	                NULL};
	tu_result r;
	json_t *v;

	tu_run(&r, NULL, argv);
	cr_assert_eq(r.status, 0, "%s", r.err);
	v = json_loads(r.out, 0, NULL);
	cr_assert_not_null(v);
	tu_result_dispose(&r);
	return v;
}

Test(methods, ping_and_stats)
{
	json_t *p = dm_result(&d, "service.ping", NULL);
	json_t *s = dm_result(&d, "service.stats", "{}");

	cr_assert(json_is_true(json_object_get(p, "pong")));
	cr_assert_eq(json_integer_value(json_object_get(s, "memory_limit")),
	             64 << 20);
	cr_assert(json_integer_value(json_object_get(s, "live_bytes")) > 0);
	cr_assert(json_integer_value(json_object_get(s, "peak_bytes")) >=
	          json_integer_value(json_object_get(s, "live_bytes")));
	cr_assert(json_integer_value(json_object_get(s, "requests")) >= 1);
	json_decref(p);
	json_decref(s);
	dm_stop(&d); /* here: a failure in .fini is not counted */
}

Test(methods, track_log_diff_patch_file_restore_revert)
{
	json_t *t1 = track("first"), *t2, *log, *res, *cli, *files;
	char from[41], to[41], params[8192];
	long long baseline;
	size_t notes = 0;
	int fd;

	cr_assert(json_is_true(json_object_get(t1, "created")));
	cr_assert_eq(json_integer_value(json_object_get(t1, "files")), 4);
	cr_assert_str_eq(str(t1, "store"), store);
	snprintf(from, sizeof(from), "%s", str(t1, "tree"));

	tu_write_str(wt, "src/main.c", "int a;\nint B;\nint c;\nint d;\n");
	{
		char *gone = tu_path(wt, "gone.txt");
		unlink(gone);
		free(gone);
	}
	tu_write_str(wt, "new.txt", "fresh\n");
	t2 = track(NULL);
	snprintf(to, sizeof(to), "%s", str(t2, "tree"));
	cr_assert_str_neq(from, to);

	/* log: both, oldest first, the label kept */
	snprintf(params, sizeof(params), "{\"store\":\"%s\"}", store);
	log = dm_result(&d, "snapshot.log", params);
	cr_assert_eq(json_array_size(log), 2);
	cr_assert_str_eq(str(json_array_get(log, 0), "tree"), from);
	cr_assert_str_eq(str(json_array_get(log, 0), "label"), "first");
	cr_assert_str_eq(str(json_array_get(log, 1), "tree"), to);
	json_decref(log);

	/* diff, not streamed: the CLI's object (peaks aside) */
	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
	         "\"stream\":false}",
	         store, from, to);
	res = dm_result(&d, "snapshot.diff", params);
	cli = cli_diff(from, to, NULL);
	cr_assert(json_equal(json_object_get(res, "files"),
	                     json_object_get(cli, "files")));
	json_object_del(json_object_get(res, "totals"), "peak_bytes");
	json_object_del(json_object_get(cli, "totals"), "peak_bytes");
	cr_assert(json_equal(json_object_get(res, "totals"),
	                     json_object_get(cli, "totals")));
	cr_assert_eq(json_array_size(json_object_get(res, "files")), 3);
	files = json_incref(json_object_get(cli, "files"));
	json_decref(res);
	json_decref(cli);

	/* streamed: the same objects, one notification each, then totals */
	fd = dm_connect(&d);
	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"}", store,
	         from, to);
	{
		char *req;
		json_t *r;
		size_t i = 0;
		cr_assert(
		    asprintf(&req,
		             "{\"jsonrpc\":\"2.0\",\"id\":\"s1\","
		             "\"method\":\"snapshot.diff\",\"params\":%s}",
		             params) > 0);
		dm_send(fd, req);
		free(req);
		while ((r = dm_recv(fd, 60000)) &&
		       json_object_get(r, "method")) {
			json_t *p = json_object_get(r, "params");
			cr_assert_str_eq(str(r, "method"),
			                 "snapshot.diff.file");
			cr_assert_str_eq(str(p, "id"), "s1");
			cr_assert(json_equal(json_object_get(p, "file"),
			                     json_array_get(files, i)));
			i++;
			json_decref(r);
		}
		cr_assert_eq(i, 3);
		cr_assert_str_eq(str(r, "id"), "s1");
		cr_assert_eq(
		    json_integer_value(json_object_get(
		        json_object_get(json_object_get(r, "result"), "totals"),
		        "files")),
		    3);
		cr_assert_null(
		    json_object_get(json_object_get(r, "result"), "files"));
		json_decref(r);
	}
	close(fd);
	json_decref(files);

	/* opencode, not streamed: the CLI's array */
	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
	         "\"stream\":false,\"format\":\"opencode\"}",
	         store, from, to);
	res = dm_result(&d, "snapshot.diff", params);
	cli = cli_diff(from, to, "opencode");
	cr_assert(json_equal(res, cli));
	json_decref(res);
	json_decref(cli);

	/* diff with only from: the worktree is tracked first */
	tu_write_str(wt, "later.txt", "x\ny\n");
	snprintf(params, sizeof(params),
	         "{\"worktree\":\"%s\",\"store\":\"%s\",\"from\":\"%s\"}", wt,
	         store, to);
	fd = dm_connect(&d);
	res = dm_call(fd, 7, "snapshot.diff", params, &notes);
	close(fd);
	cr_assert_eq(notes, 1);
	cr_assert_eq(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(res, "result"), "totals"),
	        "additions")),
	    2);
	json_decref(res);

	/* patch: the paths changed since from */
	snprintf(params, sizeof(params),
	         "{\"worktree\":\"%s\",\"store\":\"%s\",\"from\":\"%s\"}", wt,
	         store, from);
	res = dm_result(&d, "snapshot.patch", params);
	files = json_object_get(res, "files");
	cr_assert_eq(json_array_size(files), 4, "%s",
	             json_dumps(res, JSON_COMPACT));
	cr_assert_str_eq(json_string_value(json_array_get(files, 0)),
	                 "gone.txt");
	cr_assert_str_eq(json_string_value(json_array_get(files, 1)),
	                 "later.txt");
	cr_assert_str_eq(str(res, "from"), from);
	json_decref(res);

	/* file: a slice of a body, as text and as base64 */
	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"tree\":\"%s\",\"path\":\"src/main.c\","
	         "\"offset\":7,\"length\":6}",
	         store, to);
	res = dm_result(&d, "snapshot.file", params);
	cr_assert_str_eq(str(res, "encoding"), "utf8");
	cr_assert_str_eq(str(res, "data"), "int B;");
	cr_assert_eq(json_integer_value(json_object_get(res, "size")), 28);
	cr_assert(json_is_false(json_object_get(res, "eof")));
	json_decref(res);
	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"tree\":\"first\",\"path\":\"keep.txt\","
	         "\"encoding\":\"base64\"}",
	         store);
	res = dm_result(&d, "snapshot.file", params);
	cr_assert_str_eq(str(res, "data"), "YQpiCmMK");
	cr_assert(json_is_true(json_object_get(res, "eof")));
	json_decref(res);

	/* revert one path, then restore the whole first snapshot */
	snprintf(params, sizeof(params),
	         "{\"worktree\":\"%s\",\"store\":\"%s\",\"tree\":\"%s\","
	         "\"paths\":[\"src/main.c\"]}",
	         wt, store, from);
	res = dm_result(&d, "snapshot.revert", params);
	cr_assert(json_is_true(json_object_get(res, "ok")));
	cr_assert_eq(json_integer_value(json_object_get(res, "written")), 1);
	json_decref(res);
	{
		char *body = tu_read(wt, "src/main.c", NULL);
		cr_assert_str_eq(body, "int a;\nint b;\nint c;\n");
		free(body);
	}
	snprintf(params, sizeof(params),
	         "{\"worktree\":\"%s\",\"tree\":\"%s\",\"store\":\"%s\"}", wt,
	         from, store);
	res = dm_result(&d, "snapshot.restore", params);
	cr_assert(json_is_true(json_object_get(res, "ok")));
	json_decref(res);
	{
		char *body = tu_read(wt, "gone.txt", NULL);
		cr_assert_str_eq(body, "bye\n");
		free(body);
	}

	/* nothing kept: repeat a few calls and compare live bytes */
	baseline = dm_live_bytes(&d);
	json_decref(track(NULL));
	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
	         "\"stream\":false}",
	         store, from, to);
	json_decref(dm_result(&d, "snapshot.diff", params));
	dm_check_healthy(&d, baseline);
	json_decref(t1);
	json_decref(t2);
	dm_stop(&d); /* here: a failure in .fini is not counted */
}

Test(methods, default_store_of_the_worktree)
{
	char params[8192], *xdg = tu_path(d.dir, "xdg");
	json_t *t;

	/* the daemon's own XDG_DATA_HOME decides; only check it answers */
	snprintf(params, sizeof(params), "{\"worktree\":\"%s\"}", wt);
	(void)xdg;
	free(xdg);
	t = dm_result(&d, "snapshot.track", params);
	cr_assert_eq(strlen(str(t, "tree")), 40);
	cr_assert_str_eq(str(t, "worktree"), wt);
	/* clean up the default store the daemon made */
	tu_rm_rf(str(t, "store"));
	json_decref(t);
	dm_stop(&d); /* here: a failure in .fini is not counted */
}

Test(methods, errors_are_actionable)
{
	char params[8192];
	int fd = dm_connect(&d);
	json_t *r;

	snprintf(params, sizeof(params),
	         "{\"store\":\"%s/nope\",\"from\":\"HEAD\",\"to\":\"HEAD\"}",
	         d.dir);
	r = dm_call(fd, 1, "snapshot.diff", params, NULL);
	cr_assert_eq(dm_error_code(r), -32003, "%s",
	             json_dumps(r, JSON_COMPACT));
	cr_assert_str_eq(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(r, "error"), "data"), "error")),
	    "not_found");
	json_decref(r);
	json_decref(track(NULL));
	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"from\":\"no-such-label\",\"to\":"
	         "\"HEAD\"}",
	         store);
	r = dm_call(fd, 2, "snapshot.diff", params, NULL);
	cr_assert_eq(dm_error_code(r), -32003);
	json_decref(r);
	snprintf(params, sizeof(params),
	         "{\"worktree\":\"%s\",\"store\":\"%s\",\"tree\":\"HEAD\","
	         "\"paths\":[\"../etc/passwd\"]}",
	         wt, store);
	r = dm_call(fd, 3, "snapshot.revert", params, NULL);
	cr_assert_eq(dm_error_code(r), -32010, "%s",
	             json_dumps(r, JSON_COMPACT));
	json_decref(r);
	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"tree\":\"HEAD\",\"path\":\"nope.txt\"}",
	         store);
	r = dm_call(fd, 4, "snapshot.file", params, NULL);
	cr_assert_eq(dm_error_code(r), -32003);
	json_decref(r);
	r = dm_call(fd, 5, "service.ping", NULL, NULL);
	cr_assert_eq(dm_error_code(r), 0);
	json_decref(r);
	close(fd);
	dm_stop(&d); /* here: a failure in .fini is not counted */
}

Test(methods, stats_count_cache_hits)
{
	char params[8192];
	json_t *t1 = track(NULL), *t2, *res, *s;

	tu_write_str(wt, "keep.txt", "a\nB\nc\n");
	tu_write_str(wt, "new.txt", "n\n");
	t2 = track(NULL);
	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
	         "\"stream\":false}",
	         store, str(t1, "tree"), str(t2, "tree"));
	s = dm_result(&d, "service.stats", "{}");
	long long before = json_integer_value(json_object_get(s, "cache_hits"));
	json_decref(s);
	/* the first diff fills the cache, the second is answered from it */
	json_decref(dm_result(&d, "snapshot.diff", params));
	res = dm_result(&d, "snapshot.diff", params);
	size_t files = json_array_size(json_object_get(res, "files"));
	cr_assert_eq(files, 2);
	s = dm_result(&d, "service.stats", "{}");
	cr_assert_eq(json_integer_value(json_object_get(s, "cache_hits")),
	             before + (long long)files);
	json_decref(s);
	json_decref(res);
	json_decref(t1);
	json_decref(t2);
	dm_stop(&d); /* here: a failure in .fini is not counted */
}
