#if canImport(Glibc)
import Glibc
#endif

/// SplitMix64: a tiny generator whose main use here is turning one seed into well-mixed state for
/// `SeededRandomGenerator` (as the xoshiro authors recommend).
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The simulator's deterministic random numbers: xoshiro256** seeded through SplitMix64. Every
/// random draw of a device model (noise, jitter, bounce) comes from one of these, so a scenario
/// with the same seed replays bit for bit. Independent streams for different parts come from one
/// scenario seed with `init(seed:stream:)`.
public struct SeededRandomGenerator: RandomNumberGenerator, Sendable, Hashable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    public init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        s0 = mixer.next()
        s1 = mixer.next()
        s2 = mixer.next()
        s3 = mixer.next()
    }

    /// A generator for one named part (e.g. `"wet.scale"`) derived from a scenario seed: different
    /// names give unrelated sequences, the same name always the same one.
    public init(seed: UInt64, stream: String) {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for byte in stream.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        self.init(seed: seed ^ hash.rotatedLeft(by: 17))
    }

    public mutating func next() -> UInt64 {
        let result = (s1 &* 5).rotatedLeft(by: 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3.rotatedLeft(by: 45)
        return result
    }
}

/// The draws the simulator makes, for any of its generators (the tests draw their data through them too).
extension RandomNumberGenerator {
    /// Uniform in [0, 1), 53 bits of precision.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in `range`.
    public mutating func nextDouble(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * nextUnit()
    }

    /// Normally distributed (Box–Muller; one draw per call keeps the state a plain value).
    public mutating func nextGaussian(mean: Double = 0, standardDeviation: Double = 1) -> Double {
        guard standardDeviation > 0 else { return mean }
        let u1 = 1 - nextUnit()  // (0, 1]: log is finite
        let u2 = nextUnit()
        return mean + standardDeviation * (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(by count: UInt64) -> UInt64 {
        (self << count) | (self >> (64 - count))
    }
}
