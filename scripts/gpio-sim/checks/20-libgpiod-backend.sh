#!/bin/sh
# The project's libgpiod backend (Sources/GPIO, LibgpiodChip) on the kernel's GPIO character device:
# Sources/gpio-guest-check opens the chip by label, finds its gpio-sim sysfs attributes itself, and
# checks lookup, listing, outputs, inputs with bias, edges with kernel timestamps, busy lines, release,
# timeouts and cancelled waits. The layout it is told about is the one /init creates.
#
# guest-swift-products: gpio-guest-check
# The runner says which libgpiod the binaries were built against (scripts/gpio-sim/run --libgpiod).
api=1
for argument in $(cat /proc/cmdline); do
    case "$argument" in gpio_sim.libgpiod=*) api="${argument#gpio_sim.libgpiod=}" ;; esac
done
exec gpio-guest-check --label bins-sim-a --other-label bins-sim-b --line-prefix sim-a- \
    --hogged-line 7 --hog-consumer gpio-sim-hog --expect-libgpiod-api "$api"
