import TuneCore

/// The baseline scheduler: every job keeps one to two batches queued until its budget is
/// spent, and dispatch serves the jobs that carry most of the network (weight x FLOPs) first.
public struct RoundRobinScheduler: TaskScheduler {
    public let name = "round-robin"
    public init() {}

    public mutating func allocate(_ jobs: [JobProgress]) -> [Int64: JobAllocation] {
        var out: [Int64: JobAllocation] = [:]
        for j in jobs {
            let room = max(0, j.budget - j.generated)
            // Top up only when less than a batch waits, to two batches.
            let quota = j.queued < j.batchSize ? min(room, max(0, 2 * j.batchSize - j.queued)) : 0
            out[j.jobID] = JobAllocation(quota: quota, priority: j.task.flops * Double(j.weight))
        }
        return out
    }

    public mutating func observe(_ record: TuningRecord) {}
}
