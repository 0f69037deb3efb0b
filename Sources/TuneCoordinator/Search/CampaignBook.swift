import TuneCore
import TuneStore

/// Progress of every running job: the budget, what was generated, what was measured. The
/// database is the truth; this is the coordinator's working copy, rebuilt from it on start.
public struct CampaignBook: Sendable {
    /// A job as the store resumed it (its pending queue handed to the dispatcher, which owns
    /// it from then on) and the search's state.
    public struct Job: Sendable {
        public var state: ActiveJob
        public var exhausted = false
        var rng: SplitMix64
    }

    public private(set) var jobs: [Int64: Job] = [:]
    let search = RandomSearch()

    public init() {}

    /// Adds the jobs (from `Store.activeJobs`) not known yet; returns their dispatch queues.
    public mutating func adopt(_ active: [ActiveJob]) -> [JobQueue] {
        var out: [JobQueue] = []
        for a in active where jobs[a.jobID] == nil {
            let seed = a.seed ^ (UInt64(bitPattern: a.jobID) &* 0x9e37_79b9_7f4a_7c15) ^ UInt64(a.generated.count)
            var state = a
            state.pending = []
            jobs[a.jobID] = Job(state: state, rng: SplitMix64(seed: seed))
            out.append(JobQueue(jobID: a.jobID, task: a.task, deviceClass: a.deviceClass, plan: a.plan,
                                batchSize: a.batchSize, priority: a.task.flops * Double(a.weight),
                                pending: a.pending, baselines: a.baselines))
        }
        return out
    }

    /// New schedules for a job whose queue runs low, within its budget.
    public mutating func propose(jobID: Int64, queued: Int, space: any ScheduleSpace) -> [Schedule] {
        guard var j = jobs[jobID], !j.exhausted else { return [] }
        let room = j.state.trials - j.state.generated.count
        let want = min(room, max(0, 2 * j.state.batchSize - queued))
        guard want > 0 else { return [] }
        let fresh = search.propose(space: space, count: want, seen: j.state.generated, rng: &j.rng)
        if fresh.count < want { j.exhausted = true }
        for s in fresh { j.state.generated.insert(s.hash64) }
        jobs[jobID] = j
        return fresh
    }

    public func needsCandidates(jobID: Int64, queued: Int) -> Bool {
        guard let j = jobs[jobID], !j.exhausted else { return false }
        return j.state.generated.count < j.state.trials && queued < j.state.batchSize
    }

    public mutating func markExhausted(jobID: Int64) { jobs[jobID]?.exhausted = true }

    /// Counts a committed measurement; true when the job has spent its budget.
    public mutating func recordMeasured(jobID: Int64) -> Bool {
        guard jobs[jobID] != nil else { return false }
        jobs[jobID]!.state.measured += 1
        return jobs[jobID]!.state.measured >= jobs[jobID]!.state.trials
    }

    /// A job is finished when its budget is spent, or its space is exhausted and everything
    /// generated has been measured.
    public func isFinished(jobID: Int64, inFlight: Int, queued: Int) -> Bool {
        guard let j = jobs[jobID] else { return true }
        if j.state.measured >= j.state.trials { return true }
        return j.exhausted && inFlight == 0 && queued == 0 && j.state.measured >= j.state.generated.count
    }

    public mutating func remove(jobID: Int64) -> Job? { jobs.removeValue(forKey: jobID) }

    public func campaignHasJobs(_ campaignID: Int64) -> Bool { jobs.values.contains { $0.state.campaignID == campaignID } }
}
