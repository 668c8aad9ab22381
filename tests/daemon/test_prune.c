/* The daemon applies stores' retention policies on its own. */
#include "daemon_util.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t snapshots(const dm_daemon *d, const char *store)
{
	char params[4096];
	json_t *log;
	size_t n;

	snprintf(params, sizeof(params), "{\"store\":\"%s\"}", store);
	log = dm_result(d, "snapshot.log", params);
	n = json_array_size(log);
	json_decref(log);
	return n;
}

Test(prune, the_timer_applies_the_policy, .timeout = 120)
{
	static const char *const extra[] = {"--prune-interval", "1", NULL};
	dm_daemon d;
	char params[8192];
	tu_result r;

	dm_start(&d, extra);
	char *wt = tu_path(d.dir, "wt"), *store = tu_path(d.dir, "store");
	snprintf(params, sizeof(params),
	         "{\"worktree\":\"%s\",\"store\":\"%s\"}", wt, store);
	for (int turn = 0; turn < 4; turn++) {
		char text[32];
		snprintf(text, sizeof(text), "turn %d\n", turn);
		tu_write_str(wt, "f.txt", text);
		json_decref(dm_result(&d, "snapshot.track", params));
		if (turn == 0) {
			/* keep one snapshot, delete at once what it frees */
			tu_sh(
			    &r,
			    "git --git-dir='%s' config snapdiff.keepCount 1 && "
			    "git --git-dir='%s' config snapdiff.pruneGrace 0",
			    store, store);
			cr_assert_eq(r.status, 0, "%s", r.err);
			tu_result_dispose(&r);
		}
	}
	/* the pruner wakes every second: within a few, one snapshot is left */
	size_t n = snapshots(&d, store);
	for (int i = 0; i < 100 && n > 1; i++) {
		usleep(100 * 1000);
		n = snapshots(&d, store);
	}
	cr_assert_eq(n, 1, "%zu snapshots after the timer", n);
	tu_sh(&r, "git --git-dir='%s' fsck --no-dangling 2>&1", store);
	cr_assert_eq(r.status, 0, "%s", r.out);
	tu_result_dispose(&r);
	/* the newest one is the one kept, and it restores */
	tu_write_str(wt, "f.txt", "changed\n");
	snprintf(params, sizeof(params),
	         "{\"worktree\":\"%s\",\"store\":\"%s\",\"tree\":\"HEAD\"}", wt,
	         store);
	json_decref(dm_result(&d, "snapshot.restore", params));
	char *back = tu_read(wt, "f.txt", NULL);
	cr_assert_str_eq(back, "turn 3\n");
	free(back);
	dm_stop(&d);
	dm_dispose(&d);
	free(wt);
	free(store);
}
