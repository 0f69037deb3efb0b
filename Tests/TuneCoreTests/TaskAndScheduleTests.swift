import Foundation
import Testing
@testable import TuneCore

@Suite struct TaskSpecBehaviour {
    @Test func canonicalNameRoundTrips() throws {
        let t = try TaskSpec(op: .matmul, params: ["m": 128, "n": 768, "k": 768, "bias": 1])
        #expect(t.name == "matmul(m=128,n=768,k=768,bias=1,act=0,f32)")
        #expect(try TaskSpec(name: t.name) == t)
        #expect(t.flops == 2.0 * 128 * 768 * 768)
        #expect(t.tensors.map(\.name) == ["A", "B", "bias", "C"])
    }

    @Test func unknownAndMissingParametersAreNamed() {
        #expect(throws: TaskSpecError.self) { try TaskSpec(op: .matmul, params: ["m": 1, "n": 1]) }
        do {
            _ = try TaskSpec(op: .matmul, params: ["m": 1, "n": 1, "k": 1, "q": 3])
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("'q'"))
        }
        #expect(throws: TaskSpecError.self) { try TaskSpec(op: .matmul, params: ["m": 0, "n": 1, "k": 1]) }
    }

    @Test func convolutionShapesAreChecked() throws {
        let c = try TaskSpec(op: .conv2d, params: ["c": 64, "h": 56, "w": 56, "k": 64, "r": 3, "s": 3, "pad": 1])
        #expect(c.outputHeight == 56 && c.outputWidth == 56)
        #expect(throws: TaskSpecError.self) {
            try TaskSpec(op: .conv2d, params: ["c": 6, "h": 5, "w": 5, "k": 6, "r": 3, "s": 3, "groups": 4])
        }
    }
}

@Suite struct ScheduleBehaviour {
    struct Space: ScheduleSpace {
        var knobs = [KnobDomain("a", [1, 2, 4]), KnobDomain("b", [8, 16])]
        func constraintViolation(_ s: Schedule) -> String? { s["a"]! * s["b"]! > 32 ? "a*b > 32" : nil }
    }

    @Test func encodingIsCanonicalAndParses() throws {
        let s = Schedule(["b": 16, "a": 2])
        #expect(s.encoding == "a=2;b=16")
        #expect(try Schedule(encoding: s.encoding) == s)
        #expect(Schedule(["a": 2, "b": 16]).hash64 == s.hash64)
        #expect(throws: ScheduleError.self) { try Schedule(encoding: "a=1;a=2") }
        #expect(throws: ScheduleError.self) { try Schedule(encoding: "a=x") }
    }

    @Test func validationNamesTheProblem() {
        let space = Space()
        #expect(throws: ScheduleError.unknownKnob("c")) { try space.validate(Schedule(["a": 1, "b": 8, "c": 1])) }
        #expect(throws: ScheduleError.missingKnob("b")) { try space.validate(Schedule(["a": 1])) }
        #expect(throws: ScheduleError.outOfDomain(knob: "a", value: 3, allowed: [1, 2, 4])) {
            try space.validate(Schedule(["a": 3, "b": 8]))
        }
        #expect(throws: ScheduleError.constraint("a*b > 32")) { try space.validate(Schedule(["a": 4, "b": 16])) }
    }

    /// A knob added to a space later: a stored schedule without it still validates, as the
    /// value it stood for; one with a bad value does not.
    @Test func aLaterKnobHasAValueForSchedulesWrittenBeforeIt() {
        struct Grown: ScheduleSpace {
            let knobs = [KnobDomain("a", [1, 2, 4]), KnobDomain("k", [1, 2], absentMeans: 1)]
            func constraintViolation(_ s: Schedule) -> String? { s["k"] == nil ? "k must be filled in" : nil }
        }
        let old = Schedule(["a": 2])
        #expect(Grown().isValid(old))
        #expect(Grown().completing(old) == Schedule(["a": 2, "k": 1]))
        #expect(throws: ScheduleError.outOfDomain(knob: "k", value: 3, allowed: [1, 2])) {
            try Grown().validate(Schedule(["a": 2, "k": 3]))
        }
        #expect(throws: ScheduleError.missingKnob("a")) { try Grown().validate(Schedule(["k": 2])) }
    }

    @Test func samplingOnlyYieldsValidSchedules() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let s = Space().sample(using: &rng)!
            #expect(Space().isValid(s))
        }
    }
}

@Suite struct WorkloadFiles {
    @Test func parsesWeightsOperatorsAndNamedValues() throws {
        let w = try WorkloadFile.parse("""
        # a comment
        name: tiny
        2 matmul m=4 n=8 k=16 act=relu   # trailing comment
        1 conv2d c=3 h=8 w=8 k=4 r=3 s=3 layout=nhwc
        3 matmul m=4 n=8 k=16 act=relu
        """, defaultName: "x")
        #expect(w.name == "tiny")
        #expect(w.tasks.count == 2)
        #expect(w.tasks[0].weight == 5)
        #expect(w.tasks[0].task["act"] == Activation.relu.rawValue)
        #expect(w.tasks[1].task["layout"] == ConvLayout.nhwc.rawValue)
    }

    @Test(arguments: [
        ("1 matmul m=4 n=8", "line 1: matmul: missing parameter 'k'"),
        ("\n\nx matmul m=1 n=1 k=1", "line 3: expected a positive weight first, got 'x'"),
        ("1 convolution c=1", "line 1: unknown operator 'convolution' (known: matmul, batch_matmul, conv2d, depthwise_conv2d, softmax, elementwise)"),
        ("1 matmul m=1 n=1 k=1 act=swish", "line 1: unknown activation 'swish' (none, relu, gelu)"),
        ("1 matmul m=1 n=1 k=one", "line 1: 'k' must be an integer, got 'one'"),
        ("# nothing", "workload 'x' has no tasks"),
    ])
    func errorsNameTheLineAndField(text: String, message: String) {
        #expect(throws: WorkloadError.self) { try WorkloadFile.parse(text, defaultName: "x") }
        do { _ = try WorkloadFile.parse(text, defaultName: "x") } catch {
            #expect(error.description == message)
        }
    }

    @Test func everyBuiltinWorkloadParses() {
        for name in BuiltinWorkloads.names {
            #expect(BuiltinWorkloads.named(name) != nil, "\(name)")
        }
        #expect(BuiltinWorkloads.named("no-such-net") == nil)
    }
}

@Suite struct Statistics {
    @Test func medianAndSpread() {
        let s = SampleStats([4, 1, 3, 2, 5])!
        #expect(s.median == 3 && s.min == 1 && s.max == 5)
        #expect(abs(s.relativeIQR - 2.0 / 3.0) < 1e-12)
        #expect(SampleStats([]) == nil)
    }
}

@Suite struct EmptySpaces {
    struct Empty: ScheduleSpace {
        var knobs = [KnobDomain("a", [])]
        func constraintViolation(_ s: Schedule) -> String? { nil }
    }

    @Test func aSpaceWithAnEmptyDomainHasNoSample() {
        var rng = SplitMix64(seed: 1)
        #expect(Empty().sample(using: &rng) == nil)
    }
}

@Suite struct CPUTargetLevels {
    func host() -> DeviceProfile {
        var p = DeviceProfile(deviceClass: .cpu, model: "Xeon")
        p.cores = 2; p.threads = 2; p.clockMHz = 2000; p.vectorBits = 512; p.peakGFLOPS = 256
        p.isa = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vnni"]
        p.compilerFlags = ["-O3", "-march=native"]
        return p
    }

    @Test func eachLevelIsATargetOfItsOwn() {
        let levels = CPUTargetLevel.allCases.map { $0.restrict(host()) }
        #expect(Set(levels.map(\.fingerprint)).count == 4)
        let v2 = CPUTargetLevel.x86_64_v2.restrict(host()), v3 = CPUTargetLevel.x86_64_v3.restrict(host())
        let v4 = CPUTargetLevel.x86_64_v4.restrict(host())
        #expect(v2.vectorBits == 128 && v3.vectorBits == 256 && v4.vectorBits == 512)
        #expect(!v3.isa.contains("avx512f") && v3.isa.contains("avx2") && v4.isa.contains("avx512f"))
        #expect(v2.peakGFLOPS == 32 && v3.peakGFLOPS == 128 && v4.peakGFLOPS == 256)
        #expect(v3.compilerFlags.contains("-march=x86-64-v3") && v3.target == "x86-64-v3")
        #expect(CPUTargetLevel.x86_64_v4.restrict(host(), amdBefore512BitPipes: true).peakGFLOPS == 128)
    }

    @Test func aLevelTheHostCannotRunNamesWhatIsMissing() {
        let avx2Host: Set<String> = ["sse4_2", "ssse3", "popcnt", "cx16", "avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"]
        #expect(CPUTargetLevel.x86_64_v3.missingFlags(host: avx2Host).isEmpty)
        #expect(CPUTargetLevel.x86_64_v4.missingFlags(host: avx2Host) == ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"])
    }

    @Test func profilesStoredBeforeLevelsStillDecode() throws {
        let old = #"{"deviceClass":"cpu","model":"old","cores":4,"isa":["avx2"],"vectorBits":256}"#
        let p = try JSONDecoder().decode(DeviceProfile.self, from: Data(old.utf8))
        #expect(p.cores == 4 && p.target == "" && p.vectorBits == 256 && p.cacheLineBytes == 64)
    }
}

@Suite struct OpenBLASKernelSets {
    @Test func aKernelSetBelowTheDeviceIsNoted() {
        var xeon = DeviceProfile(deviceClass: .cpu, model: "Xeon")
        xeon.vectorBits = 512
        xeon.isa = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16"]
        xeon.target = "native"
        #expect(OpenBLASCore.coreType(for: xeon) == "Cooperlake")
        #expect(OpenBLASCore.belowDevice(coreName: "Prescott", device: xeon)?.contains("Prescott") == true)
        #expect(OpenBLASCore.belowDevice(coreName: "SkylakeX", device: xeon) == nil)
        let v3 = CPUTargetLevel.x86_64_v3.restrict(xeon)
        #expect(OpenBLASCore.coreType(for: v3) == "Haswell")
        #expect(OpenBLASCore.belowDevice(coreName: "Haswell", device: v3) == nil)
        #expect(OpenBLASCore.coreType(for: CPUTargetLevel.x86_64_v2.restrict(xeon)) == "Nehalem")
        var arm = DeviceProfile(deviceClass: .cpu, model: "Neoverse")
        arm.isa = ["asimd"]
        #expect(OpenBLASCore.coreType(for: arm) == nil && OpenBLASCore.level("NEOVERSEN1") == nil)
    }
}

@Suite struct RunBudgets {
    /// Small tasks keep the plan's limit; a large one gets what its runs need at the slowest
    /// rate worth timing, so a default meant for small kernels never times out a 4096^3 matmul.
    @Test func aLargeTaskGetsTimeForItsRunsAndAnExplicitLargerLimitWins() throws {
        var plan = MeasurePlan()
        let small = try TaskSpec(op: .matmul, params: ["m": 128, "n": 768, "k": 768])
        #expect(plan.runBudget(for: small) == plan.runTimeoutSeconds)
        let large = try TaskSpec(op: .matmul, params: ["m": 4096, "n": 4096, "k": 4096])
        let runs = Double(plan.warmupRuns + plan.repeats + 2)
        #expect(plan.runBudget(for: large) >= runs * large.flops / MeasurePlan.slowestWorthTiming)
        #expect(plan.runBudget(for: large) > 10 * plan.runTimeoutSeconds)
        plan.runTimeoutSeconds = 3600
        #expect(plan.runBudget(for: large) >= 3600 && plan.runBudget(for: small) == 3600)
        plan.repeats = 50
        #expect(plan.runBudget(for: large) > 3600, "more repeats, more time")
    }
}

@Suite struct AdaptiveRepeats {
    /// Quiet samples stop at `repeats`; a burst of interference buys more samples until the
    /// spread is within the target or twice `repeats` were taken; a target of 0 is the old
    /// fixed count.
    @Test func aNoisyCandidateIsSampledAgainUpToTwiceTheRepeats() {
        var plan = MeasurePlan()
        plan.repeats = 5
        #expect(plan.targetSpread > 0, "adaptive by default")
        #expect(plan.wantsAnotherSample([1, 1, 1, 1]))
        #expect(!plan.wantsAnotherSample([1, 1.001, 1, 0.999, 1]))
        let burst = [2.5, 2.4, 1.42, 1.41, 1.41]
        #expect(plan.wantsAnotherSample(burst))
        #expect(plan.sampleLimit == 10)
        var samples = burst
        while plan.wantsAnotherSample(samples) { samples.append(1.41) }
        #expect(samples.count < 10, "stops once the spread is small: \(samples)")
        #expect(SampleStats(samples)!.median < 1.5, "the burst no longer sets the median")
        var longer = [2.5, 2.4, 2.0, 1.42, 1.41]
        #expect(SampleStats(longer)!.median == 2.0)
        while plan.wantsAnotherSample(longer) { longer.append(1.41) }
        #expect(longer.count == 10 && SampleStats(longer)!.median < 1.5, "a longer burst takes the limit, and still loses the median")
        let alternating = (0..<20).map { $0 % 2 == 0 ? 1.0 : 2.0 }
        #expect(plan.wantsAnotherSample(Array(alternating.prefix(9))))
        #expect(!plan.wantsAnotherSample(Array(alternating.prefix(10))), "never more than the limit")
        plan.maxRepeats = 7
        #expect(plan.sampleLimit == 7 && !plan.wantsAnotherSample(Array(alternating.prefix(7))))
        plan.targetSpread = 0
        #expect(plan.sampleLimit == 5 && !plan.wantsAnotherSample(burst))
    }

    /// A plan stored before adaptive repeats existed measures the way it was launched.
    @Test func aStoredPlanWithoutTheNewFieldsDecodesAsFixedRepeats() throws {
        let old = #"{"warmupRuns":1,"repeats":7,"minRepeatSeconds":0.02,"flushCache":false,"threads":2,"compileTimeoutSeconds":60,"runTimeoutSeconds":30,"includeVendorBaseline":true}"#
        let plan = try JSONDecoder().decode(MeasurePlan.self, from: Data(old.utf8))
        #expect(plan.repeats == 7 && plan.threads == 2 && plan.includeVendorBaseline)
        #expect(plan.targetSpread == 0 && plan.sampleLimit == 7)
        var now = MeasurePlan()
        now.maxRepeats = 12
        #expect(try JSONDecoder().decode(MeasurePlan.self, from: JSONEncoder().encode(now)) == now)
    }
}
