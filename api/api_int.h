/* Private to api/: helpers shared by its encoders. */
#ifndef SDF_API_INT_H
#define SDF_API_INT_H

#include "sdf_api.h"

#include <stdio.h>

/* Writes path to out quoted as sdf_api_quote_path does, without allocating. */
void sdf_api_fput_path(FILE *out, const char *path);

/* 0 when files[0..n) may be printed in a --no-renames text format, else
 * SDF_EINVAL with the reason in sdf_error_last(). */
int sdf_api_check_text_files(const sdf_file_summary *files, size_t n);

/* Set while jansson parses a request: see json_alloc.c. */
extern _Thread_local int sdf_api_json_grace;

#endif
