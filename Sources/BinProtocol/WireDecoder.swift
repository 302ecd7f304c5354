/// `Decodable` over a ``WireJSON`` tree: how ``WireCodec`` turns a parsed payload into its type, so the
/// payloads' `init(from:)` stay the one definition of their fields.
///
/// Failures are `DecodingError`s carrying the field's coding path, which ``WireCodec`` turns into a
/// ``WireError`` naming the field. A number the field's type cannot hold exactly (a fraction for `seq`,
/// `1e400` for a mass) is a ``WireError`` of its own, `malformed_json`: no reading of the text gives a value.
struct WireDecoder: Decoder, SingleValueDecodingContainer {
    let document: WireJSON
    let value: WireJSON.Value
    /// The path of the container holding this value, and this value's key in it: the full path is built
    /// only when an error needs it.
    let parentPath: [any CodingKey]
    let key: (any CodingKey)?

    init(document: WireJSON) {
        self.init(document: document, value: .object(document.root), parentPath: [], key: nil)
    }

    init(document: WireJSON, value: WireJSON.Value, parentPath: [any CodingKey], key: (any CodingKey)?) {
        self.document = document
        self.value = value
        self.parentPath = parentPath
        self.key = key
    }

    var codingPath: [any CodingKey] { WireJSON.path(parentPath, key) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else {
            throw WireDecoder.mismatch([String: Any].self, value, codingPath)
        }
        return KeyedDecodingContainer(KeyedContainer<Key>(document: document, object: object, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw WireDecoder.mismatch([Any].self, value, codingPath) }
        return UnkeyedContainer(document: document, elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // MARK: Single value

    func decodeNil() -> Bool {
        if case .null = value { true } else { false }
    }

    func decode(_ type: Bool.Type) throws -> Bool { try document.bool(value, parentPath, key) }
    func decode(_ type: String.Type) throws -> String { try document.string(value, parentPath, key) }
    func decode(_ type: Double.Type) throws -> Double { try document.double(value, parentPath, key) }
    func decode(_ type: Float.Type) throws -> Float { try document.float(value, parentPath, key) }
    func decode(_ type: Int.Type) throws -> Int { try document.integer(value, parentPath, key) }
    func decode(_ type: Int8.Type) throws -> Int8 { try document.integer(value, parentPath, key) }
    func decode(_ type: Int16.Type) throws -> Int16 { try document.integer(value, parentPath, key) }
    func decode(_ type: Int32.Type) throws -> Int32 { try document.integer(value, parentPath, key) }
    func decode(_ type: Int64.Type) throws -> Int64 { try document.integer(value, parentPath, key) }
    func decode(_ type: UInt.Type) throws -> UInt { try document.integer(value, parentPath, key) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try document.integer(value, parentPath, key) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try document.integer(value, parentPath, key) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try document.integer(value, parentPath, key) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try document.integer(value, parentPath, key) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }

    /// A value of the wrong JSON type: `null` reads as missing, anything else as a mismatch.
    static func mismatch(_ type: Any.Type, _ value: WireJSON.Value, _ path: [any CodingKey]) -> DecodingError {
        if case .null = value {
            return .valueNotFound(type, .init(codingPath: path, debugDescription: "null"))
        }
        return .typeMismatch(type, .init(codingPath: path, debugDescription: "wrong JSON type"))
    }
}

/// The keys of an array's elements in a coding path (`bins.[2].id`).
private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "\(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let document: WireJSON
    let object: WireJSON.Object
    let codingPath: [any CodingKey]

    var allKeys: [Key] { document.names(of: object).compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { document.member(key.stringValue, of: object) != nil }

    private func value(_ key: Key) throws -> WireJSON.Value {
        guard let value = document.member(key.stringValue, of: object) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
        }
        return value
    }

    /// The value of `key` unless it is absent or `null`.
    private func present(_ key: Key) -> WireJSON.Value? {
        switch document.member(key.stringValue, of: object) {
        case nil, .null?: nil
        case let value?: value
        }
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(key) { true } else { false }
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try document.bool(value(key), codingPath, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try document.string(value(key), codingPath, key)
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try document.double(value(key), codingPath, key)
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try document.float(value(key), codingPath, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try document.integer(value(key), codingPath, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try document.integer(value(key), codingPath, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 {
        try document.integer(value(key), codingPath, key)
    }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 {
        try document.integer(value(key), codingPath, key)
    }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 {
        try document.integer(value(key), codingPath, key)
    }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try document.integer(value(key), codingPath, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 {
        try document.integer(value(key), codingPath, key)
    }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 {
        try document.integer(value(key), codingPath, key)
    }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 {
        try document.integer(value(key), codingPath, key)
    }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 {
        try document.integer(value(key), codingPath, key)
    }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: WireDecoder(document: document, value: value(key), parentPath: codingPath, key: key))
    }

    // One lookup instead of the default's three (contains, decodeNil, decode).
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        try present(key).map { value throws in try document.bool(value, codingPath, key) }
    }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        try present(key).map { value throws in try document.string(value, codingPath, key) }
    }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        try present(key).map { value throws in try document.double(value, codingPath, key) }
    }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? {
        try present(key).map { value throws in try document.integer(value, codingPath, key) }
    }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try present(key).map { value throws in
            try T(from: WireDecoder(document: document, value: value, parentPath: codingPath, key: key))
        }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try WireDecoder(document: document, value: value(key), parentPath: codingPath, key: key)
            .container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try WireDecoder(document: document, value: value(key), parentPath: codingPath, key: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        WireDecoder(document: document, value: .object(object), parentPath: codingPath, key: nil)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        WireDecoder(document: document, value: try value(key), parentPath: codingPath, key: key)
    }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let document: WireJSON
    let elements: [WireJSON.Value]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(document: WireJSON, elements: [WireJSON.Value], codingPath: [any CodingKey]) {
        self.document = document
        self.elements = elements
        self.codingPath = codingPath
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    /// The next element and its key, moving past it.
    private mutating func next(_ type: Any.Type) throws -> (WireJSON.Value, IndexKey) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                type, .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "no more elements"))
        }
        defer { currentIndex += 1 }
        return (elements[currentIndex], IndexKey(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any?.self,
                .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "no more elements"))
        }
        guard case .null = elements[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool {
        let (value, key) = try next(type)
        return try document.bool(value, codingPath, key)
    }
    mutating func decode(_ type: String.Type) throws -> String {
        let (value, key) = try next(type)
        return try document.string(value, codingPath, key)
    }
    mutating func decode(_ type: Double.Type) throws -> Double {
        let (value, key) = try next(type)
        return try document.double(value, codingPath, key)
    }
    mutating func decode(_ type: Float.Type) throws -> Float {
        let (value, key) = try next(type)
        return try document.float(value, codingPath, key)
    }
    mutating func decode(_ type: Int.Type) throws -> Int { try integer() }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer() }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer() }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer() }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try integer() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try integer() }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer() }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer() }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer() }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer() }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: nestedDecoder(type)) }

    private mutating func integer<T: FixedWidthInteger>() throws -> T {
        let (value, key) = try next(T.self)
        return try document.integer(value, codingPath, key)
    }

    private mutating func nestedDecoder(_ type: Any.Type) throws -> WireDecoder {
        let (value, key) = try next(type)
        return WireDecoder(document: document, value: value, parentPath: codingPath, key: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try nestedDecoder([String: Any].self).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try nestedDecoder([Any].self).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try nestedDecoder(Any.self) }
}

// MARK: - Scalars

extension WireJSON {
    fileprivate static func path(_ parent: [any CodingKey], _ key: (any CodingKey)?) -> [any CodingKey] {
        key.map { parent + [$0] } ?? parent
    }

    /// A scalar of the tree, or the error that names where it failed.
    private func read<T>(
        _ type: T.Type, _ parent: [any CodingKey], _ key: (any CodingKey)?,
        _ body: () throws(ScalarFailure) -> T
    ) throws -> T {
        do throws(ScalarFailure) {
            return try body()
        } catch {
            let path = Self.path(parent, key)
            switch error {
            case .null: throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "null"))
            case .mismatch: throw DecodingError.typeMismatch(type, .init(codingPath: path, debugDescription: "type"))
            case .unfit(let text): throw WireJSON.unfit(text, type, WireCodec.describe(path))
            case .invalid: throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "invalid"))
            }
        }
    }

    fileprivate func bool(_ value: Value, _ parent: [any CodingKey], _ key: (any CodingKey)?) throws -> Bool {
        try read(Bool.self, parent, key) { () throws(ScalarFailure) in try bool(value) }
    }

    fileprivate func string(_ value: Value, _ parent: [any CodingKey], _ key: (any CodingKey)?) throws -> String {
        try read(String.self, parent, key) { () throws(ScalarFailure) in try string(value) }
    }

    fileprivate func double(_ value: Value, _ parent: [any CodingKey], _ key: (any CodingKey)?) throws -> Double {
        try read(Double.self, parent, key) { () throws(ScalarFailure) in try double(value) }
    }

    fileprivate func float(_ value: Value, _ parent: [any CodingKey], _ key: (any CodingKey)?) throws -> Float {
        try read(Float.self, parent, key) { () throws(ScalarFailure) in
            let float = Float(try double(value))
            guard float.isFinite else { throw .unfit(numberText(value)) }
            return float
        }
    }

    fileprivate func integer<T: FixedWidthInteger>(_ value: Value, _ parent: [any CodingKey], _ key: (any CodingKey)?)
        throws -> T
    {
        try read(T.self, parent, key) { () throws(ScalarFailure) in try integer(value) }
    }
}
