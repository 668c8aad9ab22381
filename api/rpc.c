/* NDJSON framing and the JSON-RPC 2.0 codec (see sdf_rpc.h). */
#include "sdf_rpc.h"
#include "api_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER)
/* First allocation of a framer; it doubles from there up to max_line + 1. */
#define FRAMER_MIN 4096

/* ---- framing ---- */

void sdf_rpc_framer_init(sdf_rpc_framer *f, size_t max_line)
{
	memset(f, 0, sizeof(*f));
	f->max_line = max_line ? max_line : SDF_RPC_MAX_LINE_DEFAULT;
}

void sdf_rpc_framer_dispose(sdf_rpc_framer *f)
{
	sdf_free(f->buf);
	memset(f, 0, sizeof(*f));
}

size_t sdf_rpc_framer_pending(const sdf_rpc_framer *f)
{
	return f->len - f->start;
}

size_t sdf_rpc_framer_want(const sdf_rpc_framer *f)
{
	size_t limit = f->max_line + 1, cap;

	if (f->len < f->cap || f->start > 0)
		return f->cap; /* room left, or room once compacted */
	cap = f->cap ? f->cap * 2 : FRAMER_MIN;
	return cap > limit ? limit : cap;
}

int sdf_rpc_framer_space(sdf_rpc_framer *f, char **dst, size_t *room)
{
	size_t limit = f->max_line + 1; /* a full line and its newline */

	if (f->start > 0 && f->len == f->cap) {
		/* drop the lines already handed out */
		memmove(f->buf, f->buf + f->start, f->len - f->start);
		f->len -= f->start;
		f->start = 0;
	}
	if (f->len == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : FRAMER_MIN;
		char *b;

		if (f->len - f->start >= limit)
			return sdf_error_set(SDF_ETOOBIG,
			                     "a request line is over %zu bytes",
			                     f->max_line);
		if (cap > limit)
			cap = limit;
		if (cap <= f->cap)
			return sdf_error_set(SDF_ETOOBIG,
			                     "a request line is over %zu bytes",
			                     f->max_line);
		if (!(b = sdf_realloc(f->buf, cap)))
			return SDF_EBUDGET;
		f->buf = b;
		f->cap = cap;
	}
	*dst = f->buf + f->len;
	*room = f->cap - f->len;
	return 0;
}

void sdf_rpc_framer_commit(sdf_rpc_framer *f, size_t n)
{
	f->len += n;
}

int sdf_rpc_framer_next(sdf_rpc_framer *f, const char **line, size_t *len)
{
	size_t avail = f->len - f->start;
	const char *p, *nl;
	size_t n;

	if (!avail)
		return 0; /* and f->buf may still be NULL: no arithmetic on it
		           */
	p = f->buf + f->start;
	nl = memchr(p + f->scanned, '\n', avail - f->scanned);
	if (!nl) {
		f->scanned = avail;
		if (avail > f->max_line)
			return sdf_error_set(SDF_ETOOBIG,
			                     "a request line is over %zu bytes",
			                     f->max_line);
		return 0;
	}
	n = (size_t)(nl - p);
	f->start += n + 1;
	f->scanned = 0;
	if (f->start == f->len)
		f->start = f->len = 0; /* the bytes stay until the next read */
	if (n > f->max_line)
		return sdf_error_set(SDF_ETOOBIG,
		                     "a request line is over %zu bytes",
		                     f->max_line);
	if (n && p[n - 1] == '\r')
		n--;
	*line = p;
	*len = n;
	return 1;
}

/* ---- codes ---- */

int sdf_rpc_code(int c)
{
	switch (c) {
	case SDF_EBUDGET:
		return SDF_RPC_EBUDGET;
	case SDF_EBUSY:
		return SDF_RPC_EBUSY;
	case SDF_ENOTFOUND:
		return SDF_RPC_ENOTFOUND;
	case SDF_EINVAL:
		return SDF_RPC_EINVAL;
	case SDF_EIO:
		return SDF_RPC_EIO;
	case SDF_ECHANGED:
		return SDF_RPC_ECHANGED;
	case SDF_ELOCKED:
		return SDF_RPC_ELOCKED;
	case SDF_ECORRUPT:
		return SDF_RPC_ECORRUPT;
	case SDF_ENOSPC:
		return SDF_RPC_ENOSPC;
	case SDF_EUNSAFE:
		return SDF_RPC_EUNSAFE;
	case SDF_ETOOBIG:
		return SDF_RPC_ETOOBIG;
	case SDF_ECANCELED:
		return SDF_RPC_ECANCELED;
	default:
		return SDF_RPC_ERROR;
	}
}

int sdf_rpc_retryable(int c)
{
	return c == SDF_EBUSY || c == SDF_EBUDGET || c == SDF_ELOCKED ||
	       c == SDF_ECHANGED;
}

const char *sdf_rpc_hint(int c)
{
	switch (c) {
	case SDF_EBUDGET:
		return "retry when fewer requests run, ask for less (lower "
		       "max_patch_bytes, max_files, stream the diff) or start "
		       "snapdiffd with a larger --memory-limit";
	case SDF_EBUSY:
		return "the daemon's memory budget is taken by other requests; "
		       "retry in a moment";
	case SDF_ENOTFOUND:
		return "check the store, the worktree and the snapshot id "
		       "(snapshot.log lists them)";
	case SDF_EINVAL:
		return "check the request's parameters against "
		       "docs/protocol.md";
	case SDF_EIO:
		return "check the file system and its permissions";
	case SDF_ECHANGED:
		return "a file kept changing while it was read; retry when the "
		       "worktree is quiet";
	case SDF_ELOCKED:
		return "another process holds the store; retry";
	case SDF_ECORRUPT:
		return "the store is damaged: run git --git-dir=STORE fsck";
	case SDF_ENOSPC:
		return "free some disk space and retry";
	case SDF_EUNSAFE:
		return "paths must be relative, without '..', '.' or '.git' "
		       "components";
	case SDF_ETOOBIG:
		return "ask for less: a smaller slice, a lower cap, or stream "
		       "the result";
	case SDF_ECANCELED:
		return "the request was canceled";
	default:
		return "see the daemon's log";
	}
}

/* ---- requests ---- */

/*
 * Deepest nesting of arrays and objects in s, stopping early once past max
 * (strings are skipped, escapes included). Malformed input is left to the
 * parser.
 */
static size_t nesting_depth(const char *s, size_t len, size_t max)
{
	size_t depth = 0, deepest = 0;
	int in_string = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > deepest && (deepest = depth) > max)
				return deepest;
		} else if ((c == ']' || c == '}') && depth) {
			depth--;
		}
	}
	return deepest;
}

/* What jansson reads from: the line, a little at a time. */
struct reader {
	const char *p;
	size_t left;
};

#define READ_STEP 256

static size_t read_some(void *buf, size_t cap, void *data)
{
	struct reader *r = data;
	size_t n = r->left < cap ? r->left : cap;

	if (sdf_alloc_failed())
		return 0; /* over budget: end the input, the parse stops */
	if (n > READ_STEP)
		n = READ_STEP;
	memcpy(buf, r->p, n);
	r->p += n;
	r->left -= n;
	return n;
}

/*
 * json_loadb() of the line, except that the allocator's refusals never
 * reach jansson (see json_alloc.c): after one, the input ends within
 * READ_STEP bytes and sdf_alloc_failed() says the result is to be dropped.
 */
static json_t *parse_line(const char *line, size_t len, json_error_t *jerr)
{
	struct reader r = {line, len};
	json_t *root;

	sdf_alloc_clear_failed();
	sdf_api_json_grace = 1;
	root = json_load_callback(
	    read_some, &r, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, jerr);
	sdf_api_json_grace = 0;
	return root;
}

static int fail_set(sdf_rpc_failure *fail, int rpc_code, json_t *id,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_set(sdf_rpc_failure *fail, int rpc_code, json_t *id,
                    const char *fmt, ...)
{
	va_list ap;

	fail->code = rpc_code;
	fail->id = id ? json_incref(id) : json_null();
	va_start(ap, fmt);
	vsnprintf(fail->message, sizeof(fail->message), fmt, ap);
	va_end(ap);
	return rpc_code == SDF_RPC_EBUDGET ? SDF_EBUDGET : SDF_EINVAL;
}

static int valid_id(json_t *id)
{
	return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

int sdf_rpc_request_parse(sdf_rpc_request *out, sdf_rpc_failure *fail,
                          const char *line, size_t len, size_t max_depth)
{
	json_error_t jerr;
	json_t *root, *v, *id = NULL, *params;
	const char *key;
	char where[160];

	memset(out, 0, sizeof(*out));
	memset(fail, 0, sizeof(*fail));
	if (!max_depth)
		max_depth = SDF_RPC_MAX_DEPTH_DEFAULT;
	if (nesting_depth(line, len, max_depth) > max_depth) {
		snprintf(where, sizeof(where), "%zu", max_depth);
		return fail_set(fail, SDF_RPC_PARSE_ERROR, NULL,
		                "parse error: JSON nested deeper than %s "
		                "levels",
		                where);
	}
	root = parse_line(line, len, &jerr);
	if (!root || sdf_alloc_failed()) {
		if (sdf_alloc_failed()) {
			json_decref(root);
			return fail_set(fail, SDF_RPC_EBUDGET, NULL,
			                "over the memory budget while parsing "
			                "the request; retry");
		}
		snprintf(where, sizeof(where), "%.100s (at byte %d)", jerr.text,
		         jerr.position);
		return fail_set(fail, SDF_RPC_PARSE_ERROR, NULL,
		                "parse error: %s; send one JSON object per "
		                "line",
		                where);
	}
	if (json_is_array(root)) {
		json_decref(root);
		return fail_set(fail, SDF_RPC_INVALID_REQUEST, NULL,
		                "invalid request: batches are not supported; "
		                "send one request object per line");
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return fail_set(fail, SDF_RPC_INVALID_REQUEST, NULL,
		                "invalid request: a request is a JSON "
		                "object");
	}
	id = json_object_get(root, "id");
	if (id && !valid_id(id)) {
		json_decref(root);
		return fail_set(fail, SDF_RPC_INVALID_REQUEST, NULL,
		                "invalid request: \"id\" must be a string, a "
		                "number or null");
	}
	v = json_object_get(root, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0) {
		int r = fail_set(fail, SDF_RPC_INVALID_REQUEST, id,
		                 "invalid request: \"jsonrpc\" must be "
		                 "\"2.0\"");
		json_decref(root);
		return r;
	}
	v = json_object_get(root, "method");
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		int r = fail_set(fail, SDF_RPC_INVALID_REQUEST, id,
		                 "invalid request: \"method\" must be a "
		                 "string");
		json_decref(root);
		return r;
	}
	json_object_foreach(root, key, params)
	{
		if (strcmp(key, "jsonrpc") && strcmp(key, "id") &&
		    strcmp(key, "method") && strcmp(key, "params")) {
			int r = fail_set(fail, SDF_RPC_INVALID_REQUEST, id,
			                 "invalid request: unknown member "
			                 "\"%.64s\"",
			                 key);
			json_decref(root);
			return r;
		}
	}
	params = json_object_get(root, "params");
	if (params && !json_is_object(params)) {
		int r = fail_set(fail, SDF_RPC_INVALID_PARAMS, id,
		                 "invalid params: \"params\" must be an object "
		                 "(parameters are given by name)");
		fail->notification = id == NULL;
		json_decref(root);
		return r;
	}
	if (!params) {
		if (!(params = json_object()) ||
		    json_object_set_new(root, "params", params) < 0) {
			int r = fail_set(fail, SDF_RPC_EBUDGET, id,
			                 "over the memory budget while parsing "
			                 "the request; retry");
			json_decref(root);
			return r;
		}
	}
	out->root = root;
	out->id = id;
	out->method = json_string_value(v);
	out->params = params;
	return 0;
}

void sdf_rpc_request_dispose(sdf_rpc_request *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

void sdf_rpc_failure_dispose(sdf_rpc_failure *fail)
{
	json_decref(fail->id);
	fail->id = NULL;
}

/* ---- replies ---- */

/* Dumps obj (consumed) followed by a newline. */
static char *dump_line(size_t *len, json_t *obj)
{
	size_t n;
	char *s;

	if (!obj)
		return NULL;
	n = json_dumpb(obj, NULL, 0, DUMP_FLAGS);
	if (n == 0 || n >= SIZE_MAX - 2 || !(s = sdf_malloc(n + 2))) {
		json_decref(obj);
		return NULL;
	}
	if (json_dumpb(obj, s, n, DUMP_FLAGS) != n) {
		sdf_free(s);
		json_decref(obj);
		return NULL;
	}
	json_decref(obj);
	s[n] = '\n';
	s[n + 1] = '\0';
	*len = n + 1;
	return s;
}

static json_t *envelope(json_t *id)
{
	json_t *o = json_object();

	if (o && (json_object_set_new(o, "jsonrpc", json_string("2.0")) < 0 ||
	          json_object_set(o, "id", id ? id : json_null()) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *sdf_rpc_result_line(size_t *len, json_t *id, json_t *result)
{
	json_t *o;

	if (!result)
		return NULL;
	if (!(o = envelope(id)) ||
	    json_object_set_new(o, "result", result) < 0) {
		if (!o)
			json_decref(result);
		json_decref(o);
		return NULL;
	}
	return dump_line(len, o);
}

char *sdf_rpc_notification_line(size_t *len, const char *method, json_t *params)
{
	json_t *o = json_object();

	if (!params || !o ||
	    json_object_set_new(o, "jsonrpc", json_string("2.0")) < 0 ||
	    json_object_set_new(o, "method", json_string(method)) < 0) {
		json_decref(params);
		json_decref(o);
		return NULL;
	}
	if (json_object_set_new(o, "params", params) < 0) {
		json_decref(o);
		return NULL;
	}
	return dump_line(len, o);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 1;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 2;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 3;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0; /* overlong */
	else if (s[0] == 0xed)
		hi = 0x9f; /* surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90; /* overlong */
	else if (s[0] == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	if (n < need + 1 || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need + 1;
}

/*
 * A JSON string of message, each byte that is not part of valid UTF-8 made
 * a '?' (a message may quote a path or a request cut in mid-character).
 */
static json_t *message_string(const char *message)
{
	size_t n = strlen(message), i = 0, k;
	json_t *j;
	char *copy;

	while (i < n &&
	       (k = utf8_len((const unsigned char *)message + i, n - i)) > 0)
		i += k;
	if (i == n)
		return json_stringn(message, n);
	if (!(copy = sdf_malloc(n + 1)))
		return NULL;
	memcpy(copy, message, n + 1);
	for (; i < n; i += k)
		if (!(k = utf8_len((unsigned char *)copy + i, n - i))) {
			copy[i] = '?';
			k = 1;
		}
	j = json_stringn(copy, n);
	sdf_free(copy);
	return j;
}

char *sdf_rpc_error_line(size_t *len, json_t *id, int code, const char *message,
                         json_t *data)
{
	json_t *o, *e = json_object();

	if (!e || json_object_set_new(e, "code", json_integer(code)) < 0 ||
	    json_object_set_new(e, "message", message_string(message)) < 0 ||
	    (data && json_object_set(e, "data", data) < 0)) {
		json_decref(e);
		json_decref(data);
		return NULL;
	}
	json_decref(data);
	if (!(o = envelope(id))) {
		json_decref(e);
		return NULL;
	}
	if (json_object_set_new(o, "error", e) < 0) {
		json_decref(o);
		return NULL;
	}
	return dump_line(len, o);
}

char *sdf_rpc_error_line_sdf(size_t *len, json_t *id, int sdf_code,
                             const char *message)
{
	char text[SDF_ERROR_MSG_MAX + 256];
	json_t *data;

	snprintf(text, sizeof(text), "%s. %s", message, sdf_rpc_hint(sdf_code));
	data = json_pack("{s:s, s:b}", "error", sdf_error_name(sdf_code),
	                 "retry", sdf_rpc_retryable(sdf_code));
	if (!data)
		return NULL;
	return sdf_rpc_error_line(len, id, sdf_rpc_code(sdf_code), text, data);
}

/* Appends s as a JSON string body (no quotes) to buf[*at..cap); 0 or -1. */
static int put_escaped(char *buf, size_t cap, size_t *at, const char *s,
                       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		size_t el;

		if (c == '"' || c == '\\')
			el = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			/* bytes, not code points: good enough for a message */
			el = (size_t)snprintf(esc, sizeof(esc), "\\u%04x",
			                      c < 0x7f ? c : '?');
		else
			esc[0] = (char)c, el = 1;
		if (*at + el >= cap)
			return -1;
		memcpy(buf + *at, esc, el);
		*at += el;
	}
	return 0;
}

size_t sdf_rpc_error_line_static(char *buf, size_t cap, json_t *id, int code,
                                 const char *message)
{
	char idtext[96];
	size_t at, idlen = 0, msglen;
	const size_t tail = 8; /* "\"}}\n" and the NUL */

	if (cap < 128)
		return 0;
	if (json_is_integer(id)) {
		snprintf(idtext, sizeof(idtext), "%" JSON_INTEGER_FORMAT,
		         json_integer_value(id));
	} else if (json_is_string(id) && json_string_length(id) < 40) {
		idtext[0] = '"';
		idlen = 1;
		if (put_escaped(idtext, sizeof(idtext) - 1, &idlen,
		                json_string_value(id),
		                json_string_length(id)) < 0)
			strcpy(idtext, "null");
		else
			strcpy(idtext + idlen, "\"");
	} else {
		strcpy(idtext, "null");
	}
	at = (size_t)snprintf(buf, cap,
	                      "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{"
	                      "\"code\":%d,\"message\":\"",
	                      idtext, code);
	if (at >= cap - tail)
		return 0;
	msglen = strlen(message);
	while (msglen &&
	       put_escaped(buf, cap - tail, &at, message, msglen) < 0) {
		/* cut the message until it fits */
		at = (size_t)snprintf(
		    buf, cap,
		    "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{"
		    "\"code\":%d,\"message\":\"",
		    idtext, code);
		msglen /= 2;
	}
	memcpy(buf + at, "\"}}\n", 5);
	return at + 4;
}
