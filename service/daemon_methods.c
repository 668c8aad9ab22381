/*
 * snapdiffd's methods. Each has the semantics of the snapdiff command of
 * the same name and answers with the object that command prints with
 * --json (docs/protocol.md lists the params and results).
 */
#include "daemon_int.h"
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "sdf_snapshot.h"
#include "sdf_tree.h"
#include "summary.h"

#include "sdf_diff.h"

#include <git2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)
#define MAX_REPORTED 1000 /* notices listed in a track/restore result */
#define MAX_REVERT_PATHS 10000
#define MAX_SPEC 1024
#define FILE_LENGTH_DEFAULT ((uint64_t)64 << 10)
#define DUMP_FLAGS (JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER)

/* ---- params ---- */

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
	char msg[SDF_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sdf_error_set(SDF_EINVAL, "invalid params: %s", msg);
	return DAEMON_EPARAMS;
}

/* Rejects a key not in allowed (NULL-terminated): typos fail loudly. */
static int check_keys(daemon_call *call, const char *method,
                      const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(call->params, key, v)
	{
		int ok = 0;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(key, allowed[i]);
		if (!ok)
			return bad("unknown parameter '%.64s' for %s", key,
			           method);
	}
	return 0;
}

/* A string param without NUL bytes, at most max bytes. */
static int get_str(const char **out, daemon_call *call, const char *key,
                   int required, size_t max)
{
	json_t *v = json_object_get(call->params, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return bad("'%s' is required%s", key, "");
		return 0;
	}
	if (!json_is_string(v))
		return bad("'%s' must be a string%s", key, "");
	if (json_string_length(v) != strlen(json_string_value(v)) ||
	    json_string_length(v) == 0 || json_string_length(v) > max)
		return bad("'%s' must be a non-empty string without NUL "
		           "bytes, of at most a few KiB%s",
		           key, "");
	*out = json_string_value(v);
	return 0;
}

/* An absolute path param. */
static int get_path(const char **out, daemon_call *call, const char *key)
{
	int r = get_str(out, call, key, 0, DAEMON_MAX_PATH);

	if (r == 0 && *out && (*out)[0] != '/')
		return bad("'%s' must be an absolute path (the daemon's "
		           "working directory is not yours): '%.200s'",
		           key, *out);
	return r;
}

static int get_uint(uint64_t *out, daemon_call *call, const char *key,
                    uint64_t def)
{
	json_t *v = json_object_get(call->params, key);

	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bad("'%s' must be a non-negative integer%s", key, "");
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_bool(int *out, daemon_call *call, const char *key, int def)
{
	json_t *v = json_object_get(call->params, key);

	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return bad("'%s' must be true or false%s", key, "");
	*out = json_is_true(v);
	return 0;
}

/*
 * The store of params store / worktree / git_dir, as the CLI opens it:
 * store and worktree (at least one), or git_dir alone (any git
 * directory; read-only methods only).
 */
static int open_store(sdf_store **out, daemon_call *call, int create,
                      int allow_git_dir)
{
	const char *store, *wt, *git_dir = NULL;
	int r;

	*out = NULL;
	if ((r = get_path(&store, call, "store")) < 0 ||
	    (r = get_path(&wt, call, "worktree")) < 0 ||
	    (allow_git_dir && (r = get_path(&git_dir, call, "git_dir")) < 0))
		return r;
	if (git_dir) {
		if (store || wt)
			return bad("give git_dir alone, or store and/or "
			           "worktree%s%s",
			           "", "");
		return sdf_store_open(out, git_dir, NULL, 0);
	}
	if (!store && !wt)
		return bad("give 'worktree' (its default store is used) or "
		           "'store'%s%s",
		           "", "");
	return sdf_store_open(out, store, wt, create ? SDF_STORE_CREATE : 0);
}

/* json_object_set_new that remembers a failure (v is consumed). */
static void put(json_t *o, const char *key, json_t *v, int *failed)
{
	if (!o) {
		json_decref(v);
		*failed = 1;
	} else if (!v || json_object_set_new(o, key, v) < 0) {
		*failed = 1;
	}
}

static void add_peaks(json_t *o, int *failed)
{
	struct rusage ru;

	put(o, "peak_bytes", json_integer((json_int_t)sdf_alloc_peak()),
	    failed);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		put(o, "peak_rss_bytes",
		    json_integer((json_int_t)ru.ru_maxrss * 1024), failed);
}

static int check_built(json_t **result, json_t *o, int failed)
{
	if (!o || failed) {
		json_decref(o);
		return sdf_error_set(SDF_EBUDGET,
		                     "over the memory budget while "
		                     "building the result");
	}
	*result = o;
	return 0;
}

/* ---- service.* ---- */

static int m_ping(json_t **result, daemon_call *call)
{
	static const char *const keys[] = {NULL};
	int r;

	if ((r = check_keys(call, "service.ping", keys)) < 0)
		return r;
	return check_built(result,
	                   json_pack("{s:b, s:s, s:I}", "pong", 1, "version",
	                             SDF_VERSION, "pid", (json_int_t)getpid()),
	                   0);
}

static int m_stats(json_t **result, daemon_call *call)
{
	static const char *const keys[] = {NULL};
	int r;

	if ((r = check_keys(call, "service.stats", keys)) < 0)
		return r;
	return check_built(result, daemon_server_stats(), 0);
}

/* ---- snapshot.track / snapshot.log ---- */

/* The notices of a track or restore, as a result reports them. */
struct notices {
	json_t *list;
	int lost; /* one could not be added: the list would lie */
};

static void track_notice(const char *path, int code, const char *message,
                         void *payload)
{
	struct notices *n = payload;

	if (json_array_size(n->list) >= MAX_REPORTED)
		return;
	if (json_array_append_new(n->list,
	                          json_pack("{s:s, s:s, s:s}", "path", path,
	                                    "error", sdf_error_name(code),
	                                    "message", message)) < 0)
		n->lost = 1;
}

static json_t *track_json(const sdf_track_result *res, const char *label,
                          const struct notices *skipped, sdf_store *st)
{
	json_t *o = json_object();
	int failed = skipped->lost;

	put(o, "tree", json_string(res->tree), &failed);
	put(o, "id", json_string(res->id), &failed);
	put(o, "created", json_boolean(res->created), &failed);
	put(o, "label", label ? json_string(label) : json_null(), &failed);
	put(o, "files", json_integer((json_int_t)res->files), &failed);
	put(o, "bytes", json_integer((json_int_t)res->bytes), &failed);
	put(o, "written", json_integer((json_int_t)res->written), &failed);
	put(o, "written_bytes", json_integer((json_int_t)res->written_bytes),
	    &failed);
	put(o, "removed", json_integer((json_int_t)res->removed), &failed);
	put(o, "skipped", json_incref(skipped->list), &failed);
	put(o, "store", json_string(sdf_store_path(st)), &failed);
	put(o, "worktree",
	    sdf_store_worktree(st) ? json_string(sdf_store_worktree(st))
	                           : json_null(),
	    &failed);
	add_peaks(o, &failed);
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Tracks the store's worktree; skipped (may be NULL) gets the notices. */
static int do_track(sdf_track_result *res, sdf_store *st, const char *label,
                    int strict, struct notices *skipped)
{
	sdf_track_options opts = SDF_TRACK_OPTIONS_INIT;

	opts.label = label;
	opts.strict = strict;
	if (skipped) {
		opts.notice = track_notice;
		opts.payload = skipped;
	}
	if (!sdf_store_worktree(st))
		return sdf_error_set(SDF_EINVAL,
		                     "the store %s records no worktree; give "
		                     "'worktree'",
		                     sdf_store_path(st));
	return sdf_snapshot_track(res, st, &opts);
}

static size_t est_track(daemon_call *call)
{
	(void)call;
	return 4 * MIB;
}

static int m_track(json_t **result, daemon_call *call)
{
	static const char *const keys[] = {"worktree", "store", "label",
	                                   "strict", NULL};
	sdf_track_result res;
	sdf_store *st = NULL;
	struct notices skipped = {NULL, 0};
	const char *label;
	int strict, r;

	if ((r = check_keys(call, "snapshot.track", keys)) < 0 ||
	    (r = get_str(&label, call, "label", 0, 256)) < 0 ||
	    (r = get_bool(&strict, call, "strict", 0)) < 0)
		return r;
	if (!(skipped.list = json_array()))
		return sdf_error_set(SDF_EBUDGET, "over the memory budget");
	if ((r = open_store(&st, call, 1, 0)) == 0 &&
	    (r = do_track(&res, st, label, strict, &skipped)) == 0) {
		json_t *o = track_json(&res, label, &skipped, st);
		r = check_built(result, o, 0);
		daemon_pruner_note(sdf_store_path(st), res.written > 0);
	}
	json_decref(skipped.list);
	sdf_store_free(st);
	return r;
}

static size_t est_small(daemon_call *call)
{
	(void)call;
	return 2 * MIB;
}

static int m_log(json_t **result, daemon_call *call)
{
	static const char *const keys[] = {"worktree", "store", "git_dir",
	                                   NULL};
	sdf_store *st = NULL;
	sdf_snapshot_info *list = NULL;
	size_t n = 0;
	json_t *arr = NULL;
	int r, locked = 0, failed = 0;

	if ((r = check_keys(call, "snapshot.log", keys)) < 0 ||
	    (r = open_store(&st, call, 0, 1)) < 0)
		goto done;
	if ((r = sdf_store_lock(st, 0)) < 0)
		goto done;
	locked = 1;
	if ((r = sdf_snapshot_log(&list, &n, st)) < 0)
		goto done;
	arr = json_array();
	for (size_t i = 0; i < n && arr && !failed; i++) {
		char when[32];
		struct tm tm;
		time_t t = (time_t)list[i].time;
		json_t *o = json_object();

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		put(o, "id", json_string(list[i].id), &failed);
		put(o, "tree", json_string(list[i].tree), &failed);
		put(o, "commit", json_string(list[i].commit), &failed);
		put(o, "time", json_integer(list[i].time), &failed);
		put(o, "time_iso", json_string(when), &failed);
		put(o, "label",
		    list[i].label ? json_string(list[i].label) : json_null(),
		    &failed);
		put(o, "files", json_integer((json_int_t)list[i].files),
		    &failed);
		put(o, "bytes", json_integer((json_int_t)list[i].bytes),
		    &failed);
		if (!o || json_array_append_new(arr, o) < 0)
			failed = 1;
	}
	r = check_built(result, arr, failed);
	arr = NULL;
done:
	sdf_snapshot_log_free(list, n);
	if (locked)
		sdf_store_unlock(st);
	sdf_store_free(st);
	return r;
}

/* ---- snapshot.diff ---- */

struct diff_params {
	const char *from, *to, *format;
	int stream, opencode, cache;
	sdf_summary_options opts;
};

static int diff_params(struct diff_params *p, daemon_call *call)
{
	static const char *const keys[] = {"worktree",
	                                   "store",
	                                   "git_dir",
	                                   "from",
	                                   "to",
	                                   "stream",
	                                   "max_file_bytes",
	                                   "max_patch_bytes",
	                                   "max_total_patch_bytes",
	                                   "max_files",
	                                   "format",
	                                   "cache",
	                                   NULL};
	sdf_summary_options init = SDF_SUMMARY_OPTIONS_INIT;
	uint64_t cap = call->cfg->max_message;
	int r;

	p->opts = init;
	if ((r = check_keys(call, "snapshot.diff", keys)) < 0 ||
	    (r = get_str(&p->from, call, "from", 1, MAX_SPEC)) < 0 ||
	    (r = get_str(&p->to, call, "to", 0, MAX_SPEC)) < 0 ||
	    (r = get_str(&p->format, call, "format", 0, 32)) < 0 ||
	    (r = get_bool(&p->stream, call, "stream", 1)) < 0 ||
	    (r = get_bool(&p->cache, call, "cache", 1)) < 0 ||
	    (r = get_uint(&p->opts.max_file_bytes, call, "max_file_bytes",
	                  SDF_SUMMARY_MAX_FILE_BYTES)) < 0 ||
	    (r = get_uint(&p->opts.max_patch_bytes, call, "max_patch_bytes",
	                  SDF_SUMMARY_MAX_PATCH_BYTES)) < 0 ||
	    (r = get_uint(&p->opts.max_total_patch_bytes, call,
	                  "max_total_patch_bytes",
	                  SDF_SUMMARY_MAX_TOTAL_PATCH_BYTES)) < 0 ||
	    (r = get_uint(&p->opts.max_files, call, "max_files", 0)) < 0)
		return r;
	if (p->format && strcmp(p->format, "json") &&
	    strcmp(p->format, "opencode"))
		return bad("'format' is \"json\" or \"opencode\", not "
		           "'%.32s'%s",
		           p->format, "");
	p->opencode = p->format && !strcmp(p->format, "opencode");
	p->opts.no_cache = !p->cache;
	/* a patch is rendered from whole blobs: keep them small */
	if (p->opts.max_file_bytes > 8 * MIB)
		return bad("'max_file_bytes' is at most 8 MiB (larger files "
		           "are summarized without a patch)%s%s",
		           "", "");
	if (p->opts.max_patch_bytes > cap ||
	    p->opts.max_total_patch_bytes > cap)
		return bad("'max_patch_bytes' and 'max_total_patch_bytes' are "
		           "at most the daemon's message cap (4 MiB)%s%s",
		           "", "");
	return 0;
}

static size_t est_diff(daemon_call *call)
{
	struct diff_params p;
	size_t n;

	if (diff_params(&p, call) < 0)
		return 0; /* run() reports it */
	/* the line engine's work budget, both sides' readers and buffers,
	 * the two blobs of a patch */
	n = SDF_DIFF_WORK_BUDGET_DEFAULT + 6 * MIB +
	    2 * (size_t)p.opts.max_file_bytes;
	if (!p.stream) /* the files array, then its encoding */
		n += 3 * (size_t)p.opts.max_total_patch_bytes +
		     2 * call->cfg->max_message;
	return n;
}

struct diff_ctx {
	daemon_call *call;
	int stream, opencode;
	json_t *files; /* stream: NULL */
	size_t bytes;  /* encoded size of files so far */
};

static int diff_on_file(const sdf_file_summary *f, void *payload)
{
	struct diff_ctx *d = payload;
	json_t *o, *params;

	if (daemon_canceled(d->call))
		return sdf_error_set(SDF_ECANCELED,
		                     "canceled: the client hung up");
	o = d->opencode ? sdf_api_file_opencode_json(f) : sdf_api_file_json(f);
	if (!o)
		return sdf_error_set(SDF_EBUDGET, "over the memory budget "
		                                  "while encoding a file");
	if (d->stream) {
		if (!(params = json_object()) ||
		    json_object_set(params, "id", d->call->id) < 0) {
			json_decref(o); /* not consumed yet */
			o = NULL;
		}
		if (!o || json_object_set_new(params, "file", o) < 0) {
			json_decref(params);
			return sdf_error_set(SDF_EBUDGET,
			                     "over the memory budget while "
			                     "encoding a file");
		}
		return daemon_notify(d->call, "snapshot.diff.file", params);
	}
	d->bytes += json_dumpb(o, NULL, 0, DUMP_FLAGS) + 1;
	if (d->bytes > d->call->cfg->max_message) {
		json_decref(o);
		return sdf_error_set(SDF_ETOOBIG,
		                     "the files do not fit in one reply of %zu "
		                     "bytes; use stream:true, or lower "
		                     "max_files or max_total_patch_bytes",
		                     d->call->cfg->max_message);
	}
	if (json_array_append_new(d->files, o) < 0)
		return sdf_error_set(SDF_EBUDGET, "over the memory budget "
		                                  "while collecting the files");
	return 0;
}

static int m_diff(json_t **result, daemon_call *call)
{
	struct diff_params p;
	struct diff_ctx d = {call, 0, 0, NULL, 0};
	sdf_diff_totals totals;
	sdf_store *st = NULL, *st2 = NULL;
	char from[SDF_OID_HEXSZ + 1], to[SDF_OID_HEXSZ + 1];
	json_t *o = NULL;
	int r, failed = 0;
	const char *git_dir = NULL;

	if ((r = diff_params(&p, call)) < 0 ||
	    (r = get_path(&git_dir, call, "git_dir")) < 0)
		return r;
	if (git_dir && !p.to)
		return bad("with 'git_dir', give both 'from' and 'to'%s%s", "",
		           "");
	d.stream = p.stream;
	d.opencode = p.opencode;
	if (!p.stream && !(d.files = json_array()))
		return sdf_error_set(SDF_EBUDGET, "over the memory budget");
	if ((r = open_store(&st, call, !p.to, 1)) < 0 ||
	    (r = sdf_store_open(&st2, sdf_store_path(st),
	                        sdf_store_worktree(st), 0)) < 0 ||
	    (r = sdf_store_resolve_tree(from, st, p.from)) < 0)
		goto done;
	if (p.to) {
		if ((r = sdf_store_resolve_tree(to, st, p.to)) < 0)
			goto done;
	} else {
		sdf_track_result tr;
		if ((r = do_track(&tr, st, NULL, 0, NULL)) < 0)
			goto done;
		memcpy(to, tr.tree, sizeof(to));
	}
	p.opts.patches = 1;
	p.opts.on_file = diff_on_file;
	p.opts.payload = &d;
	if ((r = sdf_store_lock(st, 0)) < 0)
		goto done;
	r = sdf_summarize(&totals, st, st2, from, to, &p.opts);
	daemon_count_cache_hits(totals.cache_hits);
	sdf_store_unlock(st);
	if (r < 0)
		goto done;
	if (p.opencode && !p.stream) {
		/* as `snapdiff diff --format opencode` prints it */
		*result = d.files;
		d.files = NULL;
		goto done;
	}
	o = json_object();
	put(o, "from", json_string(from), &failed);
	put(o, "to", json_string(to), &failed);
	if (!p.stream) {
		put(o, "files", d.files, &failed);
		d.files = NULL;
	}
	put(o, "totals", sdf_api_totals_json(&totals), &failed);
	r = check_built(result, o, failed);
done:
	json_decref(d.files);
	sdf_store_free(st2);
	sdf_store_free(st);
	return r;
}

/* ---- snapshot.patch ---- */

static size_t est_patch(daemon_call *call)
{
	return 4 * MIB + call->cfg->max_message;
}

static int m_patch(json_t **result, daemon_call *call)
{
	static const char *const keys[] = {"worktree", "store", "from", NULL};
	sdf_store *st = NULL;
	sdf_tree_change *changes = NULL;
	sdf_track_result tr;
	size_t n = 0, bytes = 0;
	char from[SDF_OID_HEXSZ + 1];
	const char *spec;
	json_t *o = NULL, *files = NULL;
	int r, failed = 0;

	if ((r = check_keys(call, "snapshot.patch", keys)) < 0 ||
	    (r = get_str(&spec, call, "from", 1, MAX_SPEC)) < 0 ||
	    (r = open_store(&st, call, 1, 0)) < 0 ||
	    (r = sdf_store_resolve_tree(from, st, spec)) < 0 ||
	    (r = do_track(&tr, st, NULL, 0, NULL)) < 0)
		goto done;
	if ((r = sdf_store_lock(st, 0)) < 0)
		goto done;
	r = sdf_tree_changes(&changes, &n, st, from, tr.tree);
	sdf_store_unlock(st);
	if (r < 0)
		goto done;
	if (!(files = json_array())) {
		r = sdf_error_set(SDF_EBUDGET, "over the memory budget");
		goto done;
	}
	for (size_t i = 0; i < n && !failed; i++) {
		bytes += strlen(changes[i].path) + 4;
		if (bytes > call->cfg->max_message) {
			r = sdf_error_set(SDF_ETOOBIG,
			                  "%zu paths changed: more than fit in "
			                  "one reply; use snapshot.diff with "
			                  "stream:true",
			                  n);
			goto done;
		}
		if (json_array_append_new(files, json_string(changes[i].path)) <
		    0)
			failed = 1;
	}
	o = json_object();
	put(o, "from", json_string(from), &failed);
	put(o, "to", json_string(tr.tree), &failed);
	put(o, "worktree", json_string(sdf_store_worktree(st)), &failed);
	put(o, "files", files, &failed);
	files = NULL;
	r = check_built(result, o, failed);
done:
	json_decref(files);
	sdf_tree_changes_free(changes, n);
	sdf_store_free(st);
	return r;
}

/* ---- snapshot.restore / snapshot.revert ---- */

static void restore_notice(const char *path, int code, const char *message,
                           void *payload)
{
	track_notice(path, code, message, payload);
}

static int m_restore_revert(json_t **result, daemon_call *call, int revert)
{
	static const char *const rkeys[] = {"worktree", "store", "tree", NULL};
	static const char *const vkeys[] = {"worktree", "store", "tree",
	                                    "paths", NULL};
	sdf_restore_options opts = SDF_RESTORE_OPTIONS_INIT;
	sdf_restore_result res;
	sdf_store *st = NULL;
	const char *tree, **paths = NULL;
	size_t npaths = 0;
	struct notices errors = {NULL, 0};
	json_t *o, *jp;
	int r, err, failed = 0;

	if ((r = check_keys(call,
	                    revert ? "snapshot.revert" : "snapshot.restore",
	                    revert ? vkeys : rkeys)) < 0 ||
	    (r = get_str(&tree, call, "tree", 1, MAX_SPEC)) < 0)
		return r;
	if (revert) {
		jp = json_object_get(call->params, "paths");
		if (!json_is_array(jp) || !json_array_size(jp) ||
		    json_array_size(jp) > MAX_REVERT_PATHS)
			return bad("'paths' must be an array of 1 to 10000 "
			           "worktree-relative paths%s%s",
			           "", "");
		npaths = json_array_size(jp);
		if (!(paths = sdf_calloc(npaths, sizeof(*paths))))
			return sdf_error_set(SDF_EBUDGET,
			                     "over the memory budget");
		for (size_t i = 0; i < npaths; i++) {
			json_t *v = json_array_get(jp, i);
			if (!json_is_string(v) ||
			    json_string_length(v) !=
			        strlen(json_string_value(v)) ||
			    !json_string_length(v) ||
			    json_string_length(v) > DAEMON_MAX_PATH) {
				sdf_free(paths);
				return bad("'paths' must hold non-empty "
				           "strings without NUL bytes%s%s",
				           "", "");
			}
			paths[i] = json_string_value(v);
		}
	}
	if (!(errors.list = json_array())) {
		sdf_free(paths);
		return sdf_error_set(SDF_EBUDGET, "over the memory budget");
	}
	opts.notice = restore_notice;
	opts.payload = &errors;
	memset(&res, 0, sizeof(res));
	if ((err = open_store(&st, call, 0, 0)) == 0)
		err = revert ? sdf_snapshot_revert(&res, st, tree, paths,
		                                   npaths, &opts)
		             : sdf_snapshot_restore(&res, st, tree, &opts);
	if (err < 0 &&
	    (err == DAEMON_EPARAMS ||
	     (!res.written && !res.unchanged && !res.removed && !res.errors))) {
		/* nothing was done: an error */
		r = err;
		goto done;
	}
	o = json_object();
	put(o, "tree", json_string(res.tree), &failed);
	put(o, "ok", json_boolean(err == 0), &failed);
	put(o, "written", json_integer((json_int_t)res.written), &failed);
	put(o, "written_bytes", json_integer((json_int_t)res.written_bytes),
	    &failed);
	put(o, "unchanged", json_integer((json_int_t)res.unchanged), &failed);
	put(o, "removed", json_integer((json_int_t)res.removed), &failed);
	put(o, "failed", json_integer((json_int_t)res.errors), &failed);
	put(o, "errors", json_incref(errors.list), &failed);
	failed |= errors.lost;
	if (err < 0) {
		put(o, "error", json_string(sdf_error_name(err)), &failed);
		put(o, "message", json_string(sdf_error_last()), &failed);
	}
	put(o, "store", json_string(sdf_store_path(st)), &failed);
	put(o, "worktree", json_string(sdf_store_worktree(st)), &failed);
	add_peaks(o, &failed);
	r = check_built(result, o, failed);
done:
	json_decref(errors.list);
	sdf_free(paths);
	sdf_store_free(st);
	return r;
}

static int m_restore(json_t **result, daemon_call *call)
{
	return m_restore_revert(result, call, 0);
}

static int m_revert(json_t **result, daemon_call *call)
{
	return m_restore_revert(result, call, 1);
}

/* ---- snapshot.file ---- */

static size_t est_file(daemon_call *call)
{
	uint64_t len = FILE_LENGTH_DEFAULT;

	if (get_uint(&len, call, "length", FILE_LENGTH_DEFAULT) < 0 ||
	    len > DAEMON_FILE_SLICE_MAX)
		len = DAEMON_FILE_SLICE_MAX;
	/* the slice, its JSON escaping (up to 6 bytes a byte), the reader */
	return 2 * MIB + 14 * (size_t)len;
}

/* 1 when s[0..n) is UTF-8 without NUL; *n is cut before an incomplete
 * sequence at its end. */
static int utf8_prefix(const unsigned char *s, size_t *n)
{
	size_t i = 0, len = *n;

	while (i < len) {
		unsigned char c = s[i];
		size_t k;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			k = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			k = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			k = 3, cp = c & 0x07;
		else
			return 0;
		if (i + k >= len) {
			/* cut at the end of the slice */
			for (size_t j = i + 1; j < len; j++)
				if ((s[j] & 0xc0) != 0x80)
					return 0;
			*n = i;
			return 1;
		}
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

static char *base64(const unsigned char *s, size_t n, size_t *out_len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = (n + 2) / 3 * 4, j = 0;
	char *out = sdf_malloc(len + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		out[j++] = tab[(v >> 18) & 63];
		out[j++] = tab[(v >> 12) & 63];
		out[j++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[j++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[j] = '\0';
	*out_len = j;
	return out;
}

/* The blob at path in tree (a tree id): its id. */
static int blob_at(char out[SDF_OID_HEXSZ + 1], sdf_store *st,
                   const char *tree_hex, const char *path)
{
	if (path[0] == '/' || strstr(path, "//") ||
	    path[strlen(path) - 1] == '/')
		return bad("'path' must be relative to the worktree's top, "
		           "such as \"src/main.c\"; not '%.200s'%s",
		           path, "");
	return sdf_store_blob_at(out, st, tree_hex, path);
}

static int m_file(json_t **result, daemon_call *call)
{
	static const char *const keys[] = {
	    "worktree", "store",  "git_dir", "tree",     "path",
	    "oid",      "offset", "length",  "encoding", NULL};
	sdf_store *st = NULL;
	sdf_blob_reader *rd = NULL;
	const char *spec, *path, *oid_param, *enc;
	char tree[SDF_OID_HEXSZ + 1] = "", oid[SDF_OID_HEXSZ + 1];
	uint64_t offset, length, skipped = 0, size;
	unsigned char *buf = NULL;
	size_t got = 0, n, b64len;
	char *b64 = NULL;
	json_t *o = NULL;
	int r, failed = 0, text, at_end;

	if ((r = check_keys(call, "snapshot.file", keys)) < 0 ||
	    (r = get_str(&spec, call, "tree", 0, MAX_SPEC)) < 0 ||
	    (r = get_str(&path, call, "path", 0, DAEMON_MAX_PATH)) < 0 ||
	    (r = get_str(&oid_param, call, "oid", 0, SDF_OID_HEXSZ)) < 0 ||
	    (r = get_str(&enc, call, "encoding", 0, 16)) < 0 ||
	    (r = get_uint(&offset, call, "offset", 0)) < 0 ||
	    (r = get_uint(&length, call, "length", FILE_LENGTH_DEFAULT)) < 0)
		return r;
	if (!oid_param == !(spec && path) || (oid_param && (spec || path)))
		return bad("give 'tree' and 'path', or 'oid' (a blob id from "
		           "a diff)%s%s",
		           "", "");
	if (length > DAEMON_FILE_SLICE_MAX)
		return bad("'length' is at most 1048576 bytes a call; page "
		           "through with 'offset'%s%s",
		           "", "");
	if (enc && strcmp(enc, "auto") && strcmp(enc, "utf8") &&
	    strcmp(enc, "base64"))
		return bad(
		    "'encoding' is \"auto\", \"utf8\" or \"base64\", not "
		    "'%.16s'%s",
		    enc, "");
	if ((r = open_store(&st, call, 0, 1)) < 0)
		goto done;
	if (oid_param) {
		git_oid tmp;
		if (strlen(oid_param) != SDF_OID_HEXSZ ||
		    git_oid_fromstr(&tmp, oid_param) < 0) {
			r = bad("'oid' must be 40 hex digits%s%s", "", "");
			goto done;
		}
		memcpy(oid, oid_param, sizeof(oid));
	} else if ((r = sdf_store_resolve_tree(tree, st, spec)) < 0 ||
	           (r = blob_at(oid, st, tree, path)) < 0) {
		goto done;
	}
	if ((r = sdf_store_lock(st, 0)) < 0)
		goto done;
	r = sdf_blob_reader_open(&rd, st, oid);
	sdf_store_unlock(st);
	if (r < 0)
		goto done;
	size = sdf_blob_reader_size(rd);
	if (!(buf = sdf_malloc((size_t)length + 1))) {
		r = sdf_error_set(SDF_EBUDGET, "over the memory budget");
		goto done;
	}
	/* no seeking in a stream: read up to offset into buf and drop it */
	while (skipped < offset) {
		uint64_t want = offset - skipped;
		if (want > length + 1)
			want = length + 1;
		if (want == 0)
			want = 1;
		if ((r = sdf_blob_reader_read(&n, rd, buf, (size_t)want)) < 0)
			goto done;
		if (!n)
			break;
		skipped += n;
		if (daemon_canceled(call)) {
			r = sdf_error_set(SDF_ECANCELED, "canceled");
			goto done;
		}
	}
	while (got < length) {
		if ((r = sdf_blob_reader_read(&n, rd, buf + got,
		                              (size_t)length - got)) < 0)
			goto done;
		if (!n)
			break;
		got += n;
	}
	r = 0;
	n = got;
	text = (!enc || strcmp(enc, "base64")) && utf8_prefix(buf, &n) &&
	       (n > 0 || got == 0);
	if (enc && !strcmp(enc, "utf8") && !text) {
		r = sdf_error_set(SDF_EINVAL,
		                  "bytes %llu..%llu of '%s' are not UTF-8 "
		                  "text; ask for encoding \"base64\"",
		                  (unsigned long long)offset,
		                  (unsigned long long)(offset + got),
		                  path ? path : oid);
		goto done;
	}
	if (!text)
		n = got;
	at_end = offset + n >= size;
	o = json_object();
	put(o, "oid", json_string(oid), &failed);
	put(o, "tree", tree[0] ? json_string(tree) : json_null(), &failed);
	put(o, "path", path ? json_string(path) : json_null(), &failed);
	put(o, "size", json_integer((json_int_t)size), &failed);
	put(o, "offset", json_integer((json_int_t)offset), &failed);
	put(o, "length", json_integer((json_int_t)n), &failed);
	put(o, "eof", json_boolean(at_end), &failed);
	put(o, "encoding", json_string(text ? "utf8" : "base64"), &failed);
	if (text) {
		put(o, "data", json_stringn_nocheck((const char *)buf, n),
		    &failed);
	} else {
		b64 = base64(buf, n, &b64len);
		put(o, "data", b64 ? json_stringn_nocheck(b64, b64len) : NULL,
		    &failed);
	}
	r = check_built(result, o, failed);
done:
	sdf_free(b64);
	sdf_free(buf);
	sdf_blob_reader_free(rd);
	sdf_store_free(st);
	return r;
}

/* ---- the table ---- */

static const daemon_method methods[] = {
    {"service.ping", NULL, m_ping, 1},
    {"service.stats", NULL, m_stats, 1},
    {"snapshot.track", est_track, m_track, 0},
    {"snapshot.log", est_small, m_log, 0},
    {"snapshot.diff", est_diff, m_diff, 0},
    {"snapshot.patch", est_patch, m_patch, 0},
    {"snapshot.restore", est_track, m_restore, 0},
    {"snapshot.revert", est_track, m_revert, 0},
    {"snapshot.file", est_file, m_file, 0},
};

const daemon_method *daemon_method_find(const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(methods[i].name, name))
			return &methods[i];
	return NULL;
}
