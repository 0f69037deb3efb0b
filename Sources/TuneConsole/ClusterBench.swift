/// `coordctl bench cluster`'s table: what coordd sustains with N simulated agents. Pure:
/// figures in, JSON and text out.
public struct ClusterBench: Codable, Sendable {
    public struct Run: Codable, Sendable {
        public var agents: Int
        public var latency_ms: Double
        /// Durable (committed, then acknowledged) results per second, first to last commit.
        public var results_per_second: Double
        public var dispatch_p50_ms: Double
        public var dispatch_p99_ms: Double
        public var busy_fraction: Double
        public var agents_with_work: Int
        /// Results stored, and the campaign's budget.
        public var results: Int
        public var budget: Int
        /// Candidates stored more than once, and results acknowledged but not stored.
        public var duplicates: Int
        public var missing: Int
        public var coordd_cpu_seconds: Double
        public var coordd_peak_rss_mb: Double
        public var seconds: Double
        /// Batches each simulated agent held at once.
        public var slots = 1
        public init(agents: Int, latency_ms: Double, results_per_second: Double, dispatch_p50_ms: Double, dispatch_p99_ms: Double,
                    busy_fraction: Double, agents_with_work: Int, results: Int, budget: Int, duplicates: Int, missing: Int,
                    coordd_cpu_seconds: Double, coordd_peak_rss_mb: Double, seconds: Double) {
            self.agents = agents; self.latency_ms = latency_ms; self.results_per_second = results_per_second
            self.dispatch_p50_ms = dispatch_p50_ms; self.dispatch_p99_ms = dispatch_p99_ms; self.busy_fraction = busy_fraction
            self.agents_with_work = agents_with_work; self.results = results; self.budget = budget; self.duplicates = duplicates
            self.missing = missing; self.coordd_cpu_seconds = coordd_cpu_seconds; self.coordd_peak_rss_mb = coordd_peak_rss_mb
            self.seconds = seconds
        }
    }
    public var runs: [Run]
    public init(runs: [Run]) { self.runs = runs }

    public func render() -> String {
        let d = Dashboard.self
        var out = d.pad("agents", 8) + d.pad("latency", 9) + d.pad("results/s", 11) + d.pad("dispatch p50/p99 ms", 21)
            + d.pad("busy", 7) + d.pad("with work", 11) + d.pad("stored/budget", 15) + d.pad("dup", 5) + d.pad("missing", 9)
            + d.pad("coordd cpu s", 14) + "rss MB\n"
        for r in runs {
            out += d.pad("\(r.agents)", 8) + d.pad("\(d.format1(r.latency_ms)) ms", 9) + d.pad(d.format1(r.results_per_second), 11)
                + d.pad("\(d.format2(r.dispatch_p50_ms)) / \(d.format2(r.dispatch_p99_ms))", 21)
                + d.pad("\(d.format1(r.busy_fraction * 100))%", 7) + d.pad("\(r.agents_with_work)/\(r.agents)", 11)
                + d.pad("\(r.results)/\(r.budget)", 15) + d.pad("\(r.duplicates)", 5) + d.pad("\(r.missing)", 9)
                + d.pad(d.format1(r.coordd_cpu_seconds), 14) + d.format1(r.coordd_peak_rss_mb) + "\n"
        }
        return out
    }
}
