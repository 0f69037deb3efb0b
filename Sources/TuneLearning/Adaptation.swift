import Foundation
import TuneCore
import TuneFeatures
import TuneModel

/// Few-shot adaptation of a stored transfer, meta or xgb model to one target: the first records
/// measured there, labels normalized within what was measured, a few Adam steps (or a few
/// more trees); the result is a new version that names its base. The base's stored parameters are never touched.
public enum Adaptation {
    public struct AdaptError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The target's first `limit` verified records (in the order they were measured) that
    /// have a profile, as a dataset labeled within its own groups.
    static func support(_ records: [TuningRecord], devices: Set<String>, limit: Int, profiles: [String: DeviceProfile],
                        builder: DatasetBuilder) throws -> DatasetBuilder.Built {
        let first = supportRecords(records, devices: devices, limit: limit, profiles: profiles)
        guard !first.isEmpty else { throw AdaptError(description: "no verified record of \(devices.sorted().joined(separator: ", ")) to adapt on") }
        var built = try builder.build(Labels.label(first), profiles: profiles)
        built.data = try built.data.normalizedWithinGroups()
        return built
    }

    /// Which records adaptation learns from: the target's first `limit` verified ones with a profile.
    static func supportRecords(_ records: [TuningRecord], devices: Set<String>, limit: Int, profiles: [String: DeviceProfile]) -> [TuningRecord] {
        Array(records.lazy.filter { devices.contains($0.device) && $0.okSeconds != nil && profiles[$0.device] != nil }.prefix(limit))
    }

    /// Adapts `base` (a transfer, meta or xgb model) to `devices` on at most `limit` of their records.
    public static func adapt(base: LearnedCostModel, baseStored: StoredModel, records: [TuningRecord], devices: Set<String>,
                             limit: Int, profiles: [String: DeviceProfile], xgb: XGBoostAdaptation = XGBoostAdaptation(),
                             builder: DatasetBuilder = DatasetBuilder()) throws -> TrainedModel {
        guard base.kind.adapts, let baseID = base.version?.id else {
            throw AdaptError(description: "model \(base.version.map { String($0.id) } ?? "?") is \(base.kind.rawValue): only transfer, meta and xgb models adapt (coordctl model train --kind transfer|meta|xgb)")
        }
        let start = Date()
        let built = try support(records, devices: devices, limit: limit, profiles: profiles, builder: builder)
        let adapted: any Ranker
        if let ranker = base.transferRanker {
            adapted = try ranker.adapted(to: built.data)
        } else if let trees = base.ranker as? XGBoostRanker {
            adapted = try xgb.grow(trees, on: built.data)
        } else {
            throw AdaptError(description: "model \(baseID) has no ranker that adapts")
        }
        let seconds = Date().timeIntervalSince(start)
        var params = try JSONDecoder().decode(LearnedCostModel.Parameters.self, from: Data(baseStored.parameters.utf8))
        params.adaptedTo = devices.sorted()
        params.adaptedRecords = built.records.count
        if base.transferRanker == nil { params.xgbAdaptation = xgb }
        let ids = built.records.map { "\($0.record.jobID):\($0.record.candidateID)" }.joined(separator: ",")
        let stored = StoredModel(kind: base.kind.rawValue, deviceClass: baseStored.deviceClass, featureSchemaVersion: baseStored.featureSchemaVersion,
                                 parameters: Training.json(params), query: RecordQuery(devices: devices.sorted()), records: built.records.count,
                                 recordHash: FNV1a.hex(ids), trainingSeconds: seconds, metrics: "{}", blob: try adapted.serialized(), baseID: baseID)
        var summary = Labels.summary(built.records.map(\.record))
        summary.ok = built.records.count
        return TrainedModel(model: LearnedCostModel(kind: base.kind, ranker: adapted, extractor: builder.extractor, version: nil),
                            stored: stored, summary: summary, seconds: seconds)
    }

    /// How the base and its adapted version rank the target's records the adaptation did not
    /// see (all but its first `limit` verified ones): nil PCAs when fewer than two remain.
    public struct HeldOut: Sendable { public var records: Int; public var before: Double?; public var after: Double? }

    public static func heldOut(base: LearnedCostModel, adapted: LearnedCostModel, records: [TuningRecord], devices: Set<String>,
                               limit: Int, profiles: [String: DeviceProfile], builder: DatasetBuilder = DatasetBuilder()) -> HeldOut {
        func key(_ r: TuningRecord) -> String { "\(r.jobID):\(r.candidateID)" }
        let seen = Set(supportRecords(records, devices: devices, limit: limit, profiles: profiles).map(key))
        let rest = records.filter { devices.contains($0.device) && !seen.contains(key($0)) }
        guard let built = try? builder.build(Labels.label(rest), profiles: profiles), built.data.rows > 1 else {
            return HeldOut(records: rest.count, before: nil, after: nil)
        }
        func pca(_ m: LearnedCostModel) -> Double {
            EvaluationReport(scores: m.score(features: built.data.features, rows: built.data.rows), labels: built.data.labels,
                             groups: built.data.groups).pca
        }
        return HeldOut(records: rest.count, before: pca(base), after: pca(adapted))
    }
}

/// XGBoost's adaptation: this many more trees at this step (chosen on the held-out H200 and
/// CPU targets with `coordctl model eval --shots`, method xgb-adapted), with no minimum
/// child weight: a guided job's first records come a pair or two per task, and their
/// pairwise hessians (under 0.5 a record) never reach XGBoost's default of 1, so the new
/// trees could not split and a schedule family measured 2.5x slower kept its rank (the
/// README's BERT-base bench).
public struct XGBoostAdaptation: Hashable, Sendable, Codable {
    public var rounds = 20
    public var eta = 0.1
    public var minChildWeight = 0.0
    public init() {}
}

extension XGBoostAdaptation {
    /// `trees` with this adaptation's extra trees grown on `data` (`trees` is not changed).
    public func grow(_ trees: XGBoostRanker, on data: RankingDataset) throws(ModelError) -> XGBoostRanker {
        try trees.continued(on: data, rounds: rounds, eta: eta, minChildWeight: minChildWeight)
    }
}
