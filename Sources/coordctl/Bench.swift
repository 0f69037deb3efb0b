import ArgumentParser
import Foundation
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark tuned kernels against the vendor library on a local agent (not a test).",
        subcommands: [BenchCPU.self, BenchSearch.self, BenchCluster.self])
}

struct BenchCPU: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cpu",
        abstract: "Tune the CPU benchmark tasks (GEMMs, ResNet-50 convolutions, a depthwise layer) on one local agent.")

    @Option(help: "Trials per task.") var trials = 64
    @Option(help: "Threads per kernel and for the vendor libraries.") var threads = 1
    @Option(help: "Working folder; default: a new folder under /tmp.") var dir: String?
    @Option(help: "Only tasks whose name contains this text.") var only: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1...100_000).contains(trials) else { throw ValidationError("--trials must be 1...100000") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024") }
    }

    func run() throws {
        guard let binDir = executableDirectory() else { throw ValidationError("cannot find this executable's folder") }
        var workload = try WorkloadFile.parse(BenchWorkloads.cpu, defaultName: "bench-cpu")
        if let only { workload.tasks = workload.tasks.filter { $0.task.name.contains(only) } }
        guard !workload.tasks.isEmpty else { throw ValidationError("--only '\(only ?? "")' matches no task") }
        let work = try dir ?? makeTemporaryDirectory(prefix: "tunefleet-bench")
        let cluster = try LocalCluster(settings: .init(binDir: binDir, dir: work))
        let interrupted = StopSignal()
        onTerminationSignals { _ in interrupted.stop() }
        defer { cluster.stopAll() }
        let started = Monotonic.now()
        try cluster.startCoordinator()
        try cluster.startAgent(name: "bench-cpu")
        try cluster.waitForAgents(1)
        var plan = MeasurePlan()
        plan.threads = threads
        plan.repeats = 7
        plan.minRepeatSeconds = 0.02
        plan.runTimeoutSeconds = 120
        let id = try cluster.client.launch(workload: workload, trials: trials, devices: [.cpu], batchSize: 4, plan: plan, seed: 0)
        var lastLine = 0.0
        _ = try cluster.client.waitForCampaign(id, poll: 0.5, observe: { _, c in
            if interrupted.isSet { throw ExitCode(130) }
            if Monotonic.now() - lastLine > 10 {
                FileHandle.standardError.write(Data("bench: \(c.trialsDone)/\(c.trialsTotal) trials\n".utf8))
                lastLine = Monotonic.now()
            }
        })
        cluster.stopAll()
        let store = try Store(readOnlyPath: cluster.databasePath)
        guard let summary = try store.campaigns().first(where: { $0.id == id }) else { throw ValidationError("no campaign") }
        let report = BenchReport(summary: summary, rows: try store.export(campaign: id),
                                 profile: try store.deviceProfiles().values.first { $0.deviceClass == .cpu }, threads: threads)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print(report.render())
            print("wall time \(Dashboard.format1(Monotonic.now() - started)) s; database and logs in \(work)")
        }
    }
}
