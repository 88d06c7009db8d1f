/*
 * fuzz_conf.c - libFuzzer target for conf_load() (dma.conf).
 *
 * conf_load() takes a path, so the input is written to a private
 * temporary file first.  Checks: the result is one of the documented
 * codes, errors carry a reason, PORT stays within 1..65535, and every
 * string the parser stored is freed again (leaks are reported).
 */
#include "dma.h"
#include "fuzz.h"

static void
conf_reset(struct config *c)
{
	free(c->smarthost);
	free(c->aliases);
	free(c->spooldir);
	free(c->authpath);
	free(c->certfile);
	free(c->mailname);
	free(c->masquerade_user);
	free(c->masquerade_host);
	memset(c, 0, sizeof(*c));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char why[256];
	const char *path;
	enum conf_err r;

	path = fuzz_tmpfile(data, size);
	conf_init(&c);
	why[0] = '\0';
	r = conf_load(path, &c, why, sizeof(why));
	switch (r) {
	case CONF_OK:
		break;
	case CONF_ESYNTAX:
	case CONF_EOPEN:
	case CONF_ENOMEM:
		fuzz_why_check(why, sizeof(why));
		break;
	default:
		fuzz_fail("unexpected result %d", (int)r);
	}
	if (c.port < 1 || c.port > 65535)
		fuzz_fail("port %d out of range", c.port);
	if (r == CONF_OK && (c.features & NULLCLIENT) && c.smarthost == NULL)
		fuzz_fail("NULLCLIENT accepted without SMARTHOST");
	conf_reset(&c);
	return (0);
}
