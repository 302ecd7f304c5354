/// TLS settings for the connection to the broker. The server certificate is always verified against
/// `caFile`; `verifyHostname` additionally checks that the certificate names the host connected to.
public struct MQTTTLSConfiguration: Sendable, Equatable {
    /// PEM file with the CA certificate(s) that signed the broker's certificate.
    public var caFile: String
    /// PEM client certificate, for brokers that require one (`require_certificate true`).
    public var certificateFile: String?
    /// PEM private key of `certificateFile` (unencrypted).
    public var keyFile: String?
    /// Check the broker certificate's subject alternative names against the host. Turning this off
    /// allows a man in the middle holding any certificate from the same CA; only for test benches.
    public var verifyHostname: Bool
    public init(caFile: String, certificateFile: String? = nil, keyFile: String? = nil, verifyHostname: Bool = true) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.verifyHostname = verifyHostname
    }
}

/// Everything needed to connect one MQTT client. The password is never printed: `description`,
/// `debugDescription` and `dump()` show it as `<redacted>`.
public struct MQTTConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The client id; on this project it is the device id (devices) or a fixed aggregator id, so a
    /// persistent session survives restarts.
    public var clientID: String
    public var username: String?
    public var password: String?
    /// Seconds between PINGREQs when idle. A dead link (cable pulled, NAT timeout) is noticed after at most
    /// 1.5 × this, without waiting for the next publish. libmosquitto requires at least 5.
    public var keepAliveSeconds: Int
    /// `false` asks the broker to keep the session (subscriptions and QoS 1 messages queued while away)
    /// across disconnects: the receiving side of the no-loss chain needs this with a fixed `clientID`.
    public var cleanSession: Bool
    public var protocolVersion: MQTTProtocolVersion
    public var tls: MQTTTLSConfiguration?
    /// Published by the broker if the connection ends without a DISCONNECT (crash, power cut, dead link).
    public var will: MQTTMessage?
    /// Backoff between connection attempts: starts at `reconnectDelayMin`, doubles per failed attempt up to
    /// `reconnectDelayMax`, each delay drawn uniformly from its upper half so a fleet that lost the broker
    /// at the same moment does not reconnect in lockstep.
    public var reconnectDelayMin: Duration
    public var reconnectDelayMax: Duration
    /// MQTT 5 only: how long the broker keeps a persistent session (`cleanSession == false`) after the
    /// client disconnects. `nil` = never expires (the MQTT 3.1.1 behaviour); the broker's
    /// `persistent_client_expiration` still applies.
    public var sessionExpirySeconds: UInt32?
    /// QoS 1/2 messages libmosquitto keeps in flight (sent, awaiting PUBACK) at once; further publishes
    /// wait in its queue. Bounds how many messages are resent after a reconnect.
    public var maxInflightMessages: Int
    /// How long `disconnect()` waits for the DISCONNECT packet to be written before closing the socket.
    public var disconnectTimeout: Duration
    /// Bounds of one batch handed to an ``MQTTBatchHandler``: at most this many messages...
    public var batchMaxMessages: Int
    /// ...and no more reading once this much time has passed since the batch's first message. A batch
    /// also ends as soon as the socket has nothing more to read: the client never waits idle for a batch
    /// to fill, so a lone message is handled at once.
    public var batchMaxDelay: Duration
    /// Bursts handed to batch handlers that may be unacknowledged at once: while they commit, the client
    /// reads and hands over the next, up to this many; 1 reads nothing more until the last is committed.
    /// Each holds up to `batchMaxMessages` unacknowledged messages, so the broker's in-flight window for
    /// this client bounds how far ahead there is anything to read.
    public var batchPipelineDepth = 2

    public init(
        host: String, port: Int = 1883, clientID: String, username: String? = nil, password: String? = nil,
        keepAliveSeconds: Int = 30, cleanSession: Bool = true, protocolVersion: MQTTProtocolVersion = .v311,
        tls: MQTTTLSConfiguration? = nil, will: MQTTMessage? = nil,
        reconnectDelayMin: Duration = .milliseconds(500), reconnectDelayMax: Duration = .seconds(60),
        sessionExpirySeconds: UInt32? = nil, maxInflightMessages: Int = 32,
        disconnectTimeout: Duration = .seconds(2), batchMaxMessages: Int = 500,
        batchMaxDelay: Duration = .milliseconds(5)
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.username = username
        self.password = password
        self.keepAliveSeconds = keepAliveSeconds
        self.cleanSession = cleanSession
        self.protocolVersion = protocolVersion
        self.tls = tls
        self.will = will
        self.reconnectDelayMin = reconnectDelayMin
        self.reconnectDelayMax = reconnectDelayMax
        self.sessionExpirySeconds = sessionExpirySeconds
        self.maxInflightMessages = maxInflightMessages
        self.disconnectTimeout = disconnectTimeout
        self.batchMaxMessages = batchMaxMessages
        self.batchMaxDelay = batchMaxDelay
    }

    /// `host:port`, as errors and logs name the broker.
    public var endpoint: String { BrokerURL.endpoint(host: host, port: port) }
}

extension MQTTConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        var text = "mqtt\(tls == nil ? "" : "s")://"
        if let username { text += "\(username)\(password == nil ? "" : ":<redacted>")@" }
        text += "\(endpoint) client_id=\(clientID) clean_session=\(cleanSession) keepalive=\(keepAliveSeconds)s"
        text += " protocol=\(protocolVersion == .v5 ? "5" : "3.1.1")"
        return text
    }

    public var debugDescription: String { "MQTTConfiguration(\(description))" }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "clientID": clientID, "username": username as Any,
                "password": password == nil ? "nil" : "<redacted>", "keepAliveSeconds": keepAliveSeconds,
                "cleanSession": cleanSession, "protocolVersion": protocolVersion, "tls": tls as Any,
                "will": will as Any, "reconnectDelayMin": reconnectDelayMin,
                "reconnectDelayMax": reconnectDelayMax,
            ])
    }
}
