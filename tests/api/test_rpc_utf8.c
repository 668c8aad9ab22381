/*
 * Error replies whose message is not valid UTF-8 (found by fuzz_rpc: a
 * message that quotes a request member cut in mid-character could not be
 * encoded, and the daemon fell back to its bare static line).
 */
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "sdf_rpc.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void setup(void)
{
	sdf_api_global_init();
}

TestSuite(rpc_utf8, .init = setup);

static void expect_message(const char *message, const char *want)
{
	size_t len = 0, live = sdf_alloc_live();
	json_error_t jerr;
	json_t *o, *id = json_integer(7);
	char *line;

	line = sdf_rpc_error_line_sdf(&len, id, SDF_EINVAL, message);
	cr_assert_not_null(line, "no error line for '%s'", want);
	o = json_loadb(line, len, 0, &jerr);
	cr_assert_not_null(o, "%s: %s", jerr.text, line);
	cr_assert_eq(json_integer_value(json_object_get(o, "id")), 7);
	cr_assert_str_eq(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(o, "error"), "data"), "error")),
	    "invalid");
	cr_assert(!strncmp(json_string_value(json_object_get(
	                       json_object_get(o, "error"), "message")),
	                   want, strlen(want)),
	          "%s", line);
	json_decref(o);
	json_decref(id);
	sdf_free(line);
	cr_assert_eq(sdf_alloc_live(), live);
}

Test(rpc_utf8, invalid_bytes_become_question_marks)
{
	/* an e-acute cut after its first byte, as "%.64s" can cut it */
	expect_message("unknown member \"x\xc3\xa9\xc3",
	               "unknown member \"x\xc3\xa9?");
	expect_message("latin-1 \xe9t\xe9", "latin-1 ?t?");
	expect_message("surrogate \xed\xa0\x80 end", "surrogate ??? end");
	expect_message("overlong \xc0\xaf", "overlong ??");
	expect_message("fine \xf0\x9f\x98\x80", "fine \xf0\x9f\x98\x80");
}

Test(rpc_utf8, a_cut_member_name_still_gets_its_error)
{
	char line[160];
	sdf_rpc_request req;
	sdf_rpc_failure fail;
	size_t n, len = 0;
	char *out;

	n = (size_t)snprintf(line, sizeof(line),
	                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\","
	                     "\"x%s\":1}",
	                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	                     "\xc3\xa9\xc3\xa9\xc3\xa9");
	cr_assert_lt(sdf_rpc_request_parse(&req, &fail, line, n, 0), 0);
	cr_assert_eq(fail.code, SDF_RPC_INVALID_REQUEST);
	out = sdf_rpc_error_line(&len, fail.id, fail.code, fail.message, NULL);
	cr_assert_not_null(out, "the error line of '%s'", fail.message);
	cr_assert(strstr(out, "unknown member"), "%s", out);
	sdf_free(out);
	sdf_rpc_failure_dispose(&fail);
}
