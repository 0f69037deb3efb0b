import Testing
import TuneCore
@testable import CPUKernels

@Suite struct ConvTapsTests {
    /// Every (pixel, r, s) of the plane: does the tap read the input (not padding)?
    private func reads(_ t: TaskSpec, pixel: Int, r: Int, s: Int) -> Bool {
        let q = t.outputWidth
        let y = pixel / q * t["stride"] - t["pad"] + r * t["dil"], x = pixel % q * t["stride"] - t["pad"] + s * t["dil"]
        return y >= 0 && y < t["h"] && x >= 0 && x < t["w"]
    }

    @Test(arguments: [
        ("conv2d(n=1,c=8,h=7,w=7,k=20,r=3,s=3,stride=1,pad=1,dil=1,groups=1,layout=0,f32)", 7),
        ("conv2d(n=2,c=12,h=9,w=11,k=24,r=3,s=3,stride=2,pad=2,dil=2,groups=2,layout=0,f32)", 3),
        ("conv2d(n=1,c=6,h=9,w=9,k=10,r=5,s=3,stride=2,pad=1,dil=1,groups=1,layout=0,f32)", 5),
        ("conv2d(n=1,c=16,h=5,w=4,k=48,r=2,s=2,stride=1,pad=1,dil=2,groups=4,layout=0,f32)", 2),
        ("conv2d(n=1,c=4,h=3,w=3,k=8,r=3,s=3,stride=1,pad=3,dil=1,groups=1,layout=0,f32)", 7),
    ])
    func rowAlignedTilesVisitExactlyTheTapsThatReadTheInput(name: String, rb: Int) throws {
        let t = try TaskSpec(name: name)
        let taps = ConvTaps(task: t, rb: rb)
        #expect(taps.rowAligned)
        let q = t.outputWidth
        for pixel in 0..<(t.outputHeight * q) {
            let tile = pixel / rb, columns = taps.kinds[taps.tileKind[tile]][pixel % rb]
            for r in 0..<t["r"] {
                for s in 0..<t["s"] {
                    let visited = taps.rows[tile].contains(r) && columns.contains(s)
                    #expect(visited == reads(t, pixel: pixel, r: r, s: s), "pixel \(pixel) tap (\(r), \(s))")
                    if visited {
                        // The offset reaches this tap in the caller's (unpadded) plane.
                        let index = taps.offsets[pixel] + r * t["dil"] * t["w"] + s * t["dil"]
                        #expect(index >= 0 && index < t["h"] * t["w"])
                    }
                }
            }
        }
    }

    @Test func tilesAcrossRowsSkipOnlyRowsThatArePaddingForAllTheirPixels() throws {
        let t = try TaskSpec(name: "conv2d(n=1,c=8,h=7,w=7,k=20,r=3,s=3,stride=1,pad=1,dil=1,groups=1,layout=0,f32)")
        let taps = ConvTaps(task: t, rb: 4)  // 4 does not divide 7: tiles cross rows, read the padded copy
        #expect(!taps.rowAligned)
        #expect(taps.kinds.count == 1)
        for (tile, rows) in taps.rows.enumerated() {
            for pixel in (tile * 4)..<min(tile * 4 + 4, 49) {
                for r in 0..<3 where !rows.contains(r) {
                    #expect((0..<3).allSatisfy { !reads(t, pixel: pixel, r: r, s: $0) })
                }
            }
        }
        #expect(taps.rows[0] == 1..<3)  // pixels 0-3, all in the top row
        #expect(taps.rows[1] == 0..<3)  // pixels 4-7 cross into the second row
    }

    @Test func resNetsLastThreeByThreeVisitsTheFractionOfTapsItsPaddingLeaves() throws {
        let t = try TaskSpec(name: "conv2d(n=1,c=512,h=7,w=7,k=512,r=3,s=3,stride=1,pad=1,dil=1,groups=1,layout=0,f32)")
        // Per axis 5 outputs read 3 rows and 2 read 2: (19 / 21)^2 of 49 x 9 taps.
        #expect(ConvTaps(task: t, rb: 7).visitedTaps == 19 * 19)
        // Tiles across rows (rb 4) can skip rows only where a whole tile is in the top or bottom row.
        #expect(ConvTaps(task: t, rb: 4).visitedTaps > 19 * 19)
    }
}

@Suite struct GemmThreadSplitTests {
    private func step(m: Int = 256, n: Int, batch: Int = 1, nc: Int = 256, nr: Int = 16, threads: Int, par: Int = 0, order: Int = 0) throws -> Int {
        var problem = GemmProblem(m: m, n: n, k: 64)
        problem.batch = batch
        let knobs = try GemmKnobs(Schedule(["mr": 8, "nr": nr, "vec": 16, "mc": 144, "nc": nc, "kc": 64, "kunroll": 1,
                                             "packA": 0, "packB": 0, "order": order, "threads": threads, "par": par]))
        return GemmCodegen(problem: problem, knobs: knobs).outerStep
    }

    @Test func threadsSplittingOuterBlocksGetAsManyEach() throws {
        // ResNet-50's 1x1 layer at 56x56: 3,136 pixels are 12.25 blocks of 256, 14 of 224.
        #expect(try step(n: 3136, threads: 2) == 224)
        // Whole register tiles of 48: 240, the fourteenth block short.
        #expect(try step(n: 3136, nr: 48, threads: 2) == 240)
        // Already even and equal, one thread, or threads sharing each block: the block as scheduled.
        #expect(try step(n: 3072, threads: 2) == 256)
        #expect(try step(n: 3136, threads: 1) == 256)
        #expect(try step(n: 3136, threads: 2, par: 1) == 256)
        // A batch whose blocks already split evenly stays.
        #expect(try step(n: 128, batch: 12, nc: 256, threads: 2) == 128)
        // ic outside (order 2): M is split; 256 rows in blocks of 144 and 112 become 2 of 128.
        #expect(try step(n: 3136, threads: 2, order: 2) == 128)
    }
}
