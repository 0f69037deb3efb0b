import ArgumentParser
import Foundation
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a demo campaign on a local cluster: coordd and CPU agents as child processes on loopback.",
        discussion: "The campaign spends a total budget with model-guided evolutionary search and the gradient task scheduler, while coordd retrains its cost model from the results as they arrive.")

    @Option(help: "Trials over the whole workload.") var budget = 48
    @Option(help: "Search: random or evolutionary.") var strategy = SearchChoice.evolutionary.rawValue
    @Option(help: "Task scheduler: round-robin, flops or gradient.") var scheduler = SchedulerChoice.gradient.rawValue
    @Option(help: "Retrain the cost model after this many new results.") var retrainEvery = 8
    @Option(help: "Number of CPU agents.") var agents = 2
    @Option(help: "Working folder (database and logs); default: a new folder under /tmp.") var dir: String?
    @Option(help: "Give up after this many seconds.") var timeout = 600.0
    @Flag(help: "Print the summary as JSON at the end.") var json = false

    func validate() throws {
        guard (1...100_000).contains(budget) else { throw ValidationError("--budget must be 1...100000") }
        guard SearchChoice(rawValue: strategy) != nil else { throw ValidationError("unknown --strategy '\(strategy)'") }
        guard SchedulerChoice(rawValue: scheduler) != nil else { throw ValidationError("unknown --scheduler '\(scheduler)'") }
        guard retrainEvery >= 1 else { throw ValidationError("--retrain-every must be >= 1") }
        guard (1...16).contains(agents) else { throw ValidationError("--agents must be 1...16") }
    }

    func run() throws {
        guard let exe = currentExecutablePath() else { throw ValidationError("cannot find this executable's path") }
        let binDir = URL(fileURLWithPath: exe).deletingLastPathComponent().path
        let workDir = try dir ?? makeTemporaryDirectory(prefix: "tunefleet-demo")
        guard let workload = BuiltinWorkloads.named("demo") else { throw ValidationError("demo workload missing") }
        var settings = LocalCluster.Settings(binDir: binDir, dir: workDir)
        settings.coordinatorArguments = ["--retrain-every", "\(retrainEvery)"]
        let cluster = try LocalCluster(settings: settings)
        let interrupted = StopSignal()
        onTerminationSignals { _ in interrupted.stop() }
        defer { cluster.stopAll() }
        let started = Monotonic.now()
        let tty = isatty(1) == 1 && !json
        log("working folder: \(workDir)")
        try cluster.startCoordinator()
        for i in 1...agents { try cluster.startAgent(name: "demo-agent-\(i)") }
        try cluster.waitForAgents(agents)
        let security = cluster.keys.map { "CURVE keys, allow-list \($0.allowFile)" } ?? "no keys"
        log("coordd on \(cluster.agentEndpoint) (control \(cluster.controlEndpoint); \(security)), \(agents) agents connected")
        var plan = MeasurePlan()
        plan.repeats = 5
        plan.minRepeatSeconds = 0.01
        let id = try cluster.client.launch(workload: workload, trials: 0, devices: [.cpu], batchSize: 4, plan: plan, seed: 0,
                                           search: SearchChoice(rawValue: strategy)!, scheduler: SchedulerChoice(rawValue: scheduler)!,
                                           budget: budget)
        log("campaign \(id): \(workload.tasks.count) tasks, a budget of \(budget) trials, \(strategy) search, \(scheduler) scheduler; the model retrains every \(retrainEvery) results")
        var lastPrint = 0.0
        var seen: StatusJSON?
        do {
            _ = try cluster.client.waitForCampaign(id, timeout: timeout - (Monotonic.now() - started),
                                                          poll: tty ? 0.5 : 0.25, observe: { report, c in
                if interrupted.isSet {
                    log("interrupted: stopping the cluster")
                    throw ExitCode(130)
                }
                let s = StatusJSON(report)
                seen = s
                if tty {
                    print("\u{1B}[2J\u{1B}[H" + Dashboard.render(s))
                } else if c.state != "completed" && Monotonic.now() - lastPrint >= 5 {
                    log("campaign \(id): \(c.trialsDone)/\(c.trialsTotal) trials, \(Dashboard.format1(s.results_per_second)) results/s")
                    lastPrint = Monotonic.now()
                }
            })
        } catch ControlClient.CampaignWaitError.timedOut {
            throw ValidationError("demo did not finish within \(timeout) s")
        } catch ControlClient.CampaignWaitError.noSuchCampaign {
            throw ValidationError("campaign \(id) vanished")
        }
        let wall = Monotonic.now() - started
        guard let c = seen?.campaigns.first(where: { $0.id == id }) else { throw ValidationError("campaign \(id) vanished") }
        // What the model did: versions trained while the campaign ran, and the candidates it chose.
        let store = try Store(readOnlyPath: cluster.databasePath)
        let rows = try store.export(campaign: id)
        let guided = rows.filter { $0.provenance.modelVersion != nil }.count
        let transferred = rows.filter { $0.provenance.proposer == "transfer" }.count
        let versions = try store.models()
        let model = StatusJSON(try cluster.client.status()).models?.first
        let modelLine = "cost model: \(versions.count) versions trained during the campaign"
            + (model.map { ", the last (v\($0.version)) on \($0.records) records" + ($0.recent_pca.map { String(format: ", PCA %.2f on results it had not seen", $0) } ?? "") } ?? "")
            + "; of \(rows.count) candidates \(guided) were chosen by the model, \(transferred) transfer-tuned from the shipped "
            + "schedules of similar tasks and devices (each task's first), the rest at random (exploration)"
        if json {
            struct Summary: Encodable {
                var campaign: Int64; var wall_seconds: Double; var results: Int; var dir: String
                var tasks: [StatusJSON.Task]; var model_versions: Int; var model_guided: Int
            }
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try enc.encode(Summary(campaign: id, wall_seconds: wall, results: c.trials_done, dir: workDir,
                                                          tasks: c.tasks, model_versions: versions.count, model_guided: guided)),
                         as: UTF8.self))
        } else {
            print("\nDemo campaign \(id) completed: \(c.trials_done) results in \(Dashboard.format1(wall)) s (\(agents) agents)\n")
            print(Dashboard.summary(c))
            print(modelLine + "\n")
            print("Database and logs: \(workDir)")
            print("The tuned kernels as source: coordctl emit --db \(workDir)/tunefleet.db --campaign \(id) -o tuned-kernels")
        }
    }

    func log(_ s: String) {
        FileHandle.standardError.write(Data(("demo: " + s + "\n").utf8))
    }
}
