#include "sdf_api.h"
#include "sdf_alloc.h"

#include <jansson.h>

void sdf_api_global_init(void)
{
	json_set_alloc_funcs(sdf_malloc, sdf_free);
}
