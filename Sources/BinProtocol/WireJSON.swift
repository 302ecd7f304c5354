/// A wire payload parsed once, strictly, into a tree that ``WireDecoder`` reads: the contract's own JSON
/// reader, so that what is valid is decided in one place and an event costs one pass over its bytes.
///
/// Stricter than JSON readers usually are, because two readers of one message must not see two messages:
/// - A leading UTF-8 byte-order mark is refused (a stored copy would not be JSON to a database's
///   `json_extract`).
/// - The top level must be an object.
/// - A key may not repeat in one object, after unescaping (`"device"` and `"dev\u0069ce"` are the same
///   key): a reader that keeps the first and a stored copy read by one that keeps the last would disagree.
/// - Nesting deeper than ``maximumDepth`` is refused: no payload of the contract nests beyond three levels,
///   and the bound keeps the recursive descent below shallow.
/// - RFC 8259's grammar otherwise, exactly: numbers without leading zeros or a leading `+`, no `NaN`,
///   strings of valid UTF-8 without raw control characters, escapes that decode to Unicode scalars (a lone
///   surrogate is refused).
///
/// Keys, strings and numbers stay as byte ranges until a field asks for them, so the parts of a payload that no
/// field reads cost only their validation.
struct WireJSON {
    static let maximumDepth = 16

    /// A JSON value; strings and numbers refer to ``bytes``.
    enum Value {
        case object(Object)
        case array([Value])
        /// The bytes between the quotes; `escaped` when they hold a backslash.
        case string(Range<Int>, escaped: Bool)
        case number(Range<Int>)
        case bool(Bool)
        case null
    }

    /// An object's members in document order (no key twice, compared after unescaping).
    struct Object {
        var keys: [Key] = []
        var values: [Value] = []
    }

    /// Where a key's UTF-8 is: between its quotes in ``bytes``, or, for a key that held an escape, its
    /// decoded bytes in ``unescapedKeys``. Keys stay bytes, not strings: an event's fields are looked up
    /// by comparing a few bytes, with no string made per key.
    struct Key {
        var range: Range<Int>
        var unescaped: Bool
    }

    let bytes: [UInt8]
    /// The decoded UTF-8 of every key that held an escape (none in what devices send).
    let unescapedKeys: [UInt8]
    let root: Object

    /// Parses `bytes`; every refusal is `malformed_json`, naming what was wrong and the byte offset.
    init(parsing bytes: [UInt8]) throws(WireError) {
        var parser = Parser(bytes: bytes)
        self.root = try parser.document()
        self.bytes = bytes
        self.unescapedKeys = parser.unescapedKeys
    }

    /// The value of the member named `name`, if the object has one.
    func member(_ name: String, of object: Object) -> Value? {
        var name = name
        let index = name.withUTF8 { wanted in
            object.keys.firstIndex { key in
                key.range.count == wanted.count
                    && (key.unescaped ? unescapedKeys : bytes).withUnsafeBufferPointer { source in
                        UnsafeBufferPointer(rebasing: source[key.range]).elementsEqual(wanted)
                    }
            }
        }
        return index.map { object.values[$0] }
    }

    /// The object's member names, in document order.
    func names(of object: Object) -> [String] {
        object.keys.map { key in
            String(decoding: (key.unescaped ? unescapedKeys : bytes)[key.range], as: UTF8.self)
        }
    }

    /// The text of a string value, unescaped (its bytes were validated by the parse).
    func text(_ range: Range<Int>, escaped: Bool) -> String {
        guard escaped else { return String(decoding: bytes[range], as: UTF8.self) }
        var parser = Parser(bytes: bytes)
        return String(decoding: parser.unescape(range), as: UTF8.self)
    }

    /// The text of a number value (ASCII, as the grammar allows); empty for other values.
    func numberText(_ value: Value) -> String {
        guard case .number(let range) = value else { return "" }
        return String(decoding: bytes[range], as: UTF8.self)
    }

    /// Why a value is not the scalar asked for.
    enum ScalarFailure: Error {
        case null
        /// Another JSON type.
        case mismatch
        /// A number the type cannot hold exactly; its text.
        case unfit(String)
        /// The right JSON type, but not a value of the type (an unknown enumeration case, a time that is
        /// not RFC 3339).
        case invalid
    }

    /// A number no reading of which fits the field is not a wrong field but an unreadable payload:
    /// `malformed_json`, as JSON readers report it.
    static func unfit(_ text: String, _ type: Any.Type, _ field: String) -> WireError {
        WireError(.malformedJSON, "\(field) = \(text.prefix(40)) does not fit a \(type)")
    }

    private static func other(_ value: Value) -> ScalarFailure {
        if case .null = value { .null } else { .mismatch }
    }

    func bool(_ value: Value) throws(ScalarFailure) -> Bool {
        guard case .bool(let bool) = value else { throw Self.other(value) }
        return bool
    }

    func string(_ value: Value) throws(ScalarFailure) -> String {
        guard case .string(let range, let escaped) = value else { throw Self.other(value) }
        return text(range, escaped: escaped)
    }

    func double(_ value: Value) throws(ScalarFailure) -> Double {
        guard case .number(let range) = value else { throw Self.other(value) }
        let text = String(decoding: bytes[range], as: UTF8.self)
        guard let double = Double(text), double.isFinite else { throw .unfit(text) }
        return double
    }

    /// An integer written as one (digits only) is read exactly; one with a fraction or an exponent is read
    /// as a double and taken if that is a whole number the type holds (`5.0`, `1e3`).
    func integer<T: FixedWidthInteger>(_ value: Value) throws(ScalarFailure) -> T {
        guard case .number(let range) = value else { throw Self.other(value) }
        var index = range.lowerBound
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var magnitude: UInt64 = 0
        var digitsOnly = true
        while index < range.upperBound {
            let byte = bytes[index]
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                digitsOnly = false
                break
            }
            let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow, !carry else { throw .unfit(numberText(value)) }
            magnitude = sum
            index += 1
        }
        let result: T?
        if !digitsOnly {
            let double = Double(numberText(value))
            result = double.flatMap { $0.isFinite && $0.rounded() == $0 ? T(exactly: $0) : nil }
        } else if !negative {
            result = T(exactly: magnitude)
        } else if magnitude == 0 {
            result = 0
        } else if magnitude <= UInt64(Int64.max) + 1 {
            result = T(exactly: Int64(truncatingIfNeeded: 0 &- magnitude))
        } else {
            result = nil
        }
        guard let result else { throw .unfit(numberText(value)) }
        return result
    }

    /// A string naming a case of `E`.
    func enumeration<E: RawRepresentable>(_ value: Value, _ type: E.Type) throws(ScalarFailure) -> E
    where E.RawValue == String {
        guard let result = E(rawValue: try string(value)) else { throw .invalid }
        return result
    }

    /// An RFC 3339 time, read from the payload's bytes without making a string of it first.
    func timestamp(_ value: Value) throws(ScalarFailure) -> WireTimestamp {
        guard case .string(let range, let escaped) = value else { throw Self.other(value) }
        let timestamp =
            escaped
            ? WireTimestamp(rfc3339: text(range, escaped: true))
            : bytes[range].withUnsafeBufferPointer { WireTimestamp(rfc3339UTF8: $0) }
        guard let timestamp else { throw .invalid }
        return timestamp
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var depth = 0
        /// The decoded bytes of the keys that held escapes, in the order they were read.
        var unescapedKeys: [UInt8] = []

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        mutating func document() throws(WireError) -> Object {
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
                throw WireError(.malformedJSON, "payload starts with a byte-order mark")
            }
            skipWhitespace()
            guard peek() == UInt8(ascii: "{") else { throw WireError(.malformedJSON, "not a JSON object") }
            guard case .object(let root) = try value() else { throw malformed("expected an object") }
            skipWhitespace()
            guard index == bytes.count else { throw WireError(.malformedJSON, "data after the JSON object") }
            return root
        }

        private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        private func keyBytes(_ key: Key) -> ArraySlice<UInt8> {
            key.unescaped ? unescapedKeys[key.range] : bytes[key.range]
        }

        private mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        private func malformed(_ what: String) -> WireError {
            WireError(.malformedJSON, "\(what) at byte \(index)")
        }

        private mutating func expect(_ byte: UInt8, _ what: String) throws(WireError) {
            skipWhitespace()
            guard peek() == byte else { throw malformed("expected \(what)") }
            index += 1
        }

        private mutating func value() throws(WireError) -> Value {
            skipWhitespace()
            guard let byte = peek() else { throw malformed("unexpected end") }
            switch byte {
            case UInt8(ascii: "{"): return .object(try object())
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "\""):
                let (range, escaped) = try string()
                return .string(range, escaped: escaped)
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw malformed("unexpected character")
            }
        }

        private mutating func enter() throws(WireError) {
            guard depth < WireJSON.maximumDepth else {
                throw WireError(.malformedJSON, "nested deeper than \(WireJSON.maximumDepth) levels")
            }
            depth += 1
            index += 1
        }

        private mutating func object() throws(WireError) -> Object {
            try enter()
            defer { depth -= 1 }
            var object = Object()
            /// Beyond a few dozen keys a linear search for repeats would let a hostile payload cost
            /// quadratic time; the set is built only then.
            var seen: Set<[UInt8]>?
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return object
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw malformed("expected a key") }
                let (range, escaped) = try string()
                var key = Key(range: range, unescaped: false)
                if escaped {
                    // `unescape` walks the key again with `index`; the parse goes on after the closing quote.
                    let afterKey = index
                    let decoded = unescape(range)
                    index = afterKey
                    key = Key(range: unescapedKeys.count..<unescapedKeys.count + decoded.count, unescaped: true)
                    unescapedKeys += decoded
                }
                let repeated: Bool
                if object.keys.count < 32 {
                    repeated = object.keys.contains {
                        $0.range.count == key.range.count && keyBytes($0).elementsEqual(keyBytes(key))
                    }
                } else {
                    if seen == nil { seen = Set(object.keys.map { Array(keyBytes($0)) }) }
                    repeated = !seen!.insert(Array(keyBytes(key))).inserted
                }
                guard !repeated else {
                    let name = String(decoding: keyBytes(key), as: UTF8.self)
                    throw WireError(.malformedJSON, "key \"\(name.prefix(32))\" repeats")
                }
                try expect(UInt8(ascii: ":"), "':'")
                object.keys.append(key)
                object.values.append(try value())
                skipWhitespace()
                guard let separator = peek() else { throw malformed("unexpected end") }
                index += 1
                switch separator {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "}"): return object
                default:
                    index -= 1
                    throw malformed("expected ',' or '}'")
                }
            }
        }

        private mutating func array() throws(WireError) -> Value {
            try enter()
            defer { depth -= 1 }
            var elements: [Value] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                elements.append(try value())
                skipWhitespace()
                guard let separator = peek() else { throw malformed("unexpected end") }
                index += 1
                switch separator {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "]"): return .array(elements)
                default:
                    index -= 1
                    throw malformed("expected ',' or ']'")
                }
            }
        }

        private mutating func literal(_ word: StaticString, _ value: Value) throws(WireError) -> Value {
            let count = word.utf8CodeUnitCount
            let matches =
                index + count <= bytes.count
                && word.withUTF8Buffer { expected in bytes[index..<index + count].elementsEqual(expected) }
            guard matches else { throw malformed("invalid literal") }
            index += count
            return value
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        private mutating func number() throws(WireError) -> Range<Int> {
            let start = index
            if peek() == UInt8(ascii: "-") { index += 1 }
            switch peek() ?? 0 {
            case UInt8(ascii: "0"): index += 1
            case UInt8(ascii: "1")...UInt8(ascii: "9"): skipDigits()
            default: throw malformed("invalid number")
            }
            if peek() == UInt8(ascii: ".") {
                index += 1
                guard try digits() else { throw malformed("invalid number") }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                index += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                guard try digits() else { throw malformed("invalid number") }
            }
            return start..<index
        }

        private mutating func skipDigits() {
            while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
        }

        /// At least one digit, skipped.
        private mutating func digits() throws(WireError) -> Bool {
            let start = index
            skipDigits()
            return index > start
        }

        /// A string starting at its opening quote: the range between the quotes and whether it holds an
        /// escape. Validates escapes, control characters and UTF-8.
        private mutating func string() throws(WireError) -> (Range<Int>, escaped: Bool) {
            index += 1
            let start = index
            var escaped = false
            var ascii = true
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    let range = start..<index
                    index += 1
                    if !ascii {
                        guard String(validating: bytes[range], as: UTF8.self) != nil else {
                            throw WireError(.malformedJSON, "invalid UTF-8 in a string at byte \(start)")
                        }
                    }
                    return (range, escaped)
                case UInt8(ascii: "\\"):
                    escaped = true
                    index += 1
                    guard let escape = peek() else { throw malformed("unterminated string") }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "u"): _ = try unicodeEscape()
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                        UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        break
                    default: throw malformed("invalid escape")
                    }
                case 0x00..<0x20:
                    throw malformed("control character in a string")
                default:
                    if byte >= 0x80 { ascii = false }
                    index += 1
                }
            }
            throw malformed("unterminated string")
        }

        /// After `\u`: four hex digits, and a low surrogate's escape after a high one. Returns the scalar.
        private mutating func unicodeEscape() throws(WireError) -> Unicode.Scalar {
            let unit = try hex4()
            switch unit {
            case 0xD800...0xDBFF:
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                else { throw malformed("lone surrogate in a \\u escape") }
                index += 2
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low),
                    let scalar = Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                else { throw malformed("lone surrogate in a \\u escape") }
                return scalar
            case 0xDC00...0xDFFF:
                throw malformed("lone surrogate in a \\u escape")
            default:
                // Every value outside the surrogates is a scalar.
                return Unicode.Scalar(unit) ?? "\u{FFFD}"
            }
        }

        private mutating func hex4() throws(WireError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw malformed("truncated \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw malformed("invalid \\u escape")
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        /// The UTF-8 of a validated string's contents with its escapes decoded.
        mutating func unescape(_ range: Range<Int>) -> [UInt8] {
            var decoded: [UInt8] = []
            decoded.reserveCapacity(range.count)
            index = range.lowerBound
            while index < range.upperBound {
                let byte = bytes[index]
                index += 1
                guard byte == UInt8(ascii: "\\") else {
                    decoded.append(byte)
                    continue
                }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "u"):
                    // Validated by the parse, so this cannot fail.
                    let scalar = (try? unicodeEscape()) ?? "\u{FFFD}"
                    decoded.append(contentsOf: String(scalar).utf8)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                default: decoded.append(escape)
                }
            }
            return decoded
        }
    }
}
