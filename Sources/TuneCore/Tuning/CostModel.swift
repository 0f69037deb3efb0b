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

/// A model the coordinator uses, with what status shows of it.
public struct DeployedModel: Sendable {
    public var model: any CostModel
    public var trainingSeconds: Double
    /// PCA on the newest results it was not trained on (nil when too few).
    public var recentPCA: Double?
    public var records: Int
    public init(model: any CostModel, trainingSeconds: Double, recentPCA: Double?, records: Int) {
        self.model = model; self.trainingSeconds = trainingSeconds; self.recentPCA = recentPCA; self.records = records
    }
}

/// Trains (and restores) the coordinator's models from its database. Implementations live
/// with the models; the coordinator runs them off its loop.
public protocol ModelTrainer: Sendable {
    /// A new model for the class from what the database holds, stored as a new version.
    func train(deviceClass: DeviceClass, database: any TuningDatabase) throws -> DeployedModel
    /// The newest stored model for the class this build can use, if any.
    func restore(deviceClass: DeviceClass, database: any TuningDatabase) throws -> DeployedModel?
}
