import Sensors
import Testing

@Suite struct FiltersTests {
    @Test func medianAndMedianAbsoluteDeviation() {
        #expect(RobustStatistics.median([Double]()) == nil)
        #expect(RobustStatistics.median([3.0, 1, 2]) == 2)
        #expect(RobustStatistics.median([4.0, 1, 3, 2]) == 2.5)
        #expect(RobustStatistics.median([Int32(7), -3, 5]) == 5)
        #expect(RobustStatistics.medianAbsoluteDeviation([1.0, 1, 2, 2, 4, 6, 9]) == 1)
    }

    @Test func movingAverageOverItsWindow() {
        var average = MovingAverage(windowSize: 3)
        #expect(average.average == nil)
        #expect(average.add(3) == 3)
        #expect(average.add(6) == 4.5)
        #expect(average.add(9) == 6)
        #expect(average.isFull)
        #expect(average.add(12) == 9)
        for _ in 0..<1_000 { average.add(0.1) }
        #expect(abs(average.average! - 0.1) < 1e-12)
        average.reset()
        #expect(average.count == 0)
    }

    @Test func movingMedianIgnoresASpike() {
        var median = MovingMedian(windowSize: 5)
        for value in [10.0, 11, 10, 500, 11] { median.add(value) }
        #expect(median.median == 11)
        #expect(median.values.count == 5)
    }

    @Test func outliersAreRejectedByModifiedZScore() {
        let rejection = OutlierRejection()
        #expect(rejection.inliers([100, 101, 99, 102, 98, 100, 160]) == [100, 101, 99, 102, 98, 100])
        #expect(rejection.inliers([5, 5, 5, 5, 9]) == [5, 5, 5, 5])
        #expect(rejection.inliers([1, 2, 3]) == [1, 2, 3])
        #expect(rejection.inliers([]) == [])
    }
}
