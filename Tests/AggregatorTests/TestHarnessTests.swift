import BinsTestSupport
import Foundation
import Testing

/// The test harness's own behaviour that these suites rely on (BinsTestSupport has no test target of its
/// own): finding programs by name the way every test starts them, what they inherit, and seeing loopback
/// connections.
@Suite("Test harness: programs and connections")
struct TestHarnessTests {
    @Test("a name is looked up in every PATH directory, in order, not only in the sbin fallbacks")
    func locatesInPathDirectories() throws {
        let first = try TemporaryDirectory(prefix: "path-a")
        let second = try TemporaryDirectory(prefix: "path-b")
        for directory in [first, second] {
            let program = try directory.write("bins-probe", "#!/bin/sh\nexit 0\n")
            #expect(chmod(program, 0o755) == 0)
        }
        let searchPath = "/nonexistent:\(first.path):\(second.path)"
        #expect(try ChildProcess.locate("bins-probe", searchPath: searchPath) == "\(first.path)/bins-probe")
        #expect(
            try ChildProcess.locate("bins-probe", searchPath: "\(second.path):\(first.path)")
                == "\(second.path)/bins-probe")
        #expect(try ChildProcess.locate("/bin/sh", searchPath: "") == "/bin/sh", "a path is taken as it is")
    }

    @Test("a program that is not executable or not there is reported with the PATH searched")
    func reportsWhatWasSearched() throws {
        let directory = try TemporaryDirectory(prefix: "path-c")
        _ = try directory.write("not-executable", "#!/bin/sh\n")
        let error = #expect(throws: TestSupportError.self) {
            try ChildProcess.locate("not-executable", searchPath: directory.path)
        }
        #expect(error?.description.contains(directory.path) == true)
        #expect(error?.description.contains("not-executable") == true)
    }

    @Test("programs in /usr/bin (sqlite3, mosquitto_pub) start by name with the environment's PATH")
    func startsUsrBinProgramsByName() async throws {
        let directory = try TemporaryDirectory(prefix: "path-d")
        let output = try await ChildProcess.run("sqlite3", ["-version"], in: directory)
        #expect(output.hasPrefix("3."))
        let mosquittoPub = try ChildProcess.locate("mosquitto_pub")
        #expect(mosquittoPub.hasSuffix("/mosquitto_pub") && access(mosquittoPub, X_OK) == 0)
        #expect(!mosquittoPub.hasPrefix("/usr/sbin") && !mosquittoPub.hasPrefix("/sbin"))
    }

    @Test("a started program inherits standard input, output and error only, not the test process's sockets")
    func childInheritsNoDescriptors() async throws {
        let directory = try TemporaryDirectory(prefix: "path-e")
        // Like the listening sockets SwiftNIO opens here: no close-on-exec. Inherited, a socket would stay
        // open in the child after the test closed it, and the peer would see neither a FIN nor a reset.
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(descriptor > 2)
        defer { close(descriptor) }
        #expect(fcntl(descriptor, F_GETFD) == 0, "open here, without FD_CLOEXEC")
        let output = try await ChildProcess.run(
            "/bin/sh",
            [
                "-c",
                "for fd in 0 1 2 \(descriptor); do [ -e /proc/$$/fd/$fd ] && echo \"$fd open\" || echo \"$fd closed\"; done",
            ],
            in: directory)
        #expect(output == "0 open\n1 open\n2 open\n\(descriptor) closed\n")
    }

    @Test("every established connection to a port is listed, not only those on /proc/net/tcp's first page")
    func listsAllLoopbackConnections() async throws {
        let broker = try await MosquittoBroker.start()
        var descriptors: [Int32] = []
        defer { for descriptor in descriptors { close(descriptor) } }
        // 40 connections are 80 lines of /proc/net/tcp, more than its first 4 KiB page holds.
        for _ in 0..<40 {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            #expect(descriptor >= 0)
            descriptors.append(descriptor)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(broker.port).bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            #expect(connected == 0)
        }
        try await waitUntil(timeout: .seconds(10), "80 connection ends listed") {
            loopbackConnections(port: broker.port).count == 80
        }
        let clientEnds = loopbackConnections(port: broker.port).filter { !$0.serverSide }
        #expect(clientEnds.count == 40)
    }
}
