import Testing

@testable import BinDaemon

@Suite struct BinGeometryTests {
    @Test func boxFillFromDistance() throws {
        let box = try #require(BinGeometry(shape: .box(widthMm: 480, lengthMm: 550, depthMm: 900)))
        #expect(abs(box.capacityL - 237.6) < 1e-9)
        #expect(abs(box.litresPerMm(atHeightMm: 10) - 0.264) < 1e-12)
        // Ranger 40 mm above the rim: a distance of 940 mm is the empty bottom, 40 mm the rim.
        #expect(box.fill(distanceMm: 940, mountMm: 40).volumeL == 0)
        #expect(box.fill(distanceMm: 40, mountMm: 40).fraction == 1)
        let half = box.fill(distanceMm: 490, mountMm: 40)
        #expect(abs(half.surfaceHeightMm - 450) < 1e-9 && abs(half.fraction - 0.5) < 1e-12)
        // Beyond the ends it clamps, and the raw height tells above-the-rim from below-the-bottom.
        #expect(box.fill(distanceMm: 10, mountMm: 40).fraction == 1)
        #expect(box.fill(distanceMm: 2000, mountMm: 40).fraction == 0)
        #expect(box.surfaceHeightMm(distanceMm: 10, mountMm: 40) == 930)
        #expect(box.distanceMm(surfaceHeightMm: 450, mountMm: 40) == 490)
    }

    @Test func cylinderAndInverse() throws {
        let cylinder = try #require(BinGeometry(shape: .cylinder(diameterMm: 600, depthMm: 1000)))
        #expect(abs(cylinder.capacityL - Double.pi * 0.09 * 1000) < 1e-9)
        for volume in [0.0, 1.5, 50, 200, cylinder.capacityL] {
            #expect(abs(cylinder.volumeL(atHeightMm: cylinder.heightMm(forVolumeL: volume)) - volume) < 1e-9)
        }
    }

    @Test func tableInterpolatesAndInverts() throws {
        let table = try #require(
            BinGeometry(
                shape: .table(points: [
                    HeightVolume(heightMm: 200, volumeL: 30), HeightVolume(heightMm: 400, volumeL: 70),
                ])))
        #expect(table.depthMm == 400 && table.capacityL == 70)
        #expect(abs(table.volumeL(atHeightMm: 100) - 15) < 1e-12)  // (0,0) is implied
        #expect(abs(table.volumeL(atHeightMm: 300) - 50) < 1e-12)
        #expect(abs(table.litresPerMm(atHeightMm: 300) - 0.2) < 1e-12)
        #expect(abs(table.heightMm(forVolumeL: 50) - 300) < 1e-12)
        #expect(abs(table.heightMm(forVolumeL: 15) - 100) < 1e-12)
    }

    @Test func impossibleShapesAreReported() {
        #expect(BinGeometry(shape: .box(widthMm: 0, lengthMm: 1, depthMm: 1)) == nil)
        #expect(BinGeometry.problems(in: .cylinder(diameterMm: 300, depthMm: -1)).map(\.field) == ["depth_mm"])
        #expect(
            BinGeometry.problems(
                in: .table(points: [HeightVolume(heightMm: 0, volumeL: 5), HeightVolume(heightMm: 10, volumeL: 8)])
            ).map(\.message)
                == ["the volume at height 0 must be 0, got 5"])
        #expect(
            BinGeometry.problems(in: .table(points: [HeightVolume(heightMm: 10, volumeL: 5)])).map(\.field) == [
                "points"
            ])
    }
}
