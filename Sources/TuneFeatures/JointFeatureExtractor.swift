import CPUKernels
import CUDAKernels
import TuneCore

/// The joint task + schedule + hardware features of the transfer-learning work
/// (LEARNING.md): the task's operator and shape, every knob of the schedule with the
/// quantities its space derives against the hardware, and the hardware itself.
public struct JointFeatureExtractor: FeatureExtractor {
    public static let version = 3
    public let schema: FeatureSchema
    /// Where each family's knobs start, and each knob's slot.
    let knobSlots: [String: [String: Int]]
    let derivedStart: Int
    let hardwareStart: Int
    /// Each feature's slot, by name.
    let index: [String: Int]

    public init() {
        var f: [FeatureSchema.Feature] = []
        func add(_ name: String, _ g: FeatureGroup, _ meaning: String) { f.append(.init(name: name, group: g, meaning: meaning)) }
        for op in OperatorKind.allCases { add("op_\(op.rawValue)", .task, "1 when the task is a \(op.rawValue), else 0") }
        for (name, meaning) in Self.shapeSlots { add(name, .task, meaning) }
        add("log2_flops", .task, "log2(1 + floating-point operations of one run) — log2 FLOP")
        add("log2_bytes", .task, "log2(1 + bytes of every tensor read or written once) — log2 bytes")
        add("log2_intensity", .task, "log2(1 + FLOPs / minimum bytes moved) — log2 FLOP/byte")
        add("log2_reduction", .task, "log2(1 + reduction length of one output) — log2 count")
        add("bias", .task, "matmul adds a bias — 0/1")
        add("act_relu", .task, "matmul ends with ReLU — 0/1")
        add("act_gelu", .task, "matmul ends with GELU — 0/1")
        add("layout_nhwc", .task, "convolution in NHWC (else NCHW) — 0/1")
        add("chain", .task, "elementwise chain id (0-3) — id")
        var slots: [String: [String: Int]] = [:]
        for (family, knobs) in Self.families() {
            var m: [String: Int] = [:]
            for k in knobs {
                m[k] = f.count
                add("\(family).\(k)", .schedule, "knob `\(k)` of the \(family) template: log2(1 + value) — log2 of the knob's unit (0 in other families)")
            }
            slots[family] = m
        }
        derivedStart = f.count
        for s in DerivedFeatures.Slot.allCases { add(s.documentation.name, .schedule, s.documentation.meaning) }
        hardwareStart = f.count
        for (name, meaning) in Self.hardwareSlots { add(name, .hardware, meaning) }
        schema = FeatureSchema(version: Self.version, features: f)
        knobSlots = slots
        index = Dictionary(uniqueKeysWithValues: f.enumerated().map { ($1.name, $0) })
    }

    static let shapeSlots: [(String, String)] = [
        ("log2_m", "log2(1 + rows M of a (batch) matmul) — log2 count"),
        ("log2_n", "log2(1 + columns N of a (batch) matmul) — log2 count"),
        ("log2_k", "log2(1 + reduction K of a (batch) matmul) — log2 count"),
        ("log2_batch", "log2(1 + batch: b of batch_matmul, n of a convolution) — log2 count"),
        ("log2_c", "log2(1 + input channels) — log2 count"),
        ("log2_h", "log2(1 + input height) — log2 pixels"),
        ("log2_w", "log2(1 + input width) — log2 pixels"),
        ("log2_out_channels", "log2(1 + output channels k of conv2d) — log2 count"),
        ("log2_r", "log2(1 + window height) — log2 pixels"),
        ("log2_s", "log2(1 + window width) — log2 pixels"),
        ("stride", "convolution stride — pixels"),
        ("pad", "convolution padding — pixels"),
        ("dil", "convolution dilation — pixels"),
        ("log2_groups", "log2(1 + convolution groups) — log2 count"),
        ("log2_out_pixels", "log2(1 + output height x width) — log2 pixels"),
        ("log2_rows", "log2(1 + softmax rows) — log2 count"),
        ("log2_cols", "log2(1 + softmax columns) — log2 count"),
        ("log2_elements", "log2(1 + elementwise length) — log2 count"),
    ]

    static let hardwareSlots: [(String, String)] = [
        ("is_cuda", "a CUDA device (else a CPU) — 0/1"),
        ("log2_cache_line", "log2(1 + cache line bytes) — log2 bytes"),
        ("log2_smem_per_block", "log2(1 + opt-in shared memory per block; 0 on CPUs) — log2 bytes"),
        ("log2_max_threads_per_block", "log2(1 + threads per block; 0 on CPUs) — log2 count"),
        ("log2_cores", "log2(1 + cores (CPU) or SMs (CUDA)) — log2 count"),
        ("log2_vector_bytes", "log2(1 + vector unit bytes: widest SIMD register (CPU), 16-byte loads (CUDA)) — log2 bytes"),
        ("warp_size", "warp size / 32 (0 on CPUs) — ratio"),
        ("log2_peak_gflops", "log2(1 + peak FP32 rate) — log2 GFLOP/s"),
        ("log2_bandwidth", "log2(1 + memory bandwidth; 0 when unknown) — log2 GB/s"),
        ("log2_l1", "log2(1 + L1 data cache per core) — log2 bytes"),
        ("log2_l2", "log2(1 + L2 per core (CPU) or per device (CUDA)) — log2 bytes"),
        ("log2_l3", "log2(1 + L3) — log2 bytes"),
        ("log2_registers", "log2(1 + registers per block (CUDA) or architectural vector registers (CPU)) — log2 count"),
        ("log2_clock_mhz", "log2(1 + clock) — log2 MHz"),
        ("log2_threads", "log2(1 + threads the campaign allows a kernel) — log2 count"),
        ("log2_peak_per_core", "log2(1 + peak FP32 rate per core or SM) — log2 GFLOP/s"),
    ]

    /// Each template family's knobs, read off representative spaces (names only).
    static func families() -> [(String, [String])] {
        var cpu = DeviceProfile(deviceClass: .cpu, model: "schema")
        cpu.cores = 4; cpu.threads = 8; cpu.vectorBits = 512; cpu.isa = ["avx2", "fma", "avx512f"]
        var gpu = DeviceProfile(deviceClass: .cuda, model: "schema")
        gpu.smCount = 100; gpu.maxThreadsPerBlock = 1024; gpu.sharedMemPerBlock = 48 << 10; gpu.sharedMemPerBlockOptin = 228 << 10
        gpu.registersPerBlock = 65536; gpu.warpSize = 32; gpu.computeCapability = "9.0"
        let tasks: [TaskSpec] = [
            try! TaskSpec(op: .matmul, params: ["m": 64, "n": 64, "k": 64]),
            try! TaskSpec(op: .conv2d, params: ["c": 16, "h": 8, "w": 8, "k": 16, "r": 3, "s": 3, "pad": 1]),
            try! TaskSpec(op: .depthwiseConv2d, params: ["c": 16, "h": 8, "w": 8, "r": 3, "s": 3, "pad": 1]),
            try! TaskSpec(op: .softmax, params: ["rows": 4, "cols": 64]),
            try! TaskSpec(op: .elementwise, params: ["n": 64]),
        ]
        var out: [(String, [String])] = []
        var seen = Set<String>()
        for task in tasks {
            let spaces: [(any ScheduleSpace)?] = [CPUKernels.space(for: task, device: cpu, threads: 8), CUDAKernels.space(for: task, device: gpu)]
            for case let s as any FeaturedSpace in spaces.compactMap({ $0 }) where seen.insert(s.featureFamily).inserted {
                out.append((s.featureFamily, s.knobs.map(\.name).sorted()))
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    public func features(task: TaskSpec, device: DeviceProfile, threads: Int, schedules: [Schedule]) -> [Float] {
        let d = schema.count
        var row = [Float](repeating: 0, count: d)
        taskFeatures(task, into: &row)
        hardwareFeatures(device, threads: threads, into: &row)
        var out = [Float](repeating: 0, count: d * schedules.count)
        let space: (any FeaturedSpace)? = {
            switch device.deviceClass {
            case .cpu: return CPUKernels.space(for: task, device: device, threads: max(1, threads)) as? any FeaturedSpace
            case .cuda: return CUDAKernels.space(for: task, device: device) as? any FeaturedSpace
            }
        }()
        let slots = space.flatMap { knobSlots[$0.featureFamily] } ?? [:]
        for (i, s) in schedules.enumerated() {
            var r = row
            for k in s.knobs { if let j = slots[k.name] { r[j] = Float(DerivedFeatures.log2p(Double(max(0, k.value)))) } }
            if let space {
                let derived = space.derivedFeatures(space.completing(s))
                for (j, v) in derived.values.enumerated() { r[derivedStart + j] = Float(v.isFinite ? v : 0) }
            }
            out.replaceSubrange(i * d..<(i + 1) * d, with: r)
        }
        return out
    }

    func taskFeatures(_ t: TaskSpec, into row: inout [Float]) {
        let idx = index
        func put(_ name: String, _ v: Double) { if let i = idx[name] { row[i] = v.isFinite ? Float(v) : 0 } }
        let lg = DerivedFeatures.log2p
        put("op_\(t.op.rawValue)", 1)
        switch t.op {
        case .matmul, .batchMatmul:
            put("log2_m", lg(Double(t["m"]))); put("log2_n", lg(Double(t["n"]))); put("log2_k", lg(Double(t["k"])))
            if t.op == .batchMatmul { put("log2_batch", lg(Double(t["b"]))) }
            if t.op == .matmul {
                put("bias", Double(t["bias"]))
                put("act_relu", t["act"] == Activation.relu.rawValue ? 1 : 0)
                put("act_gelu", t["act"] == Activation.gelu.rawValue ? 1 : 0)
            }
        case .conv2d, .depthwiseConv2d:
            put("log2_batch", lg(Double(t["n"]))); put("log2_c", lg(Double(t["c"])))
            put("log2_h", lg(Double(t["h"]))); put("log2_w", lg(Double(t["w"])))
            put("log2_r", lg(Double(t["r"]))); put("log2_s", lg(Double(t["s"])))
            put("stride", Double(t["stride"])); put("pad", Double(t["pad"])); put("dil", Double(t["dil"]))
            put("log2_out_pixels", lg(Double(t.outputHeight * t.outputWidth)))
            put("layout_nhwc", t["layout"] == ConvLayout.nhwc.rawValue ? 1 : 0)
            if t.op == .conv2d { put("log2_out_channels", lg(Double(t["k"]))); put("log2_groups", lg(Double(t["groups"]))) }
        case .softmax:
            put("log2_rows", lg(Double(t["rows"]))); put("log2_cols", lg(Double(t["cols"])))
        case .elementwise:
            put("log2_elements", lg(Double(t["n"]))); put("chain", Double(t["chain"]))
        }
        let bytes = Double(t.tensors.reduce(0) { $0 + $1.elementCount } * t.dtype.byteSize)
        put("log2_flops", lg(t.flops)); put("log2_bytes", lg(bytes)); put("log2_intensity", lg(t.flops / max(1, bytes)))
        put("log2_reduction", lg(Double(t.reductionLength)))
    }

    func hardwareFeatures(_ p: DeviceProfile, threads: Int, into row: inout [Float]) {
        let idx = index
        func put(_ name: String, _ v: Double) { if let i = idx[name] { row[i] = v.isFinite ? Float(v) : 0 } }
        let lg = DerivedFeatures.log2p
        let cuda = p.deviceClass == .cuda
        let units = Double(cuda ? p.smCount : p.cores)
        put("is_cuda", cuda ? 1 : 0)
        put("log2_cache_line", lg(Double(p.cacheLineBytes)))
        put("log2_smem_per_block", lg(Double(max(p.sharedMemPerBlock, p.sharedMemPerBlockOptin))))
        put("log2_max_threads_per_block", lg(Double(p.maxThreadsPerBlock)))
        put("log2_cores", lg(units))
        put("log2_vector_bytes", lg(cuda ? 16 : Double(p.vectorBits / 8)))
        put("warp_size", Double(p.warpSize) / 32)
        put("log2_peak_gflops", lg(p.peakGFLOPS))
        put("log2_bandwidth", lg(p.memoryBandwidthGBs))
        put("log2_l1", lg(Double(p.l1dBytes)))
        put("log2_l2", lg(Double(p.l2Bytes)))
        put("log2_l3", lg(Double(p.l3Bytes)))
        let vregs = (p.vectorBits >= 512 || p.isa.contains("avx512f")) ? 32.0 : 16.0
        put("log2_registers", lg(cuda ? Double(p.registersPerBlock) : vregs))
        put("log2_clock_mhz", lg(p.clockMHz))
        put("log2_threads", lg(Double(cuda ? 1 : max(1, threads))))
        put("log2_peak_per_core", lg(units > 0 ? p.peakGFLOPS / units : 0))
    }
}
