import TuneCore

/// The coordinator's decisions as a pure value: events (and the time) in, directives out.
/// No sockets, no clock, no database: every branch is testable with plain values.
public struct Dispatcher: Sendable {
    struct Agent: Sendable {
        var hello: AgentHello
        /// The device's fingerprint, computed once per session.
        var fingerprint: String
        var lastHeard: Double
        var batches: Set<UInt64> = []
    }
    struct Batch: Sendable {
        var agent: AgentKey
        var jobID: Int64
        var candidates: [Int64: Candidate]
        /// Sent and not yet answered.
        var outstanding: Set<Int64>
        /// Answered, not yet durably committed: requeued with the rest if the agent is lost.
        var uncommitted: Set<Int64> = []
        var baselineDevice: String?
    }
    /// A finished batch, remembered so that its agent's redelivery of an unacknowledged
    /// result is recognised (and acknowledged after the store finds it already there).
    struct Finished: Sendable {
        var instance: String
        var candidates: Set<Int64>
    }

    public let settings: DispatchSettings
    private(set) var agents: [AgentKey: Agent] = [:]
    private(set) var batches: [UInt64: Batch] = [:]
    private(set) var jobs: [Int64: JobQueue] = [:]
    private var lostAttempts: [Int64: Int] = [:]
    private var nextBatchID: UInt64
    private var lastHeartbeat = -Double.infinity
    /// Agents with a free slot: the only ones `assignWork` looks at, so an event costs the
    /// same with 1 or 256 busy agents.
    private var free: Set<AgentKey> = []
    private var finished: [UInt64: Finished] = [:]
    private var finishedOrder: [UInt64] = []
    /// Finished batches remembered for redeliveries.
    static let finishedMemory = 16_384

    /// `firstBatchID` should differ across coordinator restarts (e.g. derived from the wall
    /// clock), so a late result of an old batch is never taken for a new one.
    public init(settings: DispatchSettings, firstBatchID: UInt64) {
        self.settings = settings
        nextBatchID = max(1, firstBatchID)
    }

    public var agentCount: Int { agents.count }
    public func agentsSnapshot() -> [(key: AgentKey, hello: AgentHello, busy: Int)] {
        agents.map { ($0.key, $0.value.hello, busySlots($0.value)) }.sorted { $0.hello.name < $1.hello.name }
    }
    public func pendingCount(jobID: Int64) -> Int { jobs[jobID]?.pending.count ?? 0 }
    /// Candidates in flight per job, in one pass over the batches.
    public func inFlightCounts() -> [Int64: Int] {
        var out: [Int64: Int] = [:]
        for b in batches.values { out[b.jobID, default: 0] += b.outstanding.count }
        return out
    }
    /// A profile of a connected agent of the class (the first by name): spaces are built for
    /// real devices. Kept up to date as agents come and go.
    public func profile(for deviceClass: DeviceClass) -> DeviceProfile? { profiles[deviceClass] }
    private var profiles: [DeviceClass: DeviceProfile] = [:]
    /// Slots of the connected agents per class.
    public private(set) var slots: [DeviceClass: Int] = [:]

    private mutating func refreshProfiles() {
        profiles = [:]
        slots = [:]
        var names: [DeviceClass: String] = [:]
        for a in agents.values {
            let dc = a.hello.profile.deviceClass
            slots[dc, default: 0] += a.hello.slots
            if names[dc].map({ a.hello.name < $0 }) ?? true { names[dc] = a.hello.name; profiles[dc] = a.hello.profile }
        }
    }

    /// Whether the agent has a free slot, after anything about its batches changed.
    private mutating func refreshFree(_ key: AgentKey) {
        if let a = agents[key], busySlots(a) < a.hello.slots { free.insert(key) } else { free.remove(key) }
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
        case .goodbye(let key, let reason):
            out += onGoodbye(key, reason: reason)
        case .committed(let done):
            for (batchID, candidateID) in done where batches[batchID] != nil {
                batches[batchID]!.uncommitted.remove(candidateID)
                finishIfDone(batchID)
            }
        case .resultRefused(let key, let batchID, let candidateID):
            // Content that cannot be stored: the agent drops it; the candidate is measured again.
            if let b = batches[batchID], b.agent == key, b.candidates[candidateID] != nil {
                batches[batchID]!.outstanding.remove(candidateID)
                batches[batchID]!.uncommitted.remove(candidateID)
                if let c = b.candidates[candidateID] { jobs[b.jobID]?.pending.insert(c, at: 0) }
                finishIfDone(batchID)
                refreshFree(key)
            }
        case .tick:
            out += onTick(now: now)
        case .jobAdded(let job):
            jobs[job.jobID] = job
            for (id, n) in job.lostAttempts { lostAttempts[id] = n }
        case .candidatesAdded(let jobID, let cands):
            jobs[jobID]?.pending.append(contentsOf: cands)
        case .jobRemoved(let jobID):
            jobs[jobID] = nil
        case .jobCancelled(let jobID):
            jobs[jobID] = nil
            out += callBack(jobID: jobID)
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
        agents[key] = Agent(hello: hello, fingerprint: hello.profile.fingerprint, lastHeard: now, batches: carried)
        free = free.filter { agents[$0] != nil }
        refreshFree(key)
        refreshProfiles()
        out.append(.welcome(key))
        if carried.isEmpty { out.append(.agentJoined(key, hello)) }
        // What it carried goes again to the new connection: a batch sent while the agent was
        // reconnecting went to the identity it had just left and never arrived, and nothing
        // else would send it (the agent would idle while its slot counts as busy). An agent
        // that has the batch ignores the copy (`AgentSession` knows the batches it holds).
        for id in carried.sorted() {
            guard let b = batches[id], let job = jobs[b.jobID] else { continue }
            let left = b.candidates.values.filter { b.outstanding.contains($0.id) }.sorted { $0.id < $1.id }
            guard !left.isEmpty || b.baselineDevice != nil else { continue }
            var plan = job.plan
            plan.includeVendorBaseline = b.baselineDevice != nil
            out.append(.dispatch(key, DispatchedBatch(batchID: id, jobID: b.jobID, task: job.task, plan: plan, candidates: left)))
        }
        return out
    }

    /// A result is taken only from the session its batch was sent to (or, for a finished
    /// batch, the same agent instance redelivering), for a candidate of that batch; anything
    /// else is refused and stored nowhere.
    private mutating func onResult(_ key: AgentKey, _ batchID: UInt64, _ r: MeasureResult, now: Double) -> [Directive] {
        guard let agent = agents[key] else {
            return [.reject(key, .unknownSession, "unknown session: say hello")]
        }
        agents[key]!.lastHeard = now
        let device = agent.fingerprint
        if let b = batches[batchID], b.agent == key {
            if r.candidateID == vendorBaselineCandidateID {
                guard let dev = b.baselineDevice else { return [.acknowledge(key, batchID: batchID, candidateID: r.candidateID)] }
                batches[batchID]!.baselineDevice = nil
                finishIfDone(batchID)
                refreshFree(key)
                return [.commitBaseline(key, batchID: batchID, jobID: b.jobID, r, device: dev)]
            }
            guard b.candidates[r.candidateID] != nil else {
                return [.refuseResult(key, batchID: batchID, candidateID: r.candidateID, reason: "candidate \(r.candidateID) is not in batch \(batchID)")]
            }
            if batches[batchID]!.outstanding.remove(r.candidateID) != nil { batches[batchID]!.uncommitted.insert(r.candidateID) }
            lostAttempts[r.candidateID] = nil
            refreshFree(key)
            return [.commit(key, batchID: batchID, r, agent: agent.hello.name, device: device)]
        }
        if let f = finished[batchID], f.instance == agent.hello.instance {
            if r.candidateID == vendorBaselineCandidateID { return [.acknowledge(key, batchID: batchID, candidateID: r.candidateID)] }
            if f.candidates.contains(r.candidateID) {
                // A redelivery: the store keeps the first copy and this one is acknowledged.
                return [.commit(key, batchID: batchID, r, agent: agent.hello.name, device: device)]
            }
        }
        return [.refuseResult(key, batchID: batchID, candidateID: r.candidateID,
                              reason: "batch \(batchID) was not sent to this session\(batches[batchID] == nil ? "" : " (it belongs to another agent)")")]
    }

    /// An agent that stops on purpose: its unanswered candidates go back to the front of their
    /// queues at once, without counting as a lost attempt (nothing went wrong with them);
    /// answers still waiting for their commit keep their batch until committed.
    private mutating func onGoodbye(_ key: AgentKey, reason: String) -> [Directive] {
        guard let agent = agents.removeValue(forKey: key) else { return [] }
        free.remove(key)
        refreshProfiles()
        var requeued = 0
        for id in agent.batches.sorted() {
            guard var b = batches[id] else { continue }
            if let dev = b.baselineDevice { jobs[b.jobID]?.baselines.remove(dev); b.baselineDevice = nil }
            let back = b.outstanding.sorted().compactMap { b.candidates[$0] }
            b.outstanding = []
            requeued += back.count
            jobs[b.jobID]?.pending.insert(contentsOf: back, at: 0)
            batches[id] = b.uncommitted.isEmpty ? nil : b
        }
        return [.agentLeft(key, name: agent.hello.name, reason: reason, requeued: requeued)]
    }

    /// A cancelled job's batches in flight: forgotten here (their slots free at once, a late
    /// result for one is refused and stored nowhere) and called back from their agents.
    private mutating func callBack(jobID: Int64) -> [Directive] {
        var byAgent: [AgentKey: [UInt64]] = [:]
        for (id, b) in batches where b.jobID == jobID {
            byAgent[b.agent, default: []].append(id)
            batches[id] = nil
            agents[b.agent]?.batches.remove(id)
        }
        var out: [Directive] = []
        for (key, ids) in byAgent.sorted(by: { $0.key.description < $1.key.description }) {
            refreshFree(key)
            out.append(.cancelBatches(key, ids.sorted()))
        }
        return out
    }

    /// Batches the agent is still measuring (answered ones waiting for their commit do not
    /// hold a slot).
    func busySlots(_ agent: Agent) -> Int {
        agent.batches.reduce(0) { n, id in
            guard let b = batches[id] else { return n }
            return n + (b.outstanding.isEmpty && b.baselineDevice == nil ? 0 : 1)
        }
    }

    private mutating func finishIfDone(_ batchID: UInt64) {
        guard let b = batches[batchID], b.outstanding.isEmpty, b.uncommitted.isEmpty, b.baselineDevice == nil else { return }
        batches[batchID] = nil
        agents[b.agent]?.batches.remove(batchID)
        refreshFree(b.agent)
        if let instance = agents[b.agent]?.hello.instance {
            finished[batchID] = Finished(instance: instance, candidates: Set(b.candidates.keys))
            finishedOrder.append(batchID)
            if finishedOrder.count > Self.finishedMemory {
                let drop = finishedOrder.count - Self.finishedMemory
                for id in finishedOrder.prefix(drop) { finished[id] = nil }
                finishedOrder.removeFirst(drop)
            }
        }
    }

    private mutating func onTick(now: Double) -> [Directive] {
        var out: [Directive] = []
        let timeout = settings.heartbeatInterval * settings.agentTimeoutIntervals
        for (key, agent) in agents where now - agent.lastHeard > timeout {
            agents[key] = nil
            free.remove(key)
            refreshProfiles()
            var requeued = 0
            var givenUp: [Int64] = []
            var lost: [Int64] = []
            for id in agent.batches.sorted() {
                guard let b = batches.removeValue(forKey: id) else { continue }
                if let dev = b.baselineDevice { jobs[b.jobID]?.baselines.remove(dev) }
                var back: [Candidate] = []
                for cid in b.outstanding.union(b.uncommitted).sorted() {
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
        guard !free.isEmpty, jobs.values.contains(where: { !$0.pending.isEmpty }) else { return out }
        let order = jobs.values.sorted { ($0.priority, -$0.jobID) > ($1.priority, -$1.jobID) }.map(\.jobID)
        let keys = free.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) })
        // Agents of each class still to be served in this pass: a job with fewer candidates
        // than they could take is shared out instead of going whole to the first of them.
        var waiting: [DeviceClass: Int] = [:]
        for k in keys { if let a = agents[k] { waiting[a.hello.profile.deviceClass, default: 0] += 1 } }
        for key in keys {
            let served = agents[key]?.hello.profile.deviceClass
            defer {
                if let served { waiting[served, default: 1] -= 1 }
                refreshFree(key)
            }
            while let agent = agents[key], busySlots(agent) < agent.hello.slots {
                let dc = agent.hello.profile.deviceClass
                let fingerprint = agent.fingerprint
                guard let jobID = order.first(where: { id in
                    guard let j = jobs[id], j.deviceClass == dc else { return false }
                    return !j.pending.isEmpty
                }) else { break }
                var job = jobs[jobID]!
                let share = (job.pending.count + max(1, waiting[dc] ?? 1) - 1) / max(1, waiting[dc] ?? 1)
                let take = Array(job.pending.prefix(min(max(1, job.batchSize), max(1, share))))
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
