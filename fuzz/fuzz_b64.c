/*
 * fuzz_b64.c - libFuzzer target for b64_encode() / b64_decode()
 * (crypto.c), used for AUTH exchanges with untrusted servers.
 *
 * Every buffer is a separate heap block of the exact size the contract
 * allows, so a byte written past it is an AddressSanitizer report.
 * Checks: decode(encode(x)) == x; encode refuses a buffer one byte too
 * small; whatever decode accepts re-encodes and decodes to the same
 * bytes; decode fits an exactly sized buffer and refuses a smaller one.
 */
#include "dma.h"
#include "fuzz.h"

static void *
xdup(const void *p, size_t n)
{
	void *q = xmalloc(n > 0 ? n : 1);

	memcpy(q, p, n);
	return (q);
}

/* round_trip - x must encode into exactly need bytes and decode back */
static void
round_trip(const unsigned char *x, size_t n)
{
	size_t need = (n + 2) / 3 * 4 + 1;
	char *enc, *small;
	unsigned char *dec;
	int r;

	enc = xmalloc(need);
	if ((r = b64_encode(x, n, enc, need)) < 0 || (size_t)r != need - 1 ||
	    strlen(enc) != need - 1)
		fuzz_fail("encode of %zu bytes gave %d", n, r);
	small = xmalloc(need - 1);
	if (b64_encode(x, n, small, need - 1) != -1)
		fuzz_fail("encode into a short buffer accepted");
	free(small);
	dec = xmalloc(n + 1);
	if ((r = b64_decode(enc, dec, n + 1)) < 0 || (size_t)r != n ||
	    memcmp(dec, x, n) != 0 || dec[n] != '\0')
		fuzz_fail("round trip of %zu bytes gave %d", n, r);
	free(dec);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *x, *dec, *exact;
	char *src;
	int r, r2;

	x = xdup(data, size);
	round_trip(x, size);
	free(x);

	src = fuzz_cstr(data, size);
	dec = xmalloc(size + 1);
	r = b64_decode(src, dec, size + 1);
	if (r < -1 || r > (int)size)
		fuzz_fail("decode returned %d for %zu bytes", r, size);
	if (r >= 0) {
		exact = xmalloc(r > 0 ? (size_t)r : 1);
		if ((r2 = b64_decode(src, exact, (size_t)r)) != r ||
		    memcmp(exact, dec, (size_t)r) != 0)
			fuzz_fail("decode into %d bytes gave %d", r, r2);
		if (r > 0 && b64_decode(src, exact, (size_t)r - 1) != -1)
			fuzz_fail("decode into a short buffer accepted");
		free(exact);
		round_trip(dec, (size_t)r);
	}
	free(dec);
	free(src);
	return (0);
}
