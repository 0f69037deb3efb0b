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
    }

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
        }
    }
}
