internal import CBinsMosquitto

// libmosquitto's callbacks. They run on the client's network thread (inside `mosquitto_loop`), or, for
// the log callback, inside whichever libmosquitto call logs. They are plain nonisolated functions (a
// closure written in an isolated context would be inferred isolated and trap when C calls it), find their
// `ClientCore` through the userdata pointer, copy whatever they keep out of libmosquitto's buffers, and
// hand over through the core's mutex-protected state.

private func core(_ userdata: UnsafeMutableRawPointer?) -> ClientCore? {
    guard let userdata else { return nil }
    return Unmanaged<ClientCore>.fromOpaque(userdata).takeUnretainedValue()
}

func mqttOnConnect(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ reason: Int32, _ flags: Int32,
    _ properties: OpaquePointer?
) {
    core(userdata)?.handleConnack(reason: reason, flags: flags)
}

func mqttOnDisconnect(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ reason: Int32, _ properties: OpaquePointer?
) {
    core(userdata)?.handleDisconnect(reason: reason)
}

func mqttOnPublish(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ mid: Int32, _ reason: Int32,
    _ properties: OpaquePointer?
) {
    core(userdata)?.handlePublishAcknowledged(mid: mid, reason: reason)
}

func mqttOnSubscribe(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ mid: Int32, _ count: Int32,
    _ granted: UnsafePointer<Int32>?, _ properties: OpaquePointer?
) {
    let codes = granted.map { Array(UnsafeBufferPointer(start: $0, count: Int(max(0, count)))) } ?? []
    core(userdata)?.handleSubscribeAcknowledged(mid: mid, granted: codes)
}

func mqttOnMessage(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ message: UnsafePointer<mosquitto_message>?,
    _ properties: OpaquePointer?
) {
    guard let core = core(userdata), let raw = message?.pointee, let topic = raw.topic else { return }
    let payload: [UInt8] =
        if let bytes = raw.payload, raw.payloadlen > 0 {
            Array(UnsafeRawBufferPointer(start: bytes, count: Int(raw.payloadlen)))
        } else {
            []
        }
    let message = MQTTMessage(
        topic: String(cString: topic), payload: payload, qos: MQTTQoS(rawValue: raw.qos) ?? .atMostOnce,
        retain: raw.retain)
    core.handleMessage(message)
}

func mqttOnLog(
    _ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ level: Int32, _ text: UnsafePointer<CChar>?
) {
    guard let core = core(userdata), let text else { return }
    core.handleLog(level: level, text: String(cString: text))
}
