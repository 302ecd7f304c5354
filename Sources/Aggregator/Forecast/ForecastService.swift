import Logging
import ServiceLifecycle
import Synchronization

/// The forecasts in use, shared by the alert engine (`bin_full_soon`) and the HTTP API (`/api/v1/bins`).
public final class ForecastSnapshot: Sendable {
    private let current = Mutex<BinForecasts?>(nil)

    public init() {}

    public var forecasts: BinForecasts? { current.withLock { $0 } }

    func replace(_ forecasts: BinForecasts) { current.withLock { $0 = forecasts } }
}

/// Learns every bin's fill rate from the store at start and every `refresh_s` after: learning reads weeks
/// of deposits, which is too much for every state message or request, and rates change over days, not
/// minutes.
public final class ForecastService: Service, Sendable {
    private let snapshot: ForecastSnapshot
    private let store: any AggregatorStore
    private let registry: Registry
    private let calendar: LedgerCalendar
    private let settings: ForecastSettings
    private let collectionFill: Double
    private let clock: @Sendable () -> Int64
    private let logger: Logger

    public init(
        snapshot: ForecastSnapshot, store: any AggregatorStore, registry: Registry, calendar: LedgerCalendar,
        settings: ForecastSettings,
        collectionFill: Double, logger: Logger, clock: @escaping @Sendable () -> Int64 = AlertEngine.wallClock
    ) {
        self.snapshot = snapshot
        self.store = store
        self.registry = registry
        self.calendar = calendar
        self.settings = settings
        self.collectionFill = collectionFill
        self.clock = clock
        self.logger = logger
    }

    /// Learns once, now.
    public func refresh() async {
        do {
            snapshot.replace(
                try await BinForecasts.learn(
                    store: store, registry: registry, calendar: calendar, collectionFill: collectionFill,
                    historyDays: settings.historyDays,
                    untilMs: clock()))
        } catch {
            guard !Task.isCancelled else { return }
            logger.warning("forecast.refresh_failed", metadata: ["forecast.error": "\(error.message)"])
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.refresh()
                try? await Task.sleep(for: .seconds(self.settings.refreshSeconds))
            }
        }
    }
}
