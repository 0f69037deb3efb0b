import TuneCore
/// Cost-model metrics exactly as MODEL-METRICS.md defines them.
///
/// Ties follow the formula literally: a pair (i < j) counts right when
/// `(p_i > p_j) == (y_i > y_j)`. A pair tied in both counts right; a pair tied in score
/// only counts right when `y_i < y_j`; a pair tied in label only, when `p_i <= p_j`.
public enum Metrics {
    /// Pairwise comparison accuracy of one group; 0.5 with fewer than two programs.
    public static func pca(scores p: [Double], labels y: [Double]) -> Double { RankingMetrics.pca(scores: p, labels: y) }

    /// Average peak score at k: programs sorted by score (highest first, ties by position);
    /// `(1/k) sum_{r=1..k} max_{s<=r} y_{pi_s} / max y`. With fewer than k programs the
    /// best of all of them stands for the ranks beyond n.
    public static func peak(k: Int, scores p: [Double], labels y: [Double]) -> Double {
        guard let best = y.max(), best > 0, k > 0 else { return 0 }
        let order = p.indices.sorted { (p[$0], -$0) > (p[$1], -$1) }
        var running = 0.0, total = 0.0
        for r in 0..<k {
            if r < order.count { running = max(running, y[order[r]]) }
            total += running / best
        }
        return total / Double(k)
    }

    /// Network top-k: `sum w L* / sum w L(k)` over the network's tasks, where `L(k)` is the
    /// best latency among the model's top-k picks of the task.
    public static func networkTopK(_ tasks: [(weight: Double, best: Double, bestOfTopK: Double)]) -> Double {
        let num = tasks.reduce(0) { $0 + $1.weight * $1.best }
        let den = tasks.reduce(0) { $0 + $1.weight * $1.bestOfTopK }
        return den > 0 ? num / den : 0
    }

    /// Coefficient of determination of predictions against labels.
    public static func r2(predictions p: [Double], labels y: [Double]) -> Double {
        guard y.count >= 2 else { return 0 }
        let mean = y.reduce(0, +) / Double(y.count)
        let total = y.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        let residual = zip(p, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return total > 0 ? 1 - residual / total : 0
    }
}

/// Per-group metrics averaged over groups, weighted by each group's number of test records.
public struct EvaluationReport: Hashable, Sendable, Codable {
    public var records = 0
    public var groups = 0
    public var pca = 0.0
    public var peak1 = 0.0
    public var peak5 = 0.0
    public var r2 = 0.0
    /// The averaging: "records" (weighted by test records per group).
    public var weighting = "records"

    public init() {}

    /// Scores and labels of every test row with its group.
    public init(scores: [Double], labels: [Double], groups: [Int]) {
        let byGroup = Dictionary(grouping: scores.indices, by: { groups[$0] })
        var wsum = 0.0
        for (_, idx) in byGroup {
            let p = idx.map { scores[$0] }, y = idx.map { labels[$0] }
            let w = Double(idx.count)
            pca += w * Metrics.pca(scores: p, labels: y)
            peak1 += w * Metrics.peak(k: 1, scores: p, labels: y)
            peak5 += w * Metrics.peak(k: 5, scores: p, labels: y)
            wsum += w
        }
        if wsum > 0 { pca /= wsum; peak1 /= wsum; peak5 /= wsum }
        records = scores.count
        self.groups = byGroup.count
        r2 = Metrics.r2(predictions: scores, labels: labels)
    }
}
