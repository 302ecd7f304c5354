import BinProtocol
import Testing

@testable import Aggregator

@Suite("Device bins")
struct DeviceBinsTests {
    @Test("a device's first bins are admitted and no more; states are judged newest first, per device")
    func admittedBinsAndJudgedStates() {
        var bins = DeviceBins()
        var outcomes: [DeviceBins.Judgement] = []
        outcomes.append(bins.judge(device: "pt-1", bin: "wet", atMs: 10))
        outcomes.append(bins.judge(device: "pt-1", bin: "wet", atMs: 9))
        outcomes.append(bins.judge(device: "pt-1", bin: "wet", atMs: 10))
        #expect(outcomes == [.newest, .superseded, .newest], "an older state is not judged; the same time again is")

        var admitted: [Bool] = [bins.admit(device: "pt-1", bin: "dry")]  // by an event, before any state
        outcomes = [bins.judge(device: "pt-1", bin: "dry", atMs: 1)]
        for index in 2..<WireLimits.maxBins { admitted.append(bins.admit(device: "pt-1", bin: "b\(index)")) }
        #expect(admitted.count == WireLimits.maxBins - 1 && admitted.allSatisfy { $0 })
        let extra = bins.admit(device: "pt-1", bin: "extra")
        outcomes.append(bins.judge(device: "pt-1", bin: "extra", atMs: 20))
        outcomes.append(bins.judge(device: "pt-1", bin: "wet", atMs: 30))
        let otherDevice = bins.admit(device: "pt-2", bin: "extra")
        #expect(!extra, "a device has no room beyond its first bins")
        #expect(outcomes == [.newest, .refused, .newest], "an admitted bin stays admitted")
        #expect(otherDevice, "the limit is per device")
    }
}
