import Foundation
import GRDB
import TuneCore

/// A measurement recorded elsewhere (another database, another machine, the H100 runs), as
/// `coordctl dataset import` hands it to the store.
public struct ImportedRecord: Sendable {
    public var task: TaskSpec
    public var deviceClass: DeviceClass
    public var schedule: Schedule
    public var device: String
    public var agent: String
    public var status: MeasureStatus
    public var samples: [Double]
    public var compileSeconds: Double
    public var error: String
    public var detail: [String: String]
    public var createdAt: Double?
    public var threads: Int
    public var seed: UInt64
    public var provenance: Provenance
    /// The source's campaign: records of one source campaign and device stay together.
    public var sourceCampaign: Int64
    public var vendorSeconds: [String: Double]

    public init(task: TaskSpec, deviceClass: DeviceClass, schedule: Schedule, device: String, agent: String,
                status: MeasureStatus, samples: [Double], compileSeconds: Double = 0, error: String = "",
                detail: [String: String] = [:], createdAt: Double? = nil, threads: Int = 1, seed: UInt64 = 0,
                provenance: Provenance = Provenance(proposer: "random"), sourceCampaign: Int64 = 0,
                vendorSeconds: [String: Double] = [:]) {
        self.task = task; self.deviceClass = deviceClass; self.schedule = schedule; self.device = device; self.agent = agent
        self.status = status; self.samples = samples; self.compileSeconds = compileSeconds; self.error = error
        self.detail = detail; self.createdAt = createdAt; self.threads = threads; self.seed = seed
        self.provenance = provenance; self.sourceCampaign = sourceCampaign; self.vendorSeconds = vendorSeconds
    }
}

public struct ImportSummary: Hashable, Sendable, Codable {
    public var campaigns: [Int64] = []
    public var records = 0
    /// Parts of the source imported before (same content): skipped.
    public var alreadyImported = 0
    /// The same schedule of a task twice for one device and source campaign: the first kept.
    public var duplicates = 0
    public init() {}
}

extension Store {
    /// Stores recorded measurements as completed campaigns, one per source campaign and
    /// device, named `import:SOURCE:DIGEST:CAMPAIGN:DEVICE` so that the same content
    /// imported again is recognised and skipped. Every device needs a profile (stored
    /// already, or given by the fingerprint the records name): records are only useful with
    /// the hardware they ran on.
    public func importRecords(_ records: [ImportedRecord], source: String, digest: String,
                              profiles given: [String: DeviceProfile]) throws(StoreError) -> ImportSummary {
        let known = try deviceProfiles()
        for device in Set(records.map(\.device)).sorted() where given[device] == nil && known[device] == nil {
            throw StoreError("records of device \(device) carry no device profile, and none is stored or given (--profile FILE)")
        }
        let groups = Dictionary(grouping: records) { "\($0.sourceCampaign):\($0.device):\($0.threads)" }
        return try write { db in
            var summary = ImportSummary()
            for (fingerprint, p) in given.sorted(by: { $0.key < $1.key }) where known[fingerprint] == nil {
                try DeviceRecord(fingerprint: fingerprint, deviceClass: p.deviceClass.rawValue, model: p.model,
                                 profile: Self.json(p), firstSeen: Self.now()).insert(db, onConflict: .ignore)
            }
            for key in groups.keys.sorted() {
                let rows = groups[key]!
                let name = "import:\(source):\(digest):\(key)"
                if try CampaignRecord.filter(Column("workload") == name).fetchCount(db) > 0 {
                    summary.alreadyImported += rows.count
                    continue
                }
                var plan = MeasurePlan()
                plan.threads = rows[0].threads
                let jobsOf = Dictionary(grouping: rows) { "\($0.task.name)|\($0.deviceClass.rawValue)" }
                var c = CampaignRecord(id: nil, workload: name, state: .completed,
                                       trialsPerTask: max(1, jobsOf.values.map(\.count).max() ?? 1), batchSize: 1,
                                       plan: Self.json(plan), seed: Int64(bitPattern: rows[0].seed), createdAt: Self.now(),
                                       finishedAt: Self.now(), search: .random, scheduler: .roundRobin, budget: nil)
                try c.insert(db)
                summary.campaigns.append(c.id!)
                var taskIDs: [String: Int64] = [:]
                for jobKey in jobsOf.keys.sorted() {
                    let jobRows = jobsOf[jobKey]!
                    let first = jobRows[0]
                    if taskIDs[first.task.name] == nil {
                        var t = TaskRecord(id: nil, campaignId: c.id!, name: first.task.name, weight: 1)
                        try t.insert(db)
                        taskIDs[first.task.name] = t.id!
                    }
                    var j = JobRecord(id: nil, campaignId: c.id!, taskId: taskIDs[first.task.name]!,
                                      deviceClass: first.deviceClass.rawValue, trials: max(1, jobRows.count), state: .completed)
                    try j.insert(db)
                    for (library, seconds) in first.vendorSeconds.sorted(by: { $0.key < $1.key }) {
                        var b = BaselineRecord(id: nil, jobId: j.id!, device: first.device, library: library, status: .ok,
                                               medianSeconds: seconds, samples: Self.json([seconds]), error: "",
                                               createdAt: first.createdAt ?? Self.now())
                        try b.insert(db, onConflict: .ignore)
                    }
                    for r in jobRows {
                        var cand = CandidateRecord(id: nil, jobId: j.id!, schedule: r.schedule.encoding, hash: r.schedule.hash64,
                                                   attempts: 0, proposer: r.provenance.proposer,
                                                   modelVersion: r.provenance.modelVersion, predicted: r.provenance.predicted)
                        try cand.insert(db, onConflict: .ignore)
                        guard db.changesCount > 0, let cid = cand.id else { summary.duplicates += 1; continue }
                        let result = MeasureResult(candidateID: cid, status: r.status, samples: r.samples)
                        var m = MeasurementRecord(id: nil, candidateId: cid, jobId: j.id!, agent: r.agent, device: r.device,
                                                  status: r.status, medianSeconds: result.medianSeconds,
                                                  samples: Self.json(r.samples), compileSeconds: r.compileSeconds,
                                                  error: r.error, detail: Self.json(r.detail), createdAt: r.createdAt ?? Self.now())
                        try m.insert(db)
                        summary.records += 1
                    }
                }
            }
            return summary
        }
    }
}
