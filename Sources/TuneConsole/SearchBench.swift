import Foundation
import TuneCore

/// `coordctl bench search`'s comparison: each method's tuning curve of the estimated network
/// latency, and how many trials and how much wall time each needed to come within 5% of
/// the best latency any method found, with ratios to random search. Pure: curves in, table
/// and JSON out.
public struct SearchBench: Codable, Sendable {
    /// One campaign of one method.
    public struct Run: Codable, Sendable {
        public var name: String
        public var repeatIndex: Int
        public var seed: UInt64
        public var points: [CurvePoint]
        public var trials: Int
        public var wall_seconds: Double
        /// Coordinator time spent proposing (pool generation, model scoring, selection).
        public var search_seconds: Double
        public var model_versions: Int
        public init(name: String, repeatIndex: Int, seed: UInt64, points: [CurvePoint], trials: Int, wallSeconds: Double,
                    searchSeconds: Double, modelVersions: Int) {
            self.name = name; self.repeatIndex = repeatIndex; self.seed = seed; self.points = points; self.trials = trials
            wall_seconds = wallSeconds; search_seconds = searchSeconds; model_versions = modelVersions
        }
    }

    /// A method's figures: medians over its repeats.
    public struct Method: Codable, Sendable {
        public var name: String
        /// Estimated network latency at the end of the method's budget.
        public var final_seconds: Double?
        /// The method's budget when it had more than the common one (random search may run
        /// longer so that its trials to 95% are measured, not bounded). Its final figure is
        /// then not an equal-budget one.
        public var extended_trials: Int?
        /// With `extended_trials`: the estimate after the common budget's trials within the
        /// longer run (round-robin takes turns, least-tried task first, so it is where a
        /// campaign of the common budget would have ended, up to timing noise).
        public var at_budget_seconds: Double?
        /// Trials and wall seconds to come within 5% of `best_seconds`; nil: never.
        public var trials_to_95: Int?
        public var wall_seconds_to_95: Double?
        public var search_seconds: Double
        public var wall_seconds: Double
        /// search_seconds / wall_seconds.
        public var search_share: Double
        /// Repeats that came within 5% of the best.
        public var reached: Int
        public var repeats: Int
        /// Against random search (nil when random never came within 5%: see the upper bounds).
        public var trials_ratio_to_random: Double?
        public var wall_ratio_to_random: Double?
        /// When random never came within 5%, its whole budget and wall time stand in: the true
        /// ratios are at most these.
        public var trials_ratio_bound: Double?
        public var wall_ratio_bound: Double?
    }

    public var workload: String
    /// The device class every run tuned for (cpu, cuda); nil in files from before it was recorded.
    public var device_class: String?
    public var budget: Int
    public var tolerance: Double
    /// The best estimated network latency any run of any method found.
    public var best_seconds: Double?
    public var methods: [Method]
    public var runs: [Run]

    /// The confirmation pass (`bench search --confirm-last K`): the last K schedules that
    /// improved each task in each run, timed again side by side in one campaign; `runs` and
    /// `methods` are then replayed with those times.
    public struct Confirmation: Codable, Sendable {
        public var per_task: Int
        /// Schedules sent to the pass, and those it verified and timed.
        public var schedules: Int
        public var confirmed: Int
        /// Results of the runs whose schedule the pass timed, and the median of (pass - run) / run:
        /// positive when the machine was slower during the pass.
        public var pairs: Int
        public var median_difference: Double
        public init(perTask: Int, schedules: Int, confirmed: Int, pairs: Int, medianDifference: Double) {
            per_task = perTask; self.schedules = schedules; self.confirmed = confirmed; self.pairs = pairs; median_difference = medianDifference
        }
    }
    public var confirmation: Confirmation?
    /// With a confirmation pass: the methods and the best as the runs themselves timed them.
    public var as_measured: [Method]?
    public var as_measured_best_seconds: Double?

    public init(workload: String, deviceClass: DeviceClass = .cpu, budget: Int, runs: [Run], tolerance: Double = 0.05) {
        self.workload = workload
        device_class = deviceClass.rawValue
        self.budget = budget
        self.tolerance = tolerance
        self.runs = runs
        let best = runs.compactMap { $0.points.last?.seconds }.min()
        best_seconds = best
        var names: [String] = []
        for r in runs where !names.contains(r.name) { names.append(r.name) }
        var methods: [Method] = names.map { name in
            let mine = runs.filter { $0.name == name }
            let hits = mine.map { r in best.flatMap { TuningCurve.firstWithin(r.points, of: $0, tolerance: tolerance) } }
            let reached = hits.compactMap { $0 }
            let wall = Self.median(mine.map(\.wall_seconds)) ?? 0
            let search = Self.median(mine.map(\.search_seconds)) ?? 0
            // A run that never got there counts as needing more than it had: the median is
            // then defined only when most repeats got there.
            let trials95 = Self.median(hits.map { $0.map { Double($0.trials) } ?? .infinity }).flatMap { $0.isFinite ? Int($0) : nil }
            let wall95 = Self.median(hits.map { $0?.elapsed ?? .infinity }).flatMap { $0.isFinite ? $0 : nil }
            let longer = mine.contains { $0.trials > budget }
            return Method(name: name, final_seconds: Self.median(mine.compactMap { $0.points.last?.seconds }),
                          extended_trials: longer ? Self.median(mine.map { Double($0.trials) }).map { Int($0) } : nil,
                          at_budget_seconds: longer ? Self.median(mine.map { TuningCurve.value($0.points, atTrials: budget) ?? .infinity })
                              .flatMap { $0.isFinite ? $0 : nil } : nil,
                          trials_to_95: trials95, wall_seconds_to_95: wall95, search_seconds: search, wall_seconds: wall,
                          search_share: wall > 0 ? search / wall : 0, reached: reached.count, repeats: mine.count)
        }
        if let random = methods.first(where: { $0.name == "random" }) {
            let randomTrials = Self.median(runs.filter { $0.name == "random" }.map { Double($0.trials) }) ?? Double(budget)
            for i in methods.indices {
                guard let t = methods[i].trials_to_95, let w = methods[i].wall_seconds_to_95 else { continue }
                if let rt = random.trials_to_95, let rw = random.wall_seconds_to_95 {
                    methods[i].trials_ratio_to_random = Double(t) / Double(max(rt, 1))
                    methods[i].wall_ratio_to_random = w / max(rw, 1e-9)
                } else {
                    methods[i].trials_ratio_bound = Double(t) / max(randomTrials, 1)
                    methods[i].wall_ratio_bound = w / max(random.wall_seconds, 1e-9)
                }
            }
        }
        self.methods = methods
    }

    static func median(_ xs: [Double]) -> Double? {
        let s = xs.sorted()
        guard !s.isEmpty else { return nil }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    public func render() -> String {
        let d = Dashboard.self
        var out = "workload \(workload)" + (device_class.map { " on \($0)" } ?? "") + ", a budget of \(budget) trials per method"
        for m in methods { if let t = m.extended_trials { out += " (\(m.name): \(t), so that its trials to 95% are measured)" } }
        if let b = best_seconds { out += "; best estimated network latency found: \(d.formatSeconds(b))" }
        if let c = confirmation {
            out += "\nconfirmed: the last \(c.per_task) improvements of each task in each run timed again side by side "
                + "(\(c.confirmed) of \(c.schedules) schedules; the pass ran \(d.format1(c.median_difference * 100))% from the runs' own times, median)"
        }
        out += "\n" + d.pad("method", 12) + d.pad("final", 11) + d.pad("trials to 95%", 15) + d.pad("wall to 95%", 13)
            + d.pad("x random (trials, wall)", 25) + d.pad("search s", 10) + d.pad("wall s", 9) + "reached\n"
        for m in methods {
            var ratio = "-"
            if let t = m.trials_ratio_to_random, let w = m.wall_ratio_to_random {
                ratio = "\(d.format2(t)), \(d.format2(w))"
            } else if let t = m.trials_ratio_bound, let w = m.wall_ratio_bound {
                ratio = "<= \(d.format2(t)), <= \(d.format2(w))"
            }
            out += d.pad(m.name, 12) + d.pad(m.final_seconds.map(d.formatSeconds) ?? "-", 11)
                + d.pad(m.trials_to_95.map { "\($0)" } ?? "never", 15)
                + d.pad(m.wall_seconds_to_95.map { d.format1($0) + " s" } ?? "-", 13) + d.pad(ratio, 25)
                + d.pad(d.format1(m.search_seconds) + " (\(d.format1(m.search_share * 100))%)", 10) + d.pad(d.format1(m.wall_seconds), 9)
                + "\(m.reached)/\(m.repeats)" + (m.extended_trials.map { "  (after \($0) trials)" } ?? "")
                + (m.at_budget_seconds.map { "  (\(d.formatSeconds($0)) after \(budget))" } ?? "") + "\n"
        }
        return out
    }

    /// Curves of every run against trials and wall time, by file name.
    public var figures: [String: String] {
        let lines = runs.map { r in
            CurveCharts.Line(name: runs.filter { $0.name == r.name }.count > 1 ? "\(r.name) #\(r.repeatIndex + 1)" : r.name,
                             points: r.points, endTrials: Double(r.trials), endSeconds: r.wall_seconds)
        }
        return CurveCharts.files(title: "\(workload): estimated network latency, a budget of \(budget) trials", lines: lines)
    }
}
