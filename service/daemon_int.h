/*
 * snapdiffd's parts: the server (sockets, connections, the worker pool and
 * memory admission, daemon_server.c) and the methods (daemon_methods.c).
 */
#ifndef SDF_DAEMON_INT_H
#define SDF_DAEMON_INT_H

#include "sdf_rpc.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DAEMON_MEMORY_LIMIT_DEFAULT ((size_t)64 << 20)
#define DAEMON_MAX_CONNECTIONS_DEFAULT 64
#define DAEMON_IDLE_TIMEOUT_MS_DEFAULT (10 * 60 * 1000)
#define DAEMON_WRITE_TIMEOUT_MS_DEFAULT (30 * 1000)
#define DAEMON_ADMIT_TIMEOUT_MS_DEFAULT (60 * 1000)
/* Bytes of one outgoing message a connection may hold (and the cap on the
 * patch sizes a request may ask for). */
#define DAEMON_MAX_MESSAGE_DEFAULT ((size_t)4 << 20)
#define DAEMON_MAX_PATH 4096
#define DAEMON_FILE_SLICE_MAX ((size_t)1 << 20)

typedef struct {
	char *socket_path; /* owned */
	size_t memory_limit;
	unsigned workers;
	int foreground;
	size_t max_line;    /* request line cap */
	size_t max_depth;   /* JSON nesting cap */
	size_t max_message; /* one outgoing line */
	unsigned max_connections;
	int idle_timeout_ms;
	int write_timeout_ms; /* a client that stops reading */
	int admit_timeout_ms; /* a request waiting for budget */
	int prune_interval_s; /* the pruner's period; 0: no pruning */
	int listen_fd;        /* bound and listening */
	int owns_socket;      /* remove socket_path at exit (not when
	                         inherited through LISTEN_FDS) */
	dev_t socket_dev;     /* the socket file we bound */
	ino_t socket_ino;
} daemon_config;

/* ---- what a method sees of the server ---- */

typedef struct daemon_call daemon_call;

/* A parameter error: the server answers -32602 with sdf_error_last(). */
#define DAEMON_EPARAMS (-1000)

struct daemon_call {
	const daemon_config *cfg;
	json_t *id;     /* NULL for a notification (nothing is sent) */
	json_t *params; /* an object */
	void *conn;     /* the server's connection */
};

/*
 * Sends a notification to the caller's connection. Blocks while the client
 * does not read (at most the write timeout). SDF_ECANCELED when the client
 * is gone or stopped reading: stop working.
 */
int daemon_notify(daemon_call *call, const char *method, json_t *params);
/* Nonzero once the client hung up or the daemon is stopping. */
int daemon_canceled(daemon_call *call);

typedef struct {
	const char *name;
	/* Bytes to reserve from the budget before running; 0: run at once. */
	size_t (*estimate)(daemon_call *call);
	/* *result on success (stolen); a negative SDF_E code (or
	 * DAEMON_EPARAMS) with sdf_error_last() set on failure. */
	int (*run)(json_t **result, daemon_call *call);
	int light; /* served by the light lane: never waits for budget */
} daemon_method;

const daemon_method *daemon_method_find(const char *name);

/* ---- one request, line to reply (daemon_request.c) ---- */

/*
 * Decodes a request line and finds its method: *m and *req set (dispose
 * req with sdf_rpc_request_dispose), or *m NULL and *fail holding the error
 * to answer (a malformed request, an unknown method; fail->notification
 * when nothing is to be answered; dispose it with sdf_rpc_failure_dispose).
 */
void daemon_request_parse(const daemon_method **m, sdf_rpc_request *req,
                          sdf_rpc_failure *fail, const char *line, size_t len,
                          size_t max_depth);
/*
 * Runs m and encodes its result: 0 with *line (sdf_free it; NULL for a
 * notification), or a negative SDF_E code (SDF_EBUDGET whenever an
 * allocation failed under it) or DAEMON_EPARAMS, with sdf_error_last() set.
 */
int daemon_request_run(char **line, size_t *len, const daemon_method *m,
                       daemon_call *call);
/*
 * The error reply line: of rpc_code when nonzero (with sdf_code's name in
 * its data when that is nonzero too), else of the SDF_E code sdf_code.
 * Allocated (*owned = 1: sdf_free it) or, out of budget, written into buf
 * (cap >= 128; *owned = 0). *len excludes the NUL. NULL: nothing fits.
 */
char *daemon_error_reply(size_t *len, int *owned, char *buf, size_t cap,
                         json_t *id, int rpc_code, const char *message,
                         int sdf_code);
/* The error reply to a method that failed with rc, of sdf_error_last(). */
char *daemon_failure_reply(size_t *len, int *owned, char *buf, size_t cap,
                           json_t *id, int rc);

/* service.stats: the server's counters. */
json_t *daemon_server_stats(void);
/* Adds files a diff answered from a store's cache to service.stats. */
void daemon_count_cache_hits(uint64_t n);

/* Memory admission outside a request (the pruner): waits at most the busy
 * timeout; daemon_release() gives it back. */
int daemon_admit(size_t *bytes);
void daemon_release(size_t bytes);

/* The pruner (daemon_prune.c): interval_s <= 0 leaves it off. */
int daemon_pruner_start(int interval_s);
void daemon_pruner_stop(void);
/* Remembers a store for the timer; tracked: a track wrote to it. */
void daemon_pruner_note(const char *store_path, int tracked);

int daemon_server_run(const daemon_config *cfg);

#endif
