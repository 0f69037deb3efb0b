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
