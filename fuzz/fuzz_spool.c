/*
 * fuzz_spool.c - libFuzzer target for spool_parse_qfile() (spool.c), the
 * strict reader of queue files.
 *
 * A Q file may have been tampered with by anyone in group mail, so its
 * reader must reject anything but the exact format.  Checks: a parsed
 * entry has fields that pass envfield_ok() and a non-empty recipient, and
 * writing the fields back in the Q format gives the input byte for byte
 * (nothing accepted that the writer would not produce).
 */
#include "dma.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qitem it;
	char why[256], *back;

	memset(&it, 0, sizeof(it));
	why[0] = '\0';
	if (spool_parse_qfile((const char *)data, size, &it, why, sizeof(why)) != 0) {
		fuzz_why_check(why, sizeof(why));
		if (it.queueid != NULL || it.sender != NULL || it.addr != NULL)
			fuzz_fail("error but fields set");
		return (0);
	}
	if (!envfield_ok(it.queueid) || !envfield_ok(it.sender) ||
	    !envfield_ok(it.addr) || it.addr[0] == '\0')
		fuzz_fail("accepted bad fields");
	back = xasprintf("ID: %s\nSender: %s\nRecipient: %s\n", it.queueid,
	    it.sender, it.addr);
	if (strlen(back) != size || memcmp(back, data, size) != 0)
		fuzz_fail("accepted a file the writer would not produce");
	free(back);
	free(it.queueid);
	free(it.sender);
	free(it.addr);
	return (0);
}
