import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// The few dense operations the transfer ranker is made of, forward and backward, on raw
/// row-major buffers. Linear layers go through OpenBLAS; attention is small per row and
/// runs as plain loops.
enum DenseOps {
    /// `y (n x out) = x (n x in) . W^T + b`, W being `out x in`; with `accumulate`, y keeps
    /// what it held (a residual connection) and the product is added to it.
    static func linear(_ x: UnsafePointer<Float>, rows n: Int, in inDim: Int, out outDim: Int,
                       w: UnsafePointer<Float>, b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        for r in 0..<n {
            let row = y + r * outDim
            if accumulate { for o in 0..<outDim { row[o] += b[o] } } else { for o in 0..<outDim { row[o] = b[o] } }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outDim), Int32(inDim), 1,
                    x, Int32(inDim), w, Int32(inDim), 1, y, Int32(outDim))
    }

    /// The gradients of `linear`: `dW += dy^T . x`, `db += sum of dy's rows`, and
    /// `dx (+)= dy . W` when dx is asked for.
    static func linearBackward(_ x: UnsafePointer<Float>, rows n: Int, in inDim: Int, out outDim: Int,
                               w: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                               dw: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>,
                               dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool = false) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outDim), Int32(inDim), Int32(n), 1,
                    dy, Int32(outDim), x, Int32(inDim), 1, dw, Int32(inDim))
        for r in 0..<n { let row = dy + r * outDim; for o in 0..<outDim { db[o] += row[o] } }
        if let dx {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(inDim), Int32(outDim), 1,
                        dy, Int32(outDim), w, Int32(inDim), accumulateDx ? 1 : 0, dx, Int32(inDim))
        }
    }

    static func relu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count where x[i] < 0 { x[i] = 0 }
    }

    /// Zeroes the gradient where the ReLU's output was zero.
    static func reluBackward(output: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count where output[i] <= 0 { gradient[i] = 0 }
    }

    /// Shape of one multi-head attention: `batch` independent rows, each with `queries` query
    /// tokens and `keys` key/value tokens of `width` values split into `heads` heads. Tokens
    /// are read with a stride so that Q, K and V can sit side by side in one projection.
    struct Attention {
        var batch: Int, queries: Int, keys: Int, width: Int, heads: Int
        var qStride: Int, kvStride: Int
        var headWidth: Int { width / heads }
        var probabilityCount: Int { batch * heads * queries * keys }
    }

    /// `o[b, i, head] = sum_j softmax_j(q[b, i, head] . k[b, j, head] / sqrt(dh)) v[b, j, head]`;
    /// o is contiguous (`batch x queries x width`); the probabilities are kept for backward.
    static func attention(_ a: Attention, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                          out o: UnsafeMutablePointer<Float>, probabilities p: UnsafeMutablePointer<Float>) {
        let dh = a.headWidth, scale = 1 / Float(dh).squareRoot()
        for b in 0..<a.batch {
            for h in 0..<a.heads {
                for i in 0..<a.queries {
                    let qi = q + (b * a.queries + i) * a.qStride + h * dh
                    let pi = p + ((b * a.heads + h) * a.queries + i) * a.keys
                    var top = -Float.infinity
                    for j in 0..<a.keys {
                        let kj = k + (b * a.keys + j) * a.kvStride + h * dh
                        var s: Float = 0
                        for c in 0..<dh { s += qi[c] * kj[c] }
                        pi[j] = s * scale
                        top = max(top, pi[j])
                    }
                    var sum: Float = 0
                    for j in 0..<a.keys { pi[j] = exp(pi[j] - top); sum += pi[j] }
                    for j in 0..<a.keys { pi[j] /= sum }
                    let oi = o + (b * a.queries + i) * a.width + h * dh
                    for c in 0..<dh { oi[c] = 0 }
                    for j in 0..<a.keys {
                        let vj = v + (b * a.keys + j) * a.kvStride + h * dh
                        let w = pi[j]
                        for c in 0..<dh { oi[c] += w * vj[c] }
                    }
                }
            }
        }
    }

    /// The gradients of `attention` with respect to q, k and v, added to dq, dk, dv (laid out
    /// with the same strides as q, k, v).
    static func attentionBackward(_ a: Attention, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                  probabilities p: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
                                  dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>) {
        let dh = a.headWidth, scale = 1 / Float(dh).squareRoot()
        var dp = [Float](repeating: 0, count: a.keys)
        for b in 0..<a.batch {
            for h in 0..<a.heads {
                for i in 0..<a.queries {
                    let pi = p + ((b * a.heads + h) * a.queries + i) * a.keys
                    let doi = dOut + (b * a.queries + i) * a.width + h * dh
                    var dot: Float = 0
                    for j in 0..<a.keys {
                        let vj = v + (b * a.keys + j) * a.kvStride + h * dh
                        let dvj = dv + (b * a.keys + j) * a.kvStride + h * dh
                        var s: Float = 0
                        for c in 0..<dh { s += doi[c] * vj[c]; dvj[c] += pi[j] * doi[c] }
                        dp[j] = s
                        dot += pi[j] * s
                    }
                    let qi = q + (b * a.queries + i) * a.qStride + h * dh
                    let dqi = dq + (b * a.queries + i) * a.qStride + h * dh
                    for j in 0..<a.keys {
                        let ds = pi[j] * (dp[j] - dot) * scale
                        let kj = k + (b * a.keys + j) * a.kvStride + h * dh
                        let dkj = dk + (b * a.keys + j) * a.kvStride + h * dh
                        for c in 0..<dh { dqi[c] += ds * kj[c]; dkj[c] += ds * qi[c] }
                    }
                }
            }
        }
    }
}

/// Adam over one flat parameter vector.
struct Adam {
    var learningRate: Float
    var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    private var m: [Float], v: [Float]
    private var step: Float = 0

    init(count: Int, learningRate: Float) {
        self.learningRate = learningRate
        m = [Float](repeating: 0, count: count); v = m
    }

    mutating func update(_ theta: inout [Float], gradient g: [Float]) {
        step += 1
        let c1 = 1 - pow(beta1, step), c2 = 1 - pow(beta2, step)
        for i in theta.indices {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
            theta[i] -= learningRate * (m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon)
        }
    }
}
