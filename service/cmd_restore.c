/* snapdiff restore / revert: being built (issue 2). */
#include "cli_int.h"
#include "sdf_error.h"

int cmd_restore(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	sdf_error_set(SDF_EINVAL, "restore is not available in this build yet");
	return cli_fail();
}

int cmd_revert(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	sdf_error_set(SDF_EINVAL, "revert is not available in this build yet");
	return cli_fail();
}
