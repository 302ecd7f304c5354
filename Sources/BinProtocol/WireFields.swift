/// A payload type ``WireCodec`` can decode. A `Decodable` payload gets this for free, through
/// ``WireDecoder``; a payload on the hot path of ingest (events) reads its fields itself, from
/// ``WireFields``, which costs a fraction of `Codable`'s generic machinery per field.
public protocol WireDecodable {
    init(wire fields: WireFields) throws(WireError)
}

extension WireDecodable where Self: Decodable {
    public init(wire fields: WireFields) throws(WireError) {
        do {
            self = try Self(
                from: WireDecoder(document: fields.document, value: .object(fields.object), parentPath: [], key: nil))
        } catch let error as WireError {
            throw error
        } catch let error as DecodingError {
            throw WireCodec.describe(error)
        } catch {
            throw WireError(.invalidField, "undecodable payload")
        }
    }
}

/// The members of one object of a parsed payload, read by field name. Each reader throws the
/// ``WireError`` ``WireCodec`` gives for the same failure through `Codable`: `missing field mass_kg`,
/// `mass_kg is not a Double`, `mass_kg is null, expected Double`, `stream has an invalid value`, and
/// `malformed_json` for a number the field's type cannot hold.
public struct WireFields {
    let document: WireJSON
    let object: WireJSON.Object
    /// The field names leading here (`likelihoods.`), for messages.
    let prefix: String

    init(document: WireJSON) {
        self.init(document: document, object: document.root, prefix: "")
    }

    private init(document: WireJSON, object: WireJSON.Object, prefix: String) {
        self.document = document
        self.object = object
        self.prefix = prefix
    }

    // MARK: Required fields

    func string(_ key: some CodingKey) throws(WireError) -> String {
        try read(key, String.self) { value throws(WireJSON.ScalarFailure) in try document.string(value) }
    }

    func double(_ key: some CodingKey) throws(WireError) -> Double {
        try read(key, Double.self) { value throws(WireJSON.ScalarFailure) in try document.double(value) }
    }

    func bool(_ key: some CodingKey) throws(WireError) -> Bool {
        try read(key, Bool.self) { value throws(WireJSON.ScalarFailure) in try document.bool(value) }
    }

    func integer<T: FixedWidthInteger>(_ key: some CodingKey, as type: T.Type = T.self) throws(WireError) -> T {
        try read(key, T.self) { value throws(WireJSON.ScalarFailure) in try document.integer(value) }
    }

    func enumeration<E: RawRepresentable>(_ key: some CodingKey, as type: E.Type = E.self) throws(WireError) -> E
    where E.RawValue == String {
        try read(key, E.self) { value throws(WireJSON.ScalarFailure) in try document.enumeration(value, E.self) }
    }

    func timestamp(_ key: some CodingKey) throws(WireError) -> WireTimestamp {
        try read(key, WireTimestamp.self) { value throws(WireJSON.ScalarFailure) in try document.timestamp(value) }
    }

    // MARK: Optional fields: absent or `null` is `nil`

    func optionalString(_ key: some CodingKey) throws(WireError) -> String? {
        try readIfPresent(key, String.self) { value throws(WireJSON.ScalarFailure) in try document.string(value) }
    }

    func optionalDouble(_ key: some CodingKey) throws(WireError) -> Double? {
        try readIfPresent(key, Double.self) { value throws(WireJSON.ScalarFailure) in try document.double(value) }
    }

    func optionalBool(_ key: some CodingKey) throws(WireError) -> Bool? {
        try readIfPresent(key, Bool.self) { value throws(WireJSON.ScalarFailure) in try document.bool(value) }
    }

    func optionalInteger<T: FixedWidthInteger>(_ key: some CodingKey, as type: T.Type = T.self) throws(WireError)
        -> T?
    {
        try readIfPresent(key, T.self) { value throws(WireJSON.ScalarFailure) in try document.integer(value) }
    }

    /// A nested object, or `nil` when absent or `null`.
    func optionalObject(_ key: some CodingKey) throws(WireError) -> WireFields? {
        let name = key.stringValue
        switch object.value(forKey: name) {
        case nil, .null?: return nil
        case .object(let nested)?:
            return WireFields(document: document, object: nested, prefix: prefix + name + ".")
        case _?: throw WireError(.invalidField, "\(prefix)\(name) is not a Dictionary<String, Any>")
        }
    }

    // MARK: Reading

    private func read<T>(
        _ key: some CodingKey, _ type: T.Type, _ body: (WireJSON.Value) throws(WireJSON.ScalarFailure) -> T
    ) throws(WireError) -> T {
        guard let value = object.value(forKey: key.stringValue) else {
            throw WireError(.invalidField, "missing field \(prefix)\(key.stringValue)")
        }
        return try convert(value, key, type, body)
    }

    private func readIfPresent<T>(
        _ key: some CodingKey, _ type: T.Type, _ body: (WireJSON.Value) throws(WireJSON.ScalarFailure) -> T
    ) throws(WireError) -> T? {
        switch object.value(forKey: key.stringValue) {
        case nil, .null?: nil
        case let value?: try convert(value, key, type, body)
        }
    }

    private func convert<T>(
        _ value: WireJSON.Value, _ key: some CodingKey, _ type: T.Type,
        _ body: (WireJSON.Value) throws(WireJSON.ScalarFailure) -> T
    ) throws(WireError) -> T {
        do throws(WireJSON.ScalarFailure) {
            return try body(value)
        } catch {
            let field = prefix + key.stringValue
            // Enumerations and times are strings on the wire: a wrong JSON type is "not a String".
            let wireType: Any.Type =
                type is any FixedWidthInteger.Type || type == Double.self || type == Bool.self ? type : String.self
            switch error {
            case .null: throw WireError(.invalidField, "\(field) is null, expected \(type)")
            case .mismatch: throw WireError(.invalidField, "\(field) is not a \(wireType)")
            case .unfit(let text): throw WireJSON.unfit(text, type, field)
            case .invalid: throw WireError(.invalidField, "\(field) has an invalid value")
            }
        }
    }
}
