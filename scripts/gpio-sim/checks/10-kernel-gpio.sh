#!/bin/sh
# The kernel side, proven with Debian's libgpiod tools before our own code is involved: the simulated
# chips are visible by label and name, outputs read back through the simulator, pulls set from sysfs
# read as levels and produce edge events with kernel timestamps, and a kernel-held line is busy.
#
# guest-needs: /usr/bin/gpiodetect /usr/bin/gpioinfo /usr/bin/gpiofind /usr/bin/gpioget /usr/bin/gpioset
# guest-needs: /usr/bin/gpiomon
. /lib/gpio-sim.sh

chip="$(sim_chip_name bins-sim-a)"
echo "bins-sim-a is $chip"

# Listing: both chips, with their labels and line counts; line names and the hog in gpioinfo.
gpiodetect >detect.txt
cat detect.txt
check "gpiodetect lists bins-sim-a with 8 lines" grep -q "^$chip \[bins-sim-a\] (8 lines)" detect.txt
check "gpiodetect lists bins-sim-b with 4 lines" grep -q "\[bins-sim-b\] (4 lines)" detect.txt
gpioinfo bins-sim-a >info.txt
cat info.txt
check "gpioinfo shows line names" grep -q 'line   3:[[:space:]]*"sim-a-3"[[:space:]]*unused' info.txt
check "gpioinfo shows the kernel hog on line 7" grep -q 'line   7:.*"gpio-sim-hog"[[:space:]]*output.*\[used\]' info.txt
check "gpiofind finds a line by name" test "$(gpiofind sim-a-5)" = "$chip 5"

# Output: driven by libgpiod, seen by the simulator while the request is held.
gpioset --mode=signal bins-sim-a 0=1 &
setter=$!
line_used() { gpioinfo "$1" | grep -q "line[[:space:]]*$2:.*\[used\]"; }
check "gpioset holds line 0" wait_until 10 line_used bins-sim-a 0
check "output high reads back 1 from sim_gpio0/value" test "$(sim_value bins-sim-a 0)" = 1
kill "$setter"
wait "$setter"
check "released line 0 is unused again" wait_until 10 sh -c "! gpioinfo bins-sim-a | grep -q 'line   0:.*\[used\]'"
check "released output falls back to the pull (down): 0" test "$(sim_value bins-sim-a 0)" = 0

# Input: the simulator's pull is the level an input reads.
sim_pull bins-sim-a 1 pull-up
check "input with sim pull-up reads 1" test "$(gpioget bins-sim-a 1)" = 1
sim_pull bins-sim-a 1 pull-down
check "input with sim pull-down reads 0" test "$(gpioget bins-sim-a 1)" = 0
# Bias requested through the uAPI reaches the simulator's pull.
check "input requested with bias pull-up reads 1" test "$(gpioget --bias=pull-up bins-sim-a 2)" = 1
check "bias pull-up is now the sim pull of line 2" test "$(cat "$(sim_line_dir bins-sim-a 2)/pull")" = pull-up
check "input requested with bias pull-down reads 0" test "$(gpioget --bias=pull-down bins-sim-a 2)" = 0

# Edges: one gpiomon per edge (gpiomon buffers its output until it exits), each started before the
# pull of line 3 changes; the kernel timestamps of the four edges increase.
sim_pull bins-sim-a 3 pull-down
: >events.txt
monitor_one_edge() {
    mode="$1"
    pull="$2"
    case "$mode" in
        rising) set -- --rising-edge ;;
        falling) set -- --falling-edge ;;
        both) set -- ;; # gpiomon's default
    esac
    # Bounded: a missed edge fails the assertion below instead of hanging the check.
    timeout 10 gpiomon --num-events=1 "$@" --format='%e %o %s %n' bins-sim-a 3 >>events.txt &
    monitor=$!
    check "gpiomon ($mode edges) holds line 3" wait_until 10 line_used bins-sim-a 3
    sim_pull bins-sim-a 3 "$pull"
    check "gpiomon ($mode edges) saw the edge to $pull and exited" wait "$monitor"
}
monitor_one_edge rising pull-up
monitor_one_edge falling pull-down
monitor_one_edge both pull-up
monitor_one_edge both pull-down
cat events.txt
check "edges are rising, falling, rising, falling on offset 3" \
    test "$(awk '{ printf "%s%s ", $1, $2 }' events.txt)" = "13 03 13 03 "
check "kernel timestamps strictly increase" awk '
    { now = $3 * 1000000000 + $4; if (NR > 1 && now <= last) bad = 1; last = now }
    END { exit bad || NR != 4 }' events.txt

# A line the kernel holds cannot be requested.
gpioget bins-sim-a 7 >busy.txt 2>&1
status=$?
cat busy.txt
check "requesting the hogged line 7 fails" test "$status" -ne 0
check "the error says the device is busy" grep -q "busy" busy.txt

exit_with_failures
