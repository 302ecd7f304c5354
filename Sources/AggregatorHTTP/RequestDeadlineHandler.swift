import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Keeps a connection from holding a slot of the server without using it. From the moment a connection
/// opens, and again from the end of each response, the next request must have arrived whole (head, body
/// and end) within `timeout`; otherwise the connection is closed. That one rule covers an idle keep-alive
/// connection, a client that never sends, and one that trickles its request a byte at a time (an idle
/// timer alone is reset by every byte). While a response is being written (including a long-lived event
/// stream) no deadline runs.
///
/// After a request the HTTP parser refuses (an 8 MB request line, a malformed head), Hummingbird answers
/// `400` with `Connection: close` and only half-closes, waiting for the client to close its side: this
/// handler closes the connection `linger` after that response is written (the pause lets the client read
/// the answer before the rest of its request, still arriving, would turn the close into a reset).
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private let linger: TimeAmount
    private var deadline: Scheduled<Void>?
    private var closeAfterResponse = false

    init(timeout: TimeAmount, linger: TimeAmount = .seconds(1)) {
        self.timeout = timeout
        self.linger = min(linger, timeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelActive(context: ChannelHandlerContext) {
        if deadline == nil { arm(context) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { disarm() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        if closeAfterResponse {
            arm(context, in: linger)
            context.write(data, promise: promise)
            return
        }
        arm(context)
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError {
            closeAfterResponse = true
            // Closed after the 400 is written, or by the deadline if it never is.
            arm(context)
        }
        context.fireErrorCaught(error)
    }

    private func arm(_ context: ChannelHandlerContext, in delay: TimeAmount? = nil) {
        deadline?.cancel()
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: delay ?? timeout) {
            loopBoundContext.value.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}
