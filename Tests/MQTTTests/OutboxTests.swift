import BinsTestSupport
import Foundation
import MQTT
import Testing

@Suite("Outbox on real SQLite files")
struct OutboxTests {
    func payload(_ seq: Int64) -> [UInt8] { Array("{\"seq\":\(seq)}".utf8) }

    @Test(
        "seq is strictly increasing across restarts and stored with its record; sessions count starts",
        arguments: [OutboxSyncPolicy.everyWrite, .batched(interval: .milliseconds(50))])
    func seqAndSessionPersist(policy: OutboxSyncPolicy) throws {
        let directory = try TemporaryDirectory(prefix: "outbox")
        let path = directory.file("outbox.sqlite")
        do {
            let outbox = try Outbox(path: path, capacity: 100, syncPolicy: policy, logger: testLogger)
            #expect(try outbox.beginSession() == 1)
            #expect(outbox.lastSeq == 0)
            let seqs = try (0..<3).map { _ in
                try outbox.append(topic: "bins/v1/pt-1/events", qos: .atLeastOnce, build: payload)
            }
            #expect(seqs == [1, 2, 3])
            #expect(outbox.depth == 3)
            try outbox.remove(through: 3)
            #expect(outbox.depth == 0)
        }
        do {
            // All records were acknowledged and deleted: the counter, not max(seq), carries the sequence on.
            let outbox = try Outbox(path: path, capacity: 100, syncPolicy: policy, logger: testLogger)
            #expect(try outbox.beginSession() == 2)
            #expect(outbox.lastSeq == 3)
            let seq = try outbox.append(topic: "bins/v1/pt-1/events", qos: .atLeastOnce, build: payload)
            #expect(seq == 4)
            let records = try outbox.pending(after: 0, limit: 10)
            #expect(
                records == [OutboxRecord(seq: 4, topic: "bins/v1/pt-1/events", qos: .atLeastOnce, payload: payload(4))])
        }
    }

    @Test("a build that throws records nothing and does not use up the seq")
    func buildFailure() throws {
        struct EncodingFailed: Error {}
        let directory = try TemporaryDirectory(prefix: "outbox")
        let outbox = try Outbox(
            path: directory.file("o.sqlite"), capacity: 10, syncPolicy: .everyWrite, logger: testLogger)
        let error = #expect(throws: MQTTError.self) {
            try outbox.append(topic: "t", qos: .atLeastOnce) { _ in throw EncodingFailed() }
        }
        #expect(error?.code == .payloadBuildFailed)
        #expect(outbox.depth == 0)
        #expect(try outbox.append(topic: "t", qos: .atLeastOnce, build: payload) == 1)
    }

    @Test("pending returns records in seq order after a cursor, removal is by prefix")
    func pendingAndRemove() throws {
        let directory = try TemporaryDirectory(prefix: "outbox")
        let outbox = try Outbox(
            path: directory.file("o.sqlite"), capacity: 100, syncPolicy: .everyWrite, logger: testLogger)
        for _ in 0..<10 { try outbox.append(topic: "t", qos: .atLeastOnce, build: payload) }
        #expect(try outbox.pending(after: 0, limit: 3).map(\.seq) == [1, 2, 3])
        #expect(try outbox.pending(after: 7, limit: 10).map(\.seq) == [8, 9, 10])
        try outbox.remove(through: 4)
        #expect(outbox.depth == 6)
        #expect(try outbox.pending(after: 0, limit: 1).map(\.seq) == [5])
    }

    @Test("full: the oldest are dropped, one contiguous drop report is kept (across restarts) until taken")
    func capacityDropsOldest() throws {
        let directory = try TemporaryDirectory(prefix: "outbox")
        let path = directory.file("o.sqlite")
        do {
            let outbox = try Outbox(
                path: path, capacity: 100, syncPolicy: .batched(interval: .seconds(1)), logger: testLogger)
            for _ in 0..<250 { try outbox.append(topic: "t", qos: .atLeastOnce, build: payload) }
            #expect(outbox.depth == 100)
            #expect(try outbox.pending(after: 0, limit: 1).map(\.seq) == [151])
        }
        let outbox = try Outbox(path: path, capacity: 100, syncPolicy: .everyWrite, logger: testLogger)
        #expect(
            try outbox.takeDropReports() == [OutboxDropReport(firstSeq: 1, lastSeq: 150, count: 150, reason: .capacity)]
        )
        #expect(try outbox.takeDropReports().isEmpty)
        // Published in between: the next drop is a separate range.
        try outbox.remove(through: 160)
        for _ in 0..<20 { try outbox.append(topic: "t", qos: .atLeastOnce, build: payload) }
        #expect(outbox.depth == 100)
        #expect(
            try outbox.takeDropReports() == [
                OutboxDropReport(firstSeq: 161, lastSeq: 170, count: 10, reason: .capacity)
            ])
    }

    @Test("drop reports and the fault records announcing them are written in one transaction")
    func recordDropReports() throws {
        let directory = try TemporaryDirectory(prefix: "outbox")
        let outbox = try Outbox(
            path: directory.file("o.sqlite"), capacity: 5, syncPolicy: .everyWrite, logger: testLogger)
        for _ in 0..<8 { try outbox.append(topic: "bins/v1/pt-1/events", qos: .atLeastOnce, build: payload) }
        try outbox.recordRejected(seq: 7)
        let recorded = try outbox.recordDropReports(topic: "bins/v1/pt-1/events", qos: .atLeastOnce) { seq, report in
            Array(
                "{\"seq\":\(seq),\"code\":\"outbox.dropped\",\"first\":\(report.firstSeq),\"last\":\(report.lastSeq)}"
                    .utf8)
        }
        #expect(
            recorded == [
                OutboxDropReport(firstSeq: 1, lastSeq: 3, count: 3, reason: .capacity),
                OutboxDropReport(firstSeq: 7, lastSeq: 7, count: 1, reason: .rejected),
            ])
        let newest = try outbox.pending(after: 8, limit: 10)
        #expect(newest.map(\.seq) == [9, 10])
        #expect(
            String(decoding: newest[0].payload, as: UTF8.self)
                == "{\"seq\":9,\"code\":\"outbox.dropped\",\"first\":1,\"last\":3}")
        #expect(
            try outbox.takeDropReports() == [
                // The two fault records themselves pushed seqs 4 and 5 out: reported next time.
                OutboxDropReport(firstSeq: 4, lastSeq: 5, count: 2, reason: .capacity)
            ])
    }

    @Test("disk and memory stay bounded: 40,000 × 1 KiB records through a 500-record outbox")
    func bounded() async throws {
        let directory = try TemporaryDirectory(prefix: "outbox-bounded")
        let path = directory.file("o.sqlite")
        let peer = try ChildProcess(
            try TestExecutables.path("mqtt-test-peer"),
            ["outbox-fill", "--database", path, "--capacity", "500", "--count", "40000", "--payload-bytes", "1024"],
            outputPath: directory.file("fill.log"))
        let termination = try await peer.waitForExit(timeout: .seconds(300))
        #expect(termination == .exited(0), "\(peer.output)")
        func value(_ key: String) -> Int? {
            peer.output.split(separator: "\n").first { $0.hasPrefix(key + " ") }
                .flatMap { Int($0.split(separator: " ")[1]) }
        }
        let warm = try #require(value("rss-warm-kb"))
        let end = try #require(value("rss-end-kb"))
        #expect(peer.output.contains("depth 500 last-seq 40000"))
        // 39 MB of payload went through after the warm-up; the process grew by far less than that.
        #expect(end - warm < 8 * 1024, "peak RSS grew from \(warm) KiB to \(end) KiB")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
            $0.hasPrefix("o.sqlite")
        }
        let bytes = try files.reduce(0) { total, name in
            total + ((try FileManager.default.attributesOfItem(atPath: directory.file(name))[.size] as? Int) ?? 0)
        }
        // 500 records of ~1 KiB, plus at most a 4 MiB WAL and page slack.
        #expect(bytes < 8 * 1024 * 1024, "outbox files take \(bytes) bytes: \(files)")
        let outbox = try Outbox(path: path, capacity: 500, syncPolicy: .everyWrite, logger: testLogger)
        #expect(
            try outbox.takeDropReports() == [
                OutboxDropReport(firstSeq: 1, lastSeq: 39_500, count: 39_500, reason: .capacity)
            ])
    }

    @Test("a second open of the same outbox is refused while the first holds it")
    func exclusive() throws {
        let directory = try TemporaryDirectory(prefix: "outbox")
        let path = directory.file("o.sqlite")
        let first = try Outbox(path: path, capacity: 10, syncPolicy: .everyWrite, logger: testLogger)
        try first.append(topic: "t", qos: .atLeastOnce, build: payload)
        let error = #expect(throws: MQTTError.self) {
            _ = try Outbox(path: path, capacity: 10, syncPolicy: .everyWrite, logger: testLogger)
        }
        #expect(error?.code == .busy)
        #expect(error?.description.contains(path) == true)
        #expect(first.depth == 1)
    }

    @Test("bad files are clear errors naming the path: missing directory (ENOENT), not a database")
    func badFiles() throws {
        let directory = try TemporaryDirectory(prefix: "outbox")
        let missing = directory.file("no/such/dir/o.sqlite")
        let openError = #expect(throws: MQTTError.self) {
            _ = try Outbox(path: missing, capacity: 10, syncPolicy: .everyWrite, logger: testLogger)
        }
        #expect(openError?.code == .cannotOpen)
        #expect(openError?.errno == ENOENT)
        #expect(openError?.description.contains(missing) == true)

        let garbage = try directory.write("garbage.sqlite", String(repeating: "not a database ", count: 300))
        let corruptError = #expect(throws: MQTTError.self) {
            _ = try Outbox(path: garbage, capacity: 10, syncPolicy: .everyWrite, logger: testLogger)
        }
        #expect(corruptError?.code == .corrupt)

        let invalid = #expect(throws: MQTTError.self) {
            _ = try Outbox(path: directory.file("x.sqlite"), capacity: 0, syncPolicy: .everyWrite, logger: testLogger)
        }
        #expect(invalid?.code == .invalidConfiguration)
    }

    @Test(
        "a full disk is a reported fault (ENOSPC, path), not a crash; what was recorded survives",
        .enabled(if: SmallFileSystem.canMount))
    func diskFull() async throws {
        let mount = try await SmallFileSystem(megabytes: 1)
        let path = "\(mount.path)/outbox.sqlite"
        var recorded: Int64 = 0
        var failure: MQTTError?
        do {
            let outbox = try Outbox(path: path, capacity: 100_000, syncPolicy: .everyWrite, logger: testLogger)
            let filler = [UInt8](repeating: 120, count: 2048)
            for _ in 0..<2000 {
                do {
                    recorded = try outbox.append(topic: "t", qos: .atLeastOnce) { _ in filler }
                } catch {
                    failure = error
                    break
                }
            }
            // The outbox still works for reading and for freeing space after the failure.
            #expect(outbox.depth == Int(recorded))
        }
        let error = try #require(failure, "1 MiB cannot hold 2000 × 2 KiB")
        #expect(error.code == .diskFull, "\(error)")
        #expect(error.subject == .outbox(path: path))
        #expect(error.description.hasPrefix("outbox \(path): disk full: sqlite3_"), "\(error)")
        #expect(error.description.contains("(SQLite 13)"), "\(error)")
        #expect(recorded > 10)
        do {
            let reopened = try Outbox(path: path, capacity: 100_000, syncPolicy: .everyWrite, logger: testLogger)
            #expect(reopened.lastSeq == recorded)
            #expect(reopened.depth == Int(recorded))
        }
        try await mount.unmount()
    }

    @Test("a read-only file system is a reported fault naming the path", .enabled(if: SmallFileSystem.canMount))
    func readOnly() async throws {
        let mount = try await SmallFileSystem(megabytes: 1)
        let path = "\(mount.path)/outbox.sqlite"
        do {
            let outbox = try Outbox(path: path, capacity: 10, syncPolicy: .everyWrite, logger: testLogger)
            try outbox.append(topic: "t", qos: .atLeastOnce, build: payload)
        }
        try await mount.remountReadOnly()
        let error = #expect(throws: MQTTError.self) {
            _ = try Outbox(path: path, capacity: 10, syncPolicy: .everyWrite, logger: testLogger)
        }
        #expect(error?.code == .readOnly, "\(String(describing: error))")
        #expect(error?.description.contains(path) == true)
        let missing = "\(mount.path)/new.sqlite"
        let createError = #expect(throws: MQTTError.self) {
            _ = try Outbox(path: missing, capacity: 10, syncPolicy: .everyWrite, logger: testLogger)
        }
        #expect(createError?.code == .readOnly, "\(String(describing: createError))")
        #expect(createError?.errno == EROFS)
        try await mount.unmount()
    }
}

/// A tiny tmpfs mounted for one test (needs root / CAP_SYS_ADMIN, which CI has), to make a disk really
/// fill up or become read-only.
final class SmallFileSystem: Sendable {
    let directory: TemporaryDirectory
    var path: String { directory.path }

    static let canMount: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/bin/mount") else { return false }
        return true
    }()

    init(megabytes: Int) async throws {
        directory = try TemporaryDirectory(prefix: "tmpfs")
        try await ChildProcess.run(
            "/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", directory.path],
            in: try TemporaryDirectory())
    }

    /// Remounts read-only; retried briefly because the kernel refuses (EBUSY) while any process still holds
    /// a file there open for writing, e.g. a child spawned by a parallel test in the instant it inherited
    /// descriptors.
    func remountReadOnly() async throws {
        var lastError: (any Error)?
        try await waitUntil(
            timeout: .seconds(10), interval: .milliseconds(100), "remount read-only (\(String(describing: lastError)))"
        ) {
            do {
                try await ChildProcess.run(
                    "/bin/mount", ["-o", "remount,ro", directory.path], in: try TemporaryDirectory(),
                    timeout: .seconds(10))
                return true
            } catch {
                lastError = error
                return false
            }
        }
    }

    /// Unmounts; retried briefly for the same reason as the remount (a child process of a parallel test
    /// may hold an inherited descriptor there for an instant: "target is busy", seen in a full local run).
    func unmount() async throws {
        var lastError: (any Error)?
        try await waitUntil(
            timeout: .seconds(10), interval: .milliseconds(100), "unmount (\(String(describing: lastError)))"
        ) {
            do {
                try await ChildProcess.run(
                    "/bin/umount", [directory.path], in: try TemporaryDirectory(), timeout: .seconds(10))
                return true
            } catch {
                lastError = error
                return false
            }
        }
    }

    deinit {
        // Tests unmount explicitly; this only cleans up after a failed one (lazily, bounded wait).
        guard let child = try? ChildProcess("/bin/umount", ["-l", directory.path], outputPath: "/dev/null") else {
            return
        }
        for _ in 0..<5000 where child.isRunning { usleep(1000) }
    }
}
