import Foundation
import TuneCore
import TuneModel

/// One model kind evaluated on one split, with MODEL-METRICS.md's metrics.
public struct EvaluationResult: Codable, Sendable {
    public var kind: String
    public var split: String
    public var holdout: [String]
    /// Test records, and the records trained on.
    public var records: Int
    public var trainRecords: Int
    public var groups: Int
    public var pca: Double
    public var peak1: Double
    public var peak5: Double
    public var r2: Double
    /// Network top-1 / top-5 of the held-out networks (by_task), averaged over devices.
    public var top1: Double?
    public var top5: Double?
    public var trainSeconds: Double
    /// Test rows scored per second by the ranker (one thread), and feature vectors extracted
    /// per second for the whole dataset (one thread).
    public var scoredPerSecond: Double
    public var featuresPerSecond: Double
    /// How per-group metrics are averaged: weighted by test records per group.
    public var weighting: String
}

public enum Evaluation {
    /// Trains each kind on the split's training side and measures it on the test side.
    /// `networks` are the held-out workloads for by_task (their weights give top-k).
    public static func evaluate(_ records: [TuningRecord], profiles: [String: DeviceProfile], split kind: SplitKind,
                                holdout: [String], networks: [Workload], kinds: [ModelKind], settings: TrainingSettings,
                                seed: UInt64 = 1, builder: DatasetBuilder = DatasetBuilder()) throws -> [EvaluationResult] {
        let extractionStart = Date()
        let built = try builder.build(Labels.label(records), profiles: profiles)
        let featuresPerSecond = Double(built.records.count) / max(1e-9, Date().timeIntervalSince(extractionStart))
        let rows = built.records
        guard Set(rows.map(\.group)).count >= 2 || kind == .withinTask else {
            throw ModelError(.emptyDataset, "a dataset of one (task, device) group cannot be split \(kind.rawValue)")
        }
        let split: Split
        switch kind {
        case .withinTask: split = Splitter.withinTask(rows, seed: seed)
        case .byTask: split = try Splitter.byTask(rows, holdout: networks)
        case .byTarget: split = try Splitter.byTarget(rows, holdout: holdout, profiles: profiles)
        }
        guard !split.train.isEmpty, !split.test.isEmpty else {
            throw ModelError(.emptyDataset, "the \(kind.rawValue) split leaves \(split.train.count) records to train on and \(split.test.count) to test")
        }
        // Pruning (when asked) thins the training side only; the test side stays whole.
        var trainIndices = split.train
        if let p = settings.pruning {
            let kept = Pruning.prune(split.train.map { rows[$0] }, weights: [:], settings: p)
            trainIndices = kept.map { split.train[$0] }
        }
        let train = try built.data.subset(trainIndices), test = try built.data.subset(split.test)
        var out: [EvaluationResult] = []
        for k in kinds {
            var s = settings
            s.kind = k
            let start = Date()
            let ranker = try Training.fit(s, train, records: trainIndices.map { rows[$0] }, schema: builder.extractor.schema)
            let seconds = Date().timeIntervalSince(start)
            let scoreStart = Date()
            let scores = ranker.score(features: test.features, rows: test.rows)
            let scoredPerSecond = Double(test.rows) / max(1e-9, Date().timeIntervalSince(scoreStart))
            let report = EvaluationReport(scores: scores, labels: test.labels, groups: test.groups)
            var result = EvaluationResult(kind: k.rawValue, split: kind.rawValue, holdout: kind == .byTask ? networks.map(\.name) : holdout,
                                          records: test.rows, trainRecords: train.rows, groups: report.groups, pca: report.pca,
                                          peak1: report.peak1, peak5: report.peak5, r2: report.r2, top1: nil, top5: nil,
                                          trainSeconds: seconds, scoredPerSecond: scoredPerSecond,
                                          featuresPerSecond: featuresPerSecond, weighting: report.weighting)
            if kind == .byTask {
                let testRecords = split.test.map { rows[$0] }
                result.top1 = networkTopK(1, networks: networks, records: testRecords, scores: scores)
                result.top5 = networkTopK(5, networks: networks, records: testRecords, scores: scores)
            }
            out.append(result)
        }
        return out
    }

    /// Network top-k averaged over (network, device): `sum w L* / sum w L(k)` over the
    /// network's tasks measured on that device.
    static func networkTopK(_ k: Int, networks: [Workload], records: [LabeledRecord], scores: [Double]) -> Double? {
        var values: [Double] = []
        let byGroup = Dictionary(grouping: records.indices, by: { records[$0].group })
        let devices = Set(records.map(\.record.device)).sorted()
        for net in networks {
            for device in devices {
                var terms: [(weight: Double, best: Double, bestOfTopK: Double)] = []
                for wt in net.tasks {
                    guard let idx = byGroup[GroupKey(task: wt.task, device: device)] else { continue }
                    let secs = idx.map { records[$0].record.medianSeconds ?? .infinity }
                    let order = idx.indices.sorted { (scores[idx[$0]], -$0) > (scores[idx[$1]], -$1) }
                    let picked = order.prefix(k).map { secs[$0] }.min() ?? .infinity
                    terms.append((Double(wt.weight), secs.min() ?? .infinity, picked))
                }
                if !terms.isEmpty { values.append(Metrics.networkTopK(terms)) }
            }
        }
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}
