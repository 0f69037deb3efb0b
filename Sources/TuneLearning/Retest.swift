import TuneCore
import TuneModel

/// How well timings repeat: the same schedules of the same tasks on the same device,
/// measured twice. Its PCA is the ceiling no model can pass on these labels.
public struct RetestReport: Hashable, Sendable, Codable {
    /// Records measured both times (ok both times).
    public var pairs = 0
    public var groups = 0
    /// PCA of the second timings against the first, per (task, device), weighted by pairs.
    public var pca = 0.0
    /// Median of |second - first| / first over the pairs.
    public var medianDifference = 0.0
    public init() {}
}

public enum Retest {
    public static func compare(first: [TuningRecord], second: [TuningRecord]) -> RetestReport {
        struct Key: Hashable { var task: TaskSpec; var device: String; var schedule: Schedule }
        var earlier: [Key: Double] = [:]
        for r in first { if let s = r.okSeconds { earlier[Key(task: r.task, device: r.device, schedule: r.schedule)] = s } }
        var pairs: [(group: GroupKey, a: Double, b: Double)] = []
        for r in second {
            guard let b = r.okSeconds, let a = earlier[Key(task: r.task, device: r.device, schedule: r.schedule)] else { continue }
            pairs.append((GroupKey(task: r.task, device: r.device), a, b))
        }
        var report = RetestReport()
        guard !pairs.isEmpty else { return report }
        let groups = Dictionary(grouping: pairs.indices, by: { pairs[$0].group })
        var weighted = 0.0
        for (_, idx) in groups {
            weighted += Double(idx.count) * Metrics.pca(scores: idx.map { 1 / pairs[$0].a }, labels: idx.map { 1 / pairs[$0].b })
        }
        let diffs = pairs.map { abs($0.b - $0.a) / $0.a }.sorted()
        report.pairs = pairs.count
        report.groups = groups.count
        report.pca = weighted / Double(pairs.count)
        report.medianDifference = diffs.count % 2 == 1 ? diffs[diffs.count / 2] : (diffs[diffs.count / 2 - 1] + diffs[diffs.count / 2]) / 2
        return report
    }
}
