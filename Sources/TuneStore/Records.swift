import GRDB

// One Codable record per table. Column names are the migration's; records never appear in
// migrations, so migrations stay valid as these types evolve.

public struct CampaignRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "campaigns"
    public var id: Int64?
    public var workload: String
    /// running | completed | cancelled
    public var state: String
    public var trialsPerTask: Int
    public var batchSize: Int
    public var plan: String
    public var seed: Int64
    public var createdAt: Double
    public var finishedAt: Double?
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct TaskRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "tasks"
    public var id: Int64?
    public var campaignId: Int64
    public var name: String
    public var weight: Int
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct JobRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "jobs"
    public var id: Int64?
    public var campaignId: Int64
    public var taskId: Int64
    public var deviceClass: String
    /// The budget: distinct candidates to measure.
    public var trials: Int
    /// running | completed
    public var state: String
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct CandidateRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "candidates"
    public var id: Int64?
    public var jobId: Int64
    public var schedule: String
    public var hash: String
    /// Dispatches that ended with the agent lost.
    public var attempts: Int
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct MeasurementRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "measurements"
    public var id: Int64?
    public var candidateId: Int64
    public var jobId: Int64
    public var agent: String
    public var device: String
    public var status: String
    public var medianSeconds: Double?
    /// JSON array of every sample, seconds.
    public var samples: String
    public var compileSeconds: Double
    public var error: String
    /// JSON object of backend detail.
    public var detail: String
    public var createdAt: Double
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct BaselineRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "baselines"
    public var id: Int64?
    public var jobId: Int64
    public var device: String
    public var library: String
    public var status: String
    public var medianSeconds: Double?
    public var samples: String
    public var error: String
    public var createdAt: Double
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct DeviceRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "devices"
    public var fingerprint: String
    public var deviceClass: String
    public var model: String
    /// The whole profile, JSON.
    public var profile: String
    public var firstSeen: Double
}

public struct AgentRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "agents"
    public var instance: String
    public var name: String
    public var device: String
    public var firstSeen: Double
    public var lastSeen: Double
}
