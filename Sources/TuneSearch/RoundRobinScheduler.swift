import TuneCore

/// The baseline scheduler: every job keeps one to two batches queued until its budget is
/// spent, and dispatch serves the jobs that carry most of the network (weight x FLOPs)
/// first. Under a campaign budget the jobs share it equally: the least tried go first.
public struct RoundRobinScheduler: TaskScheduler {
    public let name = "round-robin"
    public init() {}

    public mutating func allocate(_ jobs: [JobProgress], room: Int?) -> [Int64: JobAllocation] {
        var out: [Int64: JobAllocation] = [:]
        var left = room ?? Int.max
        for j in jobs.sorted(by: { ($0.generated, $0.jobID) < ($1.generated, $1.jobID) }) {
            let want = topUp(j, limit: Int.max)
            // Under a budget the least tried go first, a share at a time.
            let quota = room == nil ? want : min(want, left, max(1, j.batchSize) * (max(2, j.queueBatches) - 1))
            left -= quota
            out[j.jobID] = JobAllocation(quota: quota, priority: j.task.flops * Double(j.weight))
        }
        return out
    }

    public mutating func observe(_ record: TuningRecord) {}
}
