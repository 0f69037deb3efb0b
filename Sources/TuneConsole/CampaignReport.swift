import TuneCore
import TuneStore

/// What `coordctl report` shows of one campaign, computed from its stored results alone:
/// the tuning curve of the estimated network latency per device class (against trials and
/// wall time), per-task bests against the fastest vendor library, and how well the live cost
/// model ranked what it proposed, over the campaign. Pure: rows in, figures and text out.
public struct CampaignReport: Sendable {
    public struct ClassCurve: Sendable {
        public var deviceClass: String
        public var points: [CurvePoint]
        /// Trials of the class in all.
        public var trials: Int
        public var wallSeconds: Double
        /// The vendor libraries' network latency (sum of weight x fastest vendor time), when
        /// every task has one.
        public var vendorSeconds: Double?
    }
    public struct AccuracyPoint: Sendable {
        public var deviceClass: String
        /// Trials of the class at the end of the window.
        public var trials: Int
        /// Pairwise comparison accuracy of the model's predictions against the measured
        /// times, over pairs of the same task within the window.
        public var pca: Double
        public var pairs: Int
        public var modelVersions: [Int64]
    }

    /// How much the campaign's timings can be trusted: the spread within each timing, and
    /// (when the database holds one) a second timing of its candidates.
    public struct TimingNoise: Sendable, Equatable {
        /// Verified results with at least two samples.
        public var results = 0
        /// Median over those results of the samples' interquartile range over their median.
        public var medianSpread = 0.0
        /// Median samples per result.
        public var medianSamples = 0
        public var retest: Retest?
    }
    /// Candidates of this campaign timed again by a later one (a bench's confirmation pass).
    public struct Retest: Sendable, Equatable {
        public var campaign: Int64
        public var pairs: Int
        /// How often two candidates of a task rank the same way both times.
        public var pca: Double
        /// Median over candidates of |second - first| / first.
        public var medianDifference: Double
        public init(campaign: Int64, pairs: Int, pca: Double, medianDifference: Double) {
            self.campaign = campaign; self.pairs = pairs; self.pca = pca; self.medianDifference = medianDifference
        }
    }

    public var campaign: CampaignSummary
    public var curves: [ClassCurve]
    public var accuracy: [AccuracyPoint]
    public var noise: TimingNoise

    /// `rows` in commit order (as `Store.export` returns them). `window`: results per
    /// accuracy point (nil: about a twelfth of each class's results, at least 16).
    /// `retest`: this campaign's candidates timed again (found by the caller in the database).
    public init(campaign: CampaignSummary, rows: [ExportRow], window: Int? = nil, retest: Retest? = nil) {
        self.campaign = campaign
        let timed = rows.filter { $0.status == "ok" && $0.samples.count >= 2 }
        noise = TimingNoise(results: timed.count, medianSpread: SampleStats(timed.compactMap { SampleStats($0.samples)?.relativeIQR })?.median ?? 0,
                            medianSamples: Int(SampleStats(timed.map { Double($0.samples.count) })?.median ?? 0), retest: retest)
        var curves: [ClassCurve] = []
        var accuracy: [AccuracyPoint] = []
        for dc in Set(campaign.tasks.map(\.deviceClass)).sorted() {
            let tasks = campaign.tasks.filter { $0.deviceClass == dc }
            let weights = campaign.weights(deviceClass: dc)
            var vendor: [String: Double] = [:]
            for t in tasks { if let v = t.vendorSeconds { vendor[t.name] = v } }
            let mine = rows.filter { $0.deviceClass == dc }
            let results = mine.map {
                TuningCurve.Result(task: $0.task, seconds: $0.status == "ok" ? $0.medianSeconds : nil,
                                   elapsed: max(0, $0.createdAt - campaign.createdAt))
            }
            let vendorSum = vendor.count == weights.count ? weights.reduce(0.0) { $0 + Double($1.value) * vendor[$1.key]! } : nil
            curves.append(ClassCurve(deviceClass: dc, points: TuningCurve.points(results, network: NetworkLatency(weights: weights)),
                                     trials: mine.count, wallSeconds: results.last?.elapsed ?? 0, vendorSeconds: vendorSum))
            let w = max(1, window ?? max(16, mine.count / 12))
            var start = 0
            while start < mine.count {
                let end = min(mine.count, start + w)
                let slice = mine[start..<end].filter { $0.status == "ok" && $0.provenance.predicted != nil && $0.medianSeconds != nil }
                var right = 0.0, pairs = 0
                for (_, group) in Dictionary(grouping: slice, by: \.task) where group.count >= 2 {
                    let n = group.count * (group.count - 1) / 2
                    right += RankingMetrics.pca(scores: group.map { $0.provenance.predicted! }, labels: group.map { -$0.medianSeconds! }) * Double(n)
                    pairs += n
                }
                if pairs > 0 {
                    accuracy.append(AccuracyPoint(deviceClass: dc, trials: end, pca: right / Double(pairs), pairs: pairs,
                                                  modelVersions: Array(Set(slice.compactMap(\.provenance.modelVersion))).sorted()))
                }
                start = end
            }
        }
        self.curves = curves
        self.accuracy = accuracy
    }

    /// The figures `figures` draws, by file name (cheap: nothing is drawn).
    public var figureNames: [String] {
        CurveCharts.names(curveLines) + (accuracy.isEmpty ? [] : ["model-accuracy.svg"])
    }

    var curveLines: [CurveCharts.Line] {
        curves.map { c in
            CurveCharts.Line(name: "\(c.deviceClass) tuned", points: c.points, endTrials: Double(c.trials), endSeconds: c.wallSeconds,
                             reference: c.vendorSeconds.map { ("\(c.deviceClass) vendor", $0) })
        }
    }

    /// The figures, by file name: SVG text.
    public var figures: [String: String] {
        var out = CurveCharts.files(title: "campaign \(campaign.id) (\(campaign.workload)): estimated network latency", lines: curveLines)
        if !accuracy.isEmpty {
            let s = Set(accuracy.map(\.deviceClass)).sorted().map { dc in
                LineChart.Series(name: "\(dc) model", points: accuracy.filter { $0.deviceClass == dc }.map { (Double($0.trials), $0.pca) })
            }
            out["model-accuracy.svg"] = LineChart(title: "live model: PCA of its predictions within each window of results",
                                                  xLabel: "trials", yLabel: "pairwise comparison accuracy", series: s,
                                                  yRange: 0...1).svg
        }
        return out
    }

    /// The page (Markdown): numbers, the per-task table and the figures beside it.
    public var markdown: String {
        let d = Dashboard.self
        var out = "# Campaign \(campaign.id): \(campaign.workload)\n\n"
        out += "State **\(campaign.state)**, \(campaign.search) search, \(campaign.scheduler) scheduler"
        out += campaign.budget.map { ", a budget of \($0) trials" } ?? ""
        out += ". Everything below is computed from the database; the estimated network latency is the sum over the "
            + "network's tasks of occurrences x the best verified latency of our kernels, once every task has one (the vendor "
            + "libraries' sum is given beside it, not mixed in).\n\n"
        for c in curves {
            out += "## \(c.deviceClass)\n\n"
            if let first = c.points.first, let last = c.points.last {
                out += "- estimated network latency: \(d.formatSeconds(first.seconds)) at trial \(first.trials) -> "
                    + "**\(d.formatSeconds(last.seconds))** at trial \(last.trials) of \(c.trials) (\(d.format1(c.wallSeconds)) s)\n"
                if let v = c.vendorSeconds {
                    out += "- fastest vendor libraries over the same tasks: \(d.formatSeconds(v)) (vendor/tuned \(d.format2(v / last.seconds))x)\n"
                }
                if let p95 = TuningCurve.firstWithin(c.points, of: last.seconds) {
                    out += "- within 5% of the final estimate after \(p95.trials) trials (\(d.format1(p95.elapsed)) s)\n"
                }
            } else {
                out += "- no estimate yet (a task has no verified result)\n"
            }
            out += "\n"
        }
        let drawn = Set(figureNames)
        for (file, caption) in [("curve-trials.svg", "Tuning curve against trials"), ("curve-time.svg", "Tuning curve against wall time"),
                                ("model-accuracy.svg", "The live model's ranking accuracy")] where drawn.contains(file) {
            out += "![\(caption)](\(file))\n\n"
        }
        out += "## Tasks\n\n| task | class | weight | trials | failed | best | fastest vendor | vendor/tuned |\n|---|---|---:|---:|---:|---:|---|---:|\n"
        for t in campaign.tasks {
            let ratio = t.bestSeconds.flatMap { b in t.vendorSeconds.map { d.format2($0 / b) + "x" } } ?? "-"
            var vendor = t.vendorSeconds.map(d.formatSeconds) ?? "-"
            if let lib = t.vendorLibrary { vendor += " (\(lib))" }
            if let note = t.vendorNote { vendor += " ⚠ \(note)" }
            out += "| `\(readableTaskName(t.name))` | \(t.deviceClass) | \(t.weight) | \(t.trialsDone) | \(t.failures) | "
                + "\(t.bestSeconds.map(d.formatSeconds) ?? "-") | \(vendor) | \(ratio) |\n"
        }
        out += "\n## Timing noise\n\n"
        if noise.results > 0 {
            out += "- within a timing: the samples' interquartile range is \(d.format1(noise.medianSpread * 100))% of their median "
                + "(median over \(noise.results) verified results, \(noise.medianSamples) samples each)\n"
        }
        if let r = noise.retest {
            out += "- test-retest: \(r.pairs) candidates timed again by campaign \(r.campaign): PCA **\(d.format2(r.pca))**, "
                + "median difference **\(d.format1(r.medianDifference * 100))%** per candidate\n"
        } else {
            out += "- test-retest: no candidate of this campaign was timed again in this database "
                + "(`coordctl bench cpu --confirm-top N` does, side by side with the vendor libraries)\n"
        }
        if !accuracy.isEmpty {
            out += "\n## Model accuracy\n\n| class | trials | PCA | pairs | model versions |\n|---|---:|---:|---:|---|\n"
            for a in accuracy {
                out += "| \(a.deviceClass) | \(a.trials) | \(d.format2(a.pca)) | \(a.pairs) | \(a.modelVersions.map { "v\($0)" }.joined(separator: ", ")) |\n"
            }
        }
        return out
    }

    /// The same page as self-contained HTML (the figures are files beside it; no script).
    public var html: String {
        var body = ""
        var inTable = false
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("|") {
                if line.hasPrefix("|---") { continue }
                let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                    .map { Self.inline($0.trimmingCharacters(in: .whitespaces)) }
                if !inTable { body += "<table>\n<tr>" + cells.map { "<th>\($0)</th>" }.joined() + "</tr>\n"; inTable = true; continue }
                body += "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>\n"
                continue
            }
            if inTable { body += "</table>\n"; inTable = false }
            if line.hasPrefix("# ") { body += "<h1>\(Self.inline(String(line.dropFirst(2))))</h1>\n" }
            else if line.hasPrefix("## ") { body += "<h2>\(Self.inline(String(line.dropFirst(3))))</h2>\n" }
            else if line.hasPrefix("- ") { body += "<p>• \(Self.inline(String(line.dropFirst(2))))</p>\n" }
            else if line.hasPrefix("!["), let open = line.firstIndex(of: "("), let close = line.lastIndex(of: ")") {
                body += "<p><img src=\"\(LineChart.escape(String(line[line.index(after: open)..<close])))\"></p>\n"
            } else if !line.isEmpty { body += "<p>\(Self.inline(line))</p>\n" }
        }
        if inTable { body += "</table>\n" }
        return """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>TuneFleet campaign \(campaign.id)</title>
        <style>body{font-family:sans-serif;max-width:980px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}code{font-size:12px}</style>
        </head><body>
        \(body)</body></html>

        """
    }

    /// Escapes text and renders `code` and **bold** spans.
    static func inline(_ s: String) -> String {
        var out = "", code = false, bold = false
        var chars = Array(LineChart.escape(s))[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if c == "`" { out += code ? "</code>" : "<code>"; code.toggle(); continue }
            if c == "*", chars.first == "*" { chars = chars.dropFirst(); out += bold ? "</b>" : "<b>"; bold.toggle(); continue }
            out.append(c)
        }
        return out
    }
}
