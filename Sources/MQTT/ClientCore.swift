internal import CBinsMosquitto
import Logging
import Metrics
import Synchronization
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// Completion of one QoS 1/2 publish, called exactly once: PUBACK (or PUBCOMP) arrived, the broker refused
/// it (MQTT 5 reason code), the waiter was cancelled, or the client stopped.
typealias PublishCompletion = @Sendable (Result<Void, MQTTError>) -> Void

/// The client's state shared between the network thread (callbacks) and callers, behind one mutex.
///
/// Lock discipline: libmosquitto calls made while holding this lock only queue packets (threaded mode
/// never writes from the calling thread) and never invoke a callback that takes this lock; the log
/// callback, which libmosquitto does invoke from inside those calls, uses its own lock.
struct ClientSharedState {
    enum Lifecycle { case idle, running, stopped }

    struct Subscription {
        enum Sink {
            case stream(AsyncStream<MQTTMessage>.Continuation)
            case handler(any MQTTMessageHandler)
            case batchHandler(any MQTTBatchHandler)
        }
        var filters: [String]
        /// Filters unsubscribed at every connection whose queued messages still come here (see
        /// `MQTTClient.subscribe(_:qos:batchHandler:retiring:)`).
        var retiring: [String] = []
        /// `filters` and `retiring` with any `$share/{group}/` prefix removed, for matching incoming topics.
        var matchFilters: [String]
        var qos: MQTTQoS
        var sink: Sink
    }

    struct PendingSubscribe {
        var subscriptionID: UInt64
        var completion: @Sendable (Result<Void, MQTTError>) -> Void
    }

    var lifecycle = Lifecycle.idle
    var hasRun = false
    var stopRequested = false
    var connection = MQTTConnectionState.disconnected
    /// Whether libmosquitto holds a socket that a DISCONNECT can be queued on (set by the network thread
    /// around connection attempts, so `requestStop` never races a reconnect).
    var socketActive = false
    /// +1 at every accepted connection; lets the outbox publisher tell a reconnect from a steady link.
    var connectionGeneration: UInt64 = 0
    var connectedSince: ContinuousClock.Instant?
    var lastError: MQTTError?
    /// The first error of the current attempt or connection (a CONNACK refusal is more telling than the
    /// MOSQ_ERR_CONN_REFUSED the loop returns after it).
    var attemptError: MQTTError?
    var pendingPublishes: [Int32: PublishCompletion] = [:]
    var pendingSubscribes: [Int32: PendingSubscribe] = [:]
    /// SUBSCRIBEs sent to restore subscriptions on a new connection; `connected` is announced only when
    /// all are acknowledged, so anything published after a client sees `connected` reaches its handlers.
    var restoringSubscribes: Set<Int32> = []
    var subscriptions: [UInt64: Subscription] = [:]
    var nextID: UInt64 = 1
    var stateObservers: [UInt64: AsyncStream<MQTTConnectionState>.Continuation] = [:]
    /// Called on the network thread when the broker accepts a connection, before anyone can see it as
    /// connected (the outbox publisher notes which records were recorded before it).
    var acceptanceHooks: [UInt64: @Sendable (_ generation: UInt64) -> Void] = [:]
    var exitWaiters: [CheckedContinuation<Void, Never>] = []

    mutating func makeID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    mutating func setConnection(_ newState: MQTTConnectionState) {
        guard connection != newState else { return }
        connection = newState
        for continuation in stateObservers.values { continuation.yield(newState) }
    }
}

/// Everything behind `MQTTClient`: the libmosquitto handle, the network thread and the shared state.
/// libmosquitto's userdata points here (unretained: callbacks only run inside calls made by this object
/// or by its network thread, which holds a strong reference for as long as it runs).
final class ClientCore: Sendable {
    let configuration: MQTTConfiguration
    let broker: String
    let logger: Logger
    let handle: MosquittoHandle
    let wakeup: EventFD
    let shared = Mutex(ClientSharedState())
    /// The last error line libmosquitto logged (OpenSSL's reason for a failed handshake, for instance).
    let lastLibraryLog = Mutex<String?>(nil)
    /// Messages of the burst being read, per batch-handler subscription; handed over before any write.
    /// Only the network thread touches it (the mutex makes that checkable, not contended).
    let burst = Mutex(Burst())
    /// Batches handed over and not yet committed: nothing is written while there are any.
    let acknowledgements: AcknowledgementGate

    struct Burst {
        var batches: [UInt64: (handler: any MQTTBatchHandler, messages: [MQTTMessage])] = [:]
        var count = 0
    }

    private let connectionsCounter: Counter
    private let connectionFailuresCounter: Counter
    private let receivedCounter: Counter
    private let unroutableCounter: Counter

    init(configuration: MQTTConfiguration, logger: Logger) throws(MQTTError) {
        var logger = logger
        logger[metadataKey: "mqtt.broker"] = "\(configuration.endpoint)"
        logger[metadataKey: "mqtt.client_id"] = "\(configuration.clientID)"
        self.logger = logger
        self.configuration = configuration
        self.broker = configuration.endpoint
        try Self.validate(configuration)
        self.handle = try MosquittoHandle(
            clientID: configuration.clientID, cleanSession: configuration.cleanSession, broker: configuration.endpoint)
        do {
            self.wakeup = try EventFD()
        } catch {
            throw MQTTError(.resources, broker: configuration.endpoint, function: "eventfd", errno: error.rawValue)
        }
        acknowledgements = AcknowledgementGate { [wakeup] in wakeup.signal() }
        connectionsCounter = Counter(label: "mqtt_connections_total")
        connectionFailuresCounter = Counter(label: "mqtt_connection_failures_total")
        receivedCounter = Counter(label: "mqtt_messages_received_total")
        unroutableCounter = Counter(label: "mqtt_messages_unroutable_total")
        mosquitto_user_data_set(handle.pointer, Unmanaged.passUnretained(self).toOpaque())
        try applyOptions()
        installCallbacks()
    }

    // MARK: Set-up

    private static func validate(_ configuration: MQTTConfiguration) throws(MQTTError) {
        let broker = configuration.endpoint
        func invalid(_ detail: String) -> MQTTError { MQTTError(.invalidConfiguration, broker: broker, detail: detail) }
        guard !configuration.host.isEmpty else { throw invalid("host is empty") }
        guard (1...65535).contains(configuration.port) else {
            throw invalid("port \(configuration.port) is out of range")
        }
        guard configuration.keepAliveSeconds >= 5 && configuration.keepAliveSeconds <= 65535 else {
            throw invalid("keepalive \(configuration.keepAliveSeconds) s is outside 5...65535")
        }
        guard configuration.cleanSession || !configuration.clientID.isEmpty else {
            throw invalid("a persistent session (clean session off) needs a client id")
        }
        guard (1...65535).contains(configuration.maxInflightMessages) else {
            throw invalid("max inflight messages \(configuration.maxInflightMessages) is outside 1...65535")
        }
        guard (1...65535).contains(configuration.batchMaxMessages) else {
            throw invalid("batch max messages \(configuration.batchMaxMessages) is outside 1...65535")
        }
        guard configuration.batchMaxDelay >= .zero && configuration.batchMaxDelay <= .seconds(10) else {
            throw invalid("batch max delay \(configuration.batchMaxDelay) is outside 0...10 s")
        }
        guard (1...64).contains(configuration.batchPipelineDepth) else {
            throw invalid("batch pipeline depth \(configuration.batchPipelineDepth) is outside 1...64")
        }
        guard
            configuration.reconnectDelayMin > .zero
                && configuration.reconnectDelayMax >= configuration.reconnectDelayMin
        else { throw invalid("reconnect delays must satisfy 0 < min <= max") }
        if let will = configuration.will, !TopicFilter.isValidTopic(will.topic) {
            throw invalid("will topic '\(will.topic)' is not a valid topic name")
        }
        if let tls = configuration.tls {
            for (field, path) in [
                ("tls.ca_file", tls.caFile), ("tls.certificate_file", tls.certificateFile),
                ("tls.key_file", tls.keyFile),
            ] {
                guard let path else { continue }
                do {
                    _ = try systemCall { access(path, R_OK) }
                } catch {
                    throw MQTTError(
                        .invalidConfiguration, broker: broker, function: "access", errno: error.rawValue,
                        detail: "\(field) \(path) is not readable")
                }
            }
            if (tls.certificateFile == nil) != (tls.keyFile == nil) {
                throw invalid("tls.certificate_file and tls.key_file must be given together")
            }
        }
    }

    private func applyOptions() throws(MQTTError) {
        let mosq = handle.pointer
        func check(_ call: @autoclosure () -> Int32, _ function: String, _ detail: String? = nil) throws(MQTTError) {
            let (rc, errno) = withErrno(call)
            guard rc != MOSQ_ERR_SUCCESS.rawValue else { return }
            throw MQTTError.library(
                .invalidConfiguration, broker: broker, function: function, rc: rc, errno: errno?.rawValue ?? 0,
                detail: detail)
        }
        let version = configuration.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        try check(mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, version), "mosquitto_int_option")
        try check(mosquitto_threaded_set(mosq, true), "mosquitto_threaded_set")
        try check(mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1), "mosquitto_int_option")
        try check(
            mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, Int32(configuration.maxInflightMessages)),
            "mosquitto_int_option")
        if configuration.username != nil || configuration.password != nil {
            try check(
                mosquitto_username_pw_set(mosq, configuration.username, configuration.password),
                "mosquitto_username_pw_set")
        }
        if let will = configuration.will {
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set(
                    mosq, will.topic, Int32(bytes.count), bytes.baseAddress, will.qos.rawValue, will.retain)
            }
            try check(rc, "mosquitto_will_set", "will topic \(will.topic)")
        }
        if let tls = configuration.tls {
            try check(
                mosquitto_tls_set(mosq, tls.caFile, nil, tls.certificateFile, tls.keyFile, nil), "mosquitto_tls_set",
                "ca_file \(tls.caFile)")
            try check(mosquitto_tls_insecure_set(mosq, !tls.verifyHostname), "mosquitto_tls_insecure_set")
        }
    }

    private func installCallbacks() {
        let mosq = handle.pointer
        mosquitto_connect_v5_callback_set(mosq, mqttOnConnect)
        mosquitto_disconnect_v5_callback_set(mosq, mqttOnDisconnect)
        mosquitto_publish_v5_callback_set(mosq, mqttOnPublish)
        mosquitto_message_v5_callback_set(mosq, mqttOnMessage)
        mosquitto_subscribe_v5_callback_set(mosq, mqttOnSubscribe)
        mosquitto_log_callback_set(mosq, mqttOnLog)
    }

    // MARK: Lifecycle

    /// Starts the network thread; `false` if a stop was requested before the start.
    func start() throws(MQTTError) -> Bool {
        let proceed: Bool = try shared.withLock { state throws(MQTTError) -> Bool in
            switch state.lifecycle {
            case .running:
                throw MQTTError(.alreadyRunning, broker: broker, detail: "run() may be called once per client")
            case .stopped:
                if state.hasRun {
                    throw MQTTError(.alreadyRunning, broker: broker, detail: "this client has already run and stopped")
                }
                return false
            case .idle:
                if state.stopRequested {
                    state.lifecycle = .stopped
                    return false
                }
                state.lifecycle = .running
                state.hasRun = true
                return true
            }
        }
        guard proceed else { return false }
        do {
            try DedicatedThread.start(name: "mqtt-net") { [self] in networkMain() }
        } catch {
            shared.withLock { $0.lifecycle = .stopped }
            throw MQTTError(.resources, broker: broker, function: "pthread_create", errno: error.rawValue)
        }
        return true
    }

    /// Asks the network thread to disconnect cleanly and stop; returns at once.
    func requestStop() {
        shared.withLock { state in
            guard !state.stopRequested else { return }
            state.stopRequested = true
            if state.lifecycle == .idle { state.lifecycle = .stopped }
            if state.socketActive {
                // Queues DISCONNECT and wakes the loop through libmosquitto's socket pair.
                _ = mosquitto_disconnect(handle.pointer)
            }
        }
        wakeup.signal()
    }

    /// Returns when the network thread has finished (at once if it never ran).
    func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = shared.withLock { state -> Bool in
                if state.lifecycle == .running {
                    state.exitWaiters.append(continuation)
                    return false
                }
                return true
            }
            if done { continuation.resume() }
        }
    }

    // MARK: Network thread

    private func networkMain() {
        var machine = ConnectionStateMachine(
            backoff: ReconnectBackoff(
                minimum: configuration.reconnectDelayMin, maximum: configuration.reconnectDelayMax),
            stableConnection: max(configuration.reconnectDelayMax, .seconds(configuration.keepAliveSeconds)))
        var random = SystemRandomNumberGenerator()
        var initialised = false
        var action = machine.start()
        while true {
            if isStopRequested { machine.requestStop() }
            switch action {
            case .stop:
                // A batch handed over and not yet committed may still be committing (or retrying a failing
                // database): the client is not stopped before it is, as it was not while a handler held
                // this thread. Its PUBACKs are gone with the connection; the broker delivers it again.
                while acknowledgements.outstanding > 0 { wakeup.wait(timeoutNanoseconds: 1_000_000_000) }
                finish()
                return
            case .wait(let delay):
                logger.info(
                    "mqtt.reconnect.scheduled",
                    metadata: [
                        "mqtt.delay_ms": "\(delay.nanoseconds / 1_000_000)",
                        "mqtt.attempt": "\(machine.backoff.failures)",
                    ])
                wakeup.wait(timeoutNanoseconds: UInt64(max(0, delay.nanoseconds)))
                if isStopRequested { machine.requestStop() }
                action = machine.waitEnded()
            case .connect:
                shared.withLock { $0.setConnection(.connecting) }
                let connectedFor = runOneConnection(initialised: &initialised)
                if isStopRequested { machine.requestStop() }
                action = machine.ended(connectedFor: connectedFor, using: &random)
            }
        }
    }

    private var isStopRequested: Bool { shared.withLock { $0.stopRequested } }

    /// One attempt: connect, then run libmosquitto's loop until the connection ends. Returns how long the
    /// connection was accepted, or `nil` if it never was.
    private func runOneConnection(initialised: inout Bool) -> Duration? {
        let mosq = handle.pointer
        shared.withLock { $0.attemptError = nil }
        let connect: () -> Int32
        let function: String
        if initialised {
            function = "mosquitto_reconnect_async"
            connect = { mosquitto_reconnect_async(mosq) }
        } else if configuration.protocolVersion == .v5 && !configuration.cleanSession {
            // MQTT 5 needs a session-expiry property for the session to outlive the connection; only the
            // (blocking) v5 connect takes properties, and libmosquitto keeps them for later reconnects.
            function = "mosquitto_connect_bind_v5"
            connect = { [configuration] in
                var properties: OpaquePointer?
                _ = mosquitto_property_add_int32(
                    &properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue),
                    configuration.sessionExpirySeconds ?? UInt32.max)
                defer { mosquitto_property_free_all(&properties) }
                return mosquitto_connect_bind_v5(
                    mosq, configuration.host, Int32(configuration.port), Int32(configuration.keepAliveSeconds), nil,
                    properties)
            }
        } else {
            function = "mosquitto_connect_bind_async"
            connect = { [configuration] in
                mosquitto_connect_bind_async(
                    mosq, configuration.host, Int32(configuration.port), Int32(configuration.keepAliveSeconds), nil)
            }
        }
        let (connectRC, connectErrnoValue) = withErrno(connect)
        let connectErrno = connectErrnoValue?.rawValue ?? 0
        if connectRC != MOSQ_ERR_NOMEM.rawValue && connectRC != MOSQ_ERR_INVAL.rawValue { initialised = true }
        guard connectRC == MOSQ_ERR_SUCCESS.rawValue else {
            recordConnectionEnd(rc: connectRC, errno: connectErrno, function: function, wasAccepted: false)
            return nil
        }

        let stopBeforeLoop = shared.withLock { state -> Bool in
            state.socketActive = true
            if state.stopRequested { _ = mosquitto_disconnect(mosq) }
            return state.stopRequested
        }
        var stopDeadline: ContinuousClock.Instant? =
            stopBeforeLoop ? ContinuousClock.now.advanced(by: configuration.disconnectTimeout) : nil
        var loopRC = MOSQ_ERR_SUCCESS.rawValue
        var loopErrno: Int32 = 0
        while true {
            (loopRC, loopErrno) = loopOnce(mosq)
            if loopRC != MOSQ_ERR_SUCCESS.rawValue { break }
            if stopDeadline == nil {
                if isStopRequested {
                    stopDeadline = ContinuousClock.now.advanced(by: configuration.disconnectTimeout)
                }
            } else if let deadline = stopDeadline, ContinuousClock.now >= deadline,
                // Not while a batch commits: once committed, its PUBACKs leave with the DISCONNECT.
                acknowledgements.outstanding == 0
            {
                logger.warning("mqtt.disconnect.timeout")
                break
            }
        }
        let connectedSince = shared.withLock { state -> ContinuousClock.Instant? in
            state.socketActive = false
            let since = state.connectedSince
            state.connectedSince = nil
            return since
        }
        recordConnectionEnd(
            rc: loopRC, errno: loopErrno, function: "mosquitto_loop", wasAccepted: connectedSince != nil)
        return connectedSince.map { $0.duration(to: .now) }
    }

    /// One pass of the network loop: `mosquitto_loop`'s read, write and keepalive steps, driven here so
    /// that a burst read is handed to the batch handlers (and committed) before the write step sends its
    /// PUBACKs. The write step runs only while no handed-over batch is unacknowledged; until then the loop
    /// reads ahead, up to `batchPipelineDepth` bursts, and otherwise waits for an acknowledgement. Other
    /// threads' publishes, subscribes and DISCONNECT only queue packets (threaded mode) and then signal
    /// `wakeup`, which this loop polls instead of libmosquitto's internal socket pair, as acknowledgements
    /// do. Returns a libmosquitto result code and the errno that came with it.
    private func loopOnce(_ mosq: OpaquePointer) -> (Int32, Int32) {
        let socket = mosquitto_socket(mosq)
        guard socket >= 0 else { return (MOSQ_ERR_NO_CONN.rawValue, 0) }
        let outstanding = acknowledgements.outstanding
        let readAhead = outstanding < configuration.batchPipelineDepth
        let mayWrite = outstanding == 0 && mosquitto_want_write(mosq)
        var descriptors = [
            pollfd(
                fd: socket, events: (readAhead ? Int16(POLLIN) : 0) | (mayWrite ? Int16(POLLOUT) : 0), revents: 0),
            pollfd(fd: wakeup.fileDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        do {
            _ = try systemCall(retryingOnInterrupt: false) { poll(&descriptors, 2, 1000) }
        } catch {
            return error == EINTR ? (MOSQ_ERR_SUCCESS.rawValue, 0) : (MOSQ_ERR_ERRNO.rawValue, error.rawValue)
        }
        if descriptors[1].revents != 0 { wakeup.drain() }
        if descriptors[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            let (readRC, readErrno) = readBurst(mosq, socket: socket)
            deliverBurst()
            if readRC != MOSQ_ERR_SUCCESS.rawValue || mosquitto_socket(mosq) < 0 { return (readRC, readErrno) }
        }
        // Written in the same pass whatever queued it: another thread's publish, or this pass's read (the
        // PUBACKs of a delivered burst, and the publishes libmosquitto released into the window that
        // PUBACKs from the broker freed). Waiting for the next poll would cost a wake-up per burst. Never
        // while a batch is uncommitted: the queue holds its PUBACKs.
        if acknowledgements.outstanding == 0
            && (descriptors[0].revents & Int16(POLLOUT) != 0 || mosquitto_want_write(mosq))
        {
            // libmosquitto writes each queued packet with its own write(2), and with TCP_NODELAY each would
            // leave as its own segment: a committed burst's 500 PUBACKs, or a drain's refill of PUBLISHes.
            // Corked for the step, they leave in full segments when it ends, with no delay added.
            Self.setCork(socket, true)
            let (writeRC, writeErrno) = withErrno { mosquitto_loop_write(mosq, 1) }
            // A failed write closes the socket, and its number may already name another descriptor.
            if mosquitto_socket(mosq) == socket { Self.setCork(socket, false) }
            if writeRC != MOSQ_ERR_SUCCESS.rawValue || mosquitto_socket(mosq) < 0 {
                return (writeRC, writeErrno?.rawValue ?? 0)
            }
        }
        let (miscRC, miscErrno) = withErrno { mosquitto_loop_misc(mosq) }
        return (miscRC, miscErrno?.rawValue ?? 0)
    }

    /// TCP_CORK on or off; a socket that does not support it (not TCP) is left as it is.
    private static func setCork(_ socket: Int32, _ on: Bool) {
        var value: Int32 = on ? 1 : 0
        _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Reads packets while the socket has more to read, until a batch handler's burst reaches
    /// `batchMaxMessages` or `batchMaxDelay` has passed since the burst began. libmosquitto calls the
    /// message callback for each PUBLISH and queues its PUBACK without writing it.
    private func readBurst(_ mosq: OpaquePointer, socket: Int32) -> (Int32, Int32) {
        let deadline = ContinuousClock.now.advanced(by: configuration.batchMaxDelay)
        while true {
            let (rc, readErrno) = withErrno { mosquitto_loop_read(mosq, 1) }
            if rc != MOSQ_ERR_SUCCESS.rawValue || mosquitto_socket(mosq) < 0 { return (rc, readErrno?.rawValue ?? 0) }
            if burst.withLock({ $0.count }) >= configuration.batchMaxMessages || ContinuousClock.now >= deadline {
                return (rc, 0)
            }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 0) <= 0 { return (rc, 0) }
        }
    }

    /// Hands each batch handler its messages of the burst, each with an acknowledgement to call once
    /// committed; returns when all have returned (not necessarily committed).
    private func deliverBurst() {
        let batches = burst.withLock { burst in
            defer { burst = Burst() }
            return burst.batches.sorted { $0.key < $1.key }.map(\.value)
        }
        for batch in batches {
            batch.handler.handle(batch.messages, acknowledgement: acknowledgements.hold())
        }
    }

    /// Records why a connection or attempt ended, publishes `disconnected`, and settles pending SUBSCRIBEs
    /// (their filters are restored on the next connection).
    private func recordConnectionEnd(rc: Int32, errno savedErrno: Int32, function: String, wasAccepted: Bool) {
        let clean = rc == MOSQ_ERR_NO_CONN.rawValue && isStopRequested
        let error: MQTTError? =
            clean ? nil : connectionError(rc: rc, errno: savedErrno, function: function, wasAccepted: wasAccepted)
        let (finalError, pendingSubscribes) = shared.withLock {
            state -> (MQTTError?, [ClientSharedState.PendingSubscribe]) in
            let finalError = state.attemptError ?? error
            if let finalError { state.lastError = finalError }
            state.attemptError = nil
            state.restoringSubscribes.removeAll()
            state.setConnection(.disconnected)
            let pending = Array(state.pendingSubscribes.values)
            state.pendingSubscribes.removeAll()
            return (finalError, pending)
        }
        for pending in pendingSubscribes { pending.completion(.success(())) }
        if let error = finalError, !clean {
            if wasAccepted {
                logger.warning("mqtt.connection.lost", metadata: ["mqtt.error": "\(error)"])
            } else {
                connectionFailuresCounter.increment()
                logger.warning("mqtt.connection.failed", metadata: ["mqtt.error": "\(error)"])
            }
        }
    }

    private func connectionError(rc: Int32, errno savedErrno: Int32, function: String, wasAccepted: Bool) -> MQTTError {
        let libraryLog = lastLibraryLog.withLock { $0 }
        switch rc {
        case MOSQ_ERR_TLS.rawValue, MOSQ_ERR_TLS_HANDSHAKE.rawValue:
            return .library(.tlsFailure, broker: broker, function: function, rc: rc, detail: libraryLog)
        case MOSQ_ERR_KEEPALIVE.rawValue:
            return .library(
                .connectionLost, broker: broker, function: function, rc: rc,
                detail: "no answer within \(configuration.keepAliveSeconds * 3 / 2) s of keepalive")
        case MOSQ_ERR_INVAL.rawValue:
            return .library(.invalidConfiguration, broker: broker, function: function, rc: rc)
        default:
            return .library(
                wasAccepted ? .connectionLost : .connectionFailed, broker: broker, function: function, rc: rc,
                errno: savedErrno)
        }
    }

    var lastError: MQTTError? { shared.withLock { $0.lastError } }

    private func finish() {
        let (publishes, subscribes, observers, subscriptions, waiters) = shared.withLock { state in
            state.setConnection(.disconnected)
            state.lifecycle = .stopped
            defer {
                state.pendingPublishes.removeAll()
                state.pendingSubscribes.removeAll()
                state.stateObservers.removeAll()
                state.exitWaiters.removeAll()
            }
            return (
                Array(state.pendingPublishes.values), Array(state.pendingSubscribes.values),
                Array(state.stateObservers.values), Array(state.subscriptions.values), state.exitWaiters
            )
        }
        let stopped = MQTTError(.stopped, broker: broker)
        for completion in publishes { completion(.failure(stopped)) }
        for pending in subscribes { pending.completion(.failure(stopped)) }
        for observer in observers { observer.finish() }
        for subscription in subscriptions {
            if case .stream(let continuation) = subscription.sink { continuation.finish() }
        }
        logger.info("mqtt.stopped")
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Callbacks (network thread)

    func handleConnack(reason: Int32, flags: Int32) {
        guard reason == 0 else {
            let error = MQTTError.connackRefused(
                broker: broker, reason: reason, protocolVersion: configuration.protocolVersion)
            shared.withLock { $0.attemptError = error }
            return
        }
        connectionsCounter.increment()
        let mosq = handle.pointer
        // Only this thread changes the generation, so the peek stays valid until it is stored below.
        let (nextGeneration, hooks) = shared.withLock {
            ($0.connectionGeneration &+ 1, Array($0.acceptanceHooks.values))
        }
        for hook in hooks { hook(nextGeneration) }
        let (restored, generation) = shared.withLock { state -> (Int, UInt64) in
            // Retired filters first: the broker handles a connection's packets in order, so once the
            // restored subscriptions' SUBACKs are in, it queues nothing more under them.
            let retiring = state.subscriptions.values.flatMap(\.retiring)
            if !retiring.isEmpty {
                let rc = Self.unsubscribe(mosq, retiring)
                if rc != MOSQ_ERR_SUCCESS.rawValue {
                    logger.warning(
                        "mqtt.unsubscribe.failed",
                        metadata: ["mqtt.topic": "\(retiring.joined(separator: ", "))", "mqtt.error": "\(rc)"])
                }
            }
            // Restore every subscription; `connected` waits for their SUBACKs.
            state.restoringSubscribes.removeAll()
            for subscription in state.subscriptions.values {
                var mid: Int32 = 0
                let rc = Self.subscribe(mosq, subscription.filters, qos: subscription.qos, mid: &mid)
                if rc == MOSQ_ERR_SUCCESS.rawValue { state.restoringSubscribes.insert(mid) }
            }
            state.connectedSince = .now
            state.connectionGeneration = nextGeneration
            state.lastError = nil
            if state.restoringSubscribes.isEmpty { state.setConnection(.connected) }
            return (state.restoringSubscribes.count, state.connectionGeneration)
        }
        logger.info(
            "mqtt.connected",
            metadata: [
                "mqtt.session_present": "\(flags & 1 == 1)", "mqtt.subscriptions_restored": "\(restored)",
                "mqtt.connection": "\(generation)",
            ])
    }

    /// Notes a broker's DISCONNECT reason. `disconnected` is announced by `recordConnectionEnd`, right
    /// after it has recorded why, so an observer that sees it can read `lastError`.
    func handleDisconnect(reason: Int32) {
        shared.withLock { state in
            if reason != 0 && state.attemptError == nil && configuration.protocolVersion == .v5 && reason >= 0x80 {
                state.attemptError = .reason(
                    .connectionLost, broker: broker, reason: reason, detail: "the broker sent DISCONNECT")
            }
        }
    }

    func handlePublishAcknowledged(mid: Int32, reason: Int32) {
        guard let completion = shared.withLock({ $0.pendingPublishes.removeValue(forKey: mid) }) else { return }
        if reason >= 0x80 {
            completion(.failure(.reason(.publishRefused, broker: broker, reason: reason, detail: nil)))
        } else {
            completion(.success(()))
        }
    }

    func handleSubscribeAcknowledged(mid: Int32, granted: [Int32]) {
        let refusal = granted.first { $0 >= 0x80 }
        let pending = shared.withLock { state -> ClientSharedState.PendingSubscribe? in
            if state.restoringSubscribes.remove(mid) != nil, state.restoringSubscribes.isEmpty,
                state.connectedSince != nil
            {
                state.setConnection(.connected)
            }
            let pending = state.pendingSubscribes.removeValue(forKey: mid)
            if let pending, refusal != nil {
                state.subscriptions.removeValue(forKey: pending.subscriptionID)
            }
            return pending
        }
        guard let refusal else {
            pending?.completion(.success(()))
            return
        }
        let error = MQTTError.reason(.subscribeRefused, broker: broker, reason: refusal, detail: nil)
        if let pending {
            pending.completion(.failure(error))
        } else {
            logger.error("mqtt.subscribe.refused", metadata: ["mqtt.error": "\(error)"])
        }
    }

    func handleMessage(_ message: MQTTMessage) {
        receivedCounter.increment()
        let sinks = shared.withLock { state -> [(UInt64, ClientSharedState.Subscription.Sink)] in
            state.subscriptions.filter { _, subscription in
                subscription.matchFilters.contains { TopicFilter.matches(filter: $0, topic: message.topic) }
            }.map { ($0.key, $0.value.sink) }
        }
        if sinks.isEmpty {
            unroutableCounter.increment()
            logger.warning("mqtt.message.unroutable", metadata: ["mqtt.topic": "\(message.topic)"])
        }
        for (id, sink) in sinks {
            switch sink {
            case .stream(let continuation): continuation.yield(message)
            case .handler(let handler): handler.handle(message)
            case .batchHandler(let handler):
                burst.withLock { burst in
                    burst.batches[id, default: (handler, [])].messages.append(message)
                    burst.count += 1
                }
            }
        }
    }

    func handleLog(level: Int32, text: String) {
        switch level {
        case Int32(MOSQ_LOG_ERR):
            lastLibraryLog.withLock { $0 = text }
            logger.debug("mqtt.library.error", metadata: ["mqtt.log": "\(text)"])
        case Int32(MOSQ_LOG_WARNING):
            logger.debug("mqtt.library.warning", metadata: ["mqtt.log": "\(text)"])
        default:
            logger.trace("mqtt.library", metadata: ["mqtt.log": "\(text)"])
        }
    }

    // MARK: Operations (any thread)

    /// Queues a publish; `completion` runs on PUBACK (QoS 1/2) — for QoS 0 the caller treats a successful
    /// return as done. Publishes are put on the wire in the order of these calls. Without `wake`, the
    /// network thread writes it on its next pass: the caller queues more and then calls
    /// ``wakeNetworkThread()`` once.
    func enqueuePublish(_ message: MQTTMessage, wake: Bool = true, completion: @escaping PublishCompletion)
        throws(MQTTError) -> Int32
    {
        let broker = broker
        guard message.payload.count <= 268_435_455 else {
            throw MQTTError(
                .publishFailed, broker: broker,
                detail: "payload of \(message.payload.count) bytes to \(message.topic) exceeds MQTT's limit")
        }
        let mosq = handle.pointer
        let outcome = shared.withLock { state -> Result<Int32, MQTTError> in
            guard state.connection == .connected else {
                return .failure(MQTTError(.notConnected, broker: broker, detail: "publish to \(message.topic)"))
            }
            var mid: Int32 = 0
            let (rc, publishErrno) = withErrno {
                message.payload.withUnsafeBytes { bytes in
                    mosquitto_publish_v5(
                        mosq, &mid, message.topic, Int32(bytes.count), bytes.baseAddress, message.qos.rawValue,
                        message.retain, nil)
                }
            }
            let savedErrno = publishErrno?.rawValue ?? 0
            guard rc == MOSQ_ERR_SUCCESS.rawValue else {
                let code: MQTTError.Code =
                    switch rc {
                    case MOSQ_ERR_NO_CONN.rawValue, MOSQ_ERR_CONN_LOST.rawValue: .notConnected
                    case MOSQ_ERR_NOMEM.rawValue: .resources
                    default: .publishFailed
                    }
                return .failure(
                    .library(
                        code, broker: broker, function: "mosquitto_publish_v5", rc: rc, errno: savedErrno,
                        detail: "topic \(message.topic)"))
            }
            if message.qos != .atMostOnce { state.pendingPublishes[mid] = completion }
            return .success(mid)
        }
        let mid = try outcome.get()
        if wake { wakeup.signal() }
        return mid
    }

    /// Lets the network thread write what was queued without a wake-up.
    func wakeNetworkThread() { wakeup.signal() }

    /// Stops waiting for `mid`'s acknowledgement (the message may still be delivered).
    func abandonPublish(mid: Int32) {
        guard let completion = shared.withLock({ $0.pendingPublishes.removeValue(forKey: mid) }) else { return }
        completion(.failure(MQTTError(.cancelled, broker: broker)))
    }

    var connectionSnapshot: (state: MQTTConnectionState, generation: UInt64) {
        shared.withLock { ($0.connection, $0.connectionGeneration) }
    }

    /// Registers a subscription (restored on every connection) and, when connected, subscribes now and
    /// waits for the SUBACK.
    func addSubscription(
        _ filters: [String], qos: MQTTQoS, retiring: [String] = [], sink: ClientSharedState.Subscription.Sink
    ) async throws(MQTTError) -> UInt64 {
        let broker = broker
        guard !filters.isEmpty else {
            throw MQTTError(.subscribeFailed, broker: broker, detail: "no topic filter given")
        }
        for filter in filters + retiring where !TopicFilter.isValidFilter(filter) {
            throw MQTTError(.subscribeFailed, broker: broker, detail: "'\(filter)' is not a valid topic filter")
        }
        let mosq = handle.pointer
        let subscription = ClientSharedState.Subscription(
            filters: filters, retiring: retiring, matchFilters: (filters + retiring).map(TopicFilter.matchingPart(of:)),
            qos: qos, sink: sink)
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<UInt64, MQTTError>, Never>) in
            let immediate = shared.withLock { state -> Result<UInt64, MQTTError>? in
                if state.lifecycle == .stopped {
                    return .failure(MQTTError(.stopped, broker: broker))
                }
                let id = state.makeID()
                state.subscriptions[id] = subscription
                // Not connected yet (or CONNACK not in): the next connection's restore includes it.
                guard state.connectedSince != nil else { return .success(id) }
                if !retiring.isEmpty { _ = Self.unsubscribe(mosq, retiring) }
                var mid: Int32 = 0
                let rc = Self.subscribe(mosq, filters, qos: qos, mid: &mid)
                guard rc == MOSQ_ERR_SUCCESS.rawValue else {
                    if rc == MOSQ_ERR_NO_CONN.rawValue { return .success(id) }
                    state.subscriptions.removeValue(forKey: id)
                    return .failure(
                        .library(
                            .subscribeFailed, broker: broker, function: "mosquitto_subscribe_multiple", rc: rc,
                            detail: filters.joined(separator: ", ")))
                }
                state.pendingSubscribes[mid] = ClientSharedState.PendingSubscribe(subscriptionID: id) { result in
                    continuation.resume(returning: result.map { id })
                }
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) } else { wakeup.signal() }
        }
        return try result.get()
    }

    func removeSubscription(_ id: UInt64) {
        _ = shared.withLock { $0.subscriptions.removeValue(forKey: id) }
    }

    func addStateObserver(_ continuation: AsyncStream<MQTTConnectionState>.Continuation) -> UInt64? {
        shared.withLock { state -> UInt64? in
            continuation.yield(state.connection)
            guard state.lifecycle != .stopped else {
                continuation.finish()
                return nil
            }
            let id = state.makeID()
            state.stateObservers[id] = continuation
            return id
        }
    }

    func addAcceptanceHook(_ hook: @escaping @Sendable (_ generation: UInt64) -> Void) -> UInt64 {
        shared.withLock { state in
            let id = state.makeID()
            state.acceptanceHooks[id] = hook
            return id
        }
    }

    func removeAcceptanceHook(_ id: UInt64) {
        _ = shared.withLock { $0.acceptanceHooks.removeValue(forKey: id) }
    }

    func removeStateObserver(_ id: UInt64) {
        _ = shared.withLock { $0.stateObservers.removeValue(forKey: id) }
    }

    /// Queues an UNSUBSCRIBE of `filters` (its UNSUBACK is not waited for).
    private static func unsubscribe(_ mosq: OpaquePointer, _ filters: [String]) -> Int32 {
        withCStrings(filters) { count, filters in mosquitto_unsubscribe_multiple(mosq, nil, count, filters, nil) }
    }

    private static func subscribe(_ mosq: OpaquePointer, _ filters: [String], qos: MQTTQoS, mid: inout Int32) -> Int32 {
        withCStrings(filters) { count, filters in
            mosquitto_subscribe_multiple(mosq, &mid, count, filters, qos.rawValue, 0, nil)
        }
    }

    /// `strings` as the C array of C strings libmosquitto's `*_multiple` calls take, for the call's duration.
    private static func withCStrings(
        _ strings: [String],
        _ body: (Int32, UnsafePointer<UnsafeMutablePointer<CChar>?>?) -> Int32
    ) -> Int32 {
        let cStrings: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        defer { for pointer in cStrings { free(pointer) } }
        return cStrings.withUnsafeBufferPointer { buffer in body(Int32(buffer.count), buffer.baseAddress) }
    }
}
