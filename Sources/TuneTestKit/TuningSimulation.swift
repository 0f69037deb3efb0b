import TuneCoordinator
import TuneCore
import TuneStore

/// A coordinator without sockets or a clock: the real `TuningLoop` and `Dispatcher`, a real
/// store in memory, and agents answered by a `ReplayFleet`. Searches and schedulers run
/// against recorded measurements in milliseconds and deterministically, in the manner of
/// Kernel Tuner's simulation runner.
public struct TuningSimulation {
    public private(set) var loop: TuningLoop
    public private(set) var dispatcher: Dispatcher
    public let store: Store
    public let fleet: ReplayFleet
    /// Every batch dispatched, in order.
    public private(set) var dispatched: [DispatchedBatch] = []
    /// Every record committed, in order.
    public private(set) var committed: [TuningRecord] = []
    /// Every proposal persisted, in order.
    public private(set) var proposals: [(jobID: Int64, proposed: ProposedSchedule)] = []
    public private(set) var trainRequests: [DeviceClass] = []
    public private(set) var finishedCampaigns: [Int64] = []
    /// With `settings.proposeOffPath`: steps a proposal takes to come back, as a slow model
    /// on the coordinator's worker would; results keep being committed meanwhile.
    public var proposalDelay = 0
    /// Every off-path proposal asked for: its job and how many of the job's records were
    /// committed when it was asked.
    public private(set) var proposalRequests: [(jobID: Int64, committedBefore: Int)] = []
    private var proposing: [(due: Int, request: TuningLoop.ProposalRequest)] = []
    private var steps = 0
    private var now = 0.0
    private var pendingResults: [(AgentKey, UInt64, MeasureResult)] = []
    let agent = AgentKey(Array("replay-agent".utf8))
    let profile: DeviceProfile

    /// `settings.space` is replaced by the fleet's replay spaces.
    public init(fleet: ReplayFleet, device: DeviceProfile, settings: TuningLoop.Settings = .init(), slots: Int = 2) throws {
        self.fleet = fleet
        profile = device
        var s = settings
        s.space = { task, _, _ in fleet.space(for: task) }
        loop = TuningLoop(settings: s)
        dispatcher = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        store = try Store.inMemory()
        let hello = AgentHello(name: "replay", instance: "replay-1", profile: device, slots: slots)
        _ = dispatcher.handle(.hello(agent, hello), now: now)
    }

    /// A campaign over `tasks` of the recording (all of them by default) on the device's class.
    public mutating func launch(tasks: [WeightedTask]? = nil, trialsPerTask: Int, batchSize: Int = 4, seed: UInt64 = 1,
                                search: SearchChoice = .random, scheduler: SchedulerChoice = .roundRobin,
                                budget: Int? = nil) throws -> Int64 {
        let ts = tasks ?? fleet.recording.tasks.map { WeightedTask($0, weight: 1) }
        let id = try store.createCampaign(workload: Workload(name: "replay", tasks: ts), trialsPerTask: budget ?? trialsPerTask,
                                          deviceClasses: [profile.deviceClass], plan: MeasurePlan(), batchSize: batchSize,
                                          seed: seed, search: search, scheduler: scheduler, budget: budget)
        try adopt(try store.activeJobs().filter { $0.campaignID == id })
        return id
    }

    /// As a restarted coordinator: a fresh loop and dispatcher resume from the store.
    public mutating func restart() throws {
        loop = TuningLoop(settings: loop.settings)
        proposing = []
        dispatcher = Dispatcher(settings: DispatchSettings(), firstBatchID: UInt64(dispatched.count + 1) << 20)
        pendingResults = []
        _ = dispatcher.handle(.hello(agent, AgentHello(name: "replay", instance: "replay-\(now)", profile: profile, slots: 2)), now: now)
        try adopt(try store.activeJobs())
    }

    private mutating func adopt(_ jobs: [ActiveJob]) throws {
        let history = try store.histories(jobIDs: jobs.map(\.jobID))
        try tune(.adopted(jobs, history: history))
    }

    public mutating func tellModel(_ model: any CostModel) throws { try tune(.modelReady(profile.deviceClass, model)) }

    /// Runs until every campaign finished or `maxSteps` steps passed; returns whether all finished.
    @discardableResult
    public mutating func run(maxSteps: Int = 100_000, stopAfterResults: Int? = nil) throws -> Bool {
        for _ in 0..<maxSteps {
            if loop.jobIDs.isEmpty { return true }
            if let stop = stopAfterResults, committed.count >= stop { return false }
            now += 0.01
            steps += 1
            let due = proposing.filter { $0.due <= steps }
            proposing.removeAll { $0.due <= steps }
            for p in due {
                let (proposed, strategy) = p.request.run()
                try tune(.proposed(p.request, proposed, strategy: strategy))
            }
            try step(.tick)
            var q = TuningLoop.Queues(profiles: [profile.deviceClass: profile])
            let inFlight = dispatcher.inFlightCounts()
            for id in loop.jobIDs {
                q.queued[id] = dispatcher.pendingCount(jobID: id)
                q.inFlight[id] = inFlight[id] ?? 0
            }
            try tune(.tick(q))
            // The agent answers what it was sent, one result at a time.
            let results = pendingResults
            pendingResults = []
            for (key, batch, r) in results { try step(.result(key, batchID: batch, r)) }
        }
        return loop.jobIDs.isEmpty
    }

    private mutating func step(_ event: DispatchEvent) throws {
        for d in dispatcher.handle(event, now: now) {
            switch d {
            case .dispatch(let key, let batch):
                dispatched.append(batch)
                for c in batch.candidates { pendingResults.append((key, batch.batchID, fleet.measure(task: batch.task, candidate: c))) }
                if batch.plan.includeVendorBaseline {
                    pendingResults.append((key, batch.batchID, MeasureResult(candidateID: vendorBaselineCandidateID, status: .runtimeError,
                                                                             errorText: "no vendor library in a replay")))
                }
            case .commit(_, let batchID, let r, let agent, let device):
                let records = try store.commitAll([ResultToCommit(r, agent: agent, device: device)])
                try step(.committed([(batchID: batchID, candidateID: r.candidateID)]))
                for record in records {
                    guard let record else { continue }
                    committed.append(record)
                    try tune(.committed(record))
                }
            case .commitBaseline(_, _, let jobID, let r, let device):
                _ = try store.commitBaseline(r, jobID: jobID, device: device, library: "replay")
            default:
                break
            }
        }
    }

    private mutating func tune(_ event: TuningLoop.Event) throws {
        for d in loop.handle(event) {
            switch d {
            case .addJob(let q): try step(.jobAdded(q))
            case .persistCandidates(let jobID, let proposed):
                for p in proposed { proposals.append((jobID, p)) }
                try step(.candidatesAdded(jobID: jobID, try store.insertCandidates(jobID: jobID, proposed)))
            case .setPriority(let jobID, let p): try step(.prioritySet(jobID: jobID, p))
            case .train(let dc, _): trainRequests.append(dc)
            case .finishJob(let jobID):
                try step(.jobRemoved(jobID: jobID))
                try store.completeJob(jobID)
            case .finishCampaign(let id):
                finishedCampaigns.append(id)
                try store.setCampaignState(id, .completed)
            case .dropJob(let jobID): try step(.jobCancelled(jobID: jobID))
            case .noTemplate: break
            case .propose(let request):
                proposalRequests.append((request.jobID, committed.filter { $0.jobID == request.jobID }.count))
                if proposalDelay > 0 {
                    proposing.append((steps + proposalDelay, request))
                } else {
                    let (proposed, strategy) = request.run()
                    try tune(.proposed(request, proposed, strategy: strategy))
                }
            }
        }
    }
}
