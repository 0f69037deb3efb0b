import TuneCore

/// Direct convolution space (both layouts; groups, stride, padding, dilation).
///
/// The register tile is `rb` broadcast rows x `rv` vectors of `vec` floats. `axis` picks
/// what the vectors run along:
/// - 0, NCHW: output width; `rb` output channels share each input vector.
/// - 0, NHWC: output channels; `rb` output pixels share each weight vector.
/// - 1 (NCHW only): output channels; `rb` output pixels (of the flattened P*Q plane) share
///   each weight vector. Weights are packed once (per scratch) into `[cb][R][S][rv*vec]` panels and
///   the accumulators go to a pixel-major buffer that is transposed to NCHW at the end.
///   This keeps every lane busy when the output is narrower than a vector (7x7, 14x14).
/// Knobs: `vec`, `rb`, `rv`, `cb` (input channels per reduction block: the slice of input
/// kept hot while every output tile is swept), `order` (axis 0: 0 = output-channel tiles
/// outside output rows, 1 = rows outside; axis 1: 0 = channel blocks inside output-channel
/// blocks, 1 = outside), `unroll` (of the innermost reduction loop), `threads`, `par`
/// (axis 1 with threads: 0 = threads split output-channel blocks, each reading its own
/// panels; 1 = threads share each panel and split the pixel tiles).
///
/// Constraints: `rb*rv` accumulators + `rv` operand vectors fit the register file; no tile
/// axis wastes more than half of itself on a remainder unless it is the smallest tile; the
/// packed-weight path keeps at least 8 accumulators (two FMA pipes x 4-cycle latency) and a
/// weight panel that fits L2.
public struct ConvSpace: ScheduleSpace {
    public let knobs: [KnobDomain]
    public let vectorRegisters: Int
    let nchw: Bool
    /// Output width, output pixels per image, and output channels per group.
    let q: Int, pixels: Int, kpg: Int
    let smallestVec: Int
    /// Floats of W per input channel (R*S), channels per group, and the L2 the panel must fit.
    let window: Int, cpg: Int, l2Bytes: Int
    let target: CPUTarget
    let task: TaskSpec

    init(task: TaskSpec, target: CPUTarget, channelsPerGroup: Int) {
        self.target = target
        self.task = task
        let vecs = [target.lanes / 2, target.lanes].filter { $0 >= 4 }.nonEmpty(or: [target.lanes])
        nchw = task["layout"] == ConvLayout.nchw.rawValue
        knobs = [
            KnobDomain("vec", vecs),
            KnobDomain("rb", [1, 2, 3, 4, 6, 7, 8, 12]),
            KnobDomain("rv", [1, 2, 3, 4]),
            KnobDomain("cb", blockChoices([4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096], extent: channelsPerGroup)),
            KnobDomain("order", [0, 1]),
            KnobDomain("unroll", [1, 2, 4]),
            KnobDomain("threads", target.threadChoices),
            KnobDomain("axis", nchw ? [0, 1] : [0]),
            KnobDomain("par", nchw && target.threads > 1 ? [0, 1] : [0]),
        ]
        vectorRegisters = target.vectorRegisters
        q = task.outputWidth
        pixels = task.outputHeight * task.outputWidth
        kpg = task["k"] / task["groups"]
        smallestVec = vecs.min() ?? target.lanes
        window = task["r"] * task["s"]
        cpg = channelsPerGroup
        l2Bytes = target.l2Bytes
    }

    public func constraintViolation(_ s: Schedule) -> String? {
        guard let rb = s["rb"], let rv = s["rv"], let vec = s["vec"], let axis = s["axis"], let par = s["par"],
              let threads = s["threads"]
        else { return "missing knobs" }
        let live = rb * rv + rv
        if live > vectorRegisters {
            return "register tile \(rb)x\(rv) needs \(live) vector registers, device has \(vectorRegisters)"
        }
        if par != 0 && (axis != 1 || threads == 1) { return "par=\(par) needs axis=1 and threads > 1" }
        let tv = rv * vec
        // (extent along the vectors, along the broadcast rows)
        let (vExtent, bExtent) = axis == 1 ? (kpg, pixels) : nchw ? (q, kpg) : (kpg, q)
        if (rv > 1 || vec > smallestVec) && 2 * vExtent < roundUp(vExtent, tv) {
            return "a \(tv)-float vector tile wastes more than half of itself on an extent of \(vExtent)"
        }
        if rb > 1 && 2 * bExtent < roundUp(bExtent, rb) {
            return "a \(rb)-row tile wastes more than half of itself on an extent of \(bExtent)"
        }
        if axis == 1 && rb * rv < 8 {
            return "the packed-weight tile \(rb)x\(rv) has fewer than 8 accumulators to hide FMA latency"
        }
        if axis == 1, let cb = s["cb"], 4 * min(cb, cpg) * window * tv > l2Bytes {
            return "a \(min(cb, cpg))-channel weight panel of \(tv) lanes overflows L2 (\(l2Bytes) bytes); it is re-read for every pixel tile"
        }
        return nil
    }
}

func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }

/// Depthwise convolution space: vectors along output width (NCHW) or channels (NHWC).
/// Knobs: `vec`, `rb` (NCHW: output rows per tile; NHWC: output pixels per tile), `rv`
/// (vectors per row), `unroll` (of the kernel-window loop), `threads` (over channels for
/// NCHW, over output rows for NHWC). Constraint: `rb*rv` accumulators + `rv` operand
/// vectors fit the register file.
public struct DepthwiseSpace: ScheduleSpace {
    public let knobs: [KnobDomain]
    public let vectorRegisters: Int
    let target: CPUTarget
    let task: TaskSpec

    init(task: TaskSpec, target: CPUTarget) {
        self.target = target
        self.task = task
        knobs = [
            KnobDomain("vec", [target.lanes / 2, target.lanes].filter { $0 >= 4 }.nonEmpty(or: [target.lanes])),
            KnobDomain("rb", [1, 2, 3, 4, 6, 8]),
            KnobDomain("rv", [1, 2, 3, 4]),
            KnobDomain("unroll", [1, 2, 4]),
            KnobDomain("threads", target.threadChoices),
        ]
        vectorRegisters = target.vectorRegisters
    }

    public func constraintViolation(_ s: Schedule) -> String? {
        guard let rb = s["rb"], let rv = s["rv"] else { return "missing knobs" }
        let live = rb * rv + rv
        if live > vectorRegisters {
            return "register tile \(rb)x\(rv) needs \(live) vector registers, device has \(vectorRegisters)"
        }
        return nil
    }
}
