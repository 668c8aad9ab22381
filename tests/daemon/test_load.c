/*
 * snapdiffd under load, within one memory budget: eight clients diffing a
 * large rewritten pair at once, a budget too small for two, a budget too
 * small for one, and SIGTERM with work in flight.
 */
#define _GNU_SOURCE
#include "daemon_util.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENTS 8
#define BIG_MIB TU_BIG(64)

TestSuite(load, .timeout = 1200);

struct pair {
	char from[41], to[41];
	char *store;
	long long additions, deletions; /* from the CLI */
};

/* A worktree whose big.txt (BIG_MIB MiB) has every line rewritten. */
static void make_pair(struct pair *p, const char *dir)
{
	char *wt = tu_path(dir, "wt"), *big;
	char *argv[] = {SDF_CLI,   "track", "--worktree", wt,
	                "--store", NULL,    NULL};
	tu_result r;

	p->store = tu_path(dir, "store");
	argv[5] = p->store;
	tu_write_str(wt, "small.txt", "one\n");
	big = tu_path(wt, "big.txt");
	for (int turn = 1; turn <= 2; turn++) {
		char *tree;
		dm_generate(big, turn, BIG_MIB);
		tu_run(&r, NULL, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tree = tu_last_line(r.out);
		snprintf(turn == 1 ? p->from : p->to, 41, "%s", tree);
		free(tree);
		tu_result_dispose(&r);
	}
	{
		char *dargv[] = {SDF_CLI, "diff", "--store", p->store,
		                 p->from, p->to,  "--json",  NULL};
		json_t *v, *t;
		tu_run(&r, NULL, dargv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		v = json_loads(r.out, 0, NULL);
		t = json_object_get(v, "totals");
		p->additions =
		    json_integer_value(json_object_get(t, "additions"));
		p->deletions =
		    json_integer_value(json_object_get(t, "deletions"));
		cr_assert_gt(p->additions, TU_BIG(1000000));
		json_decref(v);
		tu_result_dispose(&r);
	}
	free(big);
	free(wt);
}

static void pair_dispose(struct pair *p)
{
	free(p->store);
}

struct client {
	const dm_daemon *d;
	const struct pair *p;
	int code; /* 0, or the error code */
	long long additions, deletions;
	size_t notes;
};

static void *run_client(void *arg)
{
	struct client *c = arg;
	char params[1024];
	int fd = dm_connect(c->d);
	json_t *r, *t;

	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
	         "\"cache\":false}",
	         c->p->store, c->p->from, c->p->to);
	r = dm_call(fd, 1, "snapshot.diff", params, &c->notes);
	c->code = dm_error_code(r);
	t = json_object_get(json_object_get(r, "result"), "totals");
	c->additions = json_integer_value(json_object_get(t, "additions"));
	c->deletions = json_integer_value(json_object_get(t, "deletions"));
	json_decref(r);
	close(fd);
	return NULL;
}

static void run_clients(const dm_daemon *d, const struct pair *p,
                        struct client *c, int n)
{
	pthread_t th[CLIENTS];

	for (int i = 0; i < n; i++) {
		c[i].d = d;
		c[i].p = p;
		cr_assert_eq(pthread_create(&th[i], NULL, run_client, &c[i]),
		             0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

Test(load, eight_clients_under_the_default_budget)
{
	dm_daemon d;
	struct pair p;
	struct client c[CLIENTS];
	long long baseline, peak;
	json_t *s;

	memset(c, 0, sizeof(c));
	dm_start(&d, NULL);
	make_pair(&p, d.dir);
	{
		/* warm up (libgit2's first use), then the baseline */
		char params[1024];
		snprintf(params, sizeof(params), "{\"store\":\"%s\"}", p.store);
		json_decref(dm_result(&d, "snapshot.log", params));
	}
	baseline = dm_live_bytes(&d);
	run_clients(&d, &p, c, CLIENTS);
	for (int i = 0; i < CLIENTS; i++) {
		cr_assert_eq(c[i].code, 0, "client %d got error %d", i,
		             c[i].code);
		cr_assert_eq(c[i].notes, 1);
		cr_assert_eq(c[i].additions, p.additions);
		cr_assert_eq(c[i].deletions, p.deletions);
	}
	s = dm_result(&d, "service.stats", NULL);
	peak = json_integer_value(json_object_get(s, "peak_bytes"));
	cr_assert_leq(peak, 64 << 20);
	cr_assert_eq(json_integer_value(json_object_get(s, "errors")), 0);
	json_decref(s);
	dm_check_healthy(&d, baseline);
	dm_stop(&d);
	fprintf(stderr,
	        "load: %d clients diffing %d MiB: daemon peak %lld bytes "
	        "counted, %ld KiB RSS\n",
	        CLIENTS, BIG_MIB, peak, d.maxrss_kb);
	if (CHECK_RSS)
		cr_assert_leq(d.maxrss_kb, 64 * 1024, "daemon peak RSS %ld KiB",
		              d.maxrss_kb);
	pair_dispose(&p);
	dm_dispose(&d);
}

Test(load, busy_when_the_budget_is_taken)
{
	/* room for one diff at a time, and a short wait */
	const char *args[] = {"--memory-limit",
	                      "24M",
	                      "--busy-timeout",
	                      "100",
	                      "--workers",
	                      "2",
	                      NULL};
	dm_daemon d;
	struct pair p;
	struct client c[2];
	int ok = 0, busy = 0;

	memset(c, 0, sizeof(c));
	dm_start(&d, args);
	make_pair(&p, d.dir);
	run_clients(&d, &p, c, 2);
	for (int i = 0; i < 2; i++) {
		if (c[i].code == 0) {
			ok++;
			cr_assert_eq(c[i].additions, p.additions);
		} else {
			cr_assert_eq(c[i].code, -32002, "code %d", c[i].code);
			busy++;
		}
	}
	cr_assert_eq(ok, 1);
	cr_assert_eq(busy, 1);
	{
		json_t *s = dm_result(&d, "service.stats", NULL);
		cr_assert_eq(json_integer_value(json_object_get(s, "busy")), 1);
		cr_assert_leq(
		    json_integer_value(json_object_get(s, "peak_bytes")),
		    24 << 20);
		json_decref(s);
	}
	dm_stop(&d);
	pair_dispose(&p);
	dm_dispose(&d);
}

Test(load, over_budget_is_an_error_not_a_crash)
{
	const char *args[] = {"--memory-limit", "4M", NULL};
	dm_daemon d;
	struct pair p;
	struct client c;
	long long baseline;
	json_t *s;

	memset(&c, 0, sizeof(c));
	dm_start(&d, args);
	make_pair(&p, d.dir);
	baseline = dm_live_bytes(&d);
	run_clients(&d, &p, &c, 1);
	/* the line engine's work alone is over 4 MiB */
	cr_assert(c.code == -32001 || (c.code == 0 && c.additions > 0),
	          "code %d", c.code);
	s = dm_result(&d, "service.stats", NULL);
	cr_assert_leq(json_integer_value(json_object_get(s, "peak_bytes")),
	              4 << 20);
	json_decref(s);
	/* one-time state of libgit2 aside, nothing is kept */
	cr_assert_leq(dm_live_bytes(&d), baseline + 4096);
	json_decref(dm_result(&d, "service.ping", NULL));
	dm_stop(&d);
	pair_dispose(&p);
	dm_dispose(&d);
}

Test(load, sigterm_with_work_in_flight)
{
	dm_daemon d;
	struct pair p;
	char params[1024];
	int fd;
	json_t *r;

	dm_start(&d, NULL);
	make_pair(&p, d.dir);
	fd = dm_connect(&d);
	snprintf(params, sizeof(params),
	         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"snapshot.diff\","
	         "\"params\":{\"store\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
	         "\"cache\":false}}",
	         p.store, p.from, p.to);
	dm_send(fd, params);
	/* the first file's notification says the work has started */
	r = dm_recv(fd, 600000);
	cr_assert_not_null(json_object_get(r, "method"));
	json_decref(r);
	kill(d.pid, SIGTERM);
	/* finished or canceled, the client hears the end */
	while ((r = dm_recv(fd, 600000)) && json_object_get(r, "method"))
		json_decref(r);
	if (r) {
		cr_assert(dm_error_code(r) == 0 || dm_error_code(r) == -32012,
		          "code %d", dm_error_code(r));
		json_decref(r);
	}
	close(fd);
	dm_stop(&d); /* exit 0, socket removed */
	pair_dispose(&p);
	dm_dispose(&d);
}
