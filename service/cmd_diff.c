/* snapdiff diff: per-file summaries of what changed between two trees. */
#include "cli_int.h"
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum format { FMT_STAT, FMT_NUMSTAT, FMT_NAME_STATUS, FMT_JSON, FMT_OPENCODE };

struct collect {
	enum format fmt;
	sdf_file_summary *files; /* text formats: copies with owned paths */
	size_t n, cap;
	/* JSON formats: each file is written as soon as it is ready */
	size_t written;
	const char *from, *to;
	int estimated;
};

/* The start of the JSON document, up to the files array's first entry. */
static void open_json(const struct collect *c)
{
	if (c->fmt == FMT_JSON)
		printf("{\"from\":\"%s\",\"to\":\"%s\",\"files\":[", c->from,
		       c->to);
	else
		fputc('[', stdout);
}

static int on_file(const sdf_file_summary *f, void *payload)
{
	struct collect *c = payload;

	if (!f->exact && !f->binary) {
		fprintf(
		    stderr,
		    "snapdiff: warning: the counts of '%s' are an estimate\n",
		    f->path);
		c->estimated = 1;
	}
	if (c->fmt == FMT_JSON || c->fmt == FMT_OPENCODE) {
		json_t *o = c->fmt == FMT_JSON ? sdf_api_file_json(f)
		                               : sdf_api_file_opencode_json(f);
		char *text = o ? sdf_api_dumps(o) : NULL;
		json_decref(o);
		if (!text)
			return sdf_error_set(SDF_EBUDGET,
			                     "cannot build the JSON output");
		if (c->written == 0)
			open_json(c);
		else
			fputc(',', stdout);
		fputs(text, stdout);
		sdf_free(text);
		c->written++;
		return ferror(stdout)
		           ? sdf_error_set(SDF_EIO, "cannot write the output")
		           : 0;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		sdf_file_summary *v =
		    sdf_reallocarray(c->files, cap, sizeof(*v));
		if (!v)
			return SDF_EBUDGET;
		c->files = v;
		c->cap = cap;
	}
	c->files[c->n] = *f;
	c->files[c->n].patch = NULL;
	c->files[c->n].patch_len = 0;
	if (!(c->files[c->n].path = sdf_strdup(f->path)))
		return SDF_EBUDGET;
	c->n++;
	return 0;
}

static void collect_dispose(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		sdf_free((char *)c->files[i].path);
	sdf_free(c->files);
}

static int size_opt(uint64_t *out, const char *name, const char *value)
{
	size_t v;

	if (!value || sdf_parse_size(value, &v) < 0)
		return cli_usage("%s takes a byte count such as 64K", name);
	*out = v;
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	cli_common c = {0};
	sdf_summary_options opts = SDF_SUMMARY_OPTIONS_INIT;
	sdf_diff_totals totals;
	struct collect col = {0};
	sdf_store *st = NULL, *st2 = NULL;
	const char *spec[2] = {NULL, NULL};
	char from[SDF_OID_HEXSZ + 1], to[SDF_OID_HEXSZ + 1];
	int exit_code = 0, nspec = 0, r, rc = 0, fmt_set = 0;
	enum format fmt = FMT_STAT;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if ((r = cli_common_opt(&c, argc, argv, &i)) < 0)
			return cli_usage("%s needs a value", a);
		if (r)
			continue;
		if (!strcmp(a, "--numstat"))
			fmt = FMT_NUMSTAT, fmt_set++;
		else if (!strcmp(a, "--stat"))
			fmt = FMT_STAT, fmt_set++;
		else if (!strcmp(a, "--name-status"))
			fmt = FMT_NAME_STATUS, fmt_set++;
		else if (!strcmp(a, "--format") && i + 1 < argc) {
			const char *v = argv[++i];
			if (!strcmp(v, "opencode"))
				fmt = FMT_OPENCODE;
			else if (!strcmp(v, "json"))
				fmt = FMT_JSON;
			else
				return cli_usage("unknown --format '%s' (json, "
				                 "opencode)",
				                 v);
			fmt_set++;
		} else if (!strcmp(a, "--exit-code"))
			exit_code = 1;
		else if (!strcmp(a, "--no-renames"))
			; /* renames are never detected */
		else if (!strcmp(a, "--max-file-bytes")) {
			if ((rc = size_opt(&opts.max_file_bytes, a,
			                   i + 1 < argc ? argv[++i] : NULL)))
				return rc;
		} else if (!strcmp(a, "--max-patch-bytes")) {
			if ((rc = size_opt(&opts.max_patch_bytes, a,
			                   i + 1 < argc ? argv[++i] : NULL)))
				return rc;
		} else if (!strcmp(a, "--max-total-patch-bytes")) {
			if ((rc = size_opt(&opts.max_total_patch_bytes, a,
			                   i + 1 < argc ? argv[++i] : NULL)))
				return rc;
		} else if (!strcmp(a, "--max-files")) {
			if ((rc = size_opt(&opts.max_files, a,
			                   i + 1 < argc ? argv[++i] : NULL)))
				return rc;
		} else if (a[0] == '-' && a[1])
			return cli_usage("diff: unknown option '%s'", a);
		else if (nspec < 2)
			spec[nspec++] = a;
		else
			return cli_usage("diff takes at most two tree-ishes");
	}
	if (c.json) {
		fmt = FMT_JSON;
		fmt_set++;
	}
	if (fmt_set > 1)
		return cli_usage("diff: choose one output format");
	if (!nspec)
		return cli_usage("diff needs FROM (and optionally TO)");
	if (c.git_dir && c.store)
		return cli_usage("give --store or --git-dir, not both");
	if (c.git_dir && nspec < 2)
		return cli_usage("with --git-dir, give both FROM and TO");
	col.fmt = fmt;
	if (c.git_dir) {
		if (sdf_store_open(&st, c.git_dir, NULL, 0) < 0 ||
		    sdf_store_open(&st2, c.git_dir, NULL, 0) < 0)
			goto fail;
	} else if (cli_open_store(&st, &c, nspec < 2) < 0 ||
	           sdf_store_open(&st2, sdf_store_path(st),
	                          sdf_store_worktree(st), 0) < 0) {
		goto fail;
	}
	if (sdf_store_resolve_tree(from, st, spec[0]) < 0)
		goto fail;
	if (nspec == 2) {
		if (sdf_store_resolve_tree(to, st, spec[1]) < 0)
			goto fail;
	} else {
		sdf_track_options to_opts = SDF_TRACK_OPTIONS_INIT;
		sdf_track_result tr;
		if (sdf_snapshot_track(&tr, st, &to_opts) < 0)
			goto fail;
		memcpy(to, tr.tree, sizeof(to));
	}
	opts.patches = fmt == FMT_JSON || fmt == FMT_OPENCODE;
	col.from = from;
	col.to = to;
	opts.on_file = on_file;
	opts.payload = &col;
	if (sdf_store_lock(st, 0) < 0)
		goto fail;
	r = sdf_summarize(&totals, st, st2, from, to, &opts);
	sdf_store_unlock(st);
	if (r < 0)
		goto fail;
	switch (fmt) {
	case FMT_NUMSTAT:
		r = sdf_api_write_numstat(stdout, col.files, col.n);
		break;
	case FMT_NAME_STATUS:
		r = sdf_api_write_name_status(stdout, col.files, col.n);
		break;
	case FMT_STAT:
		r = sdf_api_write_stat(stdout, col.files, col.n, NULL);
		break;
	case FMT_OPENCODE:
		if (!col.written)
			open_json(&col);
		fputs("]\n", stdout);
		break;
	case FMT_JSON: {
		json_t *t = sdf_api_totals_json(&totals);
		char *text = t ? sdf_api_dumps(t) : NULL;
		json_decref(t);
		if (!text) {
			r = sdf_error_set(SDF_EBUDGET,
			                  "cannot build the JSON output");
			break;
		}
		if (!col.written)
			open_json(&col);
		printf("],\"totals\":%s}\n", text);
		sdf_free(text);
		break;
	}
	}
	if (r < 0)
		goto fail;
	rc = r ? r : (exit_code && totals.files ? 1 : 0);
	goto done;
fail:
	fprintf(stderr, "snapdiff: error: %s\n", sdf_error_last());
	rc = exit_code ? 128 : CLI_EXIT_ERROR;
done:
	collect_dispose(&col);
	sdf_store_free(st2);
	sdf_store_free(st);
	return rc;
}
