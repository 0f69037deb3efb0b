import GRDB
import Foundation
import Testing
import TuneCore
@testable import TuneStore

func temporaryDatabase() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunefleet-store-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent("t.db").path
}

func smallWorkload() throws -> Workload {
    Workload(name: "w", tasks: [WeightedTask(try TaskSpec(op: .matmul, params: ["m": 4, "n": 8, "k": 16]), weight: 2)])
}

@Suite struct StoreBehaviour {
    @Test func aCampaignResumesWithItsPendingCandidates() throws {
        let path = temporaryDatabase()
        let store = try Store(path: path)
        let id = try store.createCampaign(workload: try smallWorkload(), trialsPerTask: 3, deviceClasses: [.cpu],
                                          plan: MeasurePlan(), batchSize: 2, seed: 1)
        let job = try #require(try store.activeJobs().first)
        #expect(job.campaignID == id && job.trials == 3 && job.pending.isEmpty)
        let cands = try store.insertCandidates(jobID: job.jobID, [Schedule(["a": 1]), Schedule(["a": 2]), Schedule(["a": 1])])
        #expect(cands.count == 2, "the repeated schedule is not a new candidate")
        #expect(try store.commit(MeasureResult(candidateID: cands[0].id, status: .ok, samples: [1e-3]), agent: "a", device: "d") == job.jobID)

        // A second process opening the same file sees exactly what was committed.
        let reopened = try Store(path: path)
        let resumed = try #require(try reopened.activeJobs().first)
        #expect(resumed.measured == 1)
        #expect(resumed.pending.map(\.id) == [cands[1].id])
        #expect(resumed.generated.count == 2)
    }

    @Test func redeliveredResultsAreStoredOnce() throws {
        let store = try Store(path: temporaryDatabase())
        _ = try store.createCampaign(workload: try smallWorkload(), trialsPerTask: 2, deviceClasses: [.cpu],
                                     plan: MeasurePlan(), batchSize: 2, seed: 1)
        let job = try #require(try store.activeJobs().first)
        let c = try store.insertCandidates(jobID: job.jobID, [Schedule(["a": 1])])[0]
        let r = MeasureResult(candidateID: c.id, status: .ok, samples: [2e-3, 1e-3, 3e-3],
                              detail: ["timing": "cuda-graph", "registers": "64"])
        #expect(try store.commit(r, agent: "a", device: "d") != nil)
        #expect(try store.commit(r, agent: "b", device: "d") == nil)
        #expect(try store.commit(MeasureResult(candidateID: 9999, status: .ok, samples: [1]), agent: "a", device: "d") == nil)
        let rows = try store.export(campaign: nil)
        #expect(rows.count == 1)
        #expect(rows[0].samples == [2e-3, 1e-3, 3e-3])
        #expect(rows[0].medianSeconds == 2e-3)
        // How it was measured travels with the numbers.
        #expect(rows[0].detail == ["timing": "cuda-graph", "registers": "64"])
    }

    @Test func summariesReportBestAndVendor() throws {
        let store = try Store(path: temporaryDatabase())
        let id = try store.createCampaign(workload: try smallWorkload(), trialsPerTask: 2, deviceClasses: [.cpu],
                                          plan: MeasurePlan(), batchSize: 2, seed: 1)
        let job = try #require(try store.activeJobs().first)
        let cs = try store.insertCandidates(jobID: job.jobID, [Schedule(["a": 1]), Schedule(["a": 2])])
        _ = try store.commit(MeasureResult(candidateID: cs[0].id, status: .ok, samples: [4e-3]), agent: "a", device: "d")
        _ = try store.commit(MeasureResult(candidateID: cs[1].id, status: .compileError, errorText: "boom"), agent: "a", device: "d")
        _ = try store.commitBaseline(MeasureResult(candidateID: 0, status: .ok, samples: [2e-3]), jobID: job.jobID, device: "d", library: "openblas")
        let s = try #require(try store.campaigns().first { $0.id == id })
        #expect(s.tasks[0].trialsDone == 2 && s.tasks[0].failures == 1)
        #expect(s.tasks[0].bestSeconds == 4e-3 && s.tasks[0].vendorSeconds == 2e-3)
        #expect(s.tasks[0].bestSchedule == "a=1")
    }

    @Test func aCorruptFileIsRefusedAndLeftAlone() throws {
        let path = temporaryDatabase()
        let junk = Data(repeating: 0x5a, count: 8192)
        try junk.write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.self) { try Store(path: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == junk)
    }

    @Test func exportRefusesAMissingDatabase() {
        #expect(throws: StoreError.self) { try Store(readOnlyPath: "/nonexistent/tunefleet.db") }
    }

    /// Readers (export, report) open a database that lacks only index migrations, and say
    /// whether one they cannot read is older, newer or not TuneFleet's at all.
    @Test func readersTellOlderNewerAndForeignDatabasesApart() throws {
        func database(_ edit: String) throws -> String {
            let path = temporaryDatabase()
            _ = try Store(path: path)
            try DatabaseQueue(path: path).write { try $0.execute(sql: edit) }
            return path
        }
        func message(_ path: String) -> String {
            do { _ = try Store(readOnlyPath: path); return "" } catch { return error.description }
        }
        #expect(message(try database("DELETE FROM grdb_migrations WHERE identifier = 'v5'")) == "", "index migrations are not needed to read")
        #expect(message(try database("DELETE FROM grdb_migrations WHERE identifier = 'v4'")).contains("an older TuneFleet database"))
        #expect(message(try database("INSERT INTO grdb_migrations VALUES ('v99')")).contains("written by a newer TuneFleet (schema v99)"))
        #expect(message(try database("DROP TABLE grdb_migrations")).contains("not a TuneFleet database"))
    }
}
