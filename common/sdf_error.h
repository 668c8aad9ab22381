/*
 * Error codes and the thread-local error message. Fallible functions return
 * 0 or a negative SDF_E... code; the detail is a fixed-size, thread-local
 * message that never allocates (see sdf_error_last()).
 */
#ifndef SDF_ERROR_H
#define SDF_ERROR_H

enum sdf_error_code {
	SDF_OK = 0,
	SDF_ERROR = -1,     /* anything not listed below */
	SDF_EBUDGET = -2,   /* the memory budget would be exceeded */
	SDF_ENOTFOUND = -3, /* no such object, snapshot, path or store */
	SDF_EINVAL = -4,    /* malformed argument or request */
	SDF_EIO = -5,       /* the operating system refused a read/write */
	SDF_ECHANGED = -6,  /* a file changed while it was being read */
	SDF_ELOCKED = -7,   /* another process holds the store */
	SDF_ECORRUPT = -8,  /* a stored object or file is damaged */
	SDF_ENOSPC = -9,    /* no space left on the device */
	SDF_EBUSY = -10,    /* try again later */
	SDF_EUNSAFE = -11,  /* a path that would escape the worktree */
	SDF_ETOOBIG = -12,  /* over a configured size cap */
	SDF_ECANCELED = -13 /* the caller gave up */
};

#define SDF_ERROR_MSG_MAX 512

/* Records code and message for this thread; returns code. */
int sdf_error_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Like sdf_error_set, appending ": strerror(errnum)". ENOSPC and EDQUOT
 * become SDF_ENOSPC whatever code says.
 */
int sdf_error_set_errno(int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the current message with "context: ". Returns the current code. */
int sdf_error_prefix(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

const char *sdf_error_last(void);
int sdf_error_last_code(void);
void sdf_error_clear(void);
/* A stable, short name for a code ("budget", "not_found", ...). */
const char *sdf_error_name(int code);

#endif
