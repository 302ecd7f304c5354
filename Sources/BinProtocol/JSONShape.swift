/// What JSONDecoder lets through but the wire contract does not: checked on the raw bytes before
/// decoding.
///
/// - A leading UTF-8 byte-order mark: JSONDecoder skips it, but the payload kept as evidence would then
///   not be JSON to a database's `json_extract`.
/// - A top level that is not an object.
/// - A key repeated in one object, after unescaping (`"device"` and `"dev\u0069ce"` are the same key).
///   JSONDecoder keeps one of them while a stored copy keeps both, so two readers of one message could
///   see two different devices.
/// - Nesting deeper than ``maximumDepth``: no payload of the contract nests beyond three levels.
///
/// Everything else (number syntax, escapes inside values, UTF-8) is left to JSONDecoder, which runs next.
enum JSONShape {
    static let maximumDepth = 16

    static func check<Bytes: Swift.Collection>(_ bytes: Bytes) throws(WireError) where Bytes.Element == UInt8 {
        var scanner = Scanner(bytes: Array(bytes))
        try scanner.document()
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        /// The keys seen so far in each open object (innermost last); `nil` for an open array.
        var containers: [Set<[UInt8]>?] = []

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        mutating func document() throws(WireError) {
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
                throw WireError(.malformedJSON, "payload starts with a byte-order mark")
            }
            skipWhitespace()
            guard peek() == UInt8(ascii: "{") else { throw WireError(.malformedJSON, "not a JSON object") }
            try value()
            skipWhitespace()
            guard index == bytes.count else { throw WireError(.malformedJSON, "data after the JSON object") }
        }

        private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        private mutating func skipWhitespace() {
            while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        private func malformed(_ what: String) -> WireError {
            WireError(.malformedJSON, "\(what) at byte \(index)")
        }

        /// One value, iteratively: objects and arrays push a container instead of recursing.
        private mutating func value() throws(WireError) {
            let baseDepth = containers.count
            var expectValue = true
            while true {
                skipWhitespace()
                if expectValue {
                    guard let byte = peek() else { throw malformed("unexpected end") }
                    switch byte {
                    case UInt8(ascii: "{"):
                        index += 1
                        try open(keys: true)
                        skipWhitespace()
                        if peek() == UInt8(ascii: "}") {
                            index += 1
                            containers.removeLast()
                            expectValue = false
                        } else {
                            try key()
                        }
                        continue
                    case UInt8(ascii: "["):
                        index += 1
                        try open(keys: false)
                        skipWhitespace()
                        if peek() == UInt8(ascii: "]") {
                            index += 1
                            containers.removeLast()
                            expectValue = false
                        }
                        continue
                    case UInt8(ascii: "\""):
                        _ = try string(decode: false)
                    default:
                        try scalar()
                    }
                    expectValue = false
                }
                // After a value: end of document, a separator, or the end of a container.
                if containers.count == baseDepth { return }
                skipWhitespace()
                guard let byte = peek() else { throw malformed("unexpected end") }
                let inObject = containers[containers.count - 1] != nil
                switch byte {
                case UInt8(ascii: ","):
                    index += 1
                    if inObject { try key() }
                    expectValue = true
                case UInt8(ascii: "}") where inObject, UInt8(ascii: "]") where !inObject:
                    index += 1
                    containers.removeLast()
                default:
                    throw malformed("unexpected character")
                }
            }
        }

        private mutating func open(keys: Bool) throws(WireError) {
            guard containers.count < JSONShape.maximumDepth else {
                throw WireError(.malformedJSON, "nested deeper than \(JSONShape.maximumDepth) levels")
            }
            containers.append(keys ? [] : nil)
        }

        /// `"key" :` inside the innermost object; refuses a key already seen there.
        private mutating func key() throws(WireError) {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw malformed("expected a key") }
            let name = try string(decode: true)
            let inserted = containers[containers.count - 1]!.insert(name).inserted
            guard inserted else {
                throw WireError(.malformedJSON, "key \"\(String(decoding: name.prefix(32), as: UTF8.self))\" repeats")
            }
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw malformed("expected ':'") }
            index += 1
        }

        /// Numbers, `true`, `false`, `null`: their syntax is JSONDecoder's to judge; here only where they end.
        private mutating func scalar() throws(WireError) {
            let start = index
            while let byte = peek() {
                switch byte {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09: break
                default:
                    index += 1
                    continue
                }
                break
            }
            guard index > start else { throw malformed("expected a value") }
        }

        /// A string starting at the opening quote. With `decode`, returns its UTF-8 after unescaping.
        private mutating func string(decode: Bool) throws(WireError) -> [UInt8] {
            index += 1
            var decoded: [UInt8] = []
            while let byte = peek() {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return decoded
                case UInt8(ascii: "\\"):
                    guard let escape = peek() else { throw malformed("unterminated string") }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar), peek() == UInt8(ascii: "\\"), index + 1 < bytes.count,
                            bytes[index + 1] == UInt8(ascii: "u")
                        {
                            let saved = index
                            index += 2
                            let low = try hex4()
                            if (0xDC00...0xDFFF).contains(low) {
                                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            } else {
                                index = saved
                            }
                        }
                        if decode {
                            // Lone surrogates cannot be UTF-8; keep them distinguishable anyway.
                            decoded +=
                                Unicode.Scalar(scalar).map { Array(String($0).utf8) } ?? [
                                    0xFF, UInt8(scalar >> 8), UInt8(scalar & 0xFF),
                                ]
                        }
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                        if decode { decoded.append(escape) }
                    case UInt8(ascii: "b"): if decode { decoded.append(0x08) }
                    case UInt8(ascii: "f"): if decode { decoded.append(0x0C) }
                    case UInt8(ascii: "n"): if decode { decoded.append(0x0A) }
                    case UInt8(ascii: "r"): if decode { decoded.append(0x0D) }
                    case UInt8(ascii: "t"): if decode { decoded.append(0x09) }
                    default: throw malformed("invalid escape")
                    }
                default:
                    if decode { decoded.append(byte) }
                }
            }
            throw malformed("unterminated string")
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
    }
}
