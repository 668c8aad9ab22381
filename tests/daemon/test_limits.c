/*
 * snapdiffd under hostile or careless clients: malformed requests, a line
 * over the cap, a client that never reads, one that hangs up mid-stream,
 * idle and surplus connections, the socket's life cycle. After each, the
 * daemon still answers and holds no more memory than before.
 */
#define _GNU_SOURCE
#include "daemon_util.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(limits, .timeout = 600);

static json_t *send_recv(int fd, const char *line)
{
	dm_send(fd, line);
	return dm_recv(fd, 30000);
}

static void expect_code(int fd, const char *line, int code)
{
	json_t *r = send_recv(fd, line);

	cr_assert_not_null(r, "no reply to %s", line);
	cr_assert_eq(dm_error_code(r), code, "%s -> %s", line,
	             json_dumps(r, JSON_COMPACT));
	cr_assert_not_null(json_string_value(
	    json_object_get(json_object_get(r, "error"), "message")));
	json_decref(r);
}

Test(limits, malformed_requests)
{
	dm_daemon d;
	char deep[512];
	long long baseline;
	int fd;
	json_t *r;

	dm_start(&d, NULL);
	baseline = dm_live_bytes(&d);
	fd = dm_connect(&d);
	expect_code(fd, "{bad", -32700);
	expect_code(fd, "\"just a string\"", -32600);
	expect_code(fd, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}]",
	            -32600);
	expect_code(fd, "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"x\"}",
	            -32600);
	expect_code(fd, "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}",
	            -32600);
	expect_code(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", -32600);
	expect_code(fd,
	            "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":"
	            "\"service.ping\"}",
	            -32700);
	expect_code(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}",
	            -32601);
	expect_code(fd,
	            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"service.ping\","
	            "\"params\":[1]}",
	            -32602);
	expect_code(
	    fd,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"snapshot.diff\","
	    "\"params\":{\"from\":5}}",
	    -32602);
	expect_code(
	    fd,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"snapshot.diff\","
	    "\"params\":{\"from\":\"a\",\"store\":\"relative/dir\"}}",
	    -32602);
	expect_code(
	    fd,
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"snapshot.file\","
	    "\"params\":{\"store\":\"/x\",\"oid\":\"00\",\"length\":"
	    "99999999}}",
	    -32602);
	/* nesting deeper than 32: refused before parsing */
	memset(deep, '[', 200);
	memset(deep + 200, ']', 200);
	deep[400] = '\0';
	expect_code(fd, deep, -32700);
	/* blank lines are skipped, CRLF is fine, a notification gets no
	 * reply: the next line read is the ping's */
	dm_send(fd, "");
	dm_send(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"service.ping\"}");
	/* nor does a notification's error (JSON-RPC 2.0: never answered) */
	dm_send(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}");
	dm_send(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"service.ping\","
	            "\"params\":[1]}");
	dm_send(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"service.ping\","
	            "\"params\":{\"x\":1}}");
	r = send_recv(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":"
	                  "\"service.ping\"}\r");
	cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "p");
	json_decref(r);
	close(fd);
	dm_check_healthy(&d, baseline);
	dm_stop(&d);
	dm_dispose(&d);
}

Test(limits, line_over_the_cap)
{
	const char *args[] = {"--max-request-bytes", "1024", NULL};
	dm_daemon d;
	long long baseline;
	char *big = malloc(8193);
	json_t *r;
	int fd;

	dm_start(&d, args);
	baseline = dm_live_bytes(&d);
	memset(big, 'x', 8192);
	big[8192] = '\0';
	/* no newline at all: refused as soon as the cap is passed */
	fd = dm_connect(&d);
	send(fd, big, 8192, MSG_NOSIGNAL);
	r = dm_recv(fd, 30000);
	cr_assert_eq(dm_error_code(r), -32011);
	cr_assert(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	cr_assert_null(dm_recv(fd, 30000), "the connection stays open");
	close(fd);
	/* a long line whose newline comes later */
	fd = dm_connect(&d);
	memcpy(big, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"", 34);
	dm_send(fd, big);
	r = dm_recv(fd, 30000);
	cr_assert_eq(dm_error_code(r), -32011);
	json_decref(r);
	cr_assert_null(dm_recv(fd, 30000));
	close(fd);
	free(big);
	dm_check_healthy(&d, baseline);
	dm_stop(&d);
	dm_dispose(&d);
}

/* libgit2 allocates a little once, on its first use: not a leak */
static void warm_up(const dm_daemon *d, const char *from, const char *to)
{
	char params[512];

	snprintf(params, sizeof(params),
	         "{\"store\":\"%s/store\",\"from\":\"%s\",\"to\":\"%s\","
	         "\"max_files\":1,\"stream\":false}",
	         d->dir, from, to);
	json_decref(dm_result(d, "snapshot.diff", params));
}

static char *diff_request(const dm_daemon *d, const char *from, const char *to)
{
	char *req;

	cr_assert(
	    asprintf(&req,
	             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	             "\"snapshot.diff\",\"params\":{\"store\":\"%s/store\","
	             "\"from\":\"%s\",\"to\":\"%s\"}}",
	             d->dir, from, to) > 0);
	return req;
}

static json_t *stats(const dm_daemon *d)
{
	return dm_result(d, "service.stats", NULL);
}

static long long stat_of(const dm_daemon *d, const char *key)
{
	json_t *s = stats(d);
	long long v = json_integer_value(json_object_get(s, key));

	json_decref(s);
	return v;
}

/* A store under the daemon's directory whose two snapshots differ in 600
 * files. */
static void many_files(const dm_daemon *dd, char from[41], char to[41])
{
	char *wt = tu_path(dd->dir, "wt"), *store = tu_path(dd->dir, "store");

	dm_many_files(wt, store, 600, from, to);
	free(wt);
	free(store);
}

Test(limits, client_that_never_reads)
{
	const char *args[] = {"--write-timeout", "1000", NULL};
	dm_daemon d;
	char from[41], to[41], *req;
	long long baseline;
	int fd, i;

	dm_start(&d, args);
	many_files(&d, from, to);
	warm_up(&d, from, to);
	baseline = dm_live_bytes(&d);
	fd = dm_connect(&d);
	/* a small receive buffer: the daemon blocks soon */
	{
		int small = 4096;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
	req = diff_request(&d, from, to);
	dm_send(fd, req);
	free(req);
	/* the daemon stops producing, then drops the connection */
	for (i = 0; i < 3000 && stat_of(&d, "canceled") < 1; i++)
		usleep(20000);
	cr_assert_lt(i, 3000, "the stalled client was never dropped");
	for (i = 0; i < 3000 && stat_of(&d, "connections") > 1; i++)
		usleep(20000);
	cr_assert_lt(i, 3000);
	/* what the client gets is cut short: no final result */
	{
		json_t *r;
		int results = 0;
		char c;
		while (recv(fd, &c, 1, MSG_DONTWAIT) == 1)
			;
		(void)r;
		(void)results;
	}
	close(fd);
	dm_check_healthy(&d, baseline);
	dm_stop(&d);
	dm_dispose(&d);
}

Test(limits, client_that_hangs_up_mid_stream)
{
	dm_daemon d;
	char from[41], to[41], *req;
	long long baseline;
	json_t *r;
	int fd, i;

	dm_start(&d, NULL);
	many_files(&d, from, to);
	warm_up(&d, from, to);
	baseline = dm_live_bytes(&d);
	fd = dm_connect(&d);
	req = diff_request(&d, from, to);
	dm_send(fd, req);
	free(req);
	r = dm_recv(fd, 60000);
	cr_assert_not_null(json_object_get(r, "method"));
	json_decref(r);
	close(fd);
	for (i = 0; i < 3000 && stat_of(&d, "canceled") < 1; i++)
		usleep(20000);
	cr_assert_lt(i, 3000, "the work was not canceled");
	dm_check_healthy(&d, baseline);
	/* and the same diff still runs to the end for a patient client */
	fd = dm_connect(&d);
	{
		char params[512];
		size_t notes = 0;
		snprintf(
		    params, sizeof(params),
		    "{\"store\":\"%s/store\",\"from\":\"%s\",\"to\":\"%s\"}",
		    d.dir, from, to);
		r = dm_call(fd, 9, "snapshot.diff", params, &notes);
		cr_assert_eq(notes, 600);
		cr_assert_eq(dm_error_code(r), 0);
		json_decref(r);
	}
	close(fd);
	dm_check_healthy(&d, baseline);
	dm_stop(&d);
	dm_dispose(&d);
}

Test(limits, idle_and_surplus_connections)
{
	const char *args[] = {"--idle-timeout", "300", "--max-connections", "2",
	                      NULL};
	dm_daemon d;
	int a, b, c;
	json_t *r;

	dm_start(&d, args);
	/* an idle connection is closed */
	a = dm_connect(&d);
	cr_assert_null(dm_recv(a, 30000));
	close(a);
	/* a third connection waits until one of two closes */
	a = dm_connect(&d);
	b = dm_connect(&d);
	r = dm_call(a, 1, "service.ping", NULL, NULL);
	json_decref(r);
	r = dm_call(b, 1, "service.ping", NULL, NULL);
	json_decref(r);
	c = dm_connect(&d);
	dm_send(c,
	        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"service.ping\"}");
	{
		struct pollfd p = {c, POLLIN, 0};
		cr_assert_eq(poll(&p, 1, 100), 0, "served a third connection");
	}
	close(a);
	r = dm_recv(c, 30000);
	cr_assert_not_null(r);
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), 3);
	json_decref(r);
	close(b);
	close(c);
	dm_stop(&d);
	dm_dispose(&d);
}

Test(limits, socket_life_cycle)
{
	dm_daemon d, second;
	struct sockaddr_un sa;
	struct stat st;
	char *stale;
	int fd, status;
	pid_t pid;

	/* a stale socket (nobody listening) is replaced */
	dm_start(&d, NULL);
	stale = strdup(d.sock);
	dm_stop(&d);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", stale);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	cr_assert_eq(stat(stale, &st), 0);
	pid = fork();
	if (pid == 0) {
		execl(dm_binary(), "snapdiffd", "--foreground", "--socket",
		      stale, "--log-level", "error", (char *)NULL);
		_exit(127);
	}
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	for (int i = 0; i < 500; i++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		usleep(20000);
	}
	close(fd);
	cr_assert_eq(stat(stale, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	/* a live one is not stolen */
	second.pid = fork();
	if (second.pid == 0) {
		execl(dm_binary(), "snapdiffd", "--foreground", "--socket",
		      stale, "--log-level", "error", (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(second.pid, &status, 0), second.pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	for (int i = 0; i < 500; i++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		usleep(20000);
	}
	dm_adopt(fd);
	{
		json_t *r = dm_call(fd, 1, "service.ping", NULL, NULL);
		cr_assert_eq(dm_error_code(r), 0);
		json_decref(r);
	}
	close(fd);
	kill(pid, SIGTERM);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_neq(access(stale, F_OK), 0, "socket left behind");
	/* an over-long path is refused */
	{
		char longp[200];
		memset(longp, 'a', sizeof(longp));
		longp[0] = '/';
		longp[199] = '\0';
		pid = fork();
		if (pid == 0) {
			execl(dm_binary(), "snapdiffd", "--foreground",
			      "--socket", longp, "--log-level", "error",
			      (char *)NULL);
			_exit(127);
		}
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	}
	free(stale);
	dm_dispose(&d);
}

Test(limits, other_users_are_refused)
{
	dm_daemon d;
	int status;
	pid_t pid;

	if (getuid() != 0 || access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("needs root (to connect as another uid) and "
		             "/usr/bin/python3");
	dm_start(&d, NULL);
	chmod(d.dir, 0755);
	chmod(d.sock, 0666);
	pid = fork();
	if (pid == 0) {
		/* exec at once: nothing of this process image lingers */
		static const char script[] =
		    "import socket,sys\n"
		    "s=socket.socket(socket.AF_UNIX)\n"
		    "s.connect(sys.argv[1])\n"
		    "try:\n"
		    "    s.sendall(b'{\"jsonrpc\":\"2.0\",\"id\":1,"
		    "\"method\":\"service.ping\"}\\n')\n"
		    "    got=s.recv(256)\n"
		    "except (BrokenPipeError, ConnectionResetError):\n"
		    "    got=b''\n"
		    "sys.exit(0 if got==b'' else 12)\n";
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		execl("/usr/bin/python3", "python3", "-c", script, d.sock,
		      (char *)NULL);
		_exit(11);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	          "child status %d", WEXITSTATUS(status));
	cr_assert_geq(stat_of(&d, "connections_refused"), 1);
	dm_stop(&d);
	dm_dispose(&d);
}

Test(limits, socket_activation)
{
	char *dir = tu_mkdtemp("activation"), *sock = tu_path(dir, "a.sock");
	struct sockaddr_un sa;
	int fd, status;
	pid_t pid;
	json_t *r;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	pid = fork();
	if (pid == 0) {
		/* as systemd does: the listening socket on fd 3 */
		char num[32];
		int l = socket(AF_UNIX, SOCK_STREAM, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(l, 16) < 0 || dup2(l, 3) < 0)
			_exit(120);
		snprintf(num, sizeof(num), "%d", (int)getpid());
		setenv("LISTEN_PID", num, 1);
		setenv("LISTEN_FDS", "1", 1);
		execl(dm_binary(), "snapdiffd", "--foreground", "--socket",
		      "/nonexistent/never-used.sock", "--log-level", "error",
		      (char *)NULL);
		_exit(127);
	}
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	for (int i = 0; i < 500; i++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		usleep(20000);
	}
	dm_adopt(fd);
	r = dm_call(fd, 1, "service.ping", NULL, NULL);
	cr_assert_eq(dm_error_code(r), 0);
	json_decref(r);
	close(fd);
	kill(pid, SIGTERM);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the socket is systemd's: left in place */
	cr_assert_eq(access(sock, F_OK), 0);
	tu_rm_rf(dir);
	free(sock);
	free(dir);
}

Test(limits, out_of_file_descriptors)
{
	struct rlimit lim = {24, 24};
	dm_daemon d;
	int fds[40], n = 0;
	json_t *r;

	dm_start(&d, NULL);
	/* the daemon may hold few descriptors: accept fails with EMFILE */
	cr_assert_eq(prlimit(d.pid, RLIMIT_NOFILE, &lim, NULL), 0, "%s",
	             strerror(errno));
	for (n = 0; n < 40; n++)
		fds[n] = dm_connect(&d);
	/* the first ones are served */
	r = dm_call(fds[0], 1, "service.ping", NULL, NULL);
	cr_assert_eq(dm_error_code(r), 0);
	json_decref(r);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	/* once descriptors are free again, a new client is served */
	fds[0] = dm_connect(&d);
	r = dm_call(fds[0], 2, "service.ping", NULL, NULL);
	cr_assert_eq(dm_error_code(r), 0);
	json_decref(r);
	close(fds[0]);
	dm_stop(&d);
	{
		char *log = tu_read(d.dir, "daemon.log", NULL);
		cr_assert(log && strstr(log, "pausing"), "no pause logged");
		free(log);
	}
	dm_dispose(&d);
}

static void *ping_forever(void *arg)
{
	const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                   "\"service.ping\"}\n";
	int fd = *(int *)arg;

	/* until the daemon drops this connection (or 10^6 pings) */
	for (int i = 0; i < 1000000; i++)
		if (send(fd, ping, strlen(ping), MSG_NOSIGNAL) <= 0)
			break;
	return NULL;
}

Test(limits, pings_piling_up_unread)
{
	struct timeval tv = {120, 0};
	pthread_t th;
	dm_daemon d;
	long long baseline;
	int a, b, i;
	json_t *r;

	dm_start(&d, NULL);
	baseline = dm_live_bytes(&d);
	a = dm_connect(&d);
	setsockopt(a, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* pipeline pings, never read a reply */
	cr_assert_eq(pthread_create(&th, NULL, ping_forever, &a), 0);
	/* someone else is still answered, and the hog is dropped */
	b = dm_connect(&d);
	r = dm_call(b, 2, "service.ping", NULL, NULL);
	cr_assert_eq(dm_error_code(r), 0);
	json_decref(r);
	close(b);
	pthread_join(th, NULL);
	for (i = 0; i < 3000 && stat_of(&d, "connections") > 1; i++)
		usleep(20000);
	cr_assert_lt(i, 3000, "the client that never reads is still there");
	close(a);
	dm_check_healthy(&d, baseline);
	dm_stop(&d);
	dm_dispose(&d);
}
