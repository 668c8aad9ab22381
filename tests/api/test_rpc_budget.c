/*
 * Request parsing when the allocator refuses (found by fuzz_rpc): jansson's
 * lexer ignores a failed growth of its token buffer and then fails an
 * assert(), so a refusal while it scanned a token past 15 bytes that then
 * turned out invalid (a string meeting a control character) aborted the
 * daemon.
 */
#include "sdf_alloc.h"
#include "sdf_api.h"
#include "sdf_error.h"
#include "sdf_rpc.h"

#include <criterion/criterion.h>
#include <string.h>

static void setup(void)
{
	sdf_api_global_init();
}

TestSuite(rpc_budget, .init = setup);

static void parse_failing_each_n(const char *line, size_t len)
{
	size_t live = sdf_alloc_live();
	int reached = 1;

	for (uint64_t n = 1; reached; n++) {
		sdf_rpc_request req;
		sdf_rpc_failure fail;
		int rc;

		sdf_alloc_fail_at(n);
		rc = sdf_rpc_request_parse(&req, &fail, line, len, 0);
		reached = sdf_alloc_count_since_arm() >= n;
		sdf_alloc_fail_at(0);
		if (rc == 0) {
			cr_assert(!reached, "allocation %llu failed unseen",
			          (unsigned long long)n);
			sdf_rpc_request_dispose(&req);
		} else {
			cr_assert(rc == SDF_EBUDGET || rc == SDF_EINVAL);
			cr_assert(rc != SDF_EBUDGET ||
			          fail.code == SDF_RPC_EBUDGET);
			sdf_rpc_failure_dispose(&fail);
		}
		cr_assert_eq(sdf_alloc_live(), live, "leak at %llu: %s",
		             (unsigned long long)n, line);
		cr_assert_lt(n, 10000);
	}
}

static void parse_failing_each(const char *line)
{
	parse_failing_each_n(line, strlen(line));
}

Test(rpc_budget, refusals_inside_long_tokens_are_errors)
{
	/* the crasher: a string that meets a NUL */
	parse_failing_each_n("{\"\"\"snapshot.nulll", 19);
	parse_failing_each_n("[\"abcdefghijklmnopqrstuvwxyz\x01\"]", 31);
	parse_failing_each("{\"jsonrpc\":\"2.0\",\"id\":"
	                   "12345678901234567890123456789012345,"
	                   "\"method\":\"a\"}");
	parse_failing_each("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\","
	                   "\"params\":{\"x\":[1.2345678901234567e+300,"
	                   "truefalsenulltruefalsenull]}}");
	parse_failing_each("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\","
	                   "\"params\":{\"paths\":[\"a\",\"b\"]}}");
}
