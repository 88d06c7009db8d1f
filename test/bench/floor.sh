#!/bin/sh
# floor.sh - stand-in reference for test/bench when the original dma
# package cannot be downloaded: the least work a durable MTA must do.
#
# Installed by inner.sh as the reference "dma" (so its process name is dma)
# inside the benchmark namespace, never on the host.
#   submission (any arguments but -q): copy stdin to a new file in
#       /var/tmp/dma-floor (1777) and fsync it; nothing else (no headers, no
#       recipients, no queue id)
#   -q: append each such file to /var/mail/bob behind a "From " line,
#       fsync the mailbox, remove the file
# No remote delivery: the benchmark reports those figures as n/a.

dir=/var/tmp/dma-floor

for a in "$@"; do
	if [ "$a" = -q ]; then
		for f in "$dir"/F*; do
			[ -f "$f" ] || continue
			{ printf 'From alice Thu Jan  1 00:00:00 1970\n'; cat "$f"; echo; } \
			    >>/var/mail/bob || exit 75
			sync /var/mail/bob || exit 75
			rm -f "$f"
		done
		exit 0
	fi
done

set -C
cat >"$dir/F$$" || exit 75
exec sync "$dir/F$$"
