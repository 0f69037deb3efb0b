import Testing
import TuneCore
@testable import CPUKernels

private let gemmTask = try! TaskSpec(name: "matmul(m=64,n=64,k=64,bias=0,act=0,f32)")
private let goodGemm: [String: Int] = ["mr": 6, "nr": 32, "vec": 16, "mc": 48, "nc": 256, "kc": 64,
                                      "packA": 1, "packB": 1, "order": 0, "kunroll": 1, "threads": 1, "par": 0]

private func avx512() -> DeviceProfile {
    var d = DeviceProfile(deviceClass: .cpu, model: "avx512"); d.vectorBits = 512; d.isa = ["avx512f"]; return d
}
private func avx2() -> DeviceProfile {
    var d = DeviceProfile(deviceClass: .cpu, model: "avx2"); d.vectorBits = 256; d.isa = ["avx2"]; return d
}

private func generationError(_ values: [String: Int], device: DeviceProfile = avx512(), threads: Int = 1,
                             options: CodegenOptions = CodegenOptions()) -> ScheduleError? {
    do {
        _ = try CPUKernels.generate(task: gemmTask, schedule: Schedule(values), device: device, threads: threads, options: options)
        return nil
    } catch { return error }
}

@Suite struct ScheduleValidationTests {
    @Test func aValidScheduleGenerates() {
        #expect(generationError(goodGemm) == nil)
    }

    @Test func outOfDomainValuesAreRejected() {
        #expect(generationError(goodGemm.merging(["kunroll": 3]) { $1 }) == .outOfDomain(knob: "kunroll", value: 3, allowed: [1, 2, 4]))
    }

    @Test func registerFileOverflowIsAConstraintViolation() {
        // 16 x 64 floats in 16-lane vectors: 64 accumulators + 4 B vectors > 32 registers.
        guard case .constraint(let why)? = generationError(goodGemm.merging(["mr": 16, "nr": 64]) { $1 }) else {
            Issue.record("expected a constraint violation"); return
        }
        #expect(why.contains("vector registers"))
    }

    @Test func avx2HasHalfTheRegistersAndLanes() {
        let space = CPUKernels.space(for: gemmTask, device: avx2(), threads: 1)!
        #expect(space.knobs.first { $0.name == "vec" }?.choices.allSatisfy { $0 <= 8 } == true)
        // 6 x 16 (12 accumulators + 2 B vectors) fits 16 registers; 8 x 16 does not.
        let base = goodGemm.merging(["vec": 8, "nr": 16]) { $1 }
        #expect(generationError(base, device: avx2()) == nil)
        #expect(generationError(base.merging(["mr": 8]) { $1 }, device: avx2()) != nil)
        #expect(generationError(goodGemm, device: avx2()) == .outOfDomain(knob: "vec", value: 16, allowed: [4, 8]))
    }

    @Test func threadsAreBoundedByTheThreadsArgument() {
        #expect(generationError(goodGemm.merging(["threads": 2]) { $1 }, threads: 1) != nil)
        #expect(generationError(goodGemm.merging(["threads": 2]) { $1 }, threads: 2) == nil)
        #expect(generationError(goodGemm.merging(["threads": 2, "par": 1]) { $1 }, threads: 2) == nil)
    }

    @Test func unknownAndMissingKnobsAreRejected() {
        #expect(generationError(goodGemm.merging(["tile": 4]) { $1 }) == .unknownKnob("tile"))
        var missing = goodGemm; missing["kc"] = nil
        #expect(generationError(missing) == .missingKnob("kc"))
    }

    @Test func faultKnobNeedsTheOption() {
        let faulty = goodGemm.merging(["fault": 1]) { $1 }
        #expect(generationError(faulty) == .unknownKnob("fault"))
        #expect(generationError(faulty, options: CodegenOptions(allowFaultInjection: true)) == nil)
        #expect(generationError(goodGemm.merging(["fault": 7]) { $1 }, options: CodegenOptions(allowFaultInjection: true)) != nil)
    }

    @Test func spacesNeverListTheFaultKnobAndStaySmall() throws {
        for name in BuiltinWorkloads.names {
            let w = try #require(BuiltinWorkloads.named(name))
            for wt in w.tasks {
                let space = try #require(CPUKernels.space(for: wt.task, device: avx512(), threads: 4), "\(wt.task)")
                #expect(!space.knobs.contains { $0.name == "fault" })
                #expect(space.rawSize <= 2_000_000, "\(wt.task): \(space.rawSize) points")
                var rng = SplitMix64(seed: 7)
                let s = try #require(space.sample(using: &rng), "\(wt.task) has no valid point")
                #expect(space.isValid(s))
            }
        }
    }
}

@Suite struct ConvSpaceTests {
    let task = try! TaskSpec(name: "conv2d(n=1,c=512,h=7,w=7,k=512,r=3,s=3,stride=1,pad=1,dil=1,groups=1,layout=0,f32)")
    let good: [String: Int] = ["axis": 1, "cb": 64, "order": 0, "par": 0, "rb": 6, "rv": 4, "threads": 1, "unroll": 4, "vec": 16]

    func violation(_ changes: [String: Int]) -> String? {
        var d = avx512(); d.l2Bytes = 1 << 20
        let space = CPUKernels.space(for: task, device: d, threads: 2)!
        return space.constraintViolation(Schedule(good.merging(changes) { $1 }))
    }

    @Test func hopelessPointsOfSmallPlanesAreConstrainedAway() {
        #expect(violation([:]) == nil)
        // 16 lanes along a 7-wide output row waste 9 of them; 8 lanes waste 1.
        #expect(violation(["axis": 0, "rb": 8, "rv": 1])?.contains("wastes") == true)
        #expect(violation(["axis": 0, "rb": 8, "rv": 1, "vec": 8]) == nil)
        #expect(violation(["rb": 2, "rv": 2])?.contains("8 accumulators") == true)
        #expect(violation(["cb": 512])?.contains("L2") == true)
        #expect(violation(["par": 1])?.contains("par") == true)
        #expect(violation(["par": 1, "threads": 2]) == nil)
        #expect(violation(["axis": 0, "vec": 8, "rv": 1, "par": 1, "threads": 2])?.contains("par") == true)
    }
}

@Suite struct BuiltinWorkloadTests {
    @Test(arguments: ["resnet50", "mobilenetv2", "inceptionv3", "efficientnetb0"])
    func networksParseWithTheirLayerCounts(name: String) throws {
        let w = try #require(BuiltinWorkloads.named(name))
        let layers = w.tasks.reduce(0) { $0 + $1.weight }
        // Convolutions + classifier: ResNet-50 has 53 + 1, MobileNet-V2 52 + 1, Inception-v3 94 + 1,
        // EfficientNet-B0 49 + 1 (stem, 2 + 15 x 3 in its blocks, head).
        let expected = ["resnet50": 54, "mobilenetv2": 53, "inceptionv3": 95, "efficientnetb0": 50][name]
        #expect(layers == expected)
        #expect(w.tasks.allSatisfy { $0.task.op != .conv2d || $0.task["layout"] == ConvLayout.nchw.rawValue })
    }
}

@Suite struct DepthwiseCoverageTests {
    /// EfficientNet-B0 is in the collection for its depthwise layers: with MobileNet-V2 held
    /// out, the model must still have seen depthwise tasks (and 5x5 ones) of another network.
    @Test func efficientNetBringsDepthwiseTasksMobileNetV2Lacks() throws {
        let mobilenet = try #require(BuiltinWorkloads.named("mobilenetv2"))
        let efficientnet = try #require(BuiltinWorkloads.named("efficientnetb0"))
        let held = Set(mobilenet.tasks.map(\.task))
        let own = efficientnet.tasks.map(\.task).filter { $0.op == .depthwiseConv2d && !held.contains($0) }
        #expect(own.count == 9)
        #expect(own.filter { $0["r"] == 5 }.count == 6)
    }
}
