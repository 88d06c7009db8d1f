/*
 * san-options.c - built-in sanitizer options of the `make check-san'
 * binaries (linked into them only there, never into an installed build).
 *
 * dma is setgid and dma-mbox-create setuid: such processes are not
 * dumpable, so the sanitizer runtime cannot read /proc/self/environ and
 * ignores ASAN_OPTIONS/UBSAN_OPTIONS.  These defaults apply instead:
 * no leak checking (LeakSanitizer cannot run in a non-dumpable process),
 * and, when the directory exists (test/ns-run.sh creates it inside the
 * test namespace, where daemonised deliveries have no stderr), reports
 * are written to /dev/shm/dma-san/{asan,ubsan}.PID, where the test
 * library finds them and fails the test.  Processes that can read their
 * environment (unit tests) still honour ASAN_OPTIONS/UBSAN_OPTIONS.
 */
#include <unistd.h>

#define SAN_DIR	"/dev/shm/dma-san"

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

const char *
__asan_default_options(void)
{
	if (access(SAN_DIR, W_OK) == 0)
		return ("detect_leaks=0:abort_on_error=0:log_path=" SAN_DIR "/asan");
	return ("detect_leaks=0:abort_on_error=0");
}

const char *
__ubsan_default_options(void)
{
	if (access(SAN_DIR, W_OK) == 0)
		return ("print_stacktrace=1:halt_on_error=1:log_path=" SAN_DIR "/ubsan");
	return ("print_stacktrace=1:halt_on_error=1");
}
