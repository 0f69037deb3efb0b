import TuneCore
import TuneSearch
import TuneSpaces

/// The search half's decisions as a pure value, beside the `Dispatcher`: events in
/// (jobs adopted, results committed, models ready, ticks, cancellations), directives out
/// (persist candidates, set priorities, train, finish). No sockets, no clock, no database.
///
/// Each job has its own `SearchStrategy` (rebuilt from the job's history when adopted) and
/// each campaign its `TaskScheduler`, which decides how many candidates each job generates
/// now and in which order dispatch serves them.
public struct TuningLoop: Sendable {
    public struct Settings: Sendable {
        /// After this many new `ok` results of a device class, ask for a new model; nil: never.
        /// Sooner while the class has few results (`RetrainCadence`).
        public var retrainEvery: Int?
        /// The first request after this many results (then as `RetrainCadence` says).
        public var retrainFirst = 8
        /// Builds a job's search from its stored history and the measured schedules of
        /// similar tasks and devices (transfer-tuning's sources).
        public var makeStrategy: @Sendable (ActiveJob, [TuningRecord], [TransferSource]) -> any SearchStrategy
        /// Builds a campaign's scheduler.
        public var makeScheduler: @Sendable (SchedulerChoice) -> any TaskScheduler
        /// The schedule space of a task on a real device.
        public var space: @Sendable (TaskSpec, DeviceProfile, MeasurePlan) -> (any ScheduleSpace)?
        /// Proposals computed by the shell off the dispatch path (`.propose` out, `.proposed`
        /// in), so that a slow model never delays a commit, an acknowledgement or a
        /// heartbeat; false: inline (deterministic step by step, what simulations use).
        public var proposeOffPath = false

        public init(retrainEvery: Int? = nil,
                    makeStrategy: @escaping @Sendable (ActiveJob, [TuningRecord], [TransferSource]) -> any SearchStrategy = {
                        SearchCatalog.strategy($0.search, job: $0, history: $1, related: $2)
                    },
                    makeScheduler: @escaping @Sendable (SchedulerChoice) -> any TaskScheduler = SearchCatalog.scheduler,
                    space: @escaping @Sendable (TaskSpec, DeviceProfile, MeasurePlan) -> (any ScheduleSpace)? = { SpaceCatalog.space(for: $0, device: $1, plan: $2) }) {
            self.retrainEvery = retrainEvery; self.makeStrategy = makeStrategy
            self.makeScheduler = makeScheduler; self.space = space
        }
    }

    /// What the dispatcher holds of each job, and which device of each class is connected.
    public struct Queues: Sendable {
        public var queued: [Int64: Int]
        public var inFlight: [Int64: Int]
        public var profiles: [DeviceClass: DeviceProfile]
        /// The wall clock (seconds since 1970), for campaigns with a time limit; nil: none applies.
        public var now: Double?
        /// Agent slots connected per device class: how much queued work keeps them all busy.
        public var slots: [DeviceClass: Int] = [:]
        public init(queued: [Int64: Int] = [:], inFlight: [Int64: Int] = [:], profiles: [DeviceClass: DeviceProfile] = [:],
                    now: Double? = nil) {
            self.queued = queued; self.inFlight = inFlight; self.profiles = profiles; self.now = now
        }
    }

    public enum Event: Sendable {
        /// Jobs from the database (launch or resume) with their committed history and, for
        /// jobs with none, good schedules of similar tasks and devices.
        case adopted([ActiveJob], history: [Int64: [TuningRecord]], related: [Int64: [TransferSource]] = [:])
        case committed(TuningRecord)
        case modelReady(DeviceClass, any CostModel)
        case tick(Queues)
        case cancelled(campaignID: Int64)
        /// Candidates of a `persistCandidates` the store refused: they do not exist, so the
        /// job forgets it generated them (and proposes again).
        case persistFailed(jobID: Int64, [ProposedSchedule])
        /// A `.propose` request's answer, with the strategy as it stood after proposing.
        case proposed(ProposalRequest, [ProposedSchedule], strategy: any SearchStrategy)
    }

    /// One job's proposal, to be computed off the dispatch path: run `strategy.propose(count:
    /// context:)` on a copy and answer with `.proposed`.
    public struct ProposalRequest: Sendable {
        public var jobID: Int64
        public var count: Int
        public var strategy: any SearchStrategy
        public var context: SearchContext

        /// What the shell runs on its worker.
        public func run() -> ([ProposedSchedule], any SearchStrategy) {
            var s = strategy
            let out = s.propose(count: count, context: context)
            return (out, s)
        }
    }

    public enum Directive: Sendable {
        /// Hand the job and its pending candidates to the dispatcher.
        case addJob(JobQueue)
        /// Store these candidates, then hand them to the dispatcher (a crash never loses
        /// the identity of what was sent).
        case persistCandidates(jobID: Int64, [ProposedSchedule])
        case setPriority(jobID: Int64, Double)
        /// Train a new model for the class on what arrived since the last one.
        case train(DeviceClass, newResults: Int)
        /// Budget spent or space exhausted: complete the job (and take it from the dispatcher).
        case finishJob(jobID: Int64)
        /// Its last job finished.
        case finishCampaign(campaignID: Int64)
        /// A cancelled campaign's job: take it from the dispatcher.
        case dropJob(jobID: Int64)
        /// The backend has no template for the task: the job ends without trials.
        case noTemplate(jobID: Int64, task: TaskSpec, deviceClass: DeviceClass)
        /// Compute this proposal off the dispatch path and answer with `.proposed`.
        case propose(ProposalRequest)
    }

    struct Job: Sendable {
        var state: ActiveJob
        var strategy: any SearchStrategy
        var exhausted = false
        var bestSeconds: Double?
        var priority: Double
        /// A proposal is being computed off the path; results committed meanwhile are told
        /// to the strategy that comes back.
        var proposingCount: Int?
        var proposing: Bool { proposingCount != nil }
        var observedSince: [TuningRecord] = []
    }

    /// A campaign's total budget for one device class, and what it has spent.
    struct BudgetKey: Hashable, Sendable { var campaign: Int64; var deviceClass: DeviceClass }
    struct Budget: Sendable { var total: Int; var generated: Int; var measured: Int }

    public let settings: Settings
    private(set) var jobs: [Int64: Job] = [:]
    private var budgets: [BudgetKey: Budget] = [:]
    private var schedulers: [Int64: any TaskScheduler] = [:]
    private var models: [DeviceClass: any CostModel] = [:]
    private var cadence: [DeviceClass: RetrainCadence] = [:]

    public init(settings: Settings = Settings()) { self.settings = settings }

    public var jobIDs: [Int64] { jobs.keys.sorted() }
    public func campaignID(ofJob id: Int64) -> Int64? { jobs[id]?.state.campaignID }
    public func model(for deviceClass: DeviceClass) -> (any CostModel)? { models[deviceClass] }

    public mutating func handle(_ event: Event) -> [Directive] {
        switch event {
        case .adopted(let active, let history, let related): return adopt(active, history: history, related: related)
        case .committed(let record): return onCommitted(record)
        case .modelReady(let dc, let model):
            models[dc] = model
            return []
        case .tick(let queues): return onTick(queues)
        case .proposed(let request, let fresh, let strategy): return onProposed(request, fresh, strategy)
        case .persistFailed(let id, let lost):
            guard var job = jobs[id] else { return [] }
            for p in lost { job.state.generated.remove(p.schedule.hash64) }
            jobs[id] = job
            budgets[BudgetKey(campaign: job.state.campaignID, deviceClass: job.state.deviceClass)]?.generated -= lost.count
            return []
        case .cancelled(let campaignID):
            let ids = jobs.values.filter { $0.state.campaignID == campaignID }.map(\.state.jobID).sorted()
            for id in ids { jobs[id] = nil }
            schedulers[campaignID] = nil
            for key in budgets.keys where key.campaign == campaignID { budgets[key] = nil }
            return ids.map { .dropJob(jobID: $0) }
        }
    }

    private mutating func adopt(_ active: [ActiveJob], history: [Int64: [TuningRecord]], related: [Int64: [TransferSource]]) -> [Directive] {
        var out: [Directive] = []
        for a in active where jobs[a.jobID] == nil {
            let past = history[a.jobID] ?? []
            if let total = a.campaignBudget {
                let key = BudgetKey(campaign: a.campaignID, deviceClass: a.deviceClass)
                let b = budgets[key]
                budgets[key] = Budget(total: total, generated: max(b?.generated ?? 0, a.campaignGenerated),
                                      measured: max(b?.measured ?? 0, a.campaignMeasured))
            }
            if schedulers[a.campaignID] == nil { schedulers[a.campaignID] = settings.makeScheduler(a.scheduler) }
            for r in past { schedulers[a.campaignID]!.observe(r) }
            let progress = Self.progress(a, queued: a.pending.count, inFlight: 0, best: Self.best(past))
            // Only the priority is used here; a scheduler may rank budgeted campaigns differently.
            let priority = schedulers[a.campaignID]!.allocate([progress], room: a.campaignBudget == nil ? nil : 0)[a.jobID]?.priority ?? 0
            var state = a
            state.pending = []
            jobs[a.jobID] = Job(state: state, strategy: settings.makeStrategy(a, past, related[a.jobID] ?? []), bestSeconds: Self.best(past),
                                priority: priority)
            out.append(.addJob(JobQueue(jobID: a.jobID, task: a.task, deviceClass: a.deviceClass, plan: a.plan,
                                        batchSize: a.batchSize, priority: priority, pending: a.pending,
                                        baselines: a.baselines, lostAttempts: a.lostAttempts)))
        }
        return out
    }

    private mutating func onCommitted(_ r: TuningRecord) -> [Directive] {
        guard var job = jobs[r.jobID] else { return [] }
        var out: [Directive] = []
        job.state.measured += 1
        if let s = r.okSeconds { job.bestSeconds = min(job.bestSeconds ?? s, s) }
        job.strategy.observe(r)
        if job.proposing { job.observedSince.append(r) }
        jobs[r.jobID] = job
        schedulers[job.state.campaignID]?.observe(r)
        if r.status == .ok, let every = settings.retrainEvery {
            var c = cadence[r.deviceClass] ?? RetrainCadence(every: every, first: settings.retrainFirst)
            let n = c.sinceLast + 1
            if c.observe() { out.append(.train(r.deviceClass, newResults: n)) }
            cadence[r.deviceClass] = c
        }
        if job.state.measured >= job.state.trials { out += finish(r.jobID) }
        let key = BudgetKey(campaign: job.state.campaignID, deviceClass: job.state.deviceClass)
        if var b = budgets[key] {
            b.measured += 1
            budgets[key] = b
            // The campaign's budget for the class is spent: every job of the class ends.
            if b.measured >= b.total {
                for id in jobIDs where jobs[id]?.state.campaignID == key.campaign && jobs[id]?.state.deviceClass == key.deviceClass {
                    out += finish(id)
                }
            }
        }
        return out
    }

    private mutating func onTick(_ q: Queues) -> [Directive] {
        var out: [Directive] = []
        // Jobs that are done, first: what is left is what the schedulers share.
        for id in jobIDs {
            guard let j = jobs[id] else { continue }
            let queued = q.queued[id] ?? 0, inFlight = q.inFlight[id] ?? 0
            let spent = j.state.measured >= j.state.trials
            // Out of time: the job ends now; results still in flight are stored when they come.
            if let deadline = j.state.deadline, let now = q.now, now >= deadline {
                out += finish(id)
                continue
            }
            let drained = j.exhausted && inFlight == 0 && queued == 0 && j.state.measured >= j.state.generated.count
            if spent || drained { out += finish(id) }
        }
        // Each campaign's scheduler shares out each device class's trials.
        var classes: [BudgetKey: [Int64]] = [:]
        for id in jobIDs where !jobs[id]!.exhausted {
            classes[BudgetKey(campaign: jobs[id]!.state.campaignID, deviceClass: jobs[id]!.state.deviceClass), default: []].append(id)
        }
        for key in classes.keys.sorted(by: { ($0.campaign, $0.deviceClass.rawValue) < ($1.campaign, $1.deviceClass.rawValue) }) {
            let ids = classes[key]!
            // Enough batches queued across the class's jobs for every slot, and some to spare.
            let depth = max(2, Int((Double(q.slots[key.deviceClass] ?? 0) * 1.5 / Double(max(1, ids.count))).rounded(.up)))
            let progress = ids.map { id in
                var p = Self.progress(jobs[id]!.state, queued: q.queued[id] ?? 0, inFlight: q.inFlight[id] ?? 0, best: jobs[id]!.bestSeconds)
                p.queueBatches = depth
                return p
            }
            let room = budgets[key].map { max(0, $0.total - $0.generated) }
            let allocation = schedulers[key.campaign]!.allocate(progress, room: room)
            for id in ids {
                guard let a = allocation[id] else { continue }
                if a.done {
                    // Stopped early by the scheduler: ends once nothing of it is queued or in flight.
                    jobs[id]!.exhausted = true
                    if (q.queued[id] ?? 0) == 0 && (q.inFlight[id] ?? 0) == 0 { out += finish(id) }
                    continue
                }
                if a.priority != jobs[id]!.priority {
                    jobs[id]!.priority = a.priority
                    out.append(.setPriority(jobID: id, a.priority))
                }
                let room = jobs[id]!.state.trials - jobs[id]!.state.generated.count
                let want = min(a.quota, room)
                guard want > 0, !jobs[id]!.proposing, let profile = q.profiles[jobs[id]!.state.deviceClass] else { continue }
                out += propose(id, count: want, profile: profile)
            }
        }
        return out
    }

    private mutating func propose(_ id: Int64, count: Int, profile: DeviceProfile) -> [Directive] {
        var job = jobs[id]!
        guard let space = settings.space(job.state.task, profile, job.state.plan) else {
            job.exhausted = true
            jobs[id] = job
            return [.noTemplate(jobID: id, task: job.state.task, deviceClass: job.state.deviceClass)]
        }
        let context = SearchContext(task: job.state.task, device: profile, threads: job.state.plan.threads, space: space,
                                    generated: job.state.generated, model: models[job.state.deviceClass])
        if settings.proposeOffPath {
            job.proposingCount = count
            job.observedSince = []
            jobs[id] = job
            // Reserved against the campaign's budget until the answer says how many came.
            budgets[BudgetKey(campaign: job.state.campaignID, deviceClass: job.state.deviceClass)]?.generated += count
            return [.propose(ProposalRequest(jobID: id, count: count, strategy: job.strategy, context: context))]
        }
        let fresh = job.strategy.propose(count: count, context: context)
        jobs[id] = job
        return accept(id, fresh, count: count, context: context)
    }

    /// A proposal computed off the path: the strategy that made it takes over, told about
    /// what was committed meanwhile.
    private mutating func onProposed(_ request: ProposalRequest, _ fresh: [ProposedSchedule], _ strategy: any SearchStrategy) -> [Directive] {
        guard var job = jobs[request.jobID], job.proposing else { return [] }
        job.strategy = strategy
        for r in job.observedSince { job.strategy.observe(r) }
        job.proposingCount = nil
        job.observedSince = []
        jobs[request.jobID] = job
        budgets[BudgetKey(campaign: job.state.campaignID, deviceClass: job.state.deviceClass)]?.generated -= request.count
        var context = request.context
        context.generated = job.state.generated
        return accept(request.jobID, fresh, count: request.count, context: context)
    }

    private mutating func accept(_ id: Int64, _ proposals: [ProposedSchedule], count: Int, context: SearchContext) -> [Directive] {
        var job = jobs[id]!
        let space = context.space
        var fresh = proposals
        // The seam's promise, kept here whatever a strategy does: valid, new, at most `count`.
        var seen: Set<String> = []
        fresh = Array(fresh.filter { context.isNew($0.schedule) && space.isValid($0.schedule) && seen.insert($0.schedule.hash64).inserted }
            .prefix(count))
        if fresh.count < count { job.exhausted = true }
        for p in fresh { job.state.generated.insert(p.schedule.hash64) }
        jobs[id] = job
        budgets[BudgetKey(campaign: job.state.campaignID, deviceClass: job.state.deviceClass)]?.generated += fresh.count
        return fresh.isEmpty ? [] : [.persistCandidates(jobID: id, fresh)]
    }

    private mutating func finish(_ id: Int64) -> [Directive] {
        guard let job = jobs.removeValue(forKey: id) else { return [] }
        var out: [Directive] = [.finishJob(jobID: id)]
        let campaignID = job.state.campaignID
        if let count = job.proposingCount {
            // The answer will find no job: its reservation goes back to the campaign.
            budgets[BudgetKey(campaign: campaignID, deviceClass: job.state.deviceClass)]?.generated -= count
        }
        if !jobs.values.contains(where: { $0.state.campaignID == campaignID }) {
            schedulers[campaignID] = nil
            for key in budgets.keys where key.campaign == campaignID { budgets[key] = nil }
            out.append(.finishCampaign(campaignID: campaignID))
        }
        return out
    }

    static func best(_ records: [TuningRecord]) -> Double? { records.compactMap(\.okSeconds).min() }

    static func progress(_ a: ActiveJob, queued: Int, inFlight: Int, best: Double?) -> JobProgress {
        JobProgress(jobID: a.jobID, campaignID: a.campaignID, task: a.task, weight: a.weight, deviceClass: a.deviceClass,
                    budget: a.trials, generated: a.generated.count, measured: a.measured, queued: queued,
                    inFlight: inFlight, batchSize: a.batchSize, bestSeconds: best)
    }
}
