import TuneCore

/// A built candidate: something the worker process can load and run.
public struct BuildArtifact: Hashable, Codable, Sendable {
    /// Shared object (C) or CUBIN (CUDA) on the agent's disk.
    public var path: String
    public var kernel: GeneratedKernel
    public var compileSeconds: Double
    /// Build detail that goes into the result (registers, spills, cache hit, ...).
    public var detail: [String: String]
    public init(path: String, kernel: GeneratedKernel, compileSeconds: Double, detail: [String: String] = [:]) {
        self.path = path; self.kernel = kernel; self.compileSeconds = compileSeconds; self.detail = detail
    }
}

public enum BuildOutcome: Sendable {
    case built(BuildArtifact)
    /// invalid_schedule, compile_error or compile_timeout, with the raw text.
    case failed(MeasureResult)
}

/// The agent-side half of a backend: schedule spaces, validation, code generation and
/// compilation, run on the agent's host threads (in parallel, one call per candidate).
public protocol KernelBuilder: Sendable {
    var deviceClass: DeviceClass { get }
    var profile: DeviceProfile { get }
    /// The schedule space of a task on this device, or nil when the backend has no template.
    func space(for task: TaskSpec, plan: MeasurePlan) -> (any ScheduleSpace)?
    /// Validates the schedule against the space and the device, generates and compiles.
    func build(task: TaskSpec, candidate: Candidate, plan: MeasurePlan, workDir: String) -> BuildOutcome
}

/// The worker-process half of a backend: loads an artifact, verifies it against the
/// reference on poison-filled outputs, and times it. Crashes and hangs here cost the worker
/// process, never the agent.
public protocol KernelRunner {
    func measure(artifact: BuildArtifact, task: TaskSpec, plan: MeasurePlan, candidateID: Int64) -> MeasureResult
    /// Times the vendor library for the task through the same harness.
    func measureVendor(task: TaskSpec, plan: MeasurePlan) -> MeasureResult
    /// True once the runner's state is beyond repair (a poisoned CUDA context): the worker
    /// process replies, then exits with `WorkerMain.restartExitCode`.
    var mustRestart: Bool { get }
}

extension KernelRunner {
    public var mustRestart: Bool { false }
}
