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
        let value = try required(key)
        do throws(WireJSON.ScalarFailure) { return try document.string(value) } catch {
            throw failure(error, key, String.self)
        }
    }

    func double(_ key: some CodingKey) throws(WireError) -> Double {
        let value = try required(key)
        do throws(WireJSON.ScalarFailure) { return try document.double(value) } catch {
            throw failure(error, key, Double.self)
        }
    }

    func bool(_ key: some CodingKey) throws(WireError) -> Bool {
        let value = try required(key)
        do throws(WireJSON.ScalarFailure) { return try document.bool(value) } catch {
            throw failure(error, key, Bool.self)
        }
    }

    func integer<T: FixedWidthInteger>(_ key: some CodingKey, as type: T.Type = T.self) throws(WireError) -> T {
        let value = try required(key)
        do throws(WireJSON.ScalarFailure) { return try document.integer(value) } catch {
            throw failure(error, key, T.self)
        }
    }

    func enumeration<E: RawRepresentable>(_ key: some CodingKey, as type: E.Type = E.self) throws(WireError) -> E
    where E.RawValue == String {
        let value = try required(key)
        do throws(WireJSON.ScalarFailure) { return try document.enumeration(value, E.self) } catch {
            throw failure(error, key, E.self)
        }
    }

    func timestamp(_ key: some CodingKey) throws(WireError) -> WireTimestamp {
        let value = try required(key)
        do throws(WireJSON.ScalarFailure) { return try document.timestamp(value) } catch {
            throw failure(error, key, WireTimestamp.self)
        }
    }

    // MARK: Optional fields: absent or `null` is `nil`

    func optionalString(_ key: some CodingKey) throws(WireError) -> String? {
        guard let value = present(key) else { return nil }
        do throws(WireJSON.ScalarFailure) { return try document.string(value) } catch {
            throw failure(error, key, String.self)
        }
    }

    func optionalDouble(_ key: some CodingKey) throws(WireError) -> Double? {
        guard let value = present(key) else { return nil }
        do throws(WireJSON.ScalarFailure) { return try document.double(value) } catch {
            throw failure(error, key, Double.self)
        }
    }

    func optionalBool(_ key: some CodingKey) throws(WireError) -> Bool? {
        guard let value = present(key) else { return nil }
        do throws(WireJSON.ScalarFailure) { return try document.bool(value) } catch {
            throw failure(error, key, Bool.self)
        }
    }

    func optionalInteger<T: FixedWidthInteger>(_ key: some CodingKey, as type: T.Type = T.self) throws(WireError)
        -> T?
    {
        guard let value = present(key) else { return nil }
        do throws(WireJSON.ScalarFailure) { return try document.integer(value) } catch {
            throw failure(error, key, T.self)
        }
    }

    /// A nested object, or `nil` when absent or `null`.
    func optionalObject(_ key: some CodingKey) throws(WireError) -> WireFields? {
        let name = key.stringValue
        switch document.member(name, of: object) {
        case nil, .null?: return nil
        case .object(let nested)?:
            return WireFields(document: document, object: nested, prefix: prefix + name + ".")
        case _?: throw WireError(.invalidField, "\(prefix)\(name) is not a Dictionary<String, Any>")
        }
    }

    // MARK: Reading

    // Each reader above looks its value up and converts it in its own body: a shared generic reader taking
    // the conversion as a closure copied these fields into a context for every field of every event.

    private func required(_ key: some CodingKey) throws(WireError) -> WireJSON.Value {
        guard let value = document.member(key.stringValue, of: object) else {
            throw WireError(.invalidField, "missing field \(prefix)\(key.stringValue)")
        }
        return value
    }

    /// The value, or `nil` when absent or `null`.
    private func present(_ key: some CodingKey) -> WireJSON.Value? {
        switch document.member(key.stringValue, of: object) {
        case nil, .null?: nil
        case let value?: value
        }
    }

    /// The error for a value that is not the `type` asked for.
    private func failure(_ error: WireJSON.ScalarFailure, _ key: some CodingKey, _ type: Any.Type) -> WireError {
        let field = prefix + key.stringValue
        // Enumerations and times are strings on the wire: a wrong JSON type is "not a String".
        let wireType: Any.Type =
            type is any FixedWidthInteger.Type || type == Double.self || type == Bool.self ? type : String.self
        switch error {
        case .null: return WireError(.invalidField, "\(field) is null, expected \(type)")
        case .mismatch: return WireError(.invalidField, "\(field) is not a \(wireType)")
        case .unfit(let text): return WireJSON.unfit(text, type, field)
        case .invalid: return WireError(.invalidField, "\(field) has an invalid value")
        }
    }
}
