/*
 * dfcompat.h - BSD conveniences missing from glibc.
 * No privilege, no state.
 */
#ifndef DFCOMPAT_H
#define DFCOMPAT_H

#include <stddef.h>

#ifndef __dead
#define __dead		__attribute__((__noreturn__))
#endif
#ifndef __printflike
#define __printflike(fmt, args) __attribute__((__format__(__printf__, fmt, args)))
#endif
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

size_t	 dfc_strlcpy(char *dst, const char *src, size_t size);
size_t	 dfc_strlcat(char *dst, const char *src, size_t size);
void	 dfc_closefrom(int lowfd);

#define strlcpy		dfc_strlcpy
#define strlcat		dfc_strlcat

#endif /* DFCOMPAT_H */
