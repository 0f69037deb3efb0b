import TuneCore
#if canImport(Glibc)
import Glibc
#endif

/// BLIS (Debian libblis) as a third vendor library for the GEMM-shaped tasks: `bli_sgemm`
/// through its typed API for matmul (bias and activation in the same float epilogue as
/// OpenBLAS's) and one call per batch for batch matmul. Loaded at run time with
/// RTLD_LOCAL: BLIS also exports the CBLAS names, and linking it beside OpenBLAS would let
/// one library's `cblas_sgemm` silently answer for the other's.
public final class BLISKernel: VendorRoutine {
    public let library = "blis"
    public let routine = "bli_sgemm"
    public let task: TaskSpec
    private let threads: Int
    private let api: API

    typealias Gemm = @convention(c) (UInt32, UInt32, Int, Int, Int, UnsafePointer<Float>, UnsafePointer<Float>, Int, Int,
                                     UnsafePointer<Float>, Int, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void
    typealias SetThreads = @convention(c) (Int) -> Void
    typealias ArchID = @convention(c) () -> Int32
    typealias ArchName = @convention(c) (Int32) -> UnsafePointer<CChar>?

    struct API: @unchecked Sendable {
        let sgemm: Gemm
        let setThreads: SetThreads
        let architecture: String
    }

    /// The library, or why it is not there.
    static let loaded: Result<API, LoadFailure> = {
        guard let h = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL) ?? dlopen("libblis.so", RTLD_NOW | RTLD_LOCAL) else {
            return .failure(LoadFailure(description: "blis: libblis.so.4 not found (Debian: libblis-dev)"))
        }
        guard let g = dlsym(h, "bli_sgemm"), let t = dlsym(h, "bli_thread_set_num_threads") else {
            return .failure(LoadFailure(description: "blis: bli_sgemm or bli_thread_set_num_threads missing"))
        }
        var arch = "unknown"
        if let q = dlsym(h, "bli_arch_query_id"), let n = dlsym(h, "bli_arch_string"),
           let s = unsafeBitCast(n, to: ArchName.self)(unsafeBitCast(q, to: ArchID.self)()) {
            arch = String(cString: s)
        }
        return .success(API(sgemm: unsafeBitCast(g, to: Gemm.self), setThreads: unsafeBitCast(t, to: SetThreads.self), architecture: arch))
    }()

    public struct LoadFailure: Error, CustomStringConvertible { public var description: String }

    /// BLIS for `task` (matmul, batch matmul); throws why not.
    public init(task: TaskSpec, threads: Int) throws(LoadFailure) {
        guard task.op == .matmul || task.op == .batchMatmul else {
            throw LoadFailure(description: "blis has no routine for \(task.op.rawValue)")
        }
        switch Self.loaded {
        case .success(let api): self.api = api
        case .failure(let f): throw f
        }
        self.task = task
        self.threads = max(1, threads)
    }

    public var detail: [String: String] { ["blis_arch": api.architecture] }

    private static let noTranspose: UInt32 = 0

    public func run(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32 {
        api.setThreads(threads)
        var one: Float = 1, zero: Float = 0
        let t = task, m = t["m"], n = t["n"], k = t["k"]
        let batches = t.op == .batchMatmul ? t["b"] : 1
        let hasBias = t.op == .matmul && t["bias"] == 1
        let out = args[hasBias ? 3 : 2]
        for b in 0..<batches {
            // Row-major: row stride = columns, column stride = 1.
            api.sgemm(Self.noTranspose, Self.noTranspose, m, n, k, &one, args[0] + b * m * k, k, 1, args[1] + b * k * n, n, 1,
                      &zero, out + b * m * n, n, 1)
        }
        if t.op == .matmul {
            let act = Activation(rawValue: t["act"]) ?? .none
            if hasBias || act != .none { VendorKernel.epilogue(out, m: m, n: n, bias: hasBias ? args[2] : nil, act: act) }
        }
        return 0
    }
}
