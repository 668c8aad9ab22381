/* snapdiff: the one-shot command. */
#include "cli_int.h"
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define DEFAULT_MEMORY_LIMIT ((size_t)256 << 20)

static const char usage_text[] =
    "usage: snapdiff [--memory-limit BYTES] <command> [options]\n"
    "\n"
    "commands:\n"
    "  track [--worktree DIR] [--store DIR] [--label NAME] [--strict] "
    "[--json]\n"
    "        snapshot the worktree; prints the tree id last\n"
    "  log [--store DIR | --worktree DIR] [--json]\n"
    "        list the store's snapshots, oldest first\n"
    "  restore TREE [--worktree DIR] [--store DIR] [--json]\n"
    "        write every file of a snapshot back into the worktree\n"
    "  revert TREE [--worktree DIR] [--store DIR] [--json] -- PATH...\n"
    "        put the named paths back as they were in a snapshot\n"
    "  diff [--store DIR | --git-dir DIR | --worktree DIR] FROM [TO]\n"
    "        [--stat|--numstat|--name-status|--json|--format opencode]\n"
    "        [--exit-code] [--max-file-bytes SIZE] [--max-patch-bytes SIZE]\n"
    "        [--max-total-patch-bytes SIZE] [--max-files N]\n"
    "        summarize what changed between two tree-ishes (a tree id,\n"
    "        snapshot id or label, HEAD~N); with FROM alone the worktree\n"
    "        is snapshotted first and is TO\n"
    "  prune [--store DIR | --worktree DIR] [--keep-days N] "
    "[--keep-count N]\n"
    "        [--max-bytes SIZE] [--grace DURATION] [--save] [--dry-run] "
    "[--json]\n"
    "        expire snapshots beyond the retention policy (the store's\n"
    "        snapdiff.keepDays, keepCount, maxBytes, pruneGrace; flags "
    "override,\n"
    "        --save stores them) and delete what no snapshot keeps\n"
    "  du [--store DIR | --worktree DIR | --all] [--json]\n"
    "        bytes on disk (du -sB1 -l), objects and snapshots of a store\n"
    "  pin ID|LABEL, unpin ID|LABEL [--store DIR | --worktree DIR]\n"
    "        never expire (or again allow expiring) these snapshots\n"
    "\n"
    "options for every command:\n"
    "  --memory-limit BYTES  fail cleanly instead of using more memory\n"
    "                        (K, M, G suffixes; default 256M)\n"
    "  --help, --version\n";

int cli_common_opt(cli_common *c, int argc, char **argv, int *i)
{
	const char **slot = NULL;
	const char *a = argv[*i];

	if (!strcmp(a, "--json")) {
		c->json = 1;
		return 1;
	}
	if (!strcmp(a, "--store"))
		slot = &c->store;
	else if (!strcmp(a, "--worktree"))
		slot = &c->worktree;
	else if (!strcmp(a, "--git-dir"))
		slot = &c->git_dir;
	else if (!strcmp(a, "--memory-limit")) {
		/* applied by main() before any command runs */
		if (*i + 1 >= argc)
			return -1;
		(*i)++;
		return 1;
	}
	if (!slot)
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*slot = argv[++*i];
	return 1;
}

int cli_open_store(sdf_store **out, const cli_common *c, int create)
{
	const char *wt = c->worktree;

	if (!wt && !c->store)
		wt = ".";
	return sdf_store_open(out, c->store, wt, create ? SDF_STORE_CREATE : 0);
}

int cli_fail(void)
{
	fprintf(stderr, "snapdiff: error: %s\n", sdf_error_last());
	return CLI_EXIT_ERROR;
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("snapdiff: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see snapdiff --help)\n", stderr);
	return CLI_EXIT_USAGE;
}

int cli_print_json(json_t *v)
{
	char *s;

	if (!v) {
		sdf_error_set(SDF_EBUDGET, "cannot build the JSON output");
		return cli_fail();
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(v);
	if (!s) {
		sdf_error_set(SDF_EBUDGET, "cannot encode the JSON output");
		return cli_fail();
	}
	puts(s);
	sdf_free(s);
	return 0;
}

void cli_add_peaks(json_t *obj)
{
	struct rusage ru;

	json_object_set_new(obj, "peak_bytes",
	                    json_integer((json_int_t)sdf_alloc_peak()));
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		json_object_set_new(
		    obj, "peak_rss_bytes",
		    json_integer((json_int_t)ru.ru_maxrss * 1024));
}

static const struct {
	const char *name;
	int (*run)(int, char **);
} commands[] = {
    {"track", cmd_track},   {"log", cmd_log},   {"restore", cmd_restore},
    {"revert", cmd_revert}, {"diff", cmd_diff}, {"prune", cmd_prune},
    {"du", cmd_du},         {"pin", cmd_pin},   {"unpin", cmd_unpin},
};

int main(int argc, char **argv)
{
	size_t limit = DEFAULT_MEMORY_LIMIT;
	int cmd = -1, rc;

	sdf_alloc_tune_process();
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("snapdiff %s\n", SDF_VERSION);
			return 0;
		}
		if (!strcmp(argv[i], "--memory-limit")) {
			if (i + 1 >= argc ||
			    sdf_parse_size(argv[i + 1], &limit) < 0)
				return cli_usage("--memory-limit takes a byte "
				                 "count such as 64M");
			i++;
		}
	}
	for (int i = 1; i < argc && cmd < 0; i++) {
		if (!strcmp(argv[i], "--memory-limit")) {
			i++;
			continue;
		}
		for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]);
		     c++)
			if (!strcmp(argv[i], commands[c].name)) {
				cmd = (int)c;
				/* hand the command its own argv */
				memmove(&argv[1], &argv[i + 1],
				        sizeof(char *) * (size_t)(argc - i));
				argc -= i;
				break;
			}
		if (cmd < 0)
			return cli_usage("unknown command '%s'", argv[i]);
	}
	if (cmd < 0) {
		fputs(usage_text, stderr);
		return CLI_EXIT_USAGE;
	}
	sdf_alloc_set_limit(limit);
	sdf_api_global_init();
	if (sdf_snapshot_global_init() < 0)
		return cli_fail();
	argv[0] = (char *)commands[cmd].name;
	rc = commands[cmd].run(argc, argv);
	fflush(stdout);
	if (ferror(stdout)) {
		fprintf(stderr, "snapdiff: error: cannot write the output\n");
		rc = CLI_EXIT_ERROR;
	}
	sdf_snapshot_global_shutdown();
	return rc;
}
