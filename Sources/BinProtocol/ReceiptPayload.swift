/// `bins/v1/{device}/receipt` (retained, QoS 1, written by the aggregator only): everything the device
/// sent with `seq <= through` is committed to the ledger, or accounted for (reported dropped by the
/// device, or refused as invalid). The device keeps each event in its outbox until a receipt covers it,
/// so a broker that crashes after acknowledging an event can no longer lose it: the device sends again
/// what no receipt covers (docs/mqtt.md, "End-to-end receipts").
///
/// `highest` is the highest seq the aggregator has seen from the device. `highest > through` means a
/// gap: something after `through` arrived while something before it did not, so the device need not
/// wait for a timeout to send the missing events again.
public struct ReceiptPayload: Codable, Sendable, Equatable {
    public var schema: Int
    public var device: String
    public var ts: WireTimestamp
    public var through: Int64
    public var highest: Int64

    public init(device: String, ts: WireTimestamp, through: Int64, highest: Int64) {
        self.schema = WireSchema.version
        self.device = device
        self.ts = ts
        self.through = through
        self.highest = max(highest, through)
    }
}

extension ReceiptPayload: WireDecodable, WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        try Check.schema(schema)
        try Check.device(device, topicDevice: topicDevice)
        try Check.timestamp(ts)
        try Check.sequence(through, "through", allowZero: true)
        try Check.sequence(highest, "highest", allowZero: true)
        guard highest >= through else {
            throw WireError(.invalidField, "highest \(highest) is below through \(through)")
        }
    }
}
