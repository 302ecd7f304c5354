/// File paths as text, for the few places the daemon takes them apart (FoundationEssentials has no
/// `NSString` path methods, and the daemon needs nothing more).
enum PathText {
    /// Everything before the last `/` (trailing slashes ignored): `/etc/binsd/binsd.yaml` → `/etc/binsd`,
    /// `/binsd.yaml` → `/`, `binsd.yaml` → `` (the current directory), like `deletingLastPathComponent`.
    static func directory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }
}
