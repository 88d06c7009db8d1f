/*
 * ossl.c - loads OpenSSL (libssl and libcrypto) when a process first
 * needs it and resolves the functions crypto.c calls (see ossl.h).
 *
 * Side effects: dlopen of the system's libssl of the major version dma
 * was built against (a file name without a path: the dynamic linker's
 * trusted directories only, and in a setgid process it ignores
 * LD_LIBRARY_PATH); nothing is unloaded; a failure is logged once.
 * Owns the table of pointers.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dma.h"
#define OSSL_NO_REDIRECT
#include "ossl.h"

#define OSSL_STR2(x)	#x
#define OSSL_STR(x)	OSSL_STR2(x)
#define OSSL_SONAME	"libssl.so." OSSL_STR(OPENSSL_SHLIB_VERSION)

struct ossl ossl;

int
ossl_load(char *why, size_t whylen)
{
	static int state;		/* 0 not tried, 1 loaded, -1 failed */
	static char err[256];
	static int logged;
	const char *missing = NULL;
	void *h;

	if (state == 0) {
		state = -1;
		if ((h = dlopen(OSSL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
			const char *e = dlerror();

			snprintf(err, sizeof(err), "can not load %s: %s",
			    OSSL_SONAME, e != NULL ? e : "unknown error");
			goto out;
		}
		/*
		 * dlsym on libssl's handle also finds the functions of
		 * libcrypto, which libssl depends on.  A function pointer
		 * is read from dlsym's void * as POSIX allows.
		 */
#define OSSL_RESOLVE(f)							\
		if (missing == NULL) {					\
			void *p = dlsym(h, #f);				\
									\
			if (p == NULL)					\
				missing = #f;				\
			else						\
				memcpy(&ossl.f, &p, sizeof(p));		\
		}
		OSSL_CRYPTO_FUNCS(OSSL_RESOLVE)
		OSSL_SSL_FUNCS(OSSL_RESOLVE)
#undef OSSL_RESOLVE
		if (missing != NULL) {
			snprintf(err, sizeof(err), "%s lacks %s", OSSL_SONAME,
			    missing);
			memset(&ossl, 0, sizeof(ossl));
			goto out;
		}
		state = 1;
	}
out:
	if (state < 0 && !logged) {
		log_msg(LOG_ERR, "%s", err);
		logged = 1;
	}
	if (state < 0)
		snprintf(why, whylen, "%s", err);
	return (state > 0 ? 0 : -1);
}
