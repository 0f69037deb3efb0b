import Foundation
import TuneCore
import TuneStore

/// Reads recorded measurements for `coordctl dataset import`: `coordctl export` JSONL, or
/// the GPU bench table (`task<TAB>schedule<TAB>status<TAB>seconds...`), plain or
/// compressed (.gz, .xz).
public enum DatasetImport {
    public struct Parsed: Sendable {
        public var records: [ImportedRecord] = []
        /// Profiles the lines carried, by the fingerprint they name.
        public var profiles: [String: DeviceProfile] = [:]
    }

    public struct ImportError: Error, CustomStringConvertible, Sendable {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
    }

    /// The file's text, decompressed by its suffix.
    public static func read(_ path: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else { throw ImportError(file: path, line: 0, message: "no such file") }
        let tool: String? = path.hasSuffix(".xz") ? "xz" : path.hasSuffix(".gz") ? "gzip" : nil
        guard let tool else {
            guard let data = FileManager.default.contents(atPath: path) else { throw ImportError(file: path, line: 0, message: "cannot read") }
            return String(decoding: data, as: UTF8.self)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool, "-dc", path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { throw ImportError(file: path, line: 0, message: "cannot run \(tool): \(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let why = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ImportError(file: path, line: 0, message: "\(tool) failed: \(why.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses one file's text. `profile` is the device of a bench table (which names none).
    public static func parse(_ text: String, file: String, profile: DeviceProfile?) throws -> Parsed {
        let base = file.replacingOccurrences(of: ".xz", with: "").replacingOccurrences(of: ".gz", with: "")
        if base.hasSuffix(".tsv") {
            guard let profile else {
                throw ImportError(file: file, line: 0, message: "a bench table names no device: give its profile with --profile FILE")
            }
            return try benchTable(text, file: file, profile: profile)
        }
        return try exportLines(text, file: file)
    }

    static func exportLines(_ text: String, file: String) throws -> Parsed {
        var out = Parsed()
        let decoder = JSONDecoder()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            do {
                let l = try decoder.decode(ExportFormat.Line.self, from: Data(line.utf8))
                guard let dc = DeviceClass(rawValue: l.device_class) else { throw ImportError(file: file, line: i + 1, message: "unknown device class '\(l.device_class)'") }
                guard let status = MeasureStatus(rawValue: l.status) else { throw ImportError(file: file, line: i + 1, message: "unknown status '\(l.status)'") }
                guard l.samples.allSatisfy({ $0.isFinite && $0 >= 0 }), l.compile_seconds.isFinite else {
                    throw ImportError(file: file, line: i + 1, message: "samples and compile time must be finite and non-negative")
                }
                if status == .ok && l.samples.isEmpty { throw ImportError(file: file, line: i + 1, message: "an ok record without samples") }
                if let p = l.device_profile { out.profiles[l.device] = p }
                out.records.append(ImportedRecord(
                    task: try TaskSpec(name: l.task), deviceClass: dc, schedule: try Schedule(encoding: l.schedule), device: l.device,
                    agent: l.agent, status: status, samples: l.samples, compileSeconds: l.compile_seconds, error: l.error,
                    detail: l.detail ?? [:], createdAt: l.created_at, threads: l.threads ?? 1, seed: l.seed ?? 0,
                    provenance: Provenance(proposer: l.proposer ?? "random", modelVersion: l.model_version, predicted: l.predicted),
                    sourceCampaign: l.campaign, vendorSeconds: l.vendor_seconds ?? [:]))
            } catch let e as ImportError {
                throw e
            } catch {
                throw ImportError(file: file, line: i + 1, message: "\(error)")
            }
        }
        return out
    }

    static func benchTable(_ text: String, file: String, profile: DeviceProfile) throws -> Parsed {
        var out = Parsed()
        let device = profile.fingerprint
        out.profiles[device] = profile
        for (i, raw) in text.split(separator: "\n").enumerated() {
            let f = raw.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if i == 0 && f.first == "task" { continue }
            guard f.count >= 4, let status = MeasureStatus(rawValue: f[2]) else {
                throw ImportError(file: file, line: i + 1, message: "expected task, schedule, status, seconds")
            }
            let seconds = Double(f[3])
            if status == .ok {
                guard let s = seconds, s.isFinite, s > 0 else { throw ImportError(file: file, line: i + 1, message: "an ok record needs positive seconds") }
            }
            var detail: [String: String] = [:]
            if f.count >= 7 { detail["registers"] = f[5]; detail["spills"] = f[6] }
            do {
                out.records.append(ImportedRecord(
                    task: try TaskSpec(name: f[0]), deviceClass: profile.deviceClass, schedule: try Schedule(encoding: f[1]),
                    device: device, agent: "bench", status: status, samples: status == .ok ? [seconds!] : [],
                    error: f.count >= 8 ? f[7] : "", detail: detail))
            } catch {
                throw ImportError(file: file, line: i + 1, message: "\(error)")
            }
        }
        return out
    }

    /// A profile file: a bare profile or `tune-agent probe --json` output.
    public static func profile(_ path: String) throws -> DeviceProfile {
        let text = try read(path)
        struct Probe: Decodable { var profile: DeviceProfile }
        if let p = try? JSONDecoder().decode(Probe.self, from: Data(text.utf8)) { return p.profile }
        do { return try JSONDecoder().decode(DeviceProfile.self, from: Data(text.utf8)) } catch {
            throw ImportError(file: path, line: 0, message: "not a device profile: \(error)")
        }
    }

    /// A digest of the content, so the same records imported twice are recognised.
    public static func digest(_ text: String) -> String { FNV1a.hex(text) }
}
