/*
 * dfcompat.c - strlcpy, strlcat and closefrom for systems without them.
 * No privilege, no state.
 */
#include <sys/types.h>

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfcompat.h"

size_t
dfc_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return (n);
}

size_t
dfc_strlcat(char *dst, const char *src, size_t size)
{
	size_t d = strnlen(dst, size);

	if (d == size)
		return (size + strlen(src));
	return (d + dfc_strlcpy(dst + d, src, size - d));
}

/* dfc_closefrom - close every descriptor >= lowfd */
void
dfc_closefrom(int lowfd)
{
	DIR *d;
	struct dirent *de;
	long max, fd;

	d = opendir("/proc/self/fd");
	if (d != NULL) {
		int dfd = dirfd(d);

		while ((de = readdir(d)) != NULL) {
			char *end;

			fd = strtol(de->d_name, &end, 10);
			if (*end != '\0' || fd < lowfd || fd == dfd)
				continue;
			close((int)fd);
		}
		closedir(d);
		return;
	}
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = lowfd; fd < max; fd++)
		close((int)fd);
}
