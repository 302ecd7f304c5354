import Aggregator
import Foundation
import Hummingbird
import Logging

/// An API failure as the client sees it: an HTTP status and a JSON body
/// `{"error": {"status": 404, "code": "not_found", "message": "no alert with id ..."}}`. Messages name what
/// was wrong with the request; they never carry stack traces, SQL, file paths of the server or secrets.
struct APIError: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var headers: HTTPFields = [:]

    static func badRequest(_ message: String) -> APIError {
        APIError(status: .badRequest, code: "invalid_argument", message: message)
    }

    static func unauthorized(_ message: String) -> APIError {
        APIError(
            status: .unauthorized, code: "unauthorized", message: message,
            headers: [.wwwAuthenticate: "Bearer realm=\"bins-aggregator\""])
    }

    init(status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    init(_ error: AggregatorError) {
        switch error.code {
        case .notFound: self.init(status: .notFound, code: "not_found", message: error.message)
        case .conflict: self.init(status: .conflict, code: "conflict", message: error.message)
        case .invalidArgument: self.init(status: .badRequest, code: "invalid_argument", message: error.message)
        case .storage:
            self.init(
                status: .serviceUnavailable, code: "storage_unavailable", message: "the database is not available")
        case .configuration, .broker, .webhook, .shutdown:
            self.init(status: .internalServerError, code: "internal", message: "internal error")
        }
    }

    var response: Response {
        struct Body: Encodable {
            struct Detail: Encodable {
                var status: Int
                var code: String
                var message: String
            }
            var error: Detail
        }
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        let body = APIJSON.encode(Body(error: .init(status: status.code, code: code, message: message)))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns every error thrown below it into a JSON error response; unexpected errors are logged and
/// answered with a bare 500.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as AggregatorError {
            if error.code == .storage {
                logger.error(
                    "http.storage_failed",
                    metadata: ["http.path": "\(request.uri.path)", "http.error": "\(error.message)"])
            }
            return APIError(error).response
        } catch let error as HTTPError {
            let message: String
            switch error.status {
            case .notFound: message = "no such route: \(request.method) \(request.uri.path.prefix(200))"
            case .methodNotAllowed: message = "\(request.method) is not allowed on \(request.uri.path.prefix(200))"
            default: message = error.body ?? error.status.reasonPhrase
            }
            return APIError(
                status: error.status, code: error.status == .notFound ? "not_found" : "http_error", message: message
            ).response
        } catch {
            logger.error(
                "http.unexpected_error",
                metadata: ["http.path": "\(request.uri.path)", "http.error": "\(type(of: error))"])
            return APIError(status: .internalServerError, code: "internal", message: "internal error").response
        }
    }
}

enum APIJSON {
    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: encode(value))))
    }
}
