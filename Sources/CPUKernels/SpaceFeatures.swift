import TuneCore

// What each CPU space's knobs mean for the hardware it was built for (the cost model's
// hardware-normalized schedule features). Sizes in bytes of fp32.

extension GemmSpace: FeaturedSpace {
    public var featureFamily: String { "cpu.gemm" }
    public func derivedFeatures(_ s: Schedule) -> DerivedFeatures {
        var f = DerivedFeatures()
        let p = problem
        let mr = s["mr"] ?? 1, nr = s["nr"] ?? 1, vec = max(1, s["vec"] ?? 1)
        let mc = max(mr, min(p.m, (s["mc"] ?? mr) / mr * mr)), nc = max(nr, min(p.n, (s["nc"] ?? nr) / nr * nr))
        let kc = min(p.k, s["kc"] ?? p.k), threads = max(1, s["threads"] ?? 1)
        // Micro-panels of A and B stream through L1, the A block sits in L2, the B panel in L3.
        f[.l1Ratio] = Double((mr + nr) * kc * 4) / Double(target.l1Bytes)
        f[.l2Ratio] = Double(mc * kc * 4) / Double(target.l2Bytes)
        f[.l3Ratio] = Double(kc * nc * 4) / Double(target.l3Bytes)
        f[.registerRatio] = Double(mr * (nr / vec) + nr / vec) / Double(vectorRegisters)
        f[.accumulators] = DerivedFeatures.log2p(Double(mr * (nr / vec)))
        f[.lanesUsed] = Double(vec) / Double(target.lanes)
        let units = (p.m + mc - 1) / mc * ((p.n + nc - 1) / nc) * p.batch
        f[.workPerThread] = DerivedFeatures.log2p(Double(units) / Double(threads))
        f[.threadsOverCores] = Double(threads) / Double(target.cores)
        f[.padWasteM] = DerivedFeatures.padWaste(extent: p.m, tile: mr)
        f[.padWasteN] = DerivedFeatures.padWaste(extent: p.n, tile: nr)
        f[.padWasteK] = DerivedFeatures.padWaste(extent: p.k, tile: s["kunroll"] ?? 1)
        f[.loadsPerFMA] = Double(mr + nr / vec) / Double(mr * (nr / vec))
        f[.log2Unroll] = DerivedFeatures.log2(Double(s["kunroll"] ?? 1))
        f[.packing] = Double((s["packA"] ?? 0) + (s["packB"] ?? 0))
        let packA = (s["packA"] ?? 0) == 1, packB = (s["packB"] ?? 0) == 1
        // The A micro-panel (mr rows of kc) and the B micro-panel (kc rows of nr) in L1: packed,
        // each is contiguous; read in place, their rows sit lda / ldb floats apart, and a
        // stride of a multiple of 4 KiB piles them onto the same sets.
        let ways = Double(max(1, target.l1Bytes / 4096))
        let linesA = packA
            ? DerivedFeatures.linesPerL1Set(rows: 1, rowBytes: mr * kc * 4, strideBytes: 0)
            : DerivedFeatures.linesPerL1Set(rows: mr, rowBytes: kc * 4, strideBytes: p.lda * 4)
        let linesB = packB
            ? DerivedFeatures.linesPerL1Set(rows: 1, rowBytes: kc * nr * 4, strideBytes: 0)
            : DerivedFeatures.linesPerL1Set(rows: kc, rowBytes: nr * 4, strideBytes: p.ldb * 4)
        f[.l1SetPressureA] = Double(linesA) / ways
        f[.l1SetPressureB] = Double(linesB) / ways
        // Packing copies A blocks once per column block (order 0, 1: jc outside ic) or once
        // (order 2: ic outside), B panels the other way round; small M or N leaves little
        // compute to pay for a copy.
        let aOuter = (s["order"] ?? 0) == 2
        let copiesA = packA ? p.m * p.k * (aOuter ? 1 : (p.n + nc - 1) / nc) : 0
        let copiesB = packB ? p.k * p.n * (aOuter ? (p.m + mc - 1) / mc : 1) : 0
        f[.packCost] = Double(copiesA + copiesB) * Double(vec) / (Double(p.m) * Double(p.n) * Double(p.k))
        return f
    }
}

extension ConvSpace: FeaturedSpace {
    public var featureFamily: String { "cpu.conv" }
    public func derivedFeatures(_ s: Schedule) -> DerivedFeatures {
        var f = DerivedFeatures()
        let rb = s["rb"] ?? 1, rv = s["rv"] ?? 1, vec = max(1, s["vec"] ?? 1), cb = min(cpg, s["cb"] ?? cpg)
        let threads = max(1, s["threads"] ?? 1), axis = s["axis"] ?? 0
        // The weights of one register tile over a channel block, and the input slice of the block.
        f[.l1Ratio] = Double(cb * window * rv * vec * 4) / Double(target.l1Bytes)
        f[.l2Ratio] = Double(cb * task["h"] * task["w"] * 4) / Double(target.l2Bytes)
        f[.l3Ratio] = Double(task["c"] * task["h"] * task["w"] * 4 + task["k"] * cpg * window * 4) / Double(target.l3Bytes)
        f[.registerRatio] = Double(rb * rv + rv) / Double(vectorRegisters)
        f[.accumulators] = DerivedFeatures.log2p(Double(rb * rv))
        f[.lanesUsed] = Double(vec) / Double(target.lanes)
        // What the vectors and the broadcast rows run along (see the space's documentation).
        let vectorExtent = (axis == 1 || !nchw) ? kpg : q
        let rowExtent = axis == 1 ? pixels : (nchw ? kpg : pixels)
        f[.padWasteN] = DerivedFeatures.padWaste(extent: vectorExtent, tile: rv * vec)
        f[.padWasteM] = DerivedFeatures.padWaste(extent: rowExtent, tile: rb)
        f[.padWasteK] = DerivedFeatures.padWaste(extent: cpg, tile: cb)
        let units = max(1, task["n"] * task["groups"] * ((kpg + rv * vec - 1) / (rv * vec)))
        f[.workPerThread] = DerivedFeatures.log2p(Double(units) / Double(threads))
        f[.threadsOverCores] = Double(threads) / Double(target.cores)
        f[.loadsPerFMA] = Double(rb + rv) / Double(rb * rv)
        f[.log2Unroll] = DerivedFeatures.log2(Double(s["unroll"] ?? 1))
        f[.packing] = Double(axis)
        return f
    }
}

extension DepthwiseSpace: FeaturedSpace {
    public var featureFamily: String { "cpu.dwconv" }
    public func derivedFeatures(_ s: Schedule) -> DerivedFeatures {
        var f = DerivedFeatures()
        let rb = s["rb"] ?? 1, rv = s["rv"] ?? 1, vec = max(1, s["vec"] ?? 1), threads = max(1, s["threads"] ?? 1)
        let window = task["r"] * task["s"]
        f[.l1Ratio] = Double((rb + window) * rv * vec * 4) / Double(target.l1Bytes)
        f[.l2Ratio] = Double(task["h"] * task["w"] * 4 * rv * vec) / Double(target.l2Bytes)
        f[.l3Ratio] = Double(task["n"] * task["c"] * task["h"] * task["w"] * 4) / Double(target.l3Bytes)
        f[.registerRatio] = Double(rb * rv + rv) / Double(vectorRegisters)
        f[.accumulators] = DerivedFeatures.log2p(Double(rb * rv))
        f[.lanesUsed] = Double(vec) / Double(target.lanes)
        let nhwc = task["layout"] == ConvLayout.nhwc.rawValue
        f[.padWasteN] = DerivedFeatures.padWaste(extent: nhwc ? task["c"] : task.outputWidth, tile: rv * vec)
        f[.padWasteM] = DerivedFeatures.padWaste(extent: nhwc ? task.outputWidth : task.outputHeight, tile: rb)
        f[.workPerThread] = DerivedFeatures.log2p(Double(task["n"] * task["c"]) / Double(threads))
        f[.threadsOverCores] = Double(threads) / Double(target.cores)
        f[.loadsPerFMA] = Double(rb + rv) / Double(rb * rv)
        f[.log2Unroll] = DerivedFeatures.log2(Double(s["unroll"] ?? 1))
        return f
    }
}

extension StreamSpace: FeaturedSpace {
    public var featureFamily: String { "cpu.stream" }
    public func derivedFeatures(_ s: Schedule) -> DerivedFeatures {
        var f = DerivedFeatures()
        let vec = max(1, s["vec"] ?? 1), unroll = max(1, s["unroll"] ?? 1), threads = max(1, s["threads"] ?? 1)
        let (rows, cols) = task.op == .softmax ? (task["rows"], task["cols"]) : (1, task["n"])
        let bytes = Double(task.tensors.reduce(0) { $0 + $1.elementCount } * 4)
        f[.l1Ratio] = Double(vec * unroll * 4) / Double(target.l1Bytes)
        f[.l2Ratio] = (task.op == .softmax ? Double(cols * 8) : bytes) / Double(target.l2Bytes)
        f[.l3Ratio] = bytes / Double(target.l3Bytes)
        f[.registerRatio] = Double(unroll * 2) / Double(target.vectorRegisters)
        f[.lanesUsed] = Double(vec) / Double(target.lanes)
        f[.padWasteN] = DerivedFeatures.padWaste(extent: cols, tile: vec * unroll)
        f[.workPerThread] = DerivedFeatures.log2p(Double(task.op == .softmax ? rows : (cols + 4095) / 4096) / Double(threads))
        f[.threadsOverCores] = Double(threads) / Double(target.cores)
        f[.log2Unroll] = DerivedFeatures.log2(Double(unroll))
        return f
    }
}
