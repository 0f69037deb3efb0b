#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import TuneCore

/// Dataset pruning as in the seed paper: keep the tasks that carry the networks' time
/// (FLOPs-weighted sampling) and drop records that teach little (far from their group's
/// best). Deterministic given the seed.
public struct PruningSettings: Hashable, Sendable, Codable {
    /// Records slower than this fraction of their group's best are dropped (labels below).
    public var minLabel = 0.02
    /// Share of tasks kept, sampled with probability proportional to weight x FLOPs.
    public var taskFraction = 0.75
    public var seed: UInt64 = 1
    public init() {}
}

public enum Pruning {
    /// The indices kept. `weights` gives each task's occurrences in its networks (1 when absent).
    public static func prune(_ records: [LabeledRecord], weights: [TaskSpec: Int], settings: PruningSettings) -> [Int] {
        let tasks = Set(records.map(\.record.task)).sorted { $0.name < $1.name }
        let keep = Int((Double(tasks.count) * settings.taskFraction).rounded(.up))
        // Weighted sampling without replacement (Efraimidis-Spirakis): key = u^(1/w).
        var rng = SplitMix64(seed: settings.seed)
        let keyed = tasks.map { t -> (TaskSpec, Double) in
            let w = max(1e-12, Double(weights[t] ?? 1) * t.flops)
            let u = Double.random(in: Double.ulpOfOne..<1, using: &rng)
            return (t, log(u) / w)
        }
        let kept = Set(keyed.sorted { $0.1 > $1.1 }.prefix(keep).map(\.0))
        return records.indices.filter { kept.contains(records[$0].record.task) && records[$0].label >= settings.minLabel }
    }
}
