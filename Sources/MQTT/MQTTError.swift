internal import CBinsMosquitto
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// The one error type of the MQTT module, for the client and for the outbox. Its description names the
/// broker or the outbox file, then the C function, the library's code and text, the MQTT reason code and
/// errno where there is one, e.g. `broker 127.0.0.1:8883: TLS failure: mosquitto_loop failed: A TLS error
/// occurred. (MOSQ_ERR_TLS 8): OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed`,
/// or `outbox /var/lib/binsd/outbox.sqlite: disk full: sqlite3_step failed: database or disk is full
/// (SQLite 13): No space left on device (errno 28)`. It never contains the password.
public struct MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The configuration cannot work (bad port, missing TLS file, invalid topic or client id).
        case invalidConfiguration = "invalid configuration"
        /// TCP connection or name resolution failed.
        case connectionFailed = "connection failed"
        /// The broker answered CONNECT with a refusal (bad credentials, not authorised, id rejected).
        case connectionRefused = "connection refused"
        /// The TLS handshake failed (wrong CA, hostname mismatch, bad client certificate).
        case tlsFailure = "TLS failure"
        /// An established connection ended (keepalive timeout, broker closed it, network error).
        case connectionLost = "connection lost"
        /// The call needs a connection and there is none right now.
        case notConnected = "not connected"
        /// libmosquitto did not accept the publish (bad topic, payload too large, out of memory).
        case publishFailed = "publish failed"
        /// An MQTT 5 broker answered the publish with a failure reason code (e.g. not authorised).
        case publishRefused = "publish refused"
        case subscribeFailed = "subscribe failed"
        /// The broker refused the subscription (SUBACK 0x80 or an MQTT 5 failure reason).
        case subscribeRefused = "subscription refused"
        case timeout = "timed out"
        /// The waiting task was cancelled; the message may still be delivered.
        case cancelled = "cancelled"
        /// The client was stopped (graceful shutdown or `disconnect()`) before the operation completed.
        case stopped = "client stopped"
        /// `run()` was called on a client that has already run.
        case alreadyRunning = "already running"
        /// A resource could not be created (thread, eventfd, memory).
        case resources = "out of resources"

        // The outbox file.
        case cannotOpen = "cannot open"
        /// The file system (or the outbox's size limit in SQLite) has no room: the event was not recorded.
        case diskFull = "disk full"
        /// The file or its file system is read-only: nothing can be recorded.
        case readOnly = "read-only"
        case io = "I/O error"
        /// The file is not an outbox SQLite database, or it is damaged.
        case corrupt = "corrupt"
        /// Another process (a second daemon?) holds the outbox.
        case busy = "in use by another process"
        /// The file was written by a newer version of this software.
        case incompatible = "incompatible schema"
        /// The caller's `build` closure threw; nothing was recorded and the seq was not used.
        case payloadBuildFailed = "payload build failed"
        case sqlite = "SQLite error"
    }

    /// What failed: the connection to a broker, or the outbox file.
    public enum Subject: Sendable, Hashable, CustomStringConvertible {
        /// `host:port` of the broker.
        case broker(String)
        case outbox(path: String)

        public var description: String {
            switch self {
            case .broker(let endpoint): "broker \(endpoint)"
            case .outbox(let path): "outbox \(path)"
            }
        }
    }

    public var code: Code
    public var subject: Subject
    /// The libmosquitto function that failed, if any.
    public var function: String?
    /// libmosquitto's `MOSQ_ERR_*` value, if any.
    public var mosquittoCode: Int32?
    /// CONNACK return code (MQTT 3.1.1) or MQTT 5 reason code from the broker, if any.
    public var reasonCode: Int32?
    /// SQLite's extended result code, if any.
    public var sqliteCode: Int32?
    /// errno captured right after the failing call, if any.
    public var errno: Int32?
    /// What else is known: the topic, the TLS library's message, the file.
    public var detail: String?
    /// libmosquitto's text for `mosquittoCode` (`mosquitto_strerror`) or for `reasonCode`
    /// (`mosquitto_connack_string` / `mosquitto_reason_string`), taken when the error was made.
    public var libraryText: String?

    public init(
        _ code: Code, broker: String, function: String? = nil, mosquittoCode: Int32? = nil,
        reasonCode: Int32? = nil, errno: Int32? = nil, detail: String? = nil, libraryText: String? = nil
    ) {
        self.code = code
        self.subject = .broker(broker)
        self.function = function
        self.mosquittoCode = mosquittoCode
        self.reasonCode = reasonCode
        self.errno = errno
        self.detail = detail
        self.libraryText = libraryText
    }

    /// An outbox error: the file, and what SQLite and the OS said.
    public init(
        _ code: Code, outbox path: String, function: String? = nil, sqliteCode: Int32? = nil, errno: Int32? = nil,
        detail: String? = nil
    ) {
        self.code = code
        self.subject = .outbox(path: path)
        self.function = function
        self.sqliteCode = sqliteCode
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = "\(subject): \(code.rawValue)"
        if let function { text += ": \(function) failed" }
        if let libraryText { text += ": \(libraryText)" }
        if let mosquittoCode { text += " (\(Self.mosquittoCodeName(mosquittoCode)) \(mosquittoCode))" }
        if let reasonCode { text += " (reason code \(reasonCode))" }
        // SQLite's message comes before its code and errno; the client's detail (a topic, a file) last.
        if sqliteCode != nil, let detail { text += ": \(detail)" }
        if let sqliteCode { text += " (SQLite \(sqliteCode))" }
        if let errno, errno != 0 { text += ": \(Errno(rawValue: errno))" }
        if sqliteCode == nil, let detail { text += ": \(detail)" }
        return text
    }

    /// An error for a libmosquitto call that returned `rc`, with errno when `rc` is `MOSQ_ERR_ERRNO`.
    static func library(
        _ code: Code, broker: String, function: String, rc: Int32, errno capturedErrno: Int32 = 0,
        detail: String? = nil
    ) -> MQTTError {
        let isErrno = rc == MOSQ_ERR_ERRNO.rawValue
        return MQTTError(
            code, broker: broker, function: function, mosquittoCode: rc,
            errno: isErrno && capturedErrno != 0 ? capturedErrno : nil, detail: detail,
            libraryText: isErrno ? nil : String(cString: mosquitto_strerror(rc)))
    }

    /// A refusal carried in CONNACK: 3.1.1 return codes and MQTT 5 reason codes have separate texts.
    static func connackRefused(broker: String, reason: Int32, protocolVersion: MQTTProtocolVersion) -> MQTTError {
        let text =
            protocolVersion == .v5
            ? String(cString: mosquitto_reason_string(reason)) : String(cString: mosquitto_connack_string(reason))
        return MQTTError(.connectionRefused, broker: broker, reasonCode: reason, libraryText: text)
    }

    /// A failure reason code (>= 0x80) in an MQTT 5 PUBACK, SUBACK or DISCONNECT.
    static func reason(_ code: Code, broker: String, reason: Int32, detail: String?) -> MQTTError {
        MQTTError(
            code, broker: broker, reasonCode: reason, detail: detail,
            libraryText: String(cString: mosquitto_reason_string(reason)))
    }

    /// Symbolic names of libmosquitto's error values, taken from the header's enum.
    static func mosquittoCodeName(_ value: Int32) -> String {
        switch value {
        case MOSQ_ERR_SUCCESS.rawValue: "MOSQ_ERR_SUCCESS"
        case MOSQ_ERR_NOMEM.rawValue: "MOSQ_ERR_NOMEM"
        case MOSQ_ERR_PROTOCOL.rawValue: "MOSQ_ERR_PROTOCOL"
        case MOSQ_ERR_INVAL.rawValue: "MOSQ_ERR_INVAL"
        case MOSQ_ERR_NO_CONN.rawValue: "MOSQ_ERR_NO_CONN"
        case MOSQ_ERR_CONN_REFUSED.rawValue: "MOSQ_ERR_CONN_REFUSED"
        case MOSQ_ERR_NOT_FOUND.rawValue: "MOSQ_ERR_NOT_FOUND"
        case MOSQ_ERR_CONN_LOST.rawValue: "MOSQ_ERR_CONN_LOST"
        case MOSQ_ERR_TLS.rawValue: "MOSQ_ERR_TLS"
        case MOSQ_ERR_PAYLOAD_SIZE.rawValue: "MOSQ_ERR_PAYLOAD_SIZE"
        case MOSQ_ERR_NOT_SUPPORTED.rawValue: "MOSQ_ERR_NOT_SUPPORTED"
        case MOSQ_ERR_AUTH.rawValue: "MOSQ_ERR_AUTH"
        case MOSQ_ERR_ACL_DENIED.rawValue: "MOSQ_ERR_ACL_DENIED"
        case MOSQ_ERR_UNKNOWN.rawValue: "MOSQ_ERR_UNKNOWN"
        case MOSQ_ERR_ERRNO.rawValue: "MOSQ_ERR_ERRNO"
        case MOSQ_ERR_EAI.rawValue: "MOSQ_ERR_EAI"
        case MOSQ_ERR_PROXY.rawValue: "MOSQ_ERR_PROXY"
        case MOSQ_ERR_MALFORMED_UTF8.rawValue: "MOSQ_ERR_MALFORMED_UTF8"
        case MOSQ_ERR_KEEPALIVE.rawValue: "MOSQ_ERR_KEEPALIVE"
        case MOSQ_ERR_LOOKUP.rawValue: "MOSQ_ERR_LOOKUP"
        case MOSQ_ERR_MALFORMED_PACKET.rawValue: "MOSQ_ERR_MALFORMED_PACKET"
        case MOSQ_ERR_DUPLICATE_PROPERTY.rawValue: "MOSQ_ERR_DUPLICATE_PROPERTY"
        case MOSQ_ERR_TLS_HANDSHAKE.rawValue: "MOSQ_ERR_TLS_HANDSHAKE"
        case MOSQ_ERR_QOS_NOT_SUPPORTED.rawValue: "MOSQ_ERR_QOS_NOT_SUPPORTED"
        case MOSQ_ERR_OVERSIZE_PACKET.rawValue: "MOSQ_ERR_OVERSIZE_PACKET"
        case MOSQ_ERR_TOPIC_ALIAS_INVALID.rawValue: "MOSQ_ERR_TOPIC_ALIAS_INVALID"
        case MOSQ_ERR_TIMEOUT.rawValue: "MOSQ_ERR_TIMEOUT"
        default: "MOSQ_ERR"
        }
    }
}
