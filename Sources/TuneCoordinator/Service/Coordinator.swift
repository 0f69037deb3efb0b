import Foundation
import Logging
import Synchronization
import TuneCore
import TuneStore
import TuneSystem
import TuneTransport
import TuneWire

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
    var book = CampaignBook()
    var recentlyLost: [(name: String, deviceClass: DeviceClass, at: Double)] = []
    var commitTimes: [Double] = []
    var resultsTotal = 0
    let startedAt = Monotonic.now()

    public init(settings: CoordinatorSettings, store: Store, logger: Logger) {
        self.settings = settings
        self.store = store
        self.logger = logger
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
            // A refused peer retries every second: say so once per key, then only at debug level.
            let refused = Mutex(Set<String>())
            authenticator = try ZAPAuthenticator(context: context, allow: curve.allow) { d in
                if d.allowed {
                    log.debug("admitted key \(d.name ?? "?") from \(d.address)")
                    return
                }
                let who = d.publicKey.isEmpty ? "a connection without CURVE keys" : "unknown key \(d.publicKey)"
                // Bounded: a stranger cycling keys cannot grow it without limit.
                if refused.withLock({ $0.count < 1024 && $0.insert(d.publicKey).inserted }) {
                    log.warning("refused \(who) from \(d.address) (not on the allow-list; later attempts logged at debug level)")
                } else {
                    log.debug("refused \(who) from \(d.address)")
                }
            }
        }
        let a = try ZMQSocket(context, .router)
        try a.setRouterMandatory(true)
        try a.setMaxMessageSize(Int64(WireLimits.standard.maxMessageBytes * 2))
        try secure(a)
        let agentEndpoint = try a.bind(settings.agentEndpoint)
        let c = try ZMQSocket(context, .router)
        try c.setMaxMessageSize(Int64(WireLimits.standard.maxMessageBytes * 2))
        try secure(c)
        let controlEndpoint = try c.bind(settings.controlEndpoint)
        agentSocket = a
        controlSocket = c
        return (agentEndpoint, controlEndpoint)
    }

    /// Makes `socket` a CURVE server checked by the allow-list, when keys are configured.
    private func secure(_ socket: ZMQSocket) throws {
        guard let curve = settings.curve else { return }
        // Without a ZAP handler libzmq's CURVE server admits any key: never bind without one.
        guard authenticator != nil else { throw ControlError("CURVE without the allow-list handler") }
        try socket.makeCurveServer(secretKey: curve.keys.secretKey)
        try socket.setZAPDomain("tunefleet")
    }

    /// Resumes unfinished campaigns from the database, then serves until `stop` is set.
    public func run(stop: StopSignal) throws {
        if agentSocket == nil { try bind() }
        let resumed = book.adopt(try store.activeJobs())
        for q in resumed { _ = dispatcher.handle(.jobAdded(q), now: Monotonic.now()) }
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
            let ready = try ZMQPoller.pollInput(sockets, timeout: 0.05)
            if ready[0] { try drainAgents() }
            if ready[1] { try drainControl() }
            step(.tick)
            topUpCandidates()
        }
    }

    func step(_ event: DispatchEvent) {
        for d in dispatcher.handle(event, now: Monotonic.now()) { carryOut(d) }
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
                logger.warning("rejected a message from \(key): \(error)")
                if case .badVersion = error {
                    sendReject(key, .badVersion, error.description)
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
                    try? store.recordDevice(profile)
                    try? store.recordAgent(instance: hello.instance, name: hello.name, device: profile.fingerprint)
                    step(.hello(key, hello))
                } catch {
                    logger.warning("rejected hello from \(key): \(error)")
                    sendReject(key, .malformed, "bad hello: \(error)")
                }
            case .heartbeat:
                step(.heard(key))
            case .measureResult(let r):
                do {
                    step(.result(key, batchID: r.batchID, try MeasureResult(wire: r)))
                } catch {
                    logger.warning("rejected a result from \(key): \(error)")
                    sendReject(key, .malformed, "bad result: \(error)")
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

    private func sendReject(_ key: AgentKey, _ code: Tunefleet_V1_RejectCode, _ reason: String) {
        var r = Tunefleet_V1_Reject()
        r.code = code
        r.reason = reason
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
            var w = Tunefleet_V1_Welcome()
            w.coordinatorID = settings.coordinatorID
            w.heartbeatIntervalMs = UInt32(settings.dispatch.heartbeatInterval * 1000)
            send(key, .welcome(w))
        case .reject(let key, let code, let reason):
            sendReject(key, code, reason)
        case .heartbeat(let key):
            send(key, .heartbeat(Tunefleet_V1_Heartbeat()))
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
            do {
                try commitResult(result, agent: agent, device: device)
                acknowledge(key, batchID: batchID, candidateID: result.candidateID)
            } catch {
                // Not acknowledged: the agent keeps the result and sends it again.
                logger.error("commit failed, result kept by the agent: \(error)")
            }
        case .commitBaseline(let key, let batchID, let jobID, let result, let device):
            do {
                _ = try store.commitBaseline(result, jobID: jobID, device: device, library: result.detail["library"] ?? "vendor")
                acknowledge(key, batchID: batchID, candidateID: result.candidateID)
            } catch {
                logger.error("baseline commit failed: \(error)")
            }
        case .acknowledge(let key, let batchID, let candidateID):
            acknowledge(key, batchID: batchID, candidateID: candidateID)
        case .agentLost(_, let name, let deviceClass, let requeued):
            logger.warning("agent \(name) lost; \(requeued) candidates requeued")
            recentlyLost.append((name, deviceClass, Monotonic.now()))
        case .giveUp(let ids):
            for id in ids {
                let r = MeasureResult(candidateID: id, status: .agentLost,
                                      errorText: "lost with its agent \(settings.dispatch.maxLostAttempts) times; not retried")
                do { try commitResult(r, agent: "-", device: "-") } catch {
                    logger.error("cannot record candidate \(id) as agent_lost: \(error)")
                }
            }
        case .agentJoined(let key, let hello):
            recentlyLost.removeAll { $0.name == hello.name }
            logger.info("agent \(hello.name) joined (\(hello.profile.deviceClass.rawValue): \(hello.profile.model), \(hello.slots) slots) from \(key)")
        }
    }

    /// Stores a result and counts it toward its job's budget; a redelivery stores nothing.
    private func commitResult(_ r: MeasureResult, agent: String, device: String) throws(StoreError) {
        guard let jobID = try store.commit(r, agent: agent, device: device) else { return }
        noteCommitted()
        if book.recordMeasured(jobID: jobID) { finishJob(jobID) }
    }

    private func noteCommitted() {
        let now = Monotonic.now()
        resultsTotal += 1
        commitTimes.append(now)
        if commitTimes.count > 4096 || (commitTimes.first.map { now - $0 > 10 } ?? false) {
            commitTimes.removeAll { now - $0 > 10 }
        }
    }

    // MARK: Campaign progress

    /// Generates and persists candidates for jobs whose queues run low, then hands them to
    /// the dispatcher. Persisting first means a crash never loses what was sent.
    func topUpCandidates() {
        for (jobID, job) in book.jobs {
            let queued = dispatcher.pendingCount(jobID: jobID)
            if book.isFinished(jobID: jobID, inFlight: dispatcher.inFlightCount(jobID: jobID), queued: queued) {
                finishJob(jobID)
                continue
            }
            guard book.needsCandidates(jobID: jobID, queued: queued),
                  let profile = dispatcher.profile(for: job.state.deviceClass) else { continue }
            guard let space = SpaceCatalog.space(for: job.state.task, profile: profile, plan: job.state.plan) else {
                logger.warning("no \(job.state.deviceClass.rawValue) template for \(job.state.task.name); the job ends without trials")
                book.markExhausted(jobID: jobID)
                continue
            }
            let schedules = book.propose(jobID: jobID, queued: queued, space: space)
            guard !schedules.isEmpty else { continue }
            do {
                let cands = try store.insertCandidates(jobID: jobID, schedules)
                step(.candidatesAdded(jobID: jobID, cands))
            } catch {
                logger.error("cannot persist candidates: \(error)")
            }
        }
    }

    func finishJob(_ jobID: Int64) {
        guard let job = book.remove(jobID: jobID) else { return }
        step(.jobRemoved(jobID: jobID))
        do {
            try store.completeJob(jobID)
            if !book.campaignHasJobs(job.state.campaignID) {
                try store.setCampaignState(job.state.campaignID, "completed")
                logger.info("campaign \(job.state.campaignID) completed")
            }
        } catch {
            logger.error("cannot record job completion: \(error)")
        }
    }
}
