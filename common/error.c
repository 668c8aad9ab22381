#include "sdf_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char message[SDF_ERROR_MSG_MAX];
static _Thread_local int last_code;

static int vset(int code, const char *fmt, va_list ap)
{
	vsnprintf(message, sizeof(message), fmt, ap);
	last_code = code;
	return code;
}

int sdf_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(code, fmt, ap);
	va_end(ap);
	return code;
}

int sdf_error_set_errno(int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t len;
	char buf[128];

	if (errnum == ENOSPC || errnum == EDQUOT)
		code = SDF_ENOSPC;
	va_start(ap, fmt);
	vset(code, fmt, ap);
	va_end(ap);
	len = strlen(message);
	/* strerror_r (XSI) never allocates */
	if (strerror_r(errnum, buf, sizeof(buf)) != 0)
		snprintf(buf, sizeof(buf), "error %d", errnum);
	snprintf(message + len, sizeof(message) - len, ": %s", buf);
	return code;
}

int sdf_error_prefix(const char *fmt, ...)
{
	char old[SDF_ERROR_MSG_MAX];
	size_t len;
	va_list ap;

	memcpy(old, message, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	len = strlen(message);
	snprintf(message + len, sizeof(message) - len, ": %s", old);
	return last_code;
}

const char *sdf_error_last(void)
{
	return message[0] ? message : "no error";
}

int sdf_error_last_code(void)
{
	return last_code;
}

void sdf_error_clear(void)
{
	message[0] = '\0';
	last_code = SDF_OK;
}

const char *sdf_error_name(int code)
{
	switch (code) {
	case SDF_OK:
		return "ok";
	case SDF_EBUDGET:
		return "over_budget";
	case SDF_ENOTFOUND:
		return "not_found";
	case SDF_EINVAL:
		return "invalid";
	case SDF_EIO:
		return "io";
	case SDF_ECHANGED:
		return "changed_while_read";
	case SDF_ELOCKED:
		return "locked";
	case SDF_ECORRUPT:
		return "corrupt";
	case SDF_ENOSPC:
		return "no_space";
	case SDF_EBUSY:
		return "busy";
	case SDF_EUNSAFE:
		return "unsafe_path";
	case SDF_ETOOBIG:
		return "too_big";
	case SDF_ECANCELED:
		return "canceled";
	default:
		return "error";
	}
}
