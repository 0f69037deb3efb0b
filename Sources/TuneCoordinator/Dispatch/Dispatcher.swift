import TuneCore

/// The coordinator's decisions as a pure value: events (and the time) in, directives out.
/// No sockets, no clock, no database: every branch is testable with plain values.
public struct Dispatcher: Sendable {
    struct Agent: Sendable {
        var hello: AgentHello
        var lastHeard: Double
        var batches: Set<UInt64> = []
    }
    struct Batch: Sendable {
        var agent: AgentKey
        var jobID: Int64
        var candidates: [Int64: Candidate]
        var outstanding: Set<Int64>
        var baselineDevice: String?
    }

    public let settings: DispatchSettings
    private(set) var agents: [AgentKey: Agent] = [:]
    private(set) var batches: [UInt64: Batch] = [:]
    private(set) var jobs: [Int64: JobQueue] = [:]
    private var lostAttempts: [Int64: Int] = [:]
    private var nextBatchID: UInt64
    private var lastHeartbeat = -Double.infinity

    /// `firstBatchID` should differ across coordinator restarts (e.g. derived from the wall
    /// clock), so a late result of an old batch is never taken for a new one.
    public init(settings: DispatchSettings, firstBatchID: UInt64) {
        self.settings = settings
        nextBatchID = max(1, firstBatchID)
    }

    public var agentCount: Int { agents.count }
    public func agentsSnapshot() -> [(key: AgentKey, hello: AgentHello, busy: Int)] {
        agents.map { ($0.key, $0.value.hello, $0.value.batches.count) }.sorted { $0.hello.name < $1.hello.name }
    }
    public func pendingCount(jobID: Int64) -> Int { jobs[jobID]?.pending.count ?? 0 }
    public func inFlightCount(jobID: Int64) -> Int {
        batches.values.filter { $0.jobID == jobID }.reduce(0) { $0 + $1.outstanding.count }
    }
    /// A profile of a connected agent of the class: spaces are built for real devices.
    public func profile(for deviceClass: DeviceClass) -> DeviceProfile? {
        agents.values.map(\.hello).sorted { $0.name < $1.name }.first { $0.profile.deviceClass == deviceClass }?.profile
    }

    public mutating func handle(_ event: DispatchEvent, now: Double) -> [Directive] {
        var out: [Directive] = []
        switch event {
        case .hello(let key, let hello):
            out += onHello(key, hello, now: now)
        case .heard(let key):
            if agents[key] != nil { agents[key]!.lastHeard = now } else {
                out.append(.reject(key, .unknownSession, "unknown session: say hello"))
            }
        case .result(let key, let batchID, let result):
            out += onResult(key, batchID, result, now: now)
        case .tick:
            out += onTick(now: now)
        case .jobAdded(let job):
            jobs[job.jobID] = job
            for (id, n) in job.lostAttempts { lostAttempts[id] = n }
        case .candidatesAdded(let jobID, let cands):
            jobs[jobID]?.pending.append(contentsOf: cands)
        case .jobRemoved(let jobID):
            jobs[jobID] = nil
        case .prioritySet(let jobID, let priority):
            jobs[jobID]?.priority = priority
        }
        out += assignWork()
        return out
    }

    private mutating func onHello(_ key: AgentKey, _ hello: AgentHello, now: Double) -> [Directive] {
        var out: [Directive] = []
        guard hello.slots >= 1, hello.slots <= 64 else {
            return [.reject(key, .malformed, "slots must be 1...64, got \(hello.slots)")]
        }
        // The same agent process on a new connection keeps its batches: it is still measuring them.
        var carried: Set<UInt64> = []
        for (oldKey, old) in agents where oldKey != key && old.hello.instance == hello.instance {
            carried.formUnion(old.batches)
            agents[oldKey] = nil
        }
        if let existing = agents[key] { carried.formUnion(existing.batches) }
        for b in carried { batches[b]?.agent = key }
        agents[key] = Agent(hello: hello, lastHeard: now, batches: carried)
        out.append(.welcome(key))
        if carried.isEmpty { out.append(.agentJoined(key, hello)) }
        return out
    }

    private mutating func onResult(_ key: AgentKey, _ batchID: UInt64, _ r: MeasureResult, now: Double) -> [Directive] {
        guard let agent = agents[key] else {
            return [.reject(key, .unknownSession, "unknown session: say hello")]
        }
        agents[key]!.lastHeard = now
        let device = agent.hello.profile.fingerprint
        var out: [Directive] = []
        if r.candidateID == vendorBaselineCandidateID {
            if let b = batches[batchID], let dev = b.baselineDevice {
                batches[batchID]!.baselineDevice = nil
                out.append(.commitBaseline(key, batchID: batchID, jobID: b.jobID, r, device: dev))
                finishIfDone(batchID)
            } else {
                out.append(.acknowledge(key, batchID: batchID, candidateID: r.candidateID))
            }
            return out
        }
        // Wherever this candidate still waits, it is done now.
        if batches[batchID]?.outstanding.remove(r.candidateID) != nil { finishIfDone(batchID) }
        for id in jobs.keys { jobs[id]!.pending.removeAll { $0.id == r.candidateID } }
        lostAttempts[r.candidateID] = nil
        out.append(.commit(key, batchID: batchID, r, agent: agent.hello.name, device: device))
        return out
    }

    private mutating func finishIfDone(_ batchID: UInt64) {
        guard let b = batches[batchID], b.outstanding.isEmpty, b.baselineDevice == nil else { return }
        batches[batchID] = nil
        agents[b.agent]?.batches.remove(batchID)
    }

    private mutating func onTick(now: Double) -> [Directive] {
        var out: [Directive] = []
        let timeout = settings.heartbeatInterval * settings.agentTimeoutIntervals
        for (key, agent) in agents where now - agent.lastHeard > timeout {
            agents[key] = nil
            var requeued = 0
            var givenUp: [Int64] = []
            var lost: [Int64] = []
            for id in agent.batches.sorted() {
                guard let b = batches.removeValue(forKey: id) else { continue }
                if let dev = b.baselineDevice { jobs[b.jobID]?.baselines.remove(dev) }
                var back: [Candidate] = []
                for cid in b.outstanding.sorted() {
                    let n = (lostAttempts[cid] ?? 0) + 1
                    lostAttempts[cid] = n
                    lost.append(cid)
                    if n >= settings.maxLostAttempts { givenUp.append(cid) } else if let c = b.candidates[cid] { back.append(c) }
                }
                requeued += back.count
                jobs[b.jobID]?.pending.insert(contentsOf: back, at: 0)
            }
            out.append(.agentLost(key, name: agent.hello.name, deviceClass: agent.hello.profile.deviceClass, requeued: requeued))
            if !lost.isEmpty { out.append(.attemptsLost(candidateIDs: lost)) }
            if !givenUp.isEmpty { out.append(.giveUp(candidateIDs: givenUp)) }
        }
        if now - lastHeartbeat >= settings.heartbeatInterval {
            lastHeartbeat = now
            for key in agents.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) { out.append(.heartbeat(key)) }
        }
        return out
    }

    /// Fills free slots: each agent gets work of its device class, heaviest job first.
    private mutating func assignWork() -> [Directive] {
        var out: [Directive] = []
        let order = jobs.values.sorted { ($0.priority, -$0.jobID) > ($1.priority, -$1.jobID) }.map(\.jobID)
        for key in agents.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            while let agent = agents[key], agent.batches.count < agent.hello.slots {
                let dc = agent.hello.profile.deviceClass
                let fingerprint = agent.hello.profile.fingerprint
                guard let jobID = order.first(where: { id in
                    guard let j = jobs[id], j.deviceClass == dc else { return false }
                    return !j.pending.isEmpty
                }) else { break }
                var job = jobs[jobID]!
                let take = Array(job.pending.prefix(max(1, job.batchSize)))
                job.pending.removeFirst(take.count)
                var plan = job.plan
                plan.includeVendorBaseline = !job.baselines.contains(fingerprint)
                if plan.includeVendorBaseline { job.baselines.insert(fingerprint) }
                jobs[jobID] = job
                let id = nextBatchID
                nextBatchID += 1
                batches[id] = Batch(agent: key, jobID: jobID, candidates: Dictionary(uniqueKeysWithValues: take.map { ($0.id, $0) }),
                                    outstanding: Set(take.map(\.id)), baselineDevice: plan.includeVendorBaseline ? fingerprint : nil)
                agents[key]!.batches.insert(id)
                out.append(.dispatch(key, DispatchedBatch(batchID: id, jobID: jobID, task: job.task, plan: plan, candidates: take)))
            }
        }
        return out
    }
}
