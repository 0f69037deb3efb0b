import ArgumentParser
import Foundation
import TuneConsole
import TuneLearning
import TuneStore
import TuneSystem

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a campaign's report: tuning curves (SVG), per-task bests against the fastest vendor library, the live model's accuracy; index.html and report.md open without a server.")
    @Option(help: "The coordinator's database.") var db: String
    @Option(help: "The campaign.") var campaign: Int64
    @Option(name: .shortAndLong, help: "Output folder (created).") var output: String
    @Option(help: "Results per model-accuracy point (default: about a twelfth of the campaign, at least 16).") var window: Int?

    func validate() throws {
        if let window, !(1...1_000_000).contains(window) { throw ValidationError("--window must be 1...1000000") }
    }

    func run() throws {
        let store = try openStore(db)
        guard let summary = try store.campaign(campaign) else {
            let ids = try store.campaigns().map { "\($0.id)" }
            throw ValidationError("no campaign \(campaign) in \(db)" + (ids.isEmpty ? " (it holds none)" : " (campaigns: \(ids.joined(separator: ", ")))"))
        }
        let rows = try store.export(campaign: campaign)
        let report = CampaignReport(campaign: summary, rows: rows, window: window, retest: try laterRetest(store, rows))
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        var written: [String] = []
        for (name, svg) in report.figures.sorted(by: { $0.key < $1.key }) {
            try writeFile(output + "/" + name, svg)
            written.append(name)
        }
        try writeFile(output + "/report.md", report.markdown)
        try writeFile(output + "/index.html", report.html)
        print("wrote \(output)/index.html, report.md" + (written.isEmpty ? "" : ", " + written.joined(separator: ", ")))
    }

    /// The test-retest of the campaign's candidates against the later campaign that timed
    /// the most of them again (a bench's confirmation pass), if any timed two or more.
    func laterRetest(_ store: Store, _ rows: [ExportRow]) throws -> CampaignReport.Retest? {
        struct Key: Hashable { var task: String; var schedule: String; var device: String }
        let mine = Set(rows.filter { $0.status == "ok" }.map { Key(task: $0.task, schedule: $0.schedule, device: $0.device) })
        var best: (id: Int64, overlap: Int)?
        for later in try store.campaigns() where later.id > campaign {
            let overlap = try store.export(campaign: later.id).filter { mine.contains(Key(task: $0.task, schedule: $0.schedule, device: $0.device)) }.count
            if overlap >= 2 && overlap > (best?.overlap ?? 0) { best = (later.id, overlap) }
        }
        guard let best else { return nil }
        let r = try Retest.compare(store: store, again: best.id, first: campaign)
        return r.pairs >= 2 ? CampaignReport.Retest(campaign: best.id, pairs: r.pairs, pca: r.pca, medianDifference: r.medianDifference) : nil
    }
}
