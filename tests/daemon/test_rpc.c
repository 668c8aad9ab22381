/* api/rpc: the NDJSON framer and the JSON-RPC codec, without sockets. */
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "sdf_rpc.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void init(void)
{
	sdf_api_global_init(); /* jansson through the counting allocator */
}

TestSuite(rpc, .init = init);

/* Feeds s in pieces of step bytes; collects the lines joined by '|'. */
static int frame(char *out, size_t cap, const char *s, size_t step,
                 size_t max_line)
{
	sdf_rpc_framer f;
	size_t len = strlen(s), at = 0, o = 0;
	int r = 0;

	sdf_rpc_framer_init(&f, max_line);
	out[0] = '\0';
	while (at < len && r >= 0) {
		char *dst;
		size_t room, n;
		const char *line;
		size_t ll;

		size_t want = sdf_rpc_framer_want(&f);

		if ((r = sdf_rpc_framer_space(&f, &dst, &room)) < 0)
			break;
		/* what it said the buffer would be */
		cr_assert_eq(f.cap, want);
		n = len - at < step ? len - at : step;
		if (n > room)
			n = room;
		memcpy(dst, s + at, n);
		sdf_rpc_framer_commit(&f, n);
		at += n;
		while ((r = sdf_rpc_framer_next(&f, &line, &ll)) == 1)
			o += (size_t)snprintf(out + o, cap - o, "%.*s|",
			                      (int)ll, line);
	}
	sdf_rpc_framer_dispose(&f);
	return r < 0 ? r : 0;
}

Test(rpc, framing)
{
	char out[256];

	for (size_t step = 1; step <= 7; step++) {
		cr_assert_eq(
		    frame(out, sizeof(out), "ab\ncd\r\n\nefg\n", step, 16), 0);
		cr_assert_str_eq(out, "ab|cd||efg|");
	}
	/* exactly the cap, then one over */
	cr_assert_eq(frame(out, sizeof(out), "12345678\n", 3, 8), 0);
	cr_assert_str_eq(out, "12345678|");
	cr_assert_eq(frame(out, sizeof(out), "123456789\n", 3, 8), SDF_ETOOBIG);
	cr_assert_eq(frame(out, sizeof(out), "123456789", 100, 8), SDF_ETOOBIG);
	cr_assert_eq(sdf_alloc_live(), 0);
}

static int parse_code(const char *line)
{
	sdf_rpc_request req;
	sdf_rpc_failure fail;
	int r = sdf_rpc_request_parse(&req, &fail, line, strlen(line), 8);

	if (r == 0) {
		sdf_rpc_request_dispose(&req);
		return 0;
	}
	cr_assert(fail.message[0]);
	sdf_rpc_failure_dispose(&fail);
	return fail.code;
}

Test(rpc, requests)
{
	sdf_rpc_request req;
	sdf_rpc_failure fail;
	const char *ok = "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"m\"}";

	cr_assert_eq(sdf_rpc_request_parse(&req, &fail, ok, strlen(ok), 0), 0);
	cr_assert_str_eq(req.method, "m");
	cr_assert_str_eq(json_string_value(req.id), "x");
	cr_assert(json_is_object(req.params));
	sdf_rpc_request_dispose(&req);

	cr_assert_eq(parse_code("{"), SDF_RPC_PARSE_ERROR);
	cr_assert_eq(parse_code("{} x"), SDF_RPC_PARSE_ERROR);
	cr_assert_eq(parse_code("[[[[[[[[[[1]]]]]]]]]]"), SDF_RPC_PARSE_ERROR);
	/* brackets inside strings do not count */
	cr_assert_eq(
	    parse_code("{\"jsonrpc\":\"2.0\",\"method\":\"[[[[[[[[[[\"}"), 0);
	cr_assert_eq(parse_code("{\"jsonrpc\":\"2.0\",\"method\":\"a\","
	                        "\"method\":\"b\"}"),
	             SDF_RPC_PARSE_ERROR);
	cr_assert_eq(parse_code("[]"), SDF_RPC_INVALID_REQUEST);
	cr_assert_eq(parse_code("3"), SDF_RPC_INVALID_REQUEST);
	cr_assert_eq(parse_code("{\"method\":\"m\"}"), SDF_RPC_INVALID_REQUEST);
	cr_assert_eq(parse_code("{\"jsonrpc\":\"2.0\",\"method\":\"m\","
	                        "\"extra\":1}"),
	             SDF_RPC_INVALID_REQUEST);
	/* jansson refuses NUL in strings unless asked */
	cr_assert_eq(
	    parse_code("{\"jsonrpc\":\"2.0\",\"method\":\"m\\u0000x\"}"),
	    SDF_RPC_PARSE_ERROR);
	cr_assert_eq(parse_code("{\"jsonrpc\":\"2.0\",\"method\":\"m\","
	                        "\"params\":[1]}"),
	             SDF_RPC_INVALID_PARAMS);
	/* a notification's refused params are not to be answered; a
	 * request's (even with a null id) are */
	for (int with_id = 0; with_id < 3; with_id++) {
		const char *line[] = {
		    "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":[1]}",
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\","
		    "\"params\":[1]}",
		    "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\","
		    "\"params\":[1]}"};
		cr_assert_lt(sdf_rpc_request_parse(&req, &fail, line[with_id],
		                                   strlen(line[with_id]), 0),
		             0);
		cr_assert_eq(fail.notification, with_id == 0);
		sdf_rpc_failure_dispose(&fail);
	}
	cr_assert_eq(sdf_alloc_live(), 0);
}

Test(rpc, replies)
{
	json_t *id = json_integer(7);
	size_t len;
	char *s, buf[160];

	s = sdf_rpc_result_line(&len, id, json_pack("{s:i}", "a", 1));
	cr_assert_str_eq(
	    s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":1}}\n");
	cr_assert_eq(len, strlen(s));
	sdf_free(s);
	s = sdf_rpc_error_line_sdf(&len, id, SDF_EBUSY, "busy");
	cr_assert(strstr(s, "\"code\":-32002"));
	cr_assert(strstr(s, "\"data\":{\"error\":\"busy\",\"retry\":true}"));
	sdf_free(s);
	s = sdf_rpc_notification_line(&len, "n",
	                              json_pack("{s:s}", "k", "\xc3\xa9"));
	cr_assert_str_eq(s, "{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":"
	                    "{\"k\":\"\\u00E9\"}}\n");
	sdf_free(s);
	/* without allocating: cut to fit, still one valid JSON line */
	len = sdf_rpc_error_line_static(buf, sizeof(buf), id, -32001,
	                                "a long message \"quoted\" that does "
	                                "not fit in the buffer at all, no, not "
	                                "at all, it is far too long for it");
	cr_assert(len > 0 && len < sizeof(buf));
	cr_assert_eq(buf[len - 1], '\n');
	{
		json_error_t e;
		json_t *v = json_loadb(buf, len, 0, &e);
		cr_assert_not_null(v, "%s: %s", buf, e.text);
		cr_assert_eq(json_integer_value(json_object_get(
		                 json_object_get(v, "error"), "code")),
		             -32001);
		json_decref(v);
	}
	json_decref(id);
	cr_assert_eq(sdf_alloc_live(), 0);
}

/* Allocation N fails, N = 1, 2, ...: a clean error, nothing kept. */
Test(rpc, allocation_failures)
{
	const char *line = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\","
	                   "\"params\":{\"a\":[1,2,{\"b\":\"c\"}]}}";
	int done = 0;

	for (uint64_t n = 1; n < 1000 && !done; n++) {
		sdf_rpc_request req;
		sdf_rpc_failure fail;
		size_t len;
		char *s = NULL;
		int r;

		sdf_alloc_fail_at(n);
		r = sdf_rpc_request_parse(&req, &fail, line, strlen(line), 0);
		if (r == 0) {
			s = sdf_rpc_result_line(&len, req.id,
			                        json_incref(req.params));
			sdf_rpc_request_dispose(&req);
			done = s != NULL && sdf_alloc_count_since_arm() < n;
		} else {
			cr_assert(r == SDF_EBUDGET || r == SDF_EINVAL);
			sdf_rpc_failure_dispose(&fail);
		}
		sdf_free(s);
		sdf_alloc_fail_at(0);
		cr_assert_eq(sdf_alloc_live(), 0, "leak at allocation %llu",
		             (unsigned long long)n);
	}
	cr_assert(done);
}
