import TuneCore
import TuneStore

/// The CPU/GPU benchmark's table: per task the best tuned and vendor latency, their ratio,
/// GFLOP/s, the fraction of the device's peak, and how many trials reached 95% of the best.
public struct BenchReport: Codable, Sendable {
    public struct Task: Codable, Sendable {
        public var name: String
        public var device_class: String
        public var trials: Int
        public var tuned_seconds: Double?
        /// The fastest vendor library's time, and which library that was.
        public var vendor_seconds: Double?
        public var vendor_library: String?
        /// Every library timed for the task (openblas, onednn), seconds.
        public var vendor_seconds_by_library: [String: Double]
        /// vendor_seconds / tuned_seconds (against the fastest library): above 1 means the
        /// tuned kernel is faster.
        public var ratio: Double?
        public var gflops: Double?
        public var peak_fraction: Double?
        public var trials_to_95_percent: Int?
        public var failures: Int
        public var best_schedule: String?
        /// The confirmation pass: the task's top candidates and every vendor library timed
        /// again side by side after the search (the best of a search is the luckiest of its
        /// timings; these are not). The ratio a user should quote.
        public var confirmed_tuned_seconds: Double?
        public var confirmed_vendor_seconds: Double?
        public var confirmed_vendor_library: String?
        public var confirmed_ratio: Double?
    }

    /// How well this run's timings repeat: the confirmation pass's times against the first
    /// ones of the same candidates.
    public struct Retest: Codable, Sendable {
        public var candidates: Int
        public var pca: Double
        public var median_difference: Double
        public init(candidates: Int, pca: Double, median_difference: Double) {
            self.candidates = candidates; self.pca = pca; self.median_difference = median_difference
        }
    }
    public var tasks: [Task]
    public var retest: Retest?
    public var device: String
    public var threads: Int
    public var peak_gflops: Double
    /// How the tasks were searched (random, evolutionary).
    public var search: String

    /// `rows` in commit order (as `Store.export` returns them).
    public init(summary: CampaignSummary, rows: [ExportRow], profile: DeviceProfile?, threads: Int) {
        let p = profile
        // The profile's peak covers every core; a run on fewer threads has a share of it.
        let perCore = (p?.peakGFLOPS ?? 0) / Double(max(p?.cores ?? 1, 1))
        let peak = perCore * Double(min(threads, max(p?.cores ?? threads, 1)))
        peak_gflops = peak
        device = p.map { "\($0.model) (\($0.cores) cores, \($0.vectorBits)-bit vectors)" } ?? "unknown"
        self.threads = threads
        search = summary.search
        tasks = summary.tasks.map { t in
            let mine = rows.filter { $0.task == t.name && $0.deviceClass == t.deviceClass }
            var toTarget: Int?
            if let best = t.bestSeconds {
                toTarget = mine.firstIndex { $0.status == "ok" && ($0.medianSeconds ?? .infinity) <= best / 0.95 }.map { $0 + 1 }
            }
            let gflops = t.bestSeconds.map { t.flops / $0 / 1e9 }
            return Task(name: t.name, device_class: t.deviceClass, trials: t.trialsDone, tuned_seconds: t.bestSeconds,
                        vendor_seconds: t.vendorSeconds, vendor_library: t.vendorLibrary,
                        vendor_seconds_by_library: t.vendorSecondsByLibrary,
                        ratio: t.bestSeconds.flatMap { b in t.vendorSeconds.map { $0 / b } },
                        gflops: gflops, peak_fraction: gflops.flatMap { g in peak > 0 ? g / peak : nil },
                        trials_to_95_percent: toTarget, failures: t.failures, best_schedule: t.bestSchedule)
        }
    }

    /// What a confirmation pass measures again: the `top` fastest verified schedules of each
    /// task in `rows` (fastest first).
    public static func confirmationSchedules(rows: [ExportRow], top: Int) -> [TaskSpec: [Schedule]] {
        var out: [TaskSpec: [Schedule]] = [:]
        for (name, mine) in Dictionary(grouping: rows.filter { $0.status == "ok" && $0.medianSeconds != nil }, by: \.task) {
            guard top > 0, let task = try? TaskSpec(name: name) else { continue }
            let best = mine.sorted { ($0.medianSeconds!, $0.candidate) < ($1.medianSeconds!, $1.candidate) }.prefix(top)
            out[task] = best.compactMap { try? Schedule(encoding: $0.schedule) }
        }
        return out
    }

    /// Adds the confirmation pass (a campaign that timed each task's top candidates and the
    /// vendor libraries again) and the test-retest figure it gives.
    public mutating func confirm(with summary: CampaignSummary, retest: Retest?) {
        for i in tasks.indices {
            guard let t = summary.tasks.first(where: { $0.name == tasks[i].name && $0.deviceClass == tasks[i].device_class }) else { continue }
            tasks[i].confirmed_tuned_seconds = t.bestSeconds
            tasks[i].confirmed_vendor_seconds = t.vendorSeconds
            tasks[i].confirmed_vendor_library = t.vendorLibrary
            tasks[i].confirmed_ratio = t.bestSeconds.flatMap { b in t.vendorSeconds.map { $0 / b } }
        }
        self.retest = retest
    }

    public func render() -> String {
        let d = Dashboard.self
        var out = "device: \(device), \(threads) thread(s), peak \(d.format1(peak_gflops)) GFLOP/s\(search.isEmpty ? "" : ", \(search) search")\n"
        let libraries = Set(tasks.flatMap(\.vendor_seconds_by_library.keys)).sorted()
        let nameWidth = max(24, (tasks.map { readableTaskName($0.name).count }.max() ?? 0) + 2)
        let confirmed = tasks.contains { $0.confirmed_ratio != nil }
        out += d.pad("task", nameWidth) + d.pad("tuned", 11) + libraries.map { d.pad($0, 11) }.joined() + d.pad("fastest", 10)
            + d.pad("v/t", 7) + (confirmed ? d.pad("confirmed", 11) : "") + d.pad("GFLOP/s", 9) + d.pad("peak", 7) + d.pad("to95%", 7) + "fail\n"
        for t in tasks {
            out += d.pad(readableTaskName(t.name), nameWidth) + d.pad(t.tuned_seconds.map(d.formatSeconds) ?? "-", 11)
                + libraries.map { d.pad(t.vendor_seconds_by_library[$0].map(d.formatSeconds) ?? "-", 11) }.joined()
                + d.pad(t.vendor_library ?? "-", 10)
                + d.pad(t.ratio.map { d.format2($0) + "x" } ?? "-", 7)
                + (confirmed ? d.pad(t.confirmed_ratio.map { d.format2($0) + "x" } ?? "-", 11) : "")
                + d.pad(t.gflops.map(d.format1) ?? "-", 9)
                + d.pad(t.peak_fraction.map { d.format1($0 * 100) + "%" } ?? "-", 7)
                + d.pad(t.trials_to_95_percent.map { "\($0)" } ?? "-", 7) + "\(t.failures)\n"
        }
        out += "v/t: the fastest vendor library's time over the tuned kernel's (above 1: tuned is faster)\n"
        if let top = tasks.compactMap(\.peak_fraction).max(), top > 1 {
            // The profile's peak comes from the clock the CPU reports; a VM reports its nominal
            // clock and a CPU that boosts runs faster: a kernel above 100% says so, not a fault.
            out += "peak: against \(d.format1(peak_gflops)) GFLOP/s from the clock the CPU reports; a kernel at \(d.format1(top * 100))% of it means the CPU runs faster than it reports (boost, or a VM's nominal clock)\n"
        }
        if confirmed {
            out += "confirmed: the same ratio after the confirmation pass timed each task's top candidates and every library again, side by side\n"
        }
        if let r = retest {
            out += "test-retest of this run: PCA \(d.format2(r.pca)) and median difference \(d.format1(r.median_difference * 100))% over \(r.candidates) candidates timed twice\n"
        }
        return out
    }
}

/// The benchmark task lists (issue-defined shapes, batch 1).
public enum BenchWorkloads {
    public static let cpu = """
    name: bench-cpu
    1 matmul m=1024 n=1024 k=1024
    1 matmul m=128 n=3072 k=768
    1 conv2d c=64 h=56 w=56 k=64 r=3 s=3 pad=1
    1 conv2d c=128 h=28 w=28 k=128 r=3 s=3 pad=1
    1 conv2d c=256 h=14 w=14 k=256 r=3 s=3 pad=1
    1 conv2d c=512 h=7 w=7 k=512 r=3 s=3 pad=1
    1 conv2d c=64 h=56 w=56 k=256 r=1 s=1
    1 depthwise_conv2d c=32 h=112 w=112 r=3 s=3 pad=1
    """
}
