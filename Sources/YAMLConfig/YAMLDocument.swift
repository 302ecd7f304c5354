/// A YAML file read strictly into typed values: every problem is reported at once with file, line,
/// column, field path and the value as written; unknown keys are errors (a typo like `strem:` must not
/// silently fall back to a default); warnings come back with the value.
///
///     let (config, warnings) = try YAMLDocument.load(path: path, what: "configuration") { root in
///         root.fields { fields in ... }
///     }
public enum YAMLDocument {
    /// Reads `path` and then `parse(yaml:file:what:_:)`; the file is named in messages as given.
    public static func load<T>(path: String, what: String, _ read: (YAMLValue) -> T?) throws(ConfigError)
        -> (value: T, warnings: [ConfigIssue])
    {
        try parse(yaml: try TextFile.read(path), file: path, what: what, read)
    }

    /// Parses `yaml` (one document) and reads it with `read`, which reports problems on the values it is
    /// given. Throws when any problem is an error: `.syntax` for text that is not YAML (duplicate keys
    /// included), `.invalid` with every issue for the rest. `what` names the kind of file in the message
    /// (`binsd.yaml: 2 error(s) in the configuration`).
    public static func parse<T>(yaml: String, file: String, what: String, _ read: (YAMLValue) -> T?) throws(ConfigError)
        -> (value: T, warnings: [ConfigIssue])
    {
        let root = try compose(yaml, file: file)
        let diagnostics = YAMLDiagnostics(file: file)
        let value = read(YAMLValue(node: root, path: "", diagnostics: diagnostics))
        guard let value, !diagnostics.hasErrors else {
            let count = max(diagnostics.errorCount, 1)
            var issues = diagnostics.issues
            if !diagnostics.hasErrors {
                issues.append(ConfigIssue(file: file, field: "", message: "nothing usable in the file"))
            }
            throw ConfigError(
                .invalid, file: file, message: "\(file): \(count) error(s) in the \(what)", issues: issues)
        }
        return (value, diagnostics.warnings)
    }

    static func compose(_ text: String, file: String) throws(ConfigError) -> YAMLNode {
        let node: YAMLNode?
        do {
            node = try YAMLNode.compose(text)
        } catch {
            throw ConfigError(
                .syntax, file: file, message: "\(file): not valid YAML",
                issues: [
                    ConfigIssue(file: file, line: error.line, column: error.column, field: "", message: error.message)
                ])
        }
        guard let node else {
            throw ConfigError(
                .syntax, file: file, message: "\(file): the file is empty",
                issues: [ConfigIssue(file: file, field: "", message: "the file is empty")])
        }
        return node
    }
}
