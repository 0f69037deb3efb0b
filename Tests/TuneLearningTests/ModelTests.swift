import Testing
import TuneCore
@testable import TuneModel

@Suite struct MetricDefinitions {
    @Test func pcaCountsPairsAsTheFormulaSays() {
        #expect(Metrics.pca(scores: [3, 2, 1], labels: [0.9, 0.5, 0.1]) == 1)
        #expect(Metrics.pca(scores: [1, 2, 3], labels: [0.9, 0.5, 0.1]) == 0)
        #expect(Metrics.pca(scores: [1], labels: [1]) == 0.5, "fewer than two programs")
        // Ties: both tied -> right; score tie with y_i > y_j -> wrong; with y_i < y_j -> right.
        #expect(Metrics.pca(scores: [1, 1], labels: [0.5, 0.5]) == 1)
        #expect(Metrics.pca(scores: [1, 1], labels: [0.9, 0.5]) == 0)
        #expect(Metrics.pca(scores: [1, 1], labels: [0.5, 0.9]) == 1)
        // 3 programs, one of three pairs wrong.
        #expect(abs(Metrics.pca(scores: [3, 1, 2], labels: [1.0, 0.8, 0.2]) - 2.0 / 3) < 1e-12)
    }

    @Test func peakAtKIsTheRunningBestOfTheModelsPicks() {
        // Model order: c (0.5), a (1.0), b (0.25): running best 0.5, 1, 1.
        let p = [2.0, 1.0, 3.0], y = [1.0, 0.25, 0.5]
        #expect(Metrics.peak(k: 1, scores: p, labels: y) == 0.5)
        #expect(abs(Metrics.peak(k: 3, scores: p, labels: y) - (0.5 + 1 + 1) / 3) < 1e-12)
        // k beyond n: the best of all stands for the missing ranks.
        #expect(abs(Metrics.peak(k: 5, scores: p, labels: y) - (0.5 + 1 + 1 + 1 + 1) / 5) < 1e-12)
    }

    @Test func networkTopKWeighsTasksByOccurrences() {
        let v = Metrics.networkTopK([(weight: 2, best: 1, bestOfTopK: 2), (weight: 1, best: 4, bestOfTopK: 4)])
        #expect(abs(v - (2 * 1 + 4) / (2 * 2 + 4.0)) < 1e-12)
    }

    @Test func reportsAverageGroupsByTheirRecords() {
        let r = EvaluationReport(scores: [1, 2, 3, 1, 2], labels: [0.1, 0.5, 1, 1, 0.5], groups: [0, 0, 0, 1, 1])
        #expect(r.groups == 2 && r.records == 5)
        #expect(abs(r.pca - (3 * 1 + 2 * 0) / 5) < 1e-12)
    }
}

/// A synthetic ranking: a nonlinear function of the features, groups of 50.
func syntheticData(groups: Int, seed: UInt64) throws -> RankingDataset {
    var rng = SplitMix64(seed: seed)
    var f: [Float] = [], y: [Double] = [], g: [Int] = []
    for group in 0..<groups {
        var times: [Double] = []
        var rows: [[Float]] = []
        for _ in 0..<50 {
            let x = (0..<6).map { _ in Float.random(in: 0..<1, using: &rng) }
            let t = 1 + 4 * Double((x[0] - 0.3) * (x[0] - 0.3)) + (x[1] > 0.5 ? 1 : 0) + Double(x[2] * x[3]) + 0.1 * Double(group % 3)
            rows.append(x); times.append(t)
        }
        let best = times.min()!
        for (x, t) in zip(rows, times) { f += x; y.append(best / t); g.append(group) }
    }
    return try RankingDataset(features: f, featureCount: 6, labels: y, groups: g)
}

@Suite struct XGBoostThroughItsCAPI {
    @Test(arguments: XGBoostSettings.Objective.allCases)
    func learnsASyntheticRanking(objective: XGBoostSettings.Objective) throws {
        let train = try syntheticData(groups: 20, seed: 1), test = try syntheticData(groups: 5, seed: 2)
        var s = XGBoostSettings()
        s.objective = objective
        s.rounds = 60
        let m = try XGBoostRanker.train(train, settings: s)
        let report = EvaluationReport(scores: m.score(features: test.features, rows: test.rows), labels: test.labels, groups: test.groups)
        #expect(report.pca > 0.85, "\(objective): held-out PCA \(report.pca)")
        #expect(report.peak5 > 0.9)
    }

    @Test func saveAndLoadGiveIdenticalScores() throws {
        let data = try syntheticData(groups: 6, seed: 3)
        var s = XGBoostSettings(); s.rounds = 20
        let m = try XGBoostRanker.train(data, settings: s)
        let bytes = try m.serialized()
        let back = try XGBoostRanker(serialized: bytes, featureCount: 6)
        #expect(back.score(features: data.features, rows: data.rows) == m.score(features: data.features, rows: data.rows))
    }

    @Test func corruptBlobsAreErrors() throws {
        let data = try syntheticData(groups: 3, seed: 4)
        var s = XGBoostSettings(); s.rounds = 5
        let bytes = try XGBoostRanker.train(data, settings: s).serialized()
        for bad in [[], [UInt8](repeating: 7, count: 100), Array(bytes.prefix(bytes.count / 2))] {
            #expect(throws: ModelError.self) { try XGBoostRanker(serialized: bad, featureCount: 6) }
        }
    }

    @Test func anEmptyOrMisshapenDatasetIsAnError() {
        #expect(throws: ModelError.self) { try RankingDataset(features: [], featureCount: 3, labels: [], groups: []) }
        #expect(throws: ModelError.self) { try RankingDataset(features: [1, 2], featureCount: 3, labels: [1], groups: [0]) }
        #expect(throws: ModelError.self) { try RankingDataset(features: [1, .nan, 3], featureCount: 3, labels: [1], groups: [0]) }
    }

    @Test func scoringThroughput() throws {
        let data = try syntheticData(groups: 20, seed: 5)
        var s = XGBoostSettings(); s.rounds = 300
        let m = try XGBoostRanker.train(data, settings: s)
        let rows = 100_000
        let f = (0..<rows * 6).map { Float($0 % 97) / 97 }
        let clock = ContinuousClock()
        let d = clock.measure { _ = m.score(features: f, rows: rows) }
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        print("xgboost scoring: \(Int(Double(rows) / seconds)) candidates/s on one thread (300 trees, depth 6)")
    }
}

@Suite struct RankMLPBehaviour {
    /// Backpropagation against central finite differences, for every weight and bias of a
    /// small net, with the pairs (and their LambdaRank weights) held fixed.
    @Test func gradientsMatchFiniteDifferences() throws {
        var s = RankMLPSettings()
        s.hidden = [8, 6]
        let d = 5, n = 7
        var rng = SplitMix64(seed: 11)
        let x = (0..<(n * d)).map { _ in Float.random(in: -1..<1, using: &rng) }
        let m = RankMLP.initial(featureCount: d, settings: s, mean: [Float](repeating: 0, count: d), scale: [Float](repeating: 1, count: d))
        let labels = (0..<n).map { Double($0 + 1) / Double(n) }
        let pairs = RankMLP.pairs(scores: m.forward(x, rows: n).last!, labels: labels, limit: 1000, rng: &rng)
        #expect(pairs.count == n * (n - 1) / 2)
        let (_, dW, dB) = m.lossAndGradients(x, rows: n, pairs: pairs)
        func loss() -> Double { Double(m.lossAndGradients(x, rows: n, pairs: pairs).loss) }
        var worst = 0.0, checked = 0
        for l in m.weights.indices {
            for (isBias, count) in [(false, m.weights[l].count), (true, m.biases[l].count)] {
                for i in 0..<count {
                    let eps: Float = 1e-2
                    func set(_ v: Float) { if isBias { m.biases[l][i] = v } else { m.weights[l][i] = v } }
                    let orig = isBias ? m.biases[l][i] : m.weights[l][i]
                    set(orig + eps); let up = loss()
                    set(orig - eps); let down = loss()
                    set(orig)
                    let numeric = (up - down) / (2 * Double(eps))
                    let analytic = Double(isBias ? dB[l][i] : dW[l][i])
                    let err = abs(numeric - analytic) / max(1e-3, abs(numeric) + abs(analytic))
                    worst = max(worst, err)
                    checked += 1
                }
            }
        }
        #expect(checked == 5 * 8 + 8 + 8 * 6 + 6 + 6 + 1)
        #expect(worst < 0.05, "largest relative error \(worst)")
    }

    @Test func learnsASyntheticRankingDeterministically() throws {
        let train = try syntheticData(groups: 20, seed: 1), test = try syntheticData(groups: 5, seed: 2)
        var s = RankMLPSettings()
        s.hidden = [32, 32]
        s.epochs = 30
        s.learningRate = 3e-3
        let m = try RankMLP.train(train, settings: s)
        let scores = m.score(features: test.features, rows: test.rows)
        let r = EvaluationReport(scores: scores, labels: test.labels, groups: test.groups)
        #expect(r.pca > 0.8, "held-out PCA \(r.pca)")
        let again = try RankMLP.train(train, settings: s)
        #expect(again.score(features: test.features, rows: test.rows) == scores, "the same seed, the same model")
        let back = try RankMLP(serialized: try m.serialized())
        #expect(back.score(features: test.features, rows: test.rows) == scores)
    }

    @Test func corruptBytesAreErrors() throws {
        var s = RankMLPSettings(); s.hidden = [4]; s.epochs = 1
        let good = try RankMLP.train(try syntheticData(groups: 2, seed: 3), settings: s).serialized()
        var wrongCount = good; wrongCount[9] = 99
        for bad in [[], Array(good.prefix(20)), Array("TFMLQ".utf8) + good.dropFirst(5), wrongCount, good + [0]] {
            #expect(throws: ModelError.self) { try RankMLP(serialized: bad) }
        }
    }
}
