import Foundation
import KernelReference
import TuneCore

/// Straightforward loops in double, written from the layout definitions alone.
enum Naive {
    static func output(_ task: TaskSpec, _ b: TensorBuffers) -> [Double] {
        let a = { (i: Int, j: Int) in Double(b.args[i][j]) }
        switch task.op {
        case .matmul:
            let m = task["m"], n = task["n"], k = task["k"], bias = task["bias"] == 1
            return (0..<(m * n)).map { idx in
                let i = idx / n, j = idx % n
                var s = (0..<k).reduce(0.0) { $0 + a(0, i * k + $1) * a(1, $1 * n + j) }
                if bias { s += a(2, j) }
                switch task["act"] {
                case 1: return max(s, 0)
                case 2: return 0.5 * s * (1 + tanh(0.7978845608 * (s + 0.044715 * s * s * s)))
                default: return s
                }
            }
        case .batchMatmul:
            let m = task["m"], n = task["n"], k = task["k"]
            return (0..<(task["b"] * m * n)).map { idx in
                let bt = idx / (m * n), i = idx % (m * n) / n, j = idx % n
                return (0..<k).reduce(0.0) { $0 + a(0, bt * m * k + i * k + $1) * a(1, bt * k * n + $1 * n + j) }
            }
        case .conv2d, .depthwiseConv2d:
            return conv(task, b)
        case .softmax:
            let rows = task["rows"], cols = task["cols"]
            return (0..<(rows * cols)).map { idx in
                let r = idx / cols
                let row = (0..<cols).map { a(0, r * cols + $0) }
                let mx = row.max()!
                return exp(row[idx % cols] - mx) / row.reduce(0) { $0 + exp($1 - mx) }
            }
        case .elementwise:
            return (0..<task["n"]).map { Reference.chain(task["chain"], a(0, $0), a(1, $0)) }
        }
    }

    private static func conv(_ t: TaskSpec, _ b: TensorBuffers) -> [Double] {
        let dw = t.op == .depthwiseConv2d
        let n = t["n"], c = t["c"], h = t["h"], w = t["w"], r = t["r"], s = t["s"]
        let k = dw ? c : t["k"], groups = dw ? c : t["groups"], nchw = t["layout"] == 0
        let p = t.outputHeight, q = t.outputWidth, cpg = c / groups, kpg = k / groups
        var out = [Double](repeating: 0, count: n * k * p * q)
        for img in 0..<n { for ko in 0..<k { for oh in 0..<p { for ow in 0..<q {
            var sum = 0.0
            let g = ko / kpg
            for ci in 0..<cpg { for rr in 0..<r { for ss in 0..<s {
                let ih = oh * t["stride"] - t["pad"] + rr * t["dil"], iw = ow * t["stride"] - t["pad"] + ss * t["dil"]
                guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                let ch = g * cpg + ci
                let x = nchw ? b.args[0][((img * c + ch) * h + ih) * w + iw] : b.args[0][((img * h + ih) * w + iw) * c + ch]
                let wt: Float
                if dw { wt = nchw ? b.args[1][(ko * r + rr) * s + ss] : b.args[1][(rr * s + ss) * c + ko] }
                else { wt = nchw ? b.args[1][((ko * cpg + ci) * r + rr) * s + ss] : b.args[1][((ko * r + rr) * s + ss) * cpg + ci] }
                sum += Double(x) * Double(wt)
            } } }
            out[nchw ? ((img * k + ko) * p + oh) * q + ow : ((img * p + oh) * q + ow) * k + ko] = sum
        } } } }
        return out
    }
}
