import TuneCore

/// cuBLAS SGEMM as the vendor baseline for matmul and batch matmul, in FP32 with tensor
/// cores (TF32) off, timed through the same event harness as generated kernels.
///
/// The baseline times the GEMM only: a matmul task's bias and activation epilogue are not
/// applied (cuBLAS has no fused epilogue in this API), so its output is `A x B`.
public final class CUBLASBaseline {
    let api: CUBLASAPI
    public let context: CUDAContext
    private var handle: OpaquePointer?

    /// `pedantic` selects CUBLAS_PEDANTIC_MATH (no reduced-precision shortcuts at all);
    /// otherwise CUBLAS_DEFAULT_MATH, which for SGEMM is plain FP32 (TF32 is opt-in).
    public init(context: CUDAContext, libraries: CUDALibraries = .shared, pedantic: Bool = false) throws(CUDAError) {
        self.context = context
        api = try libraries.cublas()
        var h: OpaquePointer? = nil
        try api.check(api.cublasCreate(&h), "cublasCreate_v2")
        handle = h
        try api.check(api.cublasSetMathMode(h, pedantic ? 2 : 0), "cublasSetMathMode")
    }

    deinit { if let h = handle { _ = api.cublasDestroy(h) } }

    public static func supports(_ task: TaskSpec) -> Bool { task.op == .matmul || task.op == .batchMatmul }

    /// Runs row-major `C = A x B` once for the task's buffers; row-major is obtained as the
    /// column-major product `C^T = B^T x A^T` (swap operands, no transposes).
    func gemm(task: TaskSpec, a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer) throws(CUDAError) {
        let m = Int32(task["m"]), n = Int32(task["n"]), k = Int32(task["k"])
        // Follow the context onto its capture stream, so a graph can record the GEMM.
        if let setStream = api.cublasSetStream { try api.check(setStream(handle, context.stream), "cublasSetStream_v2") }
        var alpha: Float = 1, beta: Float = 0
        let r: Int32
        if task.op == .batchMatmul {
            r = api.cublasSgemmStridedBatched(handle, 0, 0, n, m, k, &alpha, b.address, n, Int64(k) * Int64(n),
                                              a.address, k, Int64(m) * Int64(k), &beta, c.address, n,
                                              Int64(m) * Int64(n), Int32(task["b"]))
        } else {
            r = api.cublasSgemm(handle, 0, 0, n, m, k, &alpha, b.address, n, a.address, k, &beta, c.address, n)
        }
        try api.check(r, task.op == .batchMatmul ? "cublasSgemmStridedBatched" : "cublasSgemm_v2")
    }

    /// Uploads `inputs` (task tensor order, inputs only; a bias is ignored), runs once and
    /// returns the product (for a sanity check) and timing samples under `plan`.
    public func measure(task: TaskSpec, inputs: [[Float]], plan: MeasurePlan,
                        l2Bytes: Int) throws(CUDAError) -> (output: [Float], timed: TimedRuns) {
        guard Self.supports(task) else {
            throw CUDAError(kind: .invalidArgument, function: "CUBLASBaseline", message: "no cuBLAS baseline for \(task.op.rawValue)")
        }
        let tensors = task.tensors
        guard inputs.count >= 2, inputs[0].count == tensors[0].elementCount, inputs[1].count == tensors[1].elementCount else {
            throw CUDAError(kind: .invalidArgument, function: "CUBLASBaseline", message: "inputs do not match \(task.name)")
        }
        let outCount = tensors[tensors.count - 1].elementCount
        let a = try context.allocate(bytes: inputs[0].count * 4)
        let b = try context.allocate(bytes: inputs[1].count * 4)
        let c = try context.allocate(bytes: outCount * 4)
        defer { context.free(a); context.free(b); context.free(c) }
        try context.upload(inputs[0], to: a)
        try context.upload(inputs[1], to: b)
        try context.fill(c, pattern: outputPoisonPattern, count: outCount)
        try gemm(task: task, a: a, b: b, c: c)
        try context.synchronize()
        let output = try context.download(c, count: outCount)
        let timer = try EventTimer(context: context, l2Bytes: plan.flushCache ? l2Bytes : 0)
        defer { timer.release() }
        let timed = try timer.samples(plan: plan, graph: api.cublasSetStream != nil) { () throws(CUDAError) in
            try gemm(task: task, a: a, b: b, c: c)
        }
        return (output, timed)
    }
}
