import Foundation
import TuneCore
import TuneStore

/// Export encodings: one record per measurement.
public enum ExportFormat {
    struct Line: Encodable {
        var campaign: Int64
        var task: String
        var device_class: String
        var candidate: Int64
        var schedule: String
        var device: String
        var agent: String
        var status: String
        var median_seconds: Double?
        /// Interquartile range over the median: the spread of the samples.
        var spread: Double?
        var samples: [Double]
        var compile_seconds: Double
        var error: String
        var detail: [String: String]
    }

    static func line(_ r: ExportRow) -> Line {
        Line(campaign: r.campaign, task: r.task, device_class: r.deviceClass, candidate: r.candidate, schedule: r.schedule,
             device: r.device, agent: r.agent, status: r.status, median_seconds: r.medianSeconds,
             spread: SampleStats(r.samples)?.relativeIQR, samples: r.samples,
             compile_seconds: r.compileSeconds, error: r.error, detail: r.detail)
    }

    public static func jsonl(_ rows: [ExportRow]) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return rows.map { String(decoding: (try? enc.encode(line($0))) ?? Data(), as: UTF8.self) + "\n" }.joined()
    }

    public static func csv(_ rows: [ExportRow]) -> String {
        var out = "campaign,task,device_class,candidate,schedule,device,agent,status,median_seconds,spread,samples,compile_seconds,error,detail\n"
        for r in rows {
            let fields = ["\(r.campaign)", r.task, r.deviceClass, "\(r.candidate)", r.schedule, r.device, r.agent, r.status,
                          r.medianSeconds.map { "\($0)" } ?? "", SampleStats(r.samples).map { "\($0.relativeIQR)" } ?? "",
                          r.samples.map { "\($0)" }.joined(separator: " "),
                          "\(r.compileSeconds)", r.error,
                          r.detail.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")]
            out += fields.map(quote).joined(separator: ",") + "\n"
        }
        return out
    }

    static func quote(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
