/*
 * fuzz_trailer.c - libFuzzer target for spool_trailer_entry() (spool.c),
 * the reader of the envelope trailer of a message file: which recipients
 * belong to entry {msgid}.{n} when its Q file was lost (the Recipient
 * lines, entry after entry, and the Entry lines of version 3).
 *
 * Input: the first byte picks n (1 to 128), the rest is the trailer text.
 * Contract: an error sets why and nothing else; a success gives a sender
 * and 1 to JOB_MAX recipients that pass envfield_ok(), non-empty, the
 * first of them as e.addr, version 3 exactly when there are several, and
 * the same answer when asked again without the list.
 */
#include "dma.h"
#include "spoolint.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qitem e, again;
	struct rlist rl = { NULL, 0 };
	char why[256];
	unsigned long long n;
	size_t i;

	if (size < 1)
		return (0);
	n = (unsigned long long)(data[0] % 128) + 1;
	memset(&e, 0, sizeof(e));
	why[0] = '\0';
	if (spool_trailer_entry((const char *)data + 1, size - 1, "ab12", n, &e,
	    &rl, why, sizeof(why)) != 0) {
		fuzz_why_check(why, sizeof(why));
		if (e.sender != NULL || e.addr != NULL || rl.n != 0 || rl.v != NULL)
			fuzz_fail("error but fields set");
		return (0);
	}
	if (e.sender == NULL || !envfield_ok(e.sender) || e.addr == NULL ||
	    e.addr[0] == '\0' || !envfield_ok(e.addr))
		fuzz_fail("accepted bad fields");
	if (rl.n < 1 || rl.n > JOB_MAX)
		fuzz_fail("entry of no or too many recipients");
	if (strcmp(rl.v[0], e.addr) != 0)
		fuzz_fail("e.addr is not the entry's first recipient");
	for (i = 0; i < rl.n; i++) {
		if (rl.v[i][0] == '\0' || !envfield_ok(rl.v[i]))
			fuzz_fail("accepted a bad recipient");
	}
	if ((e.version == 3) != (rl.n > 1))
		fuzz_fail("version does not say whether the entry is a group");
	memset(&again, 0, sizeof(again));
	if (spool_trailer_entry((const char *)data + 1, size - 1, "ab12", n,
	    &again, NULL, why, sizeof(why)) != 0 ||
	    strcmp(again.addr, e.addr) != 0 || strcmp(again.sender, e.sender) != 0)
		fuzz_fail("not the same answer without the list");
	free(again.sender);
	free(again.addr);
	spool_rlist_free(&rl);
	free(e.sender);
	free(e.addr);
	return (0);
}
