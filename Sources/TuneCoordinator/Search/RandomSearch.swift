import TuneCore

/// The honest baseline search: uniform draws from the valid space, never the same schedule
/// twice in a job.
public struct RandomSearch: Sendable {
    /// Consecutive repeats after which the space counts as exhausted.
    public var patience = 2000
    public init() {}

    /// Up to `count` new schedules not in `seen`; fewer when the space runs out.
    public func propose<G: RandomNumberGenerator>(space: any ScheduleSpace, count: Int, seen: Set<String>,
                                                  rng: inout G) -> [Schedule] {
        var out: [Schedule] = []
        var taken = seen
        var misses = 0
        while out.count < count && misses < patience {
            guard let s = space.sample(using: &rng, attempts: 200) else { misses += 200; continue }
            // A job resumed across a space upgrade holds schedules stored without the knobs
            // added since: the same point under its old spelling is not new either.
            if taken.contains(space.withoutLaterDefaults(s).hash64) || !taken.insert(s.hash64).inserted {
                misses += 1
                continue
            }
            out.append(s)
            misses = 0
        }
        return out
    }
}

/// Which backend's schedule space a job uses, built for a real device of its class.
public enum SpaceCatalog {
    public static func space(for task: TaskSpec, profile: DeviceProfile, plan: MeasurePlan) -> (any ScheduleSpace)? {
        switch profile.deviceClass {
        case .cpu: return CPUKernelsSpace.space(task, profile, plan)
        case .cuda: return CUDAKernelsSpace.space(task, profile)
        }
    }
}
