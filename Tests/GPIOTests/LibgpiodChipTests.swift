import Foundation
import Testing

@testable import GPIO

/// The libgpiod backend on a machine without GPIO hardware: it links, lists nothing, and fails with
/// clear errors. Its line behaviour is exercised on a real kernel (gpio-sim in a qemu guest).
@Suite struct LibgpiodChipTests {
    static let noChipsHere = !(try! FileManager.default.contentsOfDirectory(atPath: "/dev"))
        .contains { $0.hasPrefix("gpiochip") }
    static let noGpiochip9 = !FileManager.default.fileExists(atPath: "/dev/gpiochip9")

    /// The backend was compiled for the libgpiod API that Package.swift detected (1.6 on Debian 12, 2.x on
    /// Debian 13) and the shared library loaded at run time is that major version.
    @Test func linksTheLibgpiodItWasBuiltFor() {
        #expect(LibgpiodChip.libraryVersion.hasPrefix("\(LibgpiodChip.apiVersion)."), "\(LibgpiodChip.libraryVersion)")
        #expect(LibgpiodChip.apiVersion == 2 || LibgpiodChip.libraryVersion.hasPrefix("1.6"))
    }

    @Test(.enabled(if: noChipsHere, "this machine has GPIO chips"))
    func listsNoChipsOnAMachineWithoutGPIO() throws {
        #expect(try LibgpiodChip.listChips().isEmpty)
    }

    @Test func listsNothingInADirectoryWithoutChips() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gpio-empty-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A regular file named like a chip is not a GPIO character device: skipped, not an error.
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("gpiochip3").path, contents: Data())
        #expect(try LibgpiodChip.listChips(devicesDirectory: directory.path).isEmpty)
    }

    @Test func listingAMissingDirectoryNamesIt() {
        #expect {
            try LibgpiodChip.listChips(devicesDirectory: "/nonexistent-dev")
        } throws: { error in
            "\(error)" == "/nonexistent-dev: opendir failed: No such file or directory (ENOENT)"
        }
    }

    @Test(.enabled(if: noGpiochip9, "/dev/gpiochip9 exists"))
    func openingAMissingChipByNameSaysSo() {
        #expect {
            try LibgpiodChip(name: "gpiochip9")
        } throws: { error in
            let error = error as? GPIOError
            return error?.code == .noSuchChip && error?.errno == ENOENT
                && error?.description == "gpiochip9: no such chip (ENOENT)"
        }
    }

    @Test(.enabled(if: noGpiochip9, "/dev/gpiochip9 exists"))
    func openingAMissingChipByNumberPathOrLookupSaysSo() {
        #expect(throws: GPIOError(.noSuchChip, chip: "gpiochip9", errno: ENOENT)) { try LibgpiodChip(number: 9) }
        #expect(throws: GPIOError(.noSuchChip, chip: "/dev/gpiochip9", errno: ENOENT)) {
            try LibgpiodChip(path: "/dev/gpiochip9")
        }
        #expect(throws: GPIOError(.noSuchChip, chip: "gpiochip9", errno: ENOENT)) {
            try LibgpiodChip(lookup: "gpiochip9")
        }
        #expect(throws: GPIOError(.noSuchChip, chip: "gpiochip9", errno: ENOENT)) { try LibgpiodChip(lookup: "9") }
    }

    @Test func openingAMissingLabelSaysSo() {
        #expect {
            try LibgpiodChip(label: "no-such-controller")
        } throws: { error in
            "\(error)" == "no-such-controller: no such chip (ENOENT)"
        }
        #expect(throws: GPIOError(.noSuchChip, chip: "pinctrl-none", errno: ENOENT)) {
            try LibgpiodChip(lookup: "pinctrl-none")
        }
    }

    @Test func openingSomethingThatIsNotAGPIOChipSaysSo() {
        #expect {
            try LibgpiodChip(path: "/dev/null")
        } throws: { error in
            let error = error as? GPIOError
            return error?.code == .noSuchChip && error?.function == "gpiod_chip_open"
                && (error?.errno == ENOTTY || error?.errno == ENODEV)
                && error?.description.hasSuffix("not a GPIO character device") == true
        }
    }

    @Test func eventTimestampClockFollowsTheKernelRelease() {
        #expect(KernelEventClock.forKernelRelease("4.19.97-v7l+") == .realtime)
        #expect(KernelEventClock.forKernelRelease("5.6.19") == .realtime)
        #expect(KernelEventClock.forKernelRelease("5.7.0") == .monotonic)
        #expect(KernelEventClock.forKernelRelease("5.10.0-23-arm64") == .monotonic)
        #expect(KernelEventClock.forKernelRelease("6.1.0-rpi7-rpi-v8") == .monotonic)
        #expect(KernelEventClock.forKernelRelease("garbage") == .monotonic)
    }

    @Test func realtimeStampsAreConvertedToTheMonotonicBase() {
        var realtime = timespec()
        var monotonic = timespec()
        clock_gettime(CLOCK_MONOTONIC, &monotonic)
        clock_gettime(CLOCK_REALTIME, &realtime)
        let realNow = Int64(realtime.tv_sec) * 1_000_000_000 + Int64(realtime.tv_nsec)
        let monoNow = Int64(monotonic.tv_sec) * 1_000_000_000 + Int64(monotonic.tv_nsec)
        // An edge stamped 5 ms ago on the realtime clock was 5 ms ago on the monotonic clock too
        // (up to the skew of reading two clocks one after the other).
        let converted = Int64(KernelEventClock.realtime.monotonic([UInt64(realNow - 5_000_000)])[0])
        #expect(abs(converted - (monoNow - 5_000_000)) < 1_000_000)
        #expect(KernelEventClock.monotonic.monotonic([42]) == [42])
    }

    @Test func monotonicClockSpinAndSleepLetAtLeastTheRequestedTimePass() {
        let clock = MonotonicClock()
        let start = clock.nanoseconds()
        clock.spin(nanoseconds: 20_000)
        let afterSpin = clock.nanoseconds()
        #expect(afterSpin - start >= 20_000)
        clock.sleep(nanoseconds: 1_000_000)
        #expect(clock.nanoseconds() - afterSpin >= 1_000_000)
    }
}
