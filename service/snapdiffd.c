/*
 * snapdiffd: the snapdiff daemon. JSON-RPC 2.0 over NDJSON on a Unix
 * socket (docs/protocol.md). Options, the socket, then daemon_server_run.
 */
#define _GNU_SOURCE
#include "daemon_int.h"
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "sdf_log.h"
#include "sdf_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_FDS_START 3
#define BACKLOG 128

static const char usage_text[] =
    "usage: snapdiffd [options]\n"
    "\n"
    "Serves snapdiff's snapshots and diffs as JSON-RPC 2.0 (one JSON object\n"
    "per line) on a Unix socket. See docs/protocol.md.\n"
    "\n"
    "  --socket PATH            default $XDG_RUNTIME_DIR/snapdiff.sock, else\n"
    "                           /tmp/snapdiff-$UID/snapdiff.sock\n"
    "  --memory-limit BYTES     the whole daemon's budget (K, M, G; default "
    "64M)\n"
    "  --workers N              threads running requests (default: cores)\n"
    "  --foreground             stay in the foreground (else detach once\n"
    "                           the socket is ready)\n"
    "  --max-connections N      default 64\n"
    "  --max-request-bytes N    longest request line (default 1M)\n"
    "  --max-depth N            JSON nesting of a request (default 32)\n"
    "  --idle-timeout MS        close idle connections (default 600000)\n"
    "  --write-timeout MS       drop a client that stops reading (default "
    "30000)\n"
    "  --busy-timeout MS        how long a request waits for memory before\n"
    "                           \"busy\" (default 60000)\n"
    "  --prune-interval SECONDS apply each tracked store's retention policy\n"
    "                           this often, and after a track that takes\n"
    "                           it over snapdiff.maxBytes (default 3600;\n"
    "                           0: never prune)\n"
    "  --log-level LEVEL        error, warn, info (default) or debug\n"
    "  --help, --version\n"
    "\n"
    "Socket activation: with LISTEN_FDS=1 and LISTEN_PID set to its pid\n"
    "(systemd), the daemon serves the inherited socket (fd 3).\n";

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("snapdiffd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see snapdiffd --help)\n", stderr);
	return 2;
}

static int parse_uint(const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

static char *default_socket(void)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char buf[PATH_MAX];

	if (rt && rt[0] == '/')
		snprintf(buf, sizeof(buf), "%s/snapdiff.sock", rt);
	else
		snprintf(buf, sizeof(buf), "/tmp/snapdiff-%u/snapdiff.sock",
		         (unsigned)getuid());
	return strdup(buf);
}

/*
 * The directory of the fallback socket: created 0700, and only used when
 * it is ours and nobody else may write into it.
 */
static int check_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	if (!(slash = strrchr(dir, '/')) || slash == dir)
		return 0;
	*slash = '\0';
	if (strncmp(dir, "/tmp/snapdiff-", 14) == 0 && mkdir(dir, 0700) < 0 &&
	    errno != EEXIST) {
		log_error("cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) < 0) {
		log_error("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("%s is not a directory", dir);
		return -1;
	}
	if (strncmp(dir, "/tmp/snapdiff-", 14) == 0 &&
	    (st.st_uid != getuid() || (st.st_mode & 077))) {
		log_error("%s must be a directory of uid %u with mode 0700; "
		          "remove it or give --socket",
		          dir, (unsigned)getuid());
		return -1;
	}
	return 0;
}

/*
 * Binds path: refuses an over-long path, replaces a stale socket, never
 * steals a live one, creates it 0600.
 */
static int bind_socket(daemon_config *cfg)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd, r;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(cfg->socket_path) >= sizeof(sa.sun_path)) {
		log_error("socket path too long (%zu bytes, at most %zu): %s",
		          strlen(cfg->socket_path), sizeof(sa.sun_path) - 1,
		          cfg->socket_path);
		return -1;
	}
	memcpy(sa.sun_path, cfg->socket_path, strlen(cfg->socket_path) + 1);
	if (check_parent(cfg->socket_path) < 0)
		return -1;
	if (lstat(cfg->socket_path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s exists and is not a socket; not touching "
			          "it",
			          cfg->socket_path);
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0) {
			log_error("socket: %s", strerror(errno));
			return -1;
		}
		r = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		close(probe);
		if (r == 0) {
			log_error("another snapdiffd is serving %s; stop it "
			          "first or give another --socket",
			          cfg->socket_path);
			return -1;
		}
		log_info("replacing the stale socket %s", cfg->socket_path);
		if (unlink(cfg->socket_path) < 0 && errno != ENOENT) {
			log_error("cannot remove %s: %s", cfg->socket_path,
			          strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		log_error("cannot bind %s: %s", cfg->socket_path,
		          strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(cfg->socket_path, 0600) < 0 ||
	    lstat(cfg->socket_path, &st) < 0 || listen(fd, BACKLOG) < 0) {
		log_error("%s: %s", cfg->socket_path, strerror(errno));
		unlink(cfg->socket_path);
		close(fd);
		return -1;
	}
	cfg->listen_fd = fd;
	cfg->owns_socket = 1;
	cfg->socket_dev = st.st_dev;
	cfg->socket_ino = st.st_ino;
	return 0;
}

/* systemd's socket activation, without libsystemd: 1 when fd 3 is ours. */
static int inherited_socket(daemon_config *cfg)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	long p, n;
	int fl;

	if (!pid || !fds || parse_uint(pid, INT_MAX, &p) < 0 ||
	    (pid_t)p != getpid() || parse_uint(fds, INT_MAX, &n) < 0 || n < 1)
		return 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n > 1)
		log_warn("LISTEN_FDS=%ld: serving the first socket only", n);
	cfg->listen_fd = LISTEN_FDS_START;
	fl = fcntl(cfg->listen_fd, F_GETFL);
	if (fl < 0 || fcntl(cfg->listen_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(cfg->listen_fd, F_SETFD, FD_CLOEXEC) < 0) {
		log_error("the inherited socket (fd 3): %s", strerror(errno));
		return -1;
	}
	cfg->owns_socket = 0;
	return 1;
}

/* Detaches once the socket is bound: the parent's exit says "ready". */
static int detach(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		_exit(0);
	setsid();
	if (chdir("/") < 0)
		return -1;
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

static long cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : n;
}

int main(int argc, char **argv)
{
	daemon_config cfg;
	sigset_t stop;
	const char *socket_arg = NULL;
	long v;
	int rc, inherited;

	sdf_alloc_tune_process();
	/* held until the server's handlers are in place */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, NULL);

	memset(&cfg, 0, sizeof(cfg));
	cfg.memory_limit = DAEMON_MEMORY_LIMIT_DEFAULT;
	cfg.workers = (unsigned)cores();
	cfg.max_line = SDF_RPC_MAX_LINE_DEFAULT;
	cfg.max_depth = SDF_RPC_MAX_DEPTH_DEFAULT;
	cfg.max_message = DAEMON_MAX_MESSAGE_DEFAULT;
	cfg.max_connections = DAEMON_MAX_CONNECTIONS_DEFAULT;
	cfg.idle_timeout_ms = DAEMON_IDLE_TIMEOUT_MS_DEFAULT;
	cfg.write_timeout_ms = DAEMON_WRITE_TIMEOUT_MS_DEFAULT;
	cfg.admit_timeout_ms = DAEMON_ADMIT_TIMEOUT_MS_DEFAULT;
	cfg.prune_interval_s = 3600;
	cfg.listen_fd = -1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i],
		           *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (!strcmp(a, "--version")) {
			printf("snapdiffd %s\n", SDF_VERSION);
			return 0;
		}
		if (!strcmp(a, "--foreground")) {
			cfg.foreground = 1;
			continue;
		}
		if (!val)
			return usage("%s needs a value", a);
		i++;
		if (!strcmp(a, "--socket")) {
			socket_arg = val;
		} else if (!strcmp(a, "--memory-limit")) {
			if (sdf_parse_size(val, &cfg.memory_limit) < 0 ||
			    cfg.memory_limit < ((size_t)4 << 20))
				return usage(
				    "--memory-limit takes a byte count "
				    "of at least 4M, such as 64M (not "
				    "'%s')",
				    val);
		} else if (!strcmp(a, "--workers")) {
			if (parse_uint(val, 256, &v) < 0 || v < 1)
				return usage(
				    "--workers takes 1 to 256, not '%s'", val);
			cfg.workers = (unsigned)v;
		} else if (!strcmp(a, "--max-connections")) {
			if (parse_uint(val, 4096, &v) < 0 || v < 1)
				return usage("--max-connections takes 1 to "
				             "4096, not '%s'",
				             val);
			cfg.max_connections = (unsigned)v;
		} else if (!strcmp(a, "--max-request-bytes")) {
			if (sdf_parse_size(val, &cfg.max_line) < 0 ||
			    cfg.max_line < 256 ||
			    cfg.max_line > ((size_t)64 << 20))
				return usage("--max-request-bytes takes 256 to "
				             "64M, not '%s'",
				             val);
		} else if (!strcmp(a, "--max-depth")) {
			if (parse_uint(val, 1000, &v) < 0 || v < 2)
				return usage("--max-depth takes 2 to 1000, not "
				             "'%s'",
				             val);
			cfg.max_depth = (size_t)v;
		} else if (!strcmp(a, "--idle-timeout") ||
		           !strcmp(a, "--write-timeout") ||
		           !strcmp(a, "--busy-timeout")) {
			if (parse_uint(val, INT_MAX, &v) < 0 || v < 1)
				return usage(
				    "give the timeout in milliseconds, "
				    "not '%s'",
				    val);
			if (a[2] == 'i')
				cfg.idle_timeout_ms = (int)v;
			else if (a[2] == 'w')
				cfg.write_timeout_ms = (int)v;
			else
				cfg.admit_timeout_ms = (int)v;
		} else if (!strcmp(a, "--prune-interval")) {
			if (parse_uint(val, 366 * 24 * 3600, &v) < 0)
				return usage("--prune-interval takes seconds, "
				             "not '%s'",
				             val);
			cfg.prune_interval_s = (int)v;
		} else if (!strcmp(a, "--log-level")) {
			static const char *names[] = {"error", "warn", "info",
			                              "debug"};
			int level = -1;
			for (int l = 0; l < 4; l++)
				if (!strcmp(val, names[l]))
					level = l;
			if (level < 0)
				return usage("--log-level takes error, warn, "
				             "info or debug, not '%s'",
				             val);
			sdf_log_set_level(level);
		} else {
			return usage("unknown option '%s'", a);
		}
	}
	if (!(cfg.socket_path =
	          socket_arg ? strdup(socket_arg) : default_socket())) {
		log_error("out of memory");
		return 1;
	}
	sdf_alloc_set_limit(cfg.memory_limit);
	sdf_api_global_init();
	if (sdf_snapshot_global_init() < 0) {
		log_error("%s", sdf_error_last());
		return 1;
	}
	if ((inherited = inherited_socket(&cfg)) < 0 ||
	    (!inherited && bind_socket(&cfg) < 0)) {
		rc = 1;
		goto done;
	}
	log_info("listening on %s%s",
	         inherited ? "the inherited socket" : cfg.socket_path,
	         inherited ? "" : " (mode 0600)");
	if (!cfg.foreground && detach() < 0) {
		rc = 1;
		goto done;
	}
	rc = daemon_server_run(&cfg);
	log_info("stopped");
done:
	sdf_snapshot_global_shutdown();
	free(cfg.socket_path);
	return rc;
}
