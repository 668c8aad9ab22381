/*
 * The daemon's wire protocol as data: NDJSON framing (one JSON value per
 * line) and the JSON-RPC 2.0 codec. No sockets here: the framer is fed
 * bytes and hands back lines; the codec turns a line into a request and
 * replies into lines. docs/protocol.md describes the protocol for clients.
 */
#ifndef SDF_RPC_H
#define SDF_RPC_H

#include <jansson.h>
#include <stddef.h>

/* ---- framing ---- */

#define SDF_RPC_MAX_LINE_DEFAULT ((size_t)1 << 20) /* 1 MiB */
#define SDF_RPC_MAX_DEPTH_DEFAULT 32

/*
 * Accumulates bytes and cuts them into lines. The buffer grows (through the
 * counting allocator) up to max_line + 1 bytes and never further: a line
 * longer than max_line is an error, not a larger buffer.
 */
typedef struct {
	char *buf;
	size_t len;      /* bytes held */
	size_t cap;      /* bytes allocated */
	size_t start;    /* where the next line begins */
	size_t scanned;  /* bytes from start already known to hold no '\n' */
	size_t max_line; /* without the newline */
} sdf_rpc_framer;

/* max_line 0: SDF_RPC_MAX_LINE_DEFAULT. Allocates nothing yet. */
void sdf_rpc_framer_init(sdf_rpc_framer *f, size_t max_line);
void sdf_rpc_framer_dispose(sdf_rpc_framer *f);

/*
 * Room to read into: *dst and *room (> 0). Grows the buffer when the held
 * bytes fill it, never past max_line + 1. SDF_EBUDGET when the allocator
 * refuses; SDF_ETOOBIG when the partial line already fills max_line + 1
 * bytes (the peer sent a line over the cap).
 */
int sdf_rpc_framer_space(sdf_rpc_framer *f, char **dst, size_t *room);
/*
 * The buffer size sdf_rpc_framer_space would hold if called now: the
 * current one when it need not grow (a caller that budgets the buffers
 * checks this first).
 */
size_t sdf_rpc_framer_want(const sdf_rpc_framer *f);
/* Records n bytes written at the place sdf_rpc_framer_space gave. */
void sdf_rpc_framer_commit(sdf_rpc_framer *f, size_t n);

/*
 * The next complete line, without its "\n" (and without a "\r" before it):
 * 1 with *line and *len set (the bytes stay valid until the next call on f),
 * 0 when no complete line is held, SDF_ETOOBIG when the line being
 * gathered (or the complete one found) is over max_line.
 */
int sdf_rpc_framer_next(sdf_rpc_framer *f, const char **line, size_t *len);
/* Bytes held that no call to sdf_rpc_framer_next has returned yet. */
size_t sdf_rpc_framer_pending(const sdf_rpc_framer *f);

/* ---- JSON-RPC 2.0 ---- */

/* The standard codes. */
#define SDF_RPC_PARSE_ERROR (-32700)
#define SDF_RPC_INVALID_REQUEST (-32600)
#define SDF_RPC_METHOD_NOT_FOUND (-32601)
#define SDF_RPC_INVALID_PARAMS (-32602)
#define SDF_RPC_INTERNAL_ERROR (-32603)

/*
 * Application codes, one per SDF_E code (the server-error range
 * -32000..-32099 that JSON-RPC leaves to implementations). Each error's
 * data holds {"error": sdf_error_name(code), "retry": bool}.
 */
#define SDF_RPC_ERROR (-32000)   /* SDF_ERROR: anything else */
#define SDF_RPC_EBUDGET (-32001) /* over the memory budget */
#define SDF_RPC_EBUSY (-32002)   /* busy: retry */
#define SDF_RPC_ENOTFOUND (-32003)
#define SDF_RPC_EINVAL (-32004)
#define SDF_RPC_EIO (-32005)
#define SDF_RPC_ECHANGED (-32006)
#define SDF_RPC_ELOCKED (-32007)
#define SDF_RPC_ECORRUPT (-32008)
#define SDF_RPC_ENOSPC (-32009)
#define SDF_RPC_EUNSAFE (-32010)
#define SDF_RPC_ETOOBIG (-32011)
#define SDF_RPC_ECANCELED (-32012)

/* The application code of an SDF_E code (SDF_RPC_ERROR for unknown ones). */
int sdf_rpc_code(int sdf_code);
/* 1 when a client may simply retry the same request later. */
int sdf_rpc_retryable(int sdf_code);
/* What a person can do about an SDF_E code: one sentence, static. */
const char *sdf_rpc_hint(int sdf_code);

typedef struct {
	json_t *root;       /* the whole request (owned) */
	json_t *id;         /* borrowed from root; NULL for a notification */
	const char *method; /* borrowed from root */
	json_t *params;     /* borrowed; an object (empty when absent) */
} sdf_rpc_request;

/* Why a line is not a request: what to answer with. */
typedef struct {
	int code;   /* an SDF_RPC_ code */
	json_t *id; /* the id to answer with (a new reference; json null
	               when the request's id could not be read) */
	char message[256];
	int notification; /* a request without an id whose params were
	                     refused: nothing is to be sent back */
} sdf_rpc_failure;

/*
 * Decodes one line. 0: *out holds a request (free with
 * sdf_rpc_request_dispose). Negative: an SDF_E code with *fail filled
 * (dispose it with sdf_rpc_failure_dispose); -32700 for malformed JSON,
 * too deep nesting (more than max_depth arrays/objects, checked before
 * parsing; 0 means SDF_RPC_MAX_DEPTH_DEFAULT), duplicate keys; -32600 for
 * a batch or anything not a JSON-RPC 2.0 request; -32602 for params that
 * are not an object (by-position params are not supported).
 * SDF_EBUDGET when the allocator refused (fail->code -32001).
 */
int sdf_rpc_request_parse(sdf_rpc_request *out, sdf_rpc_failure *fail,
                          const char *line, size_t len, size_t max_depth);
void sdf_rpc_request_dispose(sdf_rpc_request *req);
void sdf_rpc_failure_dispose(sdf_rpc_failure *fail);

/*
 * The replies, each one line ending in "\n" (and a NUL, not counted in
 * *len), encoded compactly with keys in
 * insertion order and non-ASCII escaped. Free with sdf_free(). NULL when out
 * of budget. The result/params reference is stolen (even on failure); id
 * is borrowed (NULL: json null).
 */
char *sdf_rpc_result_line(size_t *len, json_t *id, json_t *result);
char *sdf_rpc_notification_line(size_t *len, const char *method,
                                json_t *params);
/*
 * data may be NULL; stolen. Bytes of message that are not valid UTF-8
 * (a path, or a request cut in mid-character) are sent as '?'.
 */
char *sdf_rpc_error_line(size_t *len, json_t *id, int code, const char *message,
                         json_t *data);
/*
 * The error line of an SDF_E code with its message: "message. hint", data
 * {"error": name, "retry": bool}.
 */
char *sdf_rpc_error_line_sdf(size_t *len, json_t *id, int sdf_code,
                             const char *message);
/*
 * The same error line written into buf without allocating (for when the
 * budget is exhausted): message is cut to fit, a string id longer than
 * fits becomes null. Returns the length (buf always ends in "\n" and a NUL
 * when cap >= 128).
 */
size_t sdf_rpc_error_line_static(char *buf, size_t cap, json_t *id, int code,
                                 const char *message);

#endif
