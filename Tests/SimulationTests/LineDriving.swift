import GPIO

/// Bit-banging helpers for driving the models by hand, the way a driver would.
extension GPIOOutputLine {
    /// One high pulse of `highNanoseconds`, then `lowNanoseconds` low.
    func pulse(highNanoseconds: UInt64 = 1_000, lowNanoseconds: UInt64 = 1_000) throws {
        try set(true)
        chip.clock.spin(nanoseconds: highNanoseconds)
        try set(false)
        chip.clock.spin(nanoseconds: lowNanoseconds)
    }
}

/// Clocks out one HX711 read of `pulses` pulses, sampling DOUT after each rising edge as the
/// datasheet says; returns the 24-bit value sign-extended and DOUT after the last pulse.
func shiftOutHX711(clock: any GPIOOutputLine, data: any GPIOInputLine, pulses: Int) throws -> (
    code: Int32, doutAfter: Bool
) {
    var raw: UInt32 = 0
    for index in 0..<pulses {
        try clock.set(true)
        clock.chip.clock.spin(nanoseconds: 1_000)
        let bit = try data.get()
        try clock.set(false)
        clock.chip.clock.spin(nanoseconds: 1_000)
        if index < 24 { raw = (raw << 1) | (bit ? 1 : 0) }
    }
    let code = Int32(bitPattern: raw << 8) >> 8
    return (code, try data.get())
}

/// Waits (in virtual time) until DOUT is low; returns the virtual time it went low, or nil.
func waitForHX711Ready(_ data: any GPIOEventLine, timeoutNanoseconds: UInt64) throws -> UInt64? {
    if try !data.get() { return data.chip.clock.nanoseconds() }
    let deadline = data.chip.clock.nanoseconds() + timeoutNanoseconds
    while data.chip.clock.nanoseconds() < deadline {
        let events = try data.chip.waitForEvents(
            on: [data], timeoutNanoseconds: deadline - data.chip.clock.nanoseconds(), wakeup: nil)
        if let falling = events.last(where: { $0.type == .falling }), try !data.get() {
            return falling.timestampNanoseconds
        }
    }
    return nil
}
