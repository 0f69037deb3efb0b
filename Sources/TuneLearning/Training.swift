import Foundation
import TuneCore
import TuneFeatures
import TuneModel

/// Turns records into what rankers learn from: features of every labeled record whose
/// device profile is known, grouped by (task, device).
public struct DatasetBuilder: Sendable {
    public let extractor: JointFeatureExtractor
    public init(extractor: JointFeatureExtractor = JointFeatureExtractor()) { self.extractor = extractor }

    public struct Built: Sendable {
        public var data: RankingDataset
        /// Each row's record.
        public var records: [LabeledRecord]
        public var groupKeys: [GroupKey]
        /// Records left out for want of a device profile.
        public var unprofiled: Int
    }

    public func build(_ labeled: [LabeledRecord], profiles: [String: DeviceProfile]) throws(ModelError) -> Built {
        let usable = labeled.filter { profiles[$0.record.device] != nil }
        var keys: [GroupKey] = []
        var keyIndex: [GroupKey: Int] = [:]
        var features = [Float](repeating: 0, count: usable.count * extractor.schema.count)
        // Features in batches of one (task, device, threads): their task and hardware parts once.
        struct Batch: Hashable { var task: TaskSpec; var device: String; var threads: Int }
        let batches = Dictionary(grouping: usable.indices) { Batch(task: usable[$0].record.task, device: usable[$0].record.device, threads: usable[$0].record.threads) }
        let d = extractor.schema.count
        for (b, idx) in batches {
            let rows = extractor.features(task: b.task, device: profiles[b.device]!, threads: b.threads, schedules: idx.map { usable[$0].record.schedule })
            for (k, i) in idx.enumerated() { features.replaceSubrange(i * d..<(i + 1) * d, with: rows[k * d..<(k + 1) * d]) }
        }
        var groups: [Int] = []
        for r in usable {
            let g = r.group
            if keyIndex[g] == nil { keyIndex[g] = keys.count; keys.append(g) }
            groups.append(keyIndex[g]!)
        }
        let data = try RankingDataset(features: features, featureCount: d, labels: usable.map(\.label), groups: groups)
        return Built(data: data, records: usable, groupKeys: keys, unprofiled: labeled.count - usable.count)
    }
}

public struct TrainingSettings: Hashable, Sendable, Codable {
    public var kind = ModelKind.xgb
    public var xgb = XGBoostSettings()
    public var mlp = RankMLPSettings()
    public var transfer = TransferRankerSettings()
    public var meta = MetaSettings()
    /// How a stored XGBoost model adapts to a new device (few-shot evaluation; coordd uses the defaults).
    public var xgbAdaptation = XGBoostAdaptation()
    /// Dataset pruning (the seed paper's), off unless set.
    public var pruning: PruningSettings?
    public init() {}
}

/// A trained ranker with what it was trained on.
public struct TrainedModel: Sendable {
    public var model: LearnedCostModel
    public var stored: StoredModel
    public var summary: DatasetSummary
    public var seconds: Double
}

public enum Training {
    /// Trains a ranker of `settings.kind` on the `ok` records (labels per (task, device)),
    /// pruned if asked. Deterministic given the settings.
    public static func train(_ records: [TuningRecord], profiles: [String: DeviceProfile], settings: TrainingSettings,
                             query: RecordQuery = RecordQuery(), deviceClass: DeviceClass? = nil,
                             builder: DatasetBuilder = DatasetBuilder()) throws(ModelError) -> TrainedModel {
        let start = Date()
        var labeled = Labels.label(records)
        if let p = settings.pruning { labeled = Pruning.prune(labeled, weights: [:], settings: p).map { labeled[$0] } }
        guard Set(labeled.map(\.group)).count >= 1, !labeled.isEmpty else {
            throw ModelError(.emptyDataset, "no verified (ok) records with a device profile to train on")
        }
        let built = try builder.build(labeled, profiles: profiles)
        let ranker = try fit(settings, built.data, records: built.records, schema: builder.extractor.schema)
        let xgb = settings.xgbSettings
        let schema = builder.extractor.schema
        let params = LearnedCostModel.Parameters(kind: settings.kind, schemaVersion: schema.version, schemaDigest: schema.digest,
                                                 featureCount: schema.count, xgb: settings.kind == .mlp ? nil : xgb,
                                                 mlp: settings.kind == .mlp ? settings.mlp : nil, pruning: settings.pruning,
                                                 transfer: settings.kind == .transfer || settings.kind == .meta ? settings.transfer : nil,
                                                 meta: settings.kind == .meta ? settings.meta : nil)
        let seconds = Date().timeIntervalSince(start)
        let blob: [UInt8]
        do { blob = try ranker.serialized() } catch { throw ModelError(.library, "cannot serialize the model: \(error)") }
        let ids = built.records.map { "\($0.record.jobID):\($0.record.candidateID)" }.joined(separator: ",")
        let stored = StoredModel(kind: settings.kind.rawValue, deviceClass: deviceClass, featureSchemaVersion: schema.version,
                                 parameters: json(params), query: query, records: built.records.count,
                                 recordHash: FNV1a.hex(ids), trainingSeconds: seconds, metrics: "{}", blob: blob)
        var summary = Labels.summary(records)
        summary.ok = labeled.count
        return TrainedModel(model: LearnedCostModel(kind: settings.kind, ranker: ranker, extractor: builder.extractor, version: nil),
                            stored: stored, summary: summary, seconds: seconds)
    }

    /// A ranker of the settings' kind trained on `data` (rows of `records`, in order).
    static func fit(_ settings: TrainingSettings, _ data: RankingDataset, records: [LabeledRecord], schema: FeatureSchema) throws(ModelError) -> any Ranker {
        switch settings.kind {
        case .xgb, .xgbRegression: return try XGBoostRanker.train(data, settings: settings.xgbSettings)
        case .mlp: return try RankMLP.train(data, settings: settings.mlp)
        case .transfer: return try TransferRanker.train(data, groups: schema.groups, settings: settings.transfer)
        case .meta:
            let base = try TransferRanker.train(data, groups: schema.groups, settings: settings.transfer)
            return try base.metaTrained(on: data, tasks: metaTasks(records), settings: settings.meta)
        }
    }

    /// Row indices of each (device, operator) group: the meta-learner's episodes.
    static func metaTasks(_ records: [LabeledRecord]) -> [[Int]] {
        struct Key: Hashable { var device: String; var op: OperatorKind }
        return Dictionary(grouping: records.indices, by: { Key(device: records[$0].record.device, op: records[$0].record.task.op) })
            .values.map { $0.sorted() }.sorted { $0[0] < $1[0] }
    }

    static func json<T: Encodable>(_ v: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? String(decoding: e.encode(v), as: UTF8.self)) ?? "{}"
    }
}

extension TrainingSettings {
    /// The XGBoost settings with the objective the kind stands for.
    var xgbSettings: XGBoostSettings {
        var x = xgb
        x.objective = kind == .xgbRegression ? .regression : .pairwiseRank
        return x
    }
}
