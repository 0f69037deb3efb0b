import TuneCore

/// Keeps `queueBatches - 1` to `queueBatches` batches queued for a job (one to two unless
/// many agents share few jobs), within what the job and the campaign allow.
func topUp(_ j: JobProgress, limit: Int) -> Int {
    let depth = max(2, j.queueBatches)
    guard j.queued < (depth - 1) * j.batchSize else { return 0 }
    return max(0, min(limit, j.budget - j.generated, depth * j.batchSize - j.queued))
}

/// The seed paper's scheduler: each task's share of the trials follows its weight x FLOPs
/// (after a warm-up batch for every task), and the heaviest tasks are tuned first.
public struct FLOPsWeightedScheduler: TaskScheduler {
    public let name = "flops"
    /// Trials every task gets before shares apply (a batch by default).
    public var warmup: Int?
    public init(warmup: Int? = nil) { self.warmup = warmup }

    public mutating func allocate(_ jobs: [JobProgress], room: Int?) -> [Int64: JobAllocation] {
        let mass = jobs.map(\.mass)
        let total = max(1e-300, mass.reduce(0, +))
        // The trials to share: the campaign's room plus what is already generated; without a
        // campaign budget each job may use its own.
        let pot = room.map { $0 + jobs.reduce(0) { $0 + $1.generated } }
        let order = jobs.indices.sorted { (mass[$0], -jobs[$0].jobID) > (mass[$1], -jobs[$1].jobID) }
        var quota = [Int](repeating: 0, count: jobs.count)
        var left = room ?? Int.max
        func give(_ i: Int, upTo target: Int) {
            let j = jobs[i]
            let q = max(0, min(target - j.generated - quota[i], topUp(j, limit: left) - quota[i]))
            quota[i] += q
            left -= q
        }
        // A warm-up batch for every task first, then shares, heaviest first.
        let warm = jobs.map { min(warmup ?? $0.batchSize, $0.budget) }
        let target = jobs.indices.map { i in
            max(warm[i], min(jobs[i].budget, pot.map { Int((Double($0) * mass[i] / total).rounded(.up)) } ?? jobs[i].budget))
        }
        for i in order { give(i, upTo: warm[i]) }
        for i in order { give(i, upTo: target[i]) }
        var out: [Int64: JobAllocation] = [:]
        for i in jobs.indices {
            out[jobs[i].jobID] = JobAllocation(quota: quota[i], priority: mass[i], done: pot != nil && jobs[i].generated >= target[i])
        }
        return out
    }

    public mutating func observe(_ record: TuningRecord) {}
}

/// Ansor's gradient scheduler over the network's estimated latency L = sum of weight x
/// best latency: after a warm-up, trials go to the jobs whose improvement is expected to
/// lower L most, estimated from the recent improvement (backward) and an optimistic share
/// of the current best (forward); a job without improvement for `patience` trials stops.
/// The warm-up is a quarter of a batch per job (with batches of 8: transfer-tuning's first
/// pick and the model's, which together came within 3-6% of the best-known network latency
/// in the benches, where the next two picks added under 1%), dispatched heaviest (weight x
/// FLOPs) first: the tasks that carry most of the network are measured, and lower L, before
/// the light ones, and every task has a kernel soon.
public struct GradientScheduler: TaskScheduler {
    public let name = "gradient"
    /// Trials each job gets before gains count (default: a quarter of a batch, at least 1).
    public var warmup: Int?
    /// Trials without a 1% improvement after which a job stops early.
    public var patience = 64
    /// Weight of the backward estimate against the forward one (Ansor: 0.2).
    public var alpha = 0.2
    /// Trials over which the backward improvement is measured.
    public var window = 16
    /// Jobs given trials at once (so every agent has work).
    public var parallel = 2
    /// Per job: best seconds after each measured trial (ok or not).
    private var curves: [Int64: [Double]] = [:]

    public init(warmup: Int? = nil) { self.warmup = warmup }

    public mutating func observe(_ record: TuningRecord) {
        var c = curves[record.jobID] ?? []
        let last = c.last ?? .infinity
        c.append(min(last, record.okSeconds ?? .infinity))
        curves[record.jobID] = c
    }

    /// The expected decrease of L per trial spent on job `j`; for a job whose every result
    /// failed, more than any job with a kernel (the network has no estimate without one) but
    /// less than a warm-up.
    func gain(_ j: JobProgress) -> Double {
        guard let c = curves[j.jobID], let best = c.last, best.isFinite else { return 1e99 }
        let t = Double(c.count)
        let before = c.count > window ? c[c.count - 1 - window] : (c.first { $0.isFinite } ?? best)
        let backward = before.isFinite ? max(0, before - best) / Double(min(window, c.count)) : 0
        let forward = best / t
        return Double(j.weight) * (alpha * backward + (1 - alpha) * forward)
    }

    /// No 1% improvement in the last `patience` results, or `patience` results and not one
    /// verified kernel (a task whose every candidate fails would otherwise take the
    /// campaign's trials without end: its gain ranks above every task with a kernel).
    func stalled(_ j: JobProgress) -> Bool {
        guard let c = curves[j.jobID], c.count > patience, let best = c.last else { return false }
        guard best.isFinite else { return true }
        return c[c.count - 1 - patience] <= best * 1.01
    }

    /// Dispatch priority of a job still warming up: above every gain, heavier jobs higher.
    static func warmupPriority(_ j: JobProgress, heaviest: Double) -> Double {
        1e100 * (1 + j.mass / max(heaviest, 1e-300))
    }

    public mutating func allocate(_ jobs: [JobProgress], room: Int?) -> [Int64: JobAllocation] {
        var out: [Int64: JobAllocation] = [:]
        var left = room ?? Int.max
        var ranked: [(JobProgress, Double)] = []
        let heaviest = jobs.map(\.mass).max() ?? 1
        func warm(_ j: JobProgress) -> Int { warmup ?? max(1, j.batchSize / 4) }
        var waiting: [JobProgress] = []
        // Heaviest first, so that a short room goes to the jobs that matter most.
        for j in jobs.sorted(by: { ($0.mass, -$0.jobID) > ($1.mass, -$1.jobID) }) {
            let stop = stalled(j)
            if j.generated < warm(j) {
                let q = min(topUp(j, limit: left), warm(j) - j.generated)
                left -= q
                out[j.jobID] = JobAllocation(quota: q, priority: Self.warmupPriority(j, heaviest: heaviest))
            } else if (curves[j.jobID]?.count ?? 0) < warm(j) {
                // Its warm-up is not measured yet: it keeps its place in the dispatch order, and
                // nothing to estimate a gain from earns it no more trials (its results would
                // otherwise rank it above every task measured, and it took a second batch
                // before the next task's warm-up was dispatched).
                out[j.jobID] = JobAllocation(quota: 0, priority: Self.warmupPriority(j, heaviest: heaviest))
                waiting.append(j)
            } else {
                let g = stop ? 0 : gain(j)
                out[j.jobID] = JobAllocation(quota: 0, priority: g, done: stop)
                if !stop { ranked.append((j, g)) }
            }
        }
        // Nothing measured yet, every warm-up generated and nothing left queued (one task,
        // many agents): the waiting ones get trials, so that no agent idles. Not before: a job's extra candidates
        // dispatch at its warm-up priority, ahead of lighter tasks' warm-ups.
        if ranked.isEmpty && jobs.allSatisfy({ $0.queued == 0 && $0.generated >= min(warm($0), $0.budget) }) {
            ranked = waiting.map { ($0, gain($0)) }
        }
        // Then the jobs with the largest expected gain, a batch each (more when many agent
        // slots share few jobs: `queueBatches` says how deep their queues should be).
        for (j, _) in ranked.sorted(by: { ($0.1, -$0.0.jobID) > ($1.1, -$1.0.jobID) }).prefix(parallel) where left > 0 {
            let q = min(topUp(j, limit: left), j.batchSize * (max(2, j.queueBatches) - 1))
            left -= q
            out[j.jobID]!.quota = q
        }
        return out
    }
}
