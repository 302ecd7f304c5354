import BinProtocol

/// One calibrated scale reading: net mass on the scale (kg, after tare and scale factor).
public struct WeightReading: Sendable, Equatable {
    public var at: WireTimestamp
    public var massKg: Double

    public init(at: WireTimestamp, massKg: Double) {
        self.at = at
        self.massKg = massKg
    }
}

/// One ranger reading turned into a fill level through the bin's geometry.
public struct FillReading: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// A distance inside the bin.
        case level(FillLevel)
        /// An echo inside the blind zone: the surface is at or above the top.
        case aboveTop
        /// No echo within the range timeout.
        case noEcho
        /// A reading the owner judged not to be the surface (a stuck ranger repeating itself): no fill, and
        /// no observation about the echo either.
        case rejected
    }

    public var at: WireTimestamp
    public var outcome: Outcome

    public init(at: WireTimestamp, outcome: Outcome) {
        self.at = at
        self.outcome = outcome
    }
}

/// "Please sample now": what the detector wants from the sampler.
public enum SampleRequest: Sendable, Equatable, Hashable {
    /// `readings` scale readings back to back (1 for an idle heartbeat reading).
    case scale(readings: Int)
    /// One ranger reading made of `pings` pings.
    case ranger(pings: Int)
}

/// What the detector asks its owner to do.
public enum DetectorAction: Sendable, Equatable {
    case deposit(Deposit, at: WireTimestamp)
    case collection(Collection, at: WireTimestamp)
    case sample(SampleRequest)
    /// The bin is known empty after a collection: move the scale's zero by `correctionKg` (bounded by
    /// `auto_zero_limit_kg`). The detector already treats the current load as zero from here on.
    case autoZero(correctionKg: Double, at: WireTimestamp)
    /// A condition for the fault tracker.
    case observation(FaultObservation)
}

extension WireTimestamp {
    /// Seconds from `self` to `later` (negative when `later` is earlier).
    func seconds(to later: WireTimestamp) -> Double {
        Double(later.millisecondsSinceEpoch - millisecondsSinceEpoch) / 1000
    }

    func adding(seconds: Double) -> WireTimestamp {
        adding(milliseconds: Int64((seconds * 1000).rounded()))
    }
}
