import TuneCore

/// CUDA schedule spaces and code generation for every operator. Pure: no I/O, no clock.
///
/// Generated kernels take their tensor pointers in `TaskSpec.tensors` order (inputs, then
/// outputs) with every shape baked in as a constant. Layout conventions (the reference must
/// use the same ones):
/// - matmul: `A[m][k]`, `B[k][n]`, `C[m][n]` row-major, `bias[n]`; gelu is the tanh
///   approximation `0.5 x (1 + tanh(0.7978845608 (x + 0.044715 x^3)))`, as in
///   KernelReference and the CPU kernels. batch_matmul: `A[b][m][k]`, `B[b][k][n]`.
/// - conv2d NCHW: input `[n][c][h][w]`, weight `[k][c/g][r][s]`, output `[n][k][p][q]`.
///   conv2d NHWC: input `[n][h][w][c]`, weight `[k][r][s][c/g]` (OHWI), output `[n][p][q][k]`.
/// - depthwise_conv2d: weight `[c][r][s]` in NCHW, `[r][s][c]` in NHWC (channels innermost,
///   so four channels load as one float4); activations as conv2d.
/// - softmax over the last axis of `x[rows][cols]`.
/// - elementwise `z = f(x, y)` by `chain`: 0 `x + y`, 1 `relu(x + y)`, 2 `tanh(x * y + x)`,
///   3 `gelu(x + y)` (KernelReference's `Reference.chain` is the authority).
public enum CUDAKernels {
    /// Name of the test-only knob: 1 writes to an illegal address, 2 never returns,
    /// 3 corrupts one output value. Never part of a space's knob list.
    public static let faultKnob = "fault"

    /// The schedule space of a task on a device, or nil when no template exists.
    public static func space(for task: TaskSpec, device: DeviceProfile) -> (any ScheduleSpace)? {
        guard task.dtype == .f32 else { return nil }
        let limits = DeviceLimits(device)
        switch task.op {
        case .matmul, .batchMatmul, .conv2d:
            guard let problem = GemmProblem(task: task) else { return nil }
            return GemmTemplate.space(problem: problem, limits: limits)
        case .depthwiseConv2d: return DepthwiseTemplate.space(task: task, limits: limits)
        case .softmax: return SoftmaxTemplate.space(task: task, limits: limits)
        case .elementwise: return ElementwiseTemplate.space(task: task, limits: limits)
        }
    }

    /// Validates `schedule` against the task's space on `device` and generates the kernel.
    /// The `fault` knob is accepted only with `options.allowFaultInjection`.
    public static func generate(task: TaskSpec, schedule: Schedule, device: DeviceProfile,
                                options: CodegenOptions) throws(ScheduleError) -> GeneratedKernel {
        guard let space = space(for: task, device: device) else {
            throw .constraint("no CUDA template for \(task.op.rawValue) with dtype \(task.dtype.rawValue)")
        }
        var values = schedule.values
        var fault = 0
        if options.allowFaultInjection, let f = values.removeValue(forKey: faultKnob) {
            guard (0...3).contains(f) else { throw .outOfDomain(knob: faultKnob, value: f, allowed: [0, 1, 2, 3]) }
            fault = f
        }
        let core = space.completing(Schedule(values))
        try space.validate(core)
        // Entry names are unique per task and schedule so that sources can be concatenated
        // (host-shim tests) and a profiler trace names the candidate.
        let tag = String(FNV1a.hex(task.name + "|" + space.completing(schedule).encoding).prefix(12))
        let limits = DeviceLimits(device)
        switch task.op {
        case .matmul, .batchMatmul, .conv2d:
            guard let problem = GemmProblem(task: task) else { throw .constraint("unsupported GEMM shape") }
            let config = try GemmConfig(validated: core)
            return GemmTemplate.generate(problem: problem, config: config, tag: tag, fault: fault, limits: limits)
        case .depthwiseConv2d:
            return try DepthwiseTemplate.generate(task: task, schedule: core, tag: tag, fault: fault)
        case .softmax:
            return try SoftmaxTemplate.generate(task: task, schedule: core, tag: tag, fault: fault)
        case .elementwise:
            return try ElementwiseTemplate.generate(task: task, schedule: core, tag: tag, fault: fault)
        }
    }

    /// Source lines shared by every generated kernel; guarded so sources can be concatenated.
    static let prelude = """
    #ifndef TF_PRELUDE
    #define TF_PRELUDE
    #ifndef TF_HOST_SHIM
    #define TF_DYN_SMEM(name) extern __shared__ __align__(16) float name[]
    #endif
    // The tanh approximation, as the reference and the CPU kernels define gelu.
    static __device__ __forceinline__ float tf_gelu(float x) {
        return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
    }
    #define TF_GELU(x) tf_gelu(x)
    #endif

    """

    /// Statements at the top of a kernel for fault kinds 1 and 2 (kind 3 is per template).
    static func faultPrologue(_ fault: Int) -> String {
        switch fault {
        case 1:
            // Address 16 is never mapped: CUDA_ERROR_ILLEGAL_ADDRESS, a sticky error.
            return "    if (threadIdx.x == 0 && blockIdx.x == 0) { *(volatile float*)(size_t)16 = 1.0f; }\n"
        case 2:
            // clock64() is a volatile read of the SM clock: unlike a volatile local (which
            // NVRTC dropped on the H100, so the "hang" ran to completion), it cannot be
            // optimized away, and it never goes backwards, so the loop never ends.
            return "    { long long tf_start = clock64(); while (clock64() >= tf_start) { } }\n"
        default: return ""
        }
    }
}

/// Device limits the spaces check against, with defaults for fields a profile left at 0.
struct DeviceLimits: Sendable {
    var maxThreads: Int
    var sharedBytes: Int
    var sharedOptin: Int
    var registersPerBlock: Int
    var smCount: Int

    init(_ d: DeviceProfile) {
        maxThreads = d.maxThreadsPerBlock > 0 ? d.maxThreadsPerBlock : 1024
        sharedBytes = d.sharedMemPerBlock > 0 ? d.sharedMemPerBlock : 48 * 1024
        sharedOptin = max(sharedBytes, d.sharedMemPerBlockOptin)
        registersPerBlock = d.registersPerBlock > 0 ? d.registersPerBlock : 65536
        smCount = d.smCount > 0 ? d.smCount : 80
        registersPerSM = d.registersPerSM > 0 ? d.registersPerSM : 65536
        l2Bytes = d.l2Bytes > 0 ? d.l2Bytes : 40 << 20
    }

    var registersPerSM: Int = 65536
    var l2Bytes: Int = 40 << 20
    /// Resident threads per SM on every architecture since Volta but Turing's 1024.
    var threadsPerSM: Int { 2048 }

    /// Features every CUDA template shares: threads per block, blocks per SM, waves and an
    /// occupancy estimate from threads, registers per thread and shared memory per block.
    func launchFeatures(_ f: inout DerivedFeatures, blocks: Int, threads: Int, registersPerThread: Int, sharedBytes: Int) {
        let threads = max(1, threads)
        let byThreads = threadsPerSM / threads
        let byRegisters = registersPerSM / max(1, registersPerThread * threads)
        let bySmem = sharedBytes > 0 ? sharedOptin / sharedBytes : 32
        let resident = max(1, min(32, byThreads, byRegisters, bySmem))
        f[.threadsPerBlockRatio] = Double(threads) / Double(maxThreads)
        f[.blocksPerSM] = DerivedFeatures.log2p(Double(blocks) / Double(smCount))
        f[.waves] = Double((blocks + smCount * resident - 1) / (smCount * resident))
        f[.occupancy] = min(1, Double(resident * threads) / Double(threadsPerSM))
        f[.sharedMemoryRatio] = Double(sharedBytes) / Double(sharedOptin)
    }
}

/// A space given by knob domains, a constraint function, and what a schedule means for the
/// device (its hardware-normalized features).
struct KnobSpace: FeaturedSpace {
    let knobs: [KnobDomain]
    let check: @Sendable (Schedule) -> String?
    var features: @Sendable (Schedule) -> DerivedFeatures = { _ in DerivedFeatures() }
    let featureFamily: String
    init(family: String, knobs: [KnobDomain], check: @escaping @Sendable (Schedule) -> String?) {
        featureFamily = family; self.knobs = knobs; self.check = check
    }
    func constraintViolation(_ schedule: Schedule) -> String? { check(schedule) }
    func derivedFeatures(_ schedule: Schedule) -> DerivedFeatures { features(completing(schedule)) }
}

/// Grid dimension limits of every CUDA device since compute capability 3.0.
let maxGridY = 65535, maxGridZ = 65535, maxGridX = Int(Int32.max)

func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
