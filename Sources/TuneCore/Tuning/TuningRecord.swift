/// Which search proposed a candidate, with which model version, and what that model
/// predicted for it: what is needed to judge a model online against what was measured.
public struct Provenance: Hashable, Codable, Sendable {
    /// The strategy's name (`random`, `evolutionary`, `transfer`, ...).
    public var proposer: String
    /// The model version that ranked the candidate, when one did.
    public var modelVersion: Int64?
    /// The model's score (higher = predicted faster), when a model ranked it.
    public var predicted: Double?

    public init(proposer: String, modelVersion: Int64? = nil, predicted: Double? = nil) {
        self.proposer = proposer; self.modelVersion = modelVersion; self.predicted = predicted
    }
}

/// A schedule a search strategy wants measured, and why.
public struct ProposedSchedule: Hashable, Sendable {
    public var schedule: Schedule
    public var provenance: Provenance
    public init(_ schedule: Schedule, _ provenance: Provenance) { self.schedule = schedule; self.provenance = provenance }
}

/// One measured candidate as search and learning see it: the task, the schedule, where it
/// ran and how it went. Records from any database, machine or date have this one shape.
public struct TuningRecord: Hashable, Codable, Sendable {
    public var jobID: Int64
    public var candidateID: Int64
    public var task: TaskSpec
    public var schedule: Schedule
    /// The device's fingerprint.
    public var device: String
    public var deviceClass: DeviceClass
    public var threads: Int
    public var status: MeasureStatus
    /// Median of the samples; nil unless `status` is `ok`.
    public var medianSeconds: Double?
    public var provenance: Provenance

    public init(jobID: Int64, candidateID: Int64, task: TaskSpec, schedule: Schedule, device: String,
                deviceClass: DeviceClass, threads: Int, status: MeasureStatus, medianSeconds: Double?,
                provenance: Provenance) {
        self.jobID = jobID; self.candidateID = candidateID; self.task = task; self.schedule = schedule
        self.device = device; self.deviceClass = deviceClass; self.threads = threads; self.status = status
        self.medianSeconds = medianSeconds; self.provenance = provenance
    }

    /// Seconds of a verified, timed run; nil for every failure.
    public var okSeconds: Double? { status == .ok ? medianSeconds : nil }
}
