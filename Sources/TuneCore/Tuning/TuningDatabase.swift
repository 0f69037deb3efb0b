/// A result to store, with where it came from.
public struct ResultToCommit: Hashable, Sendable {
    public var result: MeasureResult
    /// The agent's name.
    public var agent: String
    /// The device's fingerprint.
    public var device: String
    public init(_ result: MeasureResult, agent: String, device: String) {
        self.result = result; self.agent = agent; self.device = device
    }
}

/// Which records a model trains on.
public struct RecordQuery: Hashable, Codable, Sendable {
    public var deviceClass: DeviceClass?
    /// Device fingerprints; empty means all.
    public var devices: [String]
    /// Only records with an id above this (records that arrived after a model was trained).
    public var after: Int64?
    public var okOnly: Bool

    public init(deviceClass: DeviceClass? = nil, devices: [String] = [], after: Int64? = nil, okOnly: Bool = true) {
        self.deviceClass = deviceClass; self.devices = devices; self.after = after; self.okOnly = okOnly
    }
}

/// What the search half needs of a database: commit results exactly once, read a job's
/// history, the best records of a task on a device, training sets and model versions.
/// The coordinator's SQLite store and the test kit's in-memory database implement it.
public protocol TuningDatabase: Sendable {
    /// Stores results in one transaction. For each: the record written, or nil when the
    /// candidate already had a result (a redelivery) or is unknown. All or nothing.
    func commit(_ results: [ResultToCommit]) throws -> [TuningRecord?]
    /// Every committed record of a job, oldest first.
    func history(jobID: Int64) throws -> [TuningRecord]
    /// The `k` fastest verified records of a task on a device, fastest first.
    func best(k: Int, task: TaskSpec, device: String) throws -> [TuningRecord]
    /// Records for training, oldest first, with the id of the newest one returned.
    func records(_ query: RecordQuery) throws -> (records: [TuningRecord], lastID: Int64?)
    /// Stores a trained model and returns its version.
    func saveModel(_ model: StoredModel) throws -> ModelVersion
    /// Every stored version, oldest first.
    func models() throws -> [ModelVersion]
    /// A stored model with its bytes.
    func model(id: Int64) throws -> StoredModel?
    /// The profiles of every device that reported, by fingerprint (features need them).
    func deviceProfiles() throws -> [String: DeviceProfile]
}

/// A trained model's bytes and what it was trained on.
public struct StoredModel: Hashable, Codable, Sendable {
    public var kind: String
    public var deviceClass: DeviceClass?
    public var featureSchemaVersion: Int
    /// Hyper-parameters, JSON.
    public var parameters: String
    public var query: RecordQuery
    public var records: Int
    /// A digest of the record ids trained on.
    public var recordHash: String
    public var trainingSeconds: Double
    /// Metrics, JSON.
    public var metrics: String
    public var blob: [UInt8]
    public var baseID: Int64?

    public init(kind: String, deviceClass: DeviceClass?, featureSchemaVersion: Int, parameters: String, query: RecordQuery,
                records: Int, recordHash: String, trainingSeconds: Double, metrics: String, blob: [UInt8], baseID: Int64? = nil) {
        self.kind = kind; self.deviceClass = deviceClass; self.featureSchemaVersion = featureSchemaVersion
        self.parameters = parameters; self.query = query; self.records = records; self.recordHash = recordHash
        self.trainingSeconds = trainingSeconds; self.metrics = metrics; self.blob = blob; self.baseID = baseID
    }
}
