#!/usr/bin/env bash
# The Debian package (tools/package.sh): builds certa_<version>_<arch>.deb,
# checks its metadata and contents, verifies the systemd unit with
# systemd-analyze (when present), installs it with dpkg -i, checks the
# files, the certa system user and the directories, runs the installed
# `certa node --check` as that user on a validator laid out as the unit
# expects, then removes and purges it and checks that the machine is as it
# was (/etc/passwd, group, shadow, gshadow byte for byte; no file left).
#
# It changes the system, so it runs only as root on a machine where no
# certa package, user, group, /etc/certa or /var/lib/certa exists, and
# prints SKIP otherwise (also without dpkg-deb, dpkg-shlibdeps or help2man:
# tools/install-deps.sh installs them).
set -euo pipefail
CERTA=${CERTA_BIN:?CERTA_BIN must point at the certa binary}
src=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${CERTA_BUILD_DIR:-$(dirname "$CERTA")}
BASE_PORT=$((24700 + ${CERTA_TEST_PORT_OFFSET:-0}))
skip() { echo "SKIP: it_package: $*"; exit 0; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i)"
for t in dpkg-deb dpkg-shlibdeps help2man runuser; do
  command -v "$t" >/dev/null || skip "$t not installed (bash tools/install-deps.sh)"
done
if dpkg-query -W -f='${Status}' certa 2>/dev/null | grep -q installed; then
  skip "a certa package is installed on this machine"
fi
getent passwd certa >/dev/null && skip "a user certa exists"
getent group certa >/dev/null && skip "a group certa exists"
[ ! -e /etc/certa ] && [ ! -e /var/lib/certa ] || skip "/etc/certa or /var/lib/certa exists"

work=$(mktemp -d)
installed=0
cleanup() {
  if [ "$installed" -eq 1 ]; then
    dpkg --purge certa >/dev/null 2>&1 || true
    rm -rf /etc/certa /var/lib/certa
  fi
  rm -rf "$work"
}
trap cleanup EXIT
accounts() { sha256sum /etc/passwd /etc/group /etc/shadow /etc/gshadow 2>/dev/null; }
accounts > "$work/accounts.before"

# 1. Build and inspect.
deb=$(bash "$src/tools/package.sh" "$build" "$work")
version=$("$CERTA" --version | sed -n '1s/^certa //p')
arch=$(dpkg --print-architecture)
[ "$(basename "$deb")" = "certa_${version}_${arch}.deb" ] || fail "package named $(basename "$deb")"
[ "$(dpkg-deb -f "$deb" Package)" = certa ] || fail "Package field"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version field"
dpkg-deb -f "$deb" Depends | grep -q libzmq5 || fail "Depends lacks libzmq5: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb -c "$deb" > "$work/contents"
for f in ./usr/bin/certa ./usr/share/man/man1/certa.1.gz \
         ./lib/systemd/system/certa-node@.service ./usr/share/doc/certa/OPERATIONS.md; do
  grep -q " $f\$" "$work/contents" || fail "the package lacks $f"
done
echo "ok: $(basename "$deb") built"

# 2. Install.
installed=1
dpkg -i "$deb" > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i failed"; }
[ -x /usr/bin/certa ] || fail "/usr/bin/certa missing"
/usr/bin/certa --version | grep -q "^certa $version\$" || fail "installed certa --version"
# read whole first: with pipefail, `zcat | grep -q` fails when grep finds
# its line and exits before zcat has written the rest (SIGPIPE)
zcat /usr/share/man/man1/certa.1.gz > "$work/certa.1"
grep -q '^\.SS "certa node"' "$work/certa.1" || fail "the man page lacks certa node"
grep -q -- 'certa node \\-\\-check\|certa node --check' "$work/certa.1" ||
  fail "the man page lacks --check"
unit=/lib/systemd/system/certa-node@.service
for d in User=certa NoNewPrivileges=yes ProtectSystem=strict 'ReadWritePaths=/var/lib/certa/%i' \
         LimitMEMLOCK=infinity Restart=on-failure KillSignal=SIGTERM; do
  grep -qx "$d" "$unit" || fail "the unit lacks $d"
done
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd certa) || fail "no user certa"
[ "$uid" -lt 1000 ] || fail "certa is not a system user (uid $uid)"
[ "$shell" = /usr/sbin/nologin ] || fail "certa's shell is $shell"
[ "$home" = /var/lib/certa ] || fail "certa's home is $home"
[ "$(stat -c '%U:%G %a' /etc/certa)" = "root:certa 750" ] || fail "/etc/certa: $(stat -c '%U:%G %a' /etc/certa)"
[ "$(stat -c '%U:%G %a' /var/lib/certa)" = "certa:certa 750" ] || fail "/var/lib/certa: $(stat -c '%U:%G %a' /var/lib/certa)"
echo "ok: installed: binary, man page, unit, user certa (uid $uid), /etc/certa, /var/lib/certa"

if command -v systemd-analyze >/dev/null; then
  set +e
  systemd-analyze verify "$unit" > "$work/verify" 2>&1
  rc=$?
  set -e
  if [ "$rc" -ne 0 ] || grep -q "certa-node" "$work/verify"; then
    cat "$work/verify"; fail "systemd-analyze verify $unit (exit $rc)"
  fi
  echo "ok: systemd-analyze verify $unit"
else
  echo "SKIP: systemd-analyze not installed: unit not verified"
fi

# 3. A validator laid out as the unit expects, checked by the installed
#    binary as the certa user (keys readable by it alone, data dir in
#    /var/lib/certa/NAME, its only writable path under the unit).
"$CERTA" genesis --validators 4 --dir "$work/g" --base-port "$BASE_PORT" >/dev/null
install -d -o root -g certa -m 0750 /etc/certa/node0
install -o certa -g certa -m 0600 "$work/g/node0/sign.pem" "$work/g/node0/curve.key" /etc/certa/node0/
install -o root -g certa -m 0640 "$work/g/genesis.json" /etc/certa/node0/genesis.json
python3 - "$work/g/node0/node.json" /etc/certa/node0/node.json <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["genesis"] = "genesis.json"
c["data_dir"] = "/var/lib/certa/node0"
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF
chgrp certa /etc/certa/node0/node.json && chmod 0640 /etc/certa/node0/node.json
install -d -o certa -g certa -m 0700 /var/lib/certa/node0
runuser -u certa -- /usr/bin/certa node --check --config /etc/certa/node0/node.json > "$work/check" 2>&1 ||
  { cat "$work/check"; fail "the installed certa node --check refused the unit's layout"; }
grep -q "OK (0 warning(s))" "$work/check" || { cat "$work/check"; fail "--check warned"; }
echo "ok: certa node --check passes as user certa on /etc/certa/node0"

# 4. Remove: the binary goes, the user and directories stay until purge.
dpkg -r certa > "$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r failed"; }
[ ! -e /usr/bin/certa ] && [ ! -e "$unit" ] || fail "dpkg -r left the binary or the unit"
getent passwd certa >/dev/null || fail "dpkg -r removed the user (only purge should)"

# 5. Purge with a validator's data still there: kept and named, never
#    deleted; the user goes.
dpkg --purge certa > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge failed"; }
grep -q "/var/lib/certa is not empty; kept" "$work/purge.log" || { cat "$work/purge.log"; fail "purge did not name the kept data"; }
[ -d /var/lib/certa/node0 ] || fail "purge deleted a validator's data"
getent passwd certa >/dev/null && fail "purge left the user certa"
getent group certa >/dev/null && fail "purge left the group certa"
rm -rf /etc/certa /var/lib/certa

# 6. Install and purge again on an empty layout: nothing left at all.
dpkg -i "$deb" > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "second dpkg -i failed"; }
dpkg --purge certa > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "second purge failed"; }
installed=0
for p in /etc/certa /var/lib/certa /usr/bin/certa "$unit" /usr/share/doc/certa \
         /usr/share/man/man1/certa.1.gz; do
  [ ! -e "$p" ] || fail "purge left $p"
done
dpkg-query -W certa >/dev/null 2>&1 && fail "dpkg still knows the package"
accounts > "$work/accounts.after"
diff "$work/accounts.before" "$work/accounts.after" ||
  fail "the account files differ from before the install"
echo "it_package: all checks passed (the machine is as it was)"
