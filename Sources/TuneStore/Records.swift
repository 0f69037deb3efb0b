import Foundation
import GRDB
import TuneCore

// One Codable record per table. Column names are the migration's; records never appear in
// migrations, so migrations stay valid as these types evolve.

public struct CampaignRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "campaigns"
    public var id: Int64?
    public var workload: String
    public var state: CampaignState
    public var trialsPerTask: Int
    public var batchSize: Int
    public var plan: String
    public var seed: Int64
    public var createdAt: Double
    public var finishedAt: Double?
    public var search: SearchChoice
    public var scheduler: SchedulerChoice
    /// Trials over the whole workload per device class; nil: `trialsPerTask` per task.
    public var budget: Int?
    /// Seconds since 1970 when every job ends (`--time`); nil: no time limit.
    public var deadline: Double?
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
    public var state: JobState
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
    /// The strategy that proposed it, the model version that ranked it and its score.
    public var proposer: String
    public var modelVersion: Int64?
    public var predicted: Double?
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct MeasurementRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "measurements"
    public var id: Int64?
    public var candidateId: Int64
    public var jobId: Int64
    public var agent: String
    public var device: String
    public var status: MeasureStatus
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
    public var status: MeasureStatus
    public var medianSeconds: Double?
    public var samples: String
    public var error: String
    public var createdAt: Double
    /// JSON object: what the library ran (OpenBLAS kernel set, configuration, a note when it
    /// is below the device's level).
    public var detail: String = "{}"
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

public enum CampaignState: String, Codable, Sendable, CaseIterable { case running, completed, cancelled }
public enum JobState: String, Codable, Sendable, CaseIterable { case running, completed }

extension MeasureStatus: DatabaseValueConvertible {}
extension CampaignState: DatabaseValueConvertible {}
extension JobState: DatabaseValueConvertible {}
extension SearchChoice: DatabaseValueConvertible {}
extension SchedulerChoice: DatabaseValueConvertible {}

public struct ModelRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "models"
    public var id: Int64?
    public var kind: String
    public var deviceClass: DeviceClass?
    public var featureSchemaVersion: Int
    /// Hyper-parameters, JSON.
    public var parameters: String
    /// The `RecordQuery` trained on, JSON.
    public var query: String
    public var records: Int
    public var recordHash: String
    public var trainingSeconds: Double
    /// Metrics, JSON.
    public var metrics: String
    public var blob: Data
    public var baseId: Int64?
    public var createdAt: Double
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension DeviceClass: DatabaseValueConvertible {}
