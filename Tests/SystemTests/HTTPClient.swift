import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Plain HTTP GETs against the aggregator's API on loopback, the way a dashboard or `curl` would use it.
enum HTTPClient {
    struct Response: Sendable {
        var status: Int
        var body: Data

        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func get(_ url: String, timeout: TimeInterval = 10) async throws -> Response {
        guard let target = URL(string: url) else { throw SystemTestError("\(url) is not a URL") }
        var request = URLRequest(url: target, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.httpMethod = "GET"
        let (body, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw SystemTestError("GET \(url): not an HTTP response") }
        return Response(status: http.statusCode, body: body)
    }

    /// GET and decode a JSON answer; anything but 200 is an error quoting the body. `snakeCase` maps
    /// `deposited_kg` to `depositedKg` for the test's own types (the wire types spell their keys out).
    static func getJSON<T: Decodable>(_ type: T.Type, _ url: String, snakeCase: Bool = true) async throws -> T {
        let response = try await get(url)
        guard response.status == 200 else {
            throw HTTPStatusError(url: url, status: response.status, body: String(response.text.prefix(500)))
        }
        let decoder = JSONDecoder()
        if snakeCase { decoder.keyDecodingStrategy = .convertFromSnakeCase }
        do {
            return try decoder.decode(T.self, from: response.body)
        } catch {
            throw SystemTestError("GET \(url): cannot decode \(T.self) from \(response.text.prefix(500)): \(error)")
        }
    }
}

/// A non-200 answer (kept apart from `SystemTestError` so a wait treats it as "not yet").
struct HTTPStatusError: Error, CustomStringConvertible {
    var url: String
    var status: Int
    var body: String

    var description: String { "GET \(url) answered \(status): \(body)" }
}
