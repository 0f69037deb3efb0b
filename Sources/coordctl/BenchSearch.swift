import ArgumentParser
import Foundation
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem

/// The end-to-end proof: random search against model-guided search, cold and with the
/// shipped transfer model, each a campaign with the same budget on the same local agents,
/// one after another in one invocation.
struct BenchSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Random vs model-guided (cold) vs transfer + gradient scheduler: one campaign each with the same budget on fresh local clusters; tuning curves, trials and wall time to within 5% of the best.",
        discussion: """
        Methods: random (random search, round-robin tasks, no model), model-cold (evolutionary search, round-robin, \
        no shipped model: it searches at random until its first retraining), transfer (evolutionary search, gradient \
        scheduler, the shipped pre-trained model adapted online, each task's first batch started from the shipped \
        schedules of the most similar tasks and devices). Each run gets a fresh coordinator and database, so \
        no method learns from another's measurements.
        """)

    @Option(help: "Built-in workload name (\(BuiltinWorkloads.names.joined(separator: ", "))) or a workload file.") var workload: String
    @Option(help: "Trials per method over the whole workload.") var budget: Int
    @Option(help: "Methods, comma-separated: random, model-cold, transfer.") var methods = "random,model-cold,transfer"
    @Option(help: "Runs per method (seeds 1...R); the table shows medians.") var `repeat` = 1
    @Option(help: "Random search runs this many times the budget, so that the trials it needs to come within 5% are measured rather than bounded (its final figure is then after that many trials, and says so).")
    var randomBudgetFactor = 1
    @Option(help: "Device class the campaigns tune for: cpu, or cuda (agent i uses cuda:i-1, so give one agent per GPU).") var device = "cpu"
    @Option(help: "Agents per run (default: 2 for cpu, 1 for cuda).") var agents: Int?
    @Option(help: "Also end each run after this long (e.g. 90s, 2m): every method then gets the same wall time as well as the same budget.") var time: String?
    @Option(help: "Candidates per batch.") var batchSize = 8
    @Option(help: "Timed repeats per candidate.") var repeats = 5
    @Option(help: "Threads per kernel.") var threads = 1
    @Option(help: "Retrain the model after this many new results (model-guided methods).") var retrainEvery = 32
    @Option(help: "After the runs, time again the last N schedules that improved each task in each run, every run's interleaved in one campaign, and replay the curves with those times (0: the curves as each run timed them).")
    var confirmLast = 4
    @Option(name: .shortAndLong, help: "Output folder: bench.json, curve SVGs, each run's database; default: a new folder under /tmp.") var output: String?
    @Option(help: "Give up on a run after this many seconds.") var timeout = 7200.0
    @Flag(help: "Print the JSON instead of the table.") var json = false

    static let known = ["random", "model-cold", "transfer"]

    func validate() throws {
        guard (1...1_000_000).contains(budget) else { throw ValidationError("--budget must be 1...1000000") }
        let ms = methods.split(separator: ",").map(String.init)
        guard !ms.isEmpty else { throw ValidationError("--methods is empty") }
        for m in ms where !Self.known.contains(m) { throw ValidationError("unknown method '\(m)': use \(Self.known.joined(separator: ", "))") }
        guard (1...20).contains(`repeat`) else { throw ValidationError("--repeat must be 1...20") }
        guard (1...20).contains(randomBudgetFactor) else { throw ValidationError("--random-budget-factor must be 1...20") }
        guard DeviceClass(rawValue: device) != nil else { throw ValidationError("--device must be cpu or cuda, not '\(device)'") }
        guard (1...16).contains(agentCount) else { throw ValidationError("--agents must be 1...16") }
        if let time, DurationText.seconds(time) == nil { throw ValidationError("--time '\(time)' is not a duration (e.g. 90s, 2m)") }
        guard (1...512).contains(batchSize) else { throw ValidationError("--batch-size must be 1...512") }
        guard (1...1000).contains(repeats) else { throw ValidationError("--repeats must be 1...1000") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024") }
        guard retrainEvery >= 1 else { throw ValidationError("--retrain-every must be >= 1") }
        guard (0...64).contains(confirmLast) else { throw ValidationError("--confirm-last must be 0...64") }
    }

    /// `--device`, checked in `validate`.
    var deviceClass: DeviceClass { DeviceClass(rawValue: device) ?? .cpu }
    var agentCount: Int { agents ?? (deviceClass == .cuda ? 1 : 2) }

    func run() throws {
        guard let binDir = executableDirectory() else { throw ValidationError("cannot find this executable's folder") }
        let w = try loadWorkload(workload)
        let out = try output ?? makeTemporaryDirectory(prefix: "tunefleet-bench-search")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let interrupted = StopSignal()
        onTerminationSignals { _ in interrupted.stop() }
        var runs: [Measured] = []
        let ms = methods.split(separator: ",").map(String.init)
        // Each run must start from an empty database: one left by an earlier run in the same
        // folder would hand the next coordd its measurements (transfer-tuning reads them).
        for r in 1...`repeat` {
            for m in ms where FileManager.default.fileExists(atPath: out + "/\(m)-\(r)") {
                throw ValidationError("\(out)/\(m)-\(r) exists (an earlier run?): give -o a new or empty folder")
            }
        }
        if FileManager.default.fileExists(atPath: out + "/confirm") { throw ValidationError("\(out)/confirm exists (an earlier run?): give -o a new or empty folder") }
        // Interleaved (random, cold, transfer, random, ...) so a slow drift of the machine hits
        // every method alike; the confirmation pass takes out what is left of it near the best.
        for r in 0..<`repeat` {
            for m in ms {
                let measured = try measure(method: m, repeatIndex: r, workload: w, binDir: binDir, dir: out + "/\(m)-\(r + 1)", interrupted: interrupted)
                runs.append(measured)
                let run = measured.run
                log("\(m) #\(r + 1): \(run.points.last.map { Dashboard.formatSeconds($0.seconds) } ?? "no estimate") after \(run.trials) trials, "
                    + "\(Dashboard.format1(run.wall_seconds)) s, search \(Dashboard.format1(run.search_seconds)) s")
            }
        }
        var bench = SearchBench(workload: w.name, deviceClass: deviceClass, budget: budget, runs: runs.map(\.run))
        if confirmLast > 0 {
            let dc = deviceClass.rawValue
            let given = SearchConfirmation.interleave(runs.map { SearchConfirmation.recordSetters($0.rows, deviceClass: dc, perTask: confirmLast) })
            let timings = try confirm(given, workload: w, binDir: binDir, dir: out + "/confirm", interrupted: interrupted)
            let replayed = runs.map { m in
                var r = m.run
                r.points = SearchConfirmation.points(m.rows, campaign: m.campaign, deviceClass: dc, confirmed: timings)
                return r
            }
            let asMeasured = bench
            bench = SearchBench(workload: w.name, deviceClass: deviceClass, budget: budget, runs: replayed)
            bench.as_measured = asMeasured.methods
            bench.as_measured_best_seconds = asMeasured.best_seconds
            let drift = SearchConfirmation.drift(runs: runs.map(\.rows), deviceClass: dc, confirmed: timings)
            bench.confirmation = SearchBench.Confirmation(perTask: confirmLast, schedules: given.values.reduce(0) { $0 + $1.count },
                                                          confirmed: timings.count, pairs: drift.pairs, medianDifference: drift.medianDifference)
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted]
        try writeFile(out + "/bench.json", String(decoding: try enc.encode(bench), as: UTF8.self) + "\n")
        let figures = bench.figures
        for (name, svg) in figures { try writeFile(out + "/" + name, svg) }
        if json {
            print(String(decoding: try enc.encode(bench), as: UTF8.self))
        } else {
            print(bench.render())
            let files = (["bench.json"] + figures.keys.sorted()).joined(separator: ", ")
            print("written: \(out)/\(files); each run's database and logs under \(out)/METHOD-N")
        }
    }

    /// One run with the rows and campaign it was read from (a confirmation pass replays them).
    struct Measured {
        var run: SearchBench.Run
        var rows: [ExportRow]
        var campaign: CampaignSummary
    }

    var plan: MeasurePlan {
        var plan = MeasurePlan()
        plan.threads = threads
        plan.repeats = repeats
        plan.minRepeatSeconds = 0.01
        return plan
    }

    /// A fresh coordinator and the agents in `dir`; a start that fails (agents that never get
    /// through) is retried once in a fresh folder.
    func startCluster(_ name: String, binDir: String, dir: String, coordinatorArguments: [String]) throws -> LocalCluster {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var settings = LocalCluster.Settings(binDir: binDir, dir: dir)
        settings.batchSize = batchSize
        settings.coordinatorArguments = coordinatorArguments
        var cluster = try LocalCluster(settings: settings)
        for attempt in 1...2 {
            do {
                try cluster.startCoordinator()
                for i in 1...agentCount {
                    try cluster.startAgent(name: "\(name)-agent-\(i)", arguments: deviceClass == .cuda ? ["--device", "cuda:\(i - 1)"] : [])
                }
                // Agents get through in a second or two; a start that hangs (seen rarely: agents
                // connected, never welcomed) is cheaper to retry than to wait out.
                try cluster.waitForAgents(agentCount, timeout: 20)
                break
            } catch where attempt == 1 {
                log("\(name): \(error); starting the cluster again")
                cluster.stopAll()
                settings.dir = dir + "-retry"
                try FileManager.default.createDirectory(atPath: settings.dir, withIntermediateDirectories: true)
                cluster = try LocalCluster(settings: settings)
            }
        }
        return cluster
    }

    func measure(method: String, repeatIndex: Int, workload: Workload, binDir: String, dir: String,
                 interrupted: StopSignal) throws -> Measured {
        let search: SearchChoice, scheduler: SchedulerChoice, arguments: [String]
        switch method {
        case "random":
            (search, scheduler) = (.random, .roundRobin)
            arguments = ["--retrain-every", "0", "--no-shipped-model"]
        case "model-cold":
            (search, scheduler) = (.evolutionary, .roundRobin)
            arguments = ["--retrain-every", "\(retrainEvery)", "--no-shipped-model"]
        default:
            (search, scheduler) = (.evolutionary, .gradient)
            arguments = ["--retrain-every", "\(retrainEvery)"]
        }
        let cluster = try startCluster("\(method) #\(repeatIndex + 1)", binDir: binDir, dir: dir, coordinatorArguments: arguments)
        defer { cluster.stopAll() }
        let seed = UInt64(repeatIndex + 1)
        // A time limit is the same for every method (random's larger budget does not buy it more time).
        let id = try cluster.client.launch(workload: workload, trials: 0, devices: [deviceClass], batchSize: batchSize, plan: plan, seed: seed,
                                           search: search, scheduler: scheduler,
                                           budget: method == "random" ? budget * randomBudgetFactor : budget,
                                           timeLimit: time.flatMap(DurationText.seconds))
        try wait(cluster, id, "\(method) #\(repeatIndex + 1)", unit: "trials", interrupted: interrupted)
        let status = StatusJSON(try cluster.client.status())
        cluster.stopAll()
        let store = try Store(readOnlyPath: cluster.databasePath)
        guard let summary = try store.campaign(id) else { throw ValidationError("campaign \(id) vanished from \(cluster.databasePath)") }
        let rows = try store.export(campaign: id)
        let report = CampaignReport(campaign: summary, rows: rows)
        let curve = report.curves.first { $0.deviceClass == deviceClass.rawValue }
        let run = SearchBench.Run(name: method, repeatIndex: repeatIndex, seed: seed, points: curve?.points ?? [], trials: curve?.trials ?? 0,
                                  wallSeconds: curve?.wallSeconds ?? 0, searchSeconds: status.search_seconds ?? 0,
                                  modelVersions: try store.models().filter { $0.deviceClass != nil }.count)
        return Measured(run: run, rows: rows, campaign: summary)
    }

    /// The confirmation pass: the given schedules of each task measured in one campaign of a
    /// fresh cluster (no model, nothing else proposed), their verified times by key.
    func confirm(_ given: [String: [Schedule]], workload: Workload, binDir: String, dir: String,
                 interrupted: StopSignal) throws -> [SearchConfirmation.Key: Double] {
        let tasks = workload.tasks.filter { given[$0.task.name] != nil }
        guard !tasks.isEmpty else { return [:] }
        let cluster = try startCluster("confirmation", binDir: binDir, dir: dir, coordinatorArguments: ["--retrain-every", "0", "--no-shipped-model"])
        defer { cluster.stopAll() }
        let schedules = Dictionary(uniqueKeysWithValues: tasks.map { ($0.task, given[$0.task.name]!) })
        let id = try cluster.client.launch(workload: Workload(name: workload.name + "-confirm", tasks: tasks), trials: 1, devices: [deviceClass],
                                           batchSize: batchSize, plan: plan, seed: 1, given: schedules)
        try wait(cluster, id, "confirmation", unit: "schedules", interrupted: interrupted)
        cluster.stopAll()
        return SearchConfirmation.timings(try Store(readOnlyPath: cluster.databasePath).export(campaign: id), deviceClass: deviceClass.rawValue)
    }

    /// Waits for a campaign with a progress line every 30 s; an interrupt ends the bench.
    func wait(_ cluster: LocalCluster, _ id: Int64, _ what: String, unit: String, interrupted: StopSignal) throws {
        var last = Monotonic.now()
        _ = try cluster.client.waitForCampaign(id, timeout: timeout, poll: 0.5, observe: { _, c in
            if interrupted.isSet { throw ExitCode(130) }
            if Monotonic.now() - last > 30 {
                log("\(what): \(c.trialsDone)/\(c.trialsTotal) \(unit)")
                last = Monotonic.now()
            }
        })
    }

    func log(_ s: String) { FileHandle.standardError.write(Data(("bench search: " + s + "\n").utf8)) }
}
