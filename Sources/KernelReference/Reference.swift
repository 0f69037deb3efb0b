#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TuneCore

/// Reference results for every operator: OpenBLAS for the GEMM-shaped ones (im2col for
/// convolutions), plain double-precision loops for softmax and elementwise chains.
public enum Reference {
    /// Computes the outputs of `buffers` from its inputs.
    public static func compute(_ buffers: TensorBuffers) {
        let t = buffers.task
        let a = buffers.args
        switch t.op {
        case .matmul:
            let m = t["m"], n = t["n"], k = t["k"], hasBias = t["bias"] == 1
            let out = a[hasBias ? 3 : 2]
            BLAS.sgemm(m: m, n: n, k: k, a: a[0], lda: k, b: a[1], ldb: n, c: out, ldc: n)
            Activations.epilogue(out, m: m, n: n, ldc: n, bias: hasBias ? UnsafePointer(a[2]) : nil,
                                 act: Activation(rawValue: t["act"]) ?? .none)
        case .batchMatmul:
            let m = t["m"], n = t["n"], k = t["k"]
            for b in 0..<t["b"] {
                BLAS.sgemm(m: m, n: n, k: k, a: a[0] + b * m * k, lda: k, b: a[1] + b * k * n, ldb: n,
                           c: a[2] + b * m * n, ldc: n)
            }
        case .conv2d, .depthwiseConv2d:
            guard let conv = Im2colConv(task: t) else { return }
            let ws = UnsafeMutablePointer<Float>.allocate(capacity: max(1, conv.workspaceCount))
            defer { ws.deallocate() }
            conv.run(input: a[0], weight: a[1], output: a[2], workspace: ws)
        case .softmax:
            softmax(x: a[0], y: a[1], rows: t["rows"], cols: t["cols"])
        case .elementwise:
            for i in 0..<t["n"] {
                a[2][i] = Float(chain(t["chain"], Double(a[0][i]), Double(a[1][i])))
            }
        }
    }

    /// The elementwise chains (documented on the task's `chain` parameter):
    /// 0: x + y; 1: relu(x + y); 2: tanh(x * y + x); 3: gelu(x + y).
    public static func chain(_ id: Int, _ x: Double, _ y: Double) -> Double {
        switch id {
        case 0: return x + y
        case 1: return Activations.apply(.relu, x + y)
        case 2: return tanh(x * y + x)
        default: return Activations.apply(.gelu, x + y)
        }
    }

    static func softmax(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let xr = x + r * cols, yr = y + r * cols
            var mx = -Double.infinity
            for j in 0..<cols { mx = max(mx, Double(xr[j])) }
            var sum = 0.0
            for j in 0..<cols { sum += exp(Double(xr[j]) - mx) }
            for j in 0..<cols { yr[j] = Float(exp(Double(xr[j]) - mx) / sum) }
        }
    }
}
