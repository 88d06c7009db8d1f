/*
 * fuzz_scram.c - libFuzzer target for the SCRAM client (crypto.c) on
 * what a hostile server sends: the input is a server-first-message, a
 * newline, and a server-final-message, against RFC 7677's client (user
 * "user", password "pencil", nonce "rOprNGfwEbeRWgbNEkqO").
 *
 * Checks: a refused step gives no message and a reason; an accepted one
 * gives "c=biws,r=NONCE,p=PROOF" with the server's nonce, which extends
 * ours; a refused signature gives a reason.  Inputs asking for more than
 * 4096 iterations are skipped (they are slow by design, not interesting).
 */
#include "dma.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char cnonce[] = "rOprNGfwEbeRWgbNEkqO";
	struct scram sc;
	char why[256], *in, *sfinal, *first, *final = NULL, *it;

	in = fuzz_cstr(data, size);
	if (strlen(in) != size)
		goto out;
	if ((sfinal = strchr(in, '\n')) != NULL)
		*sfinal++ = '\0';
	else
		sfinal = in + size;
	if ((it = strstr(in, "i=")) != NULL && strtoul(it + 2, NULL, 10) > 4096)
		goto out;
	if (auth_scram_start(&sc, "SHA256", "user", cnonce, &first, why,
	    sizeof(why)) != 0)
		fuzz_fail("start failed: %s", why);
	free(first);
	why[0] = '\0';
	if (auth_scram_step(&sc, "pencil", in, &final, why, sizeof(why)) != 0) {
		fuzz_assert(final == NULL);
		fuzz_assert(why[0] != '\0');
	} else {
		fuzz_assert(final != NULL);
		fuzz_assert(strncmp(final, "c=biws,r=", 9) == 0);
		fuzz_assert(strncmp(final + 9, cnonce, strlen(cnonce)) == 0);
		fuzz_assert(strstr(final, ",p=") != NULL);
		why[0] = '\0';
		if (auth_scram_verify(&sc, sfinal, why, sizeof(why)) != 0)
			fuzz_assert(why[0] != '\0');
		free(final);
	}
	auth_scram_free(&sc);
out:
	free(in);
	return (0);
}
