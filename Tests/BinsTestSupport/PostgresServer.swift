import Foundation
import Synchronization

/// A PostgreSQL server for tests. `BINS_TEST_POSTGRES_URL` (set by `scripts/with-postgres`) names one;
/// without it, the first caller starts a throwaway server for this test process (initdb in a temporary
/// directory, a free loopback port; as root it runs as the `postgres` user, since initdb refuses root)
/// and stops it when the process exits. If neither works the call throws, so a PostgreSQL test fails
/// rather than silently passing.
public enum PostgresServer {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// `postgres://user@host:port/database` of the server's maintenance database.
    public static func url() throws -> String {
        try state.withLock { state in
            if let url = state.url { return url }
            if let url = ProcessInfo.processInfo.environment["BINS_TEST_POSTGRES_URL"], !url.isEmpty {
                state.url = url
                return url
            }
            if let failure = state.failure { throw Failure(description: failure) }
            do {
                let server = try startThrowawayServer()
                state.url = server.url
                state.dataDirectory = server.directory
                state.binDirectory = server.binDirectory
                state.runAsPostgres = server.runAsPostgres
                atexit { PostgresServer.stopThrowawayServer() }
                return server.url
            } catch let failure as Failure {
                state.failure = failure.description
                throw failure
            }
        }
    }

    /// Creates a fresh, empty database on the server and returns its URL, so every test starts clean.
    /// Runs on a thread of its own: psql is waited for, and a test must not hold one of the cooperative
    /// pool's few threads meanwhile (the tests running beside it, and the aggregators under test, need them).
    public static func makeDatabase(prefix: String = "bins_test") async throws -> String {
        try await onOwnThread { try makeDatabaseWaiting(prefix: prefix) }
    }

    private static func makeDatabaseWaiting(prefix: String) throws -> String {
        let base = try url()
        let name = "\(prefix)_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        try runPSQL(url: base, sql: "CREATE DATABASE \(name)")
        guard var components = URLComponents(string: base) else {
            throw Failure(description: "\(redact(base)) is not a URL")
        }
        components.path = "/\(name)"
        guard let url = components.string else { throw Failure(description: "cannot build a URL for database \(name)") }
        return url
    }

    /// Drops a database made by ``makeDatabase(prefix:)``; errors are ignored (the server is thrown away).
    /// Returns at once (it is called from `defer`, where nothing can be awaited): psql runs on a thread
    /// of its own.
    public static func dropDatabase(url: String) {
        guard let base = try? self.url(), let path = URLComponents(string: url)?.path, path.count > 1 else { return }
        let name = String(path.dropFirst())
        Thread { _ = try? runPSQL(url: base, sql: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }.start()
    }

    // MARK: Implementation

    private struct State {
        var url: String?
        var failure: String?
        var dataDirectory: String?
        var binDirectory: String?
        var runAsPostgres = false
    }

    private static let state = Mutex(State())

    static func redact(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "<url>" }
        if components.password != nil { components.password = "***" }
        return components.string ?? "<url>"
    }

    /// Runs `sql` through psql on the database at `url` (a test that changes what a store cannot, such as
    /// undoing a migration).
    public static func execute(url: String, sql: String) async throws {
        _ = try await onOwnThread { try runPSQL(url: url, sql: sql) }
    }

    /// The rows `sql` returns on the database at `url`, one line each, columns separated by `|` (psql's
    /// unaligned output).
    public static func query(url: String, sql: String) async throws -> [String] {
        try await onOwnThread { try runPSQL(url: url, sql: sql, rows: true) }
            .split(separator: "\n").map(String.init)
    }

    /// What ``holdLock(_:url:applicationName:outputPath:)`` holds.
    public enum HeldLock: Sendable {
        /// `LOCK TABLE … IN EXCLUSIVE MODE`: reads pass, every write waits.
        case table(String)
        /// The rows a `SELECT` finds, locked `FOR UPDATE`.
        case rows(select: String)
    }

    /// Starts psql on the database at `url`, a session named `applicationName` that takes `lock` and keeps
    /// it for ten minutes while a test watches what waits for it, and returns once the lock is held. End it
    /// with ``terminateSessions(url:applicationName:)`` (or by killing the returned process).
    public static func holdLock(_ lock: HeldLock, url: String, applicationName: String, outputPath: String)
        async throws -> ChildProcess
    {
        let take: String
        let heldWhen: String
        switch lock {
        case .table(let table):
            take = "LOCK TABLE \(table) IN EXCLUSIVE MODE"
            heldWhen = """
                SELECT count(*) FROM pg_locks
                WHERE relation = '\(table)'::regclass AND granted AND mode = 'ExclusiveLock'
                """
        case .rows(let select):
            take = "\(select) FOR UPDATE"
            // An xid is assigned when a row is locked.
            heldWhen = """
                SELECT count(*) FROM pg_stat_activity
                WHERE application_name = '\(applicationName)' AND backend_xid IS NOT NULL
                """
        }
        let holder = try ChildProcess(
            try psqlPath(),
            ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", "BEGIN; \(take); SELECT pg_sleep(600); COMMIT;"],
            environment: ["PGAPPNAME": applicationName], outputPath: outputPath)
        do {
            try await waitUntil(timeout: .seconds(20), "\(applicationName) holds its lock") {
                try await query(url: url, sql: heldWhen) == ["1"]
            }
        } catch {
            holder.send(SIGKILL)
            throw error
        }
        return holder
    }

    /// How many sessions on the database at `url` wait for a lock another session holds.
    public static func sessionsWaitingOnLocks(url: String) async throws -> Int {
        let rows = try await query(
            url: url,
            sql: "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return rows.first.flatMap { Int($0) } ?? 0
    }

    /// Ends the server sessions that ``holdLock(_:url:applicationName:outputPath:)`` started under
    /// `applicationName` (their locks are released with them).
    public static func terminateSessions(url: String, applicationName: String) async throws {
        try await execute(
            url: url,
            sql: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '\(applicationName)'")
    }

    @discardableResult
    private static func runPSQL(url: String, sql: String, rows: Bool = false) throws -> String {
        let result = try run(
            try psqlPath(),
            ["-X", "-q", "-v", "ON_ERROR_STOP=1"] + (rows ? ["-A", "-t"] : []) + ["-d", url, "-c", sql])
        guard result.status == 0 else {
            throw Failure(
                description: "psql on \(redact(url)) failed (exit \(result.status)): \(result.output.prefix(400))")
        }
        return result.output
    }

    /// psql on PATH, or in the newest PostgreSQL installed under /usr/lib/postgresql.
    private static func psqlPath() throws -> String {
        let searchPath = [ProcessInfo.processInfo.environment["PATH"], binDirectory()].compactMap { $0 }.joined(
            separator: ":")
        guard let psql = try? ChildProcess.locate("psql", searchPath: searchPath) else {
            throw Failure(description: "psql not found (install postgresql-client)")
        }
        return psql
    }

    private static func binDirectory() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        guard let newest = versions.compactMap({ Int($0) }).sorted().last else { return nil }
        let directory = "\(root)/\(newest)/bin"
        return FileManager.default.isExecutableFile(atPath: "\(directory)/initdb") ? directory : nil
    }

    private static func startThrowawayServer() throws -> (
        url: String, directory: String, binDirectory: String, runAsPostgres: Bool
    ) {
        guard let bin = binDirectory() else {
            throw Failure(
                description:
                    "no PostgreSQL for tests: BINS_TEST_POSTGRES_URL is not set and no server binaries are in /usr/lib/postgresql/*/bin (run the tests through scripts/with-postgres, or install postgresql)"
            )
        }
        let directory = NSTemporaryDirectory() + "bins-postgres-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let asRoot = getuid() == 0
        if asRoot {
            let chown = try run("/bin/chown", ["postgres", directory])
            guard chown.status == 0 else {
                throw Failure(
                    description:
                        "chown postgres \(directory) failed: \(chown.output.prefix(200)) (is there a postgres user?)")
            }
        }
        func command(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
            asRoot
                ? try run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(bin)/\(tool)"] + arguments)
                : try run("\(bin)/\(tool)", arguments)
        }
        let initdb = try command(
            "initdb", ["-D", "\(directory)/data", "-U", "bins", "--auth=trust", "-E", "UTF8", "--no-locale"])
        guard initdb.status == 0 else {
            throw Failure(
                description: "initdb in \(directory) failed (exit \(initdb.status)): \(initdb.output.suffix(400))")
        }
        var lastOutput = ""
        for _ in 0..<5 {
            let port = try freeLoopbackPort()
            let options = "-c listen_addresses=127.0.0.1 -p \(port) -k \(directory) -c fsync=off -c max_connections=300"
            let start = try command(
                "pg_ctl",
                ["-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "30", "-o", options, "start"])
            if start.status == 0 {
                return ("postgres://bins@127.0.0.1:\(port)/postgres", directory, bin, asRoot)
            }
            lastOutput = start.output
        }
        throw Failure(
            description: "the throwaway PostgreSQL server in \(directory) did not start: \(lastOutput.suffix(400))")
    }

    private static func stopThrowawayServer() {
        let (directory, bin, asRoot) = state.withLock { ($0.dataDirectory, $0.binDirectory, $0.runAsPostgres) }
        guard let directory, let bin else { return }
        let arguments = ["-D", "\(directory)/data", "-m", "immediate", "-w", "stop"]
        _ =
            asRoot
            ? try? run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(bin)/pg_ctl"] + arguments)
            : try? run("\(bin)/pg_ctl", arguments)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a tool to completion and returns its exit status (128 + the signal if one ended it) and output.
    /// A `ChildProcess`, reaped by its own pid (Foundation's `Process` can miss the exit of a child while
    /// other harness code spawns and reaps its own). The output goes to a file, not a pipe: `pg_ctl start`
    /// leaves the server running, and a server holding a pipe's write end would keep a reader waiting for
    /// an end of file that never comes. Used for one-time setup, so waiting on the calling thread is
    /// acceptable.
    private static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let outputPath = NSTemporaryDirectory() + "bins-postgres-tool-\(getpid())-\(UUID().uuidString.prefix(8)).log"
        defer { unlink(outputPath) }
        let child = try ChildProcess(executable, arguments, outputPath: outputPath)
        let status: Int32 =
            switch try child.waitForExitBlocking() {
            case .exited(let code): code
            case .signalled(let signal): 128 + signal
            }
        return (status, child.output)
    }
}
