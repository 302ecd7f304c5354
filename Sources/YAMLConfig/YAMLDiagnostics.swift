/// Collects the issues found while one YAML file is read into typed values, so that a reader reports
/// everything wrong with a file at once instead of stopping at the first problem. Readers do not touch it
/// directly: they report through the `YAMLValue` or `YAMLFields` the problem is about, which supplies the
/// field path and the place.
public final class YAMLDiagnostics {
    public let file: String
    public private(set) var issues: [ConfigIssue] = []

    public init(file: String) {
        self.file = file
    }

    public var hasErrors: Bool { issues.contains { $0.severity == .error } }
    public var errorCount: Int { issues.filter { $0.severity == .error }.count }
    public var warnings: [ConfigIssue] { issues.filter { $0.severity == .warning } }

    func add(_ severity: ConfigIssue.Severity, _ field: String, at node: YAMLNode?, _ message: String) {
        issues.append(
            ConfigIssue(
                severity: severity, file: file, line: node?.line, column: node?.column, field: field,
                message: message))
    }
}
