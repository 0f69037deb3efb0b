import Foundation
import TuneCore
import TuneSystem
import TuneTransport
import TuneWire

/// Agents that speak the real protocol through the real session code (`AgentSession`: hello,
/// heartbeats, reconnects, results kept until acknowledged) but measure nothing: each
/// candidate takes `latency` seconds and is reported ok. Many of them share one thread and
/// one poll, so hundreds fit in one process: the load tool for coordd (`tune-agent sim`,
/// `coordctl bench cluster`).
public final class SimulatedFleet {
    public struct Settings: Sendable {
        public var endpoint: String
        public var count: Int
        /// Seconds each candidate takes.
        public var latency: Double
        public var namePrefix = "sim"
        public var heartbeatInterval = 1.0
        /// Batches each agent holds at once (a real agent's `--slots`): it measures them one
        /// after another, so a second batch in hand hides the wait for the next dispatch.
        public var slots = 1
        public var curve: CurveClientKeys?
        public init(endpoint: String, count: Int, latency: Double) { self.endpoint = endpoint; self.count = count; self.latency = latency }
    }

    /// What the fleet saw, for the load report.
    public struct Stats: Codable, Sendable {
        public var agents: Int
        public var results_sent: Int
        public var acknowledged: Int
        public var batches: Int
        /// From a slot falling free (the last result of a batch sent) to the next batch arriving.
        public var dispatch_p50_ms: Double
        public var dispatch_p99_ms: Double
        /// Agents that got at least one batch.
        public var agents_with_work: Int
        /// Time with a batch in hand over the time from the first batch to the end, mean over agents.
        public var busy_fraction: Double
        public var seconds: Double
    }

    struct Member {
        var session: AgentSession
        var socket: ZMQSocket
        var connections = 1
        var due: [(at: Double, result: Tunefleet_V1_MeasureResult)] = []
        var busySince: Double?
        /// When each slot fell free (its batch's last result sent), oldest first.
        var freeSince: [Double] = []
        var firstBatch: Double?
        var busyTime = 0.0
        var batches = 0
        var acknowledged = 0
        var sent = 0
        var stopped = false
    }

    let settings: Settings
    let context = ZMQContext()
    let instance = String(UInt64.random(in: 1...UInt64.max), radix: 36)

    public init(settings: Settings) { self.settings = settings }

    func connect(_ i: Int, _ n: Int) throws(ZMQError) -> ZMQSocket {
        try Agent.dealer(context, identity: "\(settings.namePrefix)-\(i)/\(instance)/\(n)", curve: settings.curve, endpoint: settings.endpoint)
    }

    func hello(_ i: Int) -> Tunefleet_V1_Hello {
        var h = Tunefleet_V1_Hello()
        h.agentName = "\(settings.namePrefix)-\(i)"
        var p = DeviceProfile(deviceClass: .cpu, model: "simulated CPU (measures nothing)")
        p.cores = 1
        h.device = p.wire
        h.slots = UInt32(settings.slots)
        h.instanceID = "\(instance)-\(i)"
        return h
    }

    /// Serves until `stop` is set; returns what was seen.
    public func run(stop: StopSignal) throws -> Stats {
        var members: [Member] = []
        let started = Monotonic.now()
        for i in 0..<settings.count {
            let s = AgentSession.Settings(heartbeatInterval: settings.heartbeatInterval, peerTimeoutIntervals: 4, hello: hello(i))
            members.append(Member(session: AgentSession(settings: s), socket: try connect(i, 1)))
        }
        var latencies: [Double] = []
        func carryOut(_ i: Int, _ directives: [AgentSessionDirective], now: Double) throws {
            for d in directives {
                switch d {
                case .send(let body):
                    if case .measureResult = body { members[i].sent += 1 }
                    try? members[i].socket.send([Wire.encode(body)], wait: false)
                case .reconnect:
                    members[i].socket.close()
                    members[i].connections += 1
                    members[i].socket = try connect(i, members[i].connections)
                case .measure(let batch):
                    if !members[i].freeSince.isEmpty { latencies.append(now - members[i].freeSince.removeFirst()) }
                    if members[i].due.isEmpty { members[i].busySince = now }
                    // Measured after the batches already in hand.
                    let start = max(now, members[i].due.last?.at ?? now)
                    members[i].firstBatch = members[i].firstBatch ?? now
                    members[i].batches += 1
                    var results: [Tunefleet_V1_MeasureResult] = []
                    if batch.plan.includeVendorBaseline {
                        results.append(MeasureResult(candidateID: vendorBaselineCandidateID, status: .runtimeError,
                                                     errorText: "simulated agent: no vendor library").wire(batchID: batch.batchID))
                    }
                    for c in batch.candidates {
                        results.append(MeasureResult(candidateID: c.id, status: .ok, samples: [max(settings.latency, 1e-6)]).wire(batchID: batch.batchID))
                    }
                    results[results.count - 1].batchDone = true
                    for (k, r) in results.enumerated() {
                        members[i].due.append((start + settings.latency * Double(max(0, k - (batch.plan.includeVendorBaseline ? 1 : 0)) + 1), r))
                    }
                case .cancel(let ids):
                    // What a called-back batch had not yet "measured" is never sent.
                    let set = Set(ids)
                    members[i].due.removeAll { set.contains($0.result.batchID) }
                case .stop:
                    members[i].stopped = true
                case .warning:
                    break
                }
            }
        }
        let start = Monotonic.now()
        for i in members.indices { try carryOut(i, members[i].session.handle(.started, now: start), now: start) }
        while !stop.isSet {
            let now0 = Monotonic.now()
            let next = members.compactMap { $0.due.first?.at }.min() ?? now0 + 0.005
            let ready = try ZMQPoller.pollInput(members.map(\.socket), timeout: max(0, min(0.005, next - now0)))
            let now = Monotonic.now()
            for i in members.indices where ready[i] && !members[i].stopped {
                while let frames = try members[i].socket.receive(wait: false) {
                    guard let payload = frames.last else { continue }
                    let event: AgentSessionEvent
                    do { event = .received(try Wire.decode(payload)) } catch { event = .malformed("\(error)") }
                    // Acknowledged measurements (the vendor-baseline pseudo-result is stored elsewhere).
                    if case .received(.resultAck(let a)) = event, a.candidateID != vendorBaselineCandidateID { members[i].acknowledged += 1 }
                    try carryOut(i, members[i].session.handle(event, now: now), now: now)
                }
            }
            for i in members.indices where !members[i].stopped {
                while let first = members[i].due.first, first.at <= now {
                    members[i].due.removeFirst()
                    try carryOut(i, members[i].session.handle(.resultReady(first.result), now: now), now: now)
                    if first.result.batchDone { members[i].freeSince.append(now) }
                    if members[i].due.isEmpty, let since = members[i].busySince {
                        members[i].busyTime += now - since
                        members[i].busySince = nil
                    }
                }
                let inHand = members[i].due.isEmpty ? 0 : Set(members[i].due.map(\.result.batchID)).count
                try carryOut(i, members[i].session.handle(.tick(busyBatches: inHand), now: now), now: now)
            }
        }
        let end = Monotonic.now()
        for i in members.indices {
            if let since = members[i].busySince { members[i].busyTime += end - since }
            members[i].socket.close()
        }
        let worked = members.filter { $0.firstBatch != nil }
        let busy = worked.map { $0.busyTime / max(1e-9, end - $0.firstBatch!) }
        let sorted = latencies.sorted()
        func q(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))] * 1000 }
        return Stats(agents: members.count, results_sent: members.reduce(0) { $0 + $1.sent },
                     acknowledged: members.reduce(0) { $0 + $1.acknowledged }, batches: members.reduce(0) { $0 + $1.batches },
                     dispatch_p50_ms: q(0.5), dispatch_p99_ms: q(0.99), agents_with_work: worked.count,
                     busy_fraction: busy.isEmpty ? 0 : busy.reduce(0, +) / Double(busy.count), seconds: end - started)
    }
}
