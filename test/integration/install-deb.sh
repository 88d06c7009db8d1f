# install-deb.sh - the Debian package (debian/): built from a copy of the
# tree with dpkg-buildpackage, installed as the system MTA over another one,
# next to bsd-mailx, removed and purged, then installed over Debian's dma
# 0.13 with mail in 0.13's queue, which it delivers; dpkg --verify after
# each install.  Everything happens in the namespace's overlays of /etc,
# /usr and /var (the host's packages are untouched) and without network:
# Debian's .debs come from $DMA_TEST_DEBS (default /var/cache/dma-test/debs),
# where test/ci.sh puts them with `apt-get download dma bsd-mailx`.
# Needs debhelper (dpkg-buildpackage); test/ci.sh installs it.

DEBS=${DMA_TEST_DEBS:-/var/cache/dma-test/debs}
export DEBIAN_FRONTEND=noninteractive
APT="apt-get -y -q --no-install-recommends -o Dpkg::Use-Pty=0"
ARCH=$(dpkg --print-architecture)

# pkg_status PKG: "STATUS VERSION" as dpkg knows it ("" if unknown)
pkg_status() {
	dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null |
	    tr -s ' '
}

# mtas: installed packages that provide mail-transport-agent
mtas() {
	dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Provides}\n' |
	    awk '$1 == "ii" && / mail-transport-agent/ { print $2 }'
}

# installed: names of the installed packages, sorted
installed() {
	dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' |
	    awk '$1 == "ii" { print $2 }' | sort
}

# leftovers LIST: paths of LIST (dpkg -L output) still on disk; a directory
# counts only if it is empty (a shared one keeps other packages' files).
leftovers() {
	local p
	while IFS= read -r p; do
		case $p in
		/.) continue ;;
		esac
		if [ -d "$p" ] && [ ! -L "$p" ]; then
			[ -z "$(ls -A "$p")" ] && echo "$p"
		elif [ -e "$p" ] || [ -L "$p" ]; then
			echo "$p"
		fi
	done <"$1"
}

# check_installed WHAT: owners, modes, links, cron, manual of the package
check_installed() {
	is_mode  "$1: dma 2755" /usr/sbin/dma 2755
	is_owner "$1: dma root:mail" /usr/sbin/dma root:mail
	is_mode  "$1: dma-mbox-create 4754" /usr/lib/dma/dma-mbox-create 4754
	is_owner "$1: dma-mbox-create root:mail" /usr/lib/dma/dma-mbox-create root:mail
	is_mode  "$1: dma-forward 4754" /usr/lib/dma/dma-forward 4754
	is_owner "$1: dma-forward root:mail" /usr/lib/dma/dma-forward root:mail
	is_mode  "$1: spool 2770" /var/spool/dma 2770
	is_owner "$1: spool root:mail" /var/spool/dma root:mail
	is_mode  "$1: auth.conf 0640" /etc/dma/auth.conf 640
	is_owner "$1: auth.conf root:mail" /etc/dma/auth.conf root:mail
	is "$1: sendmail, mailq, newaliases link to dma" \
	    "$(readlink /usr/sbin/sendmail /usr/sbin/mailq /usr/sbin/newaliases)" \
	    "$(printf 'dma\ndma\ndma')"
	is "$1: /usr/lib/sendmail, /usr/bin/mailq, /usr/bin/newaliases link to dma" \
	    "$(readlink -f /usr/lib/sendmail /usr/bin/mailq /usr/bin/newaliases)" \
	    "$(printf '/usr/sbin/dma\n/usr/sbin/dma\n/usr/sbin/dma')"
	is "$1: /etc/cron.d/dma runs dma -q every 5 minutes" \
	    "$(grep -v '^#' /etc/cron.d/dma)" \
	    "$(printf '*/5 * * * *\troot\t[ -x /usr/sbin/dma ] && /usr/sbin/dma -q')"
	is "$1: conffiles" \
	    "$(dpkg-query -W -f='${Conffiles}\n' dma | awk 'NF { print $1 }' | sort)" \
	    "$(printf '/etc/cron.d/dma\n/etc/dma/auth.conf\n/etc/dma/dma.conf')"
	is "$1: man finds the compressed manual" "$(man -w dma 2>&1)" \
	    /usr/share/man/man8/dma.8.gz
	is "$1: sendmail.8, mailq.8, newaliases.8 link to it" \
	    "$(cd /usr/share/man/man8 && readlink sendmail.8.gz mailq.8.gz newaliases.8.gz)" \
	    "$(printf 'dma.8.gz\ndma.8.gz\ndma.8.gz')"
	like "$1: it is dma's manual" "$(zcat /usr/share/man/man8/dma.8.gz)" '^\.Dt DMA 8'
	is "$1: the only MTA installed" "$(mtas)" dma
}

# -- preparation -------------------------------------------------------------
# dpkg must see the real paths: drop the harness's fresh /etc/dma and spool
# and its staged `make install`.  No service may be started or stopped
# (policy-rc.d), and nothing of the host's /run is seen.
umount /etc/dma /var/spool/dma
(cd "$STAGE" && find . ! -type d) | while IFS= read -r f; do
	rm -f "/${f#./}"
done
rm -rf /etc/dma /var/spool/dma /usr/local/lib/dma
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -m 1777 /run/lock
echo mail.example.test >/etc/mailname
# A dma package the host has (0.13, or this one) is purged here first.
case $(pkg_status dma) in
"" | un*) ;;
*) $APT purge dma >"$T/purge0.log" 2>&1 ;;
esac
# man-db's trigger would rebuild its index after every operation.
rm -f /var/lib/man-db/auto-update

DMA013=$(ls "$DEBS"/dma_0.13*_"$ARCH".deb 2>/dev/null | tail -n 1)
MAILX=$(ls "$DEBS"/bsd-mailx_*_"$ARCH".deb 2>/dev/null | tail -n 1)
ok "Debian's dma 0.13 and bsd-mailx .debs in $DEBS (test/ci.sh fetches them)" \
    test -f "$DMA013" -a -f "$MAILX" || exit 1
ok "dpkg-buildpackage is installed (debhelper, dpkg-dev)" \
    sh -c 'command -v dpkg-buildpackage && command -v dh' || exit 1

# -- build from a copy: the tree stays as it is --------------------------------
git_state() {
	git -c safe.directory='*' -C "$SRC" status --porcelain --untracked-files=all
}
before=$(git_state)
VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
mkdir -p "$T/build/dma"
tar -C "$SRC" --exclude=.git -cf - . | tar -C "$T/build/dma" -xf -
# Not the calling make's variables (make check-san's sanitizer flags,
# passed on in MAKEFLAGS and exported as SAN, LDFLAGS ...): a clean
# environment, as a packager's shell has.
(cd "$T/build/dma" && env -i PATH="$PATH" HOME="$HOME" \
    DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -b -us -uc) \
    >"$T/build.log" 2>&1
DEB=$T/build/dma_${VERSION}_$ARCH.deb
if ! ok "dpkg-buildpackage -b -us -uc builds dma_${VERSION}_$ARCH.deb" test -f "$DEB"; then
	tail -n 40 "$T/build.log" | sed 's/^/# /'
	exit 1
fi
is "the source tree is left as it was" "$(git_state)" "$before"
ok "dpkg orders $VERSION after 0.13-1+b1" dpkg --compare-versions "$VERSION" gt 0.13-1+b1
like "the package provides mail-transport-agent" "$(dpkg-deb -f "$DEB" Provides)" \
    '^mail-transport-agent$'
is "it conflicts with and replaces the other MTAs" \
    "$(dpkg-deb -f "$DEB" Conflicts Replaces)" \
    "$(printf 'Conflicts: mail-transport-agent\nReplaces: mail-transport-agent')"

# -- install over another MTA, with no configuration ---------------------------
diag "MTA before: $(mtas | tr '\n' ' ')"
dpkg -r bsd-mailx >/dev/null 2>&1
unlike "bsd-mailx not installed before the test installs it" "$(pkg_status bsd-mailx)" '^ii'
capture $APT install "$DEB"
if ! is "apt-get install ./dma_${VERSION}_$ARCH.deb" "$rc" 0; then
	diag "$out" "$err"
	exit 1
fi
is "dma $VERSION installed" "$(pkg_status dma)" "ii $VERSION"
capture dpkg --verify dma
is "dpkg --verify dma: nothing differs" "$rc:$out$err" "0:"
check_installed "fresh install"
is_mode  "fresh install: dma.conf 0640" /etc/dma/dma.conf 640
is_owner "fresh install: dma.conf root:mail" /etc/dma/dma.conf root:mail

like "fresh install: dma.conf uses /etc/mailname" "$(cat /etc/dma/dma.conf)" \
    '^MAILNAME /etc/mailname$'

printf 'Subject: fresh\n\nfresh install\n' | run_as alice /usr/sbin/sendmail bob
ok "fresh install: local mail delivered, no configuration" wait_queue_empty
like "fresh install: in bob's mailbox" "$(cat /var/mail/bob)" '^Subject: fresh$'
like "fresh install: sender's domain from /etc/mailname" "$(cat /var/mail/bob)" \
    '^From alice@mail\.example\.test '

# -- bsd-mailx next to it: no other MTA comes along -------------------------------
capture apt-get -s -o Debug::NoLocking=1 install bsd-mailx
unlike "apt-get -s install bsd-mailx: nothing but bsd-mailx" "$out" '^Inst [^b]'
pkgs=$(installed)
capture $APT install "$MAILX"
is "apt-get install ./bsd-mailx_*.deb proceeds" "$rc" 0
is "it installed bsd-mailx and nothing else" \
    "$(installed | diff - <(printf '%s\n' "$pkgs") | sed -n 's/^< //p')" bsd-mailx
is "dma still the MTA" "$(mtas)" dma
printf 'mail(1) body\n' | run_as alice mail -s 'from mailx' bob
ok "mail(1) hands its message to dma" wait_queue_empty
like "mail(1) message in bob's mailbox" "$(cat /var/mail/bob)" '^Subject: from mailx$'

# -- remove: configuration and queued mail stay; purge: all gone ------------------
dpkg -L dma | sort >"$T/files"
echo DEFER >>/etc/dma/dma.conf
printf 'Subject: queued\n\nheld\n' | run_as alice /usr/sbin/sendmail bob
ok "a message stays queued (DEFER)" test -n "$(qfiles)"
capture $APT remove dma
is "apt-get remove dma" "$rc" 0
is "dma removed, its configuration kept" "$(pkg_status dma)" "rc $VERSION"
unlike "bsd-mailx went with it (it needs an MTA)" "$(pkg_status bsd-mailx)" '^ii'
is "remove: only conffiles and the queue are left" "$(leftovers "$T/files")" \
    "$(printf '/etc/cron.d/dma\n/etc/dma/auth.conf\n/etc/dma/dma.conf')"
like "remove: dma.conf as changed" "$(cat /etc/dma/dma.conf)" '^DEFER$'
ok "remove: the queued message kept" test -n "$(qfiles)"

# Reinstalled: the kept configuration and queue are used; an owner and mode
# the administrator set with dpkg-statoverride win over the postinst's.
dpkg-statoverride --add root mail 4750 /usr/lib/dma/dma-mbox-create
capture $APT install "$DEB"
is "reinstall after remove" "$rc:$(pkg_status dma)" "0:ii $VERSION"
is_mode "reinstall: dpkg-statoverride's mode kept" /usr/lib/dma/dma-mbox-create 4750
dpkg-statoverride --remove /usr/lib/dma/dma-mbox-create
like "reinstall: dma.conf as changed" "$(cat /etc/dma/dma.conf)" '^DEFER$'
capture /usr/sbin/dma -q
ok "reinstall: dma -q empties the kept queue" wait_queue_empty
like "reinstall: the kept message delivered" "$(cat /var/mail/bob)" '^held$'
printf 'Subject: queued\n\nheld again\n' | run_as alice /usr/sbin/sendmail bob
ok "a message stays queued (DEFER)" test -n "$(qfiles)"
capture dpkg --purge dma
is "dpkg --purge dma" "$rc" 0
like "purge says it discards the queued message" "$err" \
    'dma: purge discards 1 queued message\(s\) in /var/spool/dma'
is "purge: nothing of the package left" "$(leftovers "$T/files")" ""
st=$(pkg_status dma | tr -d ' ')
ok "purge: dma not installed, no config-files" test "$st" = "" -o "$st" = un
is "purge: no statoverride left" "$(dpkg-statoverride --list | grep dma)" ""

# -- upgrade from Debian's dma 0.13 with mail in its queue --------------------------
capture $APT install "$DMA013"
is "apt-get install Debian's dma 0.13" "$rc:$(pkg_status dma)" "0:ii 0.13-1+b1"
echo DEFER >>/etc/dma/dma.conf
printf 'Subject: left by 0.13\n\nqueued by 0.13\n' |
    run_as alice /usr/sbin/sendmail bob alice
nq=$(qfiles | wc -l)
is "0.13 queued the message for two recipients" "$nq" 2
for q in $(qfiles); do
	diag "0.13's $q:" "$(cat "$SPOOL/$q")"
done
cp /etc/dma/dma.conf "$T/conf013"
capture $APT install "$DEB"
if ! is "apt-get install ./dma_${VERSION}_$ARCH.deb over 0.13" "$rc" 0; then
	diag "$out" "$err"
fi
is "dma $VERSION installed" "$(pkg_status dma)" "ii $VERSION"
is_file "0.13's dma.conf (ucf's) kept as it was" /etc/dma/dma.conf "$T/conf013"
is "nothing put aside is left" "$(ls /etc/dma)" "$(printf 'auth.conf\ndma.conf')"
capture dpkg --verify dma
is "dpkg --verify dma: only the kept dma.conf differs" "$rc:$out$err" \
    "0:??5?????? c /etc/dma/dma.conf"
unlike "dma.conf no longer registered with ucf" "$(cat /var/lib/ucf/registry 2>/dev/null)" \
    '/etc/dma/'
check_installed "upgrade"
capture /usr/sbin/dma -bp
like "mailq lists 0.13's message" "$out" 'bob'
capture /usr/sbin/dma -q
is "dma -q" "$rc:$err" "0:"
ok "0.13's queue emptied" wait_queue_empty
like "0.13's message delivered to bob" "$(cat /var/mail/bob)" '^queued by 0\.13$'
like "0.13's message delivered to alice" "$(cat /var/mail/alice)" '^queued by 0\.13$'
is "no queue file left" "$(ls -A "$SPOOL" | grep -Ev '^(flush|J.*)$')" ""

# -- purge after the upgrade: 0.13's debconf answers go too -------------------
dpkg -L dma | sort >"$T/files"
capture dpkg --purge dma
is "dpkg --purge dma after the upgrade" "$rc:$(printf '%s\n' "$err" | grep -v man-db)" "0:"
is "purge: nothing of the package left" "$(leftovers "$T/files")" ""
ok "purge: /etc/dma and the spool are gone" test ! -e /etc/dma -a ! -e /var/spool/dma
is "purge: no debconf answers of dma left" "$(debconf-show dma 2>/dev/null)" ""

# -- over a configuration `make install` left: kept, no conffile prompt ---------
mkdir -p /etc/dma
printf 'DEFER\n' >/etc/dma/dma.conf
printf 'bob|relay.example.org:secret\n' >/etc/dma/auth.conf
chown root:mail /etc/dma/dma.conf /etc/dma/auth.conf
chmod 0640 /etc/dma/dma.conf /etc/dma/auth.conf
capture $APT install "$DEB"
is "apt-get install over make install's configuration" "$rc:$(pkg_status dma)" \
    "0:ii $VERSION"
is "make install's dma.conf kept" "$(cat /etc/dma/dma.conf)" DEFER
is "make install's auth.conf kept" "$(cat /etc/dma/auth.conf)" \
    'bob|relay.example.org:secret'
is "nothing put aside is left" "$(ls /etc/dma)" "$(printf 'auth.conf\ndma.conf')"
capture dpkg --purge dma
is "dpkg --purge dma" "$rc" 0
ok "purge: /etc/dma is gone" test ! -e /etc/dma
