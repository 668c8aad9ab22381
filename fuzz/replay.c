/*
 * Replays a corpus through a fuzz target without libFuzzer: every regular
 * file under the directories (or the files) given is passed once to
 * LLVMFuzzerTestOneInput. Built with the ordinary compiler in the normal
 * build, so the corpus is a regression test in every run (plain and ASan).
 * A failed check aborts; a run that found no input fails too, so a
 * misplaced corpus cannot pass silently.
 */
#include "fuzz_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (len == cap) {
			uint8_t *b;
			cap = cap ? cap * 2 : 4096;
			if (!(b = realloc(buf, cap))) {
				fclose(f);
				free(buf);
				return -1;
			}
			buf = b;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	/* an exact-size copy, so ASan sees reads past the end */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	if (len)
		memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;
			cap = cap ? cap * 2 : 64;
			if (!(nn = realloc(names, cap * sizeof(*names)))) {
				err = -1;
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name))) {
			err = -1;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!err && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			if (replay_file(path) < 0)
				err = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return err;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	struct stat sb;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			        strerror(errno));
			return 1;
		}
		if (S_ISDIR(sb.st_mode) ? replay_dir(argv[i], &count) < 0
		                        : replay_file(argv[i]) < 0)
			return 1;
		if (!S_ISDIR(sb.st_mode))
			count++;
	}
	if (!count) {
		fprintf(stderr, "replay: no input found\n");
		return 1;
	}
	printf("replay: %zu inputs, all checks passed\n", count);
	return 0;
}
