import ArgumentParser
import Foundation
import TuneConsole
import TuneLearning
import TuneCore
import TuneStore
import TuneSystem
import TuneTransport
import TuneWire

@main
struct Coordctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordctl",
        abstract: "Operate a TuneFleet cluster: launch and watch campaigns, export results, run the demo.",
        subcommands: [Campaign.self, Status.self, Export.self, Report.self, Dataset.self, Model.self, Emit.self, Keygen.self, Demo.self, Bench.self])

    /// As ArgumentParser's own entry, but `--control` and the key options may also come
    /// before the subcommand (`coordctl --control tcp://h:7701 status`).
    static func main() {
        let args = CommandLineOrder.movingLeadingOptions(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(args)
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

struct ControlOptions: ParsableArguments {
    @Option(help: "The coordinator's control endpoint.")
    var control = "tcp://127.0.0.1:7701"
    @Option(help: "Seconds to wait for the coordinator's answer.")
    var requestTimeout = 10.0
    @Option(help: "The operator's CURVE key pair file, for a coordinator started with --key.")
    var key: String?
    @Option(help: "The coordinator's public key: its .pub file or the key itself. Required with --key.")
    var serverKey: String?

    func validate() throws {
        if (key == nil) != (serverKey == nil) { throw ValidationError("--key and --server-key go together") }
    }

    /// The client for these options; key files that cannot be used are a validation error.
    var client: ControlClient {
        get throws {
            guard let key, let serverKey else { return ControlClient(endpoint: control, timeout: requestTimeout) }
            do {
                let curve = CurveClientKeys(serverPublicKey: try CurveKeyFile.loadPublic(serverKey), keys: try CurveKeyFile.loadPair(key))
                return ControlClient(endpoint: control, timeout: requestTimeout, curve: curve)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }
}

/// `coordctl emit`: source to ship, one file per task and device class.
struct Emit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the fastest verified kernel of each task and device class of a campaign as source.",
        discussion: "Each file says what it computes, how fast it was and on what device, and how to build and call it; the CPU kernels come with tunefleet_kernels.h and a Makefile for one static library (reentrant entries: the caller gives each call its scratch).")
    @Option(help: "The coordinator's database.") var db: String
    @Option(help: "The campaign: emit its best kernel of each task and device class.") var campaign: Int64?
    @Option(help: "Emit one verified record instead of a campaign's best: its task, as export writes it (with --schedule).")
    var task: String?
    @Option(help: "The record's schedule, as export writes it, e.g. 'axis=1;cb=32;...' (with --task).") var schedule: String?
    @Option(help: "With --task: the device fingerprint, when more than one device measured the schedule.") var device: String?
    @Option(name: .shortAndLong, help: "Output folder (created if missing).") var output = "tuned-kernels"

    func validate() throws {
        switch (campaign, task, schedule) {
        case (_?, nil, nil), (nil, _?, _?): break
        case (nil, nil, nil): throw ValidationError("say what to emit: --campaign ID, or --task TASK --schedule SCHEDULE")
        case (_?, _, _): throw ValidationError("--campaign and --task/--schedule are two ways to choose; give one")
        default: throw ValidationError("--task and --schedule go together")
        }
        if device != nil && task == nil { throw ValidationError("--device goes with --task and --schedule") }
    }

    func run() throws {
        let store = try openStore(db)
        let choices: [KernelEmitter.Choice]
        if let task, let schedule {
            do { choices = [try KernelEmitter.chosen(try store.export(campaign: nil), task: task, schedule: schedule, device: device)] }
            catch let e as KernelEmitter.EmitError { throw ValidationError(e.description) }
        } else {
            let campaign = campaign!
            choices = KernelEmitter.best(try store.export(campaign: campaign))
            guard !choices.isEmpty else {
                throw ValidationError("campaign \(campaign) has no verified (ok) measurement in \(db)")
            }
        }
        let profiles = try store.deviceProfiles()
        try makeDirectories(output)
        var manifest = "# file\ttask\tdevice_class\tmedian_seconds\tschedule\n"
        var failures = 0
        var kernels: [KernelEmitter.Kernel] = []
        for c in choices {
            do {
                let k = try KernelEmitter.kernel(for: c, profile: profiles[c.device])
                try writeFile(output + "/" + k.file.name, k.file.text)
                kernels.append(k)
                manifest += "\(k.file.name)\t\(c.task)\t\(c.deviceClass)\t\(c.medianSeconds)\t\(c.schedule)\n"
                print("\(output)/\(k.file.name)  \(String(format: "%.3f", c.medianSeconds * 1e6)) us")
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("emit: \(error)\n".utf8))
            }
        }
        try writeFile(output + "/MANIFEST.tsv", manifest)
        if kernels.contains(where: { $0.choice.deviceClass == DeviceClass.cpu.rawValue }) {
            for f in KernelEmitter.library(kernels) { try writeFile(output + "/" + f.name, f.text) }
            print("\(output)/tunefleet_kernels.h, \(output)/Makefile: make -C \(output) builds libtunefleet_kernels.a")
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

/// `coordctl keygen NAME`: a CURVE key pair for a coordinator, an agent or an operator.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a CURVE key pair: NAME.key (both keys, mode 0600) and NAME.pub (the public key).",
        discussion: """
            Put each agent's and operator's public key on the coordinator's allow-list (coordd \
            --allow FILE, one `ROLE KEY name` per line: the line this prints); give agents and \
            coordctl the coordinator's .pub (--server-key).
            """)

    @Argument(help: "Path and base name of the two files.")
    var name: String
    @Option(help: "The role of the printed allow-list line: agent (the agent socket only) or operator (the control socket only).")
    var role = "agent"
    @Flag(help: "Replace existing files.")
    var force = false

    func validate() throws {
        guard AllowList.Role(rawValue: role) != nil else { throw ValidationError("--role must be agent or operator, not '\(role)'") }
    }

    func run() throws {
        let keyFile = name + ".key", pubFile = name + ".pub"
        for f in [keyFile, pubFile] where fileExists(f) && !force {
            throw ValidationError("\(f) exists; --force replaces it")
        }
        let pair = try CurveKeyPair.generate()
        let label = URL(fileURLWithPath: name).lastPathComponent
        try writeFile(keyFile, CurveKeyFile.format(pair, name: label), mode: 0o600)
        try writeFile(pubFile, CurveKeyFile.formatPublic(pair.publicKey, name: label))
        print("\(role) \(pair.publicKey) \(label)")
        FileHandle.standardError.write(Data("wrote \(keyFile) (secret, 0600) and \(pubFile); the line above is its allow-list entry as an \(role)\n".utf8))
    }
}

struct Campaign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Launch, wait for, or cancel campaigns.",
        subcommands: [Launch.self, Wait.self, Cancel.self])
}

/// `--workload NAME|FILE`: a built-in workload's name, or a workload file.
func loadWorkload(_ spec: String) throws -> Workload {
    if let w = BuiltinWorkloads.named(spec) { return w }
    guard FileManager.default.fileExists(atPath: spec) else {
        throw ValidationError("unknown workload '\(spec)': not a built-in (\(BuiltinWorkloads.names.joined(separator: ", "))) and no such file")
    }
    guard let text = readTextFile(spec) else { throw ValidationError("cannot read workload file \(spec)") }
    let name = URL(fileURLWithPath: spec).deletingPathExtension().lastPathComponent
    do { return try WorkloadFile.parse(text, defaultName: name) } catch {
        throw ValidationError("workload file \(spec): \(error.description)")
    }
}

func parseDeviceClasses(_ s: String) throws -> [DeviceClass] {
    let parts = s.split(separator: ",").map { String($0) }
    var out: [DeviceClass] = []
    for p in parts {
        if p == "both" { out += [.cpu, .cuda]; continue }
        guard let c = DeviceClass(rawValue: p) else { throw ValidationError("unknown device class '\(p)': use cpu, cuda or both") }
        out.append(c)
    }
    guard !out.isEmpty else { throw ValidationError("--device needs at least one class") }
    return Array(Set(out)).sorted { $0.rawValue < $1.rawValue }
}

struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Launch a campaign over a workload.")
    @OptionGroup var control: ControlOptions
    @Option(help: "Built-in workload name (\(BuiltinWorkloads.names.joined(separator: ", "))) or a workload file.")
    var workload: String
    @Option(help: "Trials (distinct candidates measured) per task and device class.")
    var trials: Int?
    @Option(help: "Trials over the whole workload per device class, shared out by the scheduler (instead of --trials).")
    var budget: Int?
    @Option(help: "Wall-clock limit from launch (90s, 15m, 2h, 1h30m): every job ends when it passes; with --budget, whichever comes first.")
    var time: String?
    @Option(help: "Device classes: cpu, cuda, or both (comma-separated).")
    var device = "cpu"
    @Option(help: "Candidates per batch (0: the coordinator's default).")
    var batchSize = 0
    @Option(help: "Threads per kernel and for the vendor library.")
    var threads = 1
    @Option(help: "Timed repeats per candidate.")
    var repeats = 5
    @Option(help: "After --repeats samples, sample again while their relative interquartile range is above this (0: exactly --repeats).")
    var targetSpread = MeasurePlan().targetSpread
    @Option(help: "The most samples a candidate may take under --target-spread (0: twice --repeats).")
    var maxRepeats = 0
    @Option(help: "Search seed (0: random).")
    var seed: UInt64 = 0
    @Option(help: "Seconds one candidate may take to verify and time, at least (a large task gets more: its runs at 0.5 GFLOP/s). Up to 3600.")
    var runTimeout = MeasurePlan().runTimeoutSeconds
    @Option(help: "Seconds one candidate may take to compile. Up to 3600.")
    var compileTimeout = MeasurePlan().compileTimeoutSeconds
    @Option(help: "How each job searches: \(SearchChoice.allCases.map(\.rawValue).joined(separator: ", ")).")
    var strategy = SearchChoice.random.rawValue
    @Option(help: "How trials are spread across tasks: \(SchedulerChoice.allCases.map(\.rawValue).joined(separator: ", ")).")
    var scheduler = SchedulerChoice.roundRobin.rawValue
    @Flag(help: "Print {\"campaign\": ID}.") var json = false

    func validate() throws {
        guard SearchChoice(rawValue: strategy) != nil else {
            throw ValidationError("unknown --strategy '\(strategy)': use \(SearchChoice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard SchedulerChoice(rawValue: scheduler) != nil else {
            throw ValidationError("unknown --scheduler '\(scheduler)': use \(SchedulerChoice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let time {
            guard let s = DurationText.seconds(time), s >= 1, s <= 365 * 86400 else {
                throw ValidationError("--time '\(time)' is not a duration of 1 s ... 365 days (e.g. 90s, 15m, 2h, 1h30m)")
            }
        }
        switch (trials, budget) {
        case (nil, nil) where time != nil: break
        case (nil, nil): throw ValidationError("give --trials (per task), --budget (over the workload) or --time (a duration)")
        case (.some, .some): throw ValidationError("--trials and --budget exclude each other")
        case (let t?, nil): guard t >= 1 && t <= 1_000_000 else { throw ValidationError("--trials must be 1...1000000") }
        case (nil, let b?): guard b >= 1 && b <= 100_000_000 else { throw ValidationError("--budget must be 1...100000000") }
        }
        guard threads >= 1 && threads <= 1024 else { throw ValidationError("--threads must be 1...1024") }
        guard repeats >= 1 && repeats <= 1000 else { throw ValidationError("--repeats must be 1...1000") }
        guard targetSpread.isFinite && targetSpread >= 0 && targetSpread <= 1 else { throw ValidationError("--target-spread must be 0...1 (0.02: 2%)") }
        guard maxRepeats == 0 || (maxRepeats >= repeats && maxRepeats <= 1000) else { throw ValidationError("--max-repeats must be 0 or --repeats...1000") }
        guard batchSize >= 0 && batchSize <= 512 else { throw ValidationError("--batch-size must be 0...512") }
        guard runTimeout > 0 && runTimeout <= 3600 else { throw ValidationError("--run-timeout must be more than 0 and at most 3600 seconds") }
        guard compileTimeout > 0 && compileTimeout <= 3600 else { throw ValidationError("--compile-timeout must be more than 0 and at most 3600 seconds") }
    }

    func run() throws {
        let w = try loadWorkload(workload)
        var plan = MeasurePlan()
        plan.threads = threads
        plan.repeats = repeats
        plan.targetSpread = targetSpread
        plan.maxRepeats = maxRepeats
        plan.runTimeoutSeconds = runTimeout
        plan.compileTimeoutSeconds = compileTimeout
        let id = try control.client.launch(workload: w, trials: trials ?? 0, devices: try parseDeviceClasses(device),
                                           batchSize: batchSize, plan: plan, seed: seed,
                                           search: SearchChoice(rawValue: strategy)!, scheduler: SchedulerChoice(rawValue: scheduler)!,
                                           budget: budget, timeLimit: time.flatMap(DurationText.seconds))
        var size = budget.map { "a budget of \($0) trials" } ?? trials.map { "\($0) trials each" } ?? "trials until the time is up"
        if let t = time.flatMap(DurationText.seconds) { size += ", \(DurationText.format(t)) at most" }
        print(json ? "{\"campaign\": \(id)}" : "campaign \(id) launched: \(w.name), \(w.tasks.count) tasks, \(size)")
        // Said at once rather than discovered later: work for a class nobody can measure.
        if let s = try? StatusJSON(control.client.status()), let c = s.campaigns.first(where: { $0.id == id }) {
            for dc in Dashboard.waitingFor(c, agents: s.agents) {
                FileHandle.standardError.write(Data("waiting for a \(dc) agent: none is connected; the campaign's \(dc) jobs start when one joins\n".utf8))
            }
        }
    }
}

struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Wait until a campaign completes (exit 0), or time out (exit 3).")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Campaign id.") var id: Int64
    @Option(help: "Give up after this many seconds (0: never).") var timeout = 0.0

    func run() throws {
        do {
            let c = try control.client.waitForCampaign(id, timeout: timeout > 0 ? timeout : nil)
            print("campaign \(id) completed: \(c.trialsDone)/\(c.trialsTotal) trials")
        } catch ControlClient.CampaignWaitError.cancelled {
            print("campaign \(id) was cancelled")
            throw ExitCode(4)
        } catch ControlClient.CampaignWaitError.noSuchCampaign {
            throw ValidationError("no campaign \(id)")
        } catch ControlClient.CampaignWaitError.timedOut(_, _, let last) {
            let progress = last.map { "\($0.trialsDone)/\($0.trialsTotal) trials" } ?? "no status"
            print("campaign \(id) not complete after \(timeout) s: \(progress)")
            throw ExitCode(3)
        }
    }
}

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a running campaign (its results stay).")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Campaign id.") var id: Int64

    func run() throws {
        var r = Tunefleet_V1_ControlRequest()
        r.cancel.campaignID = id
        _ = try control.client.request(r)
        print("campaign \(id) cancelled")
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show agents and campaigns (a text dashboard).")
    @OptionGroup var control: ControlOptions
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Refresh every second until interrupted; a coordinator that goes away (a restart) is waited for.") var watch = false
    @Flag(help: "List finished campaigns too (the dashboard shows running ones by default; --json always has all).") var all = false

    func run() throws {
        repeat {
            var s: StatusJSON
            do { s = StatusJSON(try control.client.status()) } catch where watch {
                print("\u{1B}[2J\u{1B}[H" + "waiting for the coordinator at \(control.control): \(error)")
                Monotonic.sleep(1)
                continue
            }
            if !json && !all { s.campaigns = Dashboard.shownByDefault(s.campaigns) }
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys]
                print(String(decoding: try enc.encode(s), as: UTF8.self))
            } else {
                if watch { print("\u{1B}[2J\u{1B}[H", terminator: "") }
                print(Dashboard.render(s))
            }
            if watch { Monotonic.sleep(1) }
        } while watch
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Export every measurement from a database.")
    @Option(help: "The coordinator's database.") var db: String
    @Option(help: "Only this campaign.") var campaign: Int64?
    @Option(help: "jsonl or csv.") var format = "jsonl"
    @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?
    @Flag(help: "Write the cost model's feature table instead (CSV: keys, split columns, label, one column per feature).")
    var features = false

    func validate() throws {
        guard format == "jsonl" || format == "csv" else { throw ValidationError("--format must be jsonl or csv, got '\(format)'") }
    }

    func run() throws {
        let store = try openStore(db)
        if features {
            let text = try FeatureTable.csv(store: store)
            if let output { try writeFile(output, text) } else { print(text, terminator: "") }
            return
        }
        let rows = try store.export(campaign: campaign)
        let text = format == "jsonl" ? ExportFormat.jsonl(rows, profiles: try store.deviceProfiles()) : ExportFormat.csv(rows)
        if let output { try writeFile(output, text) } else { print(text, terminator: "") }
    }
}
