/*
 * Sanitizer builds: the test runners themselves are not checked for leaks
 * (Criterion keeps a few blocks, and an assertion that fails abandons its
 * test's memory). The programs they run (snapdiff, snapdiffd) still are,
 * and the library tests check the counting allocator's live bytes.
 */
const char *__asan_default_options(void);

const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
