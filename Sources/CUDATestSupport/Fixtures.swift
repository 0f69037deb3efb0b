#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TuneCore

/// An H100-like profile (figures from the GPU node) so spaces are checked against real limits.
public func h100Profile() -> DeviceProfile {
    var p = DeviceProfile(deviceClass: .cuda, model: "NVIDIA H100 80GB HBM3")
    p.smCount = 132
    p.maxThreadsPerBlock = 1024
    p.sharedMemPerBlock = 48 * 1024
    p.sharedMemPerBlockOptin = 232_448
    p.registersPerSM = 65536
    p.registersPerBlock = 65536
    p.warpSize = 32
    p.l2Bytes = 50 * 1024 * 1024
    p.computeCapability = "9.0"
    return p
}

public func a100Profile() -> DeviceProfile {
    var p = h100Profile()
    p.model = "NVIDIA A100-SXM4-40GB"
    p.smCount = 108
    p.sharedMemPerBlockOptin = 166_912
    p.l2Bytes = 40 * 1024 * 1024
    p.computeCapability = "8.0"
    return p
}

public func task(_ op: OperatorKind, _ params: [String: Int]) -> TaskSpec {
    // Test inputs are literals known to be valid.
    do { return try TaskSpec(op: op, params: params) } catch { preconditionFailure("bad test task: \(error)") }
}

/// Small tasks of every operator, with awkward sizes (not multiples of any tile).
public let smallTasks: [TaskSpec] = [
    task(.matmul, ["m": 37, "n": 45, "k": 52, "bias": 1, "act": 2]),
    task(.matmul, ["m": 33, "n": 40, "k": 64, "act": 1]),
    task(.matmul, ["m": 1, "n": 24, "k": 96, "bias": 1]),
    task(.batchMatmul, ["b": 3, "m": 20, "n": 24, "k": 16]),
    task(.conv2d, ["c": 8, "h": 9, "w": 9, "k": 12, "r": 3, "s": 3, "pad": 1, "stride": 2]),
    task(.conv2d, ["n": 2, "c": 8, "h": 7, "w": 7, "k": 8, "r": 3, "s": 3, "pad": 2, "dil": 2, "groups": 2]),
    task(.conv2d, ["c": 16, "h": 8, "w": 8, "k": 8, "r": 1, "s": 1]),
    task(.conv2d, ["n": 2, "c": 12, "h": 9, "w": 10, "k": 8, "r": 1, "s": 1, "stride": 2]),
    task(.conv2d, ["c": 4, "h": 5, "w": 6, "k": 8, "r": 1, "s": 1, "pad": 1]),
    task(.conv2d, ["n": 2, "c": 8, "h": 8, "w": 8, "k": 16, "r": 3, "s": 3, "pad": 1]),
    task(.conv2d, ["c": 8, "h": 7, "w": 7, "k": 8, "r": 3, "s": 3, "pad": 1, "groups": 2, "layout": 1]),
    task(.conv2d, ["n": 2, "c": 4, "h": 6, "w": 5, "k": 6, "r": 1, "s": 1, "stride": 2, "layout": 1]),
    task(.depthwiseConv2d, ["c": 6, "h": 9, "w": 9, "r": 3, "s": 3, "pad": 1]),
    task(.depthwiseConv2d, ["c": 8, "h": 7, "w": 7, "r": 3, "s": 3, "pad": 1, "stride": 2, "layout": 1]),
    task(.softmax, ["rows": 10, "cols": 100]),
    task(.softmax, ["rows": 5, "cols": 64]),
    task(.elementwise, ["n": 1000, "chain": 3]),
    task(.elementwise, ["n": 1002, "chain": 1]),
]

/// Deterministic inputs in [-1, 1].
public func makeInputs(_ t: TaskSpec, seed: UInt64) -> [[Float]] {
    var rng = SplitMix64(seed: seed)
    return t.tensors.filter { $0.role == .input }.map { d in
        (0..<d.elementCount).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) }
    }
}

/// KernelReference's gelu: the tanh approximation.
public func gelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x * x * x))) }

/// A plain reference of every operator, in double precision, with the layouts documented
/// on `CUDAKernels`.
public func reference(_ t: TaskSpec, _ ins: [[Float]]) -> [Double] {
    func v(_ b: Int, _ i: Int) -> Double { Double(ins[b][i]) }
    switch t.op {
    case .matmul, .batchMatmul:
        let (m, n, k) = (t["m"], t["n"], t["k"])
        let batch = t.op == .batchMatmul ? t["b"] : 1
        let bias = t.op == .matmul && t["bias"] == 1
        let act = t.op == .matmul ? t["act"] : 0
        var out = [Double](repeating: 0, count: batch * m * n)
        for b in 0..<batch {
            for i in 0..<m {
                for j in 0..<n {
                    var acc = 0.0
                    for kk in 0..<k { acc += v(0, b * m * k + i * k + kk) * v(1, b * k * n + kk * n + j) }
                    if bias { acc += v(2, j) }
                    if act == 1 { acc = max(acc, 0) }
                    if act == 2 { acc = gelu(acc) }
                    out[b * m * n + i * n + j] = acc
                }
            }
        }
        return out
    case .conv2d:
        let (nb, c, h, w, k, r, s) = (t["n"], t["c"], t["h"], t["w"], t["k"], t["r"], t["s"])
        let (st, pad, dil, g) = (t["stride"], t["pad"], t["dil"], t["groups"])
        let (p, q) = (t.outputHeight, t.outputWidth)
        let nhwc = t["layout"] == 1
        let cg = c / g, kg = k / g
        var out = [Double](repeating: 0, count: nb * k * p * q)
        for n in 0..<nb { for ko in 0..<k { for y in 0..<p { for x in 0..<q {
            let grp = ko / kg
            var acc = 0.0
            for ci in 0..<cg { for ry in 0..<r { for sx in 0..<s {
                let hh = y * st - pad + ry * dil, ww = x * st - pad + sx * dil
                guard hh >= 0, hh < h, ww >= 0, ww < w else { continue }
                let cc = grp * cg + ci
                let xin = nhwc ? v(0, ((n * h + hh) * w + ww) * c + cc) : v(0, ((n * c + cc) * h + hh) * w + ww)
                let wt = nhwc ? v(1, ((ko * r + ry) * s + sx) * cg + ci) : v(1, ((ko * cg + ci) * r + ry) * s + sx)
                acc += xin * wt
            } } }
            let o = nhwc ? ((n * p + y) * q + x) * k + ko : ((n * k + ko) * p + y) * q + x
            out[o] = acc
        } } } }
        return out
    case .depthwiseConv2d:
        let (nb, c, h, w, r, s) = (t["n"], t["c"], t["h"], t["w"], t["r"], t["s"])
        let (st, pad, dil) = (t["stride"], t["pad"], t["dil"])
        let (p, q) = (t.outputHeight, t.outputWidth)
        let nhwc = t["layout"] == 1
        var out = [Double](repeating: 0, count: nb * c * p * q)
        for n in 0..<nb { for cc in 0..<c { for y in 0..<p { for x in 0..<q {
            var acc = 0.0
            for ry in 0..<r { for sx in 0..<s {
                let hh = y * st - pad + ry * dil, ww = x * st - pad + sx * dil
                guard hh >= 0, hh < h, ww >= 0, ww < w else { continue }
                let xin = nhwc ? v(0, ((n * h + hh) * w + ww) * c + cc) : v(0, ((n * c + cc) * h + hh) * w + ww)
                acc += xin * v(1, nhwc ? (ry * s + sx) * c + cc : (cc * r + ry) * s + sx)
            } }
            out[nhwc ? ((n * p + y) * q + x) * c + cc : ((n * c + cc) * p + y) * q + x] = acc
        } } } }
        return out
    case .softmax:
        let (rows, cols) = (t["rows"], t["cols"])
        var out = [Double](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            var mx = -Double.infinity
            for j in 0..<cols { mx = max(mx, v(0, i * cols + j)) }
            var sum = 0.0
            for j in 0..<cols { sum += exp(v(0, i * cols + j) - mx) }
            for j in 0..<cols { out[i * cols + j] = exp(v(0, i * cols + j) - mx) / sum }
        }
        return out
    case .elementwise:
        let chain = t["chain"]
        return (0..<t["n"]).map { i in
            let (x, y) = (v(0, i), v(1, i))
            switch chain {
            case 0: return x + y
            case 1: return max(x + y, 0)
            case 2: return tanh(x * y + x)
            default: return gelu(x + y)
            }
        }
    }
}

/// Index of the first element outside tolerance (fp32 accumulation over `reductionLength`).
public func firstMismatch(_ got: [Float], _ want: [Double], task t: TaskSpec) -> (Int, Float, Double)? {
    guard got.count == want.count else { return (-1, 0, 0) }
    let tol = 1e-5 * Double(max(1, t.reductionLength)).squareRoot() * 8
    for i in 0..<got.count {
        let g = Double(got[i])
        if !(abs(g - want[i]) <= tol * (1 + abs(want[i]))) { return (i, got[i], want[i]) }
    }
    return nil
}
