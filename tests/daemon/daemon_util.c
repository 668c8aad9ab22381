#define _GNU_SOURCE
#include "daemon_util.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *dm_binary(void)
{
	static char path[4096];

	if (!path[0]) {
		char cli[4096];
		snprintf(cli, sizeof(cli), "%s", SDF_CLI);
		snprintf(path, sizeof(path), "%s/snapdiffd", dirname(cli));
	}
	return path;
}

static int try_connect(const char *sock)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

void dm_start(dm_daemon *d, const char *const *extra)
{
	memset(d, 0, sizeof(*d));
	d->dir = tu_mkdtemp("daemon");
	d->sock = tu_path(d->dir, "d.sock");
	d->log = tu_path(d->dir, "daemon.log");
	dm_launch(d, extra);
}

void dm_launch(dm_daemon *d, const char *const *extra)
{
	char *argv[64];
	int n = 0, fd;

	argv[n++] = (char *)dm_binary();
	argv[n++] = "--foreground";
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	for (size_t i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	d->pid = fork();
	cr_assert(d->pid >= 0);
	if (d->pid == 0) {
		int lf = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		/* a test that fails mid-way takes its daemon with it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(lf, 1);
		dup2(lf, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if ((fd = try_connect(d->sock)) >= 0) {
			close(fd);
			return;
		}
		if (waitpid(d->pid, &d->status, WNOHANG) == d->pid)
			cr_assert_fail("snapdiffd exited at start: see %s",
			               d->log);
		usleep(20000);
	}
	cr_assert_fail("snapdiffd did not start listening");
}

void dm_kill9(dm_daemon *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &d->status, 0);
	d->pid = 0;
}

void dm_stop(dm_daemon *d)
{
	struct rusage ru;
	int st = 0;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	cr_assert_eq(wait4(d->pid, &st, 0, &ru), d->pid);
	d->pid = 0;
	d->maxrss_kb = ru.ru_maxrss;
	d->status = st;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "snapdiffd did not exit 0 on SIGTERM (status %d)", st);
	cr_assert(access(d->sock, F_OK) != 0, "the socket was not removed");
}

void dm_dispose(dm_daemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
	}
	if (d->dir)
		tu_rm_rf(d->dir);
	free(d->dir);
	free(d->sock);
	free(d->log);
	memset(d, 0, sizeof(*d));
}

/* What was read past the last line, per descriptor. */
static struct {
	char *buf;
	size_t len, cap;
} pending[1024];

void dm_adopt(int fd)
{
	if (fd >= 0 && fd < 1024)
		pending[fd].len = 0;
}

int dm_connect(const dm_daemon *d)
{
	int fd = try_connect(d->sock);

	cr_assert(fd >= 0, "cannot connect to %s: %s", d->sock,
	          strerror(errno));
	dm_adopt(fd);
	return fd;
}

void dm_send(int fd, const char *line)
{
	size_t len = strlen(line);
	char *buf = malloc(len + 1);

	memcpy(buf, line, len);
	buf[len] = '\n';
	for (size_t off = 0; off <= len;) {
		ssize_t n = send(fd, buf + off, len + 1 - off, MSG_NOSIGNAL);
		cr_assert(n > 0 || errno == EINTR, "send: %s", strerror(errno));
		if (n > 0)
			off += (size_t)n;
	}
	free(buf);
}

json_t *dm_recv(int fd, int timeout_ms)
{
	json_error_t err;
	json_t *v;
	char *nl;

	cr_assert(fd >= 0 && fd < 1024);
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;

		if (pending[fd].len &&
		    (nl = memchr(pending[fd].buf, '\n', pending[fd].len)))
			break;
		if (pending[fd].cap - pending[fd].len < 65536) {
			pending[fd].cap = pending[fd].cap * 2 + 65536;
			pending[fd].buf =
			    realloc(pending[fd].buf, pending[fd].cap);
		}
		cr_assert(poll(&p, 1, timeout_ms) > 0, "no reply within %d ms",
		          timeout_ms);
		n = recv(fd, pending[fd].buf + pending[fd].len,
		         pending[fd].cap - pending[fd].len, 0);
		if (n <= 0) {
			pending[fd].len = 0;
			return NULL;
		}
		pending[fd].len += (size_t)n;
	}
	v = json_loadb(pending[fd].buf, (size_t)(nl - pending[fd].buf), 0,
	               &err);
	cr_assert_not_null(
	    v, "not JSON: %.*s",
	    (int)((nl - pending[fd].buf) > 300 ? 300 : (nl - pending[fd].buf)),
	    pending[fd].buf);
	pending[fd].len -= (size_t)(nl + 1 - pending[fd].buf);
	memmove(pending[fd].buf, nl + 1, pending[fd].len);
	return v;
}

json_t *dm_call(int fd, int id, const char *method, const char *params,
                size_t *notes)
{
	char *req;
	json_t *r;

	cr_assert(
	    asprintf(&req,
	             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"%s%s}",
	             id, method, params ? ",\"params\":" : "",
	             params ? params : "") > 0);
	dm_send(fd, req);
	free(req);
	for (;;) {
		r = dm_recv(fd, 600000);
		cr_assert_not_null(r, "connection closed waiting for %s",
		                   method);
		if (!json_object_get(r, "method"))
			break;
		cr_assert_str_eq(
		    json_string_value(json_object_get(r, "method")),
		    "snapshot.diff.file");
		cr_assert_eq(json_integer_value(json_object_get(
		                 json_object_get(r, "params"), "id")),
		             id);
		if (notes)
			(*notes)++;
		json_decref(r);
	}
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), id);
	cr_assert_str_eq(json_string_value(json_object_get(r, "jsonrpc")),
	                 "2.0");
	return r;
}

json_t *dm_result(const dm_daemon *d, const char *method, const char *params)
{
	int fd = dm_connect(d);
	json_t *r = dm_call(fd, 1, method, params, NULL), *res;
	char *s = json_dumps(r, JSON_COMPACT);

	res = json_object_get(r, "result");
	cr_assert_not_null(res, "%s failed: %.500s", method, s);
	free(s);
	json_incref(res);
	json_decref(r);
	close(fd);
	return res;
}

int dm_error_code(json_t *resp)
{
	json_t *e = json_object_get(resp, "error");

	return e ? (int)json_integer_value(json_object_get(e, "code")) : 0;
}

long long dm_live_bytes(const dm_daemon *d)
{
	/* wait until only this stats call is in flight */
	for (int i = 0; i < 1000; i++) {
		json_t *s = dm_result(d, "service.stats", NULL);
		long long live =
		    json_integer_value(json_object_get(s, "live_bytes"));
		long long inflight =
		    json_integer_value(json_object_get(s, "in_flight"));
		long long conns =
		    json_integer_value(json_object_get(s, "connections"));
		json_decref(s);
		if (inflight == 1 && conns == 1)
			return live;
		usleep(20000);
	}
	cr_assert_fail("requests still in flight");
	return -1;
}

void dm_check_healthy(const dm_daemon *d, long long baseline)
{
	json_t *p = dm_result(d, "service.ping", NULL);
	long long live;

	cr_assert(json_is_true(json_object_get(p, "pong")));
	json_decref(p);
	live = dm_live_bytes(d);
	cr_assert(live <= baseline, "live bytes grew: %lld -> %lld", baseline,
	          live);
}

void dm_generate(const char *path, int turn, size_t mib)
{
	FILE *f = fopen(path, "w");
	size_t target = mib << 20, total = 0;
	uint64_t x = (uint64_t)turn * 0x9e3779b97f4a7c15ull;

	cr_assert_not_null(f);
	for (size_t i = 0; total < target; i++) {
		char line[96];
		int n;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = snprintf(line, sizeof(line), "turn %d line %08zu %016llx\n",
		             turn, i, (unsigned long long)x);
		fwrite(line, 1, (size_t)n, f);
		total += (size_t)n;
	}
	cr_assert_eq(fclose(f), 0);
}

#if defined(SDF_SANITIZED)
/*
 * Criterion 2.4.1's runner sometimes loses 48 bytes of its own when
 * parallel tests end together (a calloc inside criterion_run_all_tests).
 * Not ours: the daemon under test is another process, checked by its own
 * exit. Read by LeakSanitizer in this test process only.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libcriterion.so\n";
}
#endif

void dm_many_files(const char *wt, const char *store, int n, char from[41],
                   char to[41])
{
	char *argv[] = {SDF_CLI,   "track",       "--worktree", (char *)wt,
	                "--store", (char *)store, NULL};
	char rel[64], body[2048];
	tu_result r;

	for (int turn = 1; turn <= 2; turn++) {
		for (int i = 0; i < n; i++) {
			size_t len = 0;
			snprintf(rel, sizeof(rel), "d%02d/f%05d.txt", i % 50,
			         i);
			for (int l = 0; l < 40; l++)
				len += (size_t)snprintf(
				    body + len, sizeof(body) - len,
				    "line %d of %d, turn %d\n", l, i, turn);
			tu_write(wt, rel, body, len, 0644);
		}
		tu_run(&r, NULL, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		char *tree = tu_last_line(r.out);
		snprintf(turn == 1 ? from : to, 41, "%s", tree);
		free(tree);
		tu_result_dispose(&r);
	}
}
