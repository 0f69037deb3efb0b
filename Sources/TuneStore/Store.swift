import Foundation
import GRDB
import TuneCore

public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

public struct TaskSummary: Codable, Sendable {
    public var name: String
    public var deviceClass: String
    public var weight: Int
    public var trialsDone: Int
    public var trialsTotal: Int
    public var failures: Int
    public var bestSeconds: Double?
    public var bestSchedule: String?
    public var vendorSeconds: Double?
    public var flops: Double
    /// The library of `vendorSeconds`: the fastest one measured.
    public var vendorLibrary: String?
    /// Set when that baseline ran below the device's level (e.g. OpenBLAS's SSE kernels).
    public var vendorNote: String?
    /// Every library the agent timed for the task, as it recorded them
    /// (`openblas=0.0012,onednn=0.0009`; a failure by its status).
    public var vendorLibraries: String?

    /// `vendorLibraries` parsed: each library's median seconds (failed ones left out).
    public var vendorSecondsByLibrary: [String: Double] { Self.secondsByLibrary(vendorLibraries) }

    /// Parses a baseline's `libraries` detail (`openblas=0.0012,onednn=0.0009`).
    public static func secondsByLibrary(_ text: String?) -> [String: Double] {
        var out: [String: Double] = [:]
        for part in (text ?? "").split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let s = Double(kv[1]), s.isFinite, s > 0 { out[String(kv[0])] = s }
        }
        return out
    }
}

public struct CampaignSummary: Codable, Sendable {
    public var id: Int64
    public var workload: String
    public var state: String
    public var tasks: [TaskSummary]
    /// Trials over the whole workload per device class, when the campaign has a budget.
    public var budget: Int?
    /// Seconds since 1970: launched, finished (nil while running), and the `--time` deadline.
    public var createdAt: Double = 0
    public var finishedAt: Double?
    public var deadline: Double?
    public var search: String = ""
    public var scheduler: String = ""
    public var trialsDone: Int { tasks.reduce(0) { $0 + $1.trialsDone } }
    public var trialsTotal: Int {
        if let budget { return budget * Set(tasks.map(\.deviceClass)).count }
        return tasks.reduce(0) { $0 + $1.trialsTotal }
    }
}

/// One exported measurement.
public struct ExportRow: Codable, Sendable {
    public var campaign: Int64
    public var task: String
    public var deviceClass: String
    public var candidate: Int64
    public var schedule: String
    public var device: String
    public var agent: String
    public var status: String
    public var medianSeconds: Double?
    public var samples: [Double]
    public var compileSeconds: Double
    public var error: String
    /// What the backend reported beside the samples: registers and spills, the timing
    /// method (`timing`: cuda-graph or stream), the vendor library, ...
    public var detail: [String: String] = [:]
    /// Seconds since 1970 when the result was committed (or first recorded, for imports).
    public var createdAt: Double = 0
    /// Threads the kernel and the vendor library were allowed.
    public var threads: Int = 1
    /// The campaign's search seed.
    public var seed: UInt64 = 0
    public var provenance = Provenance(proposer: "random")
    /// The vendor libraries' times for the task on the same device, by library.
    public var vendorSeconds: [String: Double] = [:]

    public init(campaign: Int64, task: String, deviceClass: String, candidate: Int64, schedule: String, device: String,
                agent: String, status: String, medianSeconds: Double?, samples: [Double], compileSeconds: Double,
                error: String, detail: [String: String] = [:]) {
        self.campaign = campaign; self.task = task; self.deviceClass = deviceClass; self.candidate = candidate
        self.schedule = schedule; self.device = device; self.agent = agent; self.status = status
        self.medianSeconds = medianSeconds; self.samples = samples; self.compileSeconds = compileSeconds
        self.error = error; self.detail = detail
    }
}

/// The coordinator's SQLite database (WAL): everything a campaign needs to resume.
public final class Store: Sendable {
    let pool: any DatabaseWriter
    public let path: String
    /// What a commit needs to know of a job (its task, class and thread count): fixed when
    /// the job is created, so read once per job for the life of the store.
    struct JobFacts { var task: TaskSpec; var deviceClass: DeviceClass; var threads: Int }
    private let jobFacts = JobFactsCache()

    /// Opens (creating if needed) and migrates. A file that is not a TuneFleet database, or
    /// is corrupt, is refused with a clear error and left untouched.
    public init(path: String) throws(StoreError) {
        self.path = path
        do {
            var config = Configuration()
            config.busyMode = .timeout(5)
            pool = try DatabasePool(path: path, configuration: config)
            try pool.read { db in
                let ok = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "?"
                if ok != "ok" { throw StoreError("integrity check failed: \(ok)") }
            }
            try Schema.migrator.migrate(pool)
        } catch let e as StoreError {
            throw StoreError("cannot open database \(path): \(e.description)")
        } catch {
            throw StoreError("cannot open database \(path): \(error)")
        }
    }

    /// A database that lives in memory only, with the same schema and code paths: for tests
    /// and simulations.
    public static func inMemory() throws(StoreError) -> Store { try Store(queue: ()) }

    private init(queue: Void) throws(StoreError) {
        path = ":memory:"
        do {
            let q = try DatabaseQueue()
            try Schema.migrator.migrate(q)
            pool = q
        } catch {
            throw StoreError("cannot create an in-memory database: \(error)")
        }
    }

    /// Read-only access for export: never migrates or writes.
    public init(readOnlyPath path: String) throws(StoreError) {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError("no database at \(path)") }
        do {
            var config = Configuration()
            config.readonly = true
            pool = try DatabasePool(path: path, configuration: config)
            let m = Schema.migrator
            let applied = try pool.read { db in try m.appliedIdentifiers(db) }
            if applied.isEmpty { throw StoreError("not a TuneFleet database") }
            let unknown = applied.subtracting(m.migrations)
            if !unknown.isEmpty { throw StoreError("written by a newer TuneFleet (schema \(unknown.sorted().joined(separator: ", "))); use that version") }
            // What readers read exists from `Schema.readable` on; later migrations only add indexes.
            let needed = m.migrations.prefix { $0 != Schema.readable } + [Schema.readable]
            if let missing = needed.first(where: { !applied.contains($0) }) {
                throw StoreError("an older TuneFleet database (schema before \(missing)): start this version's coordd on it once to upgrade it")
            }
        } catch let e as StoreError {
            throw StoreError("cannot read database \(path): \(e.description)")
        } catch {
            throw StoreError("cannot read database \(path): \(error)")
        }
    }

    func write<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.write(body) } catch { throw StoreError("database write failed: \(error)") }
    }

    func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.read(body) } catch { throw StoreError("database read failed: \(error)") }
    }

    static func now() -> Double { Date().timeIntervalSince1970 }
    static func json<T: Encodable>(_ v: T) -> String {
        (try? String(decoding: JSONEncoder().encode(v), as: UTF8.self)) ?? "null"
    }

    // MARK: Campaigns

    public func createCampaign(workload: Workload, trialsPerTask: Int, deviceClasses: [DeviceClass], plan: MeasurePlan,
                               batchSize: Int, seed: UInt64, search: SearchChoice = .random,
                               scheduler: SchedulerChoice = .roundRobin, budget: Int? = nil,
                               timeLimit: Double? = nil) throws(StoreError) -> Int64 {
        try write { db in
            let now = Self.now()
            var c = CampaignRecord(id: nil, workload: workload.name, state: .running, trialsPerTask: trialsPerTask,
                                   batchSize: batchSize, plan: Self.json(plan), seed: Int64(bitPattern: seed),
                                   createdAt: now, finishedAt: nil, search: search, scheduler: scheduler, budget: budget,
                                   deadline: timeLimit.map { now + $0 })
            try c.insert(db)
            for wt in workload.tasks {
                var t = TaskRecord(id: nil, campaignId: c.id!, name: wt.task.name, weight: wt.weight)
                try t.insert(db)
                for dc in deviceClasses {
                    var j = JobRecord(id: nil, campaignId: c.id!, taskId: t.id!, deviceClass: dc.rawValue, trials: trialsPerTask, state: .running)
                    try j.insert(db)
                }
            }
            return c.id!
        }
    }

    public func setCampaignState(_ id: Int64, _ state: CampaignState) throws(StoreError) {
        try write { db in
            try db.execute(sql: "UPDATE campaigns SET state = ?, finishedAt = ? WHERE id = ?",
                           arguments: [state, state == .running ? nil : Self.now(), id])
        }
    }

    /// A job's budget (distinct candidates to measure).
    public func setJobTrials(_ id: Int64, _ trials: Int) throws(StoreError) {
        try write { db in try db.execute(sql: "UPDATE jobs SET trials = ? WHERE id = ?", arguments: [max(1, trials), id]) }
    }

    public func completeJob(_ id: Int64) throws(StoreError) {
        try write { db in try db.execute(sql: "UPDATE jobs SET state = 'completed' WHERE id = ?", arguments: [id]) }
    }

    /// The jobs of running campaigns, with what is generated, pending and measured.
    public func activeJobs() throws(StoreError) -> [ActiveJob] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT j.id, j.campaignId, j.deviceClass, j.trials, t.name, t.weight, c.batchSize, c.plan, c.seed,
                       c.search, c.scheduler, c.budget, c.deadline
                FROM jobs j JOIN tasks t ON t.id = j.taskId JOIN campaigns c ON c.id = j.campaignId
                WHERE c.state = 'running' AND j.state = 'running' ORDER BY j.id
                """)
            var out: [ActiveJob] = []
            for r in rows {
                let jobID: Int64 = r[0]
                guard let dc = DeviceClass(rawValue: r[2]) else { continue }
                let task = try TaskSpec(name: r[4])
                let plan = try JSONDecoder().decode(MeasurePlan.self, from: Data((r[7] as String).utf8))
                guard let search = SearchChoice(rawValue: r[9]), let scheduler = SchedulerChoice(rawValue: r[10]) else {
                    throw StoreError("job \(jobID): search '\(r[9] as String)' or scheduler '\(r[10] as String)' unknown to this version")
                }
                let cands = try Row.fetchAll(db, sql: """
                    SELECT c.id, c.schedule, c.hash, m.id IS NOT NULL, c.attempts FROM candidates c
                    LEFT JOIN measurements m ON m.candidateId = c.id WHERE c.jobId = ? ORDER BY c.id
                    """, arguments: [jobID])
                var generated = Set<String>()
                var pending: [Candidate] = []
                var measured = 0
                var lost: [Int64: Int] = [:]
                for c in cands {
                    generated.insert(c[2])
                    if c[3] as Bool { measured += 1 } else {
                        pending.append(Candidate(id: c[0], schedule: try Schedule(encoding: c[1])))
                        if (c[4] as Int) > 0 { lost[c[0]] = c[4] }
                    }
                }
                let baselines = try String.fetchSet(db, sql: "SELECT device FROM baselines WHERE jobId = ?", arguments: [jobID])
                let budget: Int? = r[11]
                var spent = (generated: 0, measured: 0)
                if budget != nil {
                    let counts = try Row.fetchOne(db, sql: """
                        SELECT COUNT(c.id), COUNT(m.id) FROM candidates c JOIN jobs j ON j.id = c.jobId
                        LEFT JOIN measurements m ON m.candidateId = c.id WHERE j.campaignId = ? AND j.deviceClass = ?
                        """, arguments: [r[1] as Int64, dc.rawValue])
                    spent = (counts?[0] ?? 0, counts?[1] ?? 0)
                }
                out.append(ActiveJob(jobID: jobID, campaignID: r[1], task: task, weight: r[5], deviceClass: dc, trials: r[3],
                                     batchSize: r[6], plan: plan, seed: UInt64(bitPattern: r[8]), search: search,
                                     scheduler: scheduler, generated: generated, pending: pending, measured: measured,
                                     baselines: baselines, lostAttempts: lost, campaignBudget: budget,
                                     campaignGenerated: spent.generated, campaignMeasured: spent.measured,
                                     deadline: r[12]))
            }
            return out
        }
    }

    /// Persists new candidates (before they are dispatched: a crash never loses the identity
    /// of what was sent). Schedules already generated for the job are skipped.
    public func insertCandidates(jobID: Int64, _ proposed: [ProposedSchedule]) throws(StoreError) -> [Candidate] {
        try write { db in
            // A compiled statement kept on the connection: thousands of candidates a second
            // at full load.
            let insert = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO candidates (jobId, schedule, hash, attempts, proposer, modelVersion, predicted)
                VALUES (?, ?, ?, 0, ?, ?, ?)
                """)
            var out: [Candidate] = []
            out.reserveCapacity(proposed.count)
            for p in proposed {
                let s = p.schedule
                let encoding = s.encoding
                try insert.execute(arguments: [jobID, encoding, FNV1a.hex(encoding), p.provenance.proposer, p.provenance.modelVersion,
                                               p.provenance.predicted.flatMap { $0.isFinite ? $0 : nil }])
                if db.changesCount > 0 { out.append(Candidate(id: db.lastInsertedRowID, schedule: s)) }
            }
            return out
        }
    }

    /// Random proposals, as a campaign without a search of its own would store them.
    public func insertCandidates(jobID: Int64, _ schedules: [Schedule]) throws(StoreError) -> [Candidate] {
        try insertCandidates(jobID: jobID, schedules.map { ProposedSchedule($0, Provenance(proposer: "random")) })
    }

    public func recordLostAttempt(candidateIDs: [Int64]) throws(StoreError) -> [Int64: Int] {
        try write { db in
            var out: [Int64: Int] = [:]
            for id in candidateIDs {
                try db.execute(sql: "UPDATE candidates SET attempts = attempts + 1 WHERE id = ?", arguments: [id])
                out[id] = try Int.fetchOne(db, sql: "SELECT attempts FROM candidates WHERE id = ?", arguments: [id]) ?? 0
            }
            return out
        }
    }

    /// Commits one result. Returns the candidate's job when a row was written, nil when the
    /// candidate already has a measurement (a redelivery) or is unknown: idempotent by construction.
    public func commit(_ r: MeasureResult, agent: String, device: String) throws(StoreError) -> Int64? {
        try commitAll([ResultToCommit(r, agent: agent, device: device)])[0]?.jobID
    }

    /// Commits results in one transaction (the results of one drain of the agent socket):
    /// for each the record written, or nil for a redelivery or an unknown candidate.
    ///
    /// The hot path of a campaign: compiled statements kept on the connection, one look-up of
    /// the candidate by its key, each job's facts read once per store, and the record built from
    /// what was written rather than read back through a five-table join.
    public func commitAll(_ results: [ResultToCommit]) throws(StoreError) -> [TuningRecord?] {
        guard !results.isEmpty else { return [] }
        return try write { db in
            let candidate = try db.cachedStatement(sql: "SELECT jobId, schedule, proposer, modelVersion, predicted FROM candidates WHERE id = ?")
            let insert = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO measurements (candidateId, jobId, agent, device, status, medianSeconds, samples,
                                                    compileSeconds, error, detail, createdAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            var out: [TuningRecord?] = []
            out.reserveCapacity(results.count)
            for c in results {
                let r = c.result
                guard let row = try Row.fetchOne(candidate, arguments: [r.candidateID]) else {
                    out.append(nil)
                    continue
                }
                let jobID: Int64 = row[0]
                try insert.execute(arguments: [r.candidateID, jobID, c.agent, c.device, r.status.rawValue, r.medianSeconds,
                                               Self.jsonNumbers(r.samples), r.compileSeconds, String(r.errorText.prefix(16384)),
                                               r.detail.isEmpty ? "{}" : Self.json(r.detail), Self.now()])
                guard db.changesCount > 0 else { out.append(nil); continue }
                let facts: JobFacts
                if let known = jobFacts[jobID] { facts = known } else {
                    guard let j = try Row.fetchOne(db.cachedStatement(sql: """
                        SELECT t.name, j.deviceClass, cp.plan FROM jobs j JOIN tasks t ON t.id = j.taskId
                        JOIN campaigns cp ON cp.id = j.campaignId WHERE j.id = ?
                        """), arguments: [jobID]), let dc = DeviceClass(rawValue: j[1]) else {
                        throw StoreError("candidate \(r.candidateID): its job \(jobID) is missing or has an unknown device class")
                    }
                    let plan = try JSONDecoder().decode(MeasurePlan.self, from: Data((j[2] as String).utf8))
                    facts = JobFacts(task: try TaskSpec(name: j[0]), deviceClass: dc, threads: plan.threads)
                    jobFacts[jobID] = facts
                }
                out.append(TuningRecord(jobID: jobID, candidateID: r.candidateID, task: facts.task, schedule: try Schedule(encoding: row[1]),
                                        device: c.device, deviceClass: facts.deviceClass, threads: facts.threads, status: r.status,
                                        medianSeconds: r.medianSeconds, provenance: Provenance(proposer: row[2], modelVersion: row[3], predicted: row[4])))
            }
            return out
        }
    }

    /// A JSON array of numbers: finite ones written directly (Swift's shortest round-trip
    /// form is valid JSON), anything else through the encoder.
    static func jsonNumbers(_ xs: [Double]) -> String {
        guard xs.allSatisfy(\.isFinite) else { return json(xs) }
        return "[" + xs.map { "\($0)" }.joined(separator: ",") + "]"
    }

    public func commitBaseline(_ r: MeasureResult, jobID: Int64, device: String, library: String) throws(StoreError) -> Bool {
        try write { db in
            var b = BaselineRecord(id: nil, jobId: jobID, device: device, library: library, status: r.status,
                                   medianSeconds: r.medianSeconds, samples: Self.json(r.samples),
                                   error: String(r.errorText.prefix(16384)), createdAt: Self.now(), detail: Self.json(r.detail))
            try b.insert(db, onConflict: .ignore)
            return db.changesCount > 0
        }
    }

    public func measuredCount(jobID: Int64) throws(StoreError) -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM measurements WHERE jobId = ?", arguments: [jobID]) ?? 0 }
    }

    public func recordDevice(_ p: DeviceProfile) throws(StoreError) {
        try write { db in
            try DeviceRecord(fingerprint: p.fingerprint, deviceClass: p.deviceClass.rawValue, model: p.model,
                             profile: Self.json(p), firstSeen: Self.now()).insert(db, onConflict: .ignore)
        }
    }

    public func recordAgent(instance: String, name: String, device: String) throws(StoreError) {
        try write { db in
            let now = Self.now()
            try db.execute(sql: """
                INSERT INTO agents (instance, name, device, firstSeen, lastSeen) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(instance) DO UPDATE SET lastSeen = excluded.lastSeen
                """, arguments: [instance, name, device, now, now])
        }
    }

    // MARK: Reading

    public func campaignExists(_ id: Int64) throws(StoreError) -> Bool {
        try read { db in try CampaignRecord.fetchOne(db, key: id) != nil }
    }

    /// Every campaign, or (with `finishedLimit`) the running ones and the newest finished
    /// ones: what a status query needs, however many campaigns the database holds.
    public func campaigns(finishedLimit: Int? = nil, ids: [Int64]? = nil) throws(StoreError) -> [CampaignSummary] {
        try read { db in
            var cs: [CampaignRecord]
            if let ids {
                cs = try CampaignRecord.filter(ids.contains(Column("id"))).order(Column("id")).fetchAll(db)
            } else if let limit = finishedLimit {
                cs = try CampaignRecord.filter(Column("state") == CampaignState.running).fetchAll(db)
                cs += try CampaignRecord.filter(Column("state") != CampaignState.running).order(Column("id").desc).limit(limit).fetchAll(db)
                cs.sort { $0.id! < $1.id! }
            } else {
                cs = try CampaignRecord.order(Column("id")).fetchAll(db)
            }
            return try cs.map { c in
                let rows = try Row.fetchAll(db, sql: """
                    SELECT t.name, j.deviceClass, t.weight, j.trials,
                      (SELECT COUNT(*) FROM measurements m WHERE m.jobId = j.id),
                      (SELECT COUNT(*) FROM measurements m WHERE m.jobId = j.id AND m.status != 'ok'),
                      (SELECT MIN(m.medianSeconds) FROM measurements m WHERE m.jobId = j.id AND m.status = 'ok'),
                      (SELECT cd.schedule FROM measurements m JOIN candidates cd ON cd.id = m.candidateId
                         WHERE m.jobId = j.id AND m.status = 'ok' ORDER BY m.medianSeconds LIMIT 1),
                      (SELECT MIN(b.medianSeconds) FROM baselines b WHERE b.jobId = j.id AND b.status = 'ok'),
                      (SELECT b.library FROM baselines b WHERE b.jobId = j.id AND b.status = 'ok' ORDER BY b.medianSeconds LIMIT 1),
                      (SELECT json_extract(b.detail, '$.baseline_note') FROM baselines b WHERE b.jobId = j.id AND b.status = 'ok'
                         ORDER BY b.medianSeconds LIMIT 1),
                      (SELECT json_extract(b.detail, '$.libraries') FROM baselines b WHERE b.jobId = j.id AND b.status = 'ok'
                         ORDER BY b.medianSeconds LIMIT 1)
                    FROM jobs j JOIN tasks t ON t.id = j.taskId WHERE j.campaignId = ? ORDER BY t.id, j.deviceClass
                    """, arguments: [c.id])
                let tasks = rows.map { r in
                    TaskSummary(name: r[0], deviceClass: r[1], weight: r[2], trialsDone: r[4], trialsTotal: r[3], failures: r[5],
                                bestSeconds: r[6], bestSchedule: r[7], vendorSeconds: r[8],
                                flops: (try? TaskSpec(name: r[0]))?.flops ?? 0, vendorLibrary: r[9], vendorNote: r[10],
                                vendorLibraries: r[11])
                }
                var summary = CampaignSummary(id: c.id!, workload: c.workload, state: c.state.rawValue, tasks: tasks, budget: c.budget)
                summary.createdAt = c.createdAt
                summary.finishedAt = c.finishedAt
                summary.deadline = c.deadline
                summary.search = c.search.rawValue
                summary.scheduler = c.scheduler.rawValue
                return summary
            }
        }
    }

    /// A campaign's results in commit order, after measurement `after` (0: from the first),
    /// as tuning curves read them: (measurement id, device class, task, verified seconds or
    /// nil, seconds since 1970).
    public func curveResults(campaign: Int64, after: Int64 = 0, limit: Int = 1_000_000) throws(StoreError)
        -> [(id: Int64, deviceClass: String, task: String, seconds: Double?, at: Double)] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT m.id, j.deviceClass, t.name, CASE WHEN m.status = 'ok' THEN m.medianSeconds END, m.createdAt
                FROM measurements m JOIN jobs j ON j.id = m.jobId JOIN tasks t ON t.id = j.taskId
                WHERE j.campaignId = ? AND m.id > ? ORDER BY m.id LIMIT ?
                """, arguments: [campaign, after, limit]).map { r in (r[0], r[1], r[2], r[3], r[4]) }
        }
    }

    public func campaign(_ id: Int64) throws(StoreError) -> CampaignSummary? {
        try campaigns(ids: [id]).first
    }

    public func export(campaign: Int64?) throws(StoreError) -> [ExportRow] {
        try read { db in
            var sql = """
                SELECT j.campaignId, t.name, j.deviceClass, c.id, c.schedule, m.device, m.agent, m.status,
                       m.medianSeconds, m.samples, m.compileSeconds, m.error, m.detail, m.createdAt, cp.plan, cp.seed,
                       c.proposer, c.modelVersion, c.predicted, m.jobId
                FROM measurements m JOIN candidates c ON c.id = m.candidateId JOIN jobs j ON j.id = m.jobId
                JOIN tasks t ON t.id = j.taskId JOIN campaigns cp ON cp.id = j.campaignId
                """
            var args: StatementArguments = []
            if let campaign { sql += " WHERE j.campaignId = ?"; args = [campaign] }
            sql += " ORDER BY m.id"
            // Every library the baseline timed (its `libraries` detail), the fastest one by its row.
            var vendor: [Int64: [String: [String: Double]]] = [:]
            for b in try Row.fetchAll(db, sql: """
                SELECT jobId, device, library, medianSeconds, json_extract(detail, '$.libraries') FROM baselines WHERE status = 'ok'
                """) {
                var each = TaskSummary.secondsByLibrary(b[4])
                each[b[2]] = b[3]
                vendor[b[0], default: [:]][b[1], default: [:]].merge(each) { _, new in new }
            }
            var threads: [String: Int] = [:]
            // A row that cannot be decoded is an error, not a silent gap in the export.
            return try Row.fetchAll(db, sql: sql, arguments: args).map { r in
                let samples = try JSONDecoder().decode([Double].self, from: Data((r[9] as String).utf8))
                let detail = try JSONDecoder().decode([String: String].self, from: Data((r[12] as String).utf8))
                let plan: String = r[14]
                if threads[plan] == nil { threads[plan] = try JSONDecoder().decode(MeasurePlan.self, from: Data(plan.utf8)).threads }
                var row = ExportRow(campaign: r[0], task: r[1], deviceClass: r[2], candidate: r[3], schedule: r[4], device: r[5],
                                    agent: r[6], status: r[7], medianSeconds: r[8], samples: samples, compileSeconds: r[10],
                                    error: r[11], detail: detail)
                row.createdAt = r[13]
                row.threads = threads[plan]!
                row.seed = UInt64(bitPattern: r[15])
                row.provenance = Provenance(proposer: r[16], modelVersion: r[17], predicted: r[18])
                row.vendorSeconds = vendor[r[19]]?[r[5]] ?? [:]
                return row
            }
        }
    }
}

extension Store {
    /// Profiles of the devices that reported results, by fingerprint.
    public func deviceProfiles() throws(StoreError) -> [String: DeviceProfile] {
        try read { db in
            var out: [String: DeviceProfile] = [:]
            for r in try DeviceRecord.fetchAll(db) {
                if let p = try? JSONDecoder().decode(DeviceProfile.self, from: Data(r.profile.utf8)) { out[r.fingerprint] = p }
            }
            return out
        }
    }
}

/// Store's per-job facts, behind a lock. (A `Mutex` of the dictionary stored in Store
/// aborted release builds of coordd with "double free or corruption" by the end of every
/// campaign, with Swift 6.3 on Linux; debug builds and tests never showed it.)
final class JobFactsCache: @unchecked Sendable {
    private let lock = NSLock()
    private var facts: [Int64: Store.JobFacts] = [:]

    subscript(job: Int64) -> Store.JobFacts? {
        get { lock.withLock { facts[job] } }
        set { lock.withLock { facts[job] = newValue } }
    }
}
