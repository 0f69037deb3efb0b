import TuneCore
import TuneWire

/// A batch accepted from the coordinator, checked and decoded, for the pipeline.
public struct AgentBatch: Sendable, Equatable {
    public var batchID: UInt64
    public var task: TaskSpec
    public var plan: MeasurePlan
    public var candidates: [Candidate]
}

public enum AgentSessionEvent: Sendable {
    /// The first connection is open: say hello.
    case started
    /// A decoded message from the coordinator. Any message proves it is alive.
    case received(Body)
    /// Bytes from the coordinator that did not decode (it is alive all the same).
    case malformed(String)
    /// The pipeline finished a candidate (or the vendor baseline).
    case resultReady(Tunefleet_V1_MeasureResult)
    /// Time passes; `busyBatches` (queued or in progress) goes into the next heartbeat.
    case tick(busyBatches: Int)
    /// The agent stops on purpose (SIGTERM), after sending every result it finished.
    case leaving(reason: String)
}

public enum AgentSessionDirective: Sendable, Equatable {
    case send(Body)
    /// Close the connection and open a fresh one (a new identity); a hello follows.
    case reconnect
    case measure(AgentBatch)
    /// Stop measuring these batches and send nothing more for them.
    case cancel([UInt64])
    /// The coordinator refused this agent for good: stop serving.
    case stop(reason: String)
    /// Nothing to do but worth a line in the log.
    case warning(String)
}

/// The agent's side of the session as a value, with no socket and no clock: hello and
/// welcome, heartbeats both ways, reconnecting and saying hello again when the coordinator
/// falls silent, and every result kept until acknowledged and resent after each welcome.
/// Events and the time come in; directives come out for the shell (`Agent`) to carry out.
public struct AgentSession: Sendable {
    public struct Settings: Sendable, Equatable {
        /// How often we heartbeat until a welcome names the coordinator's interval.
        public var heartbeatInterval: Double
        /// The coordinator counts as gone after this many silent intervals.
        public var peerTimeoutIntervals: Double
        public var hello: Tunefleet_V1_Hello
        public init(heartbeatInterval: Double, peerTimeoutIntervals: Double, hello: Tunefleet_V1_Hello) {
            self.heartbeatInterval = heartbeatInterval; self.peerTimeoutIntervals = peerTimeoutIntervals; self.hello = hello
        }
    }

    public let settings: Settings
    public private(set) var welcomed = false
    public private(set) var heartbeatInterval: Double
    private var lastHeard: Double = 0
    private var lastSent: Double?
    private var sequence: UInt64 = 0
    /// Results produced while not welcomed: sent at the next welcome.
    private var unsent: [Tunefleet_V1_MeasureResult] = []
    private var outbox = Outbox()
    public private(set) var stopped = false
    /// Batches accepted in this process (the newest `heldLimit`): the coordinator sends a
    /// reconnecting agent its batches again, in case one went to the connection it left;
    /// a copy of one already here is not measured twice. Batch ids differ across coordinator
    /// restarts, so an id seen before is the same batch.
    private var held: Set<UInt64> = []
    private var heldOrder: [UInt64] = []
    static let heldLimit = 4096

    public init(settings: Settings) {
        self.settings = settings
        heartbeatInterval = settings.heartbeatInterval
    }

    /// Results not yet acknowledged (sent or waiting to be).
    public var pendingResults: Int { unsent.count + outbox.count }

    public mutating func handle(_ event: AgentSessionEvent, now: Double) -> [AgentSessionDirective] {
        guard !stopped else { return [] }
        switch event {
        case .started:
            lastHeard = now
            return [.send(.hello(settings.hello))]
        case .received(let body):
            lastHeard = now
            return onMessage(body)
        case .malformed(let why):
            lastHeard = now
            return [.warning("dropping a message from the coordinator: \(why)")]
        case .resultReady(let r):
            return queue([r])
        case .tick(let busy):
            return onTick(busy: busy, now: now)
        case .leaving(let reason):
            // Only a welcomed session has batches to hand back; it says nothing more after.
            stopped = true
            guard welcomed else { return [] }
            var g = Tunefleet_V1_Goodbye()
            g.reason = reason
            return [.send(.goodbye(g))]
        }
    }

    private mutating func onMessage(_ body: Body) -> [AgentSessionDirective] {
        switch body {
        case .welcome(let w):
            welcomed = true
            if w.heartbeatIntervalMs > 0 { heartbeatInterval = Double(w.heartbeatIntervalMs) / 1000 }
            // What was sent before and not acknowledged may never have been committed.
            var out = outbox.unacknowledged.map { AgentSessionDirective.send(.measureResult($0)) }
            let waiting = unsent
            unsent = []
            out += queue(waiting)
            return out
        case .reject(let r):
            // A refused result (not this session's, or content out of range) is forgotten,
            // not sent again; the coordinator has the candidate measured again if it must.
            if (r.code == .notYours || r.code == .malformed) && (r.batchID != 0 || r.candidateID != 0) {
                outbox.acknowledge(batch: r.batchID, candidate: r.candidateID)
                return [.warning("coordinator refused result \(r.candidateID) of batch \(r.batchID): \(r.reason); dropped")]
            }
            switch r.code {
            case .unknownSession:
                welcomed = false
                return [.send(.hello(settings.hello))]
            case .badVersion, .notAllowed:
                stopped = true
                return [.stop(reason: "coordinator refused this agent: \(r.reason)")]
            default:
                return [.warning("coordinator rejected a message: \(r.reason)")]
            }
        case .heartbeat:
            return []
        case .measureBatch(let b):
            return accept(b)
        case .resultAck(let a):
            outbox.acknowledge(batch: a.batchID, candidate: a.candidateID)
            return []
        case .cancelBatches(let c):
            // The coordinator forgot these batches: what they produced would be refused.
            let ids = Set(c.batchIds)
            outbox.forget(batches: ids)
            unsent.removeAll { ids.contains($0.batchID) }
            return [.cancel(c.batchIds)]
        default:
            return [.warning("unexpected message from the coordinator")]
        }
    }

    /// Sends results at once when welcomed (keeping each until acknowledged); otherwise
    /// holds them for the next welcome.
    private mutating func queue(_ results: [Tunefleet_V1_MeasureResult]) -> [AgentSessionDirective] {
        guard welcomed else { unsent += results; return [] }
        return results.map { r in
            outbox.sent(r)
            return .send(.measureResult(r))
        }
    }

    private mutating func onTick(busy: Int, now: Double) -> [AgentSessionDirective] {
        var out: [AgentSessionDirective] = []
        if lastSent.map({ now - $0 >= heartbeatInterval }) ?? true {
            sequence += 1
            var hb = Tunefleet_V1_Heartbeat()
            hb.sequence = sequence
            hb.busyBatches = UInt32(clamping: busy)
            out.append(.send(.heartbeat(hb)))
            lastSent = now
        }
        if now - lastHeard > heartbeatInterval * settings.peerTimeoutIntervals {
            out.append(.warning("coordinator silent for \(Int((now - lastHeard) * 1000)) ms; reconnecting"))
            out.append(.reconnect)
            out.append(.send(.hello(settings.hello)))
            welcomed = false
            lastHeard = now
        }
        return out
    }

    /// Checks a batch; a batch that fails the checks gets one `invalid_schedule` record per
    /// candidate, so nothing is lost or retried forever.
    private mutating func accept(_ b: Tunefleet_V1_MeasureBatch) -> [AgentSessionDirective] {
        guard held.insert(b.batchID).inserted else { return [] }
        heldOrder.append(b.batchID)
        if heldOrder.count > Self.heldLimit { held.remove(heldOrder.removeFirst()) }
        do {
            let task = try TaskSpec(wire: b.task)
            let plan = try MeasurePlan(wire: b.plan)
            var candidates: [Candidate] = []
            var refused: [Tunefleet_V1_MeasureResult] = []
            for c in b.candidates {
                do { candidates.append(Candidate(id: c.id, schedule: try Schedule(wire: c.schedule))) } catch {
                    var r = MeasureResult(candidateID: c.id, status: .invalidSchedule, errorText: error.description).wire(batchID: b.batchID)
                    r.batchDone = false
                    refused.append(r)
                }
            }
            return queue(refused) + [.measure(AgentBatch(batchID: b.batchID, task: task, plan: plan, candidates: candidates))]
        } catch {
            let results = b.candidates.enumerated().map { i, c in
                var r = MeasureResult(candidateID: c.id, status: .invalidSchedule, errorText: "batch refused: \(error)").wire(batchID: b.batchID)
                r.batchDone = i == b.candidates.count - 1
                return r
            }
            return [.warning("batch \(b.batchID) refused: \(error)")] + queue(results)
        }
    }
}
