import BinProtocol
import Testing

@testable import Aggregator

@Suite("Judged states")
struct JudgedStateTimesTests {
    @Test("the judged-state table answers newest, superseded and untracked, and keeps a device's first bins")
    func judgedStateTable() {
        var table = JudgedStateTimes()
        #expect(table.record(device: "pt-1", bin: "wet", atMs: 10) == .newest)
        #expect(table.record(device: "pt-1", bin: "wet", atMs: 9) == .superseded)
        #expect(table.record(device: "pt-1", bin: "wet", atMs: 10) == .newest, "the same time again is judged")
        for index in 1..<WireLimits.maxBins {
            #expect(table.record(device: "pt-1", bin: "b\(index)", atMs: 1) == .newest)
        }
        #expect(table.record(device: "pt-1", bin: "extra", atMs: 20) == .untracked)
        #expect(table.record(device: "pt-1", bin: "wet", atMs: 30) == .newest, "a tracked bin stays tracked")
        #expect(table.record(device: "pt-2", bin: "extra", atMs: 20) == .newest, "the limit is per device")
    }
}
