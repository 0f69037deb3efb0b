import Logging
import Synchronization
import TuneCore
import TuneSystem
import TuneTransport
import TuneWire
#if canImport(Glibc)
import Glibc
#endif

public struct AgentError: Error, CustomStringConvertible {
    public var description: String
}

/// The agent's I/O shell: a socket, the pipeline thread and a clock. What to send, when to
/// reconnect and which results to keep is decided by `AgentSession`; this loop only feeds it
/// events and carries out its directives.
public final class Agent {
    let settings: AgentSettings
    let builder: any KernelBuilder
    let logger: Logger
    let mailbox = ResultMailbox()
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
        pipeline = BatchPipeline(builder: builder, worker: WorkerHost(settings: worker), outbox: mailbox,
                                 workDir: settings.workDir, hostLock: hostLock, logger: log)
    }

    private var connectionCount = 0

    private func connect() throws(ZMQError) -> ZMQSocket {
        connectionCount += 1
        return try Self.dealer(context, identity: "\(settings.name)/\(instanceID)/\(connectionCount)",
                               curve: settings.curve, endpoint: settings.coordinatorEndpoint)
    }

    /// An agent's connection to the coordinator. A fresh identity per connection: the
    /// coordinator's ROUTER never confuses an old half-open connection with the new one; the
    /// instance id in it ties them together.
    static func dealer(_ context: ZMQContext, identity: String, curve: CurveClientKeys?, endpoint: String) throws(ZMQError) -> ZMQSocket {
        let s = try ZMQSocket(context, .dealer)
        try s.setIdentity(identity)
        try s.setMaxMessageSize(Int64(WireLimits.standard.maxMessageBytes * 2))
        try s.setReconnectInterval(milliseconds: 100, max: 1000)
        if let curve { try s.makeCurveClient(curve) }
        try s.connect(endpoint)
        return s
    }

    private func send(_ socket: ZMQSocket, _ body: Body) {
        do { try socket.send([Wire.encode(body)], wait: false) } catch {
            logger.debug("send failed: \(error)")
        }
    }

    /// The session's settings for this agent.
    var sessionSettings: AgentSession.Settings {
        var h = Tunefleet_V1_Hello()
        h.agentName = settings.name
        h.device = builder.profile.wire
        h.slots = UInt32(settings.slots)
        h.instanceID = instanceID
        return AgentSession.Settings(heartbeatInterval: settings.heartbeatInterval,
                                     peerTimeoutIntervals: settings.peerTimeoutIntervals, hello: h)
    }

    /// Runs until `stop` is set. Throws only for errors that make serving impossible
    /// (the coordinator refused us for good, a socket or a thread cannot be made).
    public func run(stop: StopSignal) throws {
        try makeDirectories(settings.workDir)
        try pipeline.start()
        defer { pipeline.stop() }
        var session = AgentSession(settings: sessionSettings)
        var socket = try connect()
        defer { socket.close() }
        logger.info("connecting to \(settings.coordinatorEndpoint) as \(settings.name)")

        func carryOut(_ directives: [AgentSessionDirective]) throws {
            for d in directives {
                switch d {
                case .send(let body):
                    send(socket, body)
                case .reconnect:
                    socket.close()
                    socket = try connect()
                case .measure(let batch):
                    pipeline.submit(batch)
                case .cancel(let ids):
                    let stopped = pipeline.cancel(ids)
                    logger.info("coordinator called back \(ids.count) batch(es)\(stopped ? "; stopped the one in progress" : "")")
                case .stop(let reason):
                    throw AgentError(description: reason)
                case .warning(let text):
                    logger.warning("\(text)")
                }
            }
        }

        try carryOut(session.handle(.started, now: Monotonic.now()))
        while !stop.isSet {
            let ready = try ZMQPoller.pollInput([socket], timeout: 0.02)
            if ready[0] {
                while let frames = try socket.receive(wait: false) {
                    guard let payload = frames.last else { continue }
                    let event: AgentSessionEvent
                    do { event = .received(try Wire.decode(payload)) } catch { event = .malformed("\(error)") }
                    if case .received(.welcome(let w)) = event {
                        logger.info("welcomed by coordinator \(w.coordinatorID); resending \(session.pendingResults) unacknowledged results")
                    }
                    try carryOut(session.handle(event, now: Monotonic.now()))
                }
            }
            for r in mailbox.takeAll() { try carryOut(session.handle(.resultReady(r), now: Monotonic.now())) }
            try carryOut(session.handle(.tick(busyBatches: pipeline.load), now: Monotonic.now()))
        }
        // Stopping on purpose: hand the work back instead of going silent. The batch in
        // progress stops (a kernel being timed is cut short), every result finished before
        // goes out, then a goodbye, so the coordinator requeues the rest at once rather than
        // after the heartbeat timeout. Nothing sent here is lost if it does not arrive: the
        // coordinator measures unanswered candidates again either way.
        pipeline.cancelAll()
        let deadline = Monotonic.now() + 5
        while pipeline.load > 0 && Monotonic.now() < deadline { usleep(10_000) }
        for r in mailbox.takeAll() { try carryOut(session.handle(.resultReady(r), now: Monotonic.now())) }
        try carryOut(session.handle(.leaving(reason: "agent stopped (signal)"), now: Monotonic.now()))
        try? socket.setLinger(milliseconds: 1000)
        logger.info("stopped: handed back unfinished work, \(session.pendingResults) results unacknowledged")
    }
}
