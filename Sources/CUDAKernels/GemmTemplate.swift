import TuneCore

/// The knobs of the tiled GEMM template (matmul, batch matmul, implicit-GEMM conv2d).
///
/// A block computes a `bm x bn` tile of C, stepping through K in `bk` slices staged in
/// shared memory (A stored k-major, i.e. transposed, B k-major; rows padded by `pad`
/// floats against bank conflicts). Warps tile the block; a warp's 32 lanes form a
/// `(32/wx) x wx` grid; each thread owns a `tm x tn` register tile made of 4-wide fragments
/// strided across the warp tile, so its shared-memory reads are float4 and conflict-free.
/// `va`/`vb`: 16-byte global loads along the operand's contiguous dimension. `db`: two
/// shared buffers with register prefetch (one barrier per K slice). `splitk`: the K range
/// is cut over grid z and summed with atomics after an init launch. `wk`: sliced K inside
/// the block — `wk` groups of warps each take `bk/wk` of every K slice for the whole tile and
/// add up through shared memory at the end (more warps per tile, no atomics, no extra
/// launch: for small M x N with a long K). `swz`: block-order swizzle (groups of `swz` block
/// rows) for L2 reuse.
struct GemmConfig: Sendable {
    var bm, bn, bk, tm, tn, wx, wk, va, vb, db, pad, splitk, swz: Int

    /// Code generation's decode of a validated schedule: every knob must be there.
    init(validated s: Schedule) throws(ScheduleError) {
        let k = s.required
        bm = try k("bm"); bn = try k("bn"); bk = try k("bk"); tm = try k("tm"); tn = try k("tn"); wx = try k("wx")
        wk = try k("wk"); va = try k("va"); vb = try k("vb"); db = try k("db"); pad = try k("pad")
        splitk = try k("splitk"); swz = try k("swz")
    }

    /// A tolerant decode for constraint checks and features, which see any schedule.
    init(_ s: Schedule) {
        bm = s["bm"] ?? 64; bn = s["bn"] ?? 64; bk = s["bk"] ?? 8
        tm = s["tm"] ?? 4; tn = s["tn"] ?? 4; wx = s["wx"] ?? 8; wk = s["wk"] ?? 1
        va = s["va"] ?? 1; vb = s["vb"] ?? 1; db = s["db"] ?? 0; pad = s["pad"] ?? 0
        splitk = s["splitk"] ?? 1; swz = s["swz"] ?? 1
    }

    var wy: Int { 32 / wx }
    var fm: Int { min(tm, 4) }
    var fn: Int { min(tn, 4) }
    var warpM: Int { wy * tm }
    var warpN: Int { wx * tn }
    var warpsM: Int { bm / warpM }
    var warpsN: Int { bn / warpN }
    /// Warps computing one copy of the tile; `wk` such groups split each K slice.
    var tileWarps: Int { warpsM * warpsN }
    var threads: Int { tileWarps * wk * 32 }
    var lda: Int { bm + pad }
    var ldb: Int { bn + pad }
    /// Staging buffers, or the sliced-K reduction tile when that is larger.
    var sharedBytes: Int {
        let staging = (bk * lda + bk * ldb) * 4 * (db == 1 ? 2 : 1)
        return wk > 1 ? max(staging, bm * bn * 4) : staging
    }

    /// Floats each thread carries per operand while prefetching a K slice.
    func loadsPerThread(tile: Int, vec: Int) -> Int { ceilDiv(tile * bk / vec, max(1, threads)) }

    /// A register estimate: accumulators, fragments, prefetch registers, addressing.
    var registerEstimate: Int {
        tm * tn + tm + tn + loadsPerThread(tile: bm, vec: va) * va + loadsPerThread(tile: bn, vec: vb) * vb + 24
    }

    /// Reduction range per split (a multiple of bk), and the number of non-empty splits.
    func kChunk(_ K: Int) -> Int { ceilDiv(ceilDiv(K, splitk), bk) * bk }
}

enum GemmTemplate {
    static let knobDomains: [KnobDomain] = [
        KnobDomain("bm", [16, 32, 64, 128, 256]),
        KnobDomain("bn", [16, 32, 64, 128, 256]),
        KnobDomain("bk", [8, 16, 32]),
        KnobDomain("tm", [1, 2, 4, 8, 16]),
        KnobDomain("tn", [1, 2, 4, 8, 16]),
        KnobDomain("wx", [1, 2, 4, 8, 16, 32]),
        // Added after the first campaigns: their schedules meant one K share.
        KnobDomain("wk", [1, 2, 4], absentMeans: 1),
        KnobDomain("va", [1, 4]),
        KnobDomain("vb", [1, 4]),
        KnobDomain("db", [0, 1]),
        KnobDomain("pad", [0, 4]),
        KnobDomain("splitk", [1, 2, 4, 8, 16]),
        KnobDomain("swz", [1, 4, 8]),
    ]

    static func space(problem: GemmProblem, limits: DeviceLimits) -> KnobSpace {
        var space = KnobSpace(family: "cuda.gemm", knobs: knobDomains) { s in violation(GemmConfig(s), problem: problem, limits: limits) }
        space.features = { s in features(GemmConfig(s), problem: problem, limits: limits) }
        return space
    }

    /// Tiles over the shared memory and registers that hold them, blocks over SMs, waves,
    /// padding of each tiled axis, loads per FMA of a thread's register tile.
    static func features(_ c: GemmConfig, problem p: GemmProblem, limits: DeviceLimits) -> DerivedFeatures {
        var f = DerivedFeatures()
        let blocks = ceilDiv(p.M, c.bm) * ceilDiv(p.N, c.bn) * p.batch * c.splitk
        limits.launchFeatures(&f, blocks: blocks, threads: c.threads, registersPerThread: c.registerEstimate, sharedBytes: c.sharedBytes)
        f[.registerRatio] = Double(c.registerEstimate * c.threads) / Double(limits.registersPerBlock)
        f[.l2Ratio] = Double((c.bm + c.bn) * c.kChunk(p.K) * 4 * min(blocks, limits.smCount)) / Double(limits.l2Bytes)
        f[.lanesUsed] = Double(c.va + c.vb) / 8
        f[.padWasteM] = DerivedFeatures.padWaste(extent: p.M, tile: c.bm)
        f[.padWasteN] = DerivedFeatures.padWaste(extent: p.N, tile: c.bn)
        f[.padWasteK] = DerivedFeatures.padWaste(extent: p.K, tile: c.bk * c.splitk)
        f[.loadsPerFMA] = Double(c.tm + c.tn) / Double(c.tm * c.tn)
        f[.log2Unroll] = DerivedFeatures.log2(Double(c.bk))
        f[.packing] = Double(1 + c.db)
        f[.workPerThread] = DerivedFeatures.log2p(Double(c.tm * c.tn))
        return f
    }

    static func violation(_ c: GemmConfig, problem p: GemmProblem, limits: DeviceLimits) -> String? {
        if c.bm % c.warpM != 0 { return "warp tile rows \(c.warpM) (32/wx * tm) do not divide bm=\(c.bm)" }
        if c.bn % c.warpN != 0 { return "warp tile cols \(c.warpN) (wx * tn) do not divide bn=\(c.bn)" }
        if c.bk % c.wk != 0 { return "wk=\(c.wk) does not divide bk=\(c.bk)" }
        if c.threads > limits.maxThreads { return "\(c.threads) threads per block exceed \(limits.maxThreads)" }
        if c.va == 4 && !p.vectorizable(p.a) { return "va=4 needs 16-byte aligned runs of A" }
        if c.vb == 4 && !p.vectorizable(p.b) { return "vb=4 needs 16-byte aligned runs of B" }
        if c.sharedBytes > limits.sharedOptin {
            return "shared memory \(c.sharedBytes) B exceeds \(limits.sharedOptin) B per block"
        }
        let regs = c.registerEstimate
        if regs > 255 { return "estimated \(regs) registers per thread exceed 255" }
        if regs * c.threads > limits.registersPerBlock {
            return "estimated \(regs * c.threads) registers per block exceed \(limits.registersPerBlock)"
        }
        if c.splitk > 1 {
            if p.K < c.splitk * c.bk { return "splitk=\(c.splitk) leaves slices shorter than bk=\(c.bk) (K=\(p.K))" }
            if ceilDiv(p.K, c.kChunk(p.K)) != c.splitk { return "splitk=\(c.splitk) leaves empty slices (K=\(p.K))" }
        }
        let gridY = ceilDiv(p.M, c.bm)
        if gridY > maxGridY { return "grid y \(gridY) exceeds \(maxGridY)" }
        if p.batch * c.splitk > maxGridZ { return "grid z \(p.batch * c.splitk) exceeds \(maxGridZ)" }
        if c.swz > 1 && gridY <= c.swz { return "swz=\(c.swz) is a no-op with \(gridY) block rows" }
        return nil
    }

    // MARK: code generation

    static func generate(problem p: GemmProblem, config c: GemmConfig, tag: String, fault: Int,
                         limits: DeviceLimits) -> GeneratedKernel {
        let entry = "tf_gemm_\(tag)"
        let params = p.tensorNames.map { $0.isOutput ? "float* __restrict__ \($0.name)" : "const float* __restrict__ \($0.name)" }
            .joined(separator: ", ")
        let gridX = ceilDiv(p.N, c.bn), gridY = ceilDiv(p.M, c.bm)
        let split = c.splitk
        let kChunk = c.kChunk(p.K)
        let nla = c.loadsPerThread(tile: c.bm, vec: c.va)
        let nlb = c.loadsPerThread(tile: c.bn, vec: c.vb)
        let act = p.act
        let biasName = p.bias ? p.tensorNames[2].name : nil
        // NCHW conv inputs whose threads keep one pixel find it once, not per element.
        let pixelOnce = p.pixelOnce(p.a, tile: c.bm, vec: c.va, threads: c.threads)
        let taps = "tf_taps_\(tag)"
        var s = "// TuneFleet CUDA GEMM: \(p.task.name)\n"
        s += "// M=\(p.M) N=\(p.N) K=\(p.K) batch=\(p.batch) bm=\(c.bm) bn=\(c.bn) bk=\(c.bk) tm=\(c.tm) tn=\(c.tn) wx=\(c.wx) "
        s += "wk=\(c.wk) va=\(c.va) vb=\(c.vb) db=\(c.db) pad=\(c.pad) splitk=\(split) swz=\(c.swz) threads=\(c.threads)\n"
        s += CUDAKernels.prelude
        if pixelOnce && p.usesTapTable { s += p.tapTable(name: taps) }
        s += "extern \"C\" __global__ void __launch_bounds__(\(c.threads)) \(entry)(\(params)) {\n"
        s += CUDAKernels.faultPrologue(fault)
        s += "    TF_DYN_SMEM(tf_smem);\n"
        s += "    float* const As = tf_smem;\n"
        s += "    float* const Bs = tf_smem + \((c.db == 1 ? 2 : 1) * c.bk * c.lda);\n"
        s += "    const int tid = threadIdx.x;\n"
        s += "    const int lane = tid & 31;\n"
        // Warp w computes tile part w % tileWarps over K share w / tileWarps.
        s += "    const int warp = (tid >> 5) % \(c.tileWarps), kShare = (tid >> 5) / \(c.tileWarps);\n"
        s += "    (void)kShare;\n"
        s += "    const int tRow0 = (warp / \(c.warpsN)) * \(c.warpM) + (lane / \(c.wx)) * \(c.fm);\n"
        s += "    const int tCol0 = (warp % \(c.warpsN)) * \(c.warpN) + (lane % \(c.wx)) * \(c.fn);\n"
        if c.swz > 1 {
            // Consecutive blocks walk down `swz` block rows before moving right, so the B
            // panels they share are still in L2.
            s += "    int by, bx;\n"
            s += "    { const int bid = blockIdx.y * \(gridX) + blockIdx.x; const int span = \(c.swz * gridX);\n"
            s += "      const int first = (bid / span) * \(c.swz); const int rows = min(\(gridY) - first, \(c.swz));\n"
            s += "      by = first + (bid % span) % rows; bx = (bid % span) / rows; }\n"
        } else {
            s += "    const int by = blockIdx.y, bx = blockIdx.x;\n"
        }
        s += "    const int m0 = by * \(c.bm), n0 = bx * \(c.bn);\n"
        if split > 1 {
            s += "    const int zb = blockIdx.z / \(split), ks = blockIdx.z % \(split);\n"
            s += "    const int kBegin = ks * \(kChunk);\n"
            s += "    const int kEnd = min(\(p.K), kBegin + \(kChunk));\n"
        } else {
            s += "    const int zb = blockIdx.z;\n"
            s += "    const int kBegin = 0;\n"
            s += "    const int kEnd = \(p.K);\n"
        }
        s += "    (void)zb;\n"
        if pixelOnce { s += p.pixelPrologue(gx: "m0 + (tid % \(c.bm / c.va)) * \(c.va)", z: "zb") }
        s += "    const int nTiles = (kEnd - kBegin + \(c.bk - 1)) / \(c.bk);\n"
        s += "    float acc[\(c.tm)][\(c.tn)];\n"
        s += "    #pragma unroll\n    for (int i = 0; i < \(c.tm); ++i)\n        #pragma unroll\n        for (int j = 0; j < \(c.tn); ++j) acc[i][j] = 0.f;\n"
        s += "    \(c.va == 4 ? "float4" : "float") ra[\(nla)];\n"
        s += "    \(c.vb == 4 ? "float4" : "float") rb[\(nlb)];\n"
        // Global -> registers for one K slice.
        s += "    auto fetch = [&](int k0) {\n"
        s += operandLoop(p, c, fetch: p.a, tile: c.bm, vec: c.va, origin: "m0", regs: "ra", count: nla, store: nil,
                         pixelOnce: pixelOnce ? taps : nil)
        s += operandLoop(p, c, fetch: p.b, tile: c.bn, vec: c.vb, origin: "n0", regs: "rb", count: nlb, store: nil)
        s += "    };\n"
        // Registers -> shared memory (buffer `buf`).
        s += "    auto stash = [&](int buf) {\n"
        s += operandLoop(p, c, fetch: p.a, tile: c.bm, vec: c.va, origin: "m0", regs: "ra", count: nla,
                         store: ("As + buf * \(c.bk * c.lda)", c.lda))
        s += operandLoop(p, c, fetch: p.b, tile: c.bn, vec: c.vb, origin: "n0", regs: "rb", count: nlb,
                         store: ("Bs + buf * \(c.bk * c.ldb)", c.ldb))
        s += "    };\n"
        s += computeLambda(c)
        s += "    fetch(kBegin);\n    stash(0);\n    __syncthreads();\n"
        s += "    for (int t = 0; t < nTiles; ++t) {\n"
        if c.db == 1 {
            s += "        const int cur = t & 1;\n"
            s += "        if (t + 1 < nTiles) fetch(kBegin + (t + 1) * \(c.bk));\n"
            s += "        compute(As + cur * \(c.bk * c.lda), Bs + cur * \(c.bk * c.ldb));\n"
            s += "        if (t + 1 < nTiles) stash(cur ^ 1);\n"
            s += "        __syncthreads();\n"
        } else {
            s += "        compute(As, Bs);\n"
            s += "        __syncthreads();\n"
            s += "        if (t + 1 < nTiles) { fetch(kBegin + (t + 1) * \(c.bk)); stash(0); }\n"
            s += "        __syncthreads();\n"
        }
        s += "    }\n"
        if c.wk > 1 { s += slicedKReduction(c) }
        s += epilogue(p, c, act: act, biasName: biasName, fault: fault)
        s += "}\n"

        var launches: [KernelLaunch] = []
        let mainLaunch = KernelLaunch(entry: entry, grid: [gridX, gridY, p.batch * split], block: [c.threads, 1, 1],
                                      sharedMemBytes: c.sharedBytes)
        if split > 1 {
            // Atomics accumulate into C: an init launch writes zero (or the bias) first, and
            // the activation, which does not distribute over the sum, runs afterwards.
            let total = p.outputCount
            s += "extern \"C\" __global__ void \(entry)_init(\(params)) {\n"
            s += "    const int i = blockIdx.x * 256 + threadIdx.x;\n"
            let initValue = biasName.map { "__ldg(&\($0)[i % \(p.N)])" } ?? "0.f"
            s += "    if (i < \(total)) \(p.pointerOut)[i] = \(initValue);\n"
            s += "}\n"
            launches.append(KernelLaunch(entry: "\(entry)_init", grid: [ceilDiv(total, 256), 1, 1], block: [256, 1, 1]))
            launches.append(mainLaunch)
            if act != .none {
                s += "extern \"C\" __global__ void \(entry)_act(\(params)) {\n"
                s += "    const int i = blockIdx.x * 256 + threadIdx.x;\n"
                s += "    if (i < \(total)) { const float v = \(p.pointerOut)[i]; \(p.pointerOut)[i] = \(activation(act, "v")); }\n"
                s += "}\n"
                launches.append(KernelLaunch(entry: "\(entry)_act", grid: [ceilDiv(total, 256), 1, 1], block: [256, 1, 1]))
            }
        } else {
            launches.append(mainLaunch)
        }
        return GeneratedKernel(language: .cuda, source: s, entry: entry, launches: launches)
    }

    static func activation(_ a: Activation, _ v: String) -> String {
        switch a {
        case .none: return v
        case .relu: return "fmaxf(\(v), 0.f)"
        case .gelu: return "TF_GELU(\(v))"
        }
    }

    /// One operand's per-thread loop over its share of a K slice: loads into registers
    /// (`store == nil`) or stores those registers into shared memory.
    static func operandLoop(_ p: GemmProblem, _ c: GemmConfig, fetch f: GemmProblem.Fetch, tile: Int, vec: Int,
                            origin: String, regs: String, count: Int, store: (base: String, ld: Int)?,
                            pixelOnce taps: String? = nil) -> String {
        let total = tile * c.bk / vec
        let guarded = count * c.threads != total
        var s = "        #pragma unroll\n"
        s += "        for (int i = 0; i < \(count); ++i) {\n"
        s += "            const int idx = tid + i * \(c.threads);\n"
        if guarded { s += "            if (idx < \(total)) {\n" }
        switch p.contig(f) {
        case .k:
            s += "            const int xr = idx / \(c.bk / vec), kr = (idx % \(c.bk / vec)) * \(vec);\n"
        case .x:
            s += "            const int kr = idx / \(tile / vec), xr = (idx % \(tile / vec)) * \(vec);\n"
        }
        if let (base, ld) = store {
            s += "            float* const dst = \(base);\n"
            if vec == 1 {
                s += "            dst[kr * \(ld) + xr] = \(regs)[i];\n"
            } else if p.contig(f) == .k {
                // Transposed store: the four k-consecutive values go to four rows.
                s += "            dst[(kr + 0) * \(ld) + xr] = \(regs)[i].x;\n"
                s += "            dst[(kr + 1) * \(ld) + xr] = \(regs)[i].y;\n"
                s += "            dst[(kr + 2) * \(ld) + xr] = \(regs)[i].z;\n"
                s += "            dst[(kr + 3) * \(ld) + xr] = \(regs)[i].w;\n"
            } else {
                s += "            *reinterpret_cast<float4*>(&dst[kr * \(ld) + xr]) = \(regs)[i];\n"
            }
        } else if let taps {
            // The pixel (column xr) is the thread's own, located by the prologue.
            s += "            const int gk = k0 + kr; (void)xr;\n"
            s += "            " + p.fetchPixelOnce(gk: "gk", vec: vec, dst: "\(regs)[i]", kLimit: "kEnd", table: taps) + "\n"
        } else {
            s += "            const int gx = \(origin) + xr, gk = k0 + kr;\n"
            s += "            " + p.fetch(f, gx: "gx", gk: "gk", vec: vec, dst: "\(regs)[i]", kLimit: "kEnd", z: "zb") + "\n"
        }
        if guarded { s += "            }\n" }
        s += "        }\n"
        return s
    }

    static func computeLambda(_ c: GemmConfig) -> String {
        var s = "    auto compute = [&](const float* __restrict__ as, const float* __restrict__ bs) {\n"
        s += "        #pragma unroll\n"
        if c.wk > 1 {
            s += "        for (int k2 = 0; k2 < \(c.bk / c.wk); ++k2) {\n"
            s += "            const int kk = kShare * \(c.bk / c.wk) + k2;\n"
        } else {
            s += "        for (int kk = 0; kk < \(c.bk); ++kk) {\n"
        }
        s += "            float a[\(c.tm)], b[\(c.tn)];\n"
        s += fragmentLoad(name: "a", smem: "as", ld: c.lda, origin: "tRow0", count: c.tm, frag: c.fm, stride: c.wy * c.fm)
        s += fragmentLoad(name: "b", smem: "bs", ld: c.ldb, origin: "tCol0", count: c.tn, frag: c.fn, stride: c.wx * c.fn)
        s += "            #pragma unroll\n"
        s += "            for (int i = 0; i < \(c.tm); ++i)\n"
        s += "                #pragma unroll\n"
        s += "                for (int j = 0; j < \(c.tn); ++j) acc[i][j] += a[i] * b[j];\n"
        s += "        }\n"
        s += "    };\n"
        return s
    }

    /// Adds the K shares' accumulators into share 0's, one share at a time through shared
    /// memory (the staging buffers are free once the K loop is done); the other shares' warps
    /// then leave, and share 0 runs the epilogue.
    static func slicedKReduction(_ c: GemmConfig) -> String {
        var s = "    {\n"
        s += "        float* const red = tf_smem;\n"
        s += "        for (int share = 1; share < \(c.wk); ++share) {\n"
        s += "            if (kShare == share) {\n"
        s += reductionLoop(c, body: "red[r * \(c.bn) + cc] = acc[i][j];")
        s += "            }\n"
        s += "            __syncthreads();\n"
        s += "            if (kShare == 0) {\n"
        s += reductionLoop(c, body: "acc[i][j] += red[r * \(c.bn) + cc];")
        s += "            }\n"
        s += "            __syncthreads();\n"
        s += "        }\n"
        s += "        if (kShare != 0) return;\n"
        s += "    }\n"
        return s
    }

    /// The block-tile row of register-tile row `i` of this thread (fragments of `fm` rows,
    /// strided across the warp), and likewise the column of register-tile column `j`.
    static func tileRow(_ c: GemmConfig, _ i: String) -> String {
        "tRow0 + (\(i) / \(c.fm)) * \(c.wy * c.fm) + (\(i) % \(c.fm))"
    }
    static func tileColumn(_ c: GemmConfig, _ j: String) -> String {
        "tCol0 + (\(j) / \(c.fn)) * \(c.wx * c.fn) + (\(j) % \(c.fn))"
    }

    /// Where the test-only wrong-answer fault strikes: output (0, 0) of the first batch and slice.
    static func faultCondition(_ c: GemmConfig) -> String {
        c.splitk > 1 ? "gm == 0 && gn == 0 && zb == 0 && ks == 0" : "gm == 0 && gn == 0 && zb == 0"
    }

    /// A loop over the thread's register tile with `r`/`cc` its element's row/column in the block tile.
    static func reductionLoop(_ c: GemmConfig, body: String) -> String {
        var s = "                #pragma unroll\n"
        s += "                for (int i = 0; i < \(c.tm); ++i) {\n"
        s += "                    const int r = \(tileRow(c, "i"));\n"
        s += "                    #pragma unroll\n"
        s += "                    for (int j = 0; j < \(c.tn); ++j) {\n"
        s += "                        const int cc = \(tileColumn(c, "j"));\n"
        s += "                        \(body)\n"
        s += "                    }\n"
        s += "                }\n"
        return s
    }

    static func fragmentLoad(name: String, smem: String, ld: Int, origin: String, count: Int, frag: Int, stride: Int) -> String {
        var s = "            #pragma unroll\n"
        s += "            for (int f = 0; f < \(count / frag); ++f) {\n"
        if frag == 4 {
            s += "                const float4 v = *reinterpret_cast<const float4*>(&\(smem)[kk * \(ld) + \(origin) + f * \(stride)]);\n"
            s += "                \(name)[f * 4 + 0] = v.x; \(name)[f * 4 + 1] = v.y; \(name)[f * 4 + 2] = v.z; \(name)[f * 4 + 3] = v.w;\n"
        } else {
            s += "                #pragma unroll\n"
            s += "                for (int e = 0; e < \(frag); ++e) \(name)[f * \(frag) + e] = \(smem)[kk * \(ld) + \(origin) + f * \(stride) + e];\n"
        }
        s += "            }\n"
        return s
    }

    /// NCHW epilogue: a thread's four consecutive rows are four consecutive pixels of one
    /// channel plane, so they leave as one float4 and a warp writes whole lines (per
    /// element, lanes would scatter 4-byte writes across channel planes).
    static func nchwEpilogue(_ p: GemmProblem, _ c: GemmConfig, fault: Int) -> String {
        let split = c.splitk > 1
        let faultCond = faultCondition(c)
        let out = p.pointerOut
        var s = "    #pragma unroll\n"
        s += "    for (int f = 0; f < \(c.tm / 4); ++f) {\n"
        s += "        const int gm = m0 + tRow0 + f * \(c.wy * 4);\n"
        s += "        if (gm >= \(p.M)) continue;\n"
        s += "        #pragma unroll\n"
        s += "        for (int j = 0; j < \(c.tn); ++j) {\n"
        s += "            const int gn = n0 + \(tileColumn(c, "j"));\n"
        s += "            if (gn >= \(p.N)) continue;\n"
        s += "            float4 v = make_float4(acc[f * 4 + 0][j], acc[f * 4 + 1][j], acc[f * 4 + 2][j], acc[f * 4 + 3][j]);\n"
        if fault == 3 { s += "            if (\(faultCond)) v.x += 1.0f;\n" }
        s += "            float* const dst = &\(out)[\(p.outputIndex(gm: "gm", gn: "gn", z: "zb"))];\n"
        s += split ? vectorAtomicAdd(indent: "            ") : "            *reinterpret_cast<float4*>(dst) = v;\n"
        s += "        }\n"
        s += "    }\n"
        return s
    }

    /// `*dst += v` for a float4 `v` under split-K: one vector atomic from sm_90 on (with a
    /// toolkit that declares it: checked with NVRTC 13.0; 12.x only from 12.8, to be safe),
    /// four scalar ones otherwise.
    static func vectorAtomicAdd(indent: String) -> String {
        "#if defined(TF_HOST_SHIM) || (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && "
            + "(__CUDACC_VER_MAJOR__ > 12 || (__CUDACC_VER_MAJOR__ == 12 && __CUDACC_VER_MINOR__ >= 8)))\n"
            + "\(indent)atomicAdd(reinterpret_cast<float4*>(dst), v);\n"
            + "#else\n"
            + "\(indent)atomicAdd(dst + 0, v.x); atomicAdd(dst + 1, v.y); atomicAdd(dst + 2, v.z); atomicAdd(dst + 3, v.w);\n"
            + "#endif\n"
    }

    static func epilogue(_ p: GemmProblem, _ c: GemmConfig, act: Activation, biasName: String?, fault: Int) -> String {
        // Convolutions carry no bias or activation; the NCHW vector path has neither.
        if p.pixelRunsOf4 && c.fm == 4 && biasName == nil && act == .none { return nchwEpilogue(p, c, fault: fault) }
        let split = c.splitk > 1
        let faultCond = faultCondition(c)
        let out = p.pointerOut
        var s = "    #pragma unroll\n"
        s += "    for (int i = 0; i < \(c.tm); ++i) {\n"
        s += "        const int gm = m0 + \(tileRow(c, "i"));\n"
        s += "        if (gm >= \(p.M)) continue;\n"
        if p.columnRunsOf4 && c.fn == 4 {
            s += "        #pragma unroll\n"
            s += "        for (int f = 0; f < \(c.tn / 4); ++f) {\n"
            s += "            const int gn = n0 + tCol0 + f * \(c.wx * 4);\n"
            s += "            if (gn >= \(p.N)) continue;\n"
            s += "            float4 v = make_float4(acc[i][f * 4 + 0], acc[i][f * 4 + 1], acc[i][f * 4 + 2], acc[i][f * 4 + 3]);\n"
            // With split-K the bias came with the init launch and the activation follows it.
            if let b = biasName, !split {
                s += "            const float4 bv = __ldg(reinterpret_cast<const float4*>(&\(b)[gn]));\n"
                s += "            v.x += bv.x; v.y += bv.y; v.z += bv.z; v.w += bv.w;\n"
            }
            if act != .none && !split {
                for comp in ["x", "y", "z", "w"] { s += "            v.\(comp) = \(activation(act, "v.\(comp)"));\n" }
            }
            if fault == 3 { s += "            if (\(faultCond)) v.x += 1.0f;\n" }
            s += "            float* const dst = &\(out)[\(p.outputIndex(gm: "gm", gn: "gn", z: "zb"))];\n"
            s += split ? vectorAtomicAdd(indent: "            ") : "            *reinterpret_cast<float4*>(dst) = v;\n"
            s += "        }\n"
        } else {
            s += "        #pragma unroll\n"
            s += "        for (int j = 0; j < \(c.tn); ++j) {\n"
            s += "            const int gn = n0 + \(tileColumn(c, "j"));\n"
            s += "            if (gn >= \(p.N)) continue;\n"
            s += "            float v = acc[i][j];\n"
            if !split {
                if let b = biasName { s += "            v += __ldg(&\(b)[gn]);\n" }
                if act != .none { s += "            v = \(activation(act, "v"));\n" }
            }
            if fault == 3 { s += "            if (\(faultCond)) v += 1.0f;\n" }
            let index = p.outputIndex(gm: "gm", gn: "gn", z: "zb")
            if split {
                s += "            atomicAdd(&\(out)[\(index)], v);\n"
            } else {
                s += "            \(out)[\(index)] = v;\n"
            }
            s += "        }\n"
        }
        s += "    }\n"
        return s
    }
}
