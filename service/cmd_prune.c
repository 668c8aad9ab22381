/* snapdiff prune / du / pin / unpin */
#include "cli_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void iso_time(char *buf, size_t len, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void human(char *buf, size_t len, uint64_t v)
{
	static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double d = (double)v;
	unsigned u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%.1f %s", d, unit[u]);
}

static int parse_count(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

struct expired_list {
	json_t *arr; /* --json */
	int quiet;
};

static void on_expired(const sdf_snapshot_info *s, const char *reason,
                       void *payload)
{
	struct expired_list *l = payload;
	char when[32];

	iso_time(when, sizeof(when), s->time);
	if (l->arr) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_string(s->id));
		json_object_set_new(o, "tree", json_string(s->tree));
		json_object_set_new(o, "time", json_integer(s->time));
		json_object_set_new(o, "time_iso", json_string(when));
		json_object_set_new(
		    o, "label", s->label ? json_string(s->label) : json_null());
		json_object_set_new(o, "reason", json_string(reason));
		json_array_append_new(l->arr, o);
	} else if (!l->quiet) {
		printf("expire\t%s\t%s\t%s\t%s\n", s->id, when, reason,
		       s->label ? s->label : "");
	}
}

static json_t *policy_json(const sdf_retention *p)
{
	json_t *o = json_object();

	json_object_set_new(o, "keep_days", json_integer(p->keep_days));
	json_object_set_new(o, "keep_count", json_integer(p->keep_count));
	json_object_set_new(o, "max_bytes",
	                    json_integer((json_int_t)p->max_bytes));
	json_object_set_new(o, "grace_seconds",
	                    json_integer((json_int_t)p->grace_seconds));
	return o;
}

int cmd_prune(int argc, char **argv)
{
	cli_common c = {0};
	sdf_retention pol;
	sdf_prune_options opts = SDF_PRUNE_OPTIONS_INIT;
	sdf_prune_result res;
	sdf_store *st = NULL;
	struct expired_list list = {NULL, 0};
	const char *days = NULL, *count = NULL, *bytes = NULL, *grace = NULL;
	int save = 0, dry = 0, rc = 0, r;
	uint32_t v32 = 0;
	size_t vsz = 0;
	int64_t v64 = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if ((r = cli_common_opt(&c, argc, argv, &i)) < 0)
			return cli_usage("%s needs a value", a);
		if (r)
			continue;
		if (!strcmp(a, "--dry-run") || !strcmp(a, "-n"))
			dry = 1;
		else if (!strcmp(a, "--save"))
			save = 1;
		else if (i + 1 >= argc &&
		         (!strcmp(a, "--keep-days") ||
		          !strcmp(a, "--keep-count") ||
		          !strcmp(a, "--max-bytes") || !strcmp(a, "--grace")))
			return cli_usage("%s needs a value", a);
		else if (!strcmp(a, "--keep-days"))
			days = argv[++i];
		else if (!strcmp(a, "--keep-count"))
			count = argv[++i];
		else if (!strcmp(a, "--max-bytes"))
			bytes = argv[++i];
		else if (!strcmp(a, "--grace"))
			grace = argv[++i];
		else
			return cli_usage("prune: unexpected '%s'", a);
	}
	if (c.git_dir)
		return cli_usage(
		    "prune works on a snapdiff store; use --store");
	if (cli_open_store(&st, &c, 0) < 0 || sdf_retention_get(&pol, st) < 0) {
		rc = cli_fail();
		goto done;
	}
	if (days && parse_count(days, &pol.keep_days) < 0)
		rc = cli_usage(
		    "--keep-days takes a number of days (0: no limit)");
	else if (count && parse_count(count, &v32) < 0)
		rc = cli_usage("--keep-count takes a number (0: no limit)");
	else if (bytes && sdf_parse_size(bytes, &vsz) < 0)
		rc = cli_usage("--max-bytes takes a byte count such as 2G "
		               "(0: no limit)");
	else if (grace && sdf_parse_duration(grace, &v64) < 0)
		rc = cli_usage("--grace takes a duration such as 3600, 30m, "
		               "1h or 0");
	if (rc)
		goto done;
	if (count)
		pol.keep_count = v32;
	if (bytes)
		pol.max_bytes = vsz;
	if (grace)
		pol.grace_seconds = v64;
	if (save && sdf_retention_set(st, &pol) < 0) {
		rc = cli_fail();
		goto done;
	}
	if (c.json)
		list.arr = json_array();
	opts.policy = &pol;
	opts.flags = dry ? SDF_PRUNE_DRY_RUN : 0;
	opts.expired = on_expired;
	opts.payload = &list;
	if (sdf_store_prune(&res, st, &opts) < 0) {
		rc = cli_fail();
		goto done;
	}
	if (c.json) {
		json_t *o = json_object();
		json_object_set_new(o, "store",
		                    json_string(sdf_store_path(st)));
		json_object_set_new(o, "dry_run", json_boolean(dry));
		json_object_set_new(o, "policy", policy_json(&res.policy));
		json_object_set_new(o, "snapshots",
		                    json_integer((json_int_t)res.snapshots));
		json_object_set_new(o, "expired", list.arr);
		list.arr = NULL;
		json_object_set_new(o, "pinned",
		                    json_integer((json_int_t)res.pinned));
		json_object_set_new(
		    o, "objects_deleted",
		    json_integer((json_int_t)res.objects_deleted));
		json_object_set_new(
		    o, "bytes_deleted",
		    json_integer((json_int_t)res.bytes_deleted));
		json_object_set_new(o, "objects_kept",
		                    json_integer((json_int_t)res.objects_kept));
		json_object_set_new(
		    o, "objects_young",
		    json_integer((json_int_t)res.objects_young));
		json_object_set_new(o, "bytes_young",
		                    json_integer((json_int_t)res.bytes_young));
		json_object_set_new(o, "temp_deleted",
		                    json_integer((json_int_t)res.temp_deleted));
		json_object_set_new(o, "bytes_before",
		                    json_integer((json_int_t)res.bytes_before));
		json_object_set_new(o, "bytes_after",
		                    json_integer((json_int_t)res.bytes_after));
		json_object_set_new(o, "over_quota",
		                    json_boolean(res.over_quota));
		json_object_set_new(o, "rounds", json_integer(res.rounds));
		json_object_set_new(o, "trees_seen",
		                    json_integer((json_int_t)res.trees_seen));
		json_object_set_new(o, "blobs_seen",
		                    json_integer((json_int_t)res.blobs_seen));
		json_object_set_new(o, "mem_bytes",
		                    json_integer((json_int_t)res.mem_bytes));
		cli_add_peaks(o);
		rc = cli_print_json(o);
	} else {
		char b0[32], b1[32], bd[32];
		human(b0, sizeof(b0), res.bytes_before);
		human(b1, sizeof(b1), res.bytes_after);
		human(bd, sizeof(bd), res.bytes_deleted);
		printf("%s%zu of %zu snapshots expired, %" PRIu64
		       " objects (%s) deleted, %" PRIu64
		       " temporary files; %s -> %s%s\n",
		       dry ? "dry run: " : "", res.expired, res.snapshots,
		       res.objects_deleted, bd, res.temp_deleted, b0, b1,
		       res.over_quota ? " (still over --max-bytes)" : "");
		if (res.objects_young)
			printf("kept %" PRIu64 " unreferenced objects younger "
			       "than the grace period (%" PRId64 "s)\n",
			       res.objects_young, res.policy.grace_seconds);
	}
done:
	json_decref(list.arr);
	sdf_store_free(st);
	return rc;
}

static json_t *usage_json(const sdf_store_usage *u, const char *path)
{
	json_t *o = json_object();
	char when[32];

	json_object_set_new(o, "store", json_string(path));
	json_object_set_new(o, "bytes", json_integer((json_int_t)u->bytes));
	json_object_set_new(o, "apparent_bytes",
	                    json_integer((json_int_t)u->apparent_bytes));
	json_object_set_new(o, "files", json_integer((json_int_t)u->files));
	json_object_set_new(o, "objects", json_integer((json_int_t)u->objects));
	json_object_set_new(o, "loose_objects",
	                    json_integer((json_int_t)u->loose_objects));
	json_object_set_new(o, "loose_bytes",
	                    json_integer((json_int_t)u->loose_bytes));
	json_object_set_new(o, "packs", json_integer((json_int_t)u->packs));
	json_object_set_new(o, "packed_objects",
	                    json_integer((json_int_t)u->packed_objects));
	json_object_set_new(o, "pack_bytes",
	                    json_integer((json_int_t)u->pack_bytes));
	json_object_set_new(o, "snapshots",
	                    json_integer((json_int_t)u->snapshots));
	json_object_set_new(o, "pinned", json_integer((json_int_t)u->pinned));
	if (u->snapshots) {
		json_object_set_new(o, "oldest", json_string(u->oldest));
		iso_time(when, sizeof(when), u->oldest_time);
		json_object_set_new(o, "oldest_time", json_string(when));
		json_object_set_new(o, "newest", json_string(u->newest));
		iso_time(when, sizeof(when), u->newest_time);
		json_object_set_new(o, "newest_time", json_string(when));
	} else {
		json_object_set_new(o, "oldest", json_null());
		json_object_set_new(o, "oldest_time", json_null());
		json_object_set_new(o, "newest", json_null());
		json_object_set_new(o, "newest_time", json_null());
	}
	return o;
}

static void usage_text_line(const sdf_store_usage *u, const char *path)
{
	char b[32], t0[32] = "-", t1[32] = "-";

	human(b, sizeof(b), u->bytes);
	if (u->snapshots) {
		iso_time(t0, sizeof(t0), u->oldest_time);
		iso_time(t1, sizeof(t1), u->newest_time);
	}
	printf("%" PRIu64 "\t%s\t%" PRIu64
	       " objects\t%zu snapshots\t%s\t%s\t%s\n",
	       u->bytes, b, u->objects, u->snapshots, t0, t1, path);
}

/* $XDG_DATA_HOME/snapdiff, else ~/.local/share/snapdiff, malloc'd. */
static char *stores_dir(void)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char buf[4096];

	if (xdg && xdg[0] == '/')
		snprintf(buf, sizeof(buf), "%s/snapdiff", xdg);
	else if (home && home[0] == '/')
		snprintf(buf, sizeof(buf), "%s/.local/share/snapdiff", home);
	else
		return NULL;
	return sdf_strdup(buf);
}

static int du_all(int json)
{
	char *dir = stores_dir(), path[4096];
	json_t *arr = json ? json_array() : NULL;
	DIR *d = NULL;
	struct dirent *de;
	int rc = 0;

	if (!dir) {
		sdf_error_set(SDF_EINVAL,
		              "neither XDG_DATA_HOME nor HOME is set");
		rc = cli_fail();
		goto done;
	}
	if ((d = opendir(dir))) {
		while ((de = readdir(d))) {
			sdf_store *st = NULL;
			sdf_store_usage u;

			if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp-"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (sdf_store_open(&st, path, NULL, 0) < 0)
				continue; /* not a store */
			if (sdf_store_du(&u, st) < 0) {
				fprintf(stderr, "snapdiff: warning: %s\n",
				        sdf_error_last());
				rc = CLI_EXIT_ERROR;
			} else if (arr) {
				json_array_append_new(
				    arr, usage_json(&u, sdf_store_path(st)));
			} else {
				usage_text_line(&u, sdf_store_path(st));
			}
			sdf_store_free(st);
		}
		closedir(d);
	}
	if (arr) {
		int prc = cli_print_json(arr);
		arr = NULL;
		if (!rc)
			rc = prc;
	}
done:
	json_decref(arr);
	sdf_free(dir);
	return rc;
}

int cmd_du(int argc, char **argv)
{
	cli_common c = {0};
	sdf_store *st = NULL;
	sdf_store_usage u;
	int all = 0, rc = 0, r;

	for (int i = 1; i < argc; i++) {
		if ((r = cli_common_opt(&c, argc, argv, &i)) < 0)
			return cli_usage("%s needs a value", argv[i]);
		if (r)
			continue;
		if (!strcmp(argv[i], "--all"))
			all = 1;
		else
			return cli_usage("du: unexpected '%s'", argv[i]);
	}
	if (c.git_dir)
		return cli_usage("du measures a snapdiff store; use --store");
	if (all) {
		if (c.store || c.worktree)
			return cli_usage("du: --all measures every store in "
			                 "the default directory");
		return du_all(c.json);
	}
	if (cli_open_store(&st, &c, 0) < 0 || sdf_store_du(&u, st) < 0) {
		rc = cli_fail();
		goto done;
	}
	if (c.json)
		rc = cli_print_json(usage_json(&u, sdf_store_path(st)));
	else
		usage_text_line(&u, sdf_store_path(st));
done:
	sdf_store_free(st);
	return rc;
}

static int pin_or_unpin(int argc, char **argv, int pin)
{
	cli_common c = {0};
	sdf_store *st = NULL;
	const char *spec = NULL;
	size_t n = 0;
	int rc = 0, r;

	for (int i = 1; i < argc; i++) {
		if ((r = cli_common_opt(&c, argc, argv, &i)) < 0)
			return cli_usage("%s needs a value", argv[i]);
		if (r)
			continue;
		if (spec || argv[i][0] == '-')
			return cli_usage("%s: unexpected '%s'", argv[0],
			                 argv[i]);
		spec = argv[i];
	}
	if (!spec)
		return cli_usage("%s needs a snapshot id or label", argv[0]);
	if (c.git_dir)
		return cli_usage("%s works on a snapdiff store; use --store",
		                 argv[0]);
	if (cli_open_store(&st, &c, 0) < 0 ||
	    sdf_snapshot_pin(&n, st, spec, pin) < 0) {
		rc = cli_fail();
		goto done;
	}
	if (c.json) {
		json_t *o = json_object();
		json_object_set_new(o, pin ? "pinned" : "unpinned",
		                    json_integer((json_int_t)n));
		rc = cli_print_json(o);
	} else {
		printf("%s %zu snapshot%s\n", pin ? "pinned" : "unpinned", n,
		       n == 1 ? "" : "s");
	}
done:
	sdf_store_free(st);
	return rc;
}

int cmd_pin(int argc, char **argv)
{
	return pin_or_unpin(argc, argv, 1);
}

int cmd_unpin(int argc, char **argv)
{
	return pin_or_unpin(argc, argv, 0);
}
