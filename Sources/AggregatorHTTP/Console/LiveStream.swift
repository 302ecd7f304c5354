import Aggregator
import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle

/// `GET /live?topics=a,b`: a Server-Sent Events stream that names the topics (see ``LiveUpdates``) that
/// changed, as they change:
///
///     retry: 2000
///
///     event: change
///     data: {"topics":["alerts"]}
///
/// A comment line every 15 s keeps proxies and idle timeouts from closing a quiet stream and lets the
/// server notice a browser that went away. Pages fetch their live region again when a topic they show is
/// named; the stream carries no data itself, so it shows nothing the page's own request would not.
enum LiveStream {
    static let heartbeat: Duration = .seconds(15)
    /// Changes closer together than this are sent as one event.
    static let coalesce: Duration = .milliseconds(150)

    static func response(live: LiveUpdates, query: Parameters) -> Response {
        let topics = query.get("topics").map { text in
            Set(text.split(separator: ",").map { String($0.prefix(80)) }.filter { !$0.isEmpty }.prefix(20))
        }
        let subscription = live.subscribe(topics: topics?.isEmpty == false ? topics : nil)
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store", .xAccelBuffering: "no",
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                let ticker = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: heartbeat)
                        subscription.poke()
                    }
                }
                defer {
                    ticker.cancel()
                    live.unsubscribe(subscription)
                }
                try await writer.write(ByteBuffer(string: "retry: 2000\n: connected\n\n"))
                for await _ in subscription.wakeUps {
                    try? await Task.sleep(for: coalesce)
                    let changed = subscription.takeChanges()
                    if changed.isEmpty {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    } else {
                        let list = changed.sorted().map { "\"\($0.jsonEscaped)\"" }.joined(separator: ",")
                        try await writer.write(ByteBuffer(string: "event: change\ndata: {\"topics\":[\(list)]}\n\n"))
                    }
                }
                try await writer.finish(nil)
            })
    }
}

extension String {
    /// Topics are ids and fixed words, but a JSON string must stay one whatever it holds.
    fileprivate var jsonEscaped: String {
        var out = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// Ends every live stream when a graceful stop begins, so the HTTP server (stopped next) is not kept
/// waiting by pages that would otherwise keep their streams open for ever.
public struct LiveStreamsShutdown: Service {
    let live: LiveUpdates

    public init(live: LiveUpdates) {
        self.live = live
    }

    public func run() async throws {
        try? await gracefulShutdown()
        live.finish()
    }
}
