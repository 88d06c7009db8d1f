/*
 * t_crypto.c - base64 and CRAM-MD5 of crypto.c.
 * Known vectors from RFC 4648 section 10 and RFC 2195 section 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int
main(void)
{
	test_encode();
	test_decode();
	test_roundtrip();
	test_cram();
	test_describe();
	return (done_testing());
}
