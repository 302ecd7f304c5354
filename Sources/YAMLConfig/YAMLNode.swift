import CBinsYAML

/// One node of a YAML document, with the place it starts (1-based line and column). Built from libyaml's
/// parser events by `YAMLNode.compose(_:)`: the files this project reads need the tree and the places, not
/// YAML's tag resolution or a date and number model, so the layer between libyaml and `YAMLValue` is this
/// small tree rather than a YAML library that brings Foundation's regular expressions and formatters into
/// the daemon (docs/hardware.md, "A lean binsd").
struct YAMLNode {
    enum Content {
        /// A scalar as written; `isPlain` when unquoted (only plain scalars can mean null).
        case scalar(String, isPlain: Bool)
        case mapping([(key: YAMLNode, value: YAMLNode)])
        case sequence([YAMLNode])
    }

    var content: Content
    var line: Int
    var column: Int

    /// A YAML text that libyaml refuses, or a document this reader does not accept (several documents, a
    /// repeated key, an unknown alias), with the place libyaml names.
    struct SyntaxError: Error {
        var message: String
        var line: Int?
        var column: Int?
    }

    /// Parses the single document of `text`; nil for a text without one (empty or only comments).
    static func compose(_ text: String) throws(SyntaxError) -> YAMLNode? {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { bytes = [0] }  // libyaml wants a valid pointer even for no input
        let length = text.utf8.count
        return try bytes.withUnsafeBufferPointer { buffer throws(SyntaxError) -> YAMLNode? in
            // The parser points at itself once given its input, so it lives at one address until deleted.
            let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
            defer { parser.deallocate() }
            guard yaml_parser_initialize(parser) == 1 else {
                throw SyntaxError(message: "libyaml: yaml_parser_initialize failed (out of memory)")
            }
            defer { yaml_parser_delete(parser) }
            yaml_parser_set_input_string(parser, buffer.baseAddress, length)
            var composer = Composer(parser: parser)
            return try composer.document()
        }
    }

    /// Turns the event stream into nodes: anchors are remembered and aliases replaced by what they name.
    private struct Composer {
        let parser: UnsafeMutablePointer<yaml_parser_t>
        var anchors: [String: YAMLNode] = [:]

        init(parser: UnsafeMutablePointer<yaml_parser_t>) { self.parser = parser }

        mutating func document() throws(SyntaxError) -> YAMLNode? {
            var event = try next()  // stream start
            event = try next()
            guard event.type == YAML_DOCUMENT_START_EVENT else { return nil }  // stream end: no document
            let root = try node(from: try next())
            _ = try next()  // document end
            let after = try next()
            if after.type == YAML_DOCUMENT_START_EVENT {
                throw SyntaxError(
                    message: "expected a single document in the stream: but found another document", line: after.line,
                    column: after.column)
            }
            return root
        }

        mutating func node(from event: Event) throws(SyntaxError) -> YAMLNode {
            switch event.type {
            case YAML_ALIAS_EVENT:
                guard let name = event.anchor, let target = anchors[name] else {
                    throw SyntaxError(message: "found undefined alias", line: event.line, column: event.column)
                }
                return target
            case YAML_SCALAR_EVENT:
                let node = YAMLNode(
                    content: .scalar(event.value, isPlain: event.isPlain), line: event.line, column: event.column)
                remember(node, as: event.anchor)
                return node
            case YAML_SEQUENCE_START_EVENT:
                var items: [YAMLNode] = []
                var item = try next()
                while item.type != YAML_SEQUENCE_END_EVENT {
                    items.append(try node(from: item))
                    item = try next()
                }
                let node = YAMLNode(content: .sequence(items), line: event.line, column: event.column)
                remember(node, as: event.anchor)
                return node
            case YAML_MAPPING_START_EVENT:
                var pairs: [(key: YAMLNode, value: YAMLNode)] = []
                var seen: Set<String> = []
                var keyEvent = try next()
                while keyEvent.type != YAML_MAPPING_END_EVENT {
                    let key = try node(from: keyEvent)
                    let value = try node(from: try next())
                    if case .scalar(let text, _) = key.content, !seen.insert(text).inserted {
                        throw SyntaxError(message: "duplicate key '\(text)'", line: key.line, column: key.column)
                    }
                    pairs.append((key, value))
                    keyEvent = try next()
                }
                let node = YAMLNode(content: .mapping(pairs), line: event.line, column: event.column)
                remember(node, as: event.anchor)
                return node
            default:
                throw SyntaxError(
                    message: "unexpected YAML event \(event.type.rawValue)", line: event.line, column: event.column)
            }
        }

        mutating func remember(_ node: YAMLNode, as anchor: String?) {
            if let anchor { anchors[anchor] = node }
        }

        /// The next event, copied out of libyaml's buffers and freed; a parser error becomes a SyntaxError
        /// with libyaml's context and problem, at the problem's place.
        mutating func next() throws(SyntaxError) -> Event {
            var event = yaml_event_t()
            guard yaml_parser_parse(parser, &event) == 1 else {
                let state = parser.pointee
                let problem = state.problem.map { String(cString: $0) } ?? "unreadable YAML"
                let context = state.context.map { String(cString: $0) }
                throw SyntaxError(
                    message: [context, problem].compactMap { $0 }.joined(separator: ": "),
                    line: Int(state.problem_mark.line) + 1, column: Int(state.problem_mark.column) + 1)
            }
            defer { yaml_event_delete(&event) }
            return Event(event)
        }
    }

    /// What this reader keeps of a libyaml event.
    private struct Event {
        var type: yaml_event_type_t
        var line: Int
        var column: Int
        var anchor: String?
        var value = ""
        var isPlain = false

        init(_ event: yaml_event_t) {
            type = event.type
            line = Int(event.start_mark.line) + 1
            column = Int(event.start_mark.column) + 1
            switch event.type {
            case YAML_ALIAS_EVENT:
                anchor = event.data.alias.anchor.map { String(cString: $0) }
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                anchor = scalar.anchor.map { String(cString: $0) }
                if let bytes = scalar.value {
                    value = String(decoding: UnsafeBufferPointer(start: bytes, count: scalar.length), as: UTF8.self)
                }
                isPlain = scalar.style == YAML_PLAIN_SCALAR_STYLE || scalar.style == YAML_ANY_SCALAR_STYLE
            case YAML_SEQUENCE_START_EVENT:
                anchor = event.data.sequence_start.anchor.map { String(cString: $0) }
            case YAML_MAPPING_START_EVENT:
                anchor = event.data.mapping_start.anchor.map { String(cString: $0) }
            default:
                anchor = nil
            }
        }
    }
}
