/* A real snapdiffd on a temporary socket, and a line-based client. */
#ifndef SDF_DAEMON_UTIL_H
#define SDF_DAEMON_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#if defined(SDF_SANITIZED) || defined(SDF_VALGRIND)
#define CHECK_RSS 0
#else
#define CHECK_RSS 1
/* Tracks wt into store twice, n files of 40 lines each rewritten between
 * the two: their tree ids into from and to. */
void dm_many_files(const char *wt, const char *store, int n, char from[41],
                   char to[41]);

#endif

typedef struct {
	char *dir;  /* scratch directory (removed by dm_stop) */
	char *sock; /* dir/d.sock */
	char *log;  /* dir/daemon.log: the daemon's stderr */
	pid_t pid;
	long maxrss_kb; /* after dm_stop */
	int status;     /* exit status after dm_stop */
} dm_daemon;

/* The built snapdiffd (next to the snapdiff CLI). */
const char *dm_binary(void);
/* Starts snapdiffd --foreground --socket DIR/d.sock plus the extra args
 * (NULL-terminated) and waits until it answers. */
void dm_start(dm_daemon *d, const char *const *extra);
/* Starts snapdiffd again on d's socket (a stale one may be there) and
 * scratch directory, its stderr appended to d->log. */
void dm_launch(dm_daemon *d, const char *const *extra);
/* kill -9, reaped: the socket is left behind. */
void dm_kill9(dm_daemon *d);
/* SIGTERM, wait; asserts exit 0 and the socket removed. */
void dm_stop(dm_daemon *d);
/* Removes the scratch directory. */
void dm_dispose(dm_daemon *d);

int dm_connect(const dm_daemon *d);
/* A descriptor connected some other way: nothing read on it yet. */
void dm_adopt(int fd);
void dm_send(int fd, const char *line); /* adds the newline */
/* The next line as JSON (NULL at EOF); waits at most timeout_ms. */
json_t *dm_recv(int fd, int timeout_ms);
/* Sends a request (params: a JSON text or NULL) and returns the response,
 * skipping notifications (counted in *notes when not NULL). */
json_t *dm_call(int fd, int id, const char *method, const char *params,
                size_t *notes);
/* dm_call on a fresh connection: result must be present; returns it. */
json_t *dm_result(const dm_daemon *d, const char *method, const char *params);
/* The error code of a response (0 when it has a result). */
int dm_error_code(json_t *resp);
/* service.stats' live_bytes, once no other request is in flight. */
long long dm_live_bytes(const dm_daemon *d);
/* Asserts the daemon answers ping and live bytes are back at baseline. */
void dm_check_healthy(const dm_daemon *d, long long baseline);

/* Writes about mib MiB of lines for turn into path. */
void dm_generate(const char *path, int turn, size_t mib);

/* Tracks wt into store twice, n files of 40 lines each rewritten between
 * the two: their tree ids into from and to. */
void dm_many_files(const char *wt, const char *store, int n, char from[41],
                   char to[41]);

#endif
