import Foundation
import GRDB
import Testing
import TuneCore
@testable import TuneStore

/// The store as the search half sees it (`TuningDatabase`), on disk and in memory alike.
@Suite struct TuningDatabaseBehaviour {
    func campaign(_ store: Store) throws -> (ActiveJob, [Candidate]) {
        _ = try store.createCampaign(workload: try smallWorkload(), trialsPerTask: 5, deviceClasses: [.cpu],
                                     plan: MeasurePlan(), batchSize: 2, seed: 1)
        let job = try #require(try store.activeJobs().first)
        let cands = try store.insertCandidates(jobID: job.jobID, [
            ProposedSchedule(Schedule(["a": 1]), Provenance(proposer: "random")),
            ProposedSchedule(Schedule(["a": 2]), Provenance(proposer: "evolutionary", modelVersion: 3, predicted: 0.75)),
            ProposedSchedule(Schedule(["a": 3]), Provenance(proposer: "random")),
        ])
        return (job, cands)
    }

    @Test(arguments: [false, true]) func committedRecordsCarryTheirTaskScheduleAndProvenance(onDisk: Bool) throws {
        let store = onDisk ? try Store(path: temporaryDatabase()) : try Store.inMemory()
        let (job, c) = try campaign(store)
        let written = try store.commit([
            ResultToCommit(MeasureResult(candidateID: c[1].id, status: .ok, samples: [2e-3, 1e-3, 3e-3]), agent: "a", device: "d1"),
            ResultToCommit(MeasureResult(candidateID: c[0].id, status: .compileError, errorText: "x"), agent: "a", device: "d1"),
            ResultToCommit(MeasureResult(candidateID: c[1].id, status: .ok, samples: [9]), agent: "b", device: "d1"),
            ResultToCommit(MeasureResult(candidateID: 12345, status: .ok, samples: [1]), agent: "a", device: "d1"),
        ])
        #expect(written.map { $0 != nil } == [true, true, false, false], "a redelivery and an unknown candidate write nothing")
        let r = try #require(written[0])
        #expect(r.jobID == job.jobID && r.task == job.task && r.schedule == Schedule(["a": 2]))
        #expect(r.medianSeconds == 2e-3 && r.device == "d1" && r.deviceClass == .cpu && r.threads == 1)
        #expect(r.provenance == Provenance(proposer: "evolutionary", modelVersion: 3, predicted: 0.75))
        #expect(try store.history(jobID: job.jobID).map(\.candidateID) == [c[1].id, c[0].id])
        #expect(try store.history(jobID: job.jobID) == [written[0]!, written[1]!], "what a commit returns is what a reader reads back")
        let rows = try store.export(campaign: job.campaignID)
        #expect(rows.first { $0.candidate == c[1].id }?.samples == [2e-3, 1e-3, 3e-3], "every sample, exactly")
        #expect(rows.first { $0.candidate == c[0].id }?.error == "x")
        #expect(try store.best(k: 5, task: job.task, device: "d1").map(\.candidateID) == [c[1].id])
        #expect(try store.best(k: 5, task: job.task, device: "other").isEmpty)
        let (okRecords, last) = try store.records(RecordQuery(deviceClass: .cpu))
        #expect(okRecords.count == 1 && last != nil)
        #expect(try store.records(RecordQuery(deviceClass: .cpu, after: last)).records.isEmpty)
        #expect(try store.records(RecordQuery(okOnly: false)).records.count == 2)
        #expect(try store.records(RecordQuery(deviceClass: .cuda)).records.isEmpty)
    }

    @Test func lostAttemptsSurviveARestart() throws {
        let path = temporaryDatabase()
        let store = try Store(path: path)
        let (_, c) = try campaign(store)
        #expect(try store.recordLostAttempt(candidateIDs: [c[0].id, c[0].id, c[2].id]) == [c[0].id: 2, c[2].id: 1])
        let resumed = try #require(try Store(path: path).activeJobs().first)
        #expect(resumed.lostAttempts == [c[0].id: 2, c[2].id: 1])
    }

    @Test func theCampaignKeepsItsSearchAndScheduler() throws {
        let store = try Store.inMemory()
        _ = try store.createCampaign(workload: try smallWorkload(), trialsPerTask: 2, deviceClasses: [.cpu], plan: MeasurePlan(),
                                     batchSize: 1, seed: 1, search: .random, scheduler: .roundRobin)
        let job = try #require(try store.activeJobs().first)
        #expect(job.search == .random && job.scheduler == .roundRobin)
    }

    @Test func aModelRoundTripsWithItsBase() throws {
        let store = try Store.inMemory()
        let base = StoredModel(kind: "xgb", deviceClass: .cpu, featureSchemaVersion: 1, parameters: "{}",
                               query: RecordQuery(deviceClass: .cpu), records: 100, recordHash: "abc", trainingSeconds: 1.5,
                               metrics: "{\"pca\":0.9}", blob: [1, 2, 3])
        let v1 = try store.saveModel(base)
        var adapted = base
        adapted.kind = "transfer"
        adapted.baseID = v1.id
        adapted.blob = [9]
        let v2 = try store.saveModel(adapted)
        #expect(try store.models() == [v1, v2])
        #expect(v2.baseID == v1.id)
        #expect(try store.model(id: v1.id) == base)
        #expect(try store.model(id: 999) == nil)
    }

    /// States and statuses are enums in the records: a value the schema does not know
    /// cannot be read back as one.
    @Test func statesAndStatusesAreTyped() throws {
        let path = temporaryDatabase()
        let store = try Store(path: path)
        let (_, c) = try campaign(store)
        _ = try store.commit([ResultToCommit(MeasureResult(candidateID: c[0].id, status: .runTimeout), agent: "a", device: "d")])
        let rows = try DatabaseQueue(path: path).read { db in try MeasurementRecord.fetchAll(db) }
        #expect(rows.map(\.status) == [.runTimeout])
        let campaigns = try DatabaseQueue(path: path).read { db in try CampaignRecord.fetchAll(db) }
        #expect(campaigns.map(\.state) == [.running])
    }
}
