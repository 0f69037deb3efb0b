import TuneCore
import TuneWire

/// The status as JSON (`coordctl status --json`): a stable, documented shape.
public struct StatusJSON: Codable, Sendable {
    public struct Agent: Codable, Sendable {
        public var name: String
        public var device_class: String
        public var state: String
        public var device: String
        public var slots: Int
        public var busy_slots: Int
    }
    public struct Task: Codable, Sendable {
        public var name: String
        public var device_class: String
        public var weight: Int
        public var trials_done: Int
        public var trials_total: Int
        public var failures: Int
        public var best_seconds: Double?
        public var vendor_seconds: Double?
        public var best_gflops: Double?
        /// The vendor library of `vendor_seconds` (the fastest measured).
        public var vendor_library: String?
        /// Why that baseline may be weaker than it could be.
        public var vendor_note: String?
    }
    public struct Campaign: Codable, Sendable {
        public var id: Int64
        public var workload: String
        public var state: String
        public var trials_done: Int
        public var trials_total: Int
        public var tasks: [Task]
        public var elapsed_seconds: Double?
        public var time_limit_seconds: Double?
        /// The estimated network latency as it improved, per device class.
        public var curve: [String: [CurvePoint]]?
        /// Seconds until the budget (or the time limit) is spent, at the rate so far.
        public var eta_seconds: Double?
    }
    public struct Model: Codable, Sendable {
        public var device_class: String
        public var version: Int64
        public var kind: String
        public var records: Int
        public var training_seconds: Double
        /// PCA on the newest results it did not train on.
        public var recent_pca: Double?
        public var training: Bool
    }
    public var agents: [Agent]
    public var campaigns: [Campaign]
    public var models: [Model]?
    public var results_per_second: Double
    public var results_total: Int
    /// How many agents are connected and recently lost; agents left out of the bounded list.
    public var agents_connected: Int?
    public var agents_lost: Int?
    public var agents_omitted: Int?
    /// Seconds coordd spent proposing candidates, and how many proposals (since it started).
    public var search_seconds: Double?
    public var proposals: Int?
    /// Set while the database refuses results (a full disk), and how many wait meanwhile.
    public var storage_problem: String?
    public var results_waiting: Int?

    public init(_ s: Tunefleet_V1_StatusReport) {
        agents_connected = Int(s.agentsConnected)
        agents_lost = Int(s.agentsLost)
        agents_omitted = Int(s.agentsOmitted)
        agents = s.agents.map {
            Agent(name: $0.name, device_class: Self.className($0.deviceClass), state: $0.state, device: $0.deviceModel,
                  slots: Int($0.slots), busy_slots: Int($0.busySlots))
        }
        campaigns = s.campaigns.map { c in
            Campaign(id: c.id, workload: c.workload, state: c.state, trials_done: Int(c.trialsDone), trials_total: Int(c.trialsTotal),
                     tasks: c.tasks.map { t in
                         Task(name: t.name, device_class: Self.className(t.deviceClass), weight: Int(t.weight),
                              trials_done: Int(t.trialsDone), trials_total: Int(t.trialsTotal), failures: Int(t.failures),
                              best_seconds: t.bestSeconds > 0 ? t.bestSeconds : nil,
                              vendor_seconds: t.vendorSeconds > 0 ? t.vendorSeconds : nil,
                              best_gflops: t.bestSeconds > 0 ? t.flops / t.bestSeconds / 1e9 : nil,
                              vendor_library: t.vendorLibrary.isEmpty ? nil : t.vendorLibrary,
                              vendor_note: t.vendorNote.isEmpty ? nil : t.vendorNote)
                     }, elapsed_seconds: c.elapsedSeconds, time_limit_seconds: c.timeLimitSeconds > 0 ? c.timeLimitSeconds : nil,
                     curve: c.curve.isEmpty ? nil : Dictionary(grouping: c.curve, by: { Self.className($0.deviceClass) }).mapValues { ps in
                         ps.map { CurvePoint(trials: Int($0.trials), elapsed: $0.elapsedSeconds, seconds: $0.seconds) }
                     })
        }
        for i in campaigns.indices { campaigns[i].eta_seconds = Dashboard.eta(campaigns[i]) }
        models = s.models.map { m in
            Model(device_class: Self.className(m.deviceClass), version: m.version, kind: m.kind, records: Int(m.records),
                  training_seconds: m.trainingSeconds, recent_pca: m.recentPca >= 0 ? m.recentPca : nil, training: m.training)
        }
        results_per_second = s.resultsPerSecond
        results_total = Int(s.resultsTotal)
        search_seconds = s.searchSeconds
        proposals = Int(s.proposals)
        if !s.storageProblem.isEmpty {
            storage_problem = s.storageProblem
            results_waiting = Int(s.resultsWaiting)
        }
    }

    static func className(_ c: Tunefleet_V1_DeviceClass) -> String {
        (try? DeviceClass(wire: c).rawValue) ?? "unknown"
    }
}

/// Text rendering of the dashboard and the summary table: pure functions of the status.
public enum Dashboard {
    public static func render(_ s: StatusJSON, width: Int = 100) -> String {
        var out = "TuneFleet — \(s.agents_connected ?? s.agents.filter { $0.state != "lost" }.count) agents, "
            + String(format1(s.results_per_second)) + " results/s, \(s.results_total) results this run\n\n"
        if let problem = s.storage_problem {
            out += "STORAGE: \(logSafe(problem, limit: 200)); \(s.results_waiting ?? 0) results wait, unacknowledged, and are committed again every second\n\n"
        }
        out += "AGENTS\n"
        if s.agents.isEmpty { out += "  (none connected)\n" }
        for a in s.agents {
            out += "  " + pad(logSafe(a.name, limit: 23), 24) + pad(a.device_class, 6) + pad(a.state, 6)
                + pad("\(a.busy_slots)/\(a.slots) slots", 12) + logSafe(a.device, limit: 60) + "\n"
        }
        if let n = s.agents_omitted, n > 0 { out += "  ... and \(n) more (\(s.agents_lost ?? 0) lost in the last 10 minutes)\n" }
        if let models = s.models, !models.isEmpty {
            out += "\nMODELS\n"
            for m in models {
                out += "  " + pad(m.device_class, 6) + pad("v\(m.version) \(m.kind)", 14) + pad("\(m.records) records", 16)
                    + pad("trained in \(format1(m.training_seconds)) s", 20)
                    + (m.recent_pca.map { "PCA \(format2($0)) on the newest results" } ?? "PCA: too few new results")
                    + (m.training ? "  (retraining)" : "") + "\n"
            }
        }
        out += "\nCAMPAIGNS\n"
        if s.campaigns.isEmpty { out += "  (none)\n" }
        for c in s.campaigns {
            var line = "  #\(c.id) \(c.workload) [\(c.state)] "
            if let limit = c.time_limit_seconds, unboundedTrials(c) {
                line += bar(done: Int(c.elapsed_seconds ?? 0), total: Int(limit), width: 30) + " \(c.trials_done) trials, "
                    + "\(DurationText.format(c.elapsed_seconds ?? 0)) of \(DurationText.format(limit))"
            } else {
                line += bar(done: c.trials_done, total: c.trials_total, width: 30) + " \(c.trials_done)/\(c.trials_total)"
            }
            if c.state == "running", let eta = c.eta_seconds { line += ", ETA \(DurationText.format(eta))" }
            out += line + "\n"
            for dc in waitingFor(c, agents: s.agents) { out += "    waiting for a \(dc) agent: none is connected\n" }
            for e in networkLatency(c) {
                out += "    network (\(e.deviceClass)): \(formatSeconds(e.tuned)) estimated (sum of weight x best, \(e.tasksTuned)/\(e.tasks) tasks)"
                    + (e.vendor.map { ", vendor \(formatSeconds($0)) over the same tasks" } ?? "") + "\n"
                if let points = c.curve?[e.deviceClass], points.count >= 2 {
                    out += "      " + TuningCurve.sparkline(points.map(\.seconds), width: 32)
                        + "  \(formatSeconds(points.first!.seconds)) -> \(formatSeconds(points.last!.seconds)) over \(points.last!.trials) trials\n"
                }
            }
            for t in c.tasks {
                let best = t.best_seconds.map { formatSeconds($0) } ?? "-"
                let gf = t.best_gflops.map { format1($0) + " GFLOP/s" } ?? ""
                out += "    " + pad(readableTaskName(t.name), 58) + pad(t.device_class, 5) + pad("\(t.trials_done)/\(t.trials_total)", 9)
                    + pad(best, 11) + gf + (t.failures > 0 ? "  (\(t.failures) failed)" : "") + "\n"
            }
        }
        return out
    }

    /// Per task: best tuned latency, GFLOP/s, the fastest vendor library's latency (named)
    /// and the ratio; a baseline that ran below the device's level is marked and explained.
    public static func summary(_ c: StatusJSON.Campaign) -> String {
        var out = pad("task", 58) + pad("dev", 5) + pad("trials", 8) + pad("best", 11) + pad("GFLOP/s", 9)
            + pad("vendor (fastest)", 22) + "vendor/tuned\n"
        var notes: [String] = []
        for t in c.tasks {
            let ratio = (t.best_seconds != nil && t.vendor_seconds != nil) ? format2(t.vendor_seconds! / t.best_seconds!) + "x" : "-"
            var vendor = t.vendor_seconds.map(formatSeconds) ?? "-"
            if let lib = t.vendor_library { vendor += " " + lib }
            if let note = t.vendor_note {
                vendor += " !"
                if !notes.contains(note) { notes.append(note) }
            }
            out += pad(readableTaskName(t.name), 58) + pad(t.device_class, 5) + pad("\(t.trials_done)", 8)
                + pad(t.best_seconds.map(formatSeconds) ?? "-", 11) + pad(t.best_gflops.map(format1) ?? "-", 9)
                + pad(vendor, 22) + ratio + "\n"
        }
        for n in notes { out += "! \(n): ratios against it flatter the tuned kernels\n" }
        return out
    }

    /// The estimated network latency per device class: the sum of weight x best latency over
    /// the tasks with a verified result, and the vendor libraries' sum over the same tasks.
    public static func networkLatency(_ c: StatusJSON.Campaign) -> [(deviceClass: String, tuned: Double, vendor: Double?, tasksTuned: Int, tasks: Int)] {
        var out: [(deviceClass: String, tuned: Double, vendor: Double?, tasksTuned: Int, tasks: Int)] = []
        for dc in Set(c.tasks.map(\.device_class)).sorted() {
            let tasks = c.tasks.filter { $0.device_class == dc }
            let tuned = tasks.filter { $0.best_seconds != nil }
            guard !tuned.isEmpty else { continue }
            let sum = tuned.reduce(0.0) { $0 + Double($1.weight) * $1.best_seconds! }
            let withVendor = tuned.filter { $0.vendor_seconds != nil }
            let vendor = withVendor.count == tuned.count ? withVendor.reduce(0.0) { $0 + Double($1.weight) * $1.vendor_seconds! } : nil
            out.append((dc, sum, vendor, tuned.count, tasks.count))
        }
        return out
    }

    /// What the dashboard lists without `--all`: running campaigns, or the newest finished
    /// one when none runs (so a finished demo still shows its result).
    public static func shownByDefault(_ campaigns: [StatusJSON.Campaign]) -> [StatusJSON.Campaign] {
        let running = campaigns.filter { $0.state == "running" }
        if !running.isEmpty { return running }
        return campaigns.max(by: { $0.id < $1.id }).map { [$0] } ?? []
    }

    /// The device classes a running campaign has work for but no connected agent of.
    public static func waitingFor(_ c: StatusJSON.Campaign, agents: [StatusJSON.Agent]) -> [String] {
        guard c.state == "running" else { return [] }
        let present = Set(agents.filter { $0.state != "lost" }.map(\.device_class))
        return Set(c.tasks.filter { $0.trials_done < $0.trials_total }.map(\.device_class)).subtracting(present).sorted()
    }

    /// A time-limited campaign without a budget has no meaningful trial total.
    static func unboundedTrials(_ c: StatusJSON.Campaign) -> Bool { c.trials_total >= ActiveJob.maxTrials }

    /// Seconds left at the rate so far: to the budget's end or the time limit, whichever
    /// comes first; nil before the first result or when neither bounds the campaign.
    public static func eta(_ c: StatusJSON.Campaign) -> Double? {
        guard c.state == "running", let elapsed = c.elapsed_seconds else { return nil }
        var candidates: [Double] = []
        if let limit = c.time_limit_seconds { candidates.append(max(0, limit - elapsed)) }
        if !unboundedTrials(c), c.trials_done > 0, c.trials_total > c.trials_done {
            candidates.append(elapsed / Double(c.trials_done) * Double(c.trials_total - c.trials_done))
        }
        return candidates.min()
    }

    static func bar(done: Int, total: Int, width: Int) -> String {
        let f = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let n = Int((f * Double(width)).rounded())
        return "[" + String(repeating: "#", count: n) + String(repeating: ".", count: width - n) + "]"
    }

    public static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count)
    }

    public static func formatSeconds(_ s: Double) -> String {
        if s >= 1 { return format2(s) + " s" }
        if s >= 1e-3 { return format2(s * 1e3) + " ms" }
        return format2(s * 1e6) + " us"
    }

    public static func format1(_ x: Double) -> String { fixed(x, 1) }
    public static func format2(_ x: Double) -> String { fixed(x, 2) }

    static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return "\(x)" }
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let v = (abs(x) * p).rounded()
        let whole = Int(v / p)
        var frac = String(Int(v.truncatingRemainder(dividingBy: p)))
        while frac.count < digits { frac = "0" + frac }
        return (x < 0 ? "-" : "") + "\(whole)" + (digits > 0 ? "." + frac : "")
    }
}
