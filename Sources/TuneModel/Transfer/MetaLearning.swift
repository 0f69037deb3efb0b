import TuneCore

/// How a few records of a device are picked: what a new device measures first is a batch or
/// two of a few tasks, so a support set is whole runs of `perGroup` records of a few ranking
/// groups, not k records scattered over a hundred tasks (which would leave no pair to rank).
public enum FewShot {
    /// Up to `shots` row indices of `rows`: groups in a seeded random order, the first
    /// `perGroup` rows (in a seeded order) of each, until `shots` are taken. A larger `shots`
    /// with the same seed extends a smaller one's selection.
    public static func support(rows: [Int], groups: [Int], shots: Int, perGroup: Int = 8, seed: UInt64) -> [Int] {
        guard shots > 0 else { return [] }
        var rng = SplitMix64(seed: seed)
        let byGroup = Dictionary(grouping: rows, by: { groups[$0] })
        var keys = byGroup.keys.sorted()
        keys.shuffle(using: &rng)
        var out: [Int] = []
        for key in keys {
            var members = byGroup[key]!.sorted()
            members.shuffle(using: &rng)
            out += members.prefix(min(perGroup, shots - out.count))
            if out.count >= shots { break }
        }
        return out
    }
}

extension RankingDataset {
    /// The same rows with labels normalized within each group of this subset (best = 1):
    /// what a device's own few records say, without the rest of its group's best.
    public func normalizedWithinGroups() throws(ModelError) -> RankingDataset {
        var best: [Int: Double] = [:]
        for (g, y) in zip(groups, labels) { best[g] = max(best[g] ?? 0, y) }
        return try RankingDataset(features: features, featureCount: featureCount,
                                  labels: zip(groups, labels).map { g, y in best[g]! > 0 ? y / best[g]! : 0 }, groups: groups)
    }
}

/// Meta-learning's settings (first-order, Reptile).
public struct MetaSettings: Hashable, Sendable, Codable {
    /// Meta-iterations: one episode (a (device, operator) group's few records) each.
    public var iterations = 300
    /// Records per episode, as runs of `perGroup` records of a few tasks.
    public var shots = 32
    public var perGroup = 8
    /// Reptile's outer step, decaying linearly to 0 over the iterations.
    public var outerStep: Float = 0.3
    public var seed: UInt64 = 7
    public init() {}
}

extension TransferRanker {
    /// Reptile (first-order meta-learning): for each episode, adapt a copy of the parameters to
    /// the episode's few records with exactly the adaptation a new device gets (`adapted`),
    /// then move the parameters toward the adapted ones. Episodes are drawn from `tasks`: row
    /// indices of one (device, operator) group each. Starting from this model (pre-trained), it
    /// returns an initialization from which a few adaptation steps fit a new group.
    public func metaTrained(on data: RankingDataset, tasks: [[Int]], settings meta: MetaSettings = MetaSettings()) throws(ModelError) -> TransferRanker {
        let usable = tasks.filter { Set($0.map { data.groups[$0] }).count >= 1 && $0.count >= 2 }
        guard !usable.isEmpty else { throw ModelError(.emptyDataset, "meta-learning needs (device, operator) groups with records") }
        var theta = self.theta
        var rng = SplitMix64(seed: meta.seed)
        for it in 0..<max(1, meta.iterations) {
            let task = usable[Int.random(in: 0..<usable.count, using: &rng)]
            let rows = FewShot.support(rows: task, groups: data.groups, shots: meta.shots, perGroup: meta.perGroup, seed: rng.next())
            let episode = try data.subset(rows).normalizedWithinGroups()
            let inner = fit(episode, from: theta, epochs: settings.adaptSteps, groupsPerBatch: max(1, Set(episode.groups).count),
                            learningRate: settings.adaptLearningRate, pairsPerGroup: settings.pairsPerGroup, seed: settings.seed &+ UInt64(it),
                            optimizer: settings.adaptOptimizer, scope: settings.adaptScope)
            let step = meta.outerStep * (1 - Float(it) / Float(max(1, meta.iterations)))
            for i in theta.indices { theta[i] += step * (inner[i] - theta[i]) }
        }
        guard theta.allSatisfy(\.isFinite) else { throw ModelError(.notFinite, "meta-learning diverged") }
        return with(theta: theta)
    }
}
