import TuneCore

/// Model-guided evolutionary search in the manner of Ansor and MetaSchedule: a population
/// from the job's best measured schedules and random samples, children by single-knob
/// mutation and crossover, every child checked against the space before it is scored; the
/// newest model scores the pool and the batch takes the top scorers plus an exploration
/// share of random schedules. Without a model it proposes random schedules. Deterministic
/// given its seed and what it was told.
public struct EvolutionarySearch: SearchStrategy {
    public struct Settings: Hashable, Sendable, Codable {
        /// Schedules scored per proposal.
        public var poolSize = 2048
        /// Measured schedules that seed the population (fastest first).
        public var parents = 16
        /// Share of each batch drawn at random instead of by the model.
        public var exploration = 0.1
        /// Share of children made by crossover (the rest by mutation).
        public var crossover = 0.3
        /// Share of a job's first batch given to transfer-tuned schedules (the best of similar
        /// tasks and devices, translated), when there are any.
        public var transferShare = 0.5
        public init() {}
    }

    public let name = "evolutionary"
    public var settings: Settings
    var rng: SplitMix64
    var random: RandomSearch
    /// Measured `ok` schedules with their times.
    private(set) var measured: [(schedule: Schedule, seconds: Double)] = []
    /// Good schedules of similar tasks and devices, for a job with nothing measured yet.
    var sources: [TransferSource]
    /// Their translations, once the job's space is known.
    var transferred: [Schedule]?
    /// The exploration share not yet drawn: carried from proposal to proposal, so that the
    /// job as a whole gets its share and a small proposal (a warm-up of two model slots)
    /// does not give its only model pick to a random schedule.
    var explorationOwed = 0.0

    public init(seed: UInt64, settings: Settings = Settings(), sources: [TransferSource] = []) {
        self.settings = settings
        self.sources = sources
        rng = SplitMix64(seed: seed)
        random = RandomSearch(seed: seed ^ 0x5eed_cafe_f00d_d00d)
    }

    public mutating func observe(_ record: TuningRecord) {
        guard let s = record.okSeconds else { return }
        measured.append((record.schedule, s))
    }

    public mutating func propose(count: Int, context: SearchContext) -> [ProposedSchedule] {
        guard count > 0 else { return [] }
        // A job with nothing measured starts from what similar tasks and devices found.
        var seeded: [ProposedSchedule] = []
        if measured.isEmpty && transferred == nil && !sources.isEmpty {
            let limit = min(count, Int((Double(count) * settings.transferShare).rounded(.up)))
            let t = TransferTuning.proposals(sources, context: context, limit: max(limit, settings.parents))
            transferred = t
            seeded = t.prefix(limit).map { ProposedSchedule($0, Provenance(proposer: "transfer")) }
        }
        guard !seeded.isEmpty else { return proposeSearched(count: count, context: context) }
        var ctx = context
        for p in seeded { ctx.generated.insert(p.schedule.hash64) }
        return seeded + proposeSearched(count: count - seeded.count, context: ctx)
    }

    mutating func proposeSearched(count: Int, context: SearchContext) -> [ProposedSchedule] {
        guard count > 0 else { return [] }
        guard let model = context.model else {
            return random.propose(count: count, context: context)
        }
        let explore = Self.exploration(count: count, share: settings.exploration, owed: &explorationOwed)
        let exploit = max(0, count - explore)
        var pool = evolve(context: context)
        // Never a schedule already generated for the job, nor one twice in the pool.
        var seen = Set<String>()
        pool = pool.filter { context.isNew($0) && seen.insert($0.hash64).inserted }
        var out: [ProposedSchedule] = []
        if !pool.isEmpty && exploit > 0 {
            let scores = model.score(task: context.task, device: context.device, threads: context.threads, schedules: pool)
            let ranked = zip(pool, scores).enumerated()
                .sorted { ($0.element.1, -$0.offset) > ($1.element.1, -$1.offset) }
                .prefix(exploit)
            for (_, (s, score)) in ranked {
                out.append(ProposedSchedule(s, Provenance(proposer: name, modelVersion: model.version?.id, predicted: score.isFinite ? score : nil)))
            }
        }
        var ctx = context
        for p in out { ctx.generated.insert(p.schedule.hash64) }
        let fill = random.propose(count: count - out.count, context: ctx)
        return out + fill
    }

    /// Random schedules among `count`: the share of `count` plus what is owed from earlier
    /// proposals, whole schedules only; the fraction left over is owed to the next one.
    static func exploration(count: Int, share: Double, owed: inout Double) -> Int {
        let due = Double(count) * max(0, min(1, share)) + owed
        let n = min(count, Int(due + 1e-9))
        owed = max(0, due - Double(n))
        return n
    }

    /// The pool: children of the fastest measured schedules (and of random samples while
    /// few are measured), all valid in the space.
    func evolveParents(context: SearchContext) -> [Schedule] {
        let best = measured.sorted { $0.seconds < $1.seconds }.prefix(settings.parents).map(\.schedule)
            .map { context.space.completing($0) }
        let valid = best.filter { context.space.isValid($0) }
        // Until the job has results of its own, the transferred schedules are the parents.
        return valid.isEmpty ? Array((transferred ?? []).prefix(settings.parents)) : valid
    }

    mutating func evolve(context: SearchContext) -> [Schedule] {
        let space = context.space
        var parents = evolveParents(context: context)
        // Fresh blood: random valid schedules join the parents, and are children themselves.
        var pool: [Schedule] = []
        let randomShare = parents.isEmpty ? settings.poolSize / 4 : settings.poolSize / 8
        for _ in 0..<randomShare {
            if let s = space.sample(using: &rng, attempts: 50) { pool.append(s); if parents.count < settings.parents { parents.append(s) } }
        }
        guard !parents.isEmpty else { return pool }
        let domains = space.knobs.filter { $0.choices.count > 1 }
        var attempts = 0
        while pool.count < settings.poolSize && attempts < settings.poolSize * 8 {
            attempts += 1
            let a = parents[Int.random(in: 0..<parents.count, using: &rng)]
            var v = a.values
            if parents.count > 1 && Double.random(in: 0..<1, using: &rng) < settings.crossover {
                let b = parents[Int.random(in: 0..<parents.count, using: &rng)].values
                for d in space.knobs where Bool.random(using: &rng) { v[d.name] = b[d.name] ?? v[d.name] }
            } else if let d = domains.randomElement(using: &rng) {
                // One knob to a neighbouring value, or anywhere in its domain.
                let choices = d.choices
                let i = choices.firstIndex(of: v[d.name] ?? choices[0]) ?? 0
                let j = Bool.random(using: &rng) ? min(choices.count - 1, max(0, i + (Bool.random(using: &rng) ? 1 : -1)))
                                                 : Int.random(in: 0..<choices.count, using: &rng)
                v[d.name] = choices[j]
            }
            let child = Schedule(v)
            if space.isValid(child) { pool.append(child) }
        }
        return pool
    }
}
