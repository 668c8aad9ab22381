/*
 * Logging for the service layer only: library modules (api, snapshot, diff)
 * never log. Level-checked, to stderr.
 */
#ifndef SDF_LOG_H
#define SDF_LOG_H

enum sdf_log_level {
	SDF_LOG_ERROR = 0,
	SDF_LOG_WARN,
	SDF_LOG_INFO,
	SDF_LOG_DEBUG
};

void sdf_log_set_level(int level);
int sdf_log_level(void);
void sdf_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) sdf_log_write(SDF_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) sdf_log_write(SDF_LOG_WARN, __VA_ARGS__)
#define log_info(...) sdf_log_write(SDF_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (sdf_log_level() >= SDF_LOG_DEBUG)                          \
			sdf_log_write(SDF_LOG_DEBUG, __VA_ARGS__);             \
	} while (0)

#endif
