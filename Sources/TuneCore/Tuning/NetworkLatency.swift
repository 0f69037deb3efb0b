/// The estimated latency of a whole network on one device class, as results arrive: the sum
/// over its tasks of weight (occurrences) x the best verified latency found so far, once
/// every task has one. Tuned kernels only: the vendor libraries' sum is shown beside it,
/// never mixed in (a task counted at its vendor time until its first result made curves rise
/// where the vendor was faster, and let a method "reach" the best before tuning anything).
///
/// Pure: the coordinator keeps one per running campaign and device class for `status`, and
/// `coordctl report` and `bench search` replay a campaign's stored results through one.
public struct NetworkLatency: Sendable {
    /// Occurrences of each task (by name) in the network.
    public let weights: [String: Int]
    public private(set) var best: [String: Double] = [:]

    public init(weights: [String: Int]) { self.weights = weights }

    /// The estimate; nil while some task has no verified result.
    public var seconds: Double? {
        var sum = 0.0
        for (task, w) in weights {
            guard let s = best[task] else { return nil }
            sum += Double(w) * s
        }
        return sum
    }

    /// Tasks with a verified result.
    public var tasksTuned: Int { best.count }

    /// A verified result; returns true when it improved the task's best.
    @discardableResult
    public mutating func observe(task: String, seconds: Double) -> Bool {
        guard weights[task] != nil, seconds.isFinite, seconds > 0 else { return false }
        if let b = best[task], b <= seconds { return false }
        best[task] = seconds
        return true
    }
}

/// One point of a tuning curve: after `trials` results (`elapsed` seconds after the start),
/// the estimated network latency was `seconds`.
public struct CurvePoint: Hashable, Codable, Sendable {
    public var trials: Int
    public var elapsed: Double
    public var seconds: Double
    public init(trials: Int, elapsed: Double, seconds: Double) { self.trials = trials; self.elapsed = elapsed; self.seconds = seconds }
}

/// A tuning curve with a bounded number of points, for status: when full, every other point
/// is dropped (the first and the newest are kept), so it always spans the whole campaign.
public struct BoundedCurve: Sendable {
    public let capacity: Int
    public private(set) var points: [CurvePoint] = []
    public init(capacity: Int = 64) { self.capacity = max(4, capacity) }

    public mutating func append(_ p: CurvePoint) {
        if let last = points.last, last.seconds == p.seconds { return }
        points.append(p)
        if points.count > capacity {
            let newest = points.removeLast()
            points = points.enumerated().filter { $0.offset % 2 == 0 }.map(\.element) + [newest]
        }
    }
}

public enum TuningCurve {
    /// One result, as a curve sees it.
    public struct Result: Sendable {
        public var task: String
        /// The verified latency; nil for a failed or wrong candidate (it still costs a trial).
        public var seconds: Double?
        public var elapsed: Double
        public init(task: String, seconds: Double?, elapsed: Double) { self.task = task; self.seconds = seconds; self.elapsed = elapsed }
    }

    /// The estimated network latency after each result that changed it (results in commit
    /// order), from the first trial where every task has an estimate.
    public static func points(_ results: [Result], network: NetworkLatency) -> [CurvePoint] {
        var n = network
        var out: [CurvePoint] = []
        if let s = n.seconds { out.append(CurvePoint(trials: 0, elapsed: 0, seconds: s)) }
        for (i, r) in results.enumerated() {
            if let p = step(&n, r, trials: i + 1), out.last?.seconds != p.seconds { out.append(p) }
        }
        return out
    }

    /// One result folded into the network's estimate: the curve's new point when the result
    /// changed the estimate (the `trials`-th result), nil otherwise.
    public static func step(_ network: inout NetworkLatency, _ r: Result, trials: Int) -> CurvePoint? {
        guard let s = r.seconds, network.observe(task: r.task, seconds: s), let total = network.seconds else { return nil }
        return CurvePoint(trials: trials, elapsed: r.elapsed, seconds: total)
    }

    /// The first point within `tolerance` (0.05: 5%) of `target`; nil when the curve never
    /// gets there.
    public static func firstWithin(_ points: [CurvePoint], of target: Double, tolerance: Double = 0.05) -> CurvePoint? {
        points.first { $0.seconds <= target * (1 + tolerance) }
    }

    /// The estimate at a trial count: the last point at or before it.
    public static func value(_ points: [CurvePoint], atTrials t: Int) -> Double? {
        points.last { $0.trials <= t }?.seconds
    }

    /// A one-line sparkline of values (lower is better, drawn lower).
    public static func sparkline(_ values: [Double], width: Int = 24) -> String {
        let v = values.filter(\.isFinite)
        guard !v.isEmpty else { return "" }
        let bars: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
        // Resampled to at most `width` columns, each the value at the end of its span.
        let cols = min(width, v.count)
        let sampled = (0..<cols).map { c in v[min(v.count - 1, (c + 1) * v.count / cols - 1)] }
        let lo = sampled.min()!, hi = sampled.max()!
        return String(sampled.map { x in hi > lo ? bars[Int(((x - lo) / (hi - lo) * 7).rounded())] : bars[3] })
    }
}

/// A campaign's tuning curves, one per device class, folded incrementally from its results in
/// commit order: what `status` shows as a sparkline, without rereading what it has seen.
public struct CampaignCurves: Sendable {
    public struct Task: Sendable {
        public var name: String
        public var deviceClass: String
        public var weight: Int
        public init(name: String, deviceClass: String, weight: Int) {
            self.name = name; self.deviceClass = deviceClass; self.weight = weight
        }
    }

    /// The last measurement folded in.
    public private(set) var lastID: Int64 = 0
    public private(set) var networks: [String: NetworkLatency] = [:]
    public private(set) var curves: [String: BoundedCurve] = [:]
    public private(set) var trials: [String: Int] = [:]
    public let start: Double

    public init(tasks: [Task], start: Double, capacity: Int = 64) {
        self.start = start
        for (dc, ts) in Dictionary(grouping: tasks, by: \.deviceClass) {
            var weights: [String: Int] = [:]
            for t in ts { weights[t.name, default: 0] += t.weight }
            networks[dc] = NetworkLatency(weights: weights)
            curves[dc] = BoundedCurve(capacity: capacity)
        }
    }

    public mutating func ingest(_ rows: [(id: Int64, deviceClass: String, task: String, seconds: Double?, at: Double)]) {
        for r in rows where r.id > lastID {
            lastID = r.id
            guard networks[r.deviceClass] != nil else { continue }
            trials[r.deviceClass, default: 0] += 1
            let result = TuningCurve.Result(task: r.task, seconds: r.seconds, elapsed: max(0, r.at - start))
            // The bounded curve drops a point that repeats the last estimate.
            if let p = TuningCurve.step(&networks[r.deviceClass]!, result, trials: trials[r.deviceClass]!) { curves[r.deviceClass]!.append(p) }
        }
    }
}
