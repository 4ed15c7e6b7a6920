#!/usr/bin/env bash
# Installs the real peers radcare's tests talk to, from Debian's packages, and
# cargo-nextest. Idempotent: installs only what is missing, and runs
# `apt-get update` only then.
#
#   scripts/install-peers.sh           freeradius, freeradius-utils (radclient,
#                                      radtest), tshark, chromium (+ fonts for
#                                      the portal's screenshots, Latin and CJK),
#                                      postgresql, sqlite3, and iproute2,
#                                      ethtool, ping, nc for the bridge's
#                                      network-namespace test, kannel and
#                                      kannel-extras (the SMS and WAP Push
#                                      gateway and its fake SMSC), curl (the
#                                      Debian package check, scripts/test-deb.sh),
#                                      swupdate, cpio and openssl (a hawkBit
#                                      device: SWUpdate's suricatta and the
#                                      signed .swu it installs)
#   scripts/install-peers.sh --bench   the same, plus radsecproxy, socat, haproxy,
#                                      wrk and python3-venv (goosebit's venv in
#                                      scripts/bench-ota.sh)
#
# Debian starts the freeradius and kannel services when they are installed;
# the tests run their own instances on random ports, so the system ones are
# stopped and disabled (they would hold 1812/1813 and Kannel's ports).
set -euo pipefail

bench=0
for arg in "$@"; do
	case "$arg" in
	--bench) bench=1 ;;
	-h | --help)
		sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "install-peers.sh: unknown argument: $arg (try --help)" >&2
		exit 2
		;;
	esac
done

if [[ "$(id -u)" -eq 0 ]]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	as_root=()
fi
root() {
	if [[ "$(id -u)" -ne 0 && ${#as_root[@]} -eq 0 ]]; then
		echo "install-peers.sh: need root or sudo to run: $*" >&2
		exit 1
	fi
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "$@"
}

export DEBIAN_FRONTEND=noninteractive

packages=(freeradius freeradius-utils tshark chromium postgresql sqlite3
	fonts-liberation fonts-wqy-zenhei iproute2 ethtool iputils-ping netcat-openbsd
	kannel kannel-extras nginx-light curl swupdate cpio openssl)
if ((bench)); then
	packages+=(radsecproxy socat haproxy wrk python3-venv)
fi

installed() {
	[[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
	echo "install-peers: installing ${missing[*]}"
	# tshark: answer "may non-superusers capture packets?" ahead (no).
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		root debconf-set-selections
	# Keep services from starting during the install where nothing says so yet
	# (Docker images ship this file already; leave theirs alone).
	made_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' | root tee /usr/sbin/policy-rc.d >/dev/null
		root chmod 0755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	status=0
	root apt-get update -q || status=$?
	if ((status == 0)); then
		root apt-get install -y -q --no-install-recommends \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			"${missing[@]}" || status=$?
	fi
	if ((made_policy)); then
		root rm -f /usr/sbin/policy-rc.d
	fi
	if ((status != 0)); then
		echo "install-peers: apt-get failed (exit $status)" >&2
		exit "$status"
	fi
fi

# The system FreeRADIUS must not hold 1812/1813: stop it and keep it from
# starting at boot. Only the system daemon is touched (the one using Debian's
# /etc/freeradius config, i.e. started without -d); test instances (started
# with -d <tmpdir>, possibly by another test run) are left alone.
stop_system_freeradius() {
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
		root systemctl disable --now freeradius >/dev/null 2>&1 || true
	fi
	if command -v service >/dev/null 2>&1; then
		root service freeradius stop >/dev/null 2>&1 || true
	fi
	if command -v update-rc.d >/dev/null 2>&1 && [[ -e /etc/init.d/freeradius ]]; then
		root update-rc.d freeradius disable >/dev/null 2>&1 || true
	fi
	# Last resort: a system freeradius still running (by pid, not by name).
	local pid args
	for pid in $(pgrep -x freeradius || true); do
		args="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
		[[ -n "$args" ]] || continue
		if [[ " $args " != *" -d "* ]]; then
			echo "install-peers: stopping system freeradius (pid $pid)"
			root kill "$pid" 2>/dev/null || true
		fi
	done
}
if installed freeradius; then
	stop_system_freeradius
fi

# The system Kannel (its bearerbox and boxes, Debian's /etc/kannel config) is
# not used: the tests start their own with a generated config.
stop_system_kannel() {
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
		root systemctl disable --now kannel >/dev/null 2>&1 || true
	fi
	if command -v service >/dev/null 2>&1 && [[ -e /etc/init.d/kannel ]]; then
		root service kannel stop >/dev/null 2>&1 || true
	fi
	if command -v update-rc.d >/dev/null 2>&1 && [[ -e /etc/init.d/kannel ]]; then
		root update-rc.d kannel disable >/dev/null 2>&1 || true
	fi
	# Debian's init script reads START_* from here: start nothing at boot.
	if [[ -e /etc/default/kannel ]]; then
		root sed -i -E 's/^(START_[A-Z]+)=.*/\1=/' /etc/default/kannel
	fi
}
if installed kannel; then
	stop_system_kannel
fi

# Debian enables a system SWUpdate (its web server, on /tmp's control sockets);
# the tests run their own suricatta daemons, each with its own TMPDIR.
if installed swupdate && [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
	root systemctl disable --now swupdate.socket swupdate.service swupdate-progress.service \
		>/dev/null 2>&1 || true
fi

# cargo-nextest: needed in CI; elsewhere test.sh can fall back to cargo test.
nextest_required=0
[[ "${CI:-}" == true ]] && nextest_required=1
if ! cargo nextest --version >/dev/null 2>&1; then
	echo "install-peers: installing cargo-nextest (cargo install --locked)"
	if ! cargo install --locked -j "${CARGO_BUILD_JOBS:-2}" cargo-nextest; then
		((nextest_required)) && exit 1
		echo "install-peers: note: cargo-nextest install failed; test.sh falls back to cargo test" >&2
	fi
fi

# One line per peer, with its version; a peer that is still missing fails.
failed=0
report() { # name, command...
	local name="$1" out status=0
	shift
	out="$("$@" 2>/dev/null)" || status=$?
	if ((status == 0)) && [[ -z "${out//[[:space:]]/}" ]]; then
		out="$("$@" 2>&1)" || status=$? # some print their version on stderr
	fi
	out="$(printf '%s\n' "$out" | grep -m1 -v '^[[:space:]]*$' || true)"
	if ((status == 0)) && [[ -n "$out" ]]; then
		printf '%-14s %s\n' "$name" "$out"
	else
		printf '%-14s MISSING\n' "$name"
		failed=1
	fi
}
pg_bin() {
	local d
	d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -1)"
	echo "${d:-/usr/lib/postgresql/missing/bin}/$1"
}
sbin() { # freeradius lives in /usr/sbin, not always on an ordinary user's PATH
	command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"
}

echo "install-peers: peers"
report freeradius "$(sbin freeradius)" -v
report radclient radclient -v
report radtest sh -c 'command -v radtest'
report tshark tshark --version
report chromium chromium --version
report postgresql "$(pg_bin postgres)" --version
report sqlite3 sqlite3 --version
report bearerbox sh -c 'command -v bearerbox || ls /usr/sbin/bearerbox'
report fakesmsc sh -c 'ls /usr/lib/kannel/test/fakesmsc'
report swupdate swupdate --version
report cpio cpio --version
report openssl openssl version
if ((bench)); then
	report radsecproxy "$(sbin radsecproxy)" -v
fi
if ((nextest_required)); then
	report cargo-nextest cargo nextest --version
else
	saved="$failed"
	report cargo-nextest cargo nextest --version
	failed="$saved"
fi
exit "$failed"
