/* snapdiff diff: being built (issue 3). */
#include "cli_int.h"
#include "sdf_error.h"

int cmd_diff(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	sdf_error_set(SDF_EINVAL, "diff is not available in this build yet");
	return cli_fail();
}
