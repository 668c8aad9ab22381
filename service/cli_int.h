/* Shared by the snapdiff CLI's commands. */
#ifndef SDF_CLI_INT_H
#define SDF_CLI_INT_H

#include "sdf_snapshot.h"

#include <jansson.h>
#include <stddef.h>

#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

/* Options every command takes. */
typedef struct {
	const char *store;
	const char *worktree;
	const char *git_dir;
	int json;
} cli_common;

/*
 * If argv[*i] is a common option, consumes it (and its value) and returns 1;
 * returns -1 on a missing value, 0 when it is not a common option.
 */
int cli_common_opt(cli_common *c, int argc, char **argv, int *i);

/* Opens the store for c (creating it when create is set). */
int cli_open_store(sdf_store **out, const cli_common *c, int create);

/* "snapdiff: error: <sdf_error_last()>" on stderr; returns CLI_EXIT_ERROR. */
int cli_fail(void);
/* "snapdiff: <fmt>" on stderr; returns CLI_EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a JSON value compactly on one stdout line; consumes it. */
int cli_print_json(json_t *v);
/* Adds peak_bytes (the allocator's) and peak_rss_bytes to obj. */
void cli_add_peaks(json_t *obj);

int cmd_track(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_revert(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_du(int argc, char **argv);
int cmd_pin(int argc, char **argv);
int cmd_unpin(int argc, char **argv);

#endif
