/// Where a job stands, as a task scheduler sees it.
public struct JobProgress: Hashable, Sendable {
    public var jobID: Int64
    public var campaignID: Int64
    public var task: TaskSpec
    /// Times the network runs the task.
    public var weight: Int
    public var deviceClass: DeviceClass
    /// Distinct candidates the job may measure.
    public var budget: Int
    public var generated: Int
    public var measured: Int
    /// Generated, waiting in the dispatcher's queue.
    public var queued: Int
    /// Sent to agents, not yet committed.
    public var inFlight: Int
    public var batchSize: Int
    /// Fastest verified time so far.
    public var bestSeconds: Double?
    /// Batches to keep queued for the job so that every agent slot of its class can be fed
    /// (at least 2; more when many agents share few jobs).
    public var queueBatches = 2

    public init(jobID: Int64, campaignID: Int64, task: TaskSpec, weight: Int, deviceClass: DeviceClass, budget: Int,
                generated: Int, measured: Int, queued: Int, inFlight: Int, batchSize: Int, bestSeconds: Double?) {
        self.jobID = jobID; self.campaignID = campaignID; self.task = task; self.weight = weight
        self.deviceClass = deviceClass; self.budget = budget; self.generated = generated; self.measured = measured
        self.queued = queued; self.inFlight = inFlight; self.batchSize = batchSize; self.bestSeconds = bestSeconds
    }
}

extension JobProgress {
    /// How much of the network's work the job's task carries: weight x FLOPs (what the
    /// schedulers order and share by).
    public var mass: Double { task.flops * Double(weight) }
}

/// What a scheduler gives one job now: how many new candidates to generate, the job's
/// place in the dispatch order (higher goes first), and whether it is done (stopped early:
/// it finishes once what it has in flight is back).
public struct JobAllocation: Hashable, Sendable {
    public var quota: Int
    public var priority: Double
    public var done: Bool
    public init(quota: Int, priority: Double, done: Bool = false) { self.quota = quota; self.priority = priority; self.done = done }
}

/// Spends a campaign's trials across its jobs: decides each job's generation quota and
/// dispatch priority from where every job stands.
public protocol TaskScheduler: Sendable {
    var name: String { get }
    /// An allocation for each job given (jobs left out get nothing now). `room`: trials the
    /// campaign may still generate for these jobs (one device class) under a total budget;
    /// nil when only each job's own budget counts. The quotas never add up to more.
    mutating func allocate(_ jobs: [JobProgress], room: Int?) -> [Int64: JobAllocation]
    mutating func observe(_ record: TuningRecord)
}

/// The task scheduler a campaign uses, chosen at launch as a typed value and stored with it.
public enum SchedulerChoice: String, Codable, Sendable, CaseIterable {
    /// Every job keeps a batch or two queued until its budget (or its equal share of the
    /// campaign's) is spent; dispatch serves the jobs that carry most of the network first.
    case roundRobin = "round-robin"
    /// Trials in proportion to weight x FLOPs, the heaviest tasks first (the seed paper).
    case flops
    /// Ansor's: after a warm-up, the next trials go to the task whose improvement most
    /// lowers the network's estimated latency (sum of weight x best latency); a task that
    /// stops improving stops early.
    case gradient
}
