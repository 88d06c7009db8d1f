# install-destdir.sh - `make install` into a DESTDIR, as root and as an
# ordinary user, read back: paths, owners and modes are the documented ones.

root=$T/root
ok "make install (root) into DESTDIR" \
    make -s -C "$SRC" install install-links install-cron install-systemd \
    install-mailer-conf DESTDIR="$root" PREFIX=/usr LIBEXECDIR=/usr/lib/dma

is_mode  "dma is 2755" "$root/usr/sbin/dma" 2755
is_owner "dma is root:mail" "$root/usr/sbin/dma" root:mail
is_mode  "dma-mbox-create is 4754" "$root/usr/lib/dma/dma-mbox-create" 4754
is_owner "dma-mbox-create is root:mail" "$root/usr/lib/dma/dma-mbox-create" root:mail
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
ok "second install" make -s -C "$SRC" install DESTDIR="$root" PREFIX=/usr LIBEXECDIR=/usr/lib/dma
is "existing dma.conf kept" "$(cat "$root/etc/dma/dma.conf")" DEFER

# Without root: no owners, but the same tree and modes.
user=$T/user
mkdir "$user" && chown alice "$user"
capture run_as alice make -s -C "$SRC" install DESTDIR="$user" PREFIX=/usr LIBEXECDIR=/usr/lib/dma
is "make install as a user exits 0" "$rc" 0
like "it says owners were not applied" "$out$err" 'not root'
is_mode "user install: dma 2755" "$user/usr/sbin/dma" 2755
is_mode "user install: helper 4754" "$user/usr/lib/dma/dma-mbox-create" 4754
is_owner "user install: owned by the user" "$user/usr/sbin/dma" alice:alice

ok "make uninstall" make -s -C "$SRC" uninstall DESTDIR="$root" PREFIX=/usr LIBEXECDIR=/usr/lib/dma
not_ok "dma removed" test -e "$root/usr/sbin/dma"
not_ok "sendmail link removed" test -L "$root/usr/sbin/sendmail"
ok "configuration kept by uninstall" test -f "$root/etc/dma/dma.conf"
