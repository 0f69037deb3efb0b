import TuneCore
import TuneSystem
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
                       scheduler: SchedulerChoice = .roundRobin, budget: Int? = nil, timeLimit: Double? = nil,
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
        l.timeLimitSeconds = timeLimit ?? 0
        var r = Tunefleet_V1_ControlRequest()
        r.launch = l
        return try request(r).launched.campaignID
    }
}

extension ControlClient {
    /// Why `waitForCampaign` stopped without the campaign reaching the awaited state.
    public enum CampaignWaitError: Error, CustomStringConvertible {
        case noSuchCampaign(Int64)
        case cancelled(Int64)
        /// `last` is the campaign as last seen (nil if the coordinator never answered).
        case timedOut(Int64, seconds: Double, last: Tunefleet_V1_CampaignStatus?)

        public var description: String {
            switch self {
            case .noSuchCampaign(let id): return "no campaign \(id)"
            case .cancelled(let id): return "campaign \(id) was cancelled"
            case .timedOut(let id, let seconds, let last):
                let progress = last.map { ": \($0.trialsDone)/\($0.trialsTotal) trials" } ?? ""
                return "campaign \(id) did not reach the awaited state within \(seconds) s\(progress)"
            }
        }
    }

    /// Asks for the status every `poll` seconds until campaign `id` satisfies `until`
    /// (by default: completed) and returns it as seen then. `observe` sees every report
    /// first (progress lines, a dashboard, a check for an interrupt) and may throw to stop.
    /// A cancelled campaign that does not satisfy `until` ends the wait. `timeout` nil waits
    /// for ever. With `retryUnanswered`, a status request that fails (a coordinator being
    /// restarted) is retried until the timeout instead of thrown.
    public func waitForCampaign(
        _ id: Int64, timeout: Double? = nil, poll: Double = 0.25, retryUnanswered: Bool = false,
        until done: (Tunefleet_V1_CampaignStatus) -> Bool = { $0.state == "completed" },
        observe: (Tunefleet_V1_StatusReport, Tunefleet_V1_CampaignStatus) throws -> Void = { _, _ in }
    ) throws -> Tunefleet_V1_CampaignStatus {
        let start = Monotonic.now()
        var last: Tunefleet_V1_CampaignStatus?
        while true {
            do {
                let report = try status()
                guard let c = report.campaigns.first(where: { $0.id == id }) else { throw CampaignWaitError.noSuchCampaign(id) }
                last = c
                try observe(report, c)
                if done(c) { return c }
                if c.state == "cancelled" { throw CampaignWaitError.cancelled(id) }
            } catch is ControlError where retryUnanswered {
                // Not answered this time; ask again until the timeout.
            }
            if let timeout, Monotonic.now() - start > timeout {
                throw CampaignWaitError.timedOut(id, seconds: timeout, last: last)
            }
            Monotonic.sleep(poll)
        }
    }
}
