import ArgumentParser
import Foundation
import TuneConsole
import TuneCore
import TuneLearning
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
    @Option(help: "After the search, time each task's best N candidates and every vendor library again, side by side (0: no confirmation pass).")
    var confirmTop = 4
    @Option(help: "How each task searches: random (the baseline) or evolutionary (the shipped model, adapted as results arrive, each task started from the shipped schedules).")
    var strategy = SearchChoice.random.rawValue
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard SearchChoice(rawValue: strategy) != nil else {
            throw ValidationError("unknown --strategy '\(strategy)': use \(SearchChoice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (1...100_000).contains(trials) else { throw ValidationError("--trials must be 1...100000") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024") }
        guard (0...64).contains(confirmTop) else { throw ValidationError("--confirm-top must be 0...64") }
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
        let id = try cluster.client.launch(workload: workload, trials: trials, devices: [.cpu], batchSize: 4, plan: plan, seed: 0,
                                           search: SearchChoice(rawValue: strategy)!)
        func wait(_ id: Int64, _ what: String) throws {
            var lastLine = 0.0
            _ = try cluster.client.waitForCampaign(id, poll: 0.5, observe: { _, c in
                if interrupted.isSet { throw ExitCode(130) }
                if Monotonic.now() - lastLine > 10 {
                    FileHandle.standardError.write(Data("bench: \(what) \(c.trialsDone)/\(c.trialsTotal) trials\n".utf8))
                    lastLine = Monotonic.now()
                }
            })
        }
        try wait(id, "search")
        var confirmation: Int64?
        if confirmTop > 0 {
            let rows = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
            let given = BenchReport.confirmationSchedules(rows: rows, top: confirmTop)
            if !given.isEmpty {
                let tasks = workload.tasks.filter { given[$0.task] != nil }
                let c = try cluster.client.launch(workload: Workload(name: workload.name + "-confirm", tasks: tasks), trials: 1,
                                                  devices: [.cpu], batchSize: confirmTop, plan: plan, seed: 1, given: given)
                try wait(c, "confirmation")
                confirmation = c
            }
        }
        cluster.stopAll()
        let store = try Store(readOnlyPath: cluster.databasePath)
        guard let summary = try store.campaigns().first(where: { $0.id == id }) else { throw ValidationError("no campaign") }
        var report = BenchReport(summary: summary, rows: try store.export(campaign: id),
                                 profile: try store.deviceProfiles().values.first { $0.deviceClass == .cpu }, threads: threads)
        if let c = confirmation, let again = try store.campaign(c) {
            report.confirm(with: again, retest: try ConfirmationPass.retest(store: store, first: id, again: c))
        }
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

/// The confirmation pass of a benchmark: each task's best candidates measured again, in a
/// campaign of given schedules (with the vendor libraries, as every job's first batch is),
/// and how well the two timings of those candidates agree.
enum ConfirmationPass {
    /// Test-retest of the candidates measured in both campaigns (nil with fewer than 2).
    static func retest(store: Store, first: Int64, again: Int64) throws -> BenchReport.Retest? {
        let r = try Retest.compare(store: store, again: again, first: first)
        guard r.pairs >= 2 else { return nil }
        return BenchReport.Retest(candidates: r.pairs, pca: r.pca, median_difference: r.medianDifference)
    }
}
