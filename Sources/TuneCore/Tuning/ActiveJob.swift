/// A job of a running campaign as the database resumes it: everything the tuning loop and
/// the dispatcher need to carry on after a coordinator restart.
public struct ActiveJob: Sendable {
    /// The most trials a job may have; also what a job of a campaign bounded only by a time
    /// limit gets (its scheduler shares out trials until the time is up).
    public static let maxTrials = 100_000_000

    public var jobID: Int64
    public var campaignID: Int64
    public var task: TaskSpec
    public var weight: Int
    public var deviceClass: DeviceClass
    public var trials: Int
    public var batchSize: Int
    public var plan: MeasurePlan
    public var seed: UInt64
    public var search: SearchChoice
    public var scheduler: SchedulerChoice
    /// Hashes of every candidate ever generated for the job (no repeats).
    public var generated: Set<String>
    /// Generated but not yet measured, oldest first.
    public var pending: [Candidate]
    public var measured: Int
    /// Device fingerprints whose vendor baseline is recorded.
    public var baselines: Set<String>
    /// Times each pending candidate's agent was lost while measuring it.
    public var lostAttempts: [Int64: Int]
    /// The campaign's total budget for the job's device class (trials over all its jobs);
    /// nil when each job has its own `trials`.
    public var campaignBudget: Int?
    /// Candidates generated and measured so far in the campaign for the job's device
    /// class, finished jobs included.
    public var campaignGenerated = 0
    public var campaignMeasured = 0
    /// Seconds since 1970 when the campaign's time limit passes; nil: none.
    public var deadline: Double?

    public init(jobID: Int64, campaignID: Int64, task: TaskSpec, weight: Int, deviceClass: DeviceClass, trials: Int,
                batchSize: Int, plan: MeasurePlan, seed: UInt64, search: SearchChoice = .random,
                scheduler: SchedulerChoice = .roundRobin, generated: Set<String> = [], pending: [Candidate] = [],
                measured: Int = 0, baselines: Set<String> = [], lostAttempts: [Int64: Int] = [:],
                campaignBudget: Int? = nil, campaignGenerated: Int = 0, campaignMeasured: Int = 0, deadline: Double? = nil) {
        self.deadline = deadline
        self.campaignBudget = campaignBudget; self.campaignGenerated = campaignGenerated; self.campaignMeasured = campaignMeasured
        self.jobID = jobID; self.campaignID = campaignID; self.task = task; self.weight = weight
        self.deviceClass = deviceClass; self.trials = trials; self.batchSize = batchSize; self.plan = plan
        self.seed = seed; self.search = search; self.scheduler = scheduler; self.generated = generated
        self.pending = pending; self.measured = measured; self.baselines = baselines; self.lostAttempts = lostAttempts
    }
}
