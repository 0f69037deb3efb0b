import TuneCore

/// Direct convolution space (both layouts; groups, stride, padding, dilation).
///
/// The register tile is `rb` broadcast rows x `rv` vectors of `vec` floats:
/// - NCHW: vectors run along output width, `rb` output channels share each input vector.
/// - NHWC: vectors run along output channels, `rb` output pixels share each weight vector.
/// Knobs: `vec`, `rb`, `rv`, `cb` (input channels per reduction block: the slice of input
/// kept hot while every output tile is swept), `order` (0: output-channel tiles outside
/// output rows, 1: rows outside), `unroll` (of the innermost reduction loop), `threads`
/// (OpenMP over output rows). Constraint: `rb*rv` accumulators + `rv` operand vectors fit
/// the register file.
public struct ConvSpace: ScheduleSpace {
    public let knobs: [KnobDomain]
    public let vectorRegisters: Int

    init(task: TaskSpec, target: CPUTarget, channelsPerGroup: Int) {
        knobs = [
            KnobDomain("vec", [target.lanes / 2, target.lanes].filter { $0 >= 4 }.nonEmpty(or: [target.lanes])),
            KnobDomain("rb", [1, 2, 3, 4, 6, 8, 12]),
            KnobDomain("rv", [1, 2, 3, 4]),
            KnobDomain("cb", blockChoices([4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096], extent: channelsPerGroup)),
            KnobDomain("order", [0, 1]),
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

/// Depthwise convolution space: vectors along output width (NCHW) or channels (NHWC).
/// Knobs: `vec`, `rb` (NCHW: output rows per tile; NHWC: output pixels per tile), `rv`
/// (vectors per row), `unroll` (of the kernel-window loop), `threads` (over channels for
/// NCHW, over output rows for NHWC). Constraint: `rb*rv` accumulators + `rv` operand
/// vectors fit the register file.
public struct DepthwiseSpace: ScheduleSpace {
    public let knobs: [KnobDomain]
    public let vectorRegisters: Int

    init(target: CPUTarget) {
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
