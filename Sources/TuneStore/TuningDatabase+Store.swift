import Foundation
import GRDB
import TuneCore

/// Reads measurements as `TuningRecord`s: one join, with tasks and plans parsed once each.
struct RecordReader {
    let db: Database
    private var tasks: [String: TaskSpec] = [:]
    private var threads: [Int64: Int] = [:]
    init(_ db: Database) { self.db = db }

    mutating func records(where condition: String, _ arguments: StatementArguments, suffix: String = "ORDER BY m.id") throws -> [TuningRecord] {
        let rows = try Row.fetchCursor(db, sql: """
            SELECT m.id, m.jobId, m.candidateId, t.name, c.schedule, m.device, j.deviceClass, j.campaignId, cp.plan,
                   m.status, m.medianSeconds, c.proposer, c.modelVersion, c.predicted
            FROM measurements m JOIN candidates c ON c.id = m.candidateId JOIN jobs j ON j.id = m.jobId
            JOIN tasks t ON t.id = j.taskId JOIN campaigns cp ON cp.id = j.campaignId
            WHERE \(condition) \(suffix)
            """, arguments: arguments)
        var out: [TuningRecord] = []
        while let r = try rows.next() {
            let name: String = r[3]
            let task: TaskSpec
            if let t = tasks[name] { task = t } else { task = try TaskSpec(name: name); tasks[name] = task }
            let campaign: Int64 = r[7]
            if threads[campaign] == nil {
                let plan = try JSONDecoder().decode(MeasurePlan.self, from: Data((r[8] as String).utf8))
                threads[campaign] = plan.threads
            }
            guard let dc = DeviceClass(rawValue: r[6]), let status = MeasureStatus(rawValue: r[9]) else {
                throw StoreError("measurement \(r[0] as Int64): unknown device class or status")
            }
            out.append(TuningRecord(jobID: r[1], candidateID: r[2], task: task, schedule: try Schedule(encoding: r[4]),
                                    device: r[5], deviceClass: dc, threads: threads[campaign]!, status: status,
                                    medianSeconds: r[10], provenance: Provenance(proposer: r[11], modelVersion: r[12], predicted: r[13])))
        }
        return out
    }
}

extension Store: TuningDatabase {
    public func commit(_ results: [ResultToCommit]) throws -> [TuningRecord?] { try commitAll(results) }

    public func history(jobID: Int64) throws -> [TuningRecord] {
        try read { db in
            var reader = RecordReader(db)
            return try reader.records(where: "m.jobId = ?", [jobID])
        }
    }

    /// Histories of many jobs in one read (a resume).
    public func histories(jobIDs: [Int64]) throws(StoreError) -> [Int64: [TuningRecord]] {
        guard !jobIDs.isEmpty else { return [:] }
        return try read { db in
            var reader = RecordReader(db)
            let marks = jobIDs.map { _ in "?" }.joined(separator: ",")
            return Dictionary(grouping: try reader.records(where: "m.jobId IN (\(marks))", StatementArguments(jobIDs)), by: \.jobID)
        }
    }

    public func best(k: Int, task: TaskSpec, device: String) throws -> [TuningRecord] {
        try read { db in
            var reader = RecordReader(db)
            return try reader.records(where: "t.name = ? AND m.device = ? AND m.status = 'ok'", [task.name, device],
                                      suffix: "ORDER BY m.medianSeconds, m.id LIMIT \(max(0, k))")
        }
    }

    public func records(_ q: RecordQuery) throws -> (records: [TuningRecord], lastID: Int64?) {
        try read { db in
            var conditions = ["1"]
            var args: [DatabaseValueConvertible] = []
            if let dc = q.deviceClass { conditions.append("j.deviceClass = ?"); args.append(dc.rawValue) }
            if !q.devices.isEmpty {
                conditions.append("m.device IN (\(q.devices.map { _ in "?" }.joined(separator: ",")))")
                args += q.devices
            }
            if let after = q.after { conditions.append("m.id > ?"); args.append(after) }
            if q.okOnly { conditions.append("m.status = 'ok'") }
            let condition = conditions.joined(separator: " AND ")
            var reader = RecordReader(db)
            let records = try reader.records(where: condition, StatementArguments(args))
            let last = try Int64.fetchOne(db, sql: """
                SELECT MAX(m.id) FROM measurements m JOIN jobs j ON j.id = m.jobId WHERE \(condition)
                """, arguments: StatementArguments(args))
            return (records, last)
        }
    }

    public func saveModel(_ m: StoredModel) throws -> ModelVersion {
        try write { db in
            var r = ModelRecord(id: nil, kind: m.kind, deviceClass: m.deviceClass, featureSchemaVersion: m.featureSchemaVersion,
                                parameters: m.parameters, query: Self.json(m.query), records: m.records,
                                recordHash: m.recordHash, trainingSeconds: m.trainingSeconds, metrics: m.metrics,
                                blob: Data(m.blob), baseId: m.baseID, createdAt: Self.now())
            try r.insert(db)
            return ModelVersion(id: r.id!, kind: m.kind, deviceClass: m.deviceClass, featureSchemaVersion: m.featureSchemaVersion,
                                records: m.records, baseID: m.baseID)
        }
    }

    public func models() throws -> [ModelVersion] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT id, kind, deviceClass, featureSchemaVersion, records, baseId FROM models ORDER BY id").map { r in
                ModelVersion(id: r[0], kind: r[1], deviceClass: (r[2] as String?).flatMap(DeviceClass.init(rawValue:)),
                             featureSchemaVersion: r[3], records: r[4], baseID: r[5])
            }
        }
    }

    public func model(id: Int64) throws -> StoredModel? {
        try read { db in
            guard let r = try ModelRecord.fetchOne(db, key: id) else { return nil }
            let query = (try? JSONDecoder().decode(RecordQuery.self, from: Data(r.query.utf8))) ?? RecordQuery()
            return StoredModel(kind: r.kind, deviceClass: r.deviceClass, featureSchemaVersion: r.featureSchemaVersion,
                               parameters: r.parameters, query: query, records: r.records, recordHash: r.recordHash,
                               trainingSeconds: r.trainingSeconds, metrics: r.metrics, blob: [UInt8](r.blob), baseID: r.baseId)
        }
    }
}
