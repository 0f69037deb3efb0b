import Foundation
import Testing
import TuneCoordinator
import TuneCore
import TuneStore
import TuneTestKit
@testable import TuneConsole

@Suite struct CampaignReportRendering {
    /// A replayed campaign (two tasks, one twice as frequent) searched by the evolutionary
    /// strategy with `sign` x an oracle as its model (version 7); the report reads the database.
    func replayedCampaign(sign: Double) throws -> (Store, Int64) {
        var r = Recording()
        let a = try TaskSpec(op: .elementwise, params: ["n": 1024]), b = try TaskSpec(op: .elementwise, params: ["n": 4096])
        for (task, scale) in [(a, 1.0), (b, 3.0)] {
            // Distinct times in a scrambled order.
            for i in 0..<30 { r.add(task: task, schedule: Schedule(["point": i]), .init(status: .ok, seconds: scale * Double((i * 7) % 30 + 1) * 1e-4)) }
        }
        let fleet = ReplayFleet(r)
        let oracle = FixedCostModel.oracle(fleet)
        let device = DeviceProfile(deviceClass: .cpu, model: "replay")
        let model = FixedCostModel { t, s in sign * oracle.score(task: t, device: device, threads: 1, schedules: [s])[0] }
        var sim = try TuningSimulation(fleet: fleet, device: device)
        try sim.tellModel(model.withVersion(ModelVersion(id: 7, kind: "fixed", deviceClass: .cpu, featureSchemaVersion: 0, records: 0)))
        let id = try sim.launch(tasks: [WeightedTask(a, weight: 2), WeightedTask(b, weight: 1)], trialsPerTask: 0, batchSize: 4,
                                search: .evolutionary, budget: 40)
        #expect(try sim.run())
        return (sim.store, id)
    }

    @Test func theReportComesFromTheDatabase() throws {
        let (store, id) = try replayedCampaign(sign: 1)
        let summary = try #require(try store.campaign(id))
        let report = CampaignReport(campaign: summary, rows: try store.export(campaign: id), window: 10)
        let cpu = try #require(report.curves.first)
        #expect(report.curves.count == 1 && cpu.deviceClass == "cpu" && cpu.trials == 40)
        let expected = summary.tasks.reduce(0.0) { $0 + Double($1.weight) * $1.bestSeconds! }
        #expect(abs(cpu.points.last!.seconds - expected) < 1e-12, "the curve ends at sum of weight x best")
        #expect(zip(cpu.points, cpu.points.dropFirst()).allSatisfy { $0.seconds > $1.seconds && $0.trials < $1.trials })
        #expect(report.figures.keys.sorted() == ["curve-time.svg", "curve-trials.svg", "model-accuracy.svg"])
        for t in summary.tasks { #expect(report.markdown.contains(t.name)) }
        #expect(report.html.contains("<table>") && report.html.contains("<img src=\"curve-trials.svg\">"))
        #expect(!report.html.contains("**") && !report.html.contains("`"))
        #expect(try store.campaign(id + 1) == nil, "a missing campaign is nil, not an empty report")
    }

    @Test(arguments: [(1.0, 1.0), (-1.0, 0.0)])
    func theLiveModelIsJudgedOnWhatItProposed(sign: Double, pca: Double) throws {
        let (store, id) = try replayedCampaign(sign: sign)
        let report = CampaignReport(campaign: try #require(try store.campaign(id)), rows: try store.export(campaign: id), window: 8)
        #expect(!report.accuracy.isEmpty)
        #expect(report.accuracy.allSatisfy { $0.pca == pca && $0.modelVersions == [7] }, "\(report.accuracy.map(\.pca))")
    }

    @Test func stepsHoldTheEstimateUntilTheNextImprovement() {
        let points = [CurvePoint(trials: 2, elapsed: 1, seconds: 5), CurvePoint(trials: 6, elapsed: 3, seconds: 4)]
        let s = CampaignReport.steps(points, x: { Double($0.trials) }, end: 10)
        #expect(s.map(\.x) == [2, 6, 6, 10])
        #expect(s.map(\.y) == [5, 5, 4, 4])
    }
}
