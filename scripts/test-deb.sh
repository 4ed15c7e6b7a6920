#!/usr/bin/env bash
# Installs the built .deb on this machine and checks it as an operator would meet it:
# the static user, the config root:radcare 0640 as a conffile, the man page and
# completions, `radcare check-config` on the packaged config, the installed binary
# serving on it (/healthz on the admin listener, SIGTERM exits 0); then purges it.
# Needs root (CI runs as root). No service is left running: an install does not start
# one (a policy-rc.d that says no, when none is there; a container has no systemd), and
# the unit is stopped before the purge where systemd runs.
#
#   scripts/test-deb.sh [PACKAGE.deb]      default: the newest target/debian/*.deb
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target="${CARGO_TARGET_DIR:-target}"
deb="${1:-$(ls -t "$target"/debian/radcare_*.deb 2>/dev/null | head -n 1)}"
if [[ -z "$deb" || ! -f "$deb" ]]; then
	echo "test-deb.sh: no package (run scripts/build-deb.sh first)" >&2
	exit 1
fi
if [[ "$(id -u)" -ne 0 ]]; then
	echo "test-deb.sh: needs root (it installs $deb)" >&2
	exit 1
fi
deb="$(realpath "$deb")"

fail() {
	echo "test-deb.sh: FAIL: $*" >&2
	exit 1
}
step() { printf '\n==> %s\n' "$*"; }

policy=/usr/sbin/policy-rc.d
own_policy=0
server=""
cleanup() {
	if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
		kill -KILL "$server" 2>/dev/null || true
	fi
	if [[ -d /run/systemd/system ]]; then
		systemctl stop radcare.service 2>/dev/null || true
	fi
	if dpkg-query -W radcare >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive dpkg --purge radcare >/dev/null || true
	fi
	if ((own_policy)); then
		rm -f "$policy"
	fi
}
trap cleanup EXIT

if [[ ! -e "$policy" ]]; then
	printf '#!/bin/sh\n# test-deb.sh: no service starts while it installs radcare\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	own_policy=1
fi

step "install $deb"
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb"

step "what the package put in place"
getent passwd radcare >/dev/null || fail "no radcare user"
[[ "$(stat -c '%U:%G %a' /etc/radcare/radcare.toml)" == "root:radcare 640" ]] ||
	fail "/etc/radcare/radcare.toml is $(stat -c '%U:%G %a' /etc/radcare/radcare.toml), not root:radcare 640"
dpkg-query -W -f='${Conffiles}\n' radcare | grep -q ' /etc/radcare/radcare.toml ' ||
	fail "the config is not a conffile"
for f in /usr/bin/radcare /usr/lib/systemd/system/radcare.service \
	/usr/share/man/man1/radcare.1.gz /usr/share/bash-completion/completions/radcare \
	/usr/share/radcare/systemd/radcare-bridge.conf /usr/share/radcare/dictionaries/dictionary; do
	[[ -e "$f" ]] || fail "$f missing"
done
zcat /usr/share/man/man1/radcare.1.gz | grep -q 'check\\-config' || fail "the man page lacks check-config"
radcare --version

step "radcare check-config /etc/radcare/radcare.toml (as radcare)"
setpriv --reuid=radcare --regid=radcare --init-groups radcare check-config /etc/radcare/radcare.toml

step "the installed binary serves on the packaged config"
admin="$(sed -n '/^\[admin\]/,/^\[/s/^listen *= *"\(.*\)"/\1/p' /etc/radcare/radcare.toml)"
[[ -n "$admin" ]] || fail "no [admin] listen in the packaged config"
log="$(mktemp)"
(cd /var/lib/radcare && exec setpriv --reuid=radcare --regid=radcare --init-groups radcare serve --config /etc/radcare/radcare.toml) 2>"$log" &
server=$!
healthy=0
for _ in $(seq 1 100); do
	if [[ "$(curl -fsS --max-time 1 "http://$admin/healthz" 2>/dev/null)" == "ok" ]]; then
		healthy=1
		break
	fi
	kill -0 "$server" 2>/dev/null || break
	sleep 0.2
done
((healthy)) || {
	cat "$log" >&2
	fail "no /healthz on $admin"
}
grep -q 'radcare is serving' "$log" || fail "no serving line"
kill -TERM "$server"
status=0
wait "$server" || status=$?
server=""
[[ $status -eq 0 ]] || {
	cat "$log" >&2
	fail "exit status $status after SIGTERM"
}
rm -f "$log"

step "purge"
if [[ -d /run/systemd/system ]]; then
	systemctl stop radcare.service 2>/dev/null || true
fi
DEBIAN_FRONTEND=noninteractive dpkg --purge radcare
[[ ! -e /usr/bin/radcare && ! -e /etc/radcare/radcare.toml ]] || fail "files left after purge"
echo "test-deb.sh: ok"
