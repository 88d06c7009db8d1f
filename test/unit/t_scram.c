/*
 * t_scram.c - the SCRAM client computations of crypto.c against the
 * exchanges of RFC 7677 section 3 (SCRAM-SHA-256) and RFC 5802 section 5
 * (SCRAM-SHA-1): user "user", password "pencil", their nonces and salts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma.h"
#include "tap.h"

struct vec {
	const char *name;
	const char *md;
	const char *cnonce;
	const char *first;
	const char *server_first;
	const char *final;
	const char *server_final;
};

static const struct vec vecs[] = {
	{ "RFC 7677 SCRAM-SHA-256", "SHA256", "rOprNGfwEbeRWgbNEkqO",
	  "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	  "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" },
	{ "RFC 5802 SCRAM-SHA-1", "SHA1", "fyko+d2lbbFgONRv9qkxdawL",
	  "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	  "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	  "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	  "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=" },
};

static void
test_vector(const struct vec *v)
{
	struct scram sc;
	char why[256], *first, *final;

	why[0] = '\0';
	is_int(auth_scram_start(&sc, v->md, "user", v->cnonce, &first, why,
	    sizeof(why)), 0, "%s: start", v->name);
	is_str(first, v->first, "%s: client-first-message", v->name);
	is_int(auth_scram_step(&sc, "pencil", v->server_first, &final, why,
	    sizeof(why)), 0, "%s: step (%s)", v->name, why);
	is_str(final, v->final, "%s: client-final-message", v->name);
	is_int(auth_scram_verify(&sc, v->server_final, why, sizeof(why)), 0,
	    "%s: server signature accepted", v->name);
	is_int(auth_scram_verify(&sc, "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    why, sizeof(why)), -1, "%s: a wrong server signature refused", v->name);
	ok(strstr(why, "server signature mismatch") != NULL, "%s: reason: %s",
	    v->name, why);
	is_int(auth_scram_verify(&sc, "e=invalid-proof", why, sizeof(why)), -1,
	    "%s: server error refused", v->name);
	free(first);
	free(final);
	auth_scram_free(&sc);

	/* A wrong password gives another proof. */
	(void)auth_scram_start(&sc, v->md, "user", v->cnonce, &first, why, sizeof(why));
	(void)auth_scram_step(&sc, "pencil2", v->server_first, &final, why, sizeof(why));
	ok(final != NULL && strcmp(final, v->final) != 0, "%s: another password, "
	    "another proof", v->name);
	is_int(auth_scram_verify(&sc, v->server_final, why, sizeof(why)), -1,
	    "%s: and the real server's signature no longer matches", v->name);
	free(first);
	free(final);
	auth_scram_free(&sc);
}

/* step_fails - the server-first-message sf is refused with a reason */
static void
step_fails(const char *sf, const char *want, const char *desc)
{
	struct scram sc;
	char why[256], *first, *final = NULL;

	(void)auth_scram_start(&sc, "SHA256", "user", "abc", &first, why, sizeof(why));
	why[0] = '\0';
	is_int(auth_scram_step(&sc, "pencil", sf, &final, why, sizeof(why)), -1,
	    "refused: %s", desc);
	ok(final == NULL, "%s: no client-final-message", desc);
	ok(strstr(why, want) != NULL, "%s: reason \"%s\"", desc, why);
	free(first);
	auth_scram_free(&sc);
}

int
main(void)
{
	struct scram sc;
	char why[256], *first, *name;
	size_t i;

	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		test_vector(&vecs[i]);

	step_fails("r=xyz123,s=QSXCR+Q6sek8bf92,i=4096", "does not extend ours",
	    "a nonce not starting with ours");
	step_fails("r=abc,s=QSXCR+Q6sek8bf92,i=4096", "does not extend ours",
	    "the nonce without a server part");
	step_fails("r=abcdef,s=QSXCR+Q6sek8bf92,i=99999999", "iteration count",
	    "a huge iteration count");
	step_fails("r=abcdef,s=QSXCR+Q6sek8bf92,i=0", "iteration count",
	    "iteration count 0");
	step_fails("r=abcdef,s=***,i=4096", "salt", "a bad salt");
	step_fails("r=abcdef,i=4096", "malformed", "no salt");
	step_fails("m=ext,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096", "extension",
	    "a mandatory extension");

	name = auth_saslname("a,b=c");
	is_str(name, "a=2Cb=3Dc", "',' and '=' escaped in the login");
	free(name);
	is_int(auth_scram_start(&sc, "SHA256", "u,=", "n1", &first, why, sizeof(why)), 0,
	    "start with an escaped login");
	is_str(first, "n,,n=u=2C=3D,r=n1", "escaped login in client-first-message");
	free(first);
	auth_scram_free(&sc);

	is_int(auth_scram_start(&sc, "SHA256", "user", NULL, &first, why, sizeof(why)), 0,
	    "random nonce");
	ok(strlen(sc.cnonce) == 32 && strchr(sc.cnonce, ',') == NULL,
	    "random nonce: 32 characters, no ','");
	free(first);
	auth_scram_free(&sc);
	return (done_testing());
}
