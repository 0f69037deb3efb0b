import Foundation
import Testing
import TuneCore
import TuneStore
@testable import TuneConsole

@Suite struct BenchReportTests {
    /// The bench table prints every library the agent timed, names the fastest, and the
    /// ratio is against that one; columns stay aligned however long a task's name is.
    @Test func everyLibrarysTimeIsPrintedAndTheRatioIsAgainstTheFastest() throws {
        let path = NSTemporaryDirectory() + "tunefleet-benchreport-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).db"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try Store(path: path)
        let long = try TaskSpec(op: .conv2d, params: ["c": 64, "h": 56, "w": 56, "k": 64, "r": 3, "s": 3, "pad": 1])
        let short = try TaskSpec(op: .matmul, params: ["m": 4, "n": 8, "k": 16])
        let id = try store.createCampaign(workload: Workload(name: "w", tasks: [WeightedTask(short, weight: 1), WeightedTask(long, weight: 1)]),
                                          trialsPerTask: 1, deviceClasses: [.cpu], plan: MeasurePlan(), batchSize: 1, seed: 1)
        for job in try store.activeJobs() {
            let c = try store.insertCandidates(jobID: job.jobID, [Schedule(["a": 1])])
            _ = try store.commit(MeasureResult(candidateID: c[0].id, status: .ok, samples: [4e-3]), agent: "a", device: "d")
            var vendor = MeasureResult(candidateID: 0, status: .ok, samples: [2e-3])
            vendor.detail = ["library": "onednn", "libraries": "openblas=0.005,onednn=0.002"]
            _ = try store.commitBaseline(vendor, jobID: job.jobID, device: "d", library: "onednn")
        }
        let summary = try #require(try store.campaigns().first { $0.id == id })
        #expect(summary.tasks[0].vendorSecondsByLibrary == ["openblas": 0.005, "onednn": 0.002])
        let exported = try store.export(campaign: id)
        #expect(exported.allSatisfy { $0.vendorSeconds == ["openblas": 0.005, "onednn": 0.002] }, "the export keeps every library's time")
        let report = BenchReport(summary: summary, rows: exported, profile: nil, threads: 1)
        #expect(report.tasks.allSatisfy { $0.ratio == 0.5 && $0.vendor_library == "onednn" })
        let lines = report.render().split(separator: "\n").map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("task") })
        #expect(header.contains("onednn") && header.contains("openblas") && header.contains("fastest"))
        let rows = lines.filter { $0.hasPrefix("matmul") || $0.hasPrefix("conv2d") }
        #expect(rows.count == 2)
        let column = header.range(of: "tuned")!.lowerBound.utf16Offset(in: header)
        for row in rows {
            let at = row.index(row.startIndex, offsetBy: column)
            #expect(row[at...].hasPrefix("4.00 ms"), "the tuned column starts where its header does: \(row)")
            #expect(row.contains("5.00 ms") && row.contains("2.00 ms") && row.contains("0.50x"))
        }
        var confirmed = report
        confirmed.confirm(with: summary, retest: BenchReport.Retest(candidates: 8, pca: 0.97, median_difference: 0.012))
        #expect(confirmed.tasks.allSatisfy { $0.confirmed_ratio == 0.5 && $0.confirmed_vendor_library == "onednn" })
        let text = confirmed.render()
        #expect(text.contains("confirmed") && text.contains("test-retest of this run: PCA 0.97 and median difference 1.2% over 8 candidates"))
        #expect(!text.contains("runs faster than it reports"), "no peak, no note")
        var boosted = confirmed
        boosted.peak_gflops = 83
        boosted.tasks[0].peak_fraction = 1.39
        #expect(boosted.render().contains("a kernel at 139.0% of it means the CPU runs faster than it reports"))
    }

    /// The confirmation pass re-times each task's fastest verified candidates, and its
    /// ratios and test-retest figure are printed beside the search's.
    @Test func theConfirmationPassTakesEachTasksFastestVerifiedCandidatesAndIsPrinted() throws {
        func row(_ task: String, _ candidate: Int64, _ status: String, _ seconds: Double?) -> ExportRow {
            ExportRow(campaign: 1, task: task, deviceClass: "cpu", candidate: candidate, schedule: "a=\(candidate)", device: "d",
                      agent: "a", status: status, medianSeconds: seconds, samples: seconds.map { [$0] } ?? [], compileSeconds: 0, error: "")
        }
        let mm = "matmul(m=4,n=8,k=16,bias=0,act=0,f32)", sm = "softmax(rows=4,cols=8,f32)"
        let rows = [row(mm, 1, "ok", 3e-3), row(mm, 2, "ok", 1e-3), row(mm, 3, "wrong_answer", nil), row(mm, 4, "ok", 2e-3),
                    row(sm, 5, "compile_error", nil)]
        let given = BenchReport.confirmationSchedules(rows: rows, top: 2)
        #expect(given.count == 1, "a task with nothing verified has nothing to confirm")
        #expect(given[try TaskSpec(name: mm)] == [Schedule(["a": 2]), Schedule(["a": 4])])
        #expect(BenchReport.confirmationSchedules(rows: rows, top: 0).isEmpty)
    }
}
