#!/bin/sh
# binsd itself on a real kernel GPIO chip: `binsd run` with a board file for the gpio-sim chip
# bins-board (two bins: wet with HX711, ranger and lid; dry with HX711 and lid), publishing to a
# mosquitto in the guest. The check plays the world through the simulator's sysfs pulls and judges
# binsd only by what it publishes (captured with mosquitto_sub), by its exit status and by the kernel's
# view of its lines (gpioinfo):
#   - it refuses to start without calibration, before touching a line;
#   - status online, birth with both bins, retained state per bin;
#   - lid edges driven through sysfs become lid_open true/false in the bin's retained state, for that
#     bin only; a lid left open raises lid.open_too_long and closing it clears the fault;
#   - deposit windows: each lid edge makes binsd weigh (a burst), and a window whose weight never comes
#     closes without a deposit. gpio-sim cannot play an HX711 (DOUT must answer each PD_SCK pulse within
#     microseconds), so the scales fail in the two ways a real one does when broken: wet's DOUT stuck low
#     (25 pulses clocked, DOUT never released: "data line stuck"), dry's DOUT stuck high (never ready).
#     With idle weighing set to an hour, health's counters must match the edges exactly: one failed
#     conversion per edge per bin (the burst stops at the first failure), three retries per failed wet
#     read. Both scales raise scale.not_ready with the right cause; no deposit or collection appears;
#   - the ranger is pinged once the wet lid has closed and the window has ended (the state gains the
#     air temperature it read for the speed of sound; no echo, so no fill);
#   - SIGTERM: exit 0, status online false (retained), every line released.
#
# guest-needs: /usr/sbin/mosquitto /usr/bin/mosquitto_sub /usr/bin/mosquitto_pub /usr/bin/gpioinfo
# guest-swift-products: binsd
# guest-files: scripts/gpio-sim/binsd/binsd.yaml=/etc/binsd/binsd.yaml
# guest-files: scripts/gpio-sim/binsd/boards/gpio-sim.yaml=/etc/binsd/boards/gpio-sim.yaml
# guest-files: scripts/gpio-sim/binsd/calibration/wet.json=/usr/share/gpio-sim/binsd-calibration/wet.json
# guest-files: scripts/gpio-sim/binsd/calibration/dry.json=/usr/share/gpio-sim/binsd-calibration/dry.json
. /lib/gpio-sim.sh

config=/etc/binsd/binsd.yaml
device=gpio-sim-point
topic="bins/v1/$device"
port=1883
chip=bins-board
# Lines of bins-board (scripts/gpio-sim/init, binsd/boards/gpio-sim.yaml, binsd/binsd.yaml).
line_wet_dout=0
line_wet_sck=1
line_wet_trig=2
line_wet_echo=3
line_wet_lid=4
line_dry_dout=5
line_dry_sck=6
line_dry_lid=7

started="$(cut -d' ' -f1 /proc/uptime)"
elapsed() { awk -v a="$started" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }'; }
phase() { echo "---- $* (at $(elapsed) s)"; }

# What binsd published, one message a line: "<topic> <payload>" (payloads are single-line JSON with
# sorted keys, so fixed strings such as "lid_open":true identify fields).
capture=capture.txt
# messages SUFFIX: the payloads published on bins/v1/<device>/SUFFIX, in order.
messages() { awk -v t="$topic/$1" '$1 == t { print substr($0, length(t) + 2) }' "$capture"; }
# matching SUFFIX STRING...: those payloads containing every STRING.
matching() {
    suffix="$1"
    shift
    messages "$suffix" >matching.txt
    for string in "$@"; do
        grep -F -- "$string" matching.txt >matching.next
        mv matching.next matching.txt
    done
    cat matching.txt
}
count() { matching "$@" | wc -l; }
has() { [ "$(count "$@")" -gt 0 ]; }
none() { [ "$(count "$@")" -eq 0 ]; }
# every SUFFIX STRING: there are messages on SUFFIX and all of them contain STRING.
every() { [ "$(messages "$1" | wc -l)" -gt 0 ] && [ "$(count "$1" "$2")" -eq "$(messages "$1" | wc -l)" ]; }
# retained SUFFIX: the retained message a new subscriber gets, as "<retain flag> <payload>".
retained() {
    mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t "$topic/$1" --retained-only -C 1 -W 5 -F '%r %p' 2>/dev/null
}
retained_has() { retained "$1" >retained.txt && grep -q '^1 ' retained.txt && grep -qF -- "$2" retained.txt; }
# health_field NAME: NAME's value in the latest health message.
health_field() { messages health | tail -n 1 | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
health_is() { [ "$(health_field "$1")" = "$2" ]; }

# line_info OFFSET: gpioinfo's line for one line of the board chip.
line_info() { gpioinfo "$chip" | grep "line *$1:"; }
line_has() { line_info "$1" | grep -q -- "$2"; }
lines_unused() { ! gpioinfo "$chip" | grep -q '\[used'; }

# sim_is OFFSET ATTRIBUTE VALUE: the simulator's pull or value of one line of the board chip.
sim_is() { [ "$(cat "$(sim_line_dir "$chip" "$1")/$2")" = "$3" ]; }

process_gone() { [ ! -e "/proc/$1" ] || grep -q '^[0-9]* (.*) Z' "/proc/$1/stat"; }

# move_lid BIN open|closed: the world moves the lid (a switch to ground that the closed lid closes:
# closed pulls the line down, open leaves it to the pull-up), then binsd's state for BIN must follow.
wet_edges=0
dry_edges=0
move_lid() {
    bin="$1"
    eval line="\$line_${bin}_lid"
    case "$2" in
        open) pull=pull-up want='"lid_open":true' ;;
        closed) pull=pull-down want='"lid_open":false' ;;
    esac
    before="$(messages "state/$bin" | wc -l)"
    sim_pull "$chip" "$line" "$pull"
    eval "${bin}_edges=\$((${bin}_edges + 1))"
    # A lid change is published at once, so a state message after the edge must say so.
    wait_until 20 state_since "$bin" "$before" "$want"
}
# state_since BIN N STRING: a state message of BIN after the first N contains STRING.
state_since() { messages "state/$1" | tail -n +$(($2 + 1)) | grep -qF -- "$3"; }

# ---------------------------------------------------------------------------------------------------
phase "configuration"
status=0
binsd check-config "$config" >check-config.txt 2>&1 || status=$?
cat check-config.txt
check "the config and the board file load (binsd check-config exit $status)" test "$status" = 0
check "check-config names the board, the device and both bins" \
    grep -qF "OK: device $device, board gpio-sim, 2 bin(s) (wet, dry), broker mqtt://127.0.0.1:1883" check-config.txt

start_broker "$port"
check "mosquitto accepts a subscription on 127.0.0.1:$port" wait_until 20 broker_up

phase "no calibration"
rm -rf /run/binsd
status=0
timeout 60 binsd run --config "$config" >refused.txt 2>&1 || status=$?
cat refused.txt
check "binsd run refuses to start without calibration (exit $status, not 0 or a timeout)" \
    test "$status" -ne 0 -a "$status" -ne 124
check "the refusal names wet" grep -qF 'bin "wet" is not calibrated' refused.txt
check "the refusal names dry" grep -qF 'bin "dry" is not calibrated' refused.txt
check "the refusal says how to calibrate" grep -qF "binsd calibrate --config $config --bin wet --tare" refused.txt
check "no line of $chip was requested" lines_unused

# The installer's calibration (binsd calibrate needs conversions, which gpio-sim cannot give).
mkdir -p /run/binsd/calibration
cp /usr/share/gpio-sim/binsd-calibration/wet.json /usr/share/gpio-sim/binsd-calibration/dry.json /run/binsd/calibration/
chmod 0600 /run/binsd/calibration/*.json

# The world before binsd starts: wet's HX711 holds DOUT low (it never releases it after a read), dry's
# holds it high (never ready); the ranger's echo and the lids are left to the pulls binsd requests.
sim_pull "$chip" "$line_wet_dout" pull-down
sim_pull "$chip" "$line_dry_dout" pull-up

# ---------------------------------------------------------------------------------------------------
phase "start"
: >"$capture"
mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t "$topic/#" -t gpio-sim/probe -F '%t %p' >>"$capture" 2>capture.err &
subscriber=$!
# The capture is subscribed once a probe published after it started shows up in it.
probe_seen() {
    mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t gpio-sim/probe -m ready 2>/dev/null
    grep -q '^gpio-sim/probe ready' "$capture"
}
check "the capture is subscribed" wait_until 20 probe_seen
binsd run --config "$config" >binsd.log 2>&1 &
binsd=$!

check "status: online, session 1" wait_until 30 has status '"online":true' '"session":1'
check "birth: board gpio-sim, bins wet and dry, session 1" \
    wait_until 10 has birth '"board":"gpio-sim"' '"id":"wet"' '"id":"dry"' '"session":1'
# Both lids read open at start: binsd's pull-up bias reached the line and nothing pulls it down.
check "state/wet: lid open at start" wait_until 20 has state/wet '"lid_open":true'
check "state/dry: lid open at start" wait_until 20 has state/dry '"lid_open":true'
check "the retained status is online" retained_has status '"online":true'
check "the retained birth lists both bins" retained_has birth '"id":"dry"'

gpioinfo "$chip"
check "every line of $chip is held by binsd" test "$(gpioinfo "$chip" | grep -c '"binsd"')" -eq 8
for output in "$line_wet_sck" "$line_wet_trig" "$line_dry_sck"; do
    check "line $output (PD_SCK or TRIG) is an output" line_has "$output" output
done
for input in "$line_wet_dout" "$line_wet_echo" "$line_wet_lid" "$line_dry_dout" "$line_dry_lid"; do
    check "line $input (DOUT, ECHO or lid) is an input" line_has "$input" input
done
check "wet's lid pull-up bias reached the simulator" sim_is "$line_wet_lid" pull pull-up
check "dry's lid pull-up bias reached the simulator" sim_is "$line_dry_lid" pull pull-up
check "the echo's pull-down bias reached the simulator" sim_is "$line_wet_echo" pull pull-down
# After each burst binsd powers the HX711 down (PD_SCK held high); TRIG rests low between pings.
check "wet's PD_SCK rests high (HX711 powered down between bursts)" wait_until 10 sim_is "$line_wet_sck" value 1
check "dry's PD_SCK rests high" wait_until 10 sim_is "$line_dry_sck" value 1
check "TRIG rests low" sim_is "$line_wet_trig" value 0

# ---------------------------------------------------------------------------------------------------
phase "wet lid cycles"
for cycle in 1 2 3; do
    check "cycle $cycle: wet lid closed -> state lid_open false" move_lid wet closed
    [ "$cycle" = 1 ] && check "the retained state/wet says closed" retained_has state/wet '"lid_open":false'
    check "cycle $cycle: wet lid opened -> state lid_open true" move_lid wet open
    [ "$cycle" = 1 ] && check "the retained state/wet says open" retained_has state/wet '"lid_open":true'
done
check "wet lid closed again -> state lid_open false" move_lid wet closed
check "the retained state/wet says closed at the end" retained_has state/wet '"lid_open":false'
check "dry's lid stayed open through wet's cycles" none state/dry '"lid_open":false'

# ---------------------------------------------------------------------------------------------------
phase "dry lid left open"
check "dry: lid.open_too_long raised (limit 3 s)" \
    wait_until 20 has events '"type":"fault"' '"bin":"dry"' '"code":"lid.open_too_long"' '"active":true'
check "dry's state is degraded while its lid is open too long" wait_until 10 has state/dry '"quality":"degraded"'
check "wet: no lid.open_too_long" none events '"bin":"wet"' '"code":"lid.open_too_long"'
check "dry lid closed -> state lid_open false" move_lid dry closed
check "dry: lid.open_too_long cleared on closing" \
    wait_until 10 has events '"bin":"dry"' '"code":"lid.open_too_long"' '"active":false'
check "the retained state/dry says closed" retained_has state/dry '"lid_open":false'

# ---------------------------------------------------------------------------------------------------
phase "deposit windows"
# Each lid edge asks for a burst of conversions; each fails. scale.not_ready needs three failures
# spanning 5 s, and with idle weighing an hour away only lid edges can provide them.
raised() { has events '"bin":"'"$1"'"' '"code":"scale.not_ready"' '"active":true'; }
rounds=0
while ! { raised wet && raised dry; } && [ "$rounds" -lt 30 ]; do
    rounds=$((rounds + 1))
    move_lid wet open && move_lid wet closed && move_lid dry open && move_lid dry closed ||
        { echo "FAIL lid cycle $rounds did not show in the state"; failures=$((failures + 1)); break; }
done
echo "lid cycles until both scale faults were raised: $rounds; edges: wet $wet_edges, dry $dry_edges"
# wet's DOUT is held low (no HX711 answers): every read clocks 25 pulses and finds DOUT still low. The fault
# names the failure of the read that raised it. Under qemu without KVM a vCPU stall can stretch a PD_SCK
# high time past the driver's 30 µs guard (the HX711 powers down after 60 µs) on every attempt of that
# read; the driver then rightly reports the timing, and the data line was not what raised the fault this
# time. That is said, and counted as the same fault raised for a failed conversion.
wet_scale_fault_raised() {
    has events '"bin":"wet"' '"code":"scale.not_ready"' '"active":true' 'data line stuck: DOUT stayed low after the 25th PD_SCK pulse' &&
        return 0
    if has events '"bin":"wet"' '"code":"scale.not_ready"' '"active":true' 'bit-bang timing violated: PD_SCK stayed high'; then
        echo "note: the read that raised wet's fault had its PD_SCK high time stretched by the emulated CPU on every attempt; its detail names the timing, not the stuck data line"
        return 0
    fi
    return 1
}
check "wet: scale.not_ready raised: DOUT stayed low after the 25th PD_SCK pulse (or the emulator stretched the clock)" \
    wet_scale_fault_raised
check "dry: scale.not_ready raised: DOUT stayed high (not ready)" \
    has events '"bin":"dry"' '"code":"scale.not_ready"' '"active":true' 'not ready: DOUT stayed high for 700 ms'
check "wet's state is degraded" wait_until 10 has state/wet '"quality":"degraded"'
# Exactly one attempt per bin at start (its lid read open) and one per edge of its lid: every window
# asked for weight, and a failed conversion ended the burst instead of hammering the part.
errors=$((2 + wet_edges + dry_edges))
retries=$((3 * (1 + wet_edges)))
check "health: sample_errors_total = $errors (2 at start + $wet_edges wet + $dry_edges dry edges)" \
    wait_until 15 health_is sample_errors_total "$errors"
check "health: hx711_retries_total = $retries (3 retries per failed wet read, none for dry)" \
    wait_until 15 health_is hx711_retries_total "$retries"
messages health | tail -n 1
check "health: both scale faults active" \
    has health '"active_faults":[' 'wet/scale.not_ready' 'dry/scale.not_ready'
check "no deposit from windows without weight" none events '"type":"deposit"'
check "no collection" none events '"type":"collection"'
check "no scale.stuck: no conversion ever came back" none events '"code":"scale.stuck"'
check "no scale.saturated" none events '"code":"scale.saturated"'
check "no mass without a conversion: every wet state has mass_kg null" every state/wet '"mass_kg":null'
check "no mass without a conversion: every dry state has mass_kg null" every state/dry '"mass_kg":null'

# ---------------------------------------------------------------------------------------------------
phase "ranger"
# With the lid closed and the window over, the idle bin asks for a fill reading; the temperature used
# for the speed of sound appears in the state. No echo ever rises, so the fill stays null.
check "wet: the ranger was pinged (temperature_c 20 in the state)" wait_until 20 has state/wet '"temperature_c":20'
check "wet: no fill without an echo" every state/wet '"fill":null'
samples_counted() { [ "$(health_field samples_total)" -ge 1 ] 2>/dev/null; }
check "health: samples_total counts the ranger readings (>= 1; every scale conversion failed)" wait_until 10 samples_counted
check "dry (no ranger) never reports a temperature" every state/dry '"temperature_c":null'

# ---------------------------------------------------------------------------------------------------
phase "events"
messages events
check "every event is a fault" every events '"type":"fault"'
seqs="$(messages events | sed -n 's/.*"seq":\([0-9]*\).*/\1/p' | tr '\n' ' ')"
expected_seqs="$(seq 1 "$(messages events | wc -l)" | tr '\n' ' ')"
check "event seqs run 1, 2, 3, ... without gaps ($seqs)" test "$seqs" = "$expected_seqs"

# ---------------------------------------------------------------------------------------------------
phase "SIGTERM"
kill -TERM "$binsd"
check "binsd exits within 20 s of SIGTERM" wait_until 20 process_gone "$binsd"
process_gone "$binsd" || kill -KILL "$binsd"
status=0
wait "$binsd" || status=$?
check "binsd exit status 0 (was $status)" test "$status" = 0
check "status: online false published" wait_until 10 has status '"online":false'
check "the retained status is offline" retained_has status '"online":false'
check "every line of $chip released" wait_until 10 lines_unused

kill "$subscriber" "$broker"
wait "$subscriber" "$broker"
echo "---- binsd log"
cat binsd.log
echo "---- capture ($(wc -l <"$capture") messages, $(messages health | wc -l) of them health, not shown)"
grep -v "^$topic/health " "$capture"
phase "done"
exit_with_failures
