/// Version of the wire contract in ../shared/DESIGN.md section 6. Every payload carries it so that a
/// receiver can refuse what it does not understand instead of misreading it.
public enum WireSchema {
    public static let version = 1

    /// Payloads larger than this are refused before parsing: no legitimate message comes near it, and a
    /// bounded size keeps a hostile or broken publisher from costing the receiver memory.
    public static let maxPayloadBytes = 16 * 1024
}

/// Waste streams a bin can be declared for.
public enum WasteStream: String, Codable, Sendable, CaseIterable, Hashable, Comparable {
    case wet, dry, recyclable, hazardous

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// What the density of a deposit says it is. Only wet and dry can be told apart by density.
public enum ObservedStream: String, Codable, Sendable, CaseIterable, Hashable {
    case wet, dry, unknown
}

/// How far a reading can be trusted.
public enum ReadingQuality: String, Codable, Sendable, CaseIterable, Hashable {
    /// All sensors agree and are within their specifications.
    case good
    /// A sensor is missing or noisy; the values shown are the best available.
    case degraded
    /// Sensors contradict each other or a value is implausible.
    case suspect
}

/// The sensor a fault belongs to.
public enum FaultSensor: String, Codable, Sendable, CaseIterable, Hashable {
    case scale, ranger, lid, outbox, system
}
