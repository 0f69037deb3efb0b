import TuneCore

/// A request from the agent to its worker process: measure one artifact, or the vendor
/// library when `artifact` is nil. Travels over a pipe as JSON; both ends are our code.
public struct WorkerRequest: Codable, Sendable {
    public var candidateID: Int64
    public var task: TaskSpec
    public var plan: MeasurePlan
    public var artifact: BuildArtifact?
    public init(candidateID: Int64, task: TaskSpec, plan: MeasurePlan, artifact: BuildArtifact?) {
        self.candidateID = candidateID; self.task = task; self.plan = plan; self.artifact = artifact
    }
}
