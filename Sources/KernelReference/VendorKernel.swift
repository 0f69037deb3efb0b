import TuneCore

/// One vendor library's routine for a task, behind the generated kernels' argument order,
/// so one timing harness measures them all. `prepare` does what a deployed model does once
/// (bind buffers, reorder weights into the library's layout) and is not timed; `run` is the
/// timed call; `finish` puts the output into the task's layout after a run that is verified.
public protocol VendorRoutine: AnyObject {
    /// The library: openblas, onednn.
    var library: String { get }
    /// What it runs (sgemm, im2col+sgemm, the oneDNN implementation's name).
    var routine: String { get }
    /// Library facts recorded with the baseline (version, implementation).
    var detail: [String: String] { get }
    func prepare(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32
    func run(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32
    func finish(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32
}

extension VendorRoutine {
    /// A routine that works on the task's own layouts has nothing to prepare or put back.
    public func prepare(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32 { 0 }
    public func finish(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32 { 0 }
}

/// Every vendor library the agent can time for a task: OpenBLAS where it has a routine,
/// oneDNN where it has an implementation, BLIS for the GEMM-shaped tasks; the reasons for
/// the ones missing.
public enum VendorLibraries {
    public static func routines(task: TaskSpec, threads: Int) -> (routines: [any VendorRoutine], missing: [String]) {
        var out: [any VendorRoutine] = [], missing: [String] = []
        if let blas = VendorKernel.make(task: task, threads: threads) { out.append(blas) } else {
            missing.append("openblas has no routine for \(task.op.rawValue)")
        }
        do { out.append(try OneDNNKernel(task: task, threads: threads)) } catch { missing.append(error.description) }
        do { out.append(try BLISKernel(task: task, threads: threads)) } catch { missing.append(error.description) }
        return (out, missing)
    }
}

/// The vendor library's version of a task behind the generated kernels' ABI, so one timing
/// harness measures both: OpenBLAS sgemm (+ bias/activation) for matmul (sgemv when a side
/// is 1, as a user would call it: 6-9x faster than sgemm at 1x1000x2048), one sgemm per
/// batch for batch_matmul, im2col + sgemm for conv2d and depthwise conv2d. Owns its
/// workspace; not reentrant (one call at a time, like generated kernels).
public final class VendorKernel: VendorRoutine {
    public let name: String
    public var library: String { name }
    public var detail: [String: String] { [:] }
    /// The library routine timed: sgemm, sgemv, or im2col + sgemm.
    public let routine: String
    public let task: TaskSpec
    private let threads: Int
    private let conv: Im2colConv?
    private let workspace: UnsafeMutablePointer<Float>?

    /// nil for operators without a vendor routine (softmax, elementwise).
    public static func make(task: TaskSpec, threads: Int) -> VendorKernel? {
        switch task.op {
        case .matmul, .batchMatmul, .conv2d, .depthwiseConv2d:
            return VendorKernel(task: task, threads: threads)
        case .softmax, .elementwise:
            return nil
        }
    }

    private init(task: TaskSpec, threads: Int) {
        name = "openblas"
        self.task = task
        routine = task.op == .matmul && (task["m"] == 1 || task["n"] == 1) ? "sgemv"
            : task.op == .conv2d || task.op == .depthwiseConv2d ? "im2col+sgemm" : "sgemm"
        self.threads = max(1, threads)
        conv = Im2colConv(task: task)
        if let conv {
            workspace = .allocate(capacity: max(1, conv.workspaceCount))
        } else {
            workspace = nil
        }
    }

    deinit { workspace?.deallocate() }

    /// Runs once on `args` (in `TaskSpec.tensors` order); returns 0.
    public func run(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32 {
        BLAS.setThreads(threads)
        let t = task
        switch t.op {
        case .matmul:
            let m = t["m"], n = t["n"], k = t["k"], hasBias = t["bias"] == 1
            let out = args[hasBias ? 3 : 2]
            if m == 1 {
                BLAS.sgemv(rows: k, cols: n, a: args[1], trans: true, x: args[0], y: out)     // c = B^T a
            } else if n == 1 {
                BLAS.sgemv(rows: m, cols: k, a: args[0], trans: false, x: args[1], y: out)    // c = A b
            } else {
                BLAS.sgemm(m: m, n: n, k: k, a: args[0], lda: k, b: args[1], ldb: n, c: out, ldc: n)
            }
            let act = Activation(rawValue: t["act"]) ?? .none
            if hasBias || act != .none { Self.epilogue(out, m: m, n: n, bias: hasBias ? args[2] : nil, act: act) }
        case .batchMatmul:
            let m = t["m"], n = t["n"], k = t["k"]
            for b in 0..<t["b"] {
                BLAS.sgemm(m: m, n: n, k: k, a: args[0] + b * m * k, lda: k, b: args[1] + b * k * n, ldb: n,
                           c: args[2] + b * m * n, ldc: n)
            }
        case .conv2d, .depthwiseConv2d:
            guard let conv, let workspace else { return 1 }
            conv.run(input: args[0], weight: args[1], output: args[2], workspace: workspace)
        case .softmax, .elementwise:
            return 1
        }
        return 0
    }

    /// A float epilogue, as a user of the library would write it (the reference's is double).
    static func epilogue(_ c: UnsafeMutablePointer<Float>, m: Int, n: Int, bias: UnsafeMutablePointer<Float>?, act: Activation) {
        for i in 0..<m {
            for j in 0..<n {
                var v = c[i * n + j]
                if let bias { v += bias[j] }
                switch act {
                case .none: break
                case .relu: v = v > 0 ? v : 0
                case .gelu: v = Float(Activations.apply(.gelu, Double(v)))
                }
                c[i * n + j] = v
            }
        }
    }
}
