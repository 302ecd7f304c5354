/// MQTT topic names of the wire contract. Devices write only under `bins/v1/{device}/`, which is what
/// the broker's ACL enforces.
public enum Topics {
    public static let prefix = "bins/v1"
    public static let alerts = "sanitation/v1/alerts"
    public static let aggregatorStatus = "sanitation/v1/aggregator/status"

    public static func status(_ device: String) -> String { "\(prefix)/\(device)/status" }
    public static func birth(_ device: String) -> String { "\(prefix)/\(device)/birth" }
    public static func state(_ device: String, bin: String) -> String { "\(prefix)/\(device)/state/\(bin)" }
    public static func events(_ device: String) -> String { "\(prefix)/\(device)/events" }
    public static func health(_ device: String) -> String { "\(prefix)/\(device)/health" }
    public static func command(_ device: String) -> String { "\(prefix)/\(device)/cmd" }
    public static func commandReply(_ device: String) -> String { "\(prefix)/\(device)/cmd/reply" }
    /// A load received at a transfer station, booked by the station's own device (a weighbridge terminal
    /// or the station's `binsd`): the station's intake in the stream mass balance.
    public static func load(_ device: String) -> String { "\(prefix)/\(device)/load" }
    /// Written by the aggregator only (the ACL lets a device read its own and write none): how far the
    /// device's events are committed to the ledger, so the device may forget them (docs/mqtt.md).
    public static func receipt(_ device: String) -> String { "\(prefix)/\(device)/receipt" }

    /// Subscription filters for a receiver of all devices.
    public enum Filter {
        public static let status = "\(prefix)/+/status"
        public static let birth = "\(prefix)/+/birth"
        public static let state = "\(prefix)/+/state/+"
        public static let events = "\(prefix)/+/events"
        public static let health = "\(prefix)/+/health"
        public static let load = "\(prefix)/+/load"

        /// An MQTT v5 shared subscription, so several aggregators split one stream between them.
        public static func shared(group: String, _ filter: String) -> String { "$share/\(group)/\(filter)" }
    }

    /// What a device topic refers to.
    public enum Kind: Sendable, Equatable, Hashable {
        case status, birth
        case state(bin: String)
        case events, health, command, commandReply, receipt, load
    }

    /// Splits a topic under `bins/v1/` into device and kind; `nil` for anything else.
    public static func parse(_ topic: String) -> (device: String, kind: Kind)? {
        // Split on the UTF-8 bytes: ingest parses every message's topic, and splitting the String itself
        // would break it into grapheme clusters first.
        let parts = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map(Substring.init)
        guard parts.count >= 4, parts[0] == "bins", parts[1] == "v1" else { return nil }
        let device = String(parts[2])
        guard isValidIdentifier(device) else { return nil }
        switch (parts.count, parts[3]) {
        case (4, "status"): return (device, .status)
        case (4, "birth"): return (device, .birth)
        case (4, "events"): return (device, .events)
        case (4, "health"): return (device, .health)
        case (4, "cmd"): return (device, .command)
        case (4, "receipt"): return (device, .receipt)
        case (4, "load"): return (device, .load)
        case (5, "cmd") where parts[4] == "reply": return (device, .commandReply)
        case (5, "state"):
            let bin = String(parts[4])
            return isValidIdentifier(bin) ? (device, .state(bin: bin)) : nil
        default: return nil
        }
    }

    /// How `isValidIdentifier` reads to a person, for error messages.
    public static let identifierRule = "1 to 64 letters, digits, '-', '_' or '.'"

    /// Device and bin ids become topic levels, file names and database keys, so they are restricted to
    /// letters, digits, `-`, `_` and `.`, 1 to 64 characters, and cannot contain MQTT wildcards.
    public static func isValidIdentifier(_ id: some StringProtocol) -> Bool {
        guard (1...64).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                return true
            default:
                return false
            }
        }
    }
}
