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

    // MARK: conv input, pixel found once per thread

    /// Whether the NCHW conv input can find each thread's pixel once, before the K loop,
    /// instead of dividing per element: true when every load of a thread falls on the same
    /// tile column, i.e. the block's threads are a multiple of the tile's width in loads.
    func pixelOnce(_ f: Fetch, tile: Int, vec: Int, threads: Int) -> Bool {
        f == .convInputNCHW && threads % (tile / vec) == 0
    }

    /// Largest reduction length whose tap table is put in constant memory (8 bytes an entry).
    static let tapTableLimit = 6144

    /// Whether the conv's reduction index (ci, r, s) is decoded through a table: filters with
    /// taps whose table fits. 1x1 filters need no table (the index is the channel).
    var usesTapTable: Bool {
        guard let c = conv else { return false }
        return c.r * c.s > 1 && K <= Self.tapTableLimit
    }

    /// The tap table of an NCHW conv: for reduction index `gk` = (ci, r, s), entry `2 gk` is
    /// the input offset `ci*H*W + r*dil*W + s*dil` and `2 gk + 1` the tap `(r*dil) << 16 |
    /// s*dil`, so a load needs one table read, two compares and one add.
    func tapTable(name: String) -> String {
        let c = conv!
        var entries: [String] = []
        entries.reserveCapacity(2 * K)
        for ci in 0..<c.cg { for r in 0..<c.r { for s in 0..<c.s {
            entries.append(String(ci * c.h * c.w + r * c.dil * c.w + s * c.dil))
            entries.append(String((r * c.dil) << 16 | (s * c.dil)))
        } } }
        var lines: [String] = []
        var i = 0
        while i < entries.count {
            lines.append("    " + entries[i..<min(i + 16, entries.count)].joined(separator: ", "))
            i += 16
        }
        return "__constant__ int \(name)[\(2 * K)] = {\n" + lines.joined(separator: ",\n") + "\n};\n"
    }

    /// Per-thread statements that locate the thread's output pixel `gx` in the NCHW input:
    /// `pxOK` (inside the problem), `pxH`/`pxW` (top-left input row/column of its window)
    /// and `pxBase` (offset of that corner in channel 0 of its image and group).
    func pixelPrologue(gx: String, z: String) -> String {
        let c = conv!
        let pq = c.p * c.q
        let cBase = batch > 1 ? " + \(z) * \(c.cg)" : ""
        var s = "    const int px = \(gx);\n"
        s += "    const bool pxOK = px < \(M);\n"
        s += "    const int pxN = px / \(pq), pxPQ = px % \(pq);\n"
        s += "    const int pxH = pxPQ / \(c.q) * \(c.stride) - \(c.pad), pxW = pxPQ % \(c.q) * \(c.stride) - \(c.pad);\n"
        s += "    const int pxBase = (pxN * \(c.c)\(cBase)) * \(c.h * c.w) + pxH * \(c.w) + pxW;\n"
        s += "    (void)pxOK; (void)pxBase;\n"
        return s
    }

    /// Like `fetch` for the NCHW conv input after `pixelPrologue`: the pixel part is known,
    /// the reduction index is a channel (1x1) or a tap-table entry.
    func fetchPixelOnce(gk: String, vec: Int, dst: String, kLimit: String, table: String) -> String {
        let c = conv!
        let zero = vec == 4 ? "make_float4(0.f, 0.f, 0.f, 0.f)" : "0.f"
        func load(_ addr: String) -> String {
            vec == 4 ? "__ldg(reinterpret_cast<const float4*>(&\(addr)))" : "__ldg(&\(addr))"
        }
        if c.r * c.s == 1 {
            let inside = c.pad > 0 ? " && (unsigned)pxH < \(c.h)u && (unsigned)pxW < \(c.w)u" : ""
            return "\(dst) = (pxOK && \(gk) < \(kLimit)\(inside)) ? \(load("\(pointerA)[pxBase + \(gk) * \(c.h * c.w)]")) : \(zero);"
        }
        if !usesTapTable {
            let rs = c.r * c.s
            return "{ const int ci = \(gk) / \(rs), rs = \(gk) % \(rs), rd = rs / \(c.s) * \(c.dil), sd = rs % \(c.s) * \(c.dil); "
                + "\(dst) = (pxOK && \(gk) < \(kLimit) && (unsigned)(pxH + rd) < \(c.h)u && (unsigned)(pxW + sd) < \(c.w)u) ? "
                + "\(load("\(pointerA)[pxBase + ci * \(c.h * c.w) + rd * \(c.w) + sd]")) : \(zero); }"
        }
        return "{ const bool in = pxOK && \(gk) < \(kLimit); const int tap = in ? \(table)[2 * \(gk) + 1] : 0; "
            + "\(dst) = (in && (unsigned)(pxH + (tap >> 16)) < \(c.h)u && (unsigned)(pxW + (tap & 0xffff)) < \(c.w)u) ? "
            + "\(load("\(pointerA)[pxBase + \(table)[2 * \(gk)]]")) : \(zero); }"
    }

    /// Whether NCHW output rows come in aligned runs of four pixels of one image (so four
    /// consecutive GEMM rows starting at a multiple of 4 are one 16-byte store).
    var pixelRunsOf4: Bool {
        guard out == .nchw, let c = conv else { return false }
        return (c.p * c.q) % 4 == 0
    }

    /// Whether four consecutive GEMM columns starting at a multiple of 4 are one aligned
    /// 16-byte run of the output: row-major C and NHWC (channels innermost).
    var columnRunsOf4: Bool {
        switch out {
        case .rowMajor: return N % 4 == 0
        case .nhwc: return (conv?.kg ?? 1) % 4 == 0 && (conv?.k ?? 1) % 4 == 0
        case .nchw: return false
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
