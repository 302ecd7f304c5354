/// Median and median absolute deviation: the robust centre and spread used throughout the sensor
/// pipeline, because a single bad sample (an HX711 glitch, a ranger echo off the bin wall) must not
/// move the result.
public enum RobustStatistics {
    /// The middle value (mean of the two middle ones for an even count); nil for no values.
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    public static func median<Value: BinaryInteger>(_ values: [Value]) -> Double? {
        median(values.map { Double($0) })
    }

    /// Median of the absolute deviations from the median.
    public static func medianAbsoluteDeviation(_ values: [Double]) -> Double? {
        guard let centre = median(values) else { return nil }
        return median(values.map { abs($0 - centre) })
    }
}

/// Mean of the last `windowSize` values.
public struct MovingAverage: Sendable, Hashable {
    public let windowSize: Int
    private var window: [Double] = []
    private var next = 0
    private var sum = 0.0

    /// A window of at least one value.
    public init(windowSize: Int) {
        self.windowSize = max(1, windowSize)
    }

    /// Adds a value and returns the average of the window.
    @discardableResult
    public mutating func add(_ value: Double) -> Double {
        if window.count < windowSize {
            window.append(value)
            sum += value
        } else {
            sum += value - window[next]
            window[next] = value
            next = (next + 1) % windowSize
            // Re-sum once per lap so rounding errors cannot accumulate over days of samples.
            if next == 0 { sum = window.reduce(0, +) }
        }
        return sum / Double(window.count)
    }

    public var average: Double? { window.isEmpty ? nil : sum / Double(window.count) }
    public var count: Int { window.count }
    public var isFull: Bool { window.count == windowSize }

    public mutating func reset() {
        window = []
        next = 0
        sum = 0
    }
}

/// Median of the last `windowSize` values.
public struct MovingMedian: Sendable, Hashable {
    public let windowSize: Int
    private var window: [Double] = []
    private var next = 0

    public init(windowSize: Int) {
        self.windowSize = max(1, windowSize)
    }

    @discardableResult
    public mutating func add(_ value: Double) -> Double {
        if window.count < windowSize {
            window.append(value)
        } else {
            window[next] = value
            next = (next + 1) % windowSize
        }
        return RobustStatistics.median(window) ?? value
    }

    public var median: Double? { RobustStatistics.median(window) }
    public var values: [Double] { window }
    public var count: Int { window.count }
    public var isFull: Bool { window.count == windowSize }

    public mutating func reset() {
        window = []
        next = 0
    }
}

/// Rejects outliers by the modified z-score (Iglewicz and Hoaglin): a value is an outlier when
/// 0.6745 · |x − median| / MAD exceeds `threshold` (3.5 by their recommendation). When more than
/// half of the values are equal (MAD = 0), every value differing from the median is an outlier.
public struct OutlierRejection: Sendable, Hashable {
    public var threshold: Double

    public init(threshold: Double = 3.5) {
        self.threshold = threshold
    }

    public func isOutlier(_ value: Double, median: Double, medianAbsoluteDeviation: Double) -> Bool {
        if medianAbsoluteDeviation == 0 { return value != median }
        return 0.6745 * abs(value - median) / medianAbsoluteDeviation > threshold
    }

    /// The values that are not outliers, in their original order.
    public func inliers(_ values: [Double]) -> [Double] {
        guard let median = RobustStatistics.median(values),
            let deviation = RobustStatistics.medianAbsoluteDeviation(values)
        else { return values }
        return values.filter { !isOutlier($0, median: median, medianAbsoluteDeviation: deviation) }
    }
}
