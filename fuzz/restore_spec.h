/*
 * The rule for names restore may write, written plainly as the reference
 * for fuzz_restore_path and fuzz_restore_tree (snapshot/restore.c holds the
 * implementation, sdf_restore_name_ok). A name is refused when it is:
 *   - empty, "." or "..";
 *   - holding '/', '\\' or a NUL byte;
 *   - ".git" or "git~1" (its NTFS/vfat 8.3 short name) in any case, as is
 *     or followed by any mix of dots and spaces (dropped by NTFS and
 *     vfat), or followed by ':' and anything (an NTFS stream of it).
 * Not refused: names only other systems would mangle (HFS+ ignorable code
 * points in ".git", reserved DOS device names): snapdiff writes to Linux
 * file systems, where they are ordinary names.
 */
#ifndef SDF_FUZZ_RESTORE_SPEC_H
#define SDF_FUZZ_RESTORE_SPEC_H

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* name[0..len) is word (lower case) in any case, then dots and spaces only,
 * or then a ':' and anything. */
static inline int spec_is_repo_dir(const char *name, size_t len,
                                   const char *word)
{
	size_t wl = strlen(word);

	if (len < wl)
		return 0;
	for (size_t i = 0; i < wl; i++)
		if (tolower((unsigned char)name[i]) != word[i])
			return 0;
	if (len > wl && name[wl] == ':')
		return 1;
	for (size_t i = wl; i < len; i++)
		if (name[i] != '.' && name[i] != ' ')
			return 0;
	return 1;
}

static inline int spec_name_ok(const char *name, size_t len)
{
	if (len == 0)
		return 0;
	if ((len == 1 && !memcmp(name, ".", 1)) ||
	    (len == 2 && !memcmp(name, "..", 2)))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == '\\' || name[i] == '\0')
			return 0;
	return !spec_is_repo_dir(name, len, ".git") &&
	       !spec_is_repo_dir(name, len, "git~1");
}

#endif
