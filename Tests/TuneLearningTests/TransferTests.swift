import Testing
import TuneCore
@testable import TuneModel

/// Eight features: task 0..<2, schedule 2..<6, hardware 6..<8.
let syntheticGroups = FeatureGroups(task: 0..<2, schedule: 2..<6, hardware: 6..<8)

/// A family of devices: a schedule's time depends on how its first knob fits the device's
/// first hardware feature (a cache, say) and on whether its second knob exceeds the second
/// (a register count): the best schedule differs from device to device, and the hardware
/// features say how. With `hidden`, each device also flips, at random and unseen, whether
/// the third knob helps or hurts: only the device's own records can tell.
func deviceFamily(devices: Int, tasks: Int = 3, perGroup: Int = 40, hidden: Bool = false, seed: UInt64) throws -> (data: RankingDataset, device: [Int]) {
    var rng = SplitMix64(seed: seed)
    var f: [Float] = [], y: [Double] = [], g: [Int] = [], dev: [Int] = []
    for d in 0..<devices {
        let h0 = Float.random(in: 0.2..<0.8, using: &rng), h1 = Float.random(in: 0.3..<0.7, using: &rng)
        let flip: Float = hidden && Bool.random(using: &rng) ? -1 : 1
        for task in 0..<tasks {
            let size = Float(task + 1) / Float(tasks)
            var rows: [[Float]] = [], times: [Double] = []
            for _ in 0..<perGroup {
                let s = (0..<4).map { _ in Float.random(in: 0..<1, using: &rng) }
                var t: Float = 1 + 6 * (s[0] - h0) * (s[0] - h0) + (s[1] > h1 ? 0.8 : 0) + 0.3 * s[3] * size
                t += hidden ? 2 * flip * (s[2] - 0.5) + 1 : 0.2 * s[2]
                rows.append([size, 1 - size] + s + [h0, h1]); times.append(Double(t))
            }
            let best = times.min()!
            for (x, t) in zip(rows, times) { f += x; y.append(best / t); g.append(d * tasks + task); dev.append(d) }
        }
    }
    return (try RankingDataset(features: f, featureCount: 8, labels: y, groups: g), dev)
}

func smallSettings() -> TransferRankerSettings {
    var s = TransferRankerSettings()
    s.width = 8; s.featuresPerToken = 2; s.feedForward = 16; s.headHidden = 16
    s.epochs = 30; s.learningRate = 3e-3; s.groupsPerBatch = 4
    return s
}

func pca(_ m: any Ranker, _ data: RankingDataset) -> Double {
    EvaluationReport(scores: m.score(features: data.features, rows: data.rows), labels: data.labels, groups: data.groups).pca
}

@Suite struct TransferRankerBehaviour {
    /// Every layer's backward pass against central differences of the loss, on a network
    /// small enough to check every parameter of every block.
    @Test func gradientsOfEveryLayerMatchFiniteDifferences() throws {
        var s = TransferRankerSettings()
        s.width = 4; s.heads = 2; s.featuresPerToken = 3; s.feedForward = 5; s.headHidden = 6
        let d = 8, n = 5
        var rng = SplitMix64(seed: 5)
        let x = (0..<(n * d)).map { _ in Float.random(in: -1.5..<1.5, using: &rng) }
        let layout = try TransferRanker.Layout(featureCount: d, groups: syntheticGroups, settings: s)
        let m = try TransferRanker(featureCount: d, groups: syntheticGroups, settings: s, mean: .init(repeating: 0, count: d),
                                   scale: .init(repeating: 1, count: d), theta: TransferRanker.initialTheta(layout, seed: 3))
        // Biases away from zero so that every path carries a gradient.
        let theta = m.theta.enumerated().map { $0.element == 0 ? Float.random(in: -0.3..<0.3, using: &rng) : $0.element }
        let labels = (0..<n).map { Double($0 + 1) / Double(n) }
        let pairs = RankMLP.pairs(scores: m.scores(standardized: x, rows: n, theta: theta), labels: labels, limit: 100, rng: &rng)
        #expect(pairs.count == n * (n - 1) / 2)
        let analytic = m.lossAndGradient(standardized: x, rows: n, pairs: pairs, theta: theta).gradient
        var worstByBlock: [String: Double] = [:]
        for block in layout.blocks {
            for i in block.range {
                var up = theta, down = theta
                let eps: Float = 1e-3
                up[i] += eps; down[i] -= eps
                let numeric = Double(m.lossAndGradient(standardized: x, rows: n, pairs: pairs, theta: up).loss
                                     - m.lossAndGradient(standardized: x, rows: n, pairs: pairs, theta: down).loss) / (2 * Double(eps))
                let err = abs(numeric - Double(analytic[i])) / max(1e-2, abs(numeric) + abs(Double(analytic[i])))
                worstByBlock[block.name] = max(worstByBlock[block.name] ?? 0, err)
            }
        }
        // Three task tokens (3+... features cut by 3: 2 -> 1 token), schedule 4 -> 2, hardware 2 -> 1.
        #expect(layout.tokens.count == 4)
        #expect(worstByBlock.count == layout.blocks.count)
        for (name, err) in worstByBlock.sorted(by: { $0.key < $1.key }) { #expect(err < 0.03, "\(name): relative error \(err)") }
        #expect(analytic.contains { $0 != 0 })
    }

    @Test func trainingIsDeterministicAndTransfersToAnUnseenDevice() throws {
        let train = try deviceFamily(devices: 8, seed: 1).data, unseen = try deviceFamily(devices: 2, seed: 99).data
        let a = try TransferRanker.train(train, groups: syntheticGroups, settings: smallSettings())
        let b = try TransferRanker.train(train, groups: syntheticGroups, settings: smallSettings())
        #expect(a.theta == b.theta, "same seed, same model")
        let zeroShot = pca(a, unseen)
        #expect(zeroShot > 0.8, "zero-shot PCA on devices it never saw: \(zeroShot)")
        let untrained = try TransferRanker(featureCount: 8, groups: syntheticGroups, settings: smallSettings(), mean: a.mean, scale: a.scale,
                                           theta: TransferRanker.initialTheta(a.layout, seed: 1))
        #expect(zeroShot > pca(untrained, unseen) + 0.1)
    }

    @Test func saveAndLoadGiveIdenticalScoresAndCorruptBytesAreErrors() throws {
        var s = smallSettings(); s.epochs = 2
        let data = try deviceFamily(devices: 2, seed: 3).data
        let m = try TransferRanker.train(data, groups: syntheticGroups, settings: s)
        let bytes = try m.serialized()
        let back = try TransferRanker(serialized: bytes)
        #expect(back.score(features: data.features, rows: data.rows) == m.score(features: data.features, rows: data.rows))
        var flipped = bytes; flipped[bytes.count - 2] = 0xff; flipped[bytes.count - 1] = 0x7f  // a NaN parameter
        for bad in [[], Array("TFXFR".utf8) + [1, 0, 0], Array(bytes.prefix(bytes.count - 4)), bytes + [0], flipped] {
            #expect(throws: ModelError.self) { try TransferRanker(serialized: bad) }
        }
    }

    @Test func adaptationFitsTheTargetAndLeavesTheBaseUnchanged() throws {
        let family = try deviceFamily(devices: 8, hidden: true, seed: 4).data
        var s = smallSettings(); s.adaptSteps = 30; s.adaptLearningRate = 3e-3
        let base = try TransferRanker.train(family, groups: syntheticGroups, settings: s)
        let baseBytes = try base.serialized()
        let target = try deviceFamily(devices: 1, hidden: true, seed: 77).data
        let support = FewShot.support(rows: Array(0..<target.rows), groups: target.groups, shots: 48, perGroup: 16, seed: 1)
        let rest = Array(Set(0..<target.rows).subtracting(support)).sorted()
        let adapted = try base.adapted(to: try target.subset(support).normalizedWithinGroups())
        #expect(try base.serialized() == baseBytes, "adapting never changes the base")
        let before = pca(base, try target.subset(rest)), after = pca(adapted, try target.subset(rest))
        #expect(after > before + 0.05, "adapting on 48 records: PCA \(before) -> \(after)")
    }

    /// A family whose devices each hide whether one knob helps or hurts. From one random
    /// initialization, Reptile's meta-training gives a starting point from which 5 steps on 16
    /// records of a new device rank its other records well; the same 5 steps from the random
    /// initialization itself (plain training on the device) do not.
    @Test func metaLearnedInitializationAdaptsWherePlainTrainingFromTheSameInitDoesNot() throws {
        let (family, device) = try deviceFamily(devices: 24, tasks: 2, perGroup: 30, hidden: true, seed: 8)
        var s = smallSettings(); s.adaptSteps = 5; s.adaptLearningRate = 3e-3
        let (mean, scale) = Standardization.of(family)
        let layout = try TransferRanker.Layout(featureCount: 8, groups: syntheticGroups, settings: s)
        let initial = try TransferRanker(featureCount: 8, groups: syntheticGroups, settings: s, mean: mean, scale: scale,
                                         theta: TransferRanker.initialTheta(layout, seed: 1))
        let tasks = Dictionary(grouping: 0..<family.rows, by: { device[$0] }).values.map { Array($0) }.sorted { $0[0] < $1[0] }
        var meta = MetaSettings(); meta.iterations = 300; meta.shots = 16; meta.perGroup = 8
        let learned = try initial.metaTrained(on: family, tasks: tasks, settings: meta)
        var plain = 0.0, metaPCA = 0.0
        let targets = 6
        for t in 0..<targets {
            let target = try deviceFamily(devices: 1, tasks: 2, perGroup: 30, hidden: true, seed: 1000 + UInt64(t)).data
            let support = FewShot.support(rows: Array(0..<target.rows), groups: target.groups, shots: 16, seed: UInt64(t))
            let rest = try target.subset(Array(Set(0..<target.rows).subtracting(support)).sorted())
            let shots = try target.subset(support).normalizedWithinGroups()
            plain += pca(try initial.adapted(to: shots), rest) / Double(targets)
            metaPCA += pca(try learned.adapted(to: shots), rest) / Double(targets)
        }
        #expect(metaPCA > 0.78, "meta-learned init after 5 steps on 16 records: PCA \(metaPCA)")
        #expect(metaPCA > plain + 0.08, "meta \(metaPCA) against plain training from the same init \(plain)")
    }

    @Test func fewShotSupportTakesRunsOfWholeGroupsAndNests() {
        let groups = (0..<100).map { $0 / 10 }
        let s16 = FewShot.support(rows: Array(0..<100), groups: groups, shots: 16, seed: 3)
        let s32 = FewShot.support(rows: Array(0..<100), groups: groups, shots: 32, seed: 3)
        #expect(s16.count == 16 && s32.count == 32)
        #expect(Set(s16.map { groups[$0] }).count == 2, "two runs of 8")
        #expect(Array(s32.prefix(16)) == s16, "a larger support extends a smaller one")
        #expect(FewShot.support(rows: Array(0..<100), groups: groups, shots: 0, seed: 3).isEmpty)
    }
}
