/*
 * snapdiffd under abuse: random bytes on many connections, a line of
 * hundreds of MiB, thousands of connections (over the connection cap and
 * out of descriptors), slow clients, many clients that never read a
 * streamed diff. During each, a well-behaved client must still be served
 * (a ping, a small diff and a track answered correctly) and the budget must
 * hold; afterwards the daemon exits cleanly on SIGTERM, its live bytes back
 * at the baseline and (plain build) its peak RSS under 64 MiB.
 */
#define _GNU_SOURCE
#include "daemon_util.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

TestSuite(abuse, .timeout = 600);

#define MAX_LINE ((size_t)1 << 20) /* the daemon's default line cap */
#define RSS_CAP_KB (64 * 1024)

/* ---- a daemon with a small worktree and two snapshots of it ---- */

struct fx {
	dm_daemon d;
	char *wt, *store;
	char from[41], to[41];
	long long baseline;
};

static void track(struct fx *f, char out[41])
{
	char *argv[] = {SDF_CLI,   "track",  "--worktree", f->wt,
	                "--store", f->store, NULL};
	tu_result r;
	char *tree;

	tu_run(&r, NULL, argv);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tree = tu_last_line(r.out);
	snprintf(out, 41, "%s", tree);
	free(tree);
	tu_result_dispose(&r);
}

/*
 * On fd (a fresh connection when fd < 0): a ping, the small diff (two lines
 * added to a.txt) and a track of the unchanged worktree, each answered
 * correctly.
 */
static void serve_check(const struct fx *f, int fd)
{
	char params[2048];
	int own = fd < 0;
	json_t *r, *res, *t;
	char *s;

	if (own)
		fd = dm_connect(&f->d);
	r = dm_call(fd, 101, "service.ping", NULL, NULL);
	cr_assert(json_is_true(
	    json_object_get(json_object_get(r, "result"), "pong")));
	json_decref(r);

	snprintf(params, sizeof(params),
	         "{\"store\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
	         "\"stream\":false}",
	         f->store, f->from, f->to);
	r = dm_call(fd, 102, "snapshot.diff", params, NULL);
	res = json_object_get(r, "result");
	s = json_dumps(r, JSON_COMPACT);
	cr_assert_not_null(res, "diff failed: %.500s", s);
	free(s);
	t = json_object_get(res, "totals");
	cr_assert_eq(json_integer_value(json_object_get(t, "files")), 1);
	cr_assert_eq(json_integer_value(json_object_get(t, "additions")), 2);
	cr_assert_eq(json_integer_value(json_object_get(t, "deletions")), 0);
	cr_assert_eq(json_array_size(json_object_get(res, "files")), 1);
	json_decref(r);

	snprintf(params, sizeof(params),
	         "{\"worktree\":\"%s\",\"store\":\"%s\"}", f->wt, f->store);
	r = dm_call(fd, 103, "snapshot.track", params, NULL);
	res = json_object_get(r, "result");
	s = json_dumps(r, JSON_COMPACT);
	cr_assert_not_null(res, "track failed: %.500s", s);
	free(s);
	cr_assert_str_eq(json_string_value(json_object_get(res, "tree")),
	                 f->to);
	json_decref(r);
	if (own)
		close(fd);
}

/* service.stats on fd: the allocator's figures stay within the limit. */
static void budget_check(const struct fx *f, int fd, const char *when)
{
	int own = fd < 0;
	long long limit, live, peak;
	json_t *r, *s;

	if (own)
		fd = dm_connect(&f->d);
	r = dm_call(fd, 104, "service.stats", NULL, NULL);
	s = json_object_get(r, "result");
	cr_assert_not_null(s);
	limit = json_integer_value(json_object_get(s, "memory_limit"));
	live = json_integer_value(json_object_get(s, "live_bytes"));
	peak = json_integer_value(json_object_get(s, "peak_bytes"));
	cr_assert_gt(limit, 0);
	cr_assert_leq(live, limit, "%s: live %lld > limit %lld", when, live,
	              limit);
	cr_assert_leq(peak, limit, "%s: peak %lld > limit %lld", when, peak,
	              limit);
	fprintf(stderr, "abuse: %s: live %lld, peak %lld of %lld bytes\n", when,
	        live, peak, limit);
	json_decref(r);
	if (own)
		close(fd);
}

static void fx_start(struct fx *f, const char *const *args)
{
	memset(f, 0, sizeof(*f));
	dm_start(&f->d, args);
	f->wt = tu_path(f->d.dir, "wt");
	f->store = tu_path(f->d.dir, "store");
	tu_write_str(f->wt, "a.txt", "one\ntwo\nthree\n");
	track(f, f->from);
	tu_write_str(f->wt, "a.txt", "one\ntwo\nthree\nfour\nfive\n");
	track(f, f->to);
	/* libgit2's one-time state first, then the baseline */
	serve_check(f, -1);
	f->baseline = dm_live_bytes(&f->d);
}

/*
 * Healthy, then SIGTERM: exit 0, peak RSS under the cap; the log holds
 * log_has when not NULL.
 */
static void fx_finish(struct fx *f, const char *what, const char *log_has)
{
	dm_check_healthy(&f->d, f->baseline);
	dm_stop(&f->d);
	fprintf(stderr, "abuse: %s: daemon peak RSS %ld KiB\n", what,
	        f->d.maxrss_kb);
	if (CHECK_RSS)
		cr_assert_leq(f->d.maxrss_kb, RSS_CAP_KB,
		              "%s: daemon peak RSS %ld KiB", what,
		              f->d.maxrss_kb);
	if (log_has) {
		char *log = tu_read(f->d.dir, "daemon.log", NULL);
		cr_assert(log && strstr(log, log_has), "no '%s' in the log",
		          log_has);
		free(log);
	}
	free(f->wt);
	free(f->store);
	dm_dispose(&f->d);
}

static long long stat_of(const struct fx *f, const char *key)
{
	json_t *s = dm_result(&f->d, "service.stats", NULL);
	long long v = json_integer_value(json_object_get(s, key));

	json_decref(s);
	return v;
}

/* Waits until the daemon holds want connections (fd's among them). */
static void wait_connections(int fd, long long want)
{
	long long n = -1;

	for (int i = 0; i < 1500; i++) {
		json_t *r = dm_call(fd, 105, "service.stats", NULL, NULL);
		n = json_integer_value(json_object_get(
		    json_object_get(r, "result"), "connections"));
		json_decref(r);
		if (n == want)
			return;
		usleep(20000);
	}
	cr_assert_fail("still %lld connections (want %lld)", n, want);
}

static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	cr_assert_not_null(dir = opendir(path));
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static int raw_connect(const dm_daemon *d, int nonblock)
{
	struct sockaddr_un sa;
	int fd = socket(
	    AF_UNIX,
	    SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ---- an abusive exchange: send while reading, check every reply ---- */

struct xchg {
	size_t sent;
	int replies, results, toobig;
	int closed;      /* the daemon closed the connection */
	int send_failed; /* a send failed (EPIPE, ECONNRESET) */
	int bad;         /* a reply that is not a well-formed answer */
	char why[240];
	char *in; /* replies not yet cut into lines */
	size_t in_len, in_cap;
};

static void xchg_bad(struct xchg *x, const char *what, const char *line,
                     size_t len)
{
	if (!x->bad++)
		snprintf(x->why, sizeof(x->why), "%s: %.*s", what,
		         (int)(len > 160 ? 160 : len), line);
}

/* A reply: a JSON-RPC 2.0 error with a known code, or a ping's result. */
static void check_reply(struct xchg *x, const char *line, size_t len)
{
	json_t *v = json_loadb(line, len, 0, NULL), *e, *id;
	int code;

	x->replies++;
	if (!json_is_object(v) ||
	    !json_is_string(json_object_get(v, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(v, "jsonrpc")), "2.0") ||
	    !(id = json_object_get(v, "id"))) {
		xchg_bad(x, "not a JSON-RPC reply", line, len);
		json_decref(v);
		return;
	}
	if (json_object_get(v, "result")) {
		/* only the pings that end each stream succeed */
		if (!json_is_string(id) ||
		    strncmp(json_string_value(id), "ok-", 3) ||
		    !json_is_true(
		        json_object_get(json_object_get(v, "result"), "pong")))
			xchg_bad(x, "a result to garbage", line, len);
		x->results++;
		json_decref(v);
		return;
	}
	e = json_object_get(v, "error");
	code = (int)json_integer_value(json_object_get(e, "code"));
	if (!json_is_object(e) ||
	    !json_is_integer(json_object_get(e, "code")) ||
	    !json_string_length(json_object_get(e, "message")) ||
	    (code != -32700 && code != -32600 && code != -32601 &&
	     code != -32602 && code != -32011))
		xchg_bad(x, "not a protocol error", line, len);
	if (code == -32011) {
		/* an application error: data says which */
		json_t *data = json_object_get(e, "data");
		x->toobig++;
		if (!json_is_null(id))
			xchg_bad(x, "an over-cap line answered with an id",
			         line, len);
		if (!json_is_string(json_object_get(data, "error")) ||
		    strcmp(json_string_value(json_object_get(data, "error")),
		           "too_big") ||
		    !json_is_false(json_object_get(data, "retry")))
			xchg_bad(x, "-32011 without its data", line, len);
	}
	json_decref(v);
}

static void take_replies(struct xchg *x)
{
	char *nl, *p = x->in;
	size_t left = x->in_len;

	while (left && (nl = memchr(p, '\n', left))) {
		check_reply(x, p, (size_t)(nl - p));
		left -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	memmove(x->in, p, left);
	x->in_len = left;
}

/*
 * Sends buf (len bytes) `times` times, then tail, reading replies all the
 * while; then half-closes (when shut) and reads until the daemon closes.
 * Stops sending once a send fails. Gives up after 60 s without progress.
 */
static void exchange(int fd, const char *buf, size_t len, size_t times,
                     const char *tail, int shut, struct xchg *x)
{
	size_t tail_len = tail ? strlen(tail) : 0;
	size_t total = len * times + tail_len, off = 0;
	int idle_ms = 0, wrote_all = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (!x->closed) {
		struct pollfd p = {fd, POLLIN, 0};
		int r;

		if (!wrote_all && !x->send_failed && off < total)
			p.events |= POLLOUT;
		else if (!wrote_all) {
			wrote_all = 1;
			if (shut && !x->send_failed)
				shutdown(fd, SHUT_WR);
		}
		r = poll(&p, 1, 100);
		if (r == 0) {
			if ((idle_ms += 100) >= 60000) {
				xchg_bad(x, "stalled", "", 0);
				break;
			}
			continue;
		}
		idle_ms = 0;
		if (p.revents & POLLOUT) {
			const char *src;
			size_t n;
			ssize_t w;
			if (off < len * times) {
				src = buf + off % len;
				n = len - off % len;
			} else {
				src = tail + (off - len * times);
				n = total - off;
			}
			w = send(fd, src, n, MSG_NOSIGNAL);
			if (w > 0)
				off += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				x->send_failed = 1;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n;
			if (x->in_cap - x->in_len < 65536) {
				x->in_cap = x->in_cap * 2 + 65536;
				x->in = realloc(x->in, x->in_cap);
			}
			n = recv(fd, x->in + x->in_len, x->in_cap - x->in_len,
			         0);
			if (n > 0) {
				x->in_len += (size_t)n;
				take_replies(x);
			} else if (n == 0 ||
			           (errno != EAGAIN && errno != EINTR)) {
				x->closed = 1;
			}
		}
	}
	if (x->in_len)
		xchg_bad(x, "a reply cut short", x->in, x->in_len);
	x->sent = off;
	free(x->in);
	x->in = NULL;
	x->in_len = x->in_cap = 0;
}

/* ---- 1. random bytes ---- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *src, size_t n)
{
	if (b->cap - b->len < n) {
		b->cap = (b->cap + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Lines that are JSON-ish but never a request the daemon would run. */
static const char *const hostile[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":1e999999,\"method\":\"service.ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,"
    "\"method\":\"service.ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":-1e-999999,\"method\":\"nope\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":1,\"method\":\"service.ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.ping\","
    "\"method\":\"service.ping\"}",
    "42",
    "-1.5e308",
    "\"a string\"",
    "null",
    "true",
    "[]",
    "{}",
    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.ping\"},"
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"service.ping\"}]",
    "[{\"jsonrpc\":\"2.0\",\"method\":\"service.ping\"}]",
    "{\"jsonrpc\":\"2.0\",\"id\":\"\xff\xfe\",\"method\":\"service.ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xc0\x80\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0000b\",\"method\":\"service.ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.ping\\u0000\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\\ud800\"}",
    "\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"service.ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"service.ping\"}",
    "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"service.ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.ping\","
    "\"params\":\"x\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.ping\","
    "\"params\":{\"x\":1}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.ping\",\"x\":1}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"snapshot.diff\","
    "\"params\":{}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.pingx\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    ",",
    ":",
    "nul",
    "tru",
    "1.",
    "-",
    "01",
    "{\"jsonrpc\":\"2.0\"",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":",
};

static const char *const fragments[] = {
    "{",     "}",      "[",           "]",           ",",           ":",
    "\"",    "\"id\"", "\"jsonrpc\"", "\"2.0\"",     "\"params\"",  "null",
    "1e999", "-0",     "1.5",         "\"\\u0000\"", "\"\\ud800\"", "\xff",
    "\xc3",  "\x00",   " ",           "\t",          "\r",          "\n",
    "true",  "\"x\"",  "{\"a\":",     "[[[",         "\\",          "\"\\\"",
};

/* Connection k's abuse, ending with a ping whose answer must come back. */
static void make_payload(struct buf *b, int k)
{
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1);
	char line[64];
	size_t n;

	for (int i = 0; i < 4; i++)
		rnd(&s);
	switch (k % 6) {
	case 0: /* random bytes without a newline: 1 KiB .. 2 MiB */
		n = ((size_t)1024 << (rnd(&s) % 12)) + rnd(&s) % 4096;
		for (size_t i = 0; i < n; i++) {
			char c = (char)rnd(&s);
			put(b, c == '\n' ? "\x01" : &c, 1);
		}
		break;
	case 1: /* random bytes, NULs and newlines included: up to 64 KiB */
		n = ((size_t)1024 << (rnd(&s) % 7)) + rnd(&s) % 1024;
		for (size_t i = 0; i < n; i++) {
			char c = (char)rnd(&s);
			put(b, &c, 1);
		}
		break;
	case 2: /* JSON-ish fragments in random order */
		for (int l = 0; l < 200; l++) {
			int parts = 1 + (int)(rnd(&s) % 40);
			for (int p = 0; p < parts; p++) {
				size_t f = rnd(&s) % (sizeof(fragments) /
				                      sizeof(fragments[0]));
				/* "\x00" is one byte, a NUL */
				put(b, fragments[f],
				    fragments[f][0] ? strlen(fragments[f]) : 1);
			}
			puts_(b, "\n");
		}
		break;
	case 3: /* deep nesting: up to 400000 levels, closed or not */
		n = 33 + rnd(&s) % 400000;
		for (size_t i = 0; i < n; i++)
			puts_(b, k % 12 == 3 ? "[" : "{\"a\":");
		if (rnd(&s) % 2)
			for (size_t i = 0; i < n; i++)
				puts_(b, k % 12 == 3 ? "]" : "}");
		break;
	case 4: /* the hostile lines, each a few times, CRLF or not */
		for (int r = 0; r < 3; r++)
			for (size_t i = 0;
			     i < sizeof(hostile) / sizeof(hostile[0]); i++) {
				puts_(b, hostile[i]);
				puts_(b, rnd(&s) % 2 ? "\r\n" : "\n");
			}
		/* NUL bytes inside a request, raw */
		put(b, "{\"jsonrpc\":\"2.0\",\0\"id\":1}\n", 27);
		put(b, "\0\n", 2);
		break;
	default: /* big but under the cap: a 600 KiB id echoed back, 20000
	            keys, a 900 KiB number */
		puts_(b, "{\"jsonrpc\":\"2.0\",\"id\":\"");
		for (int i = 0; i < 600 * 1024; i++)
			put(b, "abcdefghij" + i % 10, 1);
		puts_(b, "\",\"method\":\"nope\"}\n{");
		for (int i = 0; i < 20000; i++) {
			n = (size_t)snprintf(line, sizeof(line), "%s\"k%d\":%d",
			                     i ? "," : "", i, i);
			put(b, line, n);
		}
		puts_(b, "}\n{\"jsonrpc\":\"2.0\",\"id\":");
		for (int i = 0; i < 900 * 1024; i++)
			put(b, "7", 1);
		puts_(b, ",\"method\":\"service.ping\"}\n");
		break;
	}
	n = (size_t)snprintf(line, sizeof(line),
	                     "\n{\"jsonrpc\":\"2.0\",\"id\":\"ok-%d\","
	                     "\"method\":\"service.ping\"}\n",
	                     k);
	put(b, line, n);
}

/* What the daemon must answer, as its framer cuts the lines. */
static void expect_of(const struct buf *b, int *replies, int *toobig)
{
	const char *p = b->p, *end = b->p + b->len;

	*replies = *toobig = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int blank = 1;

		if (n > MAX_LINE) {
			(*replies)++;
			*toobig = 1;
			return;
		}
		for (size_t i = 0; i < n && blank; i++)
			blank = p[i] == ' ' || p[i] == '\t' || p[i] == '\r';
		*replies += !blank;
		if (!nl)
			break;
		p = nl + 1;
	}
}

#define RB_THREADS 6
#define RB_PER_THREAD 12

struct rb_thread {
	const dm_daemon *d;
	int first;
	atomic_int *running;
	int failures, connections, lines, toobig;
	size_t bytes;
	char why[512];
};

static void *random_bytes_client(void *arg)
{
	struct rb_thread *t = arg;

	for (int i = 0; i < RB_PER_THREAD; i++) {
		int k = t->first + i * RB_THREADS, want, want_toobig;
		struct buf b = {0};
		struct xchg x;
		int fd;

		memset(&x, 0, sizeof(x));
		make_payload(&b, k);
		expect_of(&b, &want, &want_toobig);
		if ((fd = raw_connect(t->d, 0)) < 0) {
			snprintf(t->why, sizeof(t->why), "connect: %s",
			         strerror(errno));
			t->failures++;
			free(b.p);
			break;
		}
		exchange(fd, b.p, b.len, 1, NULL, 1, &x);
		close(fd);
		t->connections++;
		t->lines += x.replies;
		t->toobig += x.toobig;
		t->bytes += x.sent;
		if (x.bad || x.replies != want || x.toobig != want_toobig ||
		    x.results != (want_toobig ? 0 : 1) || !x.closed) {
			if (!t->failures++)
				snprintf(t->why, sizeof(t->why),
				         "connection %d (kind %d, %zu bytes): "
				         "%d replies (want %d), %d over the "
				         "cap (want %d), %d results, closed "
				         "%d; %s",
				         k, k % 6, b.len, x.replies, want,
				         x.toobig, want_toobig, x.results,
				         x.closed, x.why);
		}
		free(b.p);
	}
	atomic_fetch_sub(t->running, 1);
	return NULL;
}

Test(abuse, random_bytes)
{
	struct rb_thread t[RB_THREADS];
	pthread_t th[RB_THREADS];
	atomic_int running = RB_THREADS;
	struct fx f;
	int checks = 0, lines = 0, conns = 0, toobig = 0, good;
	size_t bytes = 0;

	fx_start(&f, NULL);
	good = dm_connect(&f.d);
	memset(t, 0, sizeof(t));
	for (int i = 0; i < RB_THREADS; i++) {
		t[i].d = &f.d;
		t[i].first = i;
		t[i].running = &running;
		cr_assert_eq(
		    pthread_create(&th[i], NULL, random_bytes_client, &t[i]),
		    0);
	}
	/* the well-behaved client, as long as the abuse goes on */
	while (atomic_load(&running) > 0 || checks == 0) {
		serve_check(&f, good);
		serve_check(&f, -1);
		budget_check(&f, good, "random bytes");
		checks++;
	}
	for (int i = 0; i < RB_THREADS; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(t[i].failures, 0, "thread %d: %s", i, t[i].why);
		lines += t[i].lines;
		conns += t[i].connections;
		toobig += t[i].toobig;
		bytes += t[i].bytes;
	}
	cr_assert_eq(conns, RB_THREADS * RB_PER_THREAD);
	cr_assert_gt(toobig, 0, "no line over the cap was sent");
	fprintf(stderr,
	        "abuse: random bytes: %d connections, %zu bytes, %d replies "
	        "checked (%d over the cap), %d rounds of the good client\n",
	        conns, bytes, lines, toobig, checks);
	serve_check(&f, good);
	close(good);
	fx_finish(&f, "random bytes", NULL);
}

/* ---- 2. a line of hundreds of MiB ---- */

#define HUGE_MIB 300

struct huge_thread {
	const dm_daemon *d;
	int kind; /* 0: 'x's; 1: and a newline; 2: a request's string
	             parameter; 3: random bytes (no newline) */
	atomic_int *stop;
	int rounds, failures;
	size_t most_sent;
	char why[512];
};

static void *huge_line_client(void *arg)
{
	struct huge_thread *t = arg;
	size_t len = (size_t)1 << 20;
	char *buf = malloc(len);
	uint64_t s = 0x2545f4914f6cdd1dull + (uint64_t)t->kind;

	memset(buf, t->kind == 2 ? 'A' : 'x', len);
	if (t->kind == 2) {
		static const char head[] =
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.ping\","
		    "\"params\":{\"s\":\"";
		memcpy(buf, head, sizeof(head) - 1);
	}
	if (t->kind == 3)
		for (size_t i = 0; i < len; i++)
			if ((buf[i] = (char)rnd(&s)) == '\n')
				buf[i] = ' ';
	/* at least two rounds, and on until the good client is done */
	while (t->rounds < 2 || !atomic_load(t->stop)) {
		struct xchg x;
		int fd = raw_connect(t->d, 0);

		memset(&x, 0, sizeof(x));
		if (fd < 0) {
			snprintf(t->why, sizeof(t->why), "connect: %s",
			         strerror(errno));
			t->failures++;
			break;
		}
		/* the first MiB is the head, then the same bytes again */
		exchange(fd, buf, len, HUGE_MIB,
		         t->kind == 1   ? "\n"
		         : t->kind == 2 ? "\"}}\n"
		                        : NULL,
		         0, &x);
		close(fd);
		t->rounds++;
		if (x.sent > t->most_sent)
			t->most_sent = x.sent;
		/* one -32011, then the connection closed, long before the
		 * end of the line */
		if (x.bad || x.replies != 1 || x.toobig != 1 || !x.closed ||
		    x.sent >= (size_t)HUGE_MIB << 20) {
			if (!t->failures++)
				snprintf(
				    t->why, sizeof(t->why),
				    "kind %d: %d replies, %d over the cap, "
				    "closed %d, %zu bytes sent; %s",
				    t->kind, x.replies, x.toobig, x.closed,
				    x.sent, x.why);
		}
	}
	free(buf);
	return NULL;
}

Test(abuse, a_line_of_300_mib)
{
	struct huge_thread t[4];
	pthread_t th[4];
	atomic_int stop = 0;
	struct fx f;
	size_t most = 0;
	int good;

	fx_start(&f, NULL);
	good = dm_connect(&f.d);
	memset(t, 0, sizeof(t));
	for (int i = 0; i < 4; i++) {
		t[i].d = &f.d;
		t[i].kind = i;
		t[i].stop = &stop;
		cr_assert_eq(
		    pthread_create(&th[i], NULL, huge_line_client, &t[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		serve_check(&f, good);
		serve_check(&f, -1);
		budget_check(&f, good, "a line of 300 MiB");
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(t[i].failures, 0, "%s", t[i].why);
		if (t[i].most_sent > most)
			most = t[i].most_sent;
		fprintf(stderr,
		        "abuse: a line of %d MiB, kind %d: %d rounds, at most "
		        "%zu bytes sent before the daemon closed\n",
		        HUGE_MIB, i, t[i].rounds, t[i].most_sent);
	}
	/* what a client can push is the line cap plus socket buffers */
	cr_assert_lt(most, (size_t)16 << 20);
	serve_check(&f, good);
	close(good);
	fx_finish(&f, "a line of 300 MiB", NULL);
}

/*
 * A store whose big.txt (mib MiB) has every line rewritten; the diff's
 * additions and deletions (its line counts) in *adds and *dels.
 */
static void big_pair(const struct fx *f, size_t mib, char from[41], char to[41],
                     long long *adds, long long *dels)
{
	char *wt = tu_path(f->d.dir, "wt-big"), *big = tu_path(wt, "big.txt");
	char *store = tu_path(f->d.dir, "store-big");
	char *argv[] = {SDF_CLI,   "track", "--worktree", wt,
	                "--store", store,   NULL};
	tu_result r;

	tu_write_str(wt, "small.txt", "one\n");
	for (int turn = 1; turn <= 2; turn++) {
		size_t len;
		char *body, *tree;
		long long lines = 0;

		dm_generate(big, turn, mib);
		body = tu_read(wt, "big.txt", &len);
		for (size_t i = 0; i < len; i++)
			lines += body[i] == '\n';
		free(body);
		*(turn == 1 ? dels : adds) = lines;
		tu_run(&r, NULL, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tree = tu_last_line(r.out);
		snprintf(turn == 1 ? from : to, 41, "%s", tree);
		free(tree);
		tu_result_dispose(&r);
	}
	free(store);
	free(big);
	free(wt);
}

/*
 * Lines just under the cap on nearly every connection, never finished:
 * what the daemon buffers for them must not take the memory a request of
 * the well-behaved client needs (a diff of a rewritten 4 MiB file).
 */
struct hog {
	int fd;
	size_t sent;
	int dropped, held;
};

Test(abuse, long_lines_held_on_every_connection)
{
	enum { HOGS = 60 };
	struct hog h[HOGS];
	size_t len = MAX_LINE - 64;
	char *buf = malloc(len), from[41], to[41], params[1024];
	long long adds, dels, live, limit;
	int good, i, left, held = 0, dropped = 0;
	struct fx f;
	json_t *r, *t;

	fx_start(&f, NULL);
	big_pair(&f, 4, from, to, &adds, &dels);
	good = dm_connect(&f.d);
	memset(buf, 'x', len);
	memcpy(buf, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"", 34);
	memset(h, 0, sizeof(h));
	for (i = 0; i < HOGS; i++) {
		h[i].fd = raw_connect(&f.d, 1);
		cr_assert(h[i].fd >= 0, "connect: %s", strerror(errno));
	}
	/* every hog's line, all but its newline, until it is in or the
	 * daemon refuses it */
	do {
		struct pollfd p[HOGS];
		int n = 0;
		for (i = 0; i < HOGS; i++)
			if (h[i].sent < len && !h[i].dropped) {
				p[n].fd = h[i].fd;
				p[n++].events = POLLOUT;
			}
		if (!(left = n))
			break;
		cr_assert_gt(poll(p, (nfds_t)n, 60000), 0, "hogs stalled");
		for (int k = 0; k < n; k++) {
			struct hog *o = NULL;
			ssize_t w;
			if (!p[k].revents)
				continue;
			for (i = 0; i < HOGS; i++)
				if (h[i].fd == p[k].fd)
					o = &h[i];
			w = send(o->fd, buf + o->sent, len - o->sent,
			         MSG_NOSIGNAL);
			if (w > 0)
				o->sent += (size_t)w;
			else if (errno != EAGAIN)
				o->dropped = 1; /* its reply is read below */
		}
	} while (left);
	/* each hog is held (the daemon read all of it) or was refused */
	for (i = 0; i < HOGS; i++) {
		int q = 1;
		for (int w = 0; w < 1500; w++) {
			struct pollfd p = {h[i].fd, POLLIN, 0};
			/* unread bytes on the daemon's side, then a reply? */
			ioctl(h[i].fd, TIOCOUTQ, &q);
			if (poll(&p, 1, 0) > 0 || q == 0)
				break;
			usleep(20000);
		}
		{
			struct pollfd p = {h[i].fd, POLLIN, 0};
			if (poll(&p, 1, 0) == 0) {
				cr_assert_eq(q, 0,
				             "hog %d: neither read nor "
				             "refused",
				             i);
				h[i].held = 1;
				held++;
				continue;
			}
		}
		/* refused: the budget error, then the end */
		dm_adopt(h[i].fd);
		r = dm_recv(h[i].fd, 30000);
		cr_assert_not_null(r, "hog %d: closed without a reply", i);
		cr_assert_eq(dm_error_code(r), -32001, "hog %d: %s", i,
		             json_dumps(r, JSON_COMPACT));
		cr_assert(json_is_true(json_object_get(
		    json_object_get(json_object_get(r, "error"), "data"),
		    "retry")));
		json_decref(r);
		cr_assert_null(dm_recv(h[i].fd, 30000));
		dropped++;
	}
	r = dm_call(good, 104, "service.stats", NULL, NULL);
	live = json_integer_value(
	    json_object_get(json_object_get(r, "result"), "live_bytes"));
	limit = json_integer_value(
	    json_object_get(json_object_get(r, "result"), "memory_limit"));
	json_decref(r);
	fprintf(stderr,
	        "abuse: %d lines of %zu bytes held open: %d held, %d "
	        "refused; live %lld bytes\n",
	        HOGS, len, held, dropped, live);
	/* the lines share a sixteenth of the budget */
	cr_assert_leq(live, f.baseline + limit / 16 + HOGS * 8192, "live %lld",
	              live);
	/* hogs grow together: at most four 1 MiB lines fit, maybe none */
	cr_assert_leq(held, 4);
	cr_assert_eq(held + dropped, HOGS);
	/* the well-behaved client, with a request that needs memory */
	serve_check(&f, good);
	snprintf(params, sizeof(params),
	         "{\"store\":\"%s/store-big\",\"from\":\"%s\",\"to\":\"%s\","
	         "\"cache\":false}",
	         f.d.dir, from, to);
	r = dm_call(good, 107, "snapshot.diff", params, NULL);
	t = json_object_get(json_object_get(r, "result"), "totals");
	cr_assert_not_null(t, "the diff failed: %s",
	                   json_dumps(r, JSON_COMPACT));
	cr_assert_eq(json_integer_value(json_object_get(t, "additions")), adds);
	cr_assert_eq(json_integer_value(json_object_get(t, "deletions")), dels);
	json_decref(r);
	budget_check(&f, good, "long lines held");
	for (i = 0; i < HOGS; i++)
		close(h[i].fd);
	wait_connections(good, 1);
	/* with the hogs gone, a line just under the cap is read again */
	memset(buf, 'A', len);
	snprintf(buf, 100,
	         "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":"
	         "\"service.ping\",\"params\":{\"x\":\"");
	buf[strlen(buf)] = 'A';
	memcpy(buf + len - 4, "\"}}", 4);
	dm_send(good, buf);
	r = dm_recv(good, 30000);
	cr_assert_eq(dm_error_code(r), -32602, "%.300s",
	             json_dumps(r, JSON_COMPACT));
	json_decref(r);
	free(buf);
	serve_check(&f, good);
	close(good);
	fx_finish(&f, "long lines held", NULL);
}

/* ---- 3. thousands of connections ---- */

#define THOUSANDS 3000

/* Raises this process's descriptor limit for n more; returns how many. */
static int room_for(int n)
{
	struct rlimit r;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &r), 0);
	if (r.rlim_cur < (rlim_t)n + 64) {
		r.rlim_cur =
		    r.rlim_max < (rlim_t)n + 64 ? r.rlim_max : (rlim_t)n + 64;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &r), 0);
	}
	return (int)r.rlim_cur - 64 < n ? (int)r.rlim_cur - 64 : n;
}

/*
 * n non-blocking connects, each sending the start of a request; the ones
 * the daemon's backlog has no room for fail at once (EAGAIN). Those are
 * tried again, a few passes apart, while the daemon takes more.
 */
static int *flood(const dm_daemon *d, int n, int passes, int *connected,
                  int *refused)
{
	static const char part[] = "{\"jsonrpc\":\"2.0\",\"id\":1,";
	int *fds = malloc(sizeof(int) * (size_t)n);

	*connected = 0;
	for (int i = 0; i < n; i++)
		fds[i] = -1;
	for (int pass = 0; pass < passes; pass++) {
		if (pass)
			usleep(50000);
		*refused = 0;
		for (int i = 0; i < n; i++) {
			if (fds[i] >= 0)
				continue;
			fds[i] = raw_connect(d, 1);
			if (fds[i] < 0) {
				cr_assert(errno == EAGAIN ||
				              errno == ECONNREFUSED,
				          "connect %d: %s", i, strerror(errno));
				(*refused)++;
				continue;
			}
			(*connected)++;
			send(fds[i], part, sizeof(part) - 1, MSG_NOSIGNAL);
		}
	}
	return fds;
}

static void unflood(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
}

Test(abuse, thousands_of_connections_over_the_cap)
{
	struct fx f;
	int n = room_for(THOUSANDS), connected, refused, fds0, good, *fds;
	long long conns;

	fx_start(&f, NULL); /* 64 connections at most */
	good = dm_connect(&f.d);
	wait_connections(good, 1);
	fds0 = count_fds(f.d.pid);
	fds = flood(&f.d, n, 1, &connected, &refused);
	/* 63 accepted, the listen backlog's worth waiting, the rest
	 * refused at once */
	cr_assert_leq(connected, 63 + 129 + 8, "%d connected", connected);
	cr_assert_geq(refused, n - 200, "%d refused", refused);
	serve_check(&f, good);
	budget_check(&f, good, "3000 connections over the cap");
	{
		json_t *r = dm_call(good, 106, "service.stats", NULL, NULL);
		conns = json_integer_value(json_object_get(
		    json_object_get(r, "result"), "connections"));
		json_decref(r);
	}
	cr_assert_eq(conns, 64, "%lld connections held", conns);
	unflood(fds, n);
	/* once they drop, a newcomer is served, and no descriptor leaks */
	serve_check(&f, -1);
	wait_connections(good, 1);
	cr_assert_eq(count_fds(f.d.pid), fds0, "descriptors leaked");
	fprintf(stderr,
	        "abuse: %d connections against a cap of 64: %d connected "
	        "(accepted or in the backlog), %d refused at once\n",
	        n, connected, refused);
	close(good);
	fx_finish(&f, "3000 connections over the cap", NULL);
}

Test(abuse, thousands_of_connections_out_of_descriptors)
{
	const char *args[] = {"--max-connections", "4096", NULL};
	struct rlimit lim = {256, 256};
	struct fx f;
	int n = room_for(THOUSANDS), connected, refused, fds0, good, *fds;
	long long conns, refusals;

#ifdef SDF_VALGRIND
	/* valgrind keeps the descriptor limit the program started with:
	 * getrlimit would not tell the daemon about the prlimit below */
	cr_skip_test("valgrind hides a prlimit done from outside");
#endif
	fx_start(&f, args);
	good = dm_connect(&f.d);
	wait_connections(good, 1);
	fds0 = count_fds(f.d.pid);
	/* the daemon runs out of descriptors long before its cap */
	cr_assert_eq(prlimit(f.d.pid, RLIMIT_NOFILE, &lim, NULL), 0, "%s",
	             strerror(errno));
	fds = flood(&f.d, n, 10, &connected, &refused);
	cr_assert_gt(refused, 0);
	serve_check(&f, good);
	budget_check(&f, good, "3000 connections out of descriptors");
	{
		json_t *r = dm_call(good, 106, "service.stats", NULL, NULL);
		json_t *res = json_object_get(r, "result");
		conns = json_integer_value(json_object_get(res, "connections"));
		refusals = json_integer_value(
		    json_object_get(res, "connections_refused"));
		json_decref(r);
	}
	cr_assert_leq(conns, 256 - 64, "%lld connections held", conns);
	/* the ones that would have taken a kept descriptor were closed */
	cr_assert_geq(refusals, 1);
	unflood(fds, n);
	serve_check(&f, -1);
	wait_connections(good, 1);
	cr_assert_eq(count_fds(f.d.pid), fds0, "descriptors leaked");
	fprintf(stderr,
	        "abuse: %d connections against 256 descriptors: %d "
	        "connected, %d refused at once, %lld held\n",
	        n, connected, refused, conns);
	close(good);
	/* accept failed with EMFILE and paused */
	fx_finish(&f, "3000 connections out of descriptors", "pausing");
}

/* ---- 4. slow clients ---- */

struct slow_thread {
	const dm_daemon *d;
	int blank; /* sends blank lines, not a request */
	int sent, replies, closed, failed;
};

/*
 * Sends a ping one byte a second (or a newline a second: blank lines are
 * skipped, not activity) until the daemon closes the connection.
 */
static void *slow_client(void *arg)
{
	static const char req[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"service.ping\"}\n";
	struct slow_thread *t = arg;
	int fd = raw_connect(t->d, 0);

	if (fd < 0) {
		t->failed = 1;
		return NULL;
	}
	for (size_t i = 0; i < sizeof(req) - 1 && !t->closed; i++) {
		struct pollfd p = {fd, POLLIN, 0};
		char c[256];
		ssize_t n;

		if (send(fd, t->blank ? "\n" : req + i, 1, MSG_NOSIGNAL) != 1) {
			t->closed = 1;
			break;
		}
		t->sent++;
		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = recv(fd, c, sizeof(c), 0);
		if (n > 0)
			t->replies++;
		else
			t->closed = 1;
	}
	close(fd);
	return NULL;
}

Test(abuse, slow_clients)
{
	enum { SLOW = 5 };
	const char *args[] = {"--idle-timeout", "1500", "--max-connections",
	                      "6", NULL};
	struct slow_thread t[SLOW];
	pthread_t th[SLOW];
	struct fx f;
	int good, late;

	fx_start(&f, args);
	good = dm_connect(&f.d);
	memset(t, 0, sizeof(t));
	for (int i = 0; i < SLOW; i++) {
		t[i].d = &f.d;
		t[i].blank = i < 2;
		cr_assert_eq(pthread_create(&th[i], NULL, slow_client, &t[i]),
		             0);
	}
	/* every slot taken: the slow ones and this client, still served */
	wait_connections(good, 1 + SLOW);
	serve_check(&f, good);
	budget_check(&f, good, "slow clients");
	/* a newcomer waits in the backlog until the idle timeout frees a
	 * slot */
	late = dm_connect(&f.d);
	serve_check(&f, late);
	for (int i = 0; i < SLOW; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(t[i].failed, 0);
		cr_assert(t[i].closed, "slow client %d was not cut off", i);
		cr_assert_eq(t[i].replies, 0);
		/* cut off by the timeout, not by finishing its request */
		cr_assert_leq(t[i].sent, 10, "slow client %d sent %d bytes", i,
		              t[i].sent);
		fprintf(stderr,
		        "abuse: slow client %d: cut off after %d bytes (one a "
		        "second%s)\n",
		        i, t[i].sent, t[i].blank ? ", newlines" : "");
	}
	close(late);
	close(good);
	fx_finish(&f, "slow clients", "idle for 1500 ms");
}

/* ---- 5. clients that never read a streamed diff ---- */

Test(abuse, many_clients_that_never_read)
{
	enum { STALLED = 6, FILES = 400 };
	const char *args[] = {"--write-timeout", "1000", "--workers", "2",
	                      NULL};
	char from[41], to[41], req[1024];
	int fds[STALLED], good, i;
	struct fx f;
	json_t *r;

	fx_start(&f, args);
	char *mwt = tu_path(f.d.dir, "wt-many"),
	     *mstore = tu_path(f.d.dir, "store-many");
	dm_many_files(mwt, mstore, FILES, from, to);
	free(mwt);
	free(mstore);
	good = dm_connect(&f.d);
	snprintf(req, sizeof(req),
	         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"snapshot.diff\","
	         "\"params\":{\"store\":\"%s/store-many\",\"from\":\"%s\","
	         "\"to\":\"%s\",\"cache\":false}}",
	         f.d.dir, from, to);
	for (i = 0; i < STALLED; i++) {
		int small = 4096;
		fds[i] = dm_connect(&f.d);
		setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small,
		           sizeof(small));
		dm_send(fds[i], req);
	}
	/* every worker is stuck writing to a client that does not read:
	 * a ping is still answered at once */
	r = dm_call(good, 1, "service.ping", NULL, NULL);
	cr_assert_eq(dm_error_code(r), 0);
	json_decref(r);
	budget_check(&f, good, "clients that never read");
	/* and the real work gets its turn as the stalled ones are dropped */
	serve_check(&f, good);
	budget_check(&f, good, "clients that never read, after");
	for (i = 0; i < 1500 && stat_of(&f, "canceled") < STALLED; i++)
		usleep(20000);
	cr_assert_lt(i, 1500, "not every stalled client was dropped");
	wait_connections(good, 1);
	/* what each got was cut short: notifications, never the result */
	for (i = 0; i < STALLED; i++) {
		json_t *m;
		int notes = 0, results = 0;
		while ((m = dm_recv(fds[i], 30000))) {
			if (json_object_get(m, "method"))
				notes++;
			else
				results++;
			json_decref(m);
		}
		cr_assert_lt(notes, FILES);
		cr_assert_eq(results, 0);
		close(fds[i]);
	}
	close(good);
	fx_finish(&f, "clients that never read", NULL);
}
