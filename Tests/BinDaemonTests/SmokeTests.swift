import Testing
@testable import BinDaemon

@Test func placeholderCompiles() { #expect(Bool(true)) }
