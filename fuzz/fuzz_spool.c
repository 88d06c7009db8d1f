/*
 * fuzz_spool.c - libFuzzer target for spool_parse_qfile() (spool.c), the
 * strict reader of queue files.
 *
 * A Q file may have been tampered with by anyone in group mail.  The
 * reader takes upstream's field orders and unknown keys (0.13 spools, the
 * delivery state of later versions), so the check is not byte equality
 * but: a parsed entry has fields that pass envfield_ok() and a non-empty
 * recipient, and the fields written back in the version 2 form parse
 * again to the very same fields (what is accepted means one thing).
 */
#include "dma.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qitem it, again;
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
	back = xasprintf("Version: 2\nID: %s\nSender: %s\nRecipient: %s\n",
	    it.queueid, it.sender, it.addr);
	memset(&again, 0, sizeof(again));
	if (spool_parse_qfile(back, strlen(back), &again, why, sizeof(why)) != 0)
		fuzz_fail("the fields written back do not parse");
	if (strcmp(again.queueid, it.queueid) != 0 ||
	    strcmp(again.sender, it.sender) != 0 ||
	    strcmp(again.addr, it.addr) != 0)
		fuzz_fail("the fields written back parse to others");
	free(back);
	free(again.queueid);
	free(again.sender);
	free(again.addr);
	free(again.st.error);
	free(it.st.error);
	free(it.queueid);
	free(it.sender);
	free(it.addr);
	return (0);
}
