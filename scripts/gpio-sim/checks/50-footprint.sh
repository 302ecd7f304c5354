#!/bin/sh
# binsd's footprint as installed: the release build (static Swift runtime, Debian's shared libraries) run
# idle with three bins (a scale, a ranger and a lid each) on a gpio-sim chip, production sampling
# defaults, publishing to the guest's mosquitto. After the idle window it prints
#     FOOTPRINT rss_kib=N hwm_kib=N cpu_ticks=N ticks_per_second=N seconds=N binary_bytes=N
# from /proc/PID/status and /proc/PID/stat (clock ticks are USER_HZ, 100 on x86); scripts/bench reads
# that line. The window is
# gpio_sim.footprint_s on the kernel command line (scripts/gpio-sim/run --footprint-seconds; default 10).
# The scales' DOUT lines float high (no HX711 answers: each idle weighing waits its 700 ms and fails),
# so the scales report scale.not_ready; the memory figure is what matters here, and it is printed, never
# asserted (scripts/bench compares it with mqtt-io's).
#
# guest-needs: /usr/sbin/mosquitto /usr/bin/mosquitto_sub
# guest-swift-products: binsd
# guest-files: scripts/gpio-sim/footprint/binsd.yaml=/etc/binsd-footprint/binsd.yaml
# guest-files: scripts/gpio-sim/footprint/boards/gpio-footprint.yaml=/etc/binsd-footprint/boards/gpio-footprint.yaml
# guest-files: scripts/gpio-sim/binsd/calibration/wet.json=/usr/share/gpio-sim/footprint-calibration/wet.json
# guest-files: scripts/gpio-sim/binsd/calibration/dry.json=/usr/share/gpio-sim/footprint-calibration/dry.json
# guest-files: scripts/gpio-sim/binsd/calibration/dry.json=/usr/share/gpio-sim/footprint-calibration/recycling.json
. /lib/gpio-sim.sh

seconds=10
for argument in $(cat /proc/cmdline); do
    case "$argument" in gpio_sim.footprint_s=*) seconds="${argument#gpio_sim.footprint_s=}" ;; esac
done
config=/etc/binsd-footprint/binsd.yaml
port=1883
chip=bins-footprint
for line in 0 5 10; do sim_pull "$chip" "$line" pull-up; done

start_broker "$port"
check "mosquitto is up" wait_until 20 broker_up

mkdir -p /run/binsd-footprint/calibration
cp /usr/share/gpio-sim/footprint-calibration/*.json /run/binsd-footprint/calibration/
chmod 0600 /run/binsd-footprint/calibration/*.json
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'bins/v1/footprint-point/status' -F '%p' >status.txt 2>/dev/null &
subscriber=$!
binsd run --config "$config" >binsd.log 2>&1 &
binsd=$!
online() { grep -q '"online":true' status.txt; }
check "binsd is online with three bins" wait_until 30 online
# The lids are switches to ground that the closed lid closes (binsd's pull-up bias reads open): close them,
# so the point is idle, not in a weighing window.
for line in 4 9 14; do sim_pull "$chip" "$line" pull-down; done

started="$(cut -d' ' -f1 /proc/uptime)"
ticks_before="$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$binsd/stat")"
sleep "$seconds"
ticks_after="$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$binsd/stat")"
ended="$(cut -d' ' -f1 /proc/uptime)"
check "binsd is still running after the idle window" test -d "/proc/$binsd"
rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$binsd/status")"
hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$binsd/status")"
elapsed="$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }')"
echo "FOOTPRINT rss_kib=$rss hwm_kib=$hwm cpu_ticks=$((ticks_after - ticks_before)) ticks_per_second=100 seconds=$elapsed binary_bytes=$(stat -c %s "$(command -v binsd)")"
# Where the resident memory is (issue 12): anonymous versus file-backed, threads, and the largest mappings.
echo "footprint breakdown: threads $(awk '/^Threads:/ { print $2 }' "/proc/$binsd/status"), $(awk '/^(Rss|Anonymous|Shared_Clean|Private_Clean|Private_Dirty):/ { printf "%s %s kB, ", $1, $2 }' "/proc/$binsd/smaps_rollup")"
awk '
    /^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anonymous]" : $6) }
    /^Rss:/ { rss[name] += $2 }
    END { for (n in rss) if (rss[n] >= 256) printf "footprint mapping: %6d kB %s\n", rss[n], n }
' "/proc/$binsd/smaps" | sort -k3 -n -r

kill -TERM "$binsd"
wait "$binsd"
check "binsd exits 0 on SIGTERM" test "$?" = 0
kill "$subscriber" "$broker"
wait "$subscriber" "$broker" 2>/dev/null
exit_with_failures
