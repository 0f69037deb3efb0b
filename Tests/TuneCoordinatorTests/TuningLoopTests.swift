import Foundation
import Testing
import TuneCore
import TuneSearch
import TuneTestKit
@testable import TuneCoordinator

/// A recording of three elementwise tasks whose times are known in advance: point i of a
/// task takes (i + 1) ms, except that point 7 is the fastest and point 3 failed.
func syntheticFleet(points: Int = 24) throws -> ReplayFleet {
    var r = Recording()
    for n in [1024, 2048, 4096] {
        let task = try TaskSpec(op: .elementwise, params: ["n": n])
        for i in 0..<points {
            let outcome: Recording.Outcome = i == 3 ? .init(status: .wrongAnswer, seconds: nil)
                : .init(status: .ok, seconds: i == 7 ? 1e-4 : Double(i + 1) * 1e-3)
            r.add(task: task, schedule: Schedule(["vec": i]), outcome)
        }
    }
    return ReplayFleet(r)
}

let replayCPU = DeviceProfile(deviceClass: .cpu, model: "replay cpu")

/// A toy strategy plugged in through the seam: it asks the job's model to rank every point
/// and proposes the best-scored new ones, remembering how much history it was built with.
struct ModelOrder: SearchStrategy {
    let name = "model-order"
    var heard: Int
    mutating func propose(count: Int, context: SearchContext) -> [ProposedSchedule] {
        let all = (0..<context.space.knobs[0].choices.count).map { Schedule(["point": $0]) }.filter(context.isNew)
        guard let model = context.model else { return [] }
        let scores = model.score(task: context.task, device: context.device, threads: context.threads, schedules: all)
        return zip(all, scores).sorted { $0.1 > $1.1 }.prefix(count).map {
            ProposedSchedule($0.0, Provenance(proposer: name, modelVersion: model.version?.id, predicted: $0.1))
        }
    }
    mutating func observe(_ record: TuningRecord) { heard += 1 }
}

@Suite struct TuningLoopBehaviour {
    @Test func randomSearchMeasuresExactlyTheBudgetOfEveryTaskWithoutRepeats() throws {
        var sim = try TuningSimulation(fleet: try syntheticFleet(), device: replayCPU)
        let id = try sim.launch(trialsPerTask: 10, batchSize: 3, seed: 5)
        #expect(try sim.run())
        #expect(sim.finishedCampaigns == [id])
        let byJob = Dictionary(grouping: sim.committed, by: \.jobID)
        #expect(byJob.count == 3)
        for (_, records) in byJob {
            #expect(records.count == 10)
            #expect(Set(records.map(\.schedule)).count == 10)
        }
        #expect(sim.committed.allSatisfy { $0.provenance.proposer == "random" })
        #expect(try sim.store.campaigns().first?.state == "completed")
    }

    @Test func theSameSeedReplaysTheSameCampaign() throws {
        func run(_ seed: UInt64) throws -> [String] {
            var sim = try TuningSimulation(fleet: try syntheticFleet(), device: replayCPU)
            _ = try sim.launch(trialsPerTask: 8, seed: seed)
            try sim.run()
            return sim.committed.map { "\($0.task.name) \($0.schedule.encoding)" }
        }
        #expect(try run(3) == run(3))
        #expect(try run(3) != run(4))
    }

    @Test func aSpaceSmallerThanTheBudgetEndsTheJobWhenEverythingIsMeasured() throws {
        var sim = try TuningSimulation(fleet: try syntheticFleet(points: 5), device: replayCPU)
        _ = try sim.launch(trialsPerTask: 50)
        #expect(try sim.run())
        #expect(sim.committed.count == 15)
    }

    @Test func aToyStrategyPluggedInThroughTheSeamFindsTheBestFirst() throws {
        let fleet = try syntheticFleet()
        var settings = TuningLoop.Settings()
        settings.makeStrategy = { _, history, _ in ModelOrder(heard: history.count) }
        var sim = try TuningSimulation(fleet: fleet, device: replayCPU, settings: settings)
        let version = ModelVersion(id: 42, kind: "fixed", deviceClass: .cpu, featureSchemaVersion: 0, records: 0)
        try sim.tellModel(FixedCostModel.oracle(fleet).withVersion(version))
        _ = try sim.launch(trialsPerTask: 4, batchSize: 2)
        #expect(try sim.run())
        for (_, records) in Dictionary(grouping: sim.committed, by: \.jobID) {
            let first = records.sorted { $0.candidateID < $1.candidateID }[0]
            #expect(first.schedule == Schedule(["point": 7]), "the oracle's best point is measured first")
            #expect(first.okSeconds == 1e-4)
        }
        #expect(sim.committed.allSatisfy { $0.provenance.proposer == "model-order" && $0.provenance.modelVersion == 42 })
        #expect(sim.committed.allSatisfy { $0.provenance.predicted != nil })
    }

    @Test func aStrategyThatRepeatsOrBreaksTheSpaceIsKeptInLine() throws {
        struct Stubborn: SearchStrategy {
            let name = "stubborn"
            mutating func propose(count: Int, context: SearchContext) -> [ProposedSchedule] {
                // The same point every time, plus one outside the space.
                [ProposedSchedule(Schedule(["point": 0]), Provenance(proposer: name)),
                 ProposedSchedule(Schedule(["point": 999]), Provenance(proposer: name))]
            }
            mutating func observe(_ record: TuningRecord) {}
        }
        var settings = TuningLoop.Settings()
        settings.makeStrategy = { _, _, _ in Stubborn() }
        var sim = try TuningSimulation(fleet: try syntheticFleet(), device: replayCPU, settings: settings)
        _ = try sim.launch(trialsPerTask: 5)
        #expect(try sim.run(), "a strategy that runs dry ends its jobs")
        #expect(sim.committed.count == 3, "one valid new point per task, measured once")
    }

    @Test func aRestartedCoordinatorFinishesTheBudgetFromTheDatabase() throws {
        var settings = TuningLoop.Settings()
        let rebuiltWith = HistoryLog()
        settings.makeStrategy = { job, history, _ in
            rebuiltWith.note(history.count)
            return SearchCatalog.strategy(job.search, job: job, history: history)
        }
        var sim = try TuningSimulation(fleet: try syntheticFleet(), device: replayCPU, settings: settings)
        _ = try sim.launch(trialsPerTask: 12, batchSize: 2)
        #expect(try !sim.run(stopAfterResults: 7))
        try sim.restart()
        #expect(try sim.run())
        #expect(rebuiltWith.counts.suffix(3).reduce(0, +) >= 7, "strategies rebuilt from the stored history")
        for (_, records) in Dictionary(grouping: sim.committed, by: \.jobID) {
            #expect(records.count == 12)
            #expect(Set(records.map(\.schedule)).count == 12)
        }
    }

    @Test func okResultsAskForTrainingEveryNResults() throws {
        var sim = try TuningSimulation(fleet: try syntheticFleet(), device: replayCPU, settings: TuningLoop.Settings(retrainEvery: 5))
        _ = try sim.launch(trialsPerTask: 10)
        try sim.run()
        let ok = sim.committed.filter { $0.status == .ok }.count
        #expect(sim.trainRequests.count == ok / 5)
        #expect(sim.trainRequests.allSatisfy { $0 == .cpu })
    }

    /// The loop follows the cadence: with `retrainEvery` 32 a campaign of fewer than 32
    /// verified results still gets a model after its 8th, 16th and 24th.
    @Test func aSmallCampaignGetsModelsLongBeforeRetrainEvery() throws {
        var sim = try TuningSimulation(fleet: try syntheticFleet(), device: replayCPU, settings: TuningLoop.Settings(retrainEvery: 32))
        _ = try sim.launch(trialsPerTask: 10)
        try sim.run()
        let ok = sim.committed.filter { $0.status == .ok }.count
        #expect(ok >= 24 && ok < 32, "\(ok) verified results")
        #expect(sim.trainRequests.count == ok / 8)
    }

    /// A class asks for its first model after 8 results, not after `every`: the first
    /// measurements are the ones that correct the shipped model for this device; the gaps then
    /// grow with what the class has (a quarter of it) up to `every`.
    @Test func retrainingStartsEarlyAndSpacesOutToEvery() {
        var c = RetrainCadence(every: 32, first: 8)
        var at: [Int] = []
        for i in 1...400 where c.observe() { at.append(i) }
        #expect(Array(at.prefix(6)) == [8, 16, 24, 32, 40, 50])
        let gaps = zip(at.dropFirst(), at).map { $0 - $1 }
        #expect(gaps == gaps.sorted(), "gaps never shrink")
        #expect(gaps.max() == 32 && gaps.suffix(3).allSatisfy { $0 == 32 }, "at most every 32 apart, and that once there are many")

        var coordd = RetrainCadence(every: 256)
        var first: Int?
        var count = 0
        for i in 1...2000 where coordd.observe() {
            first = first ?? i
            count += 1
        }
        #expect(first == 8)
        #expect(count > 2000 / 256 + 5, "more often than every 256 while results are few")
        #expect(coordd.gap == 256)

        var small = RetrainCadence(every: 5, first: 8)
        #expect((1...10).filter { _ in small.observe() }.count == 2, "`every` below `first` wins")
    }

    @Test func cancellingDropsEveryJobOfTheCampaignOnly() throws {
        var loop = TuningLoop()
        let t = try TaskSpec(op: .elementwise, params: ["n": 64])
        let jobs = [ActiveJob(jobID: 1, campaignID: 1, task: t, weight: 1, deviceClass: .cpu, trials: 4, batchSize: 2,
                              plan: MeasurePlan(), seed: 1),
                    ActiveJob(jobID: 2, campaignID: 1, task: t, weight: 1, deviceClass: .cuda, trials: 4, batchSize: 2,
                              plan: MeasurePlan(), seed: 1),
                    ActiveJob(jobID: 3, campaignID: 2, task: t, weight: 1, deviceClass: .cpu, trials: 4, batchSize: 2,
                              plan: MeasurePlan(), seed: 1)]
        #expect(loop.handle(.adopted(jobs, history: [:])).count == 3)
        let out = loop.handle(.cancelled(campaignID: 1))
        #expect(out.compactMap { d -> Int64? in if case .dropJob(let id) = d { return id }; return nil } == [1, 2])
        #expect(loop.jobIDs == [3])
    }

    /// Candidates the store could not persist (a full disk) never reach an agent: their job
    /// forgets it generated them and proposes again, so it can still finish its trials.
    @Test func candidatesTheStoreRefusedAreForgottenAndProposedAgain() throws {
        var loop = TuningLoop()
        let t = try TaskSpec(op: .elementwise, params: ["n": 64])
        _ = loop.handle(.adopted([ActiveJob(jobID: 1, campaignID: 1, task: t, weight: 1, deviceClass: .cpu, trials: 4,
                                            batchSize: 4, plan: MeasurePlan(), seed: 1)], history: [:]))
        let q = TuningLoop.Queues(profiles: [.cpu: replayCPU])
        func persisted(_ out: [TuningLoop.Directive]) -> [ProposedSchedule] {
            out.flatMap { d -> [ProposedSchedule] in if case .persistCandidates(1, let p) = d { return p }; return [] }
        }
        let first = persisted(loop.handle(.tick(q)))
        #expect(first.count == 4, "the whole budget at once")
        #expect(persisted(loop.handle(.tick(q))).isEmpty, "nothing more while those are out")
        _ = loop.handle(.persistFailed(jobID: 1, first))
        let again = persisted(loop.handle(.tick(q)))
        #expect(again.count == 4, "proposed again after the store refused them")
    }

    @Test func aJobWithoutATemplateEndsWithoutTrials() throws {
        var loop = TuningLoop(settings: TuningLoop.Settings(space: { _, _, _ in nil }))
        let t = try TaskSpec(op: .elementwise, params: ["n": 64])
        _ = loop.handle(.adopted([ActiveJob(jobID: 1, campaignID: 1, task: t, weight: 1, deviceClass: .cpu, trials: 4,
                                            batchSize: 2, plan: MeasurePlan(), seed: 1)], history: [:]))
        let q = TuningLoop.Queues(profiles: [.cpu: replayCPU])
        let first = loop.handle(.tick(q))
        #expect(first.contains { if case .noTemplate(1, _, .cpu) = $0 { return true }; return false })
        let next = loop.handle(.tick(q))
        #expect(next.contains { if case .finishJob(1) = $0 { return true }; return false })
        #expect(next.contains { if case .finishCampaign(1) = $0 { return true }; return false })
    }

    @Test func withoutAnAgentOfTheClassNothingIsGenerated() throws {
        var loop = TuningLoop()
        let t = try TaskSpec(op: .elementwise, params: ["n": 64])
        _ = loop.handle(.adopted([ActiveJob(jobID: 1, campaignID: 1, task: t, weight: 1, deviceClass: .cuda, trials: 4,
                                            batchSize: 2, plan: MeasurePlan(), seed: 1)], history: [:]))
        #expect(loop.handle(.tick(TuningLoop.Queues(profiles: [.cpu: replayCPU]))).isEmpty)
    }

    /// Proposals computed off the dispatch path come back several steps later, while results
    /// keep being committed: each job has at most one proposal out at a time, the strategy
    /// that comes back hears what was committed meanwhile, and the budget is spent exactly.
    @Test(arguments: [1, 3])
    func offPathProposalsHearEveryResultAndSpendExactlyTheBudget(delay: Int) throws {
        struct Counting: SearchStrategy {
            var inner: any SearchStrategy
            let jobID: Int64
            let log: ProposeLog
            var heard = 0
            var name: String { inner.name }
            mutating func propose(count: Int, context: SearchContext) -> [ProposedSchedule] {
                log.note(jobID, heard)
                return inner.propose(count: count, context: context)
            }
            mutating func observe(_ record: TuningRecord) { heard += 1; inner.observe(record) }
        }
        let log = ProposeLog()
        var settings = TuningLoop.Settings()
        settings.proposeOffPath = true
        settings.makeStrategy = { job, history, _ in
            Counting(inner: SearchCatalog.strategy(job.search, job: job, history: history), jobID: job.jobID, log: log, heard: history.count)
        }
        var sim = try TuningSimulation(fleet: try syntheticFleet(), device: replayCPU, settings: settings)
        sim.proposalDelay = delay
        let id = try sim.launch(trialsPerTask: 0, batchSize: 2, seed: 9, scheduler: .roundRobin, budget: 30)
        #expect(try sim.run())
        #expect(sim.finishedCampaigns == [id])
        #expect(sim.committed.count == 30, "exactly the campaign's budget")
        for (_, records) in Dictionary(grouping: sim.committed, by: \.jobID) {
            #expect(Set(records.map(\.schedule)).count == records.count, "no schedule twice")
        }
        // Each proposal ran on a strategy that had heard every record committed before it was asked.
        #expect(log.entries.count == sim.proposalRequests.count)
        #expect(log.entries.map(\.heard) == sim.proposalRequests.map(\.committedBefore))
        #expect(sim.proposalRequests.contains { $0.committedBefore > 0 }, "later proposals followed results")
    }

    @Test func oneProposalIsOutPerJobAndACancelledJobIgnoresItsAnswer() throws {
        var settings = TuningLoop.Settings()
        settings.proposeOffPath = true
        settings.space = { task, _, _ in try? syntheticFleet().space(for: task) }
        var loop = TuningLoop(settings: settings)
        let t = try TaskSpec(op: .elementwise, params: ["n": 1024])
        let q = TuningLoop.Queues(profiles: [.cpu: replayCPU])
        let job = ActiveJob(jobID: 1, campaignID: 1, task: t, weight: 1, deviceClass: .cpu, trials: 20, batchSize: 4,
                            plan: MeasurePlan(), seed: 1)
        _ = loop.handle(.adopted([job], history: [:]))
        let first = loop.handle(.tick(q))
        let requests = first.compactMap { d -> TuningLoop.ProposalRequest? in if case .propose(let r) = d { return r }; return nil }
        #expect(requests.count == 1, "proposals go out instead of candidates")
        #expect(!first.contains { if case .persistCandidates = $0 { return true }; return false })
        #expect(!loop.handle(.tick(q)).contains { if case .propose = $0 { return true }; return false },
                "one proposal out per job")
        let (proposed, strategy) = requests[0].run()
        let back = loop.handle(.proposed(requests[0], proposed, strategy: strategy))
        #expect(back.contains { if case .persistCandidates(1, let p) = $0 { return p.count == requests[0].count }; return false })
        // Cancelled while a second proposal is out: its answer changes nothing.
        let second = loop.handle(.tick(TuningLoop.Queues(queued: [1: 0], inFlight: [1: 0], profiles: [.cpu: replayCPU])))
        let r2 = second.compactMap { d -> TuningLoop.ProposalRequest? in if case .propose(let r) = d { return r }; return nil }
        try #require(r2.count == 1)
        _ = loop.handle(.cancelled(campaignID: 1))
        let (p2, s2) = r2[0].run()
        #expect(loop.handle(.proposed(r2[0], p2, strategy: s2)).isEmpty)
    }

    @Test func aCampaignEndsWhenItsTimeLimitPassesAndNotBefore() throws {
        var loop = TuningLoop(settings: TuningLoop.Settings(space: { task, _, _ in try? syntheticFleet().space(for: task) }))
        let t = try TaskSpec(op: .elementwise, params: ["n": 1024])
        let job = ActiveJob(jobID: 1, campaignID: 7, task: t, weight: 1, deviceClass: .cpu, trials: 100_000_000, batchSize: 2,
                            plan: MeasurePlan(), seed: 1, deadline: 1000)
        _ = loop.handle(.adopted([job], history: [:]))
        let before = loop.handle(.tick(TuningLoop.Queues(profiles: [.cpu: replayCPU], now: 999)))
        #expect(before.contains { if case .persistCandidates = $0 { return true }; return false })
        #expect(!before.contains { if case .finishJob = $0 { return true }; return false })
        let after = loop.handle(.tick(TuningLoop.Queues(queued: [1: 4], inFlight: [1: 2], profiles: [.cpu: replayCPU], now: 1000)))
        #expect(after.contains { if case .finishJob(1) = $0 { return true }; return false }, "ends with work still queued")
        #expect(after.contains { if case .finishCampaign(7) = $0 { return true }; return false })
        #expect(!after.contains { if case .persistCandidates = $0 { return true }; return false })
        #expect(loop.jobIDs.isEmpty)
    }

    @Test func aRecordedH100ExportReplays() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../tools/gpu-results/h100-run1/export.jsonl")
        let recording = try Recording.exportJSONL(try String(contentsOf: url, encoding: .utf8), deviceClass: .cuda)
        #expect(recording.tasks.count >= 3)
        let fleet = ReplayFleet(recording)
        var gpu = DeviceProfile(deviceClass: .cuda, model: "NVIDIA H100 80GB HBM3")
        gpu.smCount = 132
        var sim = try TuningSimulation(fleet: fleet, device: gpu)
        _ = try sim.launch(trialsPerTask: 1000)
        #expect(try sim.run())
        // Every recorded point measured once; the best found is the recording's best.
        for task in recording.tasks {
            let records = sim.committed.filter { $0.task == task }
            #expect(records.count == recording.points[task]!.count)
            #expect(records.compactMap(\.okSeconds).min() == recording.best(task))
        }
    }
}

/// Collects what strategies were rebuilt with (factories run inside the loop).
final class HistoryLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _counts: [Int] = []
    func note(_ n: Int) { lock.lock(); _counts.append(n); lock.unlock() }
    var counts: [Int] { lock.lock(); defer { lock.unlock() }; return _counts }
}

/// What off-path proposals heard when they ran.
final class ProposeLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _entries: [(jobID: Int64, heard: Int)] = []
    func note(_ job: Int64, _ heard: Int) { lock.lock(); _entries.append((job, heard)); lock.unlock() }
    var entries: [(jobID: Int64, heard: Int)] { lock.lock(); defer { lock.unlock() }; return _entries }
}
