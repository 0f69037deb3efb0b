import Foundation
import Testing
import TuneCore
import TuneStore
@testable import TuneConsole

@Suite struct DatasetImportExport {
    func recordedStore() throws -> Store {
        let store = try Store.inMemory()
        var cpu = DeviceProfile(deviceClass: .cpu, model: "Xeon")
        cpu.cores = 2; cpu.vectorBits = 512; cpu.target = "x86-64-v4"
        try store.recordDevice(cpu)
        var plan = MeasurePlan()
        plan.threads = 2
        let w = Workload(name: "w", tasks: [WeightedTask(try TaskSpec(op: .matmul, params: ["m": 8, "n": 16, "k": 32]), weight: 3),
                                            WeightedTask(try TaskSpec(op: .softmax, params: ["rows": 4, "cols": 64]), weight: 1)])
        _ = try store.createCampaign(workload: w, trialsPerTask: 3, deviceClasses: [.cpu], plan: plan, batchSize: 2, seed: 77)
        for job in try store.activeJobs() {
            let cands = try store.insertCandidates(jobID: job.jobID, [
                ProposedSchedule(Schedule(["a": 1, "b": 2]), Provenance(proposer: "random")),
                ProposedSchedule(Schedule(["a": 2, "b": 2]), Provenance(proposer: "evolutionary", modelVersion: 4, predicted: 0.5)),
                ProposedSchedule(Schedule(["a": 3]), Provenance(proposer: "random")),
            ])
            _ = try store.commit([
                ResultToCommit(MeasureResult(candidateID: cands[0].id, status: .ok, samples: [3e-3, 1e-3, 2e-3], compileSeconds: 0.25,
                                             detail: ["timing": "loop"]), agent: "a0", device: cpu.fingerprint),
                ResultToCommit(MeasureResult(candidateID: cands[1].id, status: .wrongAnswer, compileSeconds: 0.5,
                                             errorText: "max error 3 at 7"), agent: "a0", device: cpu.fingerprint),
                ResultToCommit(MeasureResult(candidateID: cands[2].id, status: .ok, samples: [5e-4]), agent: "a1", device: cpu.fingerprint),
            ])
            _ = try store.commitBaseline(MeasureResult(candidateID: 0, status: .ok, samples: [1.5e-3]), jobID: job.jobID,
                                         device: cpu.fingerprint, library: "openblas")
        }
        return store
    }

    /// Everything but the database's own ids survives export -> import -> export.
    @Test func exportAndImportRoundTripWithoutLoss() throws {
        let source = try recordedStore()
        let first = ExportFormat.jsonl(try source.export(campaign: nil), profiles: try source.deviceProfiles())
        let parsed = try DatasetImport.parse(first, file: "x.jsonl", profile: nil)
        #expect(parsed.records.count == 6 && parsed.profiles.count == 1)
        let target = try Store.inMemory()
        let summary = try target.importRecords(parsed.records, source: "x.jsonl", digest: DatasetImport.digest(first), profiles: parsed.profiles)
        #expect(summary.records == 6)
        let second = ExportFormat.jsonl(try target.export(campaign: nil), profiles: try target.deviceProfiles())
        func comparable(_ text: String) throws -> [String] {
            try text.split(separator: "\n").map { line in
                var o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                o["campaign"] = nil
                o["candidate"] = nil
                return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
            }.sorted()
        }
        #expect(try comparable(first) == comparable(second))
        #expect(first.contains("\"vendor_seconds\":{\"openblas\":0.0015}") && first.contains("\"seed\":77") && first.contains("\"threads\":2"))
        // The same content again is recognised.
        let again = try target.importRecords(parsed.records, source: "x.jsonl", digest: DatasetImport.digest(first), profiles: parsed.profiles)
        #expect(again.records == 0 && again.alreadyImported == 6)
    }

    @Test func badLinesAreErrorsThatNameTheLine() throws {
        let good = ExportFormat.jsonl(try recordedStore().export(campaign: nil)).split(separator: "\n").first.map(String.init)!
        for bad in ["{not json", good.replacingOccurrences(of: "\"status\":\"ok\"", with: "\"status\":\"fine\""),
                    good.replacingOccurrences(of: "\"task\":\"matmul(", with: "\"task\":\"matmulx(")] {
            #expect(throws: DatasetImport.ImportError.self) { try DatasetImport.parse(good + "\n" + bad + "\n", file: "f", profile: nil) }
            do { _ = try DatasetImport.parse(good + "\n" + bad, file: "f", profile: nil) } catch let e as DatasetImport.ImportError {
                #expect(e.line == 2)
            }
        }
    }

    @Test func recordsWithoutAProfileAreRefused() throws {
        let text = ExportFormat.jsonl(try recordedStore().export(campaign: nil))  // no profiles
        let parsed = try DatasetImport.parse(text, file: "f", profile: nil)
        #expect(throws: StoreError.self) {
            try Store.inMemory().importRecords(parsed.records, source: "f", digest: "d", profiles: [:])
        }
    }

    @Test func aBenchTableNeedsItsDeviceAndImports() throws {
        let table = "task\tschedule\tstatus\tseconds\ttflops\tregisters\tspills\terror\n" +
            "matmul(m=64,n=64,k=64,bias=0,act=0,f32)\tbm=32;bn=32\tok\t0.001\t0.5\t40\t0\t\n" +
            "matmul(m=64,n=64,k=64,bias=0,act=0,f32)\tbm=64;bn=32\tcompile_error\t\t\t\t\tptxas failed\n"
        #expect(throws: DatasetImport.ImportError.self) { try DatasetImport.parse(table, file: "b.tsv", profile: nil) }
        var gpu = DeviceProfile(deviceClass: .cuda, model: "H100")
        gpu.smCount = 132
        let parsed = try DatasetImport.parse(table, file: "b.tsv.xz", profile: gpu)
        #expect(parsed.records.map(\.status) == [.ok, .compileError])
        #expect(parsed.records[0].detail == ["registers": "40", "spills": "0"] && parsed.records[1].error == "ptxas failed")
        let store = try Store.inMemory()
        #expect(try store.importRecords(parsed.records, source: "b", digest: "1", profiles: parsed.profiles).records == 2)
        #expect(try store.deviceProfiles()[gpu.fingerprint] == gpu)
    }
}
