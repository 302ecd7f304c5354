# Shell helpers for the gpio-sim guest, installed as /lib/gpio-sim.sh and sourced by /init and the
# checks (busybox sh).
#
# /run/gpio-sim/chips lists the simulated chips, one a line:
#     <label> <chip name, e.g. gpiochip0> <sysfs directory holding sim_gpioN/{pull,value}>

# sim_chip_create LABEL NUM_LINES [LINE_NAME...] [--hog OFFSET CONSUMER input|output-high|output-low]
# Creates one gpio-sim device with one bank through configfs and records it in /run/gpio-sim/chips.
sim_chip_create() {
    label="$1"
    lines="$2"
    shift 2
    device="/sys/kernel/config/gpio-sim/$label"
    bank="$device/bank0"
    mkdir "$device" "$bank" || { echo "gpio-sim: cannot create $device" >&2; return 1; }
    echo "$label" >"$bank/label" && echo "$lines" >"$bank/num_lines" || return 1
    offset=0
    while [ $# -gt 0 ]; do
        if [ "$1" = "--hog" ]; then
            mkdir -p "$bank/line$2" "$bank/line$2/hog" &&
                echo "$3" >"$bank/line$2/hog/name" &&
                echo "$4" >"$bank/line$2/hog/direction" || return 1
            shift 4
            continue
        fi
        mkdir -p "$bank/line$offset" && echo "$1" >"$bank/line$offset/name" || return 1
        offset=$((offset + 1))
        shift
    done
    echo 1 >"$device/live" || { echo "gpio-sim: $label did not go live" >&2; return 1; }
    platform="$(cat "$device/dev_name")"
    chip="$(cat "$bank/chip_name")"
    mkdir -p /run/gpio-sim
    echo "$label $chip /sys/devices/platform/$platform/$chip" >>/run/gpio-sim/chips
}

# sim_chip_name LABEL: prints gpiochipN of the simulated chip labelled LABEL.
sim_chip_name() {
    awk -v label="$1" '$1 == label { print $2; found = 1 } END { exit !found }' /run/gpio-sim/chips
}

# sim_line_dir LABEL OFFSET: prints the sysfs directory of one simulated line (with `pull` and `value`).
sim_line_dir() {
    directory="$(awk -v label="$1" '$1 == label { print $3; found = 1 } END { exit !found }' /run/gpio-sim/chips)" ||
        return 1
    echo "$directory/sim_gpio$2"
}

# sim_pull LABEL OFFSET pull-up|pull-down: what the outside world does to an input line.
sim_pull() {
    echo "$3" >"$(sim_line_dir "$1" "$2")/pull"
}

# sim_value LABEL OFFSET: prints the level (0 or 1) the chip sees on the line.
sim_value() {
    cat "$(sim_line_dir "$1" "$2")/value"
}

# wait_until SECONDS COMMAND...: runs COMMAND until it succeeds or SECONDS pass; the polling interval
# is short and the bound is what makes a missed condition a failure instead of a hang.
wait_until() {
    limit=$(($1 * 20))
    shift
    tries=0
    until "$@"; do
        tries=$((tries + 1))
        [ "$tries" -ge "$limit" ] && return 1
        usleep 50000
    done
}

# check NAME COMMAND...: runs one assertion, prints `ok NAME` or `FAIL NAME`, and counts failures in
# $failures (checks exit with `exit_with_failures`).
failures=0
check() {
    name="$1"
    shift
    if "$@"; then
        echo "ok   $name"
    else
        echo "FAIL $name"
        failures=$((failures + 1))
    fi
}

exit_with_failures() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures assertion(s) failed"
        exit 1
    fi
    exit 0
}

# start_broker PORT: a mosquitto on 127.0.0.1:PORT for the checks that publish (anonymous, no
# persistence, running as root: the guest has no mosquitto user to drop privileges to); its pid is
# in $broker and its log in ./mosquitto.log. `wait_until 20 broker_up` waits for it to take a
# subscription.
start_broker() {
    broker_port=$1
    cat >mosquitto.conf <<CONF
listener $1 127.0.0.1
allow_anonymous true
persistence false
user root
log_dest stdout
CONF
    mosquitto -c mosquitto.conf >mosquitto.log 2>&1 &
    broker=$!
}

broker_up() { mosquitto_sub -h 127.0.0.1 -p "$broker_port" -t gpio-sim/probe -E -W 2 2>/dev/null; }
