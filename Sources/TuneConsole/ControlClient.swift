import TuneCore
import TuneTransport
import TuneWire

public struct ControlError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// coordctl's side of the control socket: one request, one reply, a time limit.
public struct ControlClient {
    public var endpoint: String
    public var timeout: Double
    /// CURVE: the coordinator's public key and the operator's key pair (nil: plain TCP).
    public var curve: CurveClientKeys?

    public init(endpoint: String, timeout: Double = 5, curve: CurveClientKeys? = nil) {
        self.endpoint = endpoint; self.timeout = timeout; self.curve = curve
    }

    public func request(_ req: Tunefleet_V1_ControlRequest) throws(ControlError) -> Tunefleet_V1_ControlReply {
        do {
            let context = ZMQContext()
            let s = try ZMQSocket(context, .req)
            try s.setReceiveTimeout(milliseconds: Int32(timeout * 1000))
            try s.setSendTimeout(milliseconds: Int32(timeout * 1000))
            if let curve { try s.makeCurveClient(curve) }
            try s.connect(endpoint)
            try s.send([Wire.encode(.controlRequest(req))])
            guard let frames = try s.receive(), let payload = frames.last else {
                let hint = curve == nil ? "is coordd running? does it require keys (--key, --server-key)?"
                    : "is coordd running, with this key on its allow-list and this --server-key?"
                throw ControlError("no answer from the coordinator at \(endpoint) within \(timeout) s (\(hint))")
            }
            guard case .controlReply(let reply) = try Wire.decode(payload) else {
                throw ControlError("the coordinator sent something other than a control reply")
            }
            if case .error(let e)? = reply.reply { throw ControlError(e) }
            return reply
        } catch let e as ControlError {
            throw e
        } catch {
            throw ControlError("control request to \(endpoint) failed: \(error)")
        }
    }

    public func status() throws(ControlError) -> Tunefleet_V1_StatusReport {
        var r = Tunefleet_V1_ControlRequest()
        r.status = Tunefleet_V1_StatusRequest()
        return try request(r).status
    }

    /// Launches a campaign over `workload` and returns its id. `batchSize` 0 and a nil plan
    /// leave the coordinator's defaults; `seed` 0 asks for a random one.
    public func launch(workload: Workload, trials: Int, devices: [DeviceClass], batchSize: Int, plan: MeasurePlan?,
                       seed: UInt64, search: SearchChoice = .random,
                       scheduler: SchedulerChoice = .roundRobin, budget: Int? = nil,
                       given: [TaskSpec: [Schedule]] = [:]) throws(ControlError) -> Int64 {
        var l = Tunefleet_V1_LaunchCampaign()
        l.workloadName = workload.name
        l.tasks = workload.tasks.map { t in
            var w = Tunefleet_V1_WorkloadTask(); w.task = t.task.wire; w.weight = UInt32(t.weight)
            w.given = (given[t.task] ?? []).map { s in var g = Tunefleet_V1_GivenSchedule(); g.knobs = s.wire; return g }
            return w
        }
        l.trialsPerTask = UInt32(trials)
        l.deviceClasses = devices.map(\.wire)
        l.batchSize = UInt32(batchSize)
        if let plan { l.plan = plan.wire }
        l.seed = seed
        l.search = search.wire
        l.scheduler = scheduler.wire
        l.budget = UInt32(budget ?? 0)
        var r = Tunefleet_V1_ControlRequest()
        r.launch = l
        return try request(r).launched.campaignID
    }
}
