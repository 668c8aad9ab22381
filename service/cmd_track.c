/* snapdiff track / log */
#include "cli_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void print_notice(const char *path, int code, const char *message,
                         void *payload)
{
	json_t *skipped = payload;

	fprintf(stderr, "snapdiff: warning: kept '%s' as it was: %s\n", path,
	        message);
	if (skipped) {
		json_t *o = json_object();
		json_object_set_new(o, "path", json_string(path));
		json_object_set_new(o, "error",
		                    json_string(sdf_error_name(code)));
		json_object_set_new(o, "message", json_string(message));
		json_array_append_new(skipped, o);
	}
}

int cmd_track(int argc, char **argv)
{
	cli_common c = {0};
	sdf_track_options opts = SDF_TRACK_OPTIONS_INIT;
	sdf_track_result res;
	sdf_store *st = NULL;
	json_t *skipped = NULL;
	int rc = 0, r;

	for (int i = 1; i < argc; i++) {
		if ((r = cli_common_opt(&c, argc, argv, &i)) < 0)
			return cli_usage("%s needs a value", argv[i]);
		if (r)
			continue;
		if (!strcmp(argv[i], "--label") && i + 1 < argc)
			opts.label = argv[++i];
		else if (!strcmp(argv[i], "--strict"))
			opts.strict = 1;
		else
			return cli_usage("track: unexpected '%s'", argv[i]);
	}
	if (c.git_dir)
		return cli_usage(
		    "track writes to a snapdiff store; use --store");
	if (c.json)
		skipped = json_array();
	opts.notice = print_notice;
	opts.payload = skipped;
	if (cli_open_store(&st, &c, 1) < 0 ||
	    sdf_snapshot_track(&res, st, &opts) < 0) {
		rc = cli_fail();
		goto done;
	}
	if (c.json) {
		json_t *o = json_object();
		json_object_set_new(o, "tree", json_string(res.tree));
		json_object_set_new(o, "id", json_string(res.id));
		json_object_set_new(o, "created", json_boolean(res.created));
		json_object_set_new(o, "label",
		                    opts.label ? json_string(opts.label)
		                               : json_null());
		json_object_set_new(o, "files",
		                    json_integer((json_int_t)res.files));
		json_object_set_new(o, "bytes",
		                    json_integer((json_int_t)res.bytes));
		json_object_set_new(o, "written",
		                    json_integer((json_int_t)res.written));
		json_object_set_new(
		    o, "written_bytes",
		    json_integer((json_int_t)res.written_bytes));
		json_object_set_new(o, "removed",
		                    json_integer((json_int_t)res.removed));
		json_object_set_new(o, "skipped", skipped);
		skipped = NULL;
		json_object_set_new(o, "store",
		                    json_string(sdf_store_path(st)));
		json_object_set_new(o, "worktree",
		                    json_string(sdf_store_worktree(st)));
		cli_add_peaks(o);
		rc = cli_print_json(o);
	} else {
		printf("%s\n", res.tree);
	}
done:
	json_decref(skipped);
	sdf_store_free(st);
	return rc;
}

static void iso_time(char *buf, size_t len, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_log(int argc, char **argv)
{
	cli_common c = {0};
	sdf_store *st = NULL;
	sdf_snapshot_info *list = NULL;
	size_t n = 0;
	char when[32];
	int rc = 0, r;

	for (int i = 1; i < argc; i++) {
		if ((r = cli_common_opt(&c, argc, argv, &i)) < 0)
			return cli_usage("%s needs a value", argv[i]);
		if (!r)
			return cli_usage("log: unexpected '%s'", argv[i]);
	}
	if (cli_open_store(&st, &c, 0) < 0 || sdf_store_lock(st, 0) < 0 ||
	    sdf_snapshot_log(&list, &n, st) < 0) {
		rc = cli_fail();
		goto done;
	}
	if (c.json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *o = json_object();
			iso_time(when, sizeof(when), list[i].time);
			json_object_set_new(o, "id", json_string(list[i].id));
			json_object_set_new(o, "tree",
			                    json_string(list[i].tree));
			json_object_set_new(o, "commit",
			                    json_string(list[i].commit));
			json_object_set_new(o, "time",
			                    json_integer(list[i].time));
			json_object_set_new(o, "time_iso", json_string(when));
			json_object_set_new(o, "label",
			                    list[i].label
			                        ? json_string(list[i].label)
			                        : json_null());
			json_object_set_new(
			    o, "files",
			    json_integer((json_int_t)list[i].files));
			json_object_set_new(
			    o, "bytes",
			    json_integer((json_int_t)list[i].bytes));
			json_array_append_new(arr, o);
		}
		rc = cli_print_json(arr);
	} else {
		for (size_t i = 0; i < n; i++) {
			iso_time(when, sizeof(when), list[i].time);
			printf("%s\t%s\t%s\t%" PRIu64 " files\t%" PRIu64
			       " bytes\t%s\n",
			       list[i].id, list[i].tree, when, list[i].files,
			       list[i].bytes,
			       list[i].label ? list[i].label : "");
		}
	}
done:
	sdf_snapshot_log_free(list, n);
	if (st)
		sdf_store_unlock(st);
	sdf_store_free(st);
	return rc;
}
