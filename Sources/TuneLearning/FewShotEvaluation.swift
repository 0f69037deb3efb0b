import Foundation
import TuneCore
import TuneFeatures
import TuneModel

/// One method at one number of target records.
public struct FewShotRow: Codable, Sendable, Equatable {
    /// cold-xgb, cold-mlp, pooled-xgb, pooled-lightgbm, xgb-adapted, transfer, meta.
    public var method: String
    /// Target records the method saw.
    public var k: Int
    public var pca: Double
    public var peak1: Double
    public var peak5: Double
    /// Test records (the target's records outside the largest support set).
    public var records: Int
    public var trainRecords: Int
    /// Training or adaptation time (pre-training not included: see `pretrainSeconds`).
    public var seconds: Double
}

public struct FewShotResult: Codable, Sendable {
    public var holdout: [String]
    public var devices: [String]
    public var shots: [Int]
    public var rows: [FewShotRow]
    /// Time to pre-train the transfer ranker and to meta-train it, on the other devices.
    public var pretrainSeconds: [String: Double]
    /// Methods that could not run, and why.
    public var skipped: [String: String]
}

/// by_target in few-shot mode: for a held-out target, how well each method ranks the
/// target's records after seeing k of them (LEARNING.md's comparison).
public enum FewShotEvaluation {
    public static let methods = ["cold-xgb", "cold-mlp", "pooled-xgb", "pooled-lightgbm", "xgb-adapted", "transfer", "meta"]

    /// Scores `test` for a model trained on `train` (pooled LightGBM runs outside Swift).
    public typealias ExternalRanker = @Sendable (_ train: RankingDataset, _ test: RankingDataset) throws -> [Double]

    /// Support sets nest (k records of the target are the first k of the largest support,
    /// whole runs of `perGroup` records of a few tasks, as a new device measures them); the
    /// test set is the rest of the target's records, the same for every k and method.
    public static func evaluate(_ records: [TuningRecord], profiles: [String: DeviceProfile], holdout: [String], shots: [Int],
                                methods: [String] = methods, settings: TrainingSettings = TrainingSettings(), perGroup: Int = 8,
                                seed: UInt64 = 1, lightGBM: ExternalRanker? = nil,
                                builder: DatasetBuilder = DatasetBuilder()) throws -> FewShotResult {
        let built = try builder.build(Labels.label(records), profiles: profiles)
        let split = try Splitter.byTarget(built.records, holdout: holdout, profiles: profiles)
        let shots = Array(Set(shots)).sorted()
        let largest = FewShot.support(rows: split.test, groups: built.data.groups, shots: shots.last ?? 0, perGroup: perGroup, seed: seed)
        let supportSet = Set(largest)
        let testRows = split.test.filter { !supportSet.contains($0) }
        guard !testRows.isEmpty else { throw ModelError(.emptyDataset, "the target has \(split.test.count) records: none left to test after \(largest.count) shots") }
        let test = try built.data.subset(testRows), train = try built.data.subset(split.train)
        let trainRecords = split.train.map { built.records[$0] }
        let schema = builder.extractor.schema
        var result = FewShotResult(holdout: holdout, devices: Set(split.test.map { built.records[$0].record.device }).sorted(),
                                   shots: shots, rows: [], pretrainSeconds: [:], skipped: [:])
        func row(_ method: String, _ k: Int, _ ranker: any Ranker, trainRows: Int, seconds: Double) {
            let r = EvaluationReport(scores: ranker.score(features: test.features, rows: test.rows), labels: test.labels, groups: test.groups)
            result.rows.append(FewShotRow(method: method, k: k, pca: r.pca, peak1: r.peak1, peak5: r.peak5, records: test.rows,
                                          trainRecords: trainRows, seconds: seconds))
        }
        func timed<T>(_ f: () throws -> T) rethrows -> (T, Double) { let s = Date(); let v = try f(); return (v, Date().timeIntervalSince(s)) }

        var transfer: TransferRanker?, meta: TransferRanker?
        if methods.contains("transfer") || methods.contains("meta") {
            let (t, s) = try timed { try TransferRanker.train(train, groups: schema.groups, settings: settings.transfer) }
            transfer = t; result.pretrainSeconds["transfer"] = s
        }
        if methods.contains("meta"), let transfer {
            let (m, s) = try timed { try transfer.metaTrained(on: train, tasks: Training.metaTasks(trainRecords), settings: settings.meta) }
            meta = m; result.pretrainSeconds["meta"] = s
        }
        // XGBoost on every other device, adapted by more trees on the k records: what coordd
        // does with a shipped XGBoost model (it has no reference dataset to pool with).
        var trees: XGBoostRanker?
        if methods.contains("xgb-adapted") {
            var s = settings.xgbSettings
            s.objective = .pairwiseRank
            let (t, secs) = try timed { try XGBoostRanker.train(train, settings: s) }
            trees = t; result.pretrainSeconds["xgb-adapted"] = secs
        }
        for k in shots {
            let supportRows = Array(largest.prefix(k))
            let support = supportRows.isEmpty ? nil : try built.data.subset(supportRows).normalizedWithinGroups()
            for method in methods {
                switch method {
                case "cold-xgb", "cold-mlp":
                    // From the target's records alone: nothing to learn from at k = 0.
                    guard let support, Set(support.groups).count < support.rows else { continue }
                    var s = settings
                    s.kind = method == "cold-xgb" ? .xgb : .mlp
                    let (r, secs) = try timed { try Training.fit(s, support, records: supportRows.map { built.records[$0] }, schema: schema) }
                    row(method, k, r, trainRows: support.rows, seconds: secs)
                case "pooled-xgb", "pooled-lightgbm":
                    let pooled = try support.map { try train.appending($0) } ?? train
                    if method == "pooled-xgb" {
                        var s = settings.xgbSettings
                        s.objective = .pairwiseRank
                        let (r, secs) = try timed { try XGBoostRanker.train(pooled, settings: s) }
                        row(method, k, r, trainRows: pooled.rows, seconds: secs)
                    } else if let lightGBM {
                        let (scores, secs) = try timed { try lightGBM(pooled, test) }
                        let r = EvaluationReport(scores: scores, labels: test.labels, groups: test.groups)
                        result.rows.append(FewShotRow(method: method, k: k, pca: r.pca, peak1: r.peak1, peak5: r.peak5, records: test.rows,
                                                      trainRecords: pooled.rows, seconds: secs))
                    } else if result.skipped[method] == nil {
                        result.skipped[method] = "no LightGBM runner (python3 with lightgbm)"
                    }
                case "xgb-adapted":
                    guard let trees else { continue }
                    let (r, secs) = try timed { try support.map { try settings.xgbAdaptation.grow(trees, on: $0) } ?? trees }
                    row(method, k, r, trainRows: support?.rows ?? 0, seconds: secs)
                case "transfer", "meta":
                    guard let base = method == "transfer" ? transfer : meta else { continue }
                    let (r, secs) = try timed { try support.map { try base.adapted(to: $0) } ?? base }
                    row(method, k, r, trainRows: support?.rows ?? 0, seconds: secs)
                default:
                    throw ModelError(.unknownKind, "unknown few-shot method '\(method)': use \(Self.methods.joined(separator: ", "))")
                }
            }
        }
        return result
    }
}

extension RankingDataset {
    /// These rows followed by `other`'s, whose groups are renumbered after this one's.
    public func appending(_ other: RankingDataset) throws(ModelError) -> RankingDataset {
        guard other.featureCount == featureCount else { throw ModelError(.shapeMismatch, "datasets of \(featureCount) and \(other.featureCount) features") }
        let offset = (groups.max() ?? -1) + 1
        return try RankingDataset(features: features + other.features, featureCount: featureCount, labels: labels + other.labels,
                                  groups: groups + other.groups.map { $0 + offset })
    }
}
