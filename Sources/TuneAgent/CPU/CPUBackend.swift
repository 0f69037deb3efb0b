import CPUKernels
import KernelReference
import TuneCore
import TuneSpaces
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// The CPU backend's agent half: spaces and code from CPUKernels, built by the system C
/// compiler into shared objects.
public struct CPUBuilder: KernelBuilder {
    public let profile: DeviceProfile
    public let compiler: CCompiler
    public let options: CodegenOptions
    public var deviceClass: DeviceClass { .cpu }

    public init(profile: DeviceProfile, compiler: CCompiler, options: CodegenOptions) {
        self.profile = profile; self.compiler = compiler; self.options = options
    }

    public func space(for task: TaskSpec, plan: MeasurePlan) -> (any ScheduleSpace)? {
        SpaceCatalog.space(for: task, device: profile, plan: plan)
    }

    public func build(task: TaskSpec, candidate: Candidate, plan: MeasurePlan, workDir: String) -> BuildOutcome {
        // More threads than the device runs at once would time a contended kernel, not this one.
        if profile.threads > 0 && plan.threads > profile.threads {
            return .failed(MeasureResult(candidateID: candidate.id, status: .runtimeError,
                                         errorText: "the plan asks for \(plan.threads) threads; this device runs \(profile.threads) hardware threads"))
        }
        let kernel: GeneratedKernel
        do {
            kernel = try CPUKernels.generate(task: task, schedule: candidate.schedule, device: profile,
                                             threads: plan.threads, options: options)
        } catch {
            return .failed(MeasureResult(candidateID: candidate.id, status: .invalidSchedule, errorText: error.description))
        }
        switch compiler.compile(kernel, timeout: plan.compileTimeoutSeconds) {
        case .built(let path, let seconds, let hit):
            return .built(BuildArtifact(path: path, kernel: kernel, compileSeconds: seconds,
                                        detail: hit ? ["build_cache": "hit"] : [:]))
        case .failed(let status, let text, let seconds):
            return .failed(MeasureResult(candidateID: candidate.id, status: status, compileSeconds: seconds, errorText: text))
        }
    }
}

/// The CPU backend's worker half: loads a shared object, verifies it against the reference
/// on poison-filled outputs, then times it; the vendor library goes through the same path.
public final class CPURunner: KernelRunner {
    let flushBytes: Int
    /// The target the kernels are compiled for: the vendor baseline is judged against it.
    let profile: DeviceProfile
    // One task's inputs and reference outputs, reused while batches of that task arrive.
    private var cached: (task: TaskSpec, buffers: TensorBuffers, reference: TensorBuffers)?

    public init(profile: DeviceProfile) {
        self.profile = profile
        flushBytes = max(profile.l3Bytes, profile.l2Bytes) * 2
        // Kernels built with -fopenmp are never dlclose'd: unloading the last user of
        // libgomp while its idle threads still run in it crashes. Loading it globally once
        // keeps it resident for the worker's life. (The host recycles workers to bound growth.)
        _ = dlopen("libgomp.so.1", RTLD_NOW | RTLD_GLOBAL)
    }

    private func prepare(_ task: TaskSpec) -> (TensorBuffers, TensorBuffers) {
        if let c = cached, c.task == task { return (c.buffers, c.reference) }
        let buffers = TensorBuffers(task: task)
        buffers.fillInputs()
        let reference = TensorBuffers(task: task)
        reference.copyInputs(from: buffers)
        Reference.compute(reference)
        cached = (task, buffers, reference)
        return (buffers, reference)
    }

    public func measure(artifact: BuildArtifact, task: TaskSpec, plan: MeasurePlan, candidateID: Int64) -> MeasureResult {
        func fail(_ s: MeasureStatus, _ text: String) -> MeasureResult {
            MeasureResult(candidateID: candidateID, status: s, compileSeconds: artifact.compileSeconds, errorText: text)
        }
        let (buffers, reference) = prepare(task)
        let kernel: LoadedKernel
        do {
            kernel = try LoadedKernel(path: artifact.path, kernel: artifact.kernel, scratchIndex: task.tensors.count)
        } catch {
            return fail(.runtimeError, error.description)
        }
        return time(task: task, plan: plan, buffers: buffers, reference: reference, candidateID: candidateID,
                    compileSeconds: artifact.compileSeconds) { kernel.run(buffers.args) }
    }

    /// Times every vendor library that has the task (OpenBLAS, oneDNN, BLIS), each verified like a
    /// candidate. The result is the fastest one's (its `library`, `routine` and samples: the
    /// baseline every ratio is against); `libraries` lists each library's median or failure,
    /// and `seconds_<library>` each one's median, so every library's time is kept.
    public func measureVendor(task: TaskSpec, plan: MeasurePlan) -> MeasureResult {
        let (buffers, reference) = prepare(task)
        let (routines, missing) = VendorLibraries.routines(task: task, threads: plan.threads)
        guard !routines.isEmpty else {
            var r = MeasureResult.missingVendorRoutine(library: "openblas, onednn, blis", task: task)
            r.errorText = missing.joined(separator: "; ")
            return r
        }
        var measured: [MeasureResult] = []
        for v in routines {
            var r = time(task: task, plan: plan, buffers: buffers, reference: reference, candidateID: vendorBaselineCandidateID,
                         compileSeconds: 0,
                         verify: { v.prepare(buffers.args) == 0 && v.run(buffers.args) == 0 ? v.finish(buffers.args) : 1 },
                         run: { v.run(buffers.args) })
            r.detail.merge(v.detail) { a, _ in a }
            r.detail["library"] = v.library
            r.detail["routine"] = v.routine
            if v.library == "openblas" {
                r.detail["openblas_core"] = OpenBLASInfo.coreName
                r.detail["openblas_config"] = OpenBLASInfo.config
                if let note = OpenBLASCore.belowDevice(coreName: OpenBLASInfo.coreName, device: profile) { r.detail["baseline_note"] = note }
            }
            measured.append(r)
        }
        let fastest = measured.filter { $0.status == .ok }.min { ($0.medianSeconds ?? .infinity) < ($1.medianSeconds ?? .infinity) }
        var r = fastest ?? measured[0]
        for m in measured where m.detail["library"] != r.detail["library"] {
            // What the others ran is kept under their own names; a note about a library
            // that is not the headline is not the baseline's note.
            for (k, v) in m.detail where k != "library" && k != "routine" && k != "baseline_note" { r.detail[k] = r.detail[k] ?? v }
            if let note = m.detail["baseline_note"] { r.detail["\(m.detail["library"] ?? "other")_note"] = note }
        }
        r.detail["libraries"] = measured.map { m in
            let name = m.detail["library"] ?? "?"
            return m.medianSeconds.map { "\(name)=\($0)" } ?? "\(name)=\(m.status.rawValue)"
        }.joined(separator: ",")
        for m in measured {
            guard let name = m.detail["library"] else { continue }
            if let s = m.medianSeconds { r.detail["seconds_\(name)"] = "\(s)" }
            // Why a library has no time (a wrong answer, a failed run) stays beside the rest.
            if m.status != .ok && name != r.detail["library"] { r.detail["\(name)_error"] = String(m.errorText.prefix(1024)) }
        }
        if !missing.isEmpty { r.detail["libraries_missing"] = missing.joined(separator: "; ") }
        return r
    }

    /// Verifies one run of `verify` (default: `run`) on poisoned outputs against the
    /// reference, then times `run`.
    private func time(task: TaskSpec, plan: MeasurePlan, buffers: TensorBuffers, reference: TensorBuffers, candidateID: Int64,
                      compileSeconds: Double, verify: (() -> Int32)? = nil, run: () -> Int32) -> MeasureResult {
        func fail(_ s: MeasureStatus, _ text: String) -> MeasureResult {
            MeasureResult(candidateID: candidateID, status: s, compileSeconds: compileSeconds, errorText: text)
        }
        if plan.threads == 1 { pinCurrentThreadToCurrentCPU() }
        buffers.poisonOutputs()
        let rc = verify?() ?? run()
        if rc != 0 { return fail(.runtimeError, "kernel returned \(rc)") }
        if let problem = Verifier(task: task).check(buffers, against: reference) {
            return fail(.wrongAnswer, problem)
        }
        do {
            let samples = try TimingHarness(plan: plan, flushBytes: flushBytes).samples(run)
            return MeasureResult(candidateID: candidateID, status: .ok, samples: samples, compileSeconds: compileSeconds)
        } catch {
            return fail(.runtimeError, "kernel failed while timing: \(error)")
        }
    }
}
