import Foundation

/// A fresh directory under the system temp dir, removed with everything in it when the object goes away.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "bins-test") throws {
        var template = Array("\(NSTemporaryDirectory())/\(prefix).XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!) }
        guard let created else {
            throw TestSupportError("mkdtemp under \(NSTemporaryDirectory()) failed: errno \(errno)")
        }
        path = String(cString: created)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The path of `name` inside this directory.
    public func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    /// Creates a subdirectory (and parents) and returns its path.
    @discardableResult
    public func directory(_ name: String) throws -> String {
        let subdirectory = file(name)
        try FileManager.default.createDirectory(atPath: subdirectory, withIntermediateDirectories: true)
        return subdirectory
    }

    /// Writes `text` to `name` and returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        let target = file(name)
        try text.write(toFile: target, atomically: true, encoding: .utf8)
        return target
    }
}
