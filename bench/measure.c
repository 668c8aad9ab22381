/*
 * measure: runs a command and reports its wall time and peak RSS from the
 * kernel's accounting (wait4 of the child). The child's peak covers every
 * process of its tree that was waited for (the kernel folds children's
 * maxrss into their parent's), so `sh -c "git add -A && git write-tree"`
 * reports the larger of the two gits.
 *
 * usage: measure [-o FILE] [-l LABEL] [--] COMMAND [ARG...]
 * The command keeps stdin, stdout and stderr. One JSON line is appended to
 * FILE (default: stderr):
 *   {"label":"...","wall_s":1.234567,"user_s":..,"sys_s":..,
 *    "maxrss_kib":12345,"exit":0}
 * "exit" is the exit status, or 128+signal. measure exits with the same code.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double secs(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

int main(int argc, char **argv)
{
	const char *outpath = NULL, *label = "";
	struct timespec t0, t1;
	struct rusage ru;
	FILE *out = stderr;
	int i = 1, status, code;
	pid_t pid;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			outpath = argv[++i];
		else if (!strcmp(argv[i], "-l") && i + 1 < argc)
			label = argv[++i];
		else
			goto usage;
	}
	if (i >= argc)
		goto usage;
	if (outpath && !(out = fopen(outpath, "a"))) {
		fprintf(stderr, "measure: cannot open '%s': %s\n", outpath,
		        strerror(errno));
		return 125;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "measure: fork: %s\n", strerror(errno));
		return 125;
	}
	if (pid == 0) {
		execvp(argv[i], argv + i);
		fprintf(stderr, "measure: cannot run '%s': %s\n", argv[i],
		        strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "measure: wait4: %s\n",
			        strerror(errno));
			return 125;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	fputs("{\"label\":", out);
	json_str(out, label);
	fprintf(out,
	        ",\"wall_s\":%.6f,\"user_s\":%.6f,\"sys_s\":%.6f,"
	        "\"maxrss_kib\":%ld,\"exit\":%d}\n",
	        (double)(t1.tv_sec - t0.tv_sec) +
	            (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	        secs(ru.ru_utime), secs(ru.ru_stime), ru.ru_maxrss, code);
	if (outpath)
		fclose(out);
	return code;
usage:
	fputs("usage: measure [-o FILE] [-l LABEL] [--] COMMAND [ARG...]\n",
	      stderr);
	return 125;
}
