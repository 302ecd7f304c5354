#!/bin/sh
# A mosquitto broker and its clients run in the guest on loopback: the ground a guest run of binsd
# stands on (binsd publishes to a broker in the same guest).
#
# guest-needs: /usr/sbin/mosquitto /usr/bin/mosquitto_pub /usr/bin/mosquitto_sub
. /lib/gpio-sim.sh

port=1883
start_broker "$port"

# The broker is ready when a publish succeeds; the retained message also makes the subscription
# below independent of when it is made.
publish_retained() {
    mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -r -t guest/hello -m "from the guest" 2>/dev/null
}
check "mosquitto accepts a retained QoS 1 publish on 127.0.0.1:$port" wait_until 20 publish_retained
received="$(mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t guest/hello -C 1 -W 10)"
check "mosquitto_sub receives it" test "$received" = "from the guest"

kill "$broker"
wait "$broker"
cat mosquitto.log
exit_with_failures
