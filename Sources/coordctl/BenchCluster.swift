import ArgumentParser
import Foundation
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// The load tool: coordd against hundreds of simulated agents (the real protocol, no
/// measurement), one fresh cluster per agent count.
struct BenchCluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Load-test coordd with simulated agents: committed results/s, dispatch latency, busy fraction, coordd CPU and memory; the database is checked afterwards.")

    @Option(help: "Agent counts, comma-separated.") var agents = "1,8,64,256"
    @Option(help: "Milliseconds each simulated candidate takes.") var latencyMs = 0.0
    @Option(help: "Trials per run (the campaign's budget).") var budget = 20_000
    @Option(help: "Candidates per batch.") var batchSize = 8
    @Option(help: "Batches each simulated agent holds at once (a real agent's --slots): a second one hides the wait for dispatch.") var slots = 1
    @Option(name: .shortAndLong, help: "Working folder; default: a new folder under /tmp.") var output: String?
    @Option(help: "Give up on a run after this many seconds.") var timeout = 600.0
    @Flag(help: "Print JSON.") var json = false

    var counts: [Int] { agents.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        let n = agents.split(separator: ",")
        guard !n.isEmpty, counts.count == n.count, counts.allSatisfy({ (1...4096).contains($0) }) else {
            throw ValidationError("--agents must be counts 1...4096, comma-separated, got '\(agents)'")
        }
        guard latencyMs >= 0 && latencyMs <= 60_000 else { throw ValidationError("--latency-ms must be 0...60000") }
        guard (1...10_000_000).contains(budget) else { throw ValidationError("--budget must be 1...10000000") }
        guard (1...512).contains(batchSize) else { throw ValidationError("--batch-size must be 1...512") }
        guard (1...64).contains(slots) else { throw ValidationError("--slots must be 1...64") }
    }

    /// Large GEMM spaces, so random search never runs dry before the budget.
    static let workload = """
        name: load
        1 matmul m=512 n=512 k=512
        1 matmul m=1024 n=1024 k=1024
        1 matmul m=768 n=3072 k=768
        1 matmul m=2048 n=1024 k=512
        1 batch_matmul b=12 m=128 n=128 k=64
        1 matmul m=384 n=768 k=3072
        1 matmul m=4096 n=256 k=256
        1 matmul m=256 n=4096 k=1024
        """

    func run() throws {
        guard let binDir = executableDirectory() else { throw ValidationError("cannot find this executable's folder") }
        let work = try output ?? makeTemporaryDirectory(prefix: "tunefleet-bench-cluster")
        let workload = try WorkloadFile.parse(Self.workload, defaultName: "load")
        var runs: [ClusterBench.Run] = []
        for n in counts {
            let dir = work + "/agents-\(n)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var settings = LocalCluster.Settings(binDir: binDir, dir: dir)
            settings.batchSize = batchSize
            settings.coordinatorArguments = ["--retrain-every", "0", "--no-shipped-model", "--log-level", "warning"]
            let cluster = try LocalCluster(settings: settings)
            defer { cluster.stopAll() }
            try cluster.startCoordinator()
            let stats = dir + "/sim-stats.json"
            try cluster.startSimulatedAgents(name: "sim", count: n, latencyMs: latencyMs, statsFile: stats, slots: slots)
            try cluster.waitForAgents(n, timeout: 120)
            guard let pid = cluster.coordinatorPID else { throw ValidationError("coordd is not running") }
            let cpu0 = Self.cpuSeconds(pid)
            var plan = MeasurePlan()
            plan.repeats = 1
            let id = try cluster.client.launch(workload: workload, trials: 0, devices: [.cpu], batchSize: batchSize, plan: plan, seed: 1,
                                               budget: budget)
            _ = try cluster.client.waitForCampaign(id, timeout: timeout, poll: 0.2)
            let cpu = Self.cpuSeconds(pid) - cpu0
            let rss = Self.peakRSSMegabytes(pid)
            cluster.stopAll()
            struct Stats: Decodable {
                var acknowledged: Int; var dispatch_p50_ms: Double; var dispatch_p99_ms: Double
                var busy_fraction: Double; var agents_with_work: Int
            }
            guard let bytes = readFile(stats), let s = try? JSONDecoder().decode(Stats.self, from: Data(bytes)) else {
                throw ValidationError("the simulated agents wrote no statistics (\(stats)); see \(dir)/sim.log")
            }
            let store = try Store(readOnlyPath: cluster.databasePath)
            let rows = try store.curveResults(campaign: id)
            let distinct = Set(try store.export(campaign: id).map(\.candidate)).count
            let span = (rows.last?.at ?? 0) - (rows.first?.at ?? 0)
            var run = ClusterBench.Run(agents: n, latency_ms: latencyMs, results_per_second: span > 0 ? Double(rows.count - 1) / span : 0,
                                       dispatch_p50_ms: s.dispatch_p50_ms, dispatch_p99_ms: s.dispatch_p99_ms, busy_fraction: s.busy_fraction,
                                       agents_with_work: s.agents_with_work, results: rows.count, budget: budget,
                                       duplicates: rows.count - distinct, missing: max(0, s.acknowledged - rows.count),
                                       coordd_cpu_seconds: cpu, coordd_peak_rss_mb: rss, seconds: span)
            run.slots = slots
            runs.append(run)
            FileHandle.standardError.write(Data("bench cluster: \(n) agents: \(Dashboard.format1(run.results_per_second)) results/s, dispatch p99 \(Dashboard.format2(run.dispatch_p99_ms)) ms\n".utf8))
        }
        let bench = ClusterBench(runs: runs)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted]
        let text = String(decoding: try enc.encode(bench), as: UTF8.self)
        try writeFile(work + "/bench.json", text + "\n")
        print(json ? text : bench.render() + "written: \(work)/bench.json")
    }

    /// User + system CPU seconds of a process, from /proc.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = readTextFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based over the whole line).
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func peakRSSMegabytes(_ pid: Int32) -> Double {
        guard let text = readTextFile("/proc/\(pid)/status"),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }
}
