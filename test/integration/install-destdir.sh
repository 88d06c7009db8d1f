# install-destdir.sh - `make install` into a DESTDIR, as root and as an
# ordinary user, read back: paths, owners and modes are the documented ones.
# Another set of paths or flags rebuilds (never installs the last build's
# binaries), and a sanitizer build is refused.
#
# The builds happen in a copy of the source tree ($B), never in $SRC: the
# tree the suite runs from stays as it is.  The make variables of the
# calling make (MAKEFLAGS and the exported SAN, LDFLAGS ... of make
# check-san) are not passed on: make runs with a clean environment.

B=$T/src
mkdir "$B"
tar -C "$SRC" --exclude=./.git --exclude=./fuzz/obj --exclude=./analyze -cf - . |
    tar -C "$B" -xf -
# mk ARGS...: make in the copy, without the caller's make variables
mk() {
	env -i PATH="$PATH" HOME="$HOME" make -s -C "$B" "$@"
}
mk clean
ok "build with the default paths" mk -j2 all

root=$T/root
ok "make install (root) into DESTDIR" \
    mk install install-links install-cron install-systemd \
    install-mailer-conf DESTDIR="$root" PREFIX=/usr LIBEXECDIR=/usr/lib/dma

is_mode  "dma is 2755" "$root/usr/sbin/dma" 2755
is_owner "dma is root:mail" "$root/usr/sbin/dma" root:mail
is_mode  "dma-mbox-create is 4754" "$root/usr/lib/dma/dma-mbox-create" 4754
is_owner "dma-mbox-create is root:mail" "$root/usr/lib/dma/dma-mbox-create" root:mail
is_mode  "dma-forward is 4754" "$root/usr/lib/dma/dma-forward" 4754
is_owner "dma-forward is root:mail" "$root/usr/lib/dma/dma-forward" root:mail
is_mode  "manual page 0644" "$root/usr/share/man/man8/dma.8" 644
is_mode  "spool directory 2770" "$root/var/spool/dma" 2770
is_owner "spool directory root:mail" "$root/var/spool/dma" root:mail
is_mode  "mail directory 2775" "$root/var/mail" 2775
is_mode  "dma.conf 0640" "$root/etc/dma/dma.conf" 640
is_owner "dma.conf root:mail" "$root/etc/dma/dma.conf" root:mail
is_mode  "auth.conf 0640" "$root/etc/dma/auth.conf" 640
is_owner "auth.conf root:mail" "$root/etc/dma/auth.conf" root:mail
for l in sendmail mailq newaliases; do
	is "$l links to dma" "$(readlink "$root/usr/sbin/$l")" dma
done
is "cron file runs dma -q" "$(grep -v '^#' "$root/etc/cron.d/dma")" \
    "$(printf '*/5 * * * *\troot\t[ -x /usr/sbin/dma ] && /usr/sbin/dma -q')"
like "systemd service runs dma -q -D" "$(cat "$root/lib/systemd/system/dma-flush.service")" \
    '^ExecStart=/usr/sbin/dma -q -D$'
ok "systemd timer installed" test -f "$root/lib/systemd/system/dma-flush.timer"
like "mailer.conf example names dma" "$(cat "$root/usr/share/examples/dma/mailer.conf")" \
    '^sendmail	/usr/sbin/dma$'

# The shipped sample configuration parses: dma run with it as its config.
dma_conf < "$root/etc/dma/dma.conf"
capture "$DMA" -bp
is "shipped dma.conf parses (-bp works)" "$rc:$err" "0:"
grep -E '^#?(SMARTHOST|PORT|VERIFYCERT|SECURETRANSFER|STARTTLS|AUTHPATH)( |$)' \
    "$root/etc/dma/dma.conf" | sed 's/^#//' | tail -n 6 > "$T/sample.conf"
dma_conf < "$T/sample.conf"
auth_conf < "$root/etc/dma/auth.conf"
capture "$DMA" -bp
is "sample smarthost setup, uncommented, parses" "$rc:$err" "0:"
like "sample smarthost setup enables VERIFYCERT" "$(cat "$T/sample.conf")" '^VERIFYCERT$'

# An existing configuration is never overwritten.
echo "DEFER" > "$root/etc/dma/dma.conf"
ok "second install" mk install DESTDIR="$root" PREFIX=/usr LIBEXECDIR=/usr/lib/dma
is "existing dma.conf kept" "$(cat "$root/etc/dma/dma.conf")" DEFER

# Without root: no owners, but the same tree and modes.
user=$T/user
mkdir "$user" && chown alice "$user"
capture run_as alice make -s -C "$B" install DESTDIR="$user" PREFIX=/usr LIBEXECDIR=/usr/lib/dma
is "make install as a user exits 0" "$rc" 0
like "it says owners were not applied" "$out$err" 'not root'
is_mode "user install: dma 2755" "$user/usr/sbin/dma" 2755
is_mode "user install: helper 4754" "$user/usr/lib/dma/dma-mbox-create" 4754
is_owner "user install: owned by the user" "$user/usr/sbin/dma" alice:alice

ok "make uninstall" mk uninstall DESTDIR="$root" PREFIX=/usr LIBEXECDIR=/usr/lib/dma
not_ok "dma removed" test -e "$root/usr/sbin/dma"
not_ok "sendmail link removed" test -L "$root/usr/sbin/sendmail"
ok "configuration kept by uninstall" test -f "$root/etc/dma/dma.conf"

# -- the paths of the build are those of the install ------------------------
# The install above rebuilt with PREFIX=/usr LIBEXECDIR=/usr/lib/dma after
# the default build: the installed binary and page have those paths.
root=$T/root2
ok "install again into an empty DESTDIR" mk install DESTDIR="$root" PREFIX=/usr LIBEXECDIR=/usr/lib/dma
capture "$root/usr/sbin/dma" -bV
like "after a default build, install with LIBEXECDIR=/usr/lib/dma: the binary has it" \
    "$out" '^mbox helper: /usr/lib/dma/dma-mbox-create$'
like "... and the manual page has it" "$(cat "$root/usr/share/man/man8/dma.8")" \
    '^\.It Pa /usr/lib/dma/dma-mbox-create$'

# Other paths once more: everything is rebuilt with them.
ok "nothing to rebuild with the same paths" mk -q all PREFIX=/usr LIBEXECDIR=/usr/lib/dma
not_ok "another LIBEXECDIR: out of date" mk -q all PREFIX=/usr LIBEXECDIR=/opt/two
not_ok "another CFLAGS: out of date" mk -q all PREFIX=/usr LIBEXECDIR=/usr/lib/dma CFLAGS=-DX=1
not_ok "WERROR: out of date" mk -q all PREFIX=/usr LIBEXECDIR=/usr/lib/dma WERROR=-Werror
not_ok "SAN: out of date" mk -q all PREFIX=/usr LIBEXECDIR=/usr/lib/dma SAN=-fsanitize=address
not_ok "another CONFDIR: out of date" mk -q all PREFIX=/usr LIBEXECDIR=/usr/lib/dma CONFDIR=/opt/etc
ok "back to the built values: nothing to rebuild" mk -q all PREFIX=/usr LIBEXECDIR=/usr/lib/dma
two=$T/two
ok "install with LIBEXECDIR=/opt/two CONFDIR=/opt/two/etc" \
    mk install DESTDIR="$two" PREFIX=/usr LIBEXECDIR=/opt/two CONFDIR=/opt/two/etc
capture "$two/usr/sbin/dma" -bV
is "-bV of the new install: exit 0" "$rc" 0
like "-bV: the version" "$out" "^DragonFly Mail Agent $DMA_VERSION\$"
like "-bV: the new helper path" "$out" '^mbox helper: /opt/two/dma-mbox-create$'
like "-bV: the new configuration path" "$out" '^configuration: /opt/two/etc/dma.conf$'
ok "the helper is where the binary looks" test -x "$two/opt/two/dma-mbox-create"
page=$(cat "$two/usr/share/man/man8/dma.8")
like "manual page: FILES names the helper of this build" "$page" '^\.It Pa /opt/two/dma-mbox-create$'
like "manual page: FILES names the configuration of this build" "$page" '^\.It Pa /opt/two/etc/dma\.conf$'
unlike "manual page: no placeholder left" "$page" '@[A-Z]+@'
unlike "manual page: no other helper path" "$page" 'lib/dma/dma-mbox-create'
capture mandoc -Tlint -W warning "$two/usr/share/man/man8/dma.8"
is "manual page of this build: mandoc -Tlint clean" "$out$err" ""

# -- a sanitizer build is never installed ------------------------------------
for v in SAN=-fsanitize=address CFLAGS=-fsanitize=undefined LDFLAGS=-fsanitize=address; do
	capture mk install DESTDIR="$T/san" "$v"
	not_ok "install $v: refused" test "$rc" = 0
	like "install $v: the reason" "$out$err" 'refusing to install a sanitizer build'
	not_ok "install $v: nothing installed" test -e "$T/san"
done
