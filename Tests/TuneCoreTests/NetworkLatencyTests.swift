import Testing
import TuneCore

@Suite struct NetworkLatencyBehaviour {
    @Test func theEstimateIsTheWeightedSumOfBestsOnceEveryTaskHasOne() {
        var n = NetworkLatency(weights: ["a": 2, "b": 1])
        #expect(n.seconds == nil)
        n.observe(task: "a", seconds: 1.0)
        #expect(n.seconds == nil, "no estimate while a task has no result")
        n.observe(task: "b", seconds: 0.5)
        #expect(n.seconds == 2.5)
        let slower = n.observe(task: "a", seconds: 2.0)
        #expect(!slower, "a slower result changes nothing")
        let faster = n.observe(task: "b", seconds: 0.25)
        #expect(faster)
        #expect(n.seconds == 2.25)
        let unknown = n.observe(task: "unknown", seconds: 0.1), nan = n.observe(task: "a", seconds: .nan)
        #expect(!unknown && !nan)
        #expect(n.tasksTuned == 2)
    }

    @Test func aCurveStartsWhenEveryTaskHasAnEstimateAndRecordsOnlyChanges() {
        let n = NetworkLatency(weights: ["a": 1, "b": 3])
        let results: [TuningCurve.Result] = [
            .init(task: "a", seconds: 4, elapsed: 1),
            .init(task: "a", seconds: nil, elapsed: 2),   // failed: costs a trial
            .init(task: "b", seconds: 2, elapsed: 3),     // now complete: 4 + 6 = 10
            .init(task: "a", seconds: 5, elapsed: 4),     // slower: no point
            .init(task: "b", seconds: 1, elapsed: 5),     // 4 + 3 = 7
        ]
        let points = TuningCurve.points(results, network: n)
        #expect(points == [CurvePoint(trials: 3, elapsed: 3, seconds: 10), CurvePoint(trials: 5, elapsed: 5, seconds: 7)])
        #expect(TuningCurve.firstWithin(points, of: 7, tolerance: 0.05)?.trials == 5)
        #expect(TuningCurve.firstWithin(points, of: 9.6, tolerance: 0.05)?.trials == 3)
        #expect(TuningCurve.firstWithin(points, of: 6, tolerance: 0.05) == nil)
        #expect(TuningCurve.value(points, atTrials: 4) == 10)
        #expect(TuningCurve.value(points, atTrials: 2) == nil)
    }

    @Test func aBoundedCurveKeepsTheFirstAndNewestAndSpansTheCampaign() {
        var c = BoundedCurve(capacity: 8)
        for i in 0..<100 { c.append(CurvePoint(trials: i, elapsed: Double(i), seconds: Double(1000 - i))) }
        #expect(c.points.count <= 8)
        #expect(c.points.first?.trials == 0)
        #expect(c.points.last?.trials == 99)
        #expect(zip(c.points, c.points.dropFirst()).allSatisfy { $0.trials < $1.trials })
    }

    @Test func campaignCurvesFoldOnlyNewResultsPerDeviceClass() {
        var c = CampaignCurves(tasks: [.init(name: "a", deviceClass: "cpu", weight: 1), .init(name: "a", deviceClass: "cuda", weight: 1)], start: 100)
        c.ingest([(1, "cpu", "a", 2, 101), (2, "cuda", "a", nil, 102), (3, "cuda", "a", 0.5, 103)])
        c.ingest([(3, "cuda", "a", 0.1, 104), (4, "cpu", "a", 1, 105)])  // 3 seen already
        #expect(c.lastID == 4)
        #expect(c.curves["cpu"]?.points.map(\.seconds) == [2, 1])
        #expect(c.curves["cpu"]?.points.last?.elapsed == 5)
        #expect(c.curves["cuda"]?.points == [CurvePoint(trials: 2, elapsed: 3, seconds: 0.5)])
        #expect(c.trials == ["cpu": 2, "cuda": 2])
    }

    @Test func sparklinesDrawLowerForFaster() {
        #expect(TuningCurve.sparkline([8, 4, 2, 1]) == "█▄▂▁")
        #expect(TuningCurve.sparkline([]) == "")
        #expect(TuningCurve.sparkline(Array(repeating: 1, count: 100), width: 10).count == 10)
    }
}

@Suite struct ReadableTaskNames {
    @Test func enumParametersReadAsTheWorkloadWroteThem() {
        #expect(readableTaskName("matmul(m=128,n=3072,k=768,bias=1,act=2,f32)") == "matmul(m=128,n=3072,k=768,bias=1,act=gelu,f32)")
        #expect(readableTaskName("conv2d(n=1,c=3,h=224,w=224,k=64,r=7,s=7,stride=2,pad=3,dil=1,groups=1,layout=1,f32)").contains("layout=nhwc"))
        #expect(readableTaskName("softmax(rows=1536,cols=128,f32)") == "softmax(rows=1536,cols=128,f32)")
        #expect(readableTaskName("matmul(act=9)") == "matmul(act=9)", "an unknown value stays a number")
        #expect(readableTaskName("not a task") == "not a task")
    }
}
