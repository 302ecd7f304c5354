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

/// The last `capacity` values, the oldest overwritten first: the window both moving filters keep.
public struct SlidingWindow: Sendable, Hashable {
    public let capacity: Int
    /// In the order they are stored (not oldest first once the window has wrapped).
    public private(set) var values: [Double] = []
    private var next = 0

    /// A window of at least one value.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Adds a value; returns the one it overwrote, nil while the window was filling.
    @discardableResult
    public mutating func add(_ value: Double) -> Double? {
        guard values.count == capacity else {
            values.append(value)
            return nil
        }
        let overwritten = values[next]
        values[next] = value
        next = (next + 1) % capacity
        return overwritten
    }

    /// Read after an `add` that overwrote a value: true when that overwrite ended a lap of the window (a
    /// window filling up has completed no lap yet, whatever this says).
    public var completedLap: Bool { next == 0 && isFull }
    public var count: Int { values.count }
    public var isFull: Bool { values.count == capacity }

    public mutating func reset() {
        values = []
        next = 0
    }
}

/// Mean of the last `windowSize` values.
public struct MovingAverage: Sendable, Hashable {
    private var window: SlidingWindow
    private var sum = 0.0

    /// A window of at least one value.
    public init(windowSize: Int) {
        window = SlidingWindow(capacity: windowSize)
    }

    public var windowSize: Int { window.capacity }

    /// Adds a value and returns the average of the window.
    @discardableResult
    public mutating func add(_ value: Double) -> Double {
        if let overwritten = window.add(value) {
            sum += value - overwritten
            // Re-sum once per lap so rounding errors cannot accumulate over days of samples.
            if window.completedLap { sum = window.values.reduce(0, +) }
        } else {
            sum += value
        }
        return sum / Double(window.count)
    }

    public var average: Double? { window.count == 0 ? nil : sum / Double(window.count) }
    public var count: Int { window.count }
    public var isFull: Bool { window.isFull }

    public mutating func reset() {
        window.reset()
        sum = 0
    }
}

/// Median of the last `windowSize` values.
public struct MovingMedian: Sendable, Hashable {
    private var window: SlidingWindow

    public init(windowSize: Int) {
        window = SlidingWindow(capacity: windowSize)
    }

    public var windowSize: Int { window.capacity }

    @discardableResult
    public mutating func add(_ value: Double) -> Double {
        window.add(value)
        return RobustStatistics.median(window.values) ?? value
    }

    public var median: Double? { RobustStatistics.median(window.values) }
    public var values: [Double] { window.values }
    public var count: Int { window.count }
    public var isFull: Bool { window.isFull }

    public mutating func reset() { window.reset() }
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
