/// Ranking metrics every part shares (the definitions are in MODEL-METRICS.md): the model
/// evaluation in TuneModel and the reports that judge a campaign's live model.
public enum RankingMetrics {
    /// Pairwise comparison accuracy of one group (higher label is better): the share of pairs
    /// the scores order as the labels do; 0.5 with fewer than two programs.
    public static func pca(scores p: [Double], labels y: [Double]) -> Double {
        let n = p.count
        guard n >= 2 else { return 0.5 }
        var right = 0
        for i in 0..<n {
            for j in (i + 1)..<n where (p[i] > p[j]) == (y[i] > y[j]) { right += 1 }
        }
        return 2 * Double(right) / Double(n * (n - 1))
    }
}
