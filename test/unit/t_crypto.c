/*
 * t_crypto.c - base64, CRAM-MD5 and failing TLS handshakes of crypto.c.
 * Known vectors from RFC 4648 section 10 and RFC 2195 section 2; the
 * handshakes run over a socketpair against a forked peer (no network).
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dma.h"
#include "tap.h"

struct b64_case {
	const char *plain;
	const char *enc;
};

/* RFC 4648 10. */
static const struct b64_case rfc4648[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

/* Inputs b64_decode must refuse. */
static const char *bad_b64[] = {
	"Zg=",			/* length not a multiple of 4 */
	"Zg",			/* unpadded */
	"Z===",			/* three pad characters */
	"====",
	"Zg==Zg==",		/* padding in the middle */
	"Z=g=",
	"Zm9v!mFy",		/* character outside the alphabet */
	"Zm9v YmFy",		/* inner blank */
	"Zm9v\nYmFy",		/* inner line break */
	"Zm9-",			/* base64url alphabet */
	"Zm9_",
	"A",
};

static void
test_encode(void)
{
	char buf[64];
	size_t i;
	int n;

	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		n = b64_encode(rfc4648[i].plain, strlen(rfc4648[i].plain),
		    buf, sizeof(buf));
		is_int(n, strlen(rfc4648[i].enc), "encode length \"%s\"",
		    rfc4648[i].plain);
		is_str(buf, rfc4648[i].enc, "encode \"%s\"", rfc4648[i].plain);
	}

	/* Binary data with NUL and high bytes. */
	n = b64_encode("\0\377\376\0", 4, buf, sizeof(buf));
	is_int(n, 8, "encode binary length");
	is_str(buf, "AP/+AA==", "encode binary");

	/* "foobar" needs 8 characters and the NUL. */
	is_int(b64_encode("foobar", 6, buf, 9), 8, "encode exact fit");
	is_int(b64_encode("foobar", 6, buf, 8), -1, "encode without room for NUL");
	is_int(b64_encode("f", 1, buf, 4), -1, "encode padding needs room");
	is_int(b64_encode("", 0, buf, 0), -1, "encode into empty buffer");
	is_int(b64_encode("", 0, buf, 1), 0, "encode empty into 1 byte");
}

static void
test_decode(void)
{
	char buf[64];
	size_t i;
	int n;

	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		memset(buf, 'x', sizeof(buf));
		n = b64_decode(rfc4648[i].enc, buf, sizeof(buf));
		is_int(n, strlen(rfc4648[i].plain), "decode length \"%s\"",
		    rfc4648[i].enc);
		ok(n >= 0 && memcmp(buf, rfc4648[i].plain, (size_t)n) == 0 &&
		    buf[n] == '\0', "decode \"%s\" and NUL-terminate",
		    rfc4648[i].enc);
	}

	for (i = 0; i < sizeof(bad_b64) / sizeof(bad_b64[0]); i++) {
		char name[64];

		is_int(b64_decode(bad_b64[i], buf, sizeof(buf)), -1,
		    "decode refuses \"%s\"", log_safe(name, sizeof(name), bad_b64[i]));
	}

	n = b64_decode("AP/+AA==", buf, sizeof(buf));
	is_int(n, 4, "decode binary length");
	ok(n == 4 && memcmp(buf, "\0\377\376\0", 4) == 0, "decode binary bytes");

	/* A reply line may still carry its line end. */
	is_int(b64_decode("Zm9v\r\n", buf, sizeof(buf)), 3, "trailing CRLF ignored");

	/* The buffer needs the true length only (padding not counted). */
	memset(buf, 'x', sizeof(buf));
	is_int(b64_decode("Zm9vYg==", buf, 4), 4, "decode exact fit, no NUL");
	ok(memcmp(buf, "foob", 4) == 0 && buf[4] == 'x',
	    "exact fit writes nothing past the buffer");
	is_int(b64_decode("Zm9vYg==", buf, 3), -1, "decode buffer too small");
	is_int(b64_decode("Zm9vYmFy", buf, 5), -1, "decode 6 into 5");
	is_int(b64_decode("", buf, 0), 0, "decode empty into empty buffer");
}

static void
test_roundtrip(void)
{
	unsigned char in[300], back[300];
	char enc[512];
	size_t len;
	int n, m, good = 1;

	for (len = 0; len < sizeof(in); len++)
		in[len] = (unsigned char)(len * 7 + 3);
	for (len = 0; len <= sizeof(in); len++) {
		n = b64_encode(in, len, enc, sizeof(enc));
		m = b64_decode(enc, back, sizeof(back));
		if (n != (int)((len + 2) / 3 * 4) || m != (int)len ||
		    memcmp(in, back, len) != 0) {
			good = 0;
			printf("# round trip failed at length %zu\n", len);
			break;
		}
	}
	ok(good, "round trip of every length 0..300");
}

static void
test_cram(void)
{
	char out[256], dec[256];
	int n;

	/* RFC 2195 2. */
	n = auth_cram_md5("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
	    "tim", "tanstaaftanstaaf", out, sizeof(out));
	is_str(out, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw",
	    "RFC 2195 response");
	is_int(n, strlen("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"),
	    "RFC 2195 response length");
	n = b64_decode(out, dec, sizeof(dec));
	is_str(n > 0 ? dec : "", "tim b913a602c7eda7a495b4e6e7334d3890",
	    "RFC 2195 decoded response");

	/* A wrong password must give another digest. */
	auth_cram_md5("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
	    "tim", "tanstaaftanstaag", out, sizeof(out));
	ok(strcmp(out, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw") != 0,
	    "other password, other response");

	is_int(auth_cram_md5("not base64!", "tim", "x", out, sizeof(out)), -1,
	    "bad challenge refused");
	is_int(auth_cram_md5("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
	    "tim", "tanstaaftanstaaf", out, 48), -1,
	    "output buffer too small");
	is_int(auth_cram_md5("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
	    "tim", "tanstaaftanstaaf", out, 49), 48,
	    "output buffer exact fit");
}

static void
test_describe(void)
{
	char buf[64];

	tls_describe(NULL, buf, sizeof(buf));
	is_str(buf, "no TLS", "describe without session");
	tls_close(NULL);
	ok(1, "tls_close(NULL) is harmless");
}

/*
 * handshake_with - tls_start against a peer that writes reply (or nothing
 * when NULL) and then closes (or keeps silent when stay); reason in why.
 */
static int
handshake_with(const char *reply, int stay, int timeout, struct dsn *why,
    double *secs)
{
	struct tls *t = NULL;
	struct timespec a, b;
	char buf[512];
	pid_t pid;
	int sv[2], r, flags;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return (-2);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		if (read(sv[1], buf, sizeof(buf)) < 0)	/* the ClientHello */
			_exit(1);
		if (reply != NULL && write(sv[1], reply, strlen(reply)) < 0)
			_exit(1);
		if (stay)
			pause();
		_exit(0);
	}
	close(sv[1]);
	flags = fcntl(sv[0], F_GETFL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = tls_start(sv[0], "localhost", timeout, &t, why);
	clock_gettime(CLOCK_MONOTONIC, &b);
	*secs = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	ok(t == NULL && fcntl(sv[0], F_GETFL) == flags,
	    "failed handshake: no session, socket flags restored");
	ok(fcntl(sv[0], F_GETFD) != -1, "failed handshake: the fd stays open");
	tls_close(t);
	close(sv[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return (r);
}

static void
test_handshake(void)
{
	struct dsn why;
	double secs;
	int r;

	memset(&why, 0, sizeof(why));
	r = handshake_with(NULL, 1, 1, &why, &secs);
	is_int(r, -1, "silent peer: handshake fails");
	is_str(why.text, "TLS handshake timed out", "silent peer: reason");
	ok(secs >= 0.9 && secs < 5, "silent peer: gave up after the timeout (%.2fs)", secs);

	memset(&why, 0, sizeof(why));
	r = handshake_with(NULL, 0, 5, &why, &secs);
	is_int(r, -1, "peer closing: handshake fails");
	is_str(why.text, "SSL handshake failed fatally: connection closed by peer",
	    "peer closing: reason");
	ok(secs < 4, "peer closing: no wait for the timeout");

	memset(&why, 0, sizeof(why));
	r = handshake_with("220 mail.example.org ESMTP ready\r\n", 1, 5, &why, &secs);
	is_int(r, -1, "plain-text peer: handshake fails");
	ok(strncmp(why.text, "SSL handshake failed fatally: ", 30) == 0 &&
	    strlen(why.text) > 30, "plain-text peer: reason \"%s\"", why.text);
	ok(why.code[0] == '4', "TLS failures are temporary (%s)", why.code);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_encode();
	test_decode();
	test_roundtrip();
	test_cram();
	test_describe();
	test_handshake();
	return (done_testing());
}
