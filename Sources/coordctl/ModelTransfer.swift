import ArgumentParser
import Foundation
import TuneConsole
import TuneCore
import TuneFeatures
import TuneLearning
import TuneModel
import TuneSearch
import TuneStore

/// `coordctl model adapt`: few-shot adaptation of a transfer, meta or xgb model to one target.
struct ModelAdapt: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapt",
        abstract: "Adapt a transfer, meta or xgb model to a target's first K records (gradient steps, or more trees); store it as a version based on the model.")
    @Option(help: "The database.") var db: String
    @Option(help: "The base model version (transfer, meta or xgb).") var from: Int64
    @Option(help: "The target: a device fingerprint or a target name (x86-64-v3, a GPU model).") var target: String
    @Option(help: "Adapt on at most this many of the target's verified records (the first measured).") var records = 32
    @Option(help: "XGBoost: trees grown on the target's records (default 20).") var adaptTrees: Int?
    @Option(help: "XGBoost: their learning rate (default 0.1).") var adaptEta: Double?
    @Option(help: "XGBoost: their least hessian weight in a leaf (default 0).") var adaptMinChildWeight: Double?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1...100_000).contains(records) else { throw ValidationError("--records must be 1...100000") }
        try XGBoostAdaptationOptions.validate(trees: adaptTrees, eta: adaptEta, minChildWeight: adaptMinChildWeight)
    }

    func run() throws {
        let store = try openStore(db, create: true)
        let profiles = try store.deviceProfiles()
        let devices = Splitter.devices(matching: target, profiles: profiles)
        guard !devices.isEmpty else { throw ValidationError("unknown target '\(target)' in \(db)") }
        guard let stored = try store.model(id: from), let version = try store.models().first(where: { $0.id == from }) else {
            throw ValidationError("no model \(from) in \(db)")
        }
        let base: LearnedCostModel
        do { base = try LearnedCostModel.load(stored, version: version) } catch { throw ValidationError("\(error)") }
        let all = try store.records(RecordQuery(devices: devices.sorted(), okOnly: true)).records
        let trained: TrainedModel
        do {
            trained = try Adaptation.adapt(base: base, baseStored: stored, records: all, devices: devices, limit: records, profiles: profiles,
                                           xgb: XGBoostAdaptationOptions.applied(trees: adaptTrees, eta: adaptEta, minChildWeight: adaptMinChildWeight,
                                                                                to: XGBoostAdaptation()))
        } catch { throw ValidationError("\(error)") }
        let v = try store.saveModel(trained.stored)
        // How it does on the target's records it did not see, before and after.
        let held = Adaptation.heldOut(base: base, adapted: trained.model, records: all, devices: devices, limit: records, profiles: profiles)
        if json {
            struct Out: Encodable { var version: Int64; var base: Int64; var kind: String; var records: Int; var seconds: Double; var held_out: Int; var pca_before: Double?; var pca_after: Double? }
            print(jsonLine(Out(version: v.id, base: from, kind: stored.kind, records: trained.stored.records, seconds: trained.seconds,
                               held_out: held.records, pca_before: held.before, pca_after: held.after)))
        } else {
            print("model \(v.id): \(stored.kind) \(from) adapted to \(target) on \(trained.stored.records) records in \(String(format: "%.2f", trained.seconds)) s")
            if let before = held.before, let after = held.after {
                print("on the target's other \(held.records) records: PCA \(String(format: "%.3f", before)) -> \(String(format: "%.3f", after))")
            }
        }
    }
}

/// The `--adapt-trees`, `--adapt-eta` and `--adapt-min-child-weight` of `model adapt` and
/// `model eval --shots`: checked and applied in one place.
enum XGBoostAdaptationOptions {
    static func validate(trees: Int?, eta: Double?, minChildWeight: Double?) throws {
        if let trees, !(1...1000).contains(trees) { throw ValidationError("--adapt-trees must be 1...1000") }
        if let eta, !(eta > 0 && eta <= 1) { throw ValidationError("--adapt-eta must be in (0, 1]") }
        if let minChildWeight, !(minChildWeight >= 0 && minChildWeight.isFinite) {
            throw ValidationError("--adapt-min-child-weight must be >= 0")
        }
    }

    static func applied(trees: Int?, eta: Double?, minChildWeight: Double?, to a: XGBoostAdaptation) -> XGBoostAdaptation {
        var a = a
        if let trees { a.rounds = trees }
        if let eta { a.eta = eta }
        if let minChildWeight { a.minChildWeight = minChildWeight }
        return a
    }
}

/// `model eval --split by_target --shots ...`: the few-shot table and plot.
struct FewShotReport {
    var result: FewShotResult

    static func parseShots(_ s: String) throws -> [Int] {
        let values = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? -1) >= 0 && ($0 ?? 0) <= 100_000 }) else {
            throw ValidationError("--shots takes non-negative counts separated by commas, e.g. 0,16,32,64,128,256")
        }
        return values.map { $0! }
    }

    var table: String {
        var out = "by_target few-shot holding out \(result.holdout.joined(separator: ", ")) (\(result.devices.count) device(s)); "
        out += "test: \(result.rows.first?.records ?? 0) records of the target outside the largest support; metrics per (task, device) weighted by test records\n"
        out += "method            k      PCA    peak@1  peak@5  train   seconds\n"
        for r in result.rows {
            out += [r.method.padding(toLength: 16, withPad: " ", startingAt: 0), String(r.k).padding(toLength: 5, withPad: " ", startingAt: 0),
                    String(format: "%.3f", r.pca), String(format: "%.3f", r.peak1), String(format: "%.3f", r.peak5),
                    String(r.trainRecords).padding(toLength: 6, withPad: " ", startingAt: 0), String(format: "%.2f", r.seconds)].joined(separator: "  ") + "\n"
        }
        for (m, s) in result.pretrainSeconds.sorted(by: { $0.key < $1.key }) { out += "\(m): pre-trained in \(String(format: "%.1f", s)) s on the other devices\n" }
        for (m, why) in result.skipped.sorted(by: { $0.key < $1.key }) { out += "\(m) skipped: \(why)\n" }
        return out
    }

    func chart(metric: String) -> LineChart {
        let methods = FewShotEvaluation.methods.filter { m in result.rows.contains { $0.method == m } }
        let series = methods.map { m in
            LineChart.Series(name: m, points: result.rows.filter { $0.method == m }.map { r in
                (x: Double(r.k), y: metric == "peak1" ? r.peak1 : metric == "peak5" ? r.peak5 : r.pca)
            })
        }
        return LineChart(title: "\(metric.uppercased()) on held-out \(result.holdout.joined(separator: ", ")) vs target records k",
                         xLabel: "target records seen (k)", yLabel: metric, series: series, xAxis: .categorical)
    }
}

/// Pooled LightGBM for the few-shot table: pip's `lightgbm` through python3, on the same
/// matrices and with compare_models.py's settings; nil when python3 or lightgbm is missing.
enum PipLightGBM {
    static let script = """
    import sys, numpy as np, lightgbm as lgb
    d, nf, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    X = np.fromfile(d + "/train.f32", dtype=np.float32).reshape(-1, nf)
    y = np.fromfile(d + "/train.f64", dtype=np.float64)
    sizes = np.fromfile(d + "/train.groups", dtype=np.int32)
    T = np.fromfile(d + "/test.f32", dtype=np.float32).reshape(-1, nf)
    params = {"objective": "lambdarank", "learning_rate": 0.2, "max_depth": 6, "num_leaves": 63, "min_data_in_leaf": 5,
              "seed": 0, "num_threads": 2, "verbose": -1}
    m = lgb.train(params, lgb.Dataset(X, label=np.rint(y * 30).astype(int), group=sizes), num_boost_round=rounds)
    m.predict(T).astype(np.float64).tofile(d + "/scores.f64")
    """

    static func python(_ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    static func runner(rounds: Int) -> FewShotEvaluation.ExternalRanker? {
        guard python(["-c", "import numpy, lightgbm"]) == 0 else { return nil }
        return { train, test in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunefleet-lgb-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            // Rows grouped together, as LightGBM's query groups need.
            let order = train.groups.indices.sorted { (train.groups[$0], $0) < (train.groups[$1], $1) }
            let sorted = try train.subset(order)
            var sizes: [Int32] = []
            for (i, g) in sorted.groups.enumerated() { if i > 0 && g == sorted.groups[i - 1] { sizes[sizes.count - 1] += 1 } else { sizes.append(1) } }
            func write<T>(_ a: [T], _ name: String) throws { try a.withUnsafeBytes { try Data($0).write(to: dir.appendingPathComponent(name)) } }
            try write(sorted.features, "train.f32"); try write(sorted.labels, "train.f64"); try write(sizes, "train.groups")
            try write(test.features, "test.f32")
            guard python(["-c", script, dir.path, String(train.featureCount), String(rounds)]) == 0 else {
                throw ModelError(.library, "pip LightGBM failed (python3 \(dir.path))")
            }
            let data = try Data(contentsOf: dir.appendingPathComponent("scores.f64"))
            let scores = data.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
            guard scores.count == test.rows else { throw ModelError(.library, "pip LightGBM scored \(scores.count) of \(test.rows) rows") }
            return scores
        }
    }
}

/// `coordctl model ship`: writes a stored transfer, meta or xgb model as the Swift source that
/// embeds it in coordd and coordctl (tools/ship-model.sh runs the whole recipe).
struct ModelShip: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ship", abstract: "Write a stored transfer, meta or xgb model as the embedded pre-trained model's source.")
    @Option(help: "The database.") var db: String
    @Option(help: "The model version.") var from: Int64
    @Option(name: .shortAndLong, help: "The Swift file to write (Sources/TuneLearning/Shipped/ShippedModelData.swift).") var output: String
    @Option(help: "What it was trained on, for the file's header.") var trainedOn = "the reference dataset"
    @Option(help: "Also write the database's fastest verified schedules of every (task, device, threads) group, shipped for transfer-tuning, as this Swift file (Sources/TuneLearning/Shipped/ShippedSchedulesData.swift).")
    var schedules: String?
    @Option(help: "Schedules kept per (task, device, threads) group with --schedules.") var perGroup = 2

    func validate() throws {
        guard (1...64).contains(perGroup) else { throw ValidationError("--per-group must be 1...64") }
    }

    func run() throws {
        let store = try openStore(db)
        guard let stored = try store.model(id: from), let version = try store.models().first(where: { $0.id == from }) else {
            throw ValidationError("no model \(from) in \(db)")
        }
        let model: LearnedCostModel
        do { model = try LearnedCostModel.load(stored, version: version) } catch { throw ValidationError("\(error)") }
        guard model.kind.adapts else { throw ValidationError("model \(from) is \(stored.kind): only transfer, meta and xgb models ship (they adapt to new devices)") }
        do { try ShippedModel.source(stored, trainedOn: trainedOn).write(toFile: output, atomically: true, encoding: .utf8) } catch {
            throw ValidationError("cannot write \(output): \(error)")
        }
        print("wrote \(output): \(stored.kind) model \(from), \(stored.records) records, \(stored.blob.count) bytes")
        guard let schedules else { return }
        let sources = TransferTuning.sources(try store.records(RecordQuery(okOnly: true)).records, profiles: try store.deviceProfiles(), perGroup: perGroup)
        let best = ShippedSchedules(records: sources.map(\.record),
                                    profiles: Dictionary(sources.map { ($0.record.device, $0.profile) }, uniquingKeysWith: { a, _ in a }))
        do { try best.source(from: trainedOn).write(toFile: schedules, atomically: true, encoding: .utf8) } catch {
            throw ValidationError("cannot write \(schedules): \(error)")
        }
        print("wrote \(schedules): \(best.records.count) schedules of \(best.profiles.count) devices")
    }
}
