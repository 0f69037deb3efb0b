import Foundation
import Logging
import Synchronization
import TuneCore
import TuneSearch
import TuneStore
import TuneSystem
import TuneTransport
import TuneWire

public struct CoordinatorError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// The coordinator's I/O shell: one loop owns both sockets, feeds events to the pure
/// `Dispatcher`, and carries out its directives (send, commit-then-acknowledge).
public final class Coordinator {
    let settings: CoordinatorSettings
    let store: Store
    var logger: Logger
    private let context = ZMQContext()
    private var agentSocket: ZMQSocket?
    private var controlSocket: ZMQSocket?
    /// The CURVE allow-list check, once bound with keys (its list can be replaced while running).
    public private(set) var authenticator: ZAPAuthenticator?
    var controlSocketForControl: ZMQSocket? { controlSocket }
    var dispatcher: Dispatcher
    var tuning: TuningLoop
    /// Commits decided during one drain of the agent socket: stored in one transaction,
    /// then acknowledged (never the other way round).
    private var pendingCommits: [(key: AgentKey?, batchID: UInt64, commit: ResultToCommit)] = []
    /// Results the store refused (a full disk, an I/O error): kept here, unacknowledged, and
    /// committed again every second until it takes them, so nothing is lost and nothing waits
    /// for an agent to reconnect. `storageProblem` is what status shows meanwhile.
    private var failedCommits: [(key: AgentKey?, batchID: UInt64, commit: ResultToCommit)] = []
    private var nextStorageAttempt = 0.0
    private(set) var storageProblem: String?
    var resultsWaitingForStorage: Int { failedCommits.count }
    /// Tuning curves of the campaigns status lists, folded incrementally.
    var campaignCurves: [Int64: CampaignCurves] = [:]
    /// Proposals (model scoring) off the loop's thread.
    let proposals = ProposalWorker()
    /// The hello being decided: stored when (and only when) the dispatcher welcomes it.
    private var helloing: [AgentKey: AgentHello] = [:]
    let training: BackgroundTraining
    /// The model in use per device class (what status shows).
    var models: [DeviceClass: DeployedModel] = [:]
    let trainer: (any ModelTrainer)?
    var recentlyLost: [(name: String, deviceClass: DeviceClass, at: Double)] = []
    var commitTimes: [Double] = []
    var resultsTotal = 0
    let startedAt = Monotonic.now()
    /// Typed events for operators' tools, beside the log (coordd --events).
    public var events: EventLog?

    public init(settings: CoordinatorSettings, store: Store, logger: Logger, trainer: (any ModelTrainer)? = nil) {
        self.settings = settings
        self.store = store
        self.logger = logger
        var tuningSettings = settings.tuning
        tuningSettings.proposeOffPath = settings.proposalsOffPath
        tuning = TuningLoop(settings: tuningSettings)
        training = BackgroundTraining(trainer: trainer, database: store)
        self.trainer = trainer
        // Batch ids differ across restarts, so a late result of an old batch is never taken
        // for a batch of this run.
        let first = UInt64(Date().timeIntervalSince1970 * 1000) << 8
        dispatcher = Dispatcher(settings: settings.dispatch, firstBatchID: first)
    }

    /// Binds both sockets and returns the resolved endpoints (port 0 / `*` becomes real).
    @discardableResult
    public func bind() throws -> (agent: String, control: String) {
        if let curve = settings.curve, authenticator == nil {
            // The handler must be listening before a CURVE socket takes its first handshake.
            let log = logger
            let events = events
            // A refused peer retries every second: say so once per key, then only at debug level.
            let refused = Mutex(Set<String>())
            authenticator = try ZAPAuthenticator(context: context, allow: curve.allow) { d in
                if d.allowed {
                    log.debug("admitted key \(d.name ?? "?") from \(d.address)")
                    return
                }
                let who = d.publicKey.isEmpty ? "a connection without CURVE keys"
                    : d.name.map { "key '\(logSafe($0))' (\(d.reason ?? "refused"))" } ?? "unknown key \(d.publicKey)"
                // Bounded: a stranger cycling keys cannot grow it without limit.
                if refused.withLock({ $0.count < 1024 && $0.insert(d.publicKey).inserted }) {
                    log.warning("refused \(who) from \(d.address) (\(d.reason ?? "not on the allow-list"); later attempts logged at debug level)")
                    events?.emit(.keyRefused(key: d.publicKey, address: d.address))
                } else {
                    log.debug("refused \(who) from \(d.address)")
                }
            }
        }
        let a = try ZMQSocket(context, .router)
        try a.setRouterMandatory(true)
        try a.setMaxMessageSize(Int64(WireLimits.standard.maxMessageBytes * 2))
        try secure(a, role: .agent)
        let agentEndpoint = try a.bind(settings.agentEndpoint)
        let c = try ZMQSocket(context, .router)
        try c.setMaxMessageSize(Int64(WireLimits.standard.maxMessageBytes * 2))
        try secure(c, role: .operator)
        let controlEndpoint = try c.bind(settings.controlEndpoint)
        agentSocket = a
        controlSocket = c
        return (agentEndpoint, controlEndpoint)
    }

    /// Makes `socket` a CURVE server checked by the allow-list, when keys are configured.
    private func secure(_ socket: ZMQSocket, role: AllowList.Role) throws {
        guard let curve = settings.curve else { return }
        // Without a ZAP handler libzmq's CURVE server admits any key: never bind without one.
        guard authenticator != nil else { throw CoordinatorError("CURVE without the allow-list handler") }
        try socket.makeCurveServer(secretKey: curve.keys.secretKey)
        // The domain tells the handler which socket a handshake is for, so a key's role holds.
        try socket.setZAPDomain(role.domain)
    }

    /// Resumes unfinished campaigns from the database, then serves until `stop` is set.
    public func run(stop: StopSignal) throws {
        if agentSocket == nil { try bind() }
        // The newest usable model of each class, so a restart searches as well as before it.
        if let trainer {
            for dc in DeviceClass.allCases {
                do {
                    if let d = try trainer.restore(deviceClass: dc, database: store) {
                        models[dc] = d
                        tune(.modelReady(dc, d.model))
                        logger.info("using \(dc.rawValue) model\(d.model.version.map { " version \($0.id)" } ?? "") (\(d.records) records)")
                    }
                } catch {
                    logger.warning("no stored \(dc.rawValue) model can be used: \(error)")
                }
            }
        }
        let resumed = try store.activeJobs()
        try adopt(resumed)
        if !resumed.isEmpty {
            logger.info("resumed \(resumed.count) unfinished jobs (\(resumed.reduce(0) { $0 + $1.pending.count }) candidates pending)")
        }
        let sockets = [agentSocket!, controlSocket!]
        // Sockets close before the allow-list handler stops, on every way out.
        defer {
            agentSocket?.close()
            controlSocket?.close()
            authenticator?.stop()
        }
        while !stop.isSet {
            // While a proposal is being computed, look back soon: its candidates are work for idle agents.
            let ready = try ZMQPoller.pollInput(sockets, timeout: proposals.busy ? 0.002 : 0.05)
            if ready[0] { try drainAgents() }
            flushCommits()
            if ready[1] { try drainControl() }
            step(.tick)
            flushCommits()
            for (dc, d) in training.finished(logger: logger) {
                models[dc] = d
                tune(.modelReady(dc, d.model))
            }
            for a in proposals.finished() {
                if a.seconds > 1 { logger.info("proposing \(a.request.count) candidates for job \(a.request.jobID) took \(String(format: "%.1f", a.seconds)) s (off the dispatch path)") }
                tune(.proposed(a.request, a.proposals, strategy: a.strategy))
            }
            if mayPropose { tune(.tick(queues())) }
        }
    }

    func step(_ event: DispatchEvent) {
        for d in dispatcher.handle(event, now: Monotonic.now()) { carryOut(d) }
    }

    func tune(_ event: TuningLoop.Event) {
        for d in tuning.handle(event) { carryOut(d) }
    }

    /// Hands jobs from the database (with their histories) to the tuning loop.
    func adopt(_ jobs: [ActiveJob]) throws {
        let history = try store.histories(jobIDs: jobs.map(\.jobID))
        // Transfer-tuning: a guided job with nothing measured starts from the best schedules
        // of tasks of its operator on every device of its class, in this database and shipped.
        let fresh = jobs.filter { $0.search == .evolutionary && (history[$0.jobID] ?? []).isEmpty }
        var related: [Int64: [TransferSource]] = [:]
        if !fresh.isEmpty {
            let profiles = try store.deviceProfiles()
            for dc in Set(fresh.map(\.deviceClass)) {
                let ops = Set(fresh.filter { $0.deviceClass == dc }.map(\.task.op))
                let records = try store.records(RecordQuery(deviceClass: dc)).records.filter { ops.contains($0.task.op) }
                let sources = TransferTuning.sources(records, profiles: profiles)
                    + settings.knownSchedules.filter { $0.record.deviceClass == dc && ops.contains($0.record.task.op) }
                for j in fresh where j.deviceClass == dc { related[j.jobID] = sources.filter { $0.record.task.op == j.task.op } }
            }
        }
        tune(.adopted(jobs, history: history, related: related))
    }

    private func queues() -> TuningLoop.Queues {
        var q = TuningLoop.Queues(now: Date().timeIntervalSince1970)
        let inFlight = dispatcher.inFlightCounts()
        for id in tuning.jobIDs {
            q.queued[id] = dispatcher.pendingCount(jobID: id)
            q.inFlight[id] = inFlight[id] ?? 0
        }
        for dc in DeviceClass.allCases { q.profiles[dc] = dispatcher.profile(for: dc) }
        q.slots = dispatcher.slots
        return q
    }

    // MARK: Agents

    private func drainAgents() throws {
        guard let socket = agentSocket else { return }
        while let frames = try socket.receive(wait: false) {
            guard frames.count == 2 else {
                logger.warning("dropping a message with \(frames.count) frames from an agent (expected identity + one frame)")
                continue
            }
            let key = AgentKey(frames[0])
            let body: Body
            do { body = try Wire.decode(frames[1]) } catch {
                logger.warning("rejected a message from \(key): \(logSafe("\(error)"))")
                events?.emit(.messageRejected(peer: key.description, reason: "\(error)"))
                if case .badVersion = error {
                    sendReject(key, .badVersion, error.description)
                } else if case .measureResult(let r)? = Wire.decodeForRefusal(frames[1]) {
                    // A result with content out of bounds: name it, so its agent forgets it,
                    // and have the candidate measured again.
                    events?.emit(.resultRefused(peer: key.description, batchID: r.batchID, candidateID: r.candidateID, reason: "\(error)"))
                    sendReject(key, .malformed, error.description, batchID: r.batchID, candidateID: r.candidateID)
                    step(.resultRefused(key, batchID: r.batchID, candidateID: r.candidateID))
                } else {
                    sendReject(key, .malformed, error.description)
                }
                continue
            }
            switch body {
            case .hello(let h):
                do {
                    let profile = try DeviceProfile(wire: h.device)
                    let hello = AgentHello(name: h.agentName.isEmpty ? key.description : h.agentName,
                                           instance: h.instanceID.isEmpty ? key.description : h.instanceID,
                                           profile: profile, slots: Int(h.slots))
                    // Stored only once welcomed: nothing of a refused peer reaches the database.
                    helloing[key] = hello
                    step(.hello(key, hello))
                    helloing[key] = nil
                } catch {
                    logger.warning("rejected hello from \(key): \(logSafe("\(error)"))")
                    events?.emit(.helloRefused(peer: key.description, reason: "\(error)"))
                    sendReject(key, .malformed, "bad hello: \(error)")
                }
            case .heartbeat:
                step(.heard(key))
            case .goodbye(let g):
                step(.goodbye(key, reason: g.reason))
            case .measureResult(let r):
                do {
                    step(.result(key, batchID: r.batchID, try MeasureResult(wire: r)))
                } catch {
                    logger.warning("rejected a result from \(key) (batch \(r.batchID), candidate \(r.candidateID)): \(logSafe("\(error)"))")
                    events?.emit(.resultRefused(peer: key.description, batchID: r.batchID, candidateID: r.candidateID, reason: "\(error)"))
                    sendReject(key, .malformed, "bad result: \(error)", batchID: r.batchID, candidateID: r.candidateID)
                    step(.resultRefused(key, batchID: r.batchID, candidateID: r.candidateID))
                }
            default:
                logger.warning("rejected an unexpected message from \(key)")
                sendReject(key, .malformed, "unexpected message on the agent socket")
            }
        }
    }

    private func send(_ key: AgentKey, _ body: Body) {
        do { try agentSocket?.send([key.bytes, Wire.encode(body)], wait: false) } catch {
            logger.debug("send to \(key) failed: \(error)")
        }
    }

    private func sendReject(_ key: AgentKey, _ code: Tunefleet_V1_RejectCode, _ reason: String, batchID: UInt64 = 0, candidateID: Int64 = 0) {
        var r = Tunefleet_V1_Reject()
        r.code = code
        r.reason = String(reason.prefix(4096))
        r.batchID = batchID
        r.candidateID = candidateID
        r.supportedVersion = protocolVersion
        send(key, .reject(r))
    }

    private func acknowledge(_ key: AgentKey, batchID: UInt64, candidateID: Int64) {
        var a = Tunefleet_V1_ResultAck()
        a.batchID = batchID
        a.candidateID = candidateID
        send(key, .resultAck(a))
    }

    private func carryOut(_ d: Directive) {
        switch d {
        case .welcome(let key):
            if let hello = helloing[key] {
                try? store.recordDevice(hello.profile)
                try? store.recordAgent(instance: hello.instance, name: hello.name, device: hello.profile.fingerprint)
            }
            var w = Tunefleet_V1_Welcome()
            w.coordinatorID = settings.coordinatorID
            w.heartbeatIntervalMs = UInt32(settings.dispatch.heartbeatInterval * 1000)
            send(key, .welcome(w))
        case .reject(let key, let code, let reason):
            sendReject(key, code, reason)
        case .heartbeat(let key):
            send(key, .heartbeat(Tunefleet_V1_Heartbeat()))
        case .cancelBatches(let key, let ids):
            var c = Tunefleet_V1_CancelBatches()
            c.batchIds = ids
            c.reason = "campaign cancelled"
            logger.info("calling back \(ids.count) batch(es) of a cancelled campaign from \(key)")
            send(key, .cancelBatches(c))
        case .dispatch(let key, let batch):
            var b = Tunefleet_V1_MeasureBatch()
            b.batchID = batch.batchID
            b.task = batch.task.wire
            b.plan = batch.plan.wire
            b.candidates = batch.candidates.map { c in
                var w = Tunefleet_V1_Candidate(); w.id = c.id; w.schedule = c.schedule.wire; return w
            }
            logger.debug("batch \(batch.batchID) of \(batch.candidates.count) to \(key)", metadata: ["task": "\(batch.task.name)"])
            send(key, .measureBatch(b))
        case .commit(let key, let batchID, let result, let agent, let device):
            pendingCommits.append((key, batchID, ResultToCommit(result, agent: agent, device: device)))
        case .commitBaseline(let key, let batchID, let jobID, let result, let device):
            do {
                _ = try store.commitBaseline(result, jobID: jobID, device: device, library: result.detail["library"] ?? "vendor")
                acknowledge(key, batchID: batchID, candidateID: result.candidateID)
            } catch {
                logger.error("baseline commit failed: \(error)")
            }
        case .acknowledge(let key, let batchID, let candidateID):
            acknowledge(key, batchID: batchID, candidateID: candidateID)
        case .refuseResult(let key, let batchID, let candidateID, let reason):
            logger.warning("refused a result from \(key) (batch \(batchID), candidate \(candidateID)): \(reason)")
            events?.emit(.resultRefused(peer: key.description, batchID: batchID, candidateID: candidateID, reason: reason))
            sendReject(key, .notYours, reason, batchID: batchID, candidateID: candidateID)
        case .agentLeft(_, let name, let reason, let requeued):
            logger.info("agent \(logSafe(name)) left (\(logSafe(reason))); \(requeued) candidates requeued")
        case .agentLost(_, let name, let deviceClass, let requeued):
            logger.warning("agent \(logSafe(name)) lost; \(requeued) candidates requeued")
            recentlyLost.append((name, deviceClass, Monotonic.now()))
            pruneLost()
        case .attemptsLost(let ids):
            do { _ = try store.recordLostAttempt(candidateIDs: ids) } catch {
                logger.error("cannot record lost attempts: \(error)")
            }
        case .giveUp(let ids):
            for id in ids {
                let r = MeasureResult(candidateID: id, status: .agentLost,
                                      errorText: "lost with its agent \(settings.dispatch.maxLostAttempts) times; not retried")
                pendingCommits.append((nil, 0, ResultToCommit(r, agent: "-", device: "-")))
            }
        case .agentJoined(let key, let hello):
            recentlyLost.removeAll { $0.name == hello.name }
            logger.info("agent \(logSafe(hello.name)) joined (\(hello.profile.deviceClass.rawValue): \(logSafe(hello.profile.model)), \(hello.slots) slots) from \(key)")
        }
    }

    /// Stores the results of one drain in one transaction, then acknowledges them and tells
    /// the tuning loop. A failed transaction acknowledges nothing: the agents keep their
    /// results and send them again; a redelivery stores nothing and is acknowledged again.
    private func flushCommits() {
        let now = Monotonic.now()
        let retrying = !failedCommits.isEmpty && now >= nextStorageAttempt
        guard !pendingCommits.isEmpty || retrying else { return }
        var batch = pendingCommits
        pendingCommits = []
        if retrying { batch = failedCommits + batch; failedCommits = [] }
        var done: [(commit: (key: AgentKey?, batchID: UInt64, commit: ResultToCommit), record: TuningRecord?)] = []
        var failure: String?
        do { done = zip(batch, try store.commitAll(batch.map(\.commit))).map { ($0, $1) } } catch {
            // One bad result must not hold back the others: each alone, and what still fails
            // waits here, unacknowledged, for the next retry: never in limbo.
            if storageProblem == nil { logger.error("commit of \(batch.count) results failed (\(error)); committing them one by one") }
            for c in batch {
                do {
                    let one = try store.commitAll([c.commit])
                    done.append((commit: c, record: one.first ?? nil))
                } catch {
                    failure = "\(error)"
                    failedCommits.append(c)
                }
            }
        }
        if let failure {
            storageFailed("cannot store results: \(failure)")
        } else {
            storageWorks()
        }
        for (c, record) in done {
            if let key = c.key { acknowledge(key, batchID: c.batchID, candidateID: c.commit.result.candidateID) }
            guard let record else { continue }
            noteCommitted()
            tune(.committed(record))
        }
        let confirmed = done.filter { $0.commit.key != nil }.map { (batchID: $0.commit.batchID, candidateID: $0.commit.commit.result.candidateID) }
        if !confirmed.isEmpty { step(.committed(confirmed)) }
    }

    /// The store refused a write: said once in the log (and in status until it works again);
    /// writes are tried again in a second, and no candidates are proposed meanwhile.
    private func storageFailed(_ problem: String) {
        nextStorageAttempt = Monotonic.now() + 1
        if storageProblem == nil {
            logger.error("\(problem); \(failedCommits.count) results wait here unacknowledged, committed again every second, and no candidates are proposed meanwhile (is the disk full?)")
        }
        storageProblem = problem
    }

    private func storageWorks() {
        guard storageProblem != nil, failedCommits.isEmpty else { return }
        logger.info("the store takes writes again: every waiting result is committed")
        storageProblem = nil
    }

    /// Whether the tuning loop may propose now (not while the store refuses writes).
    private var mayPropose: Bool { storageProblem == nil || Monotonic.now() >= nextStorageAttempt }

    private func noteCommitted() {
        let now = Monotonic.now()
        resultsTotal += 1
        commitTimes.append(now)
        if commitTimes.count > 4096 || (commitTimes.first.map { now - $0 > 10 } ?? false) {
            commitTimes.removeAll { now - $0 > 10 }
        }
    }

    // MARK: Campaign progress

    private func carryOut(_ d: TuningLoop.Directive) {
        switch d {
        case .addJob(let q):
            step(.jobAdded(q))
        case .persistCandidates(let jobID, let proposed):
            do {
                let cands = try store.insertCandidates(jobID: jobID, proposed)
                step(.candidatesAdded(jobID: jobID, cands))
                storageWorks()
            } catch {
                // Never stored, never dispatched: the job must not count them as generated.
                storageFailed("cannot store candidates: \(error)")
                tune(.persistFailed(jobID: jobID, proposed))
            }
        case .setPriority(let jobID, let p):
            step(.prioritySet(jobID: jobID, p))
        case .train(let dc, let n):
            if training.start(dc) { logger.debug("training a \(dc.rawValue) model after \(n) new results") }
        case .finishJob(let jobID):
            step(.jobRemoved(jobID: jobID))
            do { try store.completeJob(jobID) } catch { logger.error("cannot record job completion: \(error)") }
        case .finishCampaign(let id):
            do {
                try store.setCampaignState(id, .completed)
                logger.info("campaign \(id) completed")
            } catch {
                logger.error("cannot record campaign completion: \(error)")
            }
        case .dropJob(let jobID):
            step(.jobCancelled(jobID: jobID))
        case .noTemplate(_, let task, let dc):
            logger.warning("no \(dc.rawValue) template for \(task.name); the job ends without trials")
        case .propose(let request):
            proposals.submit(request)
        }
    }
}
