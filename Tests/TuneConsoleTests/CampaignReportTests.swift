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
        #expect(report.figureNames.sorted() == report.figures.keys.sorted())
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

    /// The noise section: the samples' spread of this run, and a later re-timing when given.
    @Test func theReportStatesItsTimingNoise() throws {
        let (store, id) = try replayedCampaign(sign: 1)
        let summary = try #require(try store.campaign(id))
        var rows = try store.export(campaign: id)
        // Four samples 1, 2, 2, 3 (IQR 0.5 / median 2 = 25%) on every verified result but one (1, 1.1: IQR 0.05/1.05).
        for i in rows.indices { rows[i].samples = [1, 2, 2, 3] }
        rows[0].samples = [1, 1.1]
        let plain = CampaignReport(campaign: summary, rows: rows)
        #expect(plain.noise.results == rows.filter { $0.status == "ok" }.count)
        #expect(plain.noise.medianSpread == 0.25 && plain.noise.medianSamples == 4)
        #expect(plain.markdown.contains("interquartile range is 25.0% of their median"))
        #expect(plain.markdown.contains("test-retest: no candidate of this campaign was timed again"))
        let retimed = CampaignReport(campaign: summary, rows: rows,
                                     retest: .init(campaign: id + 1, pairs: 8, pca: 0.93, medianDifference: 0.021))
        #expect(retimed.markdown.contains("8 candidates timed again by campaign \(id + 1): PCA **0.93**, median difference **2.1%**"))
    }

    @Test func stepsHoldTheEstimateUntilTheNextImprovement() {
        let points = [CurvePoint(trials: 2, elapsed: 1, seconds: 5), CurvePoint(trials: 6, elapsed: 3, seconds: 4)]
        let s = CurveCharts.steps(points, x: { Double($0.trials) }, end: 10)
        #expect(s.map(\.x) == [2, 6, 6, 10])
        #expect(s.map(\.y) == [5, 5, 4, 4])
    }
}

@Suite struct SearchBenchSummary {
    func run(_ name: String, _ points: [(Int, Double, Double)], trials: Int = 100, wall: Double = 50, search: Double = 1) -> SearchBench.Run {
        SearchBench.Run(name: name, repeatIndex: 0, seed: 1, points: points.map { CurvePoint(trials: $0.0, elapsed: $0.1, seconds: $0.2) },
                        trials: trials, wallSeconds: wall, searchSeconds: search, modelVersions: 0)
    }

    @Test func trialsAndWallTimeToWithinFivePercentOfTheBestAnyMethodFound() throws {
        let bench = SearchBench(workload: "w", budget: 100, runs: [
            run("random", [(10, 5, 2.0), (80, 40, 1.04)]),
            run("transfer", [(4, 2, 1.5), (16, 8, 1.05), (60, 30, 1.0)], search: 2),
        ])
        #expect(bench.best_seconds == 1.0)
        let random = try #require(bench.methods.first { $0.name == "random" })
        let transfer = try #require(bench.methods.first { $0.name == "transfer" })
        #expect(random.trials_to_95 == 80 && random.wall_seconds_to_95 == 40)
        #expect(transfer.trials_to_95 == 16 && transfer.wall_seconds_to_95 == 8)
        #expect(transfer.trials_ratio_to_random == 0.2 && transfer.wall_ratio_to_random == 0.2)
        #expect(transfer.search_share == 2.0 / 50)
        #expect(transfer.final_seconds == 1.0 && random.final_seconds == 1.04)
        let json = String(decoding: try JSONEncoder().encode(bench), as: UTF8.self)
        for key in ["\"methods\"", "\"name\"", "\"final_seconds\"", "\"trials_to_95\"", "\"wall_seconds_to_95\"", "\"search_seconds\"", "\"wall_seconds\""] {
            #expect(json.contains(key))
        }
        #expect(bench.render().contains("0.20, 0.20"))
    }

    @Test func whenRandomNeverGetsThereItsWholeBudgetBoundsTheRatio() throws {
        let bench = SearchBench(workload: "w", budget: 100, runs: [
            run("random", [(10, 5, 2.0), (90, 45, 1.5)]),
            run("model-cold", [(30, 15, 1.0)]),
        ])
        let random = try #require(bench.methods.first { $0.name == "random" })
        let cold = try #require(bench.methods.first { $0.name == "model-cold" })
        #expect(random.trials_to_95 == nil && random.reached == 0)
        #expect(cold.trials_ratio_to_random == nil)
        #expect(cold.trials_ratio_bound == 0.3 && cold.wall_ratio_bound == 0.3)
        #expect(bench.render().contains("never") && bench.render().contains("<= 0.30"))
    }

    @Test func randomRunsLongerSoItsTrialsToTheTargetAreMeasured() throws {
        let bench = SearchBench(workload: "w", budget: 100, runs: [
            run("random", [(80, 40, 1.5), (300, 150, 1.0)], trials: 400, wall: 200),
            run("transfer", [(40, 20, 1.02)]),
        ])
        let random = try #require(bench.methods.first { $0.name == "random" })
        let transfer = try #require(bench.methods.first { $0.name == "transfer" })
        #expect(random.final_seconds == 1.0 && random.extended_trials == 400, "its own end, flagged as longer")
        #expect(transfer.extended_trials == nil && transfer.at_budget_seconds == nil)
        #expect(random.at_budget_seconds == 1.5, "where it stood after the common budget")
        #expect(random.trials_to_95 == 300 && transfer.trials_to_95 == 40)
        #expect(transfer.trials_ratio_to_random == 40.0 / 300 && transfer.wall_ratio_to_random == 20.0 / 150)
        #expect(bench.render().contains("random: 400"))
    }

    @Test func repeatsAreSummarizedByTheirMedianAndAMissCountsAsMore() throws {
        let bench = SearchBench(workload: "w", budget: 100, runs: [
            run("random", [(50, 10, 1.0)]), run("random", [(70, 20, 1.0)]), run("random", [(10, 1, 3.0)]),
        ])
        let random = try #require(bench.methods.first)
        #expect(random.repeats == 3 && random.reached == 2)
        #expect(random.trials_to_95 == 70, "median of 50, 70 and never")
    }
}
