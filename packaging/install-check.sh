#!/bin/bash
# Runs inside a throwaway copy of a clean Debian root (scripts/install-check): installs the binsd package
# with apt as an installer would, checks what it installed, runs the daemon's commands, then purges it and
# checks that nothing is left behind but what policy says. Prints `ok`/`FAIL` lines; exits 1 on a failure.
#
#   install-check.sh DEB BROKER_PORT
#
# BROKER_PORT is a mosquitto on the host's loopback (the chroot shares the host's network).
set -uo pipefail
deb="$1"
port="$2"
work=/check/work
mkdir -p "$work"
failures=0
check() {  # check NAME COMMAND...
    local name="$1"
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}
show() { echo "---- $*"; }

# Everything on the root file system, to compare after the purge (apt's and dpkg's own records aside).
snapshot() {
    find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /check -o -path /run \
        -o -path /var/cache/apt -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log \
        -o -path /var/cache/debconf -o -path /var/cache/ldconfig \) -prune -o -print | LC_ALL=C sort
}

export DEBIAN_FRONTEND=noninteractive
apt-get update -q >"$work/apt-update.log" 2>&1 || { tail "$work/apt-update.log"; exit 1; }
snapshot >"$work/before.txt"
version="$(dpkg-deb -f "$deb" Version)"
show "apt-get install $deb ($version)"
if ! apt-get install -y -q "$deb" >"$work/install.log" 2>&1; then
    tail -n 30 "$work/install.log"
    echo "FAIL apt-get install"
    exit 1
fi
echo "ok   apt-get install resolved the dependencies from the archive: $(sed -n 's/^The following NEW packages will be installed://p' "$work/install.log" | head -1)"
grep -A3 "NEW packages" "$work/install.log" | tail -n +2 | head -3

show "what the package installed"
check "binsd --version prints the package's daemon version" test "$(binsd --version)" = "${version%%+*}"
check "binsd is /usr/bin/binsd, the simulator /usr/lib/binsd/binsd-simulate" \
    test -x /usr/bin/binsd -a -x /usr/lib/binsd/binsd-simulate
check "binsd needs no Swift runtime library (static stdlib)" sh -c '! ldd /usr/bin/binsd | grep -q libswift'
ldd /usr/bin/binsd | awk '{ print "    " $1 }'
check "the binsd system user exists, in the gpio group" sh -c 'id -nG binsd | grep -qw gpio'
check "/etc/binsd/binsd.yaml is a conffile" sh -c 'dpkg-query -W -f="\${Conffiles}" binsd | grep -q /etc/binsd/binsd.yaml'
check "/etc/binsd is root:binsd 0750, the config root:binsd 0640" \
    test "$(stat -c '%U:%G %a' /etc/binsd /etc/binsd/binsd.yaml | tr '\n' ' ')" = "root:binsd 750 root:binsd 640 "
unit="$(dpkg -L binsd | grep '/systemd/system/binsd.service$')"
check "the unit is installed ($unit)" test -f "$unit"
check "systemd-analyze verify $unit (man pages not checked: no man-db in a minimal root)" systemd-analyze verify --man=no "$unit"
check "man binsd exists" test -f /usr/share/man/man1/binsd.1.gz
check "board files in /usr/share/binsd/boards" test -f /usr/share/binsd/boards/raspberry-pi.yaml

show "binsd check-config on the shipped example"
status=0
binsd check-config /etc/binsd/binsd.yaml >"$work/check-example.txt" 2>&1 || status=$?
cat "$work/check-example.txt"
# The example is complete but for the two files an installer must provide: exactly those are reported.
check "the shipped example fails only for the CA and password files the installer writes" \
    sh -c "test $status = 1 && test \"\$(grep -c ': error\|ca_file\|password_file' $work/check-example.txt)\" -ge 2 && \
        ! grep -v 'ca_file\|password_file\|error(s) in the configuration' $work/check-example.txt | grep -q ."
# The installer's part: the broker password and the CA (here the system bundle), readable by binsd only.
install -m 0640 -g binsd /dev/null /etc/binsd/password
echo "not-a-real-secret" >/etc/binsd/password
ln -s /etc/ssl/certs/ca-certificates.crt /etc/binsd/ca.pem 2>/dev/null || cp /etc/ssl/certs/ca-certificates.crt /etc/binsd/ca.pem
binsd check-config /etc/binsd/binsd.yaml >"$work/check-installed.txt" 2>&1
status=$?
cat "$work/check-installed.txt"
check "check-config accepts the example once the password and CA are in place" test "$status" = 0

show "binsd simulate on a shipped scenario (hands over to binsd-simulate)"
if binsd simulate --scenario /usr/share/binsd/scenarios/residential.yaml --broker "127.0.0.1:$port" \
    --log-level warning >"$work/simulate.json" 2>"$work/simulate.log"; then
    cat "$work/simulate.json"
    check "binsd simulate ran the day and printed its summary" grep -q '"device":"pt-demo-01"' "$work/simulate.json"
else
    tail -n 20 "$work/simulate.log"
    echo "FAIL binsd simulate"
    failures=$((failures + 1))
fi

show "apt-get purge"
apt-get purge -y -q --autoremove binsd >"$work/purge.log" 2>&1 || { tail "$work/purge.log"; echo "FAIL apt-get purge"; exit 1; }
snapshot >"$work/after.txt"
# What may stay (Debian policy 9.2.2: system users and groups are not removed; adduser's backups of the
# account files): the account databases and their backups.
# Files of dependencies that apt keeps installed (adduser on Debian 13, where it is not in a minimal
# system) belong to those packages, not to binsd: only files no installed package owns count.
: >"$work/left.txt"
: >"$work/kept.txt"
LC_ALL=C comm -3 "$work/before.txt" "$work/after.txt" | sed 's/^[[:space:]]*//' |
    grep -vxE '/etc/(passwd|group|shadow|gshadow)-?' | while IFS= read -r path; do
        if owner="$(dpkg -S "$path" 2>/dev/null)"; then echo "${owner%%:*}" >>"$work/kept.txt"; else echo "$path" >>"$work/left.txt"; fi
    done
[[ -s "$work/kept.txt" ]] && echo "     (still installed as dependencies apt keeps: $(sort -u "$work/kept.txt" | tr '\n' ' '))"
check "apt-get purge leaves nothing behind but the binsd user and gpio group" test ! -s "$work/left.txt"
if [[ -s "$work/left.txt" ]]; then head -n 20 "$work/left.txt"; fi
check "the binsd user stays (policy 9.2.2)" getent passwd binsd >/dev/null

echo "$failures failed"
exit $((failures > 0))
