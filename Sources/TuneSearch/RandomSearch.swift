import TuneCore

/// The honest baseline search: uniform draws from the valid space, never the same schedule
/// twice in a job. Results do not change what it draws.
public struct RandomSearch: SearchStrategy {
    public let name = "random"
    /// Consecutive repeats after which the space counts as exhausted.
    public var patience = 2000
    var rng: SplitMix64

    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    public mutating func propose(count: Int, context: SearchContext) -> [ProposedSchedule] {
        var out: [ProposedSchedule] = []
        var taken: Set<String> = []
        var misses = 0
        while out.count < count && misses < patience {
            guard let s = context.space.sample(using: &rng, attempts: 200) else { misses += 200; continue }
            // A job resumed across a space upgrade holds schedules stored without the knobs
            // added since: the same point under its old spelling is not new either.
            let hash = s.hash64
            if !context.isNew(s, hash: hash) || !taken.insert(hash).inserted {
                misses += 1
                continue
            }
            out.append(ProposedSchedule(s, Provenance(proposer: name)))
            misses = 0
        }
        return out
    }

    public mutating func observe(_ record: TuningRecord) {}
}
