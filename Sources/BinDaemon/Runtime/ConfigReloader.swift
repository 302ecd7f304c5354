import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP (`systemctl reload binsd`): reads the configuration file again, validates it, and applies what a
/// running daemon can change — detection thresholds, classification limits, sampling intervals, the log
/// level — without losing a cycle in progress. What needs new lines, a new connection or new files (device,
/// broker, board, bins and their sensors or shapes, state directory, outbox, temperature source) is refused
/// with a log line naming the fields; a file with errors changes nothing.
final class ConfigReloader: Service, Sendable {
    let path: String
    let options: ConfigLoader.Options
    let daemon: Daemon
    let levels: LogLevelControl
    let logger: Logger
    private let current: Mutex<DaemonConfig>

    init(path: String, options: ConfigLoader.Options, daemon: Daemon, levels: LogLevelControl, logger: Logger) {
        self.path = path
        self.options = options
        self.daemon = daemon
        self.levels = levels
        self.logger = logger
        current = Mutex(daemon.config)
    }

    func run() async throws {
        let (hangups, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "binsd.sighup"))
        source.setEventHandler { continuation.yield() }
        source.resume()
        defer {
            source.cancel()
            continuation.finish()
        }
        for await _ in hangups.cancelOnGracefulShutdown() {
            await reload()
        }
    }

    func reload() async {
        logger.notice("config.reload", metadata: ["config.file": "\(path)"])
        let loaded: DaemonConfig
        do {
            loaded = try ConfigLoader.load(path: path, options: options)
        } catch {
            logger.error("config.reload.rejected", metadata: ["config.error": "\(error.message)"])
            for issue in error.issues { logger.error("config.reload.issue", metadata: ["config.issue": "\(issue)"]) }
            return
        }
        let old = current.withLock { $0 }
        let (applied, refused) = Self.merge(old: old, new: loaded)
        if !refused.isEmpty {
            logger.warning(
                "config.reload.needs_restart",
                metadata: [
                    "config.fields": "\(refused.joined(separator: ","))", "config.hint": "systemctl restart binsd",
                ])
        }
        guard applied.configHash != old.configHash else {
            logger.notice("config.reload.unchanged")
            return
        }
        current.withLock { $0 = applied }
        levels.set(applied.logging.level)
        await daemon.control.reconfigure(applied)
        daemon.live.rebirth(
            identity: LivePublisher.Identity(
                device: applied.device, session: daemon.session, version: BinDaemonVersion.current,
                configHash: applied.configHash, board: applied.board.name, bins: applied.binDescriptors))
        logger.notice("config.reload.applied", metadata: ["config.hash": "\(applied.configHash)"])
    }

    /// The running configuration with `new`'s run-time settings, and the fields of `new` that differ but
    /// need a restart.
    static func merge(old: DaemonConfig, new: DaemonConfig) -> (applied: DaemonConfig, refused: [String]) {
        var refused: [String] = []
        if old.device != new.device { refused.append("device") }
        if old.broker != new.broker { refused.append("broker") }
        if old.board != new.board { refused.append("board") }
        if old.stateDirectory != new.stateDirectory { refused.append("state_dir") }
        if old.outbox != new.outbox { refused.append("outbox") }
        if old.temperature != new.temperature { refused.append("temperature") }
        if old.simulation != new.simulation { refused.append("simulation") }
        var applied = old
        if old.bins.map(\.id) != new.bins.map(\.id) {
            refused.append("bins")
        } else {
            for (index, bin) in new.bins.enumerated() {
                var comparable = bin
                comparable.thresholds = old.bins[index].thresholds
                if comparable != old.bins[index] {
                    refused.append("bins[\(index)]")
                } else {
                    applied.bins[index].thresholds = bin.thresholds
                }
            }
        }
        applied.classification = new.classification
        applied.sampling = new.sampling
        applied.logging = new.logging
        applied.warnings = new.warnings
        applied.configHash = ConfigLoader.configHash(applied)
        return (applied, refused)
    }
}
