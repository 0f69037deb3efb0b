import Testing
import TuneCoordinator
import TuneCore
import TuneStore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct ClusterFaultTolerance {
    @Test func aCampaignCompletesWithItsExactBudgetAfterAnAgentIsKilled() throws {
        let cluster = try makeCluster(agents: 2)
        defer { cluster.stopAll() }
        let trials = 10
        let id = try launch(cluster, try smallWorkload(), trials: trials)
        try waitFor(cluster, campaign: id) { $0.trialsDone >= 3 }
        cluster.signalAgent("agent-1", SIGKILL)
        let done = try waitFor(cluster, campaign: id) { $0.state == "completed" }
        #expect(done.trialsDone == UInt32(2 * trials))

        let rows = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
        #expect(rows.count == 2 * trials)
        #expect(Set(rows.map(\.candidate)).count == rows.count, "no candidate measured twice")
        for task in Set(rows.map(\.task)) {
            let mine = rows.filter { $0.task == task }
            #expect(mine.count == trials)
            #expect(Set(mine.map(\.schedule)).count == trials, "distinct schedules per task")
        }
        #expect(rows.filter { $0.status == "ok" }.count > 0)
    }

    @Test func aKilledCoordinatorResumesOnTheSameDatabaseWithoutLosingOrRepeatingResults() throws {
        let cluster = try makeCluster(agents: 2)
        defer { cluster.stopAll() }
        let trials = 10
        let id = try launch(cluster, try smallWorkload(), trials: trials)
        try waitFor(cluster, campaign: id) { $0.trialsDone >= 4 }
        cluster.signalCoordinator(SIGKILL)
        let before = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
        #expect(before.count >= 4)

        try cluster.startCoordinator()
        let done = try waitFor(cluster, campaign: id) { $0.state == "completed" }
        #expect(done.trialsDone == UInt32(2 * trials))
        let after = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
        #expect(after.count == 2 * trials)
        #expect(Set(after.map(\.candidate)).count == after.count, "every result once")
        let afterByCandidate = Dictionary(uniqueKeysWithValues: after.map { ($0.candidate, $0) })
        for r in before {
            #expect(afterByCandidate[r.candidate]?.medianSeconds == r.medianSeconds, "committed results survive unchanged")
        }
    }
}
