/// What a strategy may use to propose a job's next candidates.
public struct SearchContext: Sendable {
    public var task: TaskSpec
    /// A real device of the job's class: spaces are built for real devices.
    public var device: DeviceProfile
    public var threads: Int
    public var space: any ScheduleSpace
    /// Hashes of every schedule ever generated for the job (in every spelling it was stored
    /// under); a strategy never proposes one of them again.
    public var generated: Set<String>
    /// The newest model for the job's device class, when there is one.
    public var model: (any CostModel)?

    public init(task: TaskSpec, device: DeviceProfile, threads: Int, space: any ScheduleSpace,
                generated: Set<String>, model: (any CostModel)?) {
        self.task = task; self.device = device; self.threads = threads; self.space = space
        self.generated = generated; self.model = model
    }

    /// True when `schedule` (or its spelling before later knobs existed) was never generated.
    public func isNew(_ schedule: Schedule) -> Bool { isNew(schedule, hash: schedule.hash64) }

    /// The same, for a caller that already has the schedule's `hash64`.
    public func isNew(_ schedule: Schedule, hash: String) -> Bool {
        guard !generated.contains(hash) else { return false }
        let older = space.withoutLaterDefaults(schedule)
        return older.knobs.count == schedule.knobs.count || !generated.contains(older.hash64)
    }
}

/// The search of one job. It is built when the job is adopted (fresh, or on resume from the
/// job's stored history), proposes the job's candidates and hears about every committed
/// result of the job.
public protocol SearchStrategy: Sendable {
    var name: String { get }
    /// Up to `count` schedules valid in `context.space` and new to the job; fewer when the
    /// space runs out (the job then counts as exhausted).
    mutating func propose(count: Int, context: SearchContext) -> [ProposedSchedule]
    /// A committed result of this job.
    mutating func observe(_ record: TuningRecord)
}

/// The search a campaign uses, chosen at launch as a typed value and stored with it.
public enum SearchChoice: String, Codable, Sendable, CaseIterable {
    /// Uniform draws from the valid space without repeats: the honest baseline.
    case random
    /// Model-guided evolution: mutation and crossover of the best measured schedules, the
    /// newest model picks the batch from a large pool, plus a share of random exploration.
    case evolutionary
}
