#include "api_int.h"
#include "sdf_alloc.h"
#include "sdf_api.h"

#include <jansson.h>

_Thread_local int sdf_api_json_grace;

/*
 * jansson's allocations. While sdf_rpc_request_parse() has jansson parse,
 * a refusal is not returned to jansson: its lexer ignores a failed growth
 * of its token buffer and then fails an assert(), which would abort the
 * daemon. The block is made past the limit instead (the refusal is still
 * recorded, sdf_alloc_failed()), and the parser's input ends at its next
 * read, so the parse stops within a few hundred bytes and is answered as
 * over budget.
 */
static void *json_alloc(size_t n)
{
	void *p = sdf_malloc(n);

	if (!p && sdf_api_json_grace)
		p = sdf_malloc_over(n);
	return p;
}

void sdf_api_global_init(void)
{
	json_set_alloc_funcs(json_alloc, sdf_free);
}
