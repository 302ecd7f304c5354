import Testing

@testable import BinDaemon

@Suite struct BoardTests {
    @Test func everyShippedBoardValidates() throws {
        let files = BoardLoader.boardFiles(in: boardsDirectory)
        #expect(
            files.map { String($0.split(separator: "/").last!) } == [
                "beaglebone-black.yaml", "orange-pi-zero2.yaml", "raspberry-pi-5.yaml", "raspberry-pi.yaml", "sim.yaml",
            ])
        for file in files {
            let board = try BoardLoader.load(path: file)
            #expect(!board.pins.isEmpty && !board.chips.isEmpty && !board.sources.isEmpty, "\(file)")
            #expect(file.hasSuffix("/\(board.name).yaml"))
        }
    }

    @Test func raspberryPiFacts() throws {
        let pi = try BoardLoader.load(reference: "raspberry-pi", relativeTo: nil, searchPaths: [boardsDirectory])
        #expect(pi.chips.first?.labels == ["pinctrl-bcm2711", "pinctrl-bcm2835"])
        #expect(pi.pin(named: "GPIO17")?.line == 17)
        #expect(pi.pin(named: "pin11")?.name == "GPIO17")
        #expect(pi.pin(named: "P1-11")?.name == "GPIO17")
        #expect(pi.pin(named: "p1_40")?.name == "GPIO21")
        #expect(pi.pin(named: "BCM4")?.header == "P1-7")
        #expect(pi.pin(named: "pin1") == nil)  // 3.3 V, not a GPIO
        #expect(pi.pin(named: "GPIO14")?.caution?.contains("UART") == true)
        #expect(pi.pins.count == 28)
        let pi5 = try BoardLoader.load(reference: "raspberry-pi-5", relativeTo: nil, searchPaths: [boardsDirectory])
        #expect(pi5.chips.map(\.labels) == [["pinctrl-rp1"]])
        #expect(pi5.pin(named: "pin11")?.line == 17)
    }

    @Test func otherBoardsFacts() throws {
        let bbb = try BoardLoader.load(reference: "beaglebone-black", relativeTo: nil, searchPaths: [boardsDirectory])
        // P9_12 is GPIO1_28, kernel GPIO 60: bank 1, line 28.
        let p912 = try #require(bbb.pin(named: "P9_12"))
        #expect(p912.chip == "gpio1" && p912.line == 28 && p912.header == "P9-12")
        #expect(bbb.pin(named: "GPIO1_28") == p912)
        #expect(bbb.chip(id: "gpio3")?.labels == ["gpio-96-127"])
        #expect(bbb.pin(named: "P8_3")?.caution?.contains("eMMC") == true)
        let opi = try BoardLoader.load(reference: "orange-pi-zero2", relativeTo: nil, searchPaths: [boardsDirectory])
        #expect(opi.pin(named: "pin7")?.line == 73)  // PC9 = 2*32 + 9
        #expect(opi.pin(named: "PH5")?.header == "P1-3")
        #expect(opi.chips.first?.labels == ["300b000.pinctrl"])
        let sim = try BoardLoader.load(reference: "sim", relativeTo: nil, searchPaths: [boardsDirectory])
        #expect(sim.pins.count == 64 && sim.pin(named: "GPIO63")?.line == 63 && sim.chips.first?.labels == ["bins-sim"])
    }

    @Test func invalidBoardFilesAreRejectedWithEveryProblem() {
        let yaml = """
            board: bad
            description: broken
            chips:
              main: {labels: [x], lines: 8}
            pins:
              - {name: A, chip: main, line: 3}
              - {name: B, chip: other, line: 1}
              - {name: C, chip: main, line: 8}
              - {name: D, chip: main, line: 3}
              - {name: a, chip: main, line: 4}
              - {name: E, chip: main, line: 5, colour: red}
            """
        do {
            _ = try BoardLoader.parse(yaml: yaml, file: "bad.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidBoard)
            #expect(error.message == "bad.yaml: 5 error(s) in the board file")
            #expect(
                error.issues.map(\.description) == [
                    "bad.yaml:7:21: pins[1].chip: unknown chip \"other\" (the board declares main)",
                    "bad.yaml:8:33: pins[2].line: line 8 does not exist (chip main has 8 lines)",
                    "bad.yaml:9:33: pins[3].line: chip main line 3 is already pin A",
                    "bad.yaml:10:5: pins[4]: \"a\" is already used by pin A",
                    "bad.yaml:11:36: pins[5].colour: unknown key (expected one of: aliases, caution, chip, header, line, name)",
                ])
        }
    }

    @Test func unknownBoardNameIsAnError() {
        #expect(throws: BinDaemonError.self) {
            try BoardLoader.load(reference: "no-such-board", relativeTo: nil, searchPaths: [boardsDirectory])
        }
        #expect(BoardLoader.locate(reference: "../etc/passwd", relativeTo: nil, searchPaths: [boardsDirectory]) == nil)
    }
}
