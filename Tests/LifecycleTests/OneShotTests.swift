import Testing

@testable import Lifecycle

@Suite("A value delivered once", .timeLimit(.minutes(1)))
struct OneShotTests {
    @Test("waiters before and after the delivery get the first value; later deliveries are ignored")
    func firstValueWins() async {
        let shot = OneShot<Int>()
        #expect(shot.value == nil)
        async let early = shot.wait()
        shot.fulfil(1)
        shot.fulfil(2)
        #expect(await early == 1)
        #expect(await shot.wait() == 1)
        #expect(shot.value == 1)
    }

    @Test("as a gate (Void): once open it stays open for every waiter")
    func gate() async {
        let gate = OneShot<Void>()
        async let first: Void = gate.wait()
        async let second: Void = gate.wait()
        gate.fulfil(())
        await first
        await second
        await gate.wait()
        #expect(gate.value != nil)
    }
}
