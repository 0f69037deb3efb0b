import TuneCore

/// The baseline scheduler: every job keeps one to two batches queued until its budget is
/// spent. With trials per task, dispatch serves the jobs that carry most of the network
/// (weight x FLOPs) first: every job runs to its end anyway. Under a campaign budget (or a
/// time limit) the jobs take turns: the least tried get the room and dispatch first, so
/// every task is measured early and a campaign cut short by its clock has a latency for
/// each, rather than the heaviest task tried a thousand times and the rest never.
public struct RoundRobinScheduler: TaskScheduler {
    public let name = "round-robin"
    public init() {}

    public mutating func allocate(_ jobs: [JobProgress], room: Int?) -> [Int64: JobAllocation] {
        guard var left = room else {
            return Dictionary(uniqueKeysWithValues: jobs.map {
                ($0.jobID, JobAllocation(quota: topUp($0, limit: Int.max), priority: $0.mass))
            })
        }
        // Ties in trials go to the heavier job: its rank by weight x FLOPs, as a fraction below 1.
        let byWeight = jobs.sorted { ($0.mass, $1.jobID) > ($1.mass, $0.jobID) }
        let rank = Dictionary(uniqueKeysWithValues: byWeight.enumerated().map { ($1.jobID, $0) })
        var out: [Int64: JobAllocation] = [:]
        // A share at a time, the least tried first.
        for j in jobs.sorted(by: { ($0.generated, $0.jobID) < ($1.generated, $1.jobID) }) {
            let quota = min(topUp(j, limit: Int.max), left, max(1, j.batchSize) * (max(2, j.queueBatches) - 1))
            left -= quota
            let tieBreak = 1 - Double(rank[j.jobID]! + 1) / Double(jobs.count + 1)
            out[j.jobID] = JobAllocation(quota: quota, priority: -Double(j.generated) + tieBreak)
        }
        return out
    }

    public mutating func observe(_ record: TuningRecord) {}
}
