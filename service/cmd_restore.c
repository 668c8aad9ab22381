/*
 * snapdiff restore / revert.
 *
 * stdout lists each path the command changed, as "A\tPATH" (created),
 * "M\tPATH" (rewritten or replaced) or "D\tPATH" (deleted); --json prints one
 * object with the counts and the paths that failed instead. A one-line
 * summary goes to stderr, as does each path that could not be done. Any
 * failure exits non-zero. revert's paths are relative to the worktree (not
 * to the current directory) and come after "--".
 */
#include "cli_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAX_JSON_ERRORS 1000

struct report {
	int json;
	json_t *errors; /* the first MAX_JSON_ERRORS failures */
};

static void on_notice(const char *path, int code, const char *message,
                      void *payload)
{
	struct report *r = payload;

	fprintf(stderr, "snapdiff: error: '%s': %s\n", path, message);
	if (r->errors && json_array_size(r->errors) < MAX_JSON_ERRORS) {
		json_t *o = json_object();
		json_object_set_new(o, "path", json_string(path));
		json_object_set_new(o, "error",
		                    json_string(sdf_error_name(code)));
		json_object_set_new(o, "message", json_string(message));
		json_array_append_new(r->errors, o);
	}
}

static void on_changed(const char *path, int action, void *payload)
{
	struct report *r = payload;

	if (r->json)
		return;
	printf("%c\t%s\n",
	       action == SDF_RESTORE_ADDED     ? 'A'
	       : action == SDF_RESTORE_DELETED ? 'D'
	                                       : 'M',
	       path);
}

/*
 * TREE [common options] [-- PATH...]. Paths are only taken after "--", and
 * only when paths is not NULL.
 */
static int parse(cli_common *c, const char **tree, char ***paths,
                 size_t *npaths, int argc, char **argv)
{
	const char *cmd = argv[0];
	int r;

	*tree = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			if (!paths)
				return cli_usage("%s: unexpected '--'", cmd);
			*paths = argv + i + 1;
			*npaths = (size_t)(argc - i - 1);
			break;
		}
		if ((r = cli_common_opt(c, argc, argv, &i)) < 0)
			return cli_usage("%s needs a value", argv[i]);
		if (r)
			continue;
		if (argv[i][0] == '-' && argv[i][1])
			return cli_usage("%s: unknown option '%s'", cmd,
			                 argv[i]);
		if (*tree)
			return paths ? cli_usage("%s: put the paths after "
			                         "'--'",
			                         cmd)
			             : cli_usage("%s: unexpected '%s'", cmd,
			                         argv[i]);
		*tree = argv[i];
	}
	if (!*tree)
		return cli_usage("%s: which snapshot? give a tree id, "
		                 "snapshot id or label",
		                 cmd);
	if (paths && !*npaths)
		return cli_usage("%s: give the paths to revert after '--'",
		                 cmd);
	if (c->git_dir)
		return cli_usage("%s reads from a snapdiff store; use --store",
		                 cmd);
	return 0;
}

static int run(int argc, char **argv, int revert)
{
	cli_common c = {0};
	sdf_restore_options opts = SDF_RESTORE_OPTIONS_INIT;
	sdf_restore_result res;
	struct report rep = {0, NULL};
	sdf_store *st = NULL;
	const char *tree;
	char **paths = NULL;
	size_t npaths = 0;
	int rc, err;

	if ((rc = parse(&c, &tree, revert ? &paths : NULL, &npaths, argc,
	                argv)) != 0)
		return rc;
	rep.json = c.json;
	if (c.json && !(rep.errors = json_array())) {
		sdf_error_set(SDF_EBUDGET, "cannot build the JSON output");
		return cli_fail();
	}
	opts.notice = on_notice;
	opts.changed = on_changed;
	opts.payload = &rep;
	memset(&res, 0, sizeof(res));
	if ((err = cli_open_store(&st, &c, 0)) == 0)
		err = revert ? sdf_snapshot_revert(&res, st, tree,
		                                   (const char *const *)paths,
		                                   npaths, &opts)
		             : sdf_snapshot_restore(&res, st, tree, &opts);
	if (err < 0 && !res.written && !res.unchanged && !res.removed &&
	    !res.errors) {
		/* nothing was done: one clear line */
		rc = cli_fail();
		goto done;
	}
	rc = 0;
	fflush(stdout);
	fprintf(stderr,
	        "snapdiff: %s %s: %" PRIu64 " written, %" PRIu64
	        " unchanged, %" PRIu64 " deleted, %" PRIu64 " failed\n",
	        revert ? "reverted to" : "restored", res.tree, res.written,
	        res.unchanged, res.removed, res.errors);
	if (err < 0)
		rc = cli_fail();
	if (c.json) {
		json_t *o = json_object();
		json_object_set_new(o, "tree", json_string(res.tree));
		json_object_set_new(o, "ok", json_boolean(err == 0));
		json_object_set_new(o, "written",
		                    json_integer((json_int_t)res.written));
		json_object_set_new(
		    o, "written_bytes",
		    json_integer((json_int_t)res.written_bytes));
		json_object_set_new(o, "unchanged",
		                    json_integer((json_int_t)res.unchanged));
		json_object_set_new(o, "removed",
		                    json_integer((json_int_t)res.removed));
		json_object_set_new(o, "failed",
		                    json_integer((json_int_t)res.errors));
		json_object_set_new(o, "errors", rep.errors);
		rep.errors = NULL;
		if (err < 0) {
			json_object_set_new(o, "error",
			                    json_string(sdf_error_name(err)));
			json_object_set_new(o, "message",
			                    json_string(sdf_error_last()));
		}
		json_object_set_new(o, "store",
		                    json_string(sdf_store_path(st)));
		json_object_set_new(o, "worktree",
		                    json_string(sdf_store_worktree(st)));
		cli_add_peaks(o);
		if (cli_print_json(o) != 0)
			rc = CLI_EXIT_ERROR;
	}
done:
	json_decref(rep.errors);
	sdf_store_free(st);
	return rc;
}

int cmd_restore(int argc, char **argv)
{
	return run(argc, argv, 0);
}

int cmd_revert(int argc, char **argv)
{
	return run(argc, argv, 1);
}
