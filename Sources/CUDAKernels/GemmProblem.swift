import TuneCore

/// The GEMM view of matmul, batch matmul and convolution (implicit GEMM): C[M][N] = A[M][K]
/// x B[K][N], `batch` independent problems along grid z (matrices of a batch, or groups).
/// How an element of A or B is fetched is the only thing that differs between operators.
struct GemmProblem: Sendable {
    enum Fetch: Sendable, Equatable {
        /// `A[z][m][k]`, contiguous along k.
        case rowMajorA
        /// `B[z][k][n]`, contiguous along n.
        case rowMajorB
        /// im2col of an NCHW input: contiguous along m only for 1x1/stride 1/pad 0.
        case convInputNCHW
        /// im2col of an NHWC input: contiguous along k (channels innermost).
        case convInputNHWC
        /// Convolution weights `[k_out][k]` (KCRS or OHWI): contiguous along k.
        case convWeight
    }
    enum Output: Sendable, Equatable { case rowMajor, nchw, nhwc }
    /// Which tile dimension consecutive memory runs along.
    enum Contig: Sendable { case k, x }

    struct Conv: Sendable {
        var n, c, h, w, k, r, s, stride, pad, dil, groups, p, q: Int
        var cg: Int { c / groups }
        var kg: Int { k / groups }
    }

    let task: TaskSpec
    let M: Int, N: Int, K: Int
    let batch: Int
    let a: Fetch, b: Fetch
    let out: Output
    let bias: Bool
    let act: Activation
    let conv: Conv?
    /// Kernel parameter names in `TaskSpec.tensors` order.
    let tensorNames: [(name: String, isOutput: Bool)]

    init?(task: TaskSpec) {
        self.task = task
        tensorNames = task.tensors.map { ($0.name, $0.role == .output) }
        switch task.op {
        case .matmul, .batchMatmul:
            M = task["m"]; N = task["n"]; K = task["k"]
            batch = task.op == .batchMatmul ? task["b"] : 1
            a = .rowMajorA; b = .rowMajorB; out = .rowMajor
            bias = task.op == .matmul && task["bias"] == 1
            act = task.op == .matmul ? (Activation(rawValue: task["act"]) ?? .none) : .none
            conv = nil
        case .conv2d:
            let cv = Conv(n: task["n"], c: task["c"], h: task["h"], w: task["w"], k: task["k"], r: task["r"],
                          s: task["s"], stride: task["stride"], pad: task["pad"], dil: task["dil"],
                          groups: task["groups"], p: task.outputHeight, q: task.outputWidth)
            let nhwc = task["layout"] == ConvLayout.nhwc.rawValue
            M = cv.n * cv.p * cv.q; N = cv.kg; K = cv.cg * cv.r * cv.s
            batch = cv.groups
            a = nhwc ? .convInputNHWC : .convInputNCHW; b = .convWeight
            out = nhwc ? .nhwc : .nchw
            bias = false; act = .none
            conv = cv
        default:
            return nil
        }
    }

    func contig(_ f: Fetch) -> Contig {
        switch f {
        case .rowMajorA, .convInputNHWC, .convWeight: return .k
        case .rowMajorB, .convInputNCHW: return .x
        }
    }

    /// Whether 16-byte loads of four consecutive elements are aligned and in one run.
    func vectorizable(_ f: Fetch) -> Bool {
        switch f {
        case .rowMajorA: return K % 4 == 0
        case .rowMajorB: return N % 4 == 0
        case .convWeight: return K % 4 == 0
        case .convInputNHWC: return (conv?.cg ?? 1) % 4 == 0
        case .convInputNCHW:
            guard let c = conv else { return false }
            return c.r == 1 && c.s == 1 && c.stride == 1 && c.pad == 0 && (c.p * c.q) % 4 == 0
        }
    }

    var pointerA: String { tensorNames[0].name }
    var pointerB: String { tensorNames[1].name }
    var pointerOut: String { tensorNames[tensorNames.count - 1].name }
    var outputCount: Int { task.tensors[task.tensors.count - 1].elementCount }

    /// C statements that set `dst` (a float, or a float4 when `vec` is 4) to the operand
    /// element(s) at tile row/column `gx` and reduction index `gk`, zero outside the problem.
    /// `kLimit` is the end of this block's reduction range; `z` the batch/group index.
    func fetch(_ f: Fetch, gx: String, gk: String, vec: Int, dst: String, kLimit: String, z: String) -> String {
        let zero = vec == 4 ? "make_float4(0.f, 0.f, 0.f, 0.f)" : "0.f"
        func load(_ addr: String) -> String {
            vec == 4 ? "__ldg(reinterpret_cast<const float4*>(&\(addr)))" : "__ldg(&\(addr))"
        }
        switch f {
        case .rowMajorA:
            let base = batch > 1 ? "\(z) * \(M * K) + " : ""
            return "\(dst) = (\(gx) < \(M) && \(gk) < \(kLimit)) ? \(load("\(pointerA)[\(base)\(gx) * \(K) + \(gk)]")) : \(zero);"
        case .rowMajorB:
            let base = batch > 1 ? "\(z) * \(K * N) + " : ""
            return "\(dst) = (\(gx) < \(N) && \(gk) < \(kLimit)) ? \(load("\(pointerB)[\(base)\(gk) * \(N) + \(gx)]")) : \(zero);"
        case .convWeight:
            let c = conv!
            let row = batch > 1 ? "(\(z) * \(c.kg) + \(gx))" : gx
            return "\(dst) = (\(gx) < \(N) && \(gk) < \(kLimit)) ? \(load("\(pointerB)[\(row) * \(K) + \(gk)]")) : \(zero);"
        case .convInputNCHW:
            let c = conv!
            let pq = c.p * c.q
            let cBase = batch > 1 ? "\(z) * \(c.cg) + " : ""
            if c.r == 1 && c.s == 1 && c.stride == 1 && c.pad == 0 {
                // Pointwise: the pixel index is the input's own spatial index.
                return "{ const int nb = \(gx) / \(pq), pq = \(gx) % \(pq); "
                    + "\(dst) = (\(gx) < \(M) && \(gk) < \(kLimit)) ? \(load("\(pointerA)[(nb * \(c.c) + \(cBase)\(gk)) * \(pq) + pq]")) : \(zero); }"
            }
            let rs = c.r * c.s
            return "{ const int nb = \(gx) / \(pq), pq = \(gx) % \(pq), p = pq / \(c.q), q = pq % \(c.q); "
                + "const int ci = \(gk) / \(rs), rs = \(gk) % \(rs), r = rs / \(c.s), s = rs % \(c.s); "
                + "const int h = p * \(c.stride) - \(c.pad) + r * \(c.dil), w = q * \(c.stride) - \(c.pad) + s * \(c.dil); "
                + "\(dst) = (\(gx) < \(M) && \(gk) < \(kLimit) && (unsigned)h < \(c.h)u && (unsigned)w < \(c.w)u) ? "
                + "\(load("\(pointerA)[((nb * \(c.c) + \(cBase)ci) * \(c.h) + h) * \(c.w) + w]")) : \(zero); }"
        case .convInputNHWC:
            let c = conv!
            let pq = c.p * c.q
            let cBase = batch > 1 ? " + \(z) * \(c.cg)" : ""
            let sc = c.s * c.cg
            return "{ const int nb = \(gx) / \(pq), pq = \(gx) % \(pq), p = pq / \(c.q), q = pq % \(c.q); "
                + "const int r = \(gk) / \(sc), rem = \(gk) % \(sc), s = rem / \(c.cg), ci = rem % \(c.cg); "
                + "const int h = p * \(c.stride) - \(c.pad) + r * \(c.dil), w = q * \(c.stride) - \(c.pad) + s * \(c.dil); "
                + "\(dst) = (\(gx) < \(M) && \(gk) < \(kLimit) && (unsigned)h < \(c.h)u && (unsigned)w < \(c.w)u) ? "
                + "\(load("\(pointerA)[((nb * \(c.h) + h) * \(c.w) + w) * \(c.c)\(cBase) + ci]")) : \(zero); }"
        }
    }

    /// The C expression of the output index of GEMM element (gm, gn) of batch/group `z`.
    func outputIndex(gm: String, gn: String, z: String) -> String {
        switch out {
        case .rowMajor:
            let base = batch > 1 ? "\(z) * \(M * N) + " : ""
            return "\(base)\(gm) * \(N) + \(gn)"
        case .nchw:
            let c = conv!
            let pq = c.p * c.q
            let kOut = batch > 1 ? "(\(z) * \(c.kg) + \(gn))" : gn
            return "(\(gm) / \(pq) * \(c.k) + \(kOut)) * \(pq) + \(gm) % \(pq)"
        case .nhwc:
            let c = conv!
            let kOut = batch > 1 ? "\(z) * \(c.kg) + \(gn)" : gn
            return "\(gm) * \(c.k) + \(kOut)"
        }
    }
}
