internal import CBinsMosquitto

/// Topic-filter helpers over libmosquitto's own matching rules.
enum TopicFilter {
    /// The part of a filter that incoming topics are matched against: an MQTT 5 shared subscription
    /// `$share/{group}/{filter}` delivers messages whose topic matches `{filter}`.
    static func matchingPart(of filter: String) -> String {
        guard filter.hasPrefix("$share/") else { return filter }
        let parts = filter.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        return parts.count == 3 ? String(parts[2]) : filter
    }

    static func matches(filter: String, topic: String) -> Bool {
        var result = false
        let rc = mosquitto_topic_matches_sub(filter, topic, &result)
        return rc == MOSQ_ERR_SUCCESS.rawValue && result
    }

    static func isValidFilter(_ filter: String) -> Bool {
        !filter.isEmpty && mosquitto_sub_topic_check(filter) == MOSQ_ERR_SUCCESS.rawValue
    }

    static func isValidTopic(_ topic: String) -> Bool {
        !topic.isEmpty && mosquitto_pub_topic_check(topic) == MOSQ_ERR_SUCCESS.rawValue
    }
}
