import CUDADriver
import CUDAKernels
import CUDATestSupport
import Foundation
import Testing
import TuneAgent
import TuneCore
import TuneSystem

/// The agent's CUDA backend without a GPU: the builder compiles to CUBIN with NVRTC from
/// PyPI for hand-written profiles (no probe), and the driverless paths end in clean results.
@Suite struct CUDABackendTests {
    @Test(.enabled(if: nvrtcAvailable, Comment(rawValue: nvrtcMissingMessage)),
          arguments: [("sm_90", h100Profile()), ("sm_80", a100Profile())])
    func builderCompilesSampledSchedulesOfEveryOperator(arch: String, device: DeviceProfile) throws {
        let builder = CUDABuilder(profile: device, options: CodegenOptions())
        #expect(builder.architecture == arch)
        let work = try makeTemporaryDirectory(prefix: "cuda-builder")
        defer { removeTree(work) }
        var rng = SplitMix64(seed: 17)
        let plan = MeasurePlan()
        var ops = Set<OperatorKind>()
        var id: Int64 = 1
        for t in smallTasks {
            let space = try #require(builder.space(for: t, plan: plan))
            let s = try #require(space.sample(using: &rng))
            switch builder.build(task: t, candidate: Candidate(id: id, schedule: s), plan: plan, workDir: work) {
            case .built(let a):
                #expect(readFile(a.path)?.isEmpty == false, "no CUBIN at \(a.path)")
                #expect(a.detail["arch"] == arch)
                // ptxas figures reach the record: registers of every entry.
                #expect(a.detail.keys.contains { $0.hasSuffix("registers") }, "\(a.detail)")
                #expect(a.compileSeconds > 0)
                ops.insert(t.op)
            case .failed(let r):
                Issue.record("\(t.name) \(s): \(r.status) \(r.errorText)")
            }
            id += 1
        }
        #expect(ops == Set(OperatorKind.allCases))
    }

    /// As the agent runs it: NVRTC in a `tune-agent nvrtc` child process, which a compile
    /// timeout kills (in-process NVRTC cannot be interrupted).
    @Test(.enabled(if: nvrtcAvailable && tuneAgentPath != nil, Comment(rawValue: nvrtcMissingMessage)))
    func aChildProcessCompileIsKilledAtTheTimeout() throws {
        let builder = CUDABuilder(profile: h100Profile(), options: CodegenOptions(),
                                  isolation: .childProcess(executable: tuneAgentPath!, arguments: ["nvrtc"]))
        let work = try makeTemporaryDirectory(prefix: "cuda-child")
        defer { removeTree(work) }
        let t = task(.conv2d, ["c": 64, "h": 14, "w": 14, "k": 64, "r": 3, "s": 3, "pad": 1])
        var rng = SplitMix64(seed: 5)
        let s = try #require(builder.space(for: t, plan: MeasurePlan())?.sample(using: &rng))
        var plan = MeasurePlan()
        switch builder.build(task: t, candidate: Candidate(id: 1, schedule: s), plan: plan, workDir: work) {
        case .built(let a):
            #expect(readFile(a.path)?.isEmpty == false)
            #expect(a.detail.keys.contains { $0.hasSuffix("registers") }, "ptxas figures come back from the child: \(a.detail)")
        case .failed(let r):
            Issue.record("\(r.status) \(r.errorText)")
        }
        plan.compileTimeoutSeconds = 0.001
        switch builder.build(task: t, candidate: Candidate(id: 2, schedule: s), plan: plan, workDir: work) {
        case .built: Issue.record("a compile cannot finish within 1 ms")
        case .failed(let r):
            #expect(r.status == .compileTimeout)
            #expect(r.errorText.contains("its process was killed"), "\(r.errorText)")
        }
        // Nothing is left behind but the first CUBIN.
        #expect(try FileManager.default.contentsOfDirectory(atPath: work).filter { !$0.hasSuffix("-1.cubin") }.isEmpty)
    }

    @Test func invalidSchedulesAreRejectedBeforeNVRTC() {
        let builder = CUDABuilder(profile: h100Profile(), options: CodegenOptions())
        let t = task(.softmax, ["rows": 10, "cols": 100])
        let out = builder.build(task: t, candidate: Candidate(id: 9, schedule: Schedule(["threads": 4096])),
                                plan: MeasurePlan(), workDir: "/nonexistent")
        guard case .failed(let r) = out else { Issue.record("built an invalid schedule"); return }
        #expect(r.status == .invalidSchedule)
        #expect(r.candidateID == 9)
    }

    @Test func aProfileWithoutComputeCapabilityIsACompileErrorNotACrash() {
        var p = h100Profile()
        p.computeCapability = ""
        let builder = CUDABuilder(profile: p, options: CodegenOptions())
        let t = task(.elementwise, ["n": 1000, "chain": 1])
        let s = Schedule(["threads": 128, "vec": 1, "ilp": 1])
        guard case .failed(let r) = builder.build(task: t, candidate: Candidate(id: 1, schedule: s), plan: MeasurePlan(),
                                                  workDir: "/nonexistent") else { Issue.record("built"); return }
        #expect(r.status == .compileError)
    }

    /// Without a driver the runner answers every request with a result, never a crash, and
    /// does not ask for a restart (nothing is poisoned).
    @Test(.enabled(if: !CUDALibraries.shared.hasDriver, "a CUDA driver is present: covered by the GPU check"))
    func runnerWithoutDriverReportsCleanly() throws {
        let runner = CUDARunner(ordinal: 0)
        let t = task(.matmul, ["m": 33, "n": 40, "k": 64, "act": 1])
        let kernel = try CUDAKernels.generate(task: t, schedule: Schedule(["bm": 32, "bn": 32, "bk": 8, "tm": 2, "tn": 2, "wx": 4,
                                                                          "va": 1, "vb": 1, "db": 0, "pad": 0, "splitk": 1, "wk": 1, "swz": 1]),
                                              device: h100Profile(), options: CodegenOptions())
        let artifact = BuildArtifact(path: "/nonexistent.cubin", kernel: kernel, compileSeconds: 0.01)
        let r = runner.measure(artifact: artifact, task: t, plan: MeasurePlan(), candidateID: 5)
        #expect(r.status == .runtimeError)
        #expect(r.candidateID == 5)
        #expect(r.errorText.contains("no CUDA driver"), "\(r.errorText)")
        #expect(!runner.mustRestart)
        let v = runner.measureVendor(task: t, plan: MeasurePlan())
        #expect(v.status == .runtimeError && v.errorText.contains("no CUDA driver"), "\(v)")
        let softmax = runner.measureVendor(task: task(.softmax, ["rows": 4, "cols": 8]), plan: MeasurePlan())
        #expect(softmax.isMissingVendorRoutine && softmax.detail["library"] == "cublas", "\(softmax)")
    }

    /// `tune-agent probe --device cuda --json` on a driverless machine: non-zero exit and a
    /// clear message, not a crash (a signal).
    @Test(.enabled(if: !CUDALibraries.shared.hasDriver, "a CUDA driver is present: covered by the GPU check"))
    func probeWithoutDriverExitsWithAMessage() throws {
        let bin = try #require(executableDirectory())
        let work = try makeTemporaryDirectory(prefix: "cuda-probe")
        defer { removeTree(work) }
        let out = try runCommand(bin + "/tune-agent", ["probe", "--device", "cuda", "--json"], timeout: 60,
                                 outputFile: work + "/out.txt")
        guard case .exited(let code)? = out.status else { Issue.record("probe did not exit: \(String(describing: out.status))"); return }
        #expect(code != 0)
        #expect(out.output.contains("no CUDA driver"), "\(out.output)")
        let bad = try runCommand(bin + "/tune-agent", ["probe", "--device", "cuda:x"], timeout: 60, outputFile: work + "/bad.txt")
        guard case .exited(let c2)? = bad.status else { Issue.record("no exit"); return }
        #expect(c2 != 0 && bad.output.contains("unknown device"))
    }
}

/// The tune-agent built beside the tests, when there is one.
let tuneAgentPath: String? = executableDirectory().map { $0 + "/tune-agent" }.flatMap { fileExists($0) ? $0 : nil }
