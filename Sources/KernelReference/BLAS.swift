import COpenBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TuneCore

/// Thin typed calls into OpenBLAS (row-major single precision).
enum BLAS {
    /// C = A * op(B) (+ beta * C); op(B) = B^T when `transB`.
    static func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      transB: Bool = false, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
    }

    /// y = op(A) x for a row-major rows x cols A; op(A) = A^T when `trans`.
    static func sgemv(rows: Int, cols: Int, a: UnsafePointer<Float>, trans: Bool, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(rows), Int32(cols), 1, a, Int32(cols), x, 1, 0, y, 1)
    }

    static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
}

/// Which OpenBLAS this process loaded and which kernel set it chose.
public enum OpenBLASInfo {
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
    public static var config: String { openblas_get_config().map { String(cString: $0) } ?? "unknown" }
}

/// Activations as the kernels define them (GELU: tanh approximation), in double.
enum Activations {
    static func apply(_ act: Activation, _ x: Double) -> Double {
        switch act {
        case .none: return x
        case .relu: return x > 0 ? x : 0
        case .gelu: return 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x * x * x)))
        }
    }

    /// Bias and activation over an m x n row-major block (leading dimension ldc).
    static func epilogue(_ c: UnsafeMutablePointer<Float>, m: Int, n: Int, ldc: Int, bias: UnsafePointer<Float>?, act: Activation) {
        guard bias != nil || act != .none else { return }
        for i in 0..<m {
            for j in 0..<n {
                var v = Double(c[i * ldc + j])
                if let bias { v += Double(bias[j]) }
                c[i * ldc + j] = Float(apply(act, v))
            }
        }
    }
}
