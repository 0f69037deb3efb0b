import Foundation

/// A line chart as a self-contained SVG (no script, no external font or style): what
/// `model eval --plot` and `coordctl report` draw. Pure: values in, text out.
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// (x, y) points; a nil y leaves a gap.
        public var points: [(x: Double, y: Double?)]
        public init(name: String, points: [(x: Double, y: Double?)]) { self.name = name; self.points = points }
    }
    public enum XAxis: Sendable {
        /// Positions proportional to x.
        case linear
        /// The distinct x values evenly spaced, labeled as they are (k = 0, 16, 32, ...).
        case categorical
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var xAxis = XAxis.linear
    /// The y range; nil: from the data, padded.
    public var yRange: ClosedRange<Double>?
    public var width = 720.0, height = 420.0

    public init(title: String, xLabel: String, yLabel: String, series: [Series], xAxis: XAxis = .linear, yRange: ClosedRange<Double>? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series; self.xAxis = xAxis; self.yRange = yRange
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func tick(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e7 { return String(Int(v)) }
        return abs(v) >= 100 ? String(format: "%.0f", v) : abs(v) >= 1 ? String(format: "%.2f", v) : String(format: "%.3g", v)
    }

    public var svg: String {
        let left = 64.0, right = 170.0, top = 36.0, bottom = 52.0
        let pw = width - left - right, ph = height - top - bottom
        let xs = Array(Set(series.flatMap { $0.points.map(\.x) })).sorted()
        let ys = series.flatMap { $0.points.compactMap(\.y) }.filter(\.isFinite)
        var lo = yRange?.lowerBound ?? (ys.min() ?? 0), hi = yRange?.upperBound ?? (ys.max() ?? 1)
        if yRange == nil { let pad = max(1e-9, (hi - lo) * 0.08); lo -= pad; hi += pad }
        if hi <= lo { hi = lo + 1 }
        func px(_ x: Double) -> Double {
            switch xAxis {
            case .categorical:
                let i = Double(xs.firstIndex(of: x) ?? 0)
                return left + (xs.count > 1 ? i / Double(xs.count - 1) : 0.5) * pw
            case .linear:
                guard let a = xs.first, let b = xs.last, b > a else { return left + pw / 2 }
                return left + (x - a) / (b - a) * pw
            }
        }
        func py(_ y: Double) -> Double { top + (1 - (y - lo) / (hi - lo)) * ph }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="22" font-size="14" font-weight="bold">\(Self.escape(title))</text>

        """
        // Axes, grid and ticks.
        out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#444\"/>\n"
        for i in 0...4 {
            let v = lo + (hi - lo) * Double(i) / 4, y = py(v)
            out += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + pw)\" y2=\"\(y)\" stroke=\"#ddd\"/>"
            out += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(Self.tick(v))</text>\n"
        }
        let xTicks: [Double]
        switch xAxis {
        case .categorical: xTicks = xs
        case .linear:
            if let a = xs.first, let b = xs.last, b > a { xTicks = (0...5).map { a + (b - a) * Double($0) / 5 } } else { xTicks = xs }
        }
        for v in xTicks {
            out += "<text x=\"\(px(v))\" y=\"\(top + ph + 18)\" text-anchor=\"middle\">\(Self.tick(v))</text>\n"
        }
        out += "<text x=\"\(left + pw / 2)\" y=\"\(height - 12)\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        out += "<text transform=\"translate(16 \(top + ph / 2)) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"
        // Lines, points and the legend.
        for (i, s) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            var segments: [[(Double, Double)]] = [[]]
            for p in s.points.sorted(by: { $0.x < $1.x }) {
                if let y = p.y, y.isFinite { segments[segments.count - 1].append((px(p.x), py(y))) } else { segments.append([]) }
            }
            for seg in segments where !seg.isEmpty {
                out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" + seg.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ") + "\"/>\n"
                for (x, y) in seg { out += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>", x, y, color) }
                out += "\n"
            }
            let ly = top + 8 + Double(i) * 18
            out += "<line x1=\"\(left + pw + 12)\" y1=\"\(ly)\" x2=\"\(left + pw + 32)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(left + pw + 38)\" y=\"\(ly + 4)\">\(Self.escape(s.name))</text>\n"
        }
        return out + "</svg>\n"
    }
}
