import TuneCore

/// Convolution as im2col + sgemm per (image, group): the reference for conv2d and
/// depthwise conv2d, and their vendor baseline.
///
/// Layouts (shared by every backend):
/// - conv2d NCHW: input N,C,H,W; weight K,C/groups,R,S (OIHW); output N,K,P,Q.
/// - conv2d NHWC: input N,H,W,C; weight K,R,S,C/groups (OHWI); output N,P,Q,K.
/// - depthwise NCHW: weight C,R,S. Depthwise NHWC: weight R,S,C.
struct Im2colConv {
    let n: Int, c: Int, h: Int, w: Int, k: Int, r: Int, s: Int
    let stride: Int, pad: Int, dil: Int, groups: Int
    let nchw: Bool, depthwise: Bool
    let p: Int, q: Int

    init?(task: TaskSpec) {
        switch task.op {
        case .conv2d: k = task["k"]; groups = task["groups"]; depthwise = false
        case .depthwiseConv2d: k = task["c"]; groups = task["c"]; depthwise = true
        default: return nil
        }
        n = task["n"]; c = task["c"]; h = task["h"]; w = task["w"]; r = task["r"]; s = task["s"]
        stride = task["stride"]; pad = task["pad"]; dil = task["dil"]
        nchw = task["layout"] == ConvLayout.nchw.rawValue
        p = task.outputHeight; q = task.outputWidth
    }

    var cpg: Int { c / groups }
    var kpg: Int { k / groups }
    private var colCount: Int { cpg * r * s * p * q }
    /// Floats of scratch `run` needs.
    var workspaceCount: Int { colCount + (depthwise && !nchw ? c * r * s : 0) }

    func run(input: UnsafePointer<Float>, weight wIn: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
             workspace: UnsafeMutablePointer<Float>) {
        let col = workspace
        var weight = wIn
        if depthwise && !nchw {
            // R,S,C -> C,R,S so that it reads as OHWI with one channel per group.
            let t = workspace + colCount
            for rs in 0..<(r * s) { for ch in 0..<c { t[ch * r * s + rs] = wIn[rs * c + ch] } }
            weight = UnsafePointer(t)
        }
        let pq = p * q, rsc = cpg * r * s
        for img in 0..<n {
            for g in 0..<groups {
                fillColumns(col, input: input, image: img, group: g)
                let wg = weight + g * kpg * rsc
                if nchw {
                    BLAS.sgemm(m: kpg, n: pq, k: rsc, a: wg, lda: rsc, b: col, ldb: pq,
                               c: output + (img * k + g * kpg) * pq, ldc: pq)
                } else {
                    BLAS.sgemm(m: pq, n: kpg, k: rsc, a: col, lda: rsc, b: wg, ldb: rsc, transB: true,
                               c: output + img * pq * k + g * kpg, ldc: k)
                }
            }
        }
    }

    /// NCHW: rows (ci, r, s) x columns (oh, ow). NHWC: rows (oh, ow) x columns (r, s, ci).
    private func fillColumns(_ col: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, image: Int, group g: Int) {
        let pq = p * q
        for oh in 0..<p {
            for ow in 0..<q {
                for rr in 0..<r {
                    let ih = oh * stride - pad + rr * dil
                    for ss in 0..<s {
                        let iw = ow * stride - pad + ss * dil
                        let inside = ih >= 0 && ih < h && iw >= 0 && iw < w
                        for ci in 0..<cpg {
                            let ch = g * cpg + ci
                            let v: Float
                            if !inside { v = 0 }
                            else if nchw { v = input[((image * c + ch) * h + ih) * w + iw] }
                            else { v = input[((image * h + ih) * w + iw) * c + ch] }
                            if nchw { col[((ci * r + rr) * s + ss) * pq + oh * q + ow] = v }
                            else { col[(oh * q + ow) * (r * s * cpg) + (rr * s + ss) * cpg + ci] = v }
                        }
                    }
                }
            }
        }
    }
}
