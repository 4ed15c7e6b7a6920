#!/usr/bin/env bash
# Dials as a demo subscriber through `radcare serve --demo`, the way a BRAS would:
# an Access-Request (radtest), then, if radcare let the subscriber into the walled
# garden, an Accounting Start giving it the address 127.0.0.1, so that the portal at
# http://127.0.0.1:8080/ shows this subscriber's page to a browser on this machine.
#
#   scripts/demo-dial.sh carol carol-pass     (arrears)
#   scripts/demo-dial.sh bob wrong            (wrong password)
set -euo pipefail

user="${1:-carol}"
password="${2:-${user}-pass}"
server="${RADCARE_AUTH:-127.0.0.1:1812}"
acct="${RADCARE_ACCT:-127.0.0.1:1813}"
secret="${RADCARE_SECRET:-testing123}"

reply="$(radtest "$user" "$password" "$server" 0 "$secret" 2>&1)" || true
printf '%s\n' "$reply" | sed -n '/^Received/,$p'
class="$(printf '%s\n' "$reply" | awk '$1 == "Class" { print $3 }')"
if [[ -z "$class" ]]; then
	echo "no walled-garden Accept for $user (accepted or rejected as usual)"
	exit 0
fi
printf 'User-Name = "%s"\nAcct-Status-Type = Start\nAcct-Session-Id = "demo-%s"\nFramed-IP-Address = 127.0.0.1\nNAS-IP-Address = 127.0.0.1\nClass = %s\n' \
	"$user" "$$" "$class" | radclient -q "$acct" acct "$secret"
echo "open http://127.0.0.1:8080/ to see what $user sees"
