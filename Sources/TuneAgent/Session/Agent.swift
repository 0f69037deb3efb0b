import Logging
import Synchronization
import TuneCore
import TuneSystem
import TuneTransport
import TuneWire

public struct AgentError: Error, CustomStringConvertible {
    public var description: String
}

/// The agent's socket loop: says hello, keeps the session alive with heartbeats, hands
/// batches to the pipeline, streams results, keeps each until acknowledged, and
/// reconnects and says hello again by itself when the coordinator goes away.
public final class Agent {
    let settings: AgentSettings
    let builder: any KernelBuilder
    let logger: Logger
    let outbox = Outbox()
    let pipeline: BatchPipeline
    let instanceID: String
    private let context = ZMQContext()

    public init(settings: AgentSettings, builder: any KernelBuilder, worker: WorkerHost.Settings, logger: Logger) {
        self.settings = settings
        self.builder = builder
        var log = logger
        log[metadataKey: "agent"] = "\(settings.name)"
        log[metadataKey: "device"] = "\(builder.profile.deviceClass.rawValue)"
        self.logger = log
        instanceID = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        let hostLock = settings.hostLockPath.flatMap { path -> HostMeasureLock? in
            do { return try HostMeasureLock(path: path) } catch {
                log.warning("no host-wide measurement lock (\(error)); timings may overlap other agents' work")
                return nil
            }
        }
        pipeline = BatchPipeline(builder: builder, worker: WorkerHost(settings: worker), outbox: outbox,
                                 workDir: settings.workDir, hostLock: hostLock, logger: log)
    }

    private var connectionCount = 0

    private func connect() throws(ZMQError) -> ZMQSocket {
        connectionCount += 1
        let s = try ZMQSocket(context, .dealer)
        // A fresh identity per connection: the coordinator's ROUTER never confuses an old
        // half-open connection with the new one; the instance id ties them together.
        try s.setIdentity("\(settings.name)/\(instanceID)/\(connectionCount)")
        try s.setMaxMessageSize(Int64(WireLimits.standard.maxMessageBytes * 2))
        try s.setReconnectInterval(milliseconds: 100, max: 1000)
        if let curve = settings.curve { try s.makeCurveClient(curve) }
        try s.connect(settings.coordinatorEndpoint)
        return s
    }

    private func send(_ socket: ZMQSocket, _ body: Body) {
        do { try socket.send([Wire.encode(body)], wait: false) } catch {
            logger.debug("send failed: \(error)")
        }
    }

    private func hello() -> Body {
        var h = Tunefleet_V1_Hello()
        h.agentName = settings.name
        h.device = builder.profile.wire
        h.slots = UInt32(settings.slots)
        h.instanceID = instanceID
        return .hello(h)
    }

    /// Runs until `stop` is set. Throws only for errors that make serving impossible
    /// (the coordinator refused us for good, a socket cannot be made).
    public func run(stop: StopSignal) throws {
        try makeDirectories(settings.workDir)
        try pipeline.start()
        defer { pipeline.stop() }
        var socket = try connect()
        var welcomed = false
        var heartbeatInterval = settings.heartbeatInterval
        var lastHeard = Monotonic.now()
        var lastSent = 0.0
        var sequence: UInt64 = 0
        send(socket, hello())
        logger.info("connecting to \(settings.coordinatorEndpoint) as \(settings.name)")

        while !stop.isSet {
            let ready = try ZMQPoller.pollInput([socket], timeout: 0.02)
            if ready[0] {
                while let frames = try socket.receive(wait: false) {
                    lastHeard = Monotonic.now()
                    guard let payload = frames.last else { continue }
                    let body: Body
                    do { body = try Wire.decode(payload) } catch {
                        logger.warning("dropping a message from the coordinator: \(error)")
                        continue
                    }
                    switch body {
                    case .welcome(let w):
                        welcomed = true
                        if w.heartbeatIntervalMs > 0 { heartbeatInterval = Double(w.heartbeatIntervalMs) / 1000 }
                        let resend = outbox.unacknowledged()
                        logger.info("welcomed by coordinator \(w.coordinatorID); resending \(resend.count) unacknowledged results")
                        for r in resend { send(socket, .measureResult(r)) }
                    case .reject(let r):
                        switch r.code {
                        case .unknownSession:
                            welcomed = false
                            send(socket, hello())
                        case .badVersion, .notAllowed:
                            throw AgentError(description: "coordinator refused this agent: \(r.reason)")
                        default:
                            logger.warning("coordinator rejected a message: \(r.reason)")
                        }
                    case .heartbeat:
                        break
                    case .measureBatch(let b):
                        accept(b)
                    case .resultAck(let a):
                        outbox.acknowledge(batch: a.batchID, candidate: a.candidateID)
                    default:
                        logger.warning("unexpected message from the coordinator")
                    }
                }
            }
            let now = Monotonic.now()
            if welcomed {
                for r in outbox.takeFresh() { send(socket, .measureResult(r)) }
            }
            if now - lastSent >= heartbeatInterval {
                sequence += 1
                var hb = Tunefleet_V1_Heartbeat()
                hb.sequence = sequence
                hb.busyBatches = UInt32(pipeline.load)
                send(socket, .heartbeat(hb))
                lastSent = now
            }
            if now - lastHeard > heartbeatInterval * settings.peerTimeoutIntervals {
                logger.info("coordinator silent for \(Int((now - lastHeard) * 1000)) ms; reconnecting")
                socket.close()
                socket = try connect()
                welcomed = false
                send(socket, hello())
                lastHeard = now
            }
        }
        socket.close()
    }

    /// Checks a batch and queues it; a batch that fails the checks gets one
    /// `invalid_schedule` record per candidate, so nothing is lost or retried forever.
    private func accept(_ b: Tunefleet_V1_MeasureBatch) {
        let ids = b.candidates.map(\.id)
        do {
            let task = try TaskSpec(wire: b.task)
            let plan = try MeasurePlan(wire: b.plan)
            var candidates: [Candidate] = []
            for c in b.candidates {
                do { candidates.append(Candidate(id: c.id, schedule: try Schedule(wire: c.schedule))) } catch {
                    var r = MeasureResult(candidateID: c.id, status: .invalidSchedule, errorText: error.description).wire(batchID: b.batchID)
                    r.batchDone = false
                    outbox.add(r)
                }
            }
            pipeline.submit(.init(batchID: b.batchID, task: task, plan: plan, candidates: candidates))
        } catch {
            logger.warning("batch \(b.batchID) refused: \(error)")
            for (i, id) in ids.enumerated() {
                var r = MeasureResult(candidateID: id, status: .invalidSchedule, errorText: "batch refused: \(error)").wire(batchID: b.batchID)
                r.batchDone = i == ids.count - 1
                outbox.add(r)
            }
        }
    }
}
