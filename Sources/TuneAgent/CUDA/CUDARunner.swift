import CUDADriver
import KernelReference
import TuneCore
import TuneSystem

/// The CUDA backend's worker half. Owns the worker's CUDA context: loads a CUBIN, runs it
/// once on poisoned outputs under a watchdog, verifies on the CPU against KernelReference,
/// then times it with CUDA events. cuBLAS SGEMM is the vendor baseline for (batch) matmul.
///
/// A sticky driver error or a kernel that never finishes leaves the context unusable; the
/// runner then reports the failure and sets `mustRestart`, and the worker process exits
/// after replying so that the agent starts a fresh one.
public final class CUDARunner: KernelRunner {
    let ordinal: Int
    let libraries: CUDALibraries
    /// Opened on first use so that a worker on a machine without a driver still answers.
    private var opened: Result<(CUDAContext, DeviceProfile), CUDAError>?
    private var cublas: Result<CUBLASBaseline, CUDAError>?
    /// One task's inputs (as uploaded) and CPU reference outputs, reused across batches.
    private var cached: (task: TaskSpec, buffers: TensorBuffers, reference: TensorBuffers, inputs: [[Float]])?
    public private(set) var mustRestart = false

    public init(ordinal: Int = 0, libraries: CUDALibraries = .shared) {
        self.ordinal = ordinal; self.libraries = libraries
    }

    private func device() throws(CUDAError) -> (CUDAContext, DeviceProfile) {
        if opened == nil {
            opened = Result { () throws(CUDAError) -> (CUDAContext, DeviceProfile) in
                let ctx = try CUDAContext(ordinal: ordinal, libraries: libraries)
                return (ctx, try ctx.profile())
            }
        }
        // Non-nil here: assigned just above.
        switch opened {
        case .success(let v)?: return v
        case .failure(let e)?: throw e
        case nil: throw CUDAError(kind: .invalidArgument, function: "CUDARunner", message: "context not opened")
        }
    }

    private func prepare(_ task: TaskSpec) -> (TensorBuffers, TensorBuffers, [[Float]]) {
        if let c = cached, c.task == task { return (c.buffers, c.reference, c.inputs) }
        let buffers = TensorBuffers(task: task)
        buffers.fillInputs()
        let reference = TensorBuffers(task: task)
        reference.copyInputs(from: buffers)
        Reference.compute(reference)
        let inputs = buffers.inputIndices.map { Array(buffers.buffer($0)) }
        cached = (task, buffers, reference, inputs)
        return (buffers, reference, inputs)
    }

    /// Turns a CUDA error into a result; a poisoning one also schedules the worker's exit.
    private func failure(_ e: CUDAError, candidateID: Int64, compileSeconds: Double, detail: [String: String],
                         whileDoing phase: String) -> MeasureResult {
        var d = detail
        let status: MeasureStatus = e.kind == .timeout ? .runTimeout : .runtimeError
        if e.poisonsContext || (try? device().0.poisoned) != nil {
            mustRestart = true
            d[restartDetailKey] = e.codeName.isEmpty ? e.kind.rawValue : e.codeName
        }
        return MeasureResult(candidateID: candidateID, status: status, compileSeconds: compileSeconds,
                             errorText: "\(phase): \(e)", detail: d)
    }

    public func measure(artifact: BuildArtifact, task: TaskSpec, plan: MeasurePlan, candidateID: Int64) -> MeasureResult {
        let detail = artifact.detail
        func fail(_ s: MeasureStatus, _ text: String) -> MeasureResult {
            MeasureResult(candidateID: candidateID, status: s, compileSeconds: artifact.compileSeconds, errorText: text, detail: detail)
        }
        let ctx: CUDAContext, profile: DeviceProfile
        do { (ctx, profile) = try device() } catch {
            return failure(error, candidateID: candidateID, compileSeconds: artifact.compileSeconds, detail: detail,
                           whileDoing: "opening the CUDA device")
        }
        guard let cubin = readFile(artifact.path), !cubin.isEmpty else {
            return fail(.runtimeError, "cannot read the CUBIN at \(artifact.path)")
        }
        let (buffers, reference, inputs) = prepare(task)
        let outputs: [[Float]]
        let session: KernelSession
        do {
            session = try KernelSession(context: ctx, kernel: artifact.kernel, cubin: cubin, task: task, device: profile)
            try session.upload(inputs: inputs)
            outputs = try session.checkedRun(timeoutSeconds: max(plan.runBudget(for: task), 0.1))
        } catch {
            return failure(error, candidateID: candidateID, compileSeconds: artifact.compileSeconds, detail: detail,
                           whileDoing: "checked run")
        }
        // The CPU-side buffers take the device's outputs; the shared Verifier judges them.
        for (k, i) in buffers.outputIndices.enumerated() where k < outputs.count {
            _ = buffers.buffer(i).update(fromContentsOf: outputs[k])
        }
        if let problem = Verifier(task: task).check(buffers, against: reference) {
            return fail(.wrongAnswer, problem)
        }
        do {
            let timed = try session.time(plan: plan, l2Bytes: profile.l2Bytes)
            var detail = detail
            detail["timing"] = timed.method.rawValue
            return MeasureResult(candidateID: candidateID, status: .ok, samples: timed.samples,
                                 compileSeconds: artifact.compileSeconds, detail: detail)
        } catch {
            return failure(error, candidateID: candidateID, compileSeconds: artifact.compileSeconds, detail: detail,
                           whileDoing: "timing")
        }
    }

    public func measureVendor(task: TaskSpec, plan: MeasurePlan) -> MeasureResult {
        let id = vendorBaselineCandidateID
        guard CUBLASBaseline.supports(task) else {
            return .missingVendorRoutine(library: "cublas", task: task)
        }
        let ctx: CUDAContext, profile: DeviceProfile
        do { (ctx, profile) = try device() } catch {
            return failure(error, candidateID: id, compileSeconds: 0, detail: ["library": "cublas"], whileDoing: "opening the CUDA device")
        }
        if cublas == nil {
            cublas = Result { () throws(CUDAError) -> CUBLASBaseline in try CUBLASBaseline(context: ctx, libraries: libraries) }
        }
        let blas: CUBLASBaseline
        switch cublas {
        case .success(let b)?: blas = b
        case .failure(let e)?:
            // cuBLAS is not loadable here: the environment failed, not the task or a schedule.
            return MeasureResult(candidateID: id, status: .runtimeError, errorText: "no vendor library: \(e)",
                                 detail: ["library": "cublas"])
        case nil: return MeasureResult(candidateID: id, status: .runtimeError, errorText: "cuBLAS not initialised")
        }
        let (_, reference, inputs) = prepare(task)
        var detail = ["library": "cublas", "math": "fp32 (TF32 off)"]
        let result: (output: [Float], timed: TimedRuns)
        do {
            result = try blas.measure(task: task, inputs: Array(inputs.prefix(2)), plan: plan, l2Bytes: profile.l2Bytes)
        } catch {
            return failure(error, candidateID: id, compileSeconds: 0, detail: detail, whileDoing: "cuBLAS")
        }
        // cuBLAS computes A x B only: judge it against the product without the epilogue.
        let hasEpilogue = task.op == .matmul && (task["bias"] != 0 || task["act"] != 0)
        let expected: TensorBuffers
        if hasEpilogue {
            detail["epilogue"] = "not applied (SGEMM only)"
            guard let plain = try? TaskSpec(op: .matmul, params: ["m": task["m"], "n": task["n"], "k": task["k"]]) else {
                return MeasureResult(candidateID: id, status: .runtimeError, errorText: "cannot form the plain GEMM of \(task.name)")
            }
            expected = TensorBuffers(task: plain)
            for i in 0..<2 { _ = expected.buffer(i).update(fromContentsOf: inputs[i]) }
            Reference.compute(expected)
        } else {
            expected = reference
        }
        let outIndex = expected.outputIndices.last ?? (expected.tensors.count - 1)
        let problem = result.output.withUnsafeBufferPointer { out in
            Verifier(task: task).check(output: out, expected: UnsafeBufferPointer(expected.buffer(outIndex)))
        }
        if let problem {
            return MeasureResult(candidateID: id, status: .wrongAnswer, errorText: "cuBLAS: \(problem)", detail: detail)
        }
        detail["timing"] = result.timed.method.rawValue
        return MeasureResult(candidateID: id, status: .ok, samples: result.timed.samples, detail: detail)
    }
}
