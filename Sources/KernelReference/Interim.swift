import COpenBLAS
import TuneCore
#if canImport(Glibc)
import Glibc
#endif

// Interim reference, buffers and vendor baseline for matmul; replaced by the full module.

/// 64-byte aligned buffers for every tensor of a task, with an argument array in kernel order.
public final class TensorBuffers {
    public let task: TaskSpec
    public let pointers: [UnsafeMutablePointer<Float>]
    public let args: UnsafeMutablePointer<UnsafeMutablePointer<Float>>

    public init(task: TaskSpec) {
        self.task = task
        pointers = task.tensors.map { t in
            var raw: UnsafeMutableRawPointer?
            posix_memalign(&raw, 64, max(t.elementCount, 1) * 4)
            return raw!.bindMemory(to: Float.self, capacity: max(t.elementCount, 1))
        }
        args = .allocate(capacity: pointers.count)
        for (i, p) in pointers.enumerated() { args[i] = p }
        var rng = SplitMix64(seed: FNV1a.hash(task.name))
        for (i, t) in task.tensors.enumerated() where t.role == .input {
            for e in 0..<t.elementCount { pointers[i][e] = Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) }
        }
        poisonOutputs()
    }

    deinit {
        for p in pointers { free(p) }
        args.deallocate()
    }

    public func poisonOutputs() {
        for (i, t) in task.tensors.enumerated() where t.role == .output {
            for e in 0..<t.elementCount { pointers[i][e] = .nan }
        }
    }

    public var outputIndex: Int { task.tensors.lastIndex { $0.role == .output }! }
    public func output() -> [Float] {
        let i = outputIndex
        return Array(UnsafeBufferPointer(start: pointers[i], count: task.tensors[i].elementCount))
    }
}

public final class VendorKernel {
    public let name = "openblas"
    let task: TaskSpec
    let threads: Int
    init(task: TaskSpec, threads: Int) { self.task = task; self.threads = threads }

    public static func make(task: TaskSpec, threads: Int) -> VendorKernel? {
        task.op == .matmul ? VendorKernel(task: task, threads: threads) : nil
    }

    public func run(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32 {
        openblas_set_num_threads(Int32(threads))
        let M = Int32(task["m"]), N = Int32(task["n"]), K = Int32(task["k"])
        let bias = task["bias"] == 1
        let C = args[bias ? 3 : 2]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, args[0], K, args[1], N, 0, C, N)
        let act = Activation(rawValue: task["act"]) ?? .none
        if bias || act != .none {
            let b = bias ? args[2] : nil
            for i in 0..<Int(M) {
                for j in 0..<Int(N) {
                    var v = C[i * Int(N) + j] + (b?[j] ?? 0)
                    switch act {
                    case .none: break
                    case .relu: v = max(v, 0)
                    case .gelu: v = 0.5 * v * (1 + tanhf(0.7978845608 * (v + 0.044715 * v * v * v)))
                    }
                    C[i * Int(N) + j] = v
                }
            }
        }
        return 0
    }
}

public enum Verifier {
    /// nil when `got` matches `expected` within a tolerance for the dtype and reduction length.
    public static func check(got: [Float], expected: [Float], task: TaskSpec) -> String? {
        guard got.count == expected.count else { return "output has \(got.count) elements, expected \(expected.count)" }
        let tol = task.dtype.epsilon * 16 * Double(task.reductionLength).squareRoot() + 1e-6
        for i in 0..<got.count {
            let g = Double(got[i]), e = Double(expected[i])
            if g.isNaN { return "element \(i) was never written (poison left)" }
            if abs(g - e) > tol * max(1, abs(e)) * 8 {
                return "element \(i): got \(g), expected \(e) (tolerance \(tol))"
            }
        }
        return nil
    }
}
