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
        // The shipped base once (a model of every class), then CPU versions: XGBoost on the
        // campaign's own records or the base adapted to them (more trees), whichever ranked better.
        let bases = versions.filter { $0.deviceClass == nil }
        #expect(bases.count == 1 && bases.first?.kind == "xgb", "the shipped base (XGBoost), stored once: \(versions)")
        let trained = versions.filter { $0.deviceClass != nil }
        #expect(!trained.isEmpty)
        #expect(trained.allSatisfy { v in
            v.deviceClass == .cpu && (v.baseID == nil ? v.kind == "xgb" : (v.kind == bases.first?.kind && v.baseID == bases.first?.id))
        }, "\(trained)")
        // A fresh database's jobs start from the shipped schedules of similar tasks (transfer-tuning).
        #expect(rows.contains { $0.provenance.proposer == "transfer" }, "\(rows.map(\.provenance.proposer))")
        // Once models exist, the evolutionary search proposes with them.
        #expect(rows.contains { $0.provenance.proposer == "evolutionary" && $0.provenance.modelVersion != nil })
        let status = try cluster.client.status()
        #expect(status.models.contains { $0.version > 0 }, "status shows the model in use")
    }

    /// Given schedules (a retime) are measured exactly, once each, and nothing else.
    @Test func givenSchedulesAreMeasuredAsTheyAreAndNothingElse() throws {
        let cluster = try makeCluster(agents: 1)
        defer { cluster.stopAll() }
        let w = try smallWorkload()
        let given: [TaskSpec: [Schedule]] = [
            w.tasks[0].task: [Schedule(["mr": 2, "nr": 16]), Schedule(["mr": 4, "nr": 16]), Schedule(["mr": 4, "nr": 16])],
            w.tasks[1].task: [Schedule(["bogus": 1])],
        ]
        var plan = MeasurePlan()
        plan.repeats = 2
        plan.minRepeatSeconds = 0.001
        let id = try cluster.client.launch(workload: w, trials: 1, devices: [.cpu], batchSize: 2, plan: plan, seed: 1, given: given)
        try waitFor(cluster, campaign: id) { $0.state == "completed" }
        let rows = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
        #expect(rows.count == 3, "the repeated schedule once: \(rows.map(\.schedule))")
        #expect(Set(rows.map(\.schedule)) == ["mr=2;nr=16", "mr=4;nr=16", "bogus=1"])
        #expect(rows.allSatisfy { $0.provenance.proposer == "given" })
    }
}
