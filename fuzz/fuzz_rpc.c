/*
 * fuzz_rpc: the NDJSON framer and the JSON-RPC codec, driven as snapdiffd
 * drives them (service/daemon_server.c serve_input and handle_line).
 *
 * Input: byte 0 picks the chunking, fault injection (4), a depth cap (8)
 * and giving a long line's buffer back as the daemon does (16); byte 1 seeds
 * the chunk sizes and the depth cap, the rest is what a client sends. The
 * stream is fed through sdf_rpc_framer_space/_commit in chunks as recv()
 * would give them; each line goes through sdf_rpc_request_parse and its
 * reply or error is encoded. Checked on every input:
 *  - the framer never holds more than max_line + 1 bytes, and
 *    sdf_rpc_framer_want() foretells what sdf_rpc_framer_space() holds;
 *  - the lines it gives are exactly the stream's lines (a "\r" before the
 *    "\n" dropped), and a line over max_line is SDF_ETOOBIG, never a line;
 *  - a parse gives a request (method, params an object, a valid id) or a
 *    failure with one of the codes sdf_rpc.h names and a valid id;
 *  - every encoded reply is one line of valid JSON, a JSON-RPC response;
 *  - the counting allocator's live bytes are back where they started.
 */
#include "fuzz_util.h"
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "sdf_rpc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096

static const char *const methods[] = {
    "service.ping",     "service.stats",   "snapshot.track",
    "snapshot.log",     "snapshot.diff",   "snapshot.patch",
    "snapshot.restore", "snapshot.revert", "snapshot.file",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sdf_api_global_init();
	return 0;
}

static int valid_id(const json_t *id)
{
	return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

/*
 * s[0..len) is one reply line: a JSON-RPC response (or notification) and a
 * newline. Parsed with plain malloc so that the check neither counts
 * against the budget nor meets the injected failure.
 */
static void check_line(const char *s, size_t len, int want_code)
{
	json_error_t jerr;
	json_t *o, *e;

	FZ_CHECK(s && len >= 2, "empty reply");
	FZ_CHECK(s[len - 1] == '\n', "reply without its newline");
	FZ_CHECK(memchr(s, '\n', len - 1) == NULL, "reply of several lines");
	FZ_CHECK(memchr(s, '\r', len) == NULL, "a CR in a reply");
	FZ_CHECK(memchr(s, '\0', len) == NULL, "a NUL in a reply");
	json_malloc_t saved_malloc;
	json_free_t saved_free;

	json_get_alloc_funcs(&saved_malloc, &saved_free);
	json_set_alloc_funcs(malloc, free);
	o = json_loadb(s, len - 1, JSON_REJECT_DUPLICATES, &jerr);
	FZ_CHECK(o != NULL, "reply is not JSON: %s: %.*s", jerr.text, (int)len,
	         s);
	FZ_CHECK(json_is_object(o), "reply is not an object");
	FZ_CHECK(json_is_string(json_object_get(o, "jsonrpc")) &&
	             !strcmp(json_string_value(json_object_get(o, "jsonrpc")),
	                     "2.0"),
	         "reply without jsonrpc 2.0");
	if (json_object_get(o, "method")) {
		FZ_CHECK(json_is_object(json_object_get(o, "params")),
		         "notification without params");
	} else {
		FZ_CHECK(valid_id(json_object_get(o, "id")), "bad reply id");
		e = json_object_get(o, "error");
		FZ_CHECK(!e != !json_object_get(o, "result"),
		         "reply needs exactly one of result and error");
		if (e) {
			FZ_CHECK(json_is_integer(json_object_get(e, "code")),
			         "error without a code");
			FZ_CHECK(json_is_string(json_object_get(e, "message")),
			         "error without a message");
			if (want_code)
				FZ_CHECK(json_integer_value(json_object_get(
				             e, "code")) == want_code,
				         "error code %d expected", want_code);
		}
	}
	json_decref(o);
	json_set_alloc_funcs(saved_malloc, saved_free);
}

/* Sends an error as the daemon's send_error does, fallback included. */
static int injecting;

static void encode_error(json_t *id, int rpc_code, const char *message,
                         int sdf_code)
{
	char fallback[1024];
	size_t len = 0;
	char *line;

	if (rpc_code)
		line = sdf_rpc_error_line(&len, id, rpc_code, message, NULL);
	else
		line = sdf_rpc_error_line_sdf(&len, id, sdf_code, message);
	if (line) {
		FZ_CHECK(strlen(line) == len, "length of the error line");
		check_line(line, len,
		           rpc_code ? rpc_code : sdf_rpc_code(sdf_code));
		sdf_free(line);
	} else {
		FZ_CHECK(injecting, "error line failed: %s", message);
	}
	len = sdf_rpc_error_line_static(
	    fallback, sizeof(fallback), id,
	    rpc_code ? rpc_code : sdf_rpc_code(sdf_code), message);
	FZ_CHECK(len > 0 && len < sizeof(fallback), "static error line");
	FZ_CHECK(strlen(fallback) == len, "length of the static line");
	check_line(fallback, len, rpc_code ? rpc_code : sdf_rpc_code(sdf_code));
}

static int known_method(const char *m)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(m, methods[i]))
			return 1;
	return 0;
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

static void handle_line(const char *line, size_t len, size_t depth)
{
	sdf_rpc_request req;
	sdf_rpc_failure fail;
	char msg[256];
	size_t n;
	char *out;
	int r;

	r = sdf_rpc_request_parse(&req, &fail, line, len, depth);
	if (r < 0) {
		FZ_CHECK(r == SDF_EINVAL || r == SDF_EBUDGET, "parse gave %d",
		         r);
		FZ_CHECK(!injecting ? r == SDF_EINVAL : 1,
		         "over budget without a limit");
		FZ_CHECK(fail.code == SDF_RPC_PARSE_ERROR ||
		             fail.code == SDF_RPC_INVALID_REQUEST ||
		             fail.code == SDF_RPC_INVALID_PARAMS ||
		             fail.code == SDF_RPC_EBUDGET,
		         "failure code %d", fail.code);
		FZ_CHECK((r == SDF_EBUDGET) == (fail.code == SDF_RPC_EBUDGET),
		         "code %d for %d", fail.code, r);
		FZ_CHECK(fail.id && valid_id(fail.id), "failure id");
		FZ_CHECK(memchr(fail.message, '\0', sizeof(fail.message)),
		         "message not terminated");
		FZ_CHECK(req.root == NULL, "a request and a failure");
		encode_error(fail.id, fail.code, fail.message, 0);
		sdf_rpc_failure_dispose(&fail);
		return;
	}
	FZ_CHECK(r == 0, "parse gave %d", r);
	FZ_CHECK(req.root && json_is_object(req.root), "request root");
	FZ_CHECK(req.method && req.method == json_string_value(json_object_get(
	                                         req.root, "method")),
	         "method");
	FZ_CHECK(json_is_object(req.params), "params");
	FZ_CHECK(!req.id || valid_id(req.id), "id");
	if (known_method(req.method)) {
		/* the daemon answers with a result; echo the params */
		out = sdf_rpc_result_line(&n, req.id, json_incref(req.params));
		if (out) {
			check_line(out, n, 0);
			sdf_free(out);
		} else {
			FZ_CHECK(injecting, "result line failed");
			encode_error(req.id, 0, "over the memory budget",
			             SDF_EBUDGET);
		}
		out = sdf_rpc_notification_line(&n, req.method,
		                                json_incref(req.params));
		if (out) {
			check_line(out, n, 0);
			sdf_free(out);
		} else {
			FZ_CHECK(injecting, "notification line failed");
		}
	} else {
		snprintf(msg, sizeof(msg),
		         "method not found: '%.100s' (see docs/protocol.md "
		         "for the methods)",
		         req.method);
		encode_error(req.id, SDF_RPC_METHOD_NOT_FOUND, msg, 0);
	}
	/* and an error of every kind for this id */
	encode_error(req.id, 0, "failed", SDF_ERROR + (int)(len % 14) * -1);
	sdf_rpc_request_dispose(&req);
}

/* Length of the line at s[0..n) without its '\n' (all of it: no '\n'). */
static size_t line_len(const uint8_t *s, size_t n)
{
	const uint8_t *nl = memchr(s, '\n', n);

	return nl ? (size_t)(nl - s) : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunk_max[4] = {8, 64, 700, 9000};
	fz_in in = {data, size};
	uint8_t mode = fz_byte(&in), seed = fz_byte(&in);
	const uint8_t *stream = in.p;
	size_t slen = in.len, fed = 0, ref = 0, chunk_left = 0;
	size_t live0 = sdf_alloc_live();
	size_t depth = (mode & 8) ? 1 + seed % 40 : 0;
	int eof = 0, stopped = 0;
	uint64_t rng = ((uint64_t)mode << 8 | seed) + 1;
	sdf_rpc_framer f;

	injecting = (mode & 4) != 0;
	sdf_rpc_framer_init(&f, MAX_LINE);
	if (injecting)
		sdf_alloc_fail_at(1 + (uint64_t)seed % 160);
	while (!stopped) {
		const char *line;
		size_t len, room, n;
		char *dst;
		int r = sdf_rpc_framer_next(&f, &line, &len);

		FZ_CHECK(f.cap <= MAX_LINE + 1 && f.len <= f.cap,
		         "framer holds %zu of %zu bytes", f.len, f.cap);
		if (r == 1) {
			size_t want = line_len(stream + ref, slen - ref);
			size_t cut = want;

			FZ_CHECK(want <= MAX_LINE, "a line of %zu bytes given",
			         want);
			if (cut && stream[ref + cut - 1] == '\r')
				cut--;
			FZ_CHECK(len == cut && !memcmp(line, stream + ref, cut),
			         "line at %zu differs", ref);
			ref += want + 1;
			if (!blank(line, len))
				handle_line(line, len, depth);
			continue;
		}
		if (r == 0 && eof) {
			if (!sdf_rpc_framer_pending(&f))
				break;
			/* a last line without its newline */
			if ((r = sdf_rpc_framer_space(&f, &dst, &room)) == 0) {
				*dst = '\n';
				sdf_rpc_framer_commit(&f, 1);
				continue;
			}
		}
		if (r == 0 && !sdf_rpc_framer_pending(&f) && f.cap > 4096 &&
		    (mode & 16)) {
			/* the daemon gives a long line's buffer back */
			sdf_rpc_framer_dispose(&f);
			sdf_rpc_framer_init(&f, MAX_LINE);
		}
		if (r == 0) {
			size_t want = sdf_rpc_framer_want(&f);

			FZ_CHECK(want <= MAX_LINE + 1, "wants %zu bytes", want);
			if ((r = sdf_rpc_framer_space(&f, &dst, &room)) == 0) {
				FZ_CHECK(f.cap == want,
				         "framer_want said %zu, holds %zu",
				         want, f.cap);
				FZ_CHECK(room > 0, "no room");
				FZ_CHECK(f.cap <= MAX_LINE + 1,
				         "framer grew to %zu", f.cap);
				if (fed == slen) {
					eof = 1;
					continue;
				}
				if (!chunk_left)
					chunk_left =
					    1 +
					    fz_rng(&rng) % chunk_max[mode & 3];
				n = room < chunk_left ? room : chunk_left;
				if (n > slen - fed)
					n = slen - fed;
				memcpy(dst, stream + fed, n);
				sdf_rpc_framer_commit(&f, n);
				fed += n;
				chunk_left -= n;
				continue;
			}
		}
		/* over the cap or out of budget: answer, then close */
		if (r == SDF_ETOOBIG) {
			FZ_CHECK(line_len(stream + ref, slen - ref) > MAX_LINE,
			         "ETOOBIG for a line of %zu bytes",
			         line_len(stream + ref, slen - ref));
			encode_error(NULL, SDF_RPC_ETOOBIG,
			             "request line over 4096 bytes", 0);
		} else {
			FZ_CHECK(r == SDF_EBUDGET && injecting,
			         "framer failed with %d", r);
			encode_error(NULL, SDF_RPC_EBUDGET,
			             "over the memory budget while reading", 0);
		}
		stopped = 1;
	}
	if (!stopped)
		FZ_CHECK(ref >= slen, "stream not all delivered: %zu of %zu",
		         ref, slen);
	sdf_rpc_framer_dispose(&f);
	sdf_alloc_fail_at(0);
	FZ_CHECK(sdf_alloc_live() == live0, "leak: %zu live bytes, were %zu",
	         sdf_alloc_live(), live0);
	return 0;
}
