import TuneCore

public struct ModelError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable { case emptyDataset, shapeMismatch, notFinite, corruptModel, library, schemaMismatch, unknownKind }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) { self.code = code; self.message = message }
    public var description: String { message }
}

/// Rows of features with their labels (normalized throughput in (0, 1]) and groups (one
/// (task, device) each): what a ranker trains on and is evaluated on.
public struct RankingDataset: Sendable {
    public let rows: Int
    public let featureCount: Int
    /// Row-major rows x featureCount.
    public let features: [Float]
    public let labels: [Double]
    public let groups: [Int]

    public init(features: [Float], featureCount: Int, labels: [Double], groups: [Int]) throws(ModelError) {
        guard !labels.isEmpty else { throw ModelError(.emptyDataset, "the dataset has no records to learn from") }
        guard featureCount > 0, features.count == labels.count * featureCount, groups.count == labels.count else {
            throw ModelError(.shapeMismatch, "features (\(features.count)), labels (\(labels.count)) and groups (\(groups.count)) do not match \(featureCount) features per row")
        }
        guard features.allSatisfy({ $0.isFinite }), labels.allSatisfy({ $0.isFinite }) else {
            throw ModelError(.notFinite, "features and labels must be finite")
        }
        rows = labels.count
        self.featureCount = featureCount
        self.features = features
        self.labels = labels
        self.groups = groups
    }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int]) throws(ModelError) -> RankingDataset {
        var f: [Float] = []
        f.reserveCapacity(indices.count * featureCount)
        for i in indices { f += features[i * featureCount..<(i + 1) * featureCount] }
        return try RankingDataset(features: f, featureCount: featureCount, labels: indices.map { labels[$0] }, groups: indices.map { groups[$0] })
    }
}

/// A trained ranker: scores rows, higher = predicted faster. Serializes to bytes.
public protocol Ranker: Sendable {
    var kind: String { get }
    var featureCount: Int { get }
    func score(features: [Float], rows: Int) -> [Double]
    func serialized() throws -> [UInt8]
}
