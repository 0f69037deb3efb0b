import Foundation
import Testing
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct LearningCluster {
    /// A model-guided campaign with a total budget, while coordd retrains its model every few
    /// results: an agent is killed and the coordinator restarted on the way, and it still ends
    /// with exactly its budget, nothing measured twice, and model versions stored and in use.
    @Test func aModelGuidedBudgetSurvivesAnAgentKillAndARestartWhileModelsRetrain() throws {
        let cluster = try makeCluster(agents: 2, coordinatorArguments: ["--retrain-every", "4"])
        defer { cluster.stopAll() }
        var plan = MeasurePlan()
        plan.repeats = 2
        plan.minRepeatSeconds = 0.001
        let budget = 24
        let id = try cluster.client.launch(workload: try smallWorkload(), trials: 0, devices: [.cpu], batchSize: 2, plan: plan,
                                           seed: 5, search: .evolutionary, scheduler: .gradient, budget: budget)
        try waitFor(cluster, campaign: id) { $0.trialsDone >= 6 }
        cluster.signalAgent("agent-1", SIGKILL)
        try waitFor(cluster, campaign: id) { $0.trialsDone >= 12 }
        cluster.signalCoordinator(SIGKILL)
        try cluster.startCoordinator()
        let done = try waitFor(cluster, campaign: id) { $0.state == "completed" }
        #expect(done.trialsDone == UInt32(budget))

        let store = try Store(readOnlyPath: cluster.databasePath)
        let rows = try store.export(campaign: id)
        #expect(rows.count == budget, "exactly the budget: \(rows.count)")
        #expect(Set(rows.map(\.candidate)).count == rows.count)
        for task in Set(rows.map(\.task)) {
            let mine = rows.filter { $0.task == task }
            #expect(Set(mine.map(\.schedule)).count == mine.count, "no schedule twice in a task")
        }
        let versions = try store.models()
        #expect(!versions.isEmpty, "coordd trained while the campaign ran")
        #expect(versions.allSatisfy { $0.deviceClass == .cpu && $0.kind == "xgb" })
        // Once models exist, the evolutionary search proposes with them.
        #expect(rows.contains { $0.provenance.proposer == "evolutionary" && $0.provenance.modelVersion != nil })
        let status = try cluster.client.status()
        #expect(status.models.contains { $0.version > 0 }, "status shows the model in use")
    }
}
