# GNU Makefile for dma.  `make`, `make install`, `make check`; see README.md.

PREFIX ?=	/usr/local
SBINDIR ?=	$(PREFIX)/sbin
LIBEXECDIR ?=	$(PREFIX)/lib/dma
MANDIR ?=	$(PREFIX)/share/man
CONFDIR ?=	/etc/dma
SPOOLDIR ?=	/var/spool/dma
MAILDIR ?=	/var/mail
DMA_GROUP ?=	mail
DMA_VERSION ?=	v0.14
INSTALL ?=	install
YACC =		bison -y
LEX =		flex

CC ?=		cc
CWARN =		-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
		-Wmissing-declarations -Wpointer-arith -Wcast-qual -Wwrite-strings \
		-Wformat=2 -Wformat-security -Wundef -Wsign-compare \
		-Werror=implicit-function-declaration -fno-common
WERROR ?=
OPTFLAGS ?=	-O2 -g
HARDEN ?=	-D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
HARDEN_LD ?=	-pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack
SAN ?=

DMA_CPPFLAGS =	-D_GNU_SOURCE -I. \
		-DCONF_PATH='"$(CONFDIR)"' -DLIBEXEC_PATH='"$(LIBEXECDIR)"' \
		-DSPOOL_PATH='"$(SPOOLDIR)"' -DMAIL_PATH='"$(MAILDIR)"' \
		-DDMA_VERSION='"$(DMA_VERSION)"' -DDMA_GROUP_NAME='"$(DMA_GROUP)"'
ALL_CFLAGS =	$(OPTFLAGS) $(HARDEN) $(CWARN) $(WERROR) $(SAN) $(CFLAGS)
ALL_CPPFLAGS =	$(DMA_CPPFLAGS) $(CPPFLAGS)
ALL_LDFLAGS =	$(HARDEN_LD) $(SAN) $(LDFLAGS)
LIBS =		-lresolv $(LDADD)

MODS =		runq.o conf.o crypto.o token.o net.o smtp.o smtpdata.o dns.o spool.o local.o mboxlock.o journal.o mail.o addr.o rcpt.o forward.o bsmtp.o \
		util.o dfcompat.o aliases_parse.o aliases_scan.o
MODS +=		diag.o
MODS +=		hdrqual.o
MODS +=		ossl.o
MODS +=		spoollist.o spoolstate.o spoolacq.o report.o smtpsess.o
GEN =		aliases_parse.c aliases_parse.h aliases_scan.c
UNIT_SRCS =	$(wildcard test/unit/t_*.c)
UNIT_BINS =	$(UNIT_SRCS:.c=)

all: dma dma-mbox-create dma-forward dma.8

# A sanitizer build is for the tests only: ASan and UBSan binaries must
# never be installed setgid or setuid on a system.  The test suite stages
# its sanitizer build with TEST_STAGE=1 into a private directory.
ifneq ($(filter install,$(MAKECMDGOALS)),)
ifneq ($(findstring -fsanitize,$(ALL_CFLAGS) $(ALL_LDFLAGS)),)
ifneq ($(TEST_STAGE),1)
$(error refusing to install a sanitizer build (-fsanitize in SAN, CFLAGS or LDFLAGS): build without it, e.g. `make clean all`, then install)
endif
endif
endif

# Build inputs: every value compiled in or handed to the compiler, the
# linker or the manual page.  .build-flags holds them and is rewritten
# only when they change; everything built depends on it, so another
# PREFIX, LIBEXECDIR, CFLAGS, SAN, WERROR ... rebuilds instead of leaving
# the last build's binaries in place.
BUILD_INPUTS =	CC=$(CC) CPPFLAGS=$(ALL_CPPFLAGS) CFLAGS=$(ALL_CFLAGS) \
		LDFLAGS=$(ALL_LDFLAGS) LIBS=$(LIBS) YACC=$(YACC) LEX=$(LEX) \
		SBINDIR=$(SBINDIR) LIBEXECDIR=$(LIBEXECDIR) CONFDIR=$(CONFDIR) \
		SPOOLDIR=$(SPOOLDIR) MAILDIR=$(MAILDIR)
# make -n and -q only ask: they leave the file alone and take it as out of
# date when the values differ.
BUILD_ASKING =	$(findstring n,$(firstword -$(MAKEFLAGS)))$(findstring q,$(firstword -$(MAKEFLAGS)))
ifneq ($(strip $(BUILD_INPUTS)),$(file <.build-flags))
ifeq ($(BUILD_ASKING),)
$(file >.build-flags,$(strip $(BUILD_INPUTS)))
else
.build-flags: build-flags-differ
build-flags-differ: ;
.PHONY: build-flags-differ
endif
endif
.build-flags: ;

dma.o $(MODS) dma-mbox-create dma-forward dma.8 $(UNIT_BINS) test/unit/dnsq test/unit/lfeed: .build-flags

# The manual page with the paths of this build.
dma.8: dma.8.in
	sed -e 's|@CONFDIR@|$(CONFDIR)|g' -e 's|@SPOOLDIR@|$(SPOOLDIR)|g' \
	    -e 's|@MAILDIR@|$(MAILDIR)|g' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
	    -e 's|@SBINDIR@|$(SBINDIR)|g' dma.8.in >$@.tmp && mv $@.tmp $@

dma: dma.o $(MODS)
	$(CC) $(ALL_LDFLAGS) -o $@ dma.o $(MODS) $(LIBS)

dma-mbox-create: dma-mbox-create.c
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ dma-mbox-create.c

dma-forward: dma-forward.c
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ dma-forward.c

%.o: %.c
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

aliases_parse.c aliases_parse.h: aliases_parse.y
	$(YACC) -Wno-yacc -d -o aliases_parse.c aliases_parse.y

aliases_scan.c: aliases_scan.l aliases_parse.h
	$(LEX) -o aliases_scan.c aliases_scan.l

aliases_scan.o: aliases_parse.h

# Generated code is compiled with the same flags, minus the warnings the
# generators themselves trigger.
aliases_parse.o aliases_scan.o: CWARN += -Wno-unused-function -Wno-sign-compare \
	-Wno-missing-prototypes -Wno-missing-declarations

test/unit/t_%: test/unit/t_%.c test/unit/tap.h $(MODS)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(MODS) $(LIBS)

unit: $(UNIT_BINS)

check-unit: $(UNIT_BINS)
	sh test/run-unit.sh $(UNIT_BINS)

# The whole suite: unit tests, then the installed binaries in namespaces.
check: all unit
	sh test/run-all.sh

# The same suite with ASan and UBSan (test-only builds, never installed
# setgid: see dma.8, SECURITY).
# test/san-options.o gives the setgid/setuid binaries their sanitizer
# options (they cannot read ASAN_OPTIONS; see that file).
SAN_FLAGS =	-fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer
check-san:
	$(MAKE) clean
	$(CC) $(CWARN) $(WERROR) $(SAN_FLAGS) -O1 -g -c -o test/san-options.o test/san-options.c
	$(MAKE) SAN='$(SAN_FLAGS)' HARDEN='-fPIE' OPTFLAGS='-O1 -g' \
	    LDFLAGS='$(LDFLAGS) $(CURDIR)/test/san-options.o' check

lint-man: dma.8
	mandoc -Tlint -W warning dma.8

install: all
	@if [ "$$(id -u)" = 0 ]; then own="-o root -g $(DMA_GROUP)"; else \
	    own=""; echo "not root: installing without owners (root:$(DMA_GROUP) needed)"; fi; \
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man8 && \
	$(INSTALL) -m 2755 $$own dma $(DESTDIR)$(SBINDIR)/dma && \
	$(INSTALL) -m 4754 $$own dma-mbox-create $(DESTDIR)$(LIBEXECDIR)/dma-mbox-create && \
	$(INSTALL) -m 4754 $$own dma-forward $(DESTDIR)$(LIBEXECDIR)/dma-forward && \
	$(INSTALL) -m 0644 dma.8 $(DESTDIR)$(MANDIR)/man8/dma.8 && \
	$(INSTALL) -d -m 2770 $$own $(DESTDIR)$(SPOOLDIR) && \
	if [ ! -d $(DESTDIR)$(MAILDIR) ]; then $(INSTALL) -d -m 2775 $$own $(DESTDIR)$(MAILDIR); fi && \
	$(INSTALL) -d -m 0755 $(DESTDIR)$(CONFDIR) && \
	for f in dma.conf auth.conf; do \
	    if [ -e $(DESTDIR)$(CONFDIR)/$$f ]; then echo "keeping existing $(DESTDIR)$(CONFDIR)/$$f"; \
	    else $(INSTALL) -m 0640 $$own $$f $(DESTDIR)$(CONFDIR)/$$f; fi; done

install-links:
	$(INSTALL) -d $(DESTDIR)$(SBINDIR)
	for l in sendmail mailq newaliases; do ln -sf dma $(DESTDIR)$(SBINDIR)/$$l; done

# Queue flush every 5 minutes: pick one of cron and systemd.
CRONDIR ?=	/etc/cron.d
SYSTEMDDIR ?=	/lib/systemd/system
EXAMPLESDIR ?=	$(PREFIX)/share/examples/dma

install-cron:
	$(INSTALL) -d $(DESTDIR)$(CRONDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' dist/dma.cron > $(DESTDIR)$(CRONDIR)/dma
	chmod 0644 $(DESTDIR)$(CRONDIR)/dma

install-systemd:
	$(INSTALL) -d $(DESTDIR)$(SYSTEMDDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' dist/dma-flush.service > $(DESTDIR)$(SYSTEMDDIR)/dma-flush.service
	$(INSTALL) -m 0644 dist/dma-flush.timer $(DESTDIR)$(SYSTEMDDIR)/dma-flush.timer
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/dma-flush.service
	sed 's|@SBINDIR@|$(SBINDIR)|g' dist/dma-queued.service > $(DESTDIR)$(SYSTEMDDIR)/dma-queued.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/dma-queued.service

install-mailer-conf:
	$(INSTALL) -d $(DESTDIR)$(EXAMPLESDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' dist/mailer.conf > $(DESTDIR)$(EXAMPLESDIR)/mailer.conf
	chmod 0644 $(DESTDIR)$(EXAMPLESDIR)/mailer.conf

# Removes what install* put in place, except configuration, the spool
# and mailboxes (they hold data).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/dma $(DESTDIR)$(LIBEXECDIR)/dma-mbox-create \
	    $(DESTDIR)$(LIBEXECDIR)/dma-forward \
	    $(DESTDIR)$(MANDIR)/man8/dma.8 $(DESTDIR)$(CRONDIR)/dma \
	    $(DESTDIR)$(SYSTEMDDIR)/dma-flush.service $(DESTDIR)$(SYSTEMDDIR)/dma-flush.timer \
	    $(DESTDIR)$(SYSTEMDDIR)/dma-queued.service \
	    $(DESTDIR)$(EXAMPLESDIR)/mailer.conf
	for l in sendmail mailq newaliases; do \
	    if [ "$$(readlink $(DESTDIR)$(SBINDIR)/$$l)" = dma ]; then rm -f $(DESTDIR)$(SBINDIR)/$$l; fi; done
	-rmdir $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(EXAMPLESDIR) 2>/dev/null

clean:
	rm -f dma dma-mbox-create dma-forward dma.8 dma.8.tmp .build-flags *.o *.d $(GEN) $(UNIT_BINS) \
	    test/unit/*.d test/san-options.o

.PHONY: all unit check check-unit check-san lint-man install install-links install-cron \
	install-systemd install-mailer-conf uninstall clean

-include $(wildcard *.d)

# dnsq: DNS test driver for test/integration/dns-*.sh; prints the
# candidates dns_get_mx_list() returns.  Not installed.
test/unit/dnsq: test/unit/dnsq.c $(MODS)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ test/unit/dnsq.c $(MODS) $(LIBS)

unit: test/unit/dnsq

# lfeed: local delivery test driver for test/integration/local-batch.sh;
# delivers one user's queued entries through local_deliver_feed().
test/unit/lfeed: test/unit/lfeed.c $(MODS)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ test/unit/lfeed.c $(MODS) $(LIBS)

unit: test/unit/lfeed

clean: clean-dnsq
clean-dnsq:
	rm -f test/unit/dnsq test/unit/lfeed

.PHONY: clean-dnsq

# Speed and memory against the original dma, as ratios (root; not part of
# check, never fails on slow figures): see test/bench/README.
bench: all test/bench/sink test/bench/floor
	sh test/bench/bench.sh

# sink: the benchmark's counting SMTP server.  Not installed.
test/bench/sink: test/bench/sink.c .build-flags
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -pthread -o $@ test/bench/sink.c -lssl -lcrypto

# floor: the least a durable submission costs (one file, two fsyncs).
test/bench/floor: test/bench/floor.c .build-flags
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ test/bench/floor.c

clean: clean-sink
clean-sink:
	rm -f test/bench/sink test/bench/floor

.PHONY: bench clean-sink

# libFuzzer targets (fuzz/) and static analysis; not part of check.
# The fuzz build compiles the module sources again with clang and the
# sanitizers into fuzz/obj/, never touching the objects above.
# `make fuzz-smoke FUZZ_TIME=60` runs each target for FUZZ_TIME seconds.
FUZZ_CC ?=	clang
FUZZ_TIME ?=	20
FUZZ_SAN =	-fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer
FUZZ_CFLAGS =	-O1 -g $(FUZZ_SAN) $(CWARN) $(WERROR)
FUZZ_NAMES =	addr alias conf authconf reply spool intake smtpdata b64 forward
FUZZ_NAMES +=	hdrqual
FUZZ_NAMES +=	scram
FUZZ_NAMES +=	trailer
FUZZ_BINS =	$(FUZZ_NAMES:%=fuzz/fuzz_%)
FUZZ_MODS =	$(MODS:%=fuzz/obj/%)

fuzz/obj/%.o: %.c
	@mkdir -p fuzz/obj
	$(FUZZ_CC) $(ALL_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

fuzz/obj/aliases_scan.o: aliases_parse.h
fuzz/obj/aliases_parse.o fuzz/obj/aliases_scan.o: CWARN += -Wno-unused-function \
	-Wno-sign-compare -Wno-missing-prototypes -Wno-missing-declarations

fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_MODS)
	$(FUZZ_CC) $(ALL_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_MODS) $(LIBS)

# The module objects are kept between builds of the targets.
.SECONDARY: $(FUZZ_MODS)

fuzz: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	sh fuzz/smoke.sh $(FUZZ_TIME) $(FUZZ_BINS)

# cppcheck over the hand-written sources, then scan-build (clang-tools)
# when installed, compiling them into analyze/ (the build stays as is).
ANALYZE_SRCS =	$(filter-out $(GEN:.h=.c),$(wildcard *.c))
ANALYZE_OBJS =	$(ANALYZE_SRCS:%.c=analyze/%.o)

analyze/%.o: %.c
	@mkdir -p analyze
	$(CC) $(ALL_CPPFLAGS) -O0 -g $(CWARN) -c -o $@ $<

analyze:
	cppcheck -q --enable=warning,portability --std=c99 --inline-suppr \
	    --error-exitcode=1 $(DMA_CPPFLAGS) $(ANALYZE_SRCS)
	@if command -v scan-build >/dev/null 2>&1; then \
	    rm -rf analyze && \
	    scan-build --status-bugs -o analyze/report $(MAKE) $(ANALYZE_OBJS); \
	else echo "scan-build not installed (clang-tools): skipped"; fi

clean: clean-fuzz
clean-fuzz:
	rm -rf fuzz/obj $(FUZZ_BINS) analyze

.PHONY: fuzz fuzz-smoke analyze clean-fuzz
-include $(wildcard fuzz/obj/*.d)
