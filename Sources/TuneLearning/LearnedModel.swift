import Foundation
import TuneCore
import TuneFeatures
import TuneModel

/// The rankers TuneFleet trains.
public enum ModelKind: String, Sendable, Codable, CaseIterable {
    /// XGBoost, pairwise ranking within each (task, device) group.
    case xgb
    /// XGBoost regression on the normalized throughput.
    case xgbRegression = "xgb-reg"
    /// A ranking MLP (LambdaRank, Adam) over OpenBLAS.
    case mlp
    /// The hardware-aware attention ranker, pre-trained on every device it is given, adapted
    /// to a new one from a few of its records.
    case transfer
    /// The transfer ranker meta-learned (Reptile) over (device, operator) groups: an
    /// initialization made for few-shot adaptation.
    case meta

    /// Kinds that adapt to a device from a few records (`coordctl model adapt`): the
    /// attention rankers by a few gradient steps, pairwise XGBoost by more trees grown on them.
    public var adapts: Bool { self == .transfer || self == .meta || self == .xgb }
}

/// A trained ranker behind the `CostModel` seam: features from the joint extractor, scores
/// from the ranker.
public struct LearnedCostModel: CostModel {
    public let version: ModelVersion?
    public let kind: ModelKind
    let ranker: any Ranker
    let extractor: JointFeatureExtractor

    public init(kind: ModelKind, ranker: any Ranker, extractor: JointFeatureExtractor, version: ModelVersion?) {
        self.kind = kind; self.ranker = ranker; self.extractor = extractor; self.version = version
    }

    /// Scores of rows of features already extracted (a `RankingDataset`'s), whatever the ranker.
    public func score(features: [Float], rows: Int) -> [Double] { ranker.score(features: features, rows: rows) }

    public func score(task: TaskSpec, device: DeviceProfile, threads: Int, schedules: [Schedule]) -> [Double] {
        guard !schedules.isEmpty else { return [] }
        return ranker.score(features: extractor.features(task: task, device: device, threads: threads, schedules: schedules),
                            rows: schedules.count)
    }

    /// What a stored model records besides its bytes: the kind's settings and the schema.
    struct Parameters: Codable {
        var kind: ModelKind
        var schemaVersion: Int
        var schemaDigest: String
        var featureCount: Int
        var xgb: XGBoostSettings?
        var mlp: RankMLPSettings?
        var pruning: PruningSettings?
        var transfer: TransferRankerSettings?
        var meta: MetaSettings?
        /// What an adapted version was adapted on: the target's devices and its record count.
        var adaptedTo: [String]?
        var adaptedRecords: Int?
        /// How an adapted XGBoost version grew its extra trees.
        var xgbAdaptation: XGBoostAdaptation?
    }

    /// The transfer ranker inside, for the kinds that have one.
    public var transferRanker: TransferRanker? { ranker as? TransferRanker }

    /// Loads a stored model; one trained with another feature schema is refused.
    public static func load(_ stored: StoredModel, version: ModelVersion, extractor: JointFeatureExtractor = JointFeatureExtractor()) throws(ModelError) -> LearnedCostModel {
        let p: Parameters
        do { p = try JSONDecoder().decode(Parameters.self, from: Data(stored.parameters.utf8)) } catch {
            throw ModelError(.corruptModel, "model \(version.id): unreadable parameters (\(error))")
        }
        guard p.schemaVersion == extractor.schema.version, p.schemaDigest == extractor.schema.digest,
              p.featureCount == extractor.schema.count else {
            throw ModelError(.schemaMismatch, "model \(version.id) was trained with feature schema v\(p.schemaVersion) (\(p.schemaDigest)); this build has v\(extractor.schema.version) (\(extractor.schema.digest)): train a new one with coordctl model train")
        }
        switch p.kind {
        case .xgb, .xgbRegression:
            let r = try XGBoostRanker(serialized: stored.blob, featureCount: p.featureCount, settings: p.xgb ?? XGBoostSettings())
            return LearnedCostModel(kind: p.kind, ranker: r, extractor: extractor, version: version)
        case .mlp:
            let r = try RankMLP(serialized: stored.blob, settings: p.mlp ?? RankMLPSettings())
            guard r.featureCount == p.featureCount else { throw ModelError(.corruptModel, "model \(version.id): the MLP takes \(r.featureCount) features, not \(p.featureCount)") }
            return LearnedCostModel(kind: p.kind, ranker: r, extractor: extractor, version: version)
        case .transfer, .meta:
            let r = try TransferRanker(serialized: stored.blob, settings: p.transfer ?? TransferRankerSettings())
            guard r.featureCount == p.featureCount, r.groups == extractor.schema.groups else {
                throw ModelError(.corruptModel, "model \(version.id): the transfer ranker's features do not match its schema")
            }
            return LearnedCostModel(kind: p.kind, ranker: r, extractor: extractor, version: version)
        }
    }
}

extension FeatureSchema {
    /// Where the task, schedule and hardware features sit: the transfer ranker's tokens.
    public var groups: FeatureGroups {
        FeatureGroups(task: range(of: .task), schedule: range(of: .schedule), hardware: range(of: .hardware))
    }
}
