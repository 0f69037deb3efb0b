import CUDAKernels
import CUDATestSupport
import Testing
import TuneCore

@Suite struct SpaceTests {
    let device = h100Profile()

    @Test func everyOperatorHasASpaceAndGenerates() throws {
        for t in smallTasks {
            let space = try #require(CUDAKernels.space(for: t, device: device), "no space for \(t.name)")
            var rng = SplitMix64(seed: 7)
            for _ in 0..<5 {
                let s = try #require(space.sample(using: &rng), "no valid schedule for \(t.name)")
                let k = try CUDAKernels.generate(task: t, schedule: s, device: device, options: CodegenOptions())
                #expect(k.language == .cuda)
                #expect(!k.launches.isEmpty)
                for l in k.launches {
                    #expect(k.source.contains("void __launch_bounds__") || k.source.contains(l.entry))
                    #expect(l.block.reduce(1, *) <= 1024)
                    #expect(l.grid.allSatisfy { $0 >= 1 })
                }
                #expect(!space.knobs.contains { $0.name == CUDAKernels.faultKnob })
            }
        }
    }

    @Test func gemmSpaceContainsTheFastSGEMMTiles() throws {
        let t = task(.matmul, ["m": 4096, "n": 4096, "k": 4096])
        let space = try #require(CUDAKernels.space(for: t, device: device))
        for (bm, bn, tm, tn, wx) in [(128, 128, 8, 8, 4), (128, 256, 8, 16, 4), (256, 128, 16, 8, 8), (128, 128, 8, 8, 8)] {
            for bk in [8, 16, 32] {
                let s = Schedule(["bm": bm, "bn": bn, "bk": bk, "tm": tm, "tn": tn, "wx": wx, "va": 4, "vb": 4,
                                  "db": 1, "pad": 4, "splitk": 1, "wk": 1, "swz": 8])
                let why = space.constraintViolation(s)
                // 256-wide tiles with bk=32 double-buffered still fit the opt-in shared memory.
                #expect(why == nil || (tm * tn > 64), "\(s): \(why ?? "")")
            }
        }
        let best = Schedule(["bm": 128, "bn": 128, "bk": 8, "tm": 8, "tn": 8, "wx": 4, "va": 4, "vb": 4,
                             "db": 1, "pad": 4, "splitk": 1, "wk": 1, "swz": 8])
        try space.validate(best)
        let k = try CUDAKernels.generate(task: t, schedule: best, device: device, options: CodegenOptions())
        #expect(k.launches == [KernelLaunch(entry: k.entry, grid: [32, 32, 1], block: [256, 1, 1], sharedMemBytes: 16896)])
    }

    @Test func invalidSchedulesAreRejected() throws {
        let t = task(.matmul, ["m": 64, "n": 60, "k": 30])
        let good = Schedule(["bm": 64, "bn": 64, "bk": 8, "tm": 4, "tn": 4, "wx": 8, "va": 1, "vb": 1,
                             "db": 0, "pad": 0, "splitk": 1, "wk": 1, "swz": 1])
        _ = try CUDAKernels.generate(task: t, schedule: good, device: device, options: CodegenOptions())
        var v = good.values
        func rejects(_ values: [String: Int], _ check: (ScheduleError) -> Bool) {
            do {
                _ = try CUDAKernels.generate(task: t, schedule: Schedule(values), device: device, options: CodegenOptions())
                Issue.record("accepted \(Schedule(values))")
            } catch {
                #expect(check(error), "unexpected \(error)")
            }
        }
        v["bogus"] = 1
        rejects(v) { $0 == .unknownKnob("bogus") }
        v = good.values; v.removeValue(forKey: "bk")
        rejects(v) { $0 == .missingKnob("bk") }
        v = good.values; v["bm"] = 48
        rejects(v) { if case .outOfDomain(knob: "bm", _, _) = $0 { true } else { false } }
        // K = 30 and N = 60: rows of A are not 16-byte runs; rows of B are.
        v = good.values; v["va"] = 4
        rejects(v) { if case .constraint(let m) = $0 { m.contains("va=4") } else { false } }
        v = good.values; v["vb"] = 4
        #expect(throws: Never.self) { _ = try CUDAKernels.generate(task: t, schedule: Schedule(v), device: device, options: CodegenOptions()) }
        // 256x256 with 1x1 thread tiles: 65536 threads.
        v = good.values; v["bm"] = 256; v["bn"] = 256; v["tm"] = 1; v["tn"] = 1
        rejects(v) { if case .constraint(let m) = $0 { m.contains("threads") } else { false } }
        // Warp tile must divide the block tile.
        v = good.values; v["tm"] = 16; v["wx"] = 1
        rejects(v) { if case .constraint(let m) = $0 { m.contains("warp tile") } else { false } }
        // Split-K beyond K.
        v = good.values; v["splitk"] = 16
        rejects(v) { if case .constraint(let m) = $0 { m.contains("splitk") } else { false } }
        // Too much shared memory for a device without opt-in.
        var small = device
        small.sharedMemPerBlockOptin = 0
        let big = Schedule(["bm": 256, "bn": 256, "bk": 32, "tm": 16, "tn": 8, "wx": 4, "va": 1, "vb": 4,
                            "db": 1, "pad": 4, "splitk": 1, "wk": 1, "swz": 1])
        let bigTask = task(.matmul, ["m": 512, "n": 512, "k": 512])
        #expect(CUDAKernels.space(for: bigTask, device: small)?.constraintViolation(big)?.contains("shared memory") == true)
    }

    @Test func faultKnobOnlyWithFaultInjection() throws {
        let t = task(.elementwise, ["n": 64])
        let base = ["threads": 64, "vec": 4, "ilp": 1]
        var withFault = base
        withFault[CUDAKernels.faultKnob] = 1
        #expect(throws: ScheduleError.unknownKnob("fault")) {
            _ = try CUDAKernels.generate(task: t, schedule: Schedule(withFault), device: device, options: CodegenOptions())
        }
        let allowed = CodegenOptions(allowFaultInjection: true)
        for f in 1...3 {
            withFault[CUDAKernels.faultKnob] = f
            let k = try CUDAKernels.generate(task: t, schedule: Schedule(withFault), device: device, options: allowed)
            let clean = try CUDAKernels.generate(task: t, schedule: Schedule(base), device: device, options: allowed)
            #expect(k.source != clean.source)
        }
        withFault[CUDAKernels.faultKnob] = 4
        #expect(throws: ScheduleError.self) {
            _ = try CUDAKernels.generate(task: t, schedule: Schedule(withFault), device: device, options: allowed)
        }
    }

    /// Candidates stored before the sliced-K knob existed still generate, as wk = 1.
    @Test func gemmSchedulesFromBeforeSlicedKStillGenerate() throws {
        let t = task(.matmul, ["m": 64, "n": 64, "k": 64])
        var v = ["bm": 32, "bn": 32, "bk": 8, "tm": 4, "tn": 4, "wx": 4, "va": 4, "vb": 4,
                 "db": 1, "pad": 4, "splitk": 1, "swz": 1]
        let old = try CUDAKernels.generate(task: t, schedule: Schedule(v), device: device, options: CodegenOptions())
        v["wk"] = 1
        let now = try CUDAKernels.generate(task: t, schedule: Schedule(v), device: device, options: CodegenOptions())
        #expect(old.launches == now.launches)
        #expect(old.source.contains("wk=1"))
    }

    @Test func slicedKMultipliesThreadsAndReservesTheReductionTile() throws {
        let t = task(.conv2d, ["c": 64, "h": 56, "w": 56, "k": 64, "r": 3, "s": 3, "pad": 1])
        var v = ["bm": 32, "bn": 64, "bk": 8, "tm": 4, "tn": 4, "wx": 4, "va": 1, "vb": 4,
                 "db": 0, "pad": 0, "splitk": 1, "wk": 1, "swz": 1]
        let one = try CUDAKernels.generate(task: t, schedule: Schedule(v), device: device, options: CodegenOptions())
        v["wk"] = 4
        let four = try CUDAKernels.generate(task: t, schedule: Schedule(v), device: device, options: CodegenOptions())
        #expect(four.launches.count == 1)
        #expect(four.launches[0].block[0] == 4 * one.launches[0].block[0])
        #expect(four.launches[0].grid == one.launches[0].grid)
        // Staging is 8 x (32 + 64) floats; the 32 x 64 partial tile needs more.
        #expect(one.launches[0].sharedMemBytes == 8 * 96 * 4)
        #expect(four.launches[0].sharedMemBytes == 32 * 64 * 4)
    }

    @Test func splitKAddsInitAndActivationLaunches() throws {
        let t = task(.matmul, ["m": 1, "n": 1000, "k": 2048, "bias": 1, "act": 2])
        let s = Schedule(["bm": 16, "bn": 64, "bk": 32, "tm": 1, "tn": 4, "wx": 16, "va": 4, "vb": 4,
                          "db": 1, "pad": 0, "splitk": 8, "wk": 1, "swz": 1])
        let k = try CUDAKernels.generate(task: t, schedule: s, device: device, options: CodegenOptions())
        #expect(k.launches.map(\.entry) == [k.entry + "_init", k.entry, k.entry + "_act"])
        #expect(k.launches[1].grid == [16, 1, 8])
    }
}
