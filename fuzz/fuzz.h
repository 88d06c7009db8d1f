/*
 * fuzz.h - helpers shared by the libFuzzer targets in fuzz/.
 *
 * The targets are test programs: they are built only by `make fuzz`, with
 * clang's fuzzer, address and undefined-behaviour sanitizers, from module
 * objects compiled into fuzz/obj/.  They never touch the real spool, mail
 * or configuration paths; the only files they create are private
 * temporary files.  A broken module contract is reported with
 * fuzz_fail(), which aborts, so libFuzzer records the input as a crash.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_fail - a contract was broken: say which, then crash */
#define fuzz_fail(...) do {						\
	fprintf(stderr, "fuzz: %s:%d: ", __FILE__, __LINE__);		\
	fprintf(stderr, __VA_ARGS__);					\
	fputc('\n', stderr);						\
	abort();							\
} while (0)

#define fuzz_assert(cond) do {						\
	if (!(cond))							\
		fuzz_fail("assertion failed: %s", #cond);		\
} while (0)

/* fuzz_cstr - the input as a malloc'ed NUL-terminated string */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return (s);
}

/*
 * fuzz_memfile - a read-only stream over the input.  fmemopen() refuses
 * an empty buffer, so the empty input reads /dev/null instead.
 */
static inline FILE *
fuzz_memfile(const uint8_t *data, size_t size)
{
	FILE *fp;

	if (size == 0)
		fp = fopen("/dev/null", "r");
	else
		fp = fmemopen((void *)(uintptr_t)data, size, "r");
	if (fp == NULL) {
		perror("fuzz: fmemopen");
		abort();
	}
	return (fp);
}

/* fuzz_why_check - a failure must come with a NUL-terminated reason */
static inline void
fuzz_why_check(const char *why, size_t whylen)
{
	if (memchr(why, '\0', whylen) == NULL)
		fuzz_fail("why not NUL-terminated");
	if (why[0] == '\0')
		fuzz_fail("failure without a reason");
}

/*
 * fuzz_tmpfile - write the input to a private temporary file for parsers
 * that take a path; the same file is reused for every input and removed
 * at exit.  Returns its path.
 */
static char fuzz_tmppath[64];

static inline void
fuzz_tmpfile_rm(void)
{
	if (fuzz_tmppath[0] != '\0')
		unlink(fuzz_tmppath);
}

static inline const char *
fuzz_tmpfile(const uint8_t *data, size_t size)
{
	FILE *fp;

	if (fuzz_tmppath[0] == '\0') {
		int fd;

		strlcpy(fuzz_tmppath, "/tmp/dma-fuzz.XXXXXX", sizeof(fuzz_tmppath));
		if ((fd = mkstemp(fuzz_tmppath)) < 0) {
			perror("fuzz: mkstemp");
			abort();
		}
		close(fd);
		atexit(fuzz_tmpfile_rm);
	}
	if ((fp = fopen(fuzz_tmppath, "w")) == NULL ||
	    fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
		perror(fuzz_tmppath);
		abort();
	}
	return (fuzz_tmppath);
}

#endif /* FUZZ_H */
