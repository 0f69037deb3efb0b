import ArgumentParser
import Foundation
import TuneConsole
import TuneCore
import TuneLearning
import TuneStore
import TuneSystem

struct Dataset: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Collect and import measurement datasets for the cost model.",
        subcommands: [DatasetCollect.self, DatasetImportCommand.self, DatasetRetime.self, DatasetNoise.self])
}

/// `coordctl dataset collect`: random candidates of every task of the workloads, on the
/// connected agents. It is a campaign like any other, so it resumes after a restart.
struct DatasetCollect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Launch a campaign of random candidates for every task of the workloads (resumable like any campaign).")
    @OptionGroup var control: ControlOptions
    @Option(help: "Workloads: built-in names or files, comma-separated.") var workload: String
    @Option(help: "Random candidates per task and device class.") var perTask: Int
    @Option(help: "Device classes: cpu, cuda, or both.") var device = "cpu"
    @Option(help: "Threads per kernel.") var threads = 1
    @Option(help: "Timed repeats per candidate.") var repeats = 5
    @Option(help: "Search seed (0: random).") var seed: UInt64 = 0
    @Option(help: "Wait for completion, at most this many seconds (0: do not wait).") var wait = 0.0
    @Flag(help: "Print {\"campaign\": ID}.") var json = false

    func validate() throws {
        guard perTask >= 1 && perTask <= 1_000_000 else { throw ValidationError("--per-task must be 1...1000000") }
        guard threads >= 1 && threads <= 1024 else { throw ValidationError("--threads must be 1...1024") }
        guard repeats >= 1 && repeats <= 1000 else { throw ValidationError("--repeats must be 1...1000") }
    }

    func run() throws {
        let parts = workload.split(separator: ",").map(String.init)
        guard !parts.isEmpty else { throw ValidationError("--workload needs at least one workload") }
        var tasks: [WeightedTask] = []
        var seen = Set<TaskSpec>()
        for w in try parts.map(loadWorkload) {
            for t in w.tasks where seen.insert(t.task).inserted { tasks.append(t) }
        }
        let w = Workload(name: "dataset:" + parts.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: "+"), tasks: tasks)
        var plan = MeasurePlan()
        plan.threads = threads
        plan.repeats = repeats
        let client = try control.client
        let id = try client.launch(workload: w, trials: perTask, devices: try parseDeviceClasses(device), batchSize: 0,
                                   plan: plan, seed: seed, search: .random)
        print(json ? "{\"campaign\": \(id)}" : "campaign \(id) collects \(perTask) random candidates for each of \(tasks.count) tasks")
        if wait > 0 {
            let start = Monotonic.now()
            while Monotonic.now() - start < wait {
                if let c = try client.status().campaigns.first(where: { $0.id == id }), c.state != "running" { return }
                Monotonic.sleep(1)
            }
            FileHandle.standardError.write(Data("campaign \(id) still running after \(wait) s; it goes on\n".utf8))
            throw ExitCode(3)
        }
    }
}

/// `coordctl dataset import`: records measured elsewhere into a database.
struct DatasetImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import exported records (JSONL, or a GPU bench table .tsv; plain, .gz or .xz) into a database.",
        discussion: "The same content imported twice is recognised and skipped. Every device needs its profile: exports made now carry it; for older files give --profile (e.g. tools/gpu-results/h100-run4/probe.json).")
    @Option(help: "The database (created if missing).") var db: String
    @Argument(help: "Files to import.") var files: [String]
    @Option(help: "Device profile (tune-agent probe --json output) for records that carry none.") var profile: String?
    @Flag(help: "Skip records of devices without a profile instead of refusing the file.") var skipUnprofiled = false
    @Flag(help: "Print a JSON summary.") var json = false

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one file to import") }
    }

    func run() throws {
        let given: DeviceProfile?
        do { given = try profile.map(DatasetImport.profile) } catch { throw ValidationError("\(error)") }
        let store = try openStore(db, create: true)
        var total = ImportSummary()
        var skipped = 0
        for file in files {
            var parsed: DatasetImport.Parsed
            let text: String
            do {
                text = try DatasetImport.read(file)
                parsed = try DatasetImport.parse(text, file: file, profile: given)
            } catch { throw ValidationError("\(error)") }
            let known = try store.deviceProfiles()
            for device in Set(parsed.records.map(\.device)) where parsed.profiles[device] == nil && known[device] == nil {
                if let given, parsed.records.contains(where: { $0.device == device && $0.deviceClass == given.deviceClass }) {
                    parsed.profiles[device] = given
                } else if skipUnprofiled {
                    skipped += parsed.records.filter { $0.device == device }.count
                    parsed.records.removeAll { $0.device == device }
                }
            }
            let name = URL(fileURLWithPath: file).lastPathComponent
            let s: ImportSummary
            do { s = try store.importRecords(parsed.records, source: name, digest: DatasetImport.digest(text), profiles: parsed.profiles) } catch {
                throw ValidationError("\(file): \(error)")
            }
            total.campaigns += s.campaigns
            total.records += s.records
            total.alreadyImported += s.alreadyImported
            total.duplicates += s.duplicates
            if !json {
                print("\(file): \(s.records) records in \(s.campaigns.count) campaigns" +
                      (s.alreadyImported > 0 ? ", \(s.alreadyImported) already imported" : "") +
                      (s.duplicates > 0 ? ", \(s.duplicates) duplicates skipped" : ""))
            }
        }
        if skipped > 0 && !json { print("skipped \(skipped) records of devices without a profile") }
        if json {
            print("{\"records\": \(total.records), \"campaigns\": \(total.campaigns.count), \"already_imported\": \(total.alreadyImported), \"duplicates\": \(total.duplicates), \"skipped\": \(skipped)}")
        }
    }
}

/// `coordctl dataset retime`: measures a random sample of a device's recorded schedules
/// again, as a campaign of given schedules, to know how well the labels repeat.
struct DatasetRetime: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retime",
        abstract: "Launch a campaign that measures a random sample of a device's verified records again (see dataset noise).",
        discussion: "Run it with an agent of that same device (target) connected, and nothing else running.")
    @OptionGroup var control: ControlOptions
    @Option(help: "The database holding the records.") var db: String
    @Option(help: "The device: a fingerprint or a target name (x86-64-v3, ...).") var device: String
    @Option(help: "Records to measure again.") var sample = 500
    @Option(help: "Sampling seed.") var seed: UInt64 = 1
    @Option(help: "Timed repeats per candidate.") var repeats = 5
    @Option(help: "Sample again while the samples' relative interquartile range is above this (0: exactly --repeats).")
    var targetSpread = MeasurePlan().targetSpread
    @Flag(help: "Print {\"campaign\": ID}.") var json = false

    func validate() throws {
        guard (2...100_000).contains(sample) else { throw ValidationError("--sample must be 2...100000") }
        guard targetSpread.isFinite && targetSpread >= 0 && targetSpread <= 1 else { throw ValidationError("--target-spread must be 0...1") }
    }

    func run() throws {
        let store = try openStore(db)
        let profiles = try store.deviceProfiles()
        let devices = Splitter.devices(matching: device, profiles: profiles)
        guard devices.count == 1, let fingerprint = devices.first else {
            throw ValidationError(devices.isEmpty ? "no device '\(device)' in \(db)" : "'\(device)' names \(devices.count) devices: give a fingerprint")
        }
        var records = try store.records(RecordQuery(devices: [fingerprint])).records
        var rng = SplitMix64(seed: seed)
        records.shuffle(using: &rng)
        var given: [TaskSpec: [Schedule]] = [:]
        for r in records.prefix(sample) where given[r.task]?.contains(r.schedule) != true { given[r.task, default: []].append(r.schedule) }
        let tasks = given.keys.sorted { $0.name < $1.name }.map { WeightedTask($0, weight: 1) }
        var plan = MeasurePlan()
        plan.repeats = repeats
        plan.targetSpread = targetSpread
        plan.threads = records.first?.threads ?? 1
        // On the recorded device's class: a CUDA device's records are re-timed by a CUDA agent.
        let deviceClass = profiles[fingerprint]?.deviceClass ?? .cpu
        let id = try control.client.launch(workload: Workload(name: "retime:\(fingerprint)", tasks: tasks), trials: 1, devices: [deviceClass],
                                           batchSize: 0, plan: plan, seed: seed, given: given)
        print(json ? "{\"campaign\": \(id)}" : "campaign \(id) measures \(given.values.reduce(0) { $0 + $1.count }) recorded schedules of \(tasks.count) tasks again")
    }
}

/// `coordctl dataset noise`: the test-retest figures of a retime campaign.
struct DatasetNoise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noise",
        abstract: "Compare a retime campaign with the first measurements: test-retest PCA and the median difference.")
    @Option(help: "The database.") var db: String
    @Option(help: "The retime campaign.") var campaign: Int64
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try openStore(db)
        guard try store.campaignExists(campaign) else { throw ValidationError("no campaign \(campaign) in \(db)") }
        let r = try Retest.compare(store: store, again: campaign)
        guard r.pairs > 0 else { throw ValidationError("campaign \(campaign) has no record that was measured before") }
        if json { print(jsonLine(r)); return }
        print("test-retest over \(r.pairs) records in \(r.groups) (task, device) groups: PCA \(String(format: "%.3f", r.pca)), median difference \(String(format: "%.1f", r.medianDifference * 100))%")
    }
}

extension Retest {
    /// Test-retest of campaign `again` (schedules measured a second time) against the same
    /// schedules' earlier records: those of campaign `first`, or of every other campaign.
    static func compare(store: Store, again: Int64, first: Int64? = nil) throws -> RetestReport {
        let all = try store.records(RecordQuery()).records
        let second = Set(try store.export(campaign: again).map(\.candidate))
        let earlier = try first.map { Set(try store.export(campaign: $0).map(\.candidate)) }
        return compare(first: all.filter { earlier?.contains($0.candidateID) ?? !second.contains($0.candidateID) },
                       second: all.filter { second.contains($0.candidateID) })
    }
}
