/// A trained model as the store keeps it: what it is, what it was trained on, how good it was.
public struct ModelVersion: Hashable, Codable, Sendable {
    public var id: Int64
    /// `xgb`, `mlp`, `transfer`, `meta`, `fixed`, ...
    public var kind: String
    /// The device class it serves; nil for a model of every class.
    public var deviceClass: DeviceClass?
    public var featureSchemaVersion: Int
    /// Records it was trained on.
    public var records: Int
    /// The version it was fine-tuned from (few-shot adaptation), if any.
    public var baseID: Int64?

    public init(id: Int64, kind: String, deviceClass: DeviceClass?, featureSchemaVersion: Int, records: Int,
                baseID: Int64? = nil) {
        self.id = id; self.kind = kind; self.deviceClass = deviceClass
        self.featureSchemaVersion = featureSchemaVersion; self.records = records; self.baseID = baseID
    }
}

/// Ranks schedules of one task on one device before anything is timed. Scores only order
/// candidates within one (task, device): higher means predicted faster.
public protocol CostModel: Sendable {
    /// The stored version this model is; nil for a model that was never stored.
    var version: ModelVersion? { get }
    func score(task: TaskSpec, device: DeviceProfile, threads: Int, schedules: [Schedule]) -> [Double]
}
