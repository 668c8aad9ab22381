/*
 * A request between its line and its reply, without the server: decoding
 * the line and finding its method, running the method and encoding its
 * result (out-of-budget failures reported as such), and encoding an error
 * reply even when the budget is gone. The server (daemon_server.c) does the
 * rest: reading, admission, queueing, counting, sending; tests call these
 * in-process.
 */
#include "daemon_int.h"
#include "sdf_alloc.h"
#include "sdf_error.h"

#include <stdio.h>
#include <string.h>

void daemon_request_parse(const daemon_method **m, sdf_rpc_request *req,
                          sdf_rpc_failure *fail, const char *line, size_t len,
                          size_t max_depth)
{
	json_t *id;

	*m = NULL;
	memset(req, 0, sizeof(*req));
	memset(fail, 0, sizeof(*fail));
	if (sdf_rpc_request_parse(req, fail, line, len, max_depth) < 0)
		return; /* *m == NULL: answer fail (unless a notification) */
	if ((*m = daemon_method_find(req->method)))
		return;
	fail->code = SDF_RPC_METHOD_NOT_FOUND;
	snprintf(fail->message, sizeof(fail->message),
	         "method not found: '%.100s' (see docs/protocol.md for the "
	         "methods)",
	         req->method);
	id = req->id;
	fail->notification = id == NULL;
	fail->id = id ? json_incref(id) : json_null();
	sdf_rpc_request_dispose(req);
}

int daemon_request_run(char **line, size_t *len, const daemon_method *m,
                       daemon_call *call)
{
	json_t *result = NULL;
	int rc;

	*line = NULL;
	*len = 0;
	sdf_alloc_clear_failed();
	rc = m->run(&result, call);
	if (rc < 0 && rc != DAEMON_EPARAMS && rc != SDF_EBUDGET &&
	    sdf_alloc_failed())
		rc = sdf_error_prefix("over the memory budget");
	if (rc < 0 && sdf_alloc_failed() && rc != DAEMON_EPARAMS)
		rc = SDF_EBUDGET;
	if (rc < 0)
		return rc;
	if (!call->id) {
		json_decref(result); /* a notification: nothing to send */
		return 0;
	}
	if (!(*line = sdf_rpc_result_line(len, call->id, result)))
		return sdf_error_set(SDF_EBUDGET,
		                     "over the memory budget while "
		                     "encoding the result");
	return 0;
}

char *daemon_error_reply(size_t *len, int *owned, char *buf, size_t cap,
                         json_t *id, int rpc_code, const char *message,
                         int sdf_code)
{
	char copy[SDF_ERROR_MSG_MAX];
	char *line;

	/* a failed allocation sets the last error, which message may be */
	snprintf(copy, sizeof(copy), "%s", message);
	message = copy;
	*len = 0;
	if (rpc_code)
		line = sdf_rpc_error_line(
		    len, id, rpc_code, message,
		    sdf_code ? json_pack("{s:s, s:b}", "error",
		                         sdf_error_name(sdf_code), "retry",
		                         sdf_rpc_retryable(sdf_code))
		             : NULL);
	else
		line = sdf_rpc_error_line_sdf(len, id, sdf_code, message);
	if (line) {
		*owned = 1;
		return line;
	}
	/* out of budget: say so without allocating */
	*owned = 0;
	*len = sdf_rpc_error_line_static(
	    buf, cap, id, rpc_code ? rpc_code : sdf_rpc_code(sdf_code),
	    message);
	return *len ? buf : NULL;
}

char *daemon_failure_reply(size_t *len, int *owned, char *buf, size_t cap,
                           json_t *id, int rc)
{
	if (rc == DAEMON_EPARAMS)
		return daemon_error_reply(len, owned, buf, cap, id,
		                          SDF_RPC_INVALID_PARAMS,
		                          sdf_error_last(), 0);
	return daemon_error_reply(len, owned, buf, cap, id, 0, sdf_error_last(),
	                          rc);
}
