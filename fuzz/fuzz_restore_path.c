/*
 * fuzz_restore_path: sdf_restore_name_ok() (the names restore and revert
 * write) against the plain rule in restore_spec.h. The input is taken as
 * one name, then as '/'-separated parts, then with a few case and
 * trailing-character variations of each part, so the interesting names
 * (".git", "GIT~1", ".git. .", ".git:x") are reached from short seeds.
 */
#include "fuzz_util.h"
#include "restore_spec.h"
#include "sdf_snapshot.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void check(const char *name, size_t len)
{
	int got = sdf_restore_name_ok(name, len);
	int want = spec_name_ok(name, len);

	FZ_CHECK(got == want, "'%.*s' (%zu bytes): restore says %d, spec %d",
	         (int)len, name, len, got, want);
}

static void variations(const char *name, size_t len)
{
	char buf[300];

	check(name, len);
	if (len + 3 > sizeof(buf))
		return;
	memcpy(buf, name, len);
	/* upper case, then trailing dots, spaces and a stream */
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32
		                                               : buf[i]);
	check(buf, len);
	memcpy(buf + len, ". ", 2);
	check(buf, len + 1);
	check(buf, len + 2);
	memcpy(buf + len, ":x", 2);
	check(buf, len + 1);
	check(buf, len + 2);
	buf[len] = '\0';
	check(buf, len + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *p = s, *end = s + size;

	check(s, size);
	while (p <= end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);

		variations(p, n);
		if (!slash)
			break;
		p = slash + 1;
	}
	return 0;
}
