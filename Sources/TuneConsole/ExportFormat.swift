import Foundation
import TuneCore
import TuneStore

/// Export encodings: one record per measurement. The JSONL line is also what
/// `coordctl dataset import` reads; fields added over time are optional when read, so older
/// exports (the H100 runs) import too.
public enum ExportFormat {
    public struct Line: Codable, Sendable {
        public var campaign: Int64
        public var task: String
        public var device_class: String
        public var candidate: Int64
        public var schedule: String
        /// The schedule's knobs as an object (the same as `schedule`).
        public var knobs: [String: Int]?
        public var device: String
        /// The device's whole profile, so a record can be featurized anywhere.
        public var device_profile: DeviceProfile?
        public var agent: String
        public var status: String
        public var median_seconds: Double?
        /// Interquartile range over the median: the spread of the samples.
        public var spread: Double?
        public var samples: [Double]
        public var compile_seconds: Double
        public var error: String
        public var detail: [String: String]?
        public var created_at: Double?
        public var threads: Int?
        public var seed: UInt64?
        public var flops: Double?
        public var gflops: Double?
        public var proposer: String?
        public var model_version: Int64?
        public var predicted: Double?
        /// Vendor libraries' times for the task on the same device, by library.
        public var vendor_seconds: [String: Double]?
    }

    static func line(_ r: ExportRow, profiles: [String: DeviceProfile]) -> Line {
        let flops = (try? TaskSpec(name: r.task))?.flops
        let knobs = (try? Schedule(encoding: r.schedule))?.values
        return Line(campaign: r.campaign, task: r.task, device_class: r.deviceClass, candidate: r.candidate, schedule: r.schedule,
                    knobs: knobs, device: r.device, device_profile: profiles[r.device], agent: r.agent, status: r.status,
                    median_seconds: r.medianSeconds, spread: SampleStats(r.samples)?.relativeIQR, samples: r.samples,
                    compile_seconds: r.compileSeconds, error: r.error, detail: r.detail, created_at: r.createdAt,
                    threads: r.threads, seed: r.seed, flops: flops,
                    gflops: both(flops, r.medianSeconds).map { $0.0 / $0.1 / 1e9 }, proposer: r.provenance.proposer,
                    model_version: r.provenance.modelVersion, predicted: r.provenance.predicted, vendor_seconds: r.vendorSeconds)
    }

    public static func jsonl(_ rows: [ExportRow], profiles: [String: DeviceProfile] = [:]) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return rows.map { String(decoding: (try? enc.encode(line($0, profiles: profiles))) ?? Data(), as: UTF8.self) + "\n" }.joined()
    }

    public static func csv(_ rows: [ExportRow]) -> String {
        // Every knob of every schedule gets a column of its own, empty where a schedule has none.
        let knobNames = Set(rows.flatMap { (try? Schedule(encoding: $0.schedule))?.knobs.map(\.name) ?? [] }).sorted()
        var out = "campaign,task,device_class,candidate,schedule,device,agent,status,median_seconds,spread,samples,compile_seconds,error,detail,"
            + "created_at,threads,seed,flops,gflops,proposer,model_version,predicted,vendor_seconds"
            + knobNames.map { ",knob_" + $0 }.joined() + "\n"
        for r in rows {
            let flops = (try? TaskSpec(name: r.task))?.flops
            let knobs = (try? Schedule(encoding: r.schedule))?.values ?? [:]
            let gflops: String = both(flops, r.medianSeconds).map { "\($0.0 / $0.1 / 1e9)" } ?? ""
            let vendor: String = r.vendorSeconds.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
            var more: [String] = ["\(r.createdAt)", "\(r.threads)", "\(r.seed)", flops.map { "\($0)" } ?? "", gflops]
            more += [r.provenance.proposer, r.provenance.modelVersion.map { "\($0)" } ?? "",
                     r.provenance.predicted.map { "\($0)" } ?? "", vendor]
            for k in knobNames { more.append(knobs[k].map { "\($0)" } ?? "") }
            let fields = ["\(r.campaign)", r.task, r.deviceClass, "\(r.candidate)", r.schedule, r.device, r.agent, r.status,
                          r.medianSeconds.map { "\($0)" } ?? "", SampleStats(r.samples).map { "\($0.relativeIQR)" } ?? "",
                          r.samples.map { "\($0)" }.joined(separator: " "),
                          "\(r.compileSeconds)", r.error,
                          r.detail.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")] + more
            out += fields.map(quote).joined(separator: ",") + "\n"
        }
        return out
    }

    static func quote(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

/// Both values, or nil.
func both<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
