/*
 * Shared by the fuzz targets: a check that stops the run (libFuzzer then
 * saves the input; the replay driver exits non-zero) and small helpers to
 * cut an input into parts.
 */
#ifndef SDF_FUZZ_UTIL_H
#define SDF_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Every target defines it (once-per-process set-up). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FZ_CHECK(cond, ...)                                                    \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
			        __LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* A cursor over the input: bytes are taken from the front. */
typedef struct {
	const uint8_t *p;
	size_t len;
} fz_in;

/* The next byte, 0 once the input is used up. */
static inline uint8_t fz_byte(fz_in *in)
{
	uint8_t b;

	if (!in->len)
		return 0;
	b = *in->p++;
	in->len--;
	return b;
}

/* A small deterministic generator (xorshift64), seeded from the input. */
static inline uint64_t fz_rng(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

#endif
