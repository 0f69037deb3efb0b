import TuneCore

/// The two tuning-curve figures a report draws, the estimated network latency against trials
/// and against wall time, from named curves drawn as steps. Pure: curves in, SVG text out.
enum CurveCharts {
    struct Line {
        var name: String
        var points: [CurvePoint]
        /// Where the line's last estimate holds until: its last trial and second.
        var endTrials: Double
        var endSeconds: Double
        /// A flat reference over the line's span (the vendor libraries' latency), if any.
        var reference: (name: String, seconds: Double)? = nil
    }

    /// File names of the figures `files` draws for these lines.
    static func names(_ lines: [Line]) -> [String] {
        lines.contains { !$0.points.isEmpty } ? ["curve-time.svg", "curve-trials.svg"] : []
    }

    /// `curve-trials.svg` and `curve-time.svg`; none when no line has a point.
    static func files(title: String, lines: [Line]) -> [String: String] {
        let drawn = lines.filter { !$0.points.isEmpty }
        guard !drawn.isEmpty else { return [:] }
        // Milliseconds unless the curves start at a second or more.
        let (scale, unit) = (drawn.compactMap { $0.points.first?.seconds }.max() ?? 1) >= 1 ? (1.0, "s") : (1e3, "ms")
        func chart(_ xLabel: String, _ x: (CurvePoint) -> Double, end: (Line) -> Double) -> String {
            var series: [LineChart.Series] = []
            for l in drawn {
                let pts = steps(l.points, x: x, end: end(l)).map { (x: $0.x, y: $0.y.map { $0 * scale }) }
                series.append(LineChart.Series(name: l.name, points: pts))
                if let r = l.reference, let first = pts.first, let last = pts.last {
                    series.append(LineChart.Series(name: r.name, points: [(first.x, r.seconds * scale), (last.x, r.seconds * scale)]))
                }
            }
            return LineChart(title: title, xLabel: xLabel, yLabel: "sum of weight x best (\(unit))", series: series).svg
        }
        return [
            "curve-trials.svg": chart("trials", { Double($0.trials) }, end: \.endTrials),
            "curve-time.svg": chart("wall time (s)", \.elapsed, end: \.endSeconds),
        ]
    }

    /// A tuning curve as steps (the estimate holds until the next improvement), ending at
    /// `end` on the x axis.
    static func steps(_ points: [CurvePoint], x: (CurvePoint) -> Double, end: Double) -> [(x: Double, y: Double?)] {
        var out: [(x: Double, y: Double?)] = []
        for (i, p) in points.enumerated() {
            if i > 0 { out.append((x(p), points[i - 1].seconds)) }
            out.append((x(p), p.seconds))
        }
        if let last = points.last, end > x(last) { out.append((end, last.seconds)) }
        return out
    }
}
