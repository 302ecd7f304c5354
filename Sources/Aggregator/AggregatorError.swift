import YAMLConfig

/// The one error type of the Aggregator module. `message` names the object that failed (config file and
/// field, database, broker host and port, webhook) and never carries a secret: passwords and tokens are
/// replaced before they reach an error or a log line.
public typealias AggregatorError = CodedError<AggregatorErrorCode>

/// What went wrong in the aggregator, for `AggregatorError.code`.
public enum AggregatorErrorCode: String, Sendable, Hashable {
    /// The configuration file is unreadable or invalid.
    case configuration
    /// The database refused or failed an operation.
    case storage
    /// A request named something that does not exist (alert id, ledger subject).
    case notFound = "not_found"
    /// A request was well-formed but not allowed in the current state (acknowledging a cleared alert).
    case conflict
    /// A request carried invalid arguments (unknown level, bad date).
    case invalidArgument = "invalid_argument"
    /// The broker connection failed.
    case broker
    /// A webhook delivery failed.
    case webhook
    /// The services did not stop within the shutdown limits.
    case shutdown
}

extension CodedError where Code == AggregatorErrorCode {
    /// A configuration file that could not be read or is not valid, with every issue found in it.
    public init(_ error: ConfigError) {
        self.init(.configuration, error.message, issues: error.issues, cause: error)
    }
}
