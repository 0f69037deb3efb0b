import Foundation
import Testing
import TuneCore
import CPUKernels
import CUDAKernels
@testable import TuneFeatures

enum Profiles {
    static var avx2: DeviceProfile {
        var p = DeviceProfile(deviceClass: .cpu, model: "EPYC 8-core"); p.cores = 8; p.threads = 16; p.vectorBits = 256
        p.isa = ["sse4_2", "avx", "avx2", "fma"]; p.l1dBytes = 32 << 10; p.l2Bytes = 512 << 10; p.l3Bytes = 32 << 20
        p.peakGFLOPS = 1400; p.clockMHz = 3500; return p
    }
    static var avx512: DeviceProfile {
        var p = DeviceProfile(deviceClass: .cpu, model: "Xeon 2-core"); p.cores = 2; p.threads = 2; p.vectorBits = 512
        p.isa = ["sse4_2", "avx", "avx2", "fma", "avx512f"]; p.l1dBytes = 48 << 10; p.l2Bytes = 2 << 20; p.l3Bytes = 300 << 20
        p.peakGFLOPS = 268; p.clockMHz = 2100; return p
    }
    static var h100: DeviceProfile {
        var p = DeviceProfile(deviceClass: .cuda, model: "NVIDIA H100 80GB HBM3"); p.smCount = 132; p.cores = 132
        p.maxThreadsPerBlock = 1024; p.sharedMemPerBlock = 49152; p.sharedMemPerBlockOptin = 232448; p.registersPerBlock = 65536
        p.registersPerSM = 65536; p.warpSize = 32; p.computeCapability = "9.0"; p.l2Bytes = 50 << 20; p.peakGFLOPS = 66908
        p.memoryBandwidthGBs = 3352; p.clockMHz = 1980; p.cacheLineBytes = 128; return p
    }
    static var a100: DeviceProfile {
        var p = h100; p.model = "NVIDIA A100"; p.smCount = 108; p.cores = 108; p.sharedMemPerBlockOptin = 166912
        p.computeCapability = "8.0"; p.l2Bytes = 40 << 20; p.peakGFLOPS = 19500; p.memoryBandwidthGBs = 1555; return p
    }
    static let all = [avx2, avx512, h100, a100]
}

let featureTasks: [TaskSpec] = [
    try! TaskSpec(op: .matmul, params: ["m": 128, "n": 768, "k": 768, "bias": 1, "act": 2]),
    try! TaskSpec(op: .batchMatmul, params: ["b": 12, "m": 128, "n": 128, "k": 64]),
    try! TaskSpec(op: .conv2d, params: ["c": 64, "h": 56, "w": 56, "k": 64, "r": 3, "s": 3, "pad": 1]),
    try! TaskSpec(op: .conv2d, params: ["c": 256, "h": 14, "w": 14, "k": 1024, "r": 1, "s": 1, "layout": 1]),
    try! TaskSpec(op: .depthwiseConv2d, params: ["c": 144, "h": 56, "w": 56, "r": 3, "s": 3, "pad": 1]),
    try! TaskSpec(op: .softmax, params: ["rows": 1536, "cols": 128]),
    try! TaskSpec(op: .elementwise, params: ["n": 100_000, "chain": 3]),
]

func space(_ t: TaskSpec, _ p: DeviceProfile) -> (any ScheduleSpace)? {
    p.deviceClass == .cpu ? CPUKernels.space(for: t, device: p, threads: p.threads) : CUDAKernels.space(for: t, device: p)
}

@Suite struct JointFeatures {
    let x = JointFeatureExtractor()

    @Test func everyVectorIsFullFiniteAndDeterministic() throws {
        var checked = 0
        for p in Profiles.all {
            for t in featureTasks {
                let sp = try #require(space(t, p))
                #expect(sp is any FeaturedSpace, "\(type(of: sp)) knows what its knobs mean")
                var rng = SplitMix64(seed: 7)
                let schedules = (0..<200).compactMap { _ in sp.sample(using: &rng, attempts: 500) }
                #expect(schedules.count >= 100)
                let f = x.features(task: t, device: p, threads: p.threads, schedules: schedules)
                #expect(f.count == schedules.count * x.schema.count)
                #expect(f.allSatisfy { $0.isFinite })
                #expect(f == x.features(task: t, device: p, threads: p.threads, schedules: schedules))
                // One at a time gives the same rows.
                for (i, s) in schedules.prefix(5).enumerated() {
                    let one = x.features(task: t, device: p, threads: p.threads, schedules: [s])
                    #expect(Array(f[i * x.schema.count..<(i + 1) * x.schema.count]) == one)
                }
                // The schedule part differs between schedules (the knobs are there).
                let sched = x.schema.range(of: .schedule), d = x.schema.count
                let parts = Set(schedules.indices.map { i in Array(f[(i * d + sched.lowerBound)..<(i * d + sched.upperBound)]) })
                #expect(parts.count > 1)
                checked += schedules.count
            }
        }
        #expect(checked > 4000)
    }

    @Test func theHardwareMovesTheNormalizedFeatures() throws {
        let t = featureTasks[0]
        var small = Profiles.avx512
        small.l2Bytes /= 2
        var rng = SplitMix64(seed: 1)
        let s = try #require(space(t, Profiles.avx512)?.sample(using: &rng))
        let a = x.features(task: t, device: Profiles.avx512, threads: 2, schedules: [s])
        let b = x.features(task: t, device: small, threads: 2, schedules: [s])
        let l2 = try #require(x.schema.names.firstIndex(of: "l2_ratio"))
        #expect(a[l2] > 0 && abs(b[l2] - 2 * a[l2]) < 1e-5 * a[l2], "halving L2 doubles the block's L2 ratio")
        let hw = x.schema.range(of: .hardware)
        #expect(Array(a[hw]) != Array(b[hw]))
        #expect(Array(a[x.schema.range(of: .task)]) == Array(b[x.schema.range(of: .task)]))
        let h = x.features(task: t, device: Profiles.h100, threads: 1, schedules: [])
        #expect(h.isEmpty)
    }

    /// Lines per L1 set, by hand: 64 sets of 64-byte lines repeat every 4 KiB.
    @Test func rowsFourKilobytesApartPileOntoTheSameL1Sets() {
        let lines = DerivedFeatures.linesPerL1Set
        #expect(lines(1, 4096, 0) == 1, "one contiguous 4 KiB run: one line in every set")
        #expect(lines(1, 32 << 10, 0) == 8)
        #expect(lines(1, 100, 0) == 1 && lines(0, 100, 64) == 0)
        #expect(lines(16, 1024, 12 << 10) == 16, "16 rows 12 KiB apart (k = 3072 floats): the same 16 sets, 16 deep")
        #expect(lines(16, 1024, 3072) == 4, "768 floats apart: every fourth row returns to the same sets")
        #expect(lines(16, 64, 64) == 1, "consecutive lines: no set twice")
        #expect(lines(65, 64, 64) == 2, "the 65th line wraps onto set 0")
        #expect(lines(2, 64 * 70, 4096) == 4, "each 70-line row covers every set once and 6 twice; both rows start at set 0")
    }

    @Test func theGemmFeaturesSeeAliasingRowsAndWhatPackingCosts() throws {
        // BERT's 128x768x3072 matmul: rows of A are 12 KiB apart.
        let t = try TaskSpec(op: .matmul, params: ["m": 128, "n": 768, "k": 3072, "bias": 1])
        let p = Profiles.avx512  // 48 KiB L1: 12 ways
        let base = ["mr": 16, "nr": 16, "vec": 16, "mc": 128, "nc": 256, "kc": 256, "packA": 0, "packB": 0, "order": 0, "kunroll": 1, "threads": 1, "par": 0]
        func features(_ change: [String: Int]) throws -> [String: Float] {
            let f = x.features(task: t, device: p, threads: 1, schedules: [Schedule(base.merging(change) { $1 })])
            return Dictionary(uniqueKeysWithValues: ["l1_set_pressure_a", "l1_set_pressure_b", "pack_cost"].map { ($0, f[x.schema.names.firstIndex(of: $0)!]) })
        }
        let inPlace = try features([:]), packedA = try features(["packA": 1]), fewRows = try features(["mr": 4])
        #expect(abs(inPlace["l1_set_pressure_a"]! - 16.0 / 12) < 1e-6, "16 rows of 1 KiB on the same 16 sets of a 12-way L1")
        #expect(abs(packedA["l1_set_pressure_a"]! - 4.0 / 12) < 1e-6, "packed: 16 KiB contiguous, 4 lines a set")
        #expect(abs(fewRows["l1_set_pressure_a"]! - 4.0 / 12) < 1e-6)
        // B read in place: 256 rows of 16 floats, 3 KiB apart, cycle over 4 set offsets: 64 lines a set.
        #expect(abs(inPlace["l1_set_pressure_b"]! - 64.0 / 12) < 1e-6)
        #expect(inPlace["pack_cost"] == 0)
        // A packed once per 256-column block (3 times), B once: per vector FMA of 16 lanes.
        let fmas = 128.0 * 768 * 3072 / 16
        #expect(abs(Double(packedA["pack_cost"]!) - 128.0 * 3072 * 3 / fmas) < 1e-6)
        let bothOrder2 = try features(["packA": 1, "packB": 1, "order": 2, "mc": 48])
        #expect(abs(Double(bothOrder2["pack_cost"]!) - (128.0 * 3072 + 3072.0 * 768 * 3) / fmas) < 1e-6, "A once, B once per 48-row block (3)")
    }

    /// The register file's size divides register_ratio, so the same tile reads as half full on
    /// AVX-512 and full on AVX2; the FMA chains that hide latency are a count on every machine.
    @Test func accumulatorsCountTheSameTileTheSameOnEveryVectorLevel() throws {
        let conv = featureTasks[0...].first { $0.op == .conv2d }!
        let gemm = try TaskSpec(op: .matmul, params: ["m": 128, "n": 768, "k": 768])
        func value(_ name: String, _ t: TaskSpec, _ p: DeviceProfile, _ s: [String: Int]) -> Float {
            x.features(task: t, device: p, threads: 1, schedules: [Schedule(s)])[x.schema.names.firstIndex(of: name)!]
        }
        let tile = ["rb": 4, "rv": 2, "vec": 8, "cb": 64, "order": 0, "unroll": 1, "threads": 1, "axis": 0, "par": 0]
        #expect(value("log2_accumulators", conv, Profiles.avx2, tile) == Float(log2(9.0)), "4 rows x 2 vectors: 8 chains")
        #expect(value("log2_accumulators", conv, Profiles.avx512, tile) == Float(log2(9.0)))
        #expect(value("register_ratio", conv, Profiles.avx2, tile) == 2 * value("register_ratio", conv, Profiles.avx512, tile))
        // GEMM: mr rows x nr / vec vectors; 6 x 16 floats of 8 lanes is 12 chains.
        let micro = ["mr": 6, "nr": 16, "vec": 8, "mc": 96, "nc": 256, "kc": 256, "packA": 1, "packB": 1, "order": 0, "kunroll": 1, "threads": 1, "par": 0]
        #expect(value("log2_accumulators", gemm, Profiles.avx2, micro) == Float(log2(13.0)))
        #expect(value("log2_accumulators", gemm, Profiles.avx2, micro.merging(["vec": 16]) { $1 }) == Float(log2(7.0)))
    }

    @Test func unknownKnobsAndForeignSchedulesFillZerosNotTraps() {
        let t = featureTasks[5]
        let f = x.features(task: t, device: Profiles.avx2, threads: 1, schedules: [Schedule(["nonsense": 3]), Schedule([:])])
        #expect(f.count == 2 * x.schema.count && f.allSatisfy { $0.isFinite })
    }

    /// docs/FEATURES.md is the schema, generated: it cannot drift from the code.
    @Test func theFeatureDocumentListsExactlyTheSchema() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/FEATURES.md")
        let doc = try String(contentsOf: url, encoding: .utf8)
        #expect(doc.contains(x.schema.markdown), "regenerate with: swift run coordctl model schema > docs/FEATURES.md")
        #expect(doc.contains("schema version \(x.schema.version)"))
    }

    @Test func extractionThroughput() {
        let t = featureTasks[0], p = Profiles.avx512
        var rng = SplitMix64(seed: 3)
        let sp = space(t, p)!
        let schedules = (0..<2000).compactMap { _ in sp.sample(using: &rng) }
        let clock = ContinuousClock()
        let d = clock.measure { for _ in 0..<10 { _ = x.features(task: t, device: p, threads: 2, schedules: schedules) } }
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        print("feature extraction: \(Int(Double(schedules.count * 10) / seconds)) vectors/s on one thread (\(x.schema.count) features)")
    }
}
