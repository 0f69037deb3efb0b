import TuneCore

/// Tensor parameter list of a kernel, in `TaskSpec.tensors` order.
func kernelParameters(_ task: TaskSpec) -> String {
    task.tensors.map { $0.role == .output ? "float* __restrict__ \($0.name)" : "const float* __restrict__ \($0.name)" }
        .joined(separator: ", ")
}

/// Depthwise convolution: memory-bound, so a direct kernel. A thread computes `qpt`
/// consecutive output columns (reusing the input row window from L1) for one channel, or
/// for `vc` = 4 consecutive channels with 16-byte loads in NHWC.
enum DepthwiseTemplate {
    static let knobDomains: [KnobDomain] = [
        KnobDomain("threads", [64, 128, 256, 512]),
        KnobDomain("qpt", [1, 2, 4]),
        KnobDomain("vc", [1, 4]),
    ]

    static func space(task: TaskSpec, limits: DeviceLimits) -> KnobSpace {
        let nhwc = task["layout"] == ConvLayout.nhwc.rawValue
        let c = task["c"]
        var space = KnobSpace(family: "cuda.dwconv", knobs: knobDomains) { s in
            let threads = s["threads"] ?? 0, vc = s["vc"] ?? 1, qpt = s["qpt"] ?? 1
            if threads > limits.maxThreads { return "\(threads) threads per block exceed \(limits.maxThreads)" }
            if vc == 4 && !(nhwc && c % 4 == 0) { return "vc=4 needs NHWC with channels divisible by 4" }
            if qpt > 1 && task.outputWidth < qpt { return "qpt=\(qpt) exceeds the output width \(task.outputWidth)" }
            return nil
        }
        space.features = { s in
            let threads = s["threads"] ?? 256, vc = s["vc"] ?? 1, qpt = s["qpt"] ?? 1
            var f = DerivedFeatures()
            let items = task["n"] * task["c"] * task.outputHeight * ceilDiv(task.outputWidth, qpt) / vc
            limits.launchFeatures(&f, blocks: ceilDiv(items, threads), threads: threads, registersPerThread: 32 + 4 * qpt * vc, sharedBytes: 0)
            f[.lanesUsed] = Double(vc) / 4
            f[.padWasteN] = DerivedFeatures.padWaste(extent: task.outputWidth, tile: qpt)
            f[.workPerThread] = DerivedFeatures.log2p(Double(qpt * vc))
            return f
        }
        return space
    }

    static func generate(task t: TaskSpec, schedule: Schedule, tag: String, fault: Int) throws(ScheduleError) -> GeneratedKernel {
        let threads = try schedule.required("threads"), qpt = try schedule.required("qpt"), vc = try schedule.required("vc")
        let nhwc = t["layout"] == ConvLayout.nhwc.rawValue
        let (n, c, h, w, r, sw) = (t["n"], t["c"], t["h"], t["w"], t["r"], t["s"])
        let (st, pad, dil) = (t["stride"], t["pad"], t["dil"])
        let (p, q) = (t.outputHeight, t.outputWidth)
        let qb = ceilDiv(q, qpt)
        let cv = c / vc
        let items = nhwc ? n * p * qb * cv : n * c * p * qb
        let entry = "tf_dwconv_\(tag)"
        let ty = vc == 4 ? "float4" : "float"
        var s = "// TuneFleet CUDA depthwise conv2d: \(t.name)\n// threads=\(threads) qpt=\(qpt) vc=\(vc)\n"
        s += CUDAKernels.prelude
        s += "extern \"C\" __global__ void __launch_bounds__(\(threads)) \(entry)(\(kernelParameters(t))) {\n"
        s += CUDAKernels.faultPrologue(fault)
        s += "    const int idx = blockIdx.x * \(threads) + threadIdx.x;\n"
        s += "    if (idx >= \(items)) return;\n"
        if nhwc {
            s += "    const int cb = idx % \(cv); int rest = idx / \(cv);\n"
            s += "    const int qblk = rest % \(qb); rest /= \(qb);\n"
            s += "    const int p = rest % \(p), nb = rest / \(p);\n"
            s += "    const int c0 = cb * \(vc);\n"
        } else {
            s += "    const int qblk = idx % \(qb); int rest = idx / \(qb);\n"
            s += "    const int p = rest % \(p); rest /= \(p);\n"
            s += "    const int c0 = rest % \(c), nb = rest / \(c);\n"
        }
        s += "    \(ty) acc[\(qpt)];\n"
        s += "    #pragma unroll\n    for (int e = 0; e < \(qpt); ++e) acc[e] = \(vc == 4 ? "make_float4(0.f, 0.f, 0.f, 0.f)" : "0.f");\n"
        s += "    #pragma unroll\n    for (int r = 0; r < \(r); ++r) {\n"
        s += "        const int hh = p * \(st) - \(pad) + r * \(dil);\n"
        s += "        if ((unsigned)hh >= \(h)u) continue;\n"
        s += "        #pragma unroll\n        for (int s = 0; s < \(sw); ++s) {\n"
        if nhwc {
            // Weights [r][s][c]: four consecutive channels are one aligned float4 (c % 4 == 0).
            let addr = "weight[(r * \(sw) + s) * \(c) + c0]"
            if vc == 4 {
                s += "            const float4 wv = __ldg(reinterpret_cast<const float4*>(&\(addr)));\n"
            } else {
                s += "            const float wv = __ldg(&\(addr));\n"
            }
        } else {
            s += "            const float wv = __ldg(&weight[c0 * \(r * sw) + r * \(sw) + s]);\n"
        }
        s += "            #pragma unroll\n            for (int e = 0; e < \(qpt); ++e) {\n"
        s += "                const int q = qblk * \(qpt) + e;\n"
        s += "                const int ww = q * \(st) - \(pad) + s * \(dil);\n"
        s += "                if (q >= \(q) || (unsigned)ww >= \(w)u) continue;\n"
        if nhwc {
            let addr = "input[((nb * \(h) + hh) * \(w) + ww) * \(c) + c0]"
            if vc == 4 {
                s += "                const float4 x = __ldg(reinterpret_cast<const float4*>(&\(addr)));\n"
                s += "                acc[e].x += x.x * wv.x; acc[e].y += x.y * wv.y; acc[e].z += x.z * wv.z; acc[e].w += x.w * wv.w;\n"
            } else {
                s += "                acc[e] += __ldg(&\(addr)) * wv;\n"
            }
        } else {
            s += "                acc[e] += __ldg(&input[((nb * \(c) + c0) * \(h) + hh) * \(w) + ww]) * wv;\n"
        }
        s += "            }\n        }\n    }\n"
        s += "    #pragma unroll\n    for (int e = 0; e < \(qpt); ++e) {\n"
        s += "        const int q = qblk * \(qpt) + e;\n"
        s += "        if (q >= \(q)) continue;\n"
        let outIndex = nhwc ? "((nb * \(p) + p) * \(q) + q) * \(c) + c0" : "((nb * \(c) + c0) * \(p) + p) * \(q) + q"
        s += "        const int o = \(outIndex);\n"
        if fault == 3 { s += "        if (o == 0) acc[e]\(vc == 4 ? ".x" : "") += 1.0f;\n" }
        if vc == 4 {
            s += "        *reinterpret_cast<float4*>(&output[o]) = acc[e];\n"
        } else {
            s += "        output[o] = acc[e];\n"
        }
        s += "    }\n}\n"
        let launch = KernelLaunch(entry: entry, grid: [ceilDiv(items, threads), 1, 1], block: [threads, 1, 1])
        return GeneratedKernel(language: .cuda, source: s, entry: entry, launches: [launch])
    }
}

/// Row softmax. `mode` 0: one warp per row (short rows); 1: one block per row. `online` 1
/// fuses the max and sum passes (running max with rescaled sum). Shuffles stay in
/// block-uniform control flow: out-of-range warps work on a clamped row and do not store.
enum SoftmaxTemplate {
    static let knobDomains: [KnobDomain] = [
        KnobDomain("mode", [0, 1]),
        KnobDomain("threads", [32, 64, 128, 256, 512, 1024]),
        KnobDomain("vec", [1, 4]),
        KnobDomain("online", [0, 1]),
    ]

    static func space(task: TaskSpec, limits: DeviceLimits) -> KnobSpace {
        let cols = task["cols"], rows = task["rows"]
        var space = KnobSpace(family: "cuda.softmax", knobs: knobDomains) { s in
            let threads = s["threads"] ?? 0, vec = s["vec"] ?? 1, mode = s["mode"] ?? 0
            if threads > limits.maxThreads { return "\(threads) threads per block exceed \(limits.maxThreads)" }
            if vec == 4 && cols % 4 != 0 { return "vec=4 needs cols divisible by 4" }
            if mode == 1 && rows > maxGridX { return "too many rows for one block per row" }
            if mode == 1 && threads > 32 * ceilDiv(cols / vec, 32) * 2 {
                return "threads=\(threads) leave most lanes idle for \(cols) columns"
            }
            return nil
        }
        space.features = { s in
            let threads = s["threads"] ?? 256, vec = s["vec"] ?? 1, mode = s["mode"] ?? 0
            var f = DerivedFeatures()
            // mode 0: a warp per row; mode 1: a block per row.
            let rowsPerBlock = mode == 1 ? 1 : max(1, threads / 32)
            limits.launchFeatures(&f, blocks: ceilDiv(rows, rowsPerBlock), threads: threads, registersPerThread: 32, sharedBytes: mode == 1 ? threads * 8 : 0)
            f[.lanesUsed] = Double(vec) / 4
            let lanesPerRow = mode == 1 ? threads * vec : 32 * vec
            f[.padWasteN] = DerivedFeatures.padWaste(extent: cols, tile: lanesPerRow)
            f[.workPerThread] = DerivedFeatures.log2p(Double(cols) / Double(lanesPerRow))
            f[.packing] = Double(s["online"] ?? 0)
            return f
        }
        return space
    }

    static func generate(task t: TaskSpec, schedule: Schedule, tag: String, fault: Int) throws(ScheduleError) -> GeneratedKernel {
        let mode = try schedule.required("mode"), threads = try schedule.required("threads")
        let vec = try schedule.required("vec"), online = try schedule.required("online")
        let rows = t["rows"], cols = t["cols"]
        let entry = "tf_softmax_\(tag)"
        let chunks = cols / vec
        let stride = mode == 0 ? 32 : threads
        let rowsPerBlock = mode == 0 ? threads / 32 : 1
        var s = "// TuneFleet CUDA softmax: \(t.name)\n// mode=\(mode) threads=\(threads) vec=\(vec) online=\(online)\n"
        s += CUDAKernels.prelude
        s += "extern \"C\" __global__ void __launch_bounds__(\(threads)) \(entry)(\(kernelParameters(t))) {\n"
        s += CUDAKernels.faultPrologue(fault)
        s += "    const int lane = threadIdx.x & 31;\n"
        if mode == 0 {
            s += "    const int row = blockIdx.x * \(rowsPerBlock) + (threadIdx.x >> 5);\n"
            s += "    const int first = lane;\n"
        } else {
            s += "    const int row = blockIdx.x;\n"
            s += "    const int first = threadIdx.x;\n"
            s += "    __shared__ float red[32];\n"
            s += "    __shared__ float red2[32];\n"
        }
        s += "    const bool active = row < \(rows);\n"
        s += "    const float* __restrict__ xr = x + (size_t)(active ? row : \(rows - 1)) * \(cols);\n"
        s += "    float* __restrict__ yr = y + (size_t)(active ? row : \(rows - 1)) * \(cols);\n"
        // Per-element visitor over this thread's share of the row.
        func visit(_ body: (String) -> String) -> String {
            var v = "    for (int ch = first; ch < \(chunks); ch += \(stride)) {\n"
            if vec == 4 {
                v += "        const float4 x4 = __ldg(reinterpret_cast<const float4*>(&xr[ch * 4]));\n"
                v += "        const float xs[4] = {x4.x, x4.y, x4.z, x4.w};\n"
                v += "        #pragma unroll\n        for (int e = 0; e < 4; ++e) { const float xv = xs[e]; const int col = ch * 4 + e; (void)col; \(body("xv")) }\n"
            } else {
                v += "        { const float xv = __ldg(&xr[ch]); const int col = ch; (void)col; \(body("xv")) }\n"
            }
            v += "    }\n"
            return v
        }
        func warpReduce(_ v: String, _ op: String) -> String {
            "    #pragma unroll\n    for (int o = 16; o > 0; o >>= 1) { const float t = __shfl_xor_sync(0xffffffffu, \(v), o); \(v) = \(op); }\n"
        }
        // Block-wide combination after the warp step; every thread ends with the result.
        func blockReduce(_ v: String, _ op: String) -> String {
            guard mode == 1 else { return "" }
            let warps = threads / 32
            var b = "    if (lane == 0) red[threadIdx.x >> 5] = \(v);\n    __syncthreads();\n"
            b += "    \(v) = red[0];\n"
            b += "    for (int i = 1; i < \(warps); ++i) { const float t = red[i]; \(v) = \(op); }\n"
            b += "    __syncthreads();\n"
            return b
        }
        if online == 1 {
            s += "    float m = -3.402823466e38f, l = 0.f;\n"
            s += visit { x in "if (\(x) > m) { l = l * expf(m - \(x)) + 1.f; m = \(x); } else { l += expf(\(x) - m); }" }
            s += "    #pragma unroll\n    for (int o = 16; o > 0; o >>= 1) {\n"
            s += "        const float mo = __shfl_xor_sync(0xffffffffu, m, o), lo = __shfl_xor_sync(0xffffffffu, l, o);\n"
            s += "        const float mn = fmaxf(m, mo); l = l * expf(m - mn) + lo * expf(mo - mn); m = mn;\n"
            s += "    }\n"
            if mode == 1 {
                let warps = threads / 32
                s += "    if (lane == 0) { red[threadIdx.x >> 5] = m; red2[threadIdx.x >> 5] = l; }\n    __syncthreads();\n"
                s += "    m = red[0]; l = red2[0];\n"
                s += "    for (int i = 1; i < \(warps); ++i) { const float mo = red[i], lo = red2[i]; const float mn = fmaxf(m, mo); l = l * expf(m - mn) + lo * expf(mo - mn); m = mn; }\n"
                s += "    __syncthreads();\n"
            }
        } else {
            s += "    float m = -3.402823466e38f;\n"
            s += visit { x in "m = fmaxf(m, \(x));" }
            s += warpReduce("m", "fmaxf(m, t)")
            s += blockReduce("m", "fmaxf(m, t)")
            s += "    float l = 0.f;\n"
            s += visit { x in "l += expf(\(x) - m);" }
            s += warpReduce("l", "l + t")
            s += blockReduce("l", "l + t")
        }
        s += "    const float inv = 1.f / l;\n"
        s += "    if (active) {\n"
        let faultLine = fault == 3 ? " if (row == 0 && col == 0) v += 1.0f;" : ""
        s += visit { x in "float v = expf(\(x) - m) * inv;\(faultLine) yr[col] = v;" }
        s += "    }\n}\n"
        let grid = ceilDiv(rows, rowsPerBlock)
        let launch = KernelLaunch(entry: entry, grid: [grid, 1, 1], block: [threads, 1, 1])
        return GeneratedKernel(language: .cuda, source: s, entry: entry, launches: [launch])
    }
}

/// Elementwise chain (see `CUDAKernels` for the chain's meaning): no grid-stride loop, each
/// thread handles `ilp` items `threads` apart, an item being 1 or 4 (`vec`) elements.
enum ElementwiseTemplate {
    static let knobDomains: [KnobDomain] = [
        KnobDomain("threads", [64, 128, 256, 512, 1024]),
        KnobDomain("vec", [1, 4]),
        KnobDomain("ilp", [1, 2, 4, 8]),
    ]

    static func space(task: TaskSpec, limits: DeviceLimits) -> KnobSpace {
        let n = task["n"]
        var space = KnobSpace(family: "cuda.elementwise", knobs: knobDomains) { s in
            let threads = s["threads"] ?? 0, vec = s["vec"] ?? 1, ilp = s["ilp"] ?? 1
            if threads > limits.maxThreads { return "\(threads) threads per block exceed \(limits.maxThreads)" }
            if vec == 4 && n % 4 != 0 { return "vec=4 needs n divisible by 4" }
            if ilp > 1 && threads * ilp * vec > 4 * max(n, 1) { return "ilp=\(ilp) leaves most threads idle for n=\(n)" }
            return nil
        }
        space.features = { s in
            let threads = s["threads"] ?? 256, vec = s["vec"] ?? 1, ilp = s["ilp"] ?? 1
            var f = DerivedFeatures()
            limits.launchFeatures(&f, blocks: max(1, ceilDiv(n, threads * vec * ilp)), threads: threads, registersPerThread: 16 + 8 * ilp * vec, sharedBytes: 0)
            f[.lanesUsed] = Double(vec) / 4
            f[.padWasteN] = DerivedFeatures.padWaste(extent: n, tile: threads * vec * ilp)
            f[.workPerThread] = DerivedFeatures.log2p(Double(vec * ilp))
            f[.log2Unroll] = DerivedFeatures.log2(Double(ilp))
            return f
        }
        return space
    }

    /// The chain as KernelReference's `Reference.chain` defines it.
    static func chain(_ id: Int, x: String, y: String) -> String {
        switch id {
        case 0: return "(\(x) + \(y))"
        case 1: return "fmaxf(\(x) + \(y), 0.f)"
        case 2: return "tanhf(\(x) * \(y) + \(x))"
        default: return "TF_GELU(\(x) + \(y))"
        }
    }

    static func generate(task t: TaskSpec, schedule: Schedule, tag: String, fault: Int) throws(ScheduleError) -> GeneratedKernel {
        let threads = try schedule.required("threads"), vec = try schedule.required("vec"), ilp = try schedule.required("ilp")
        let n = t["n"], steps = t["chain"]
        let items = n / vec
        let entry = "tf_elementwise_\(tag)"
        var s = "// TuneFleet CUDA elementwise: \(t.name)\n// threads=\(threads) vec=\(vec) ilp=\(ilp)\n"
        s += CUDAKernels.prelude
        s += "extern \"C\" __global__ void __launch_bounds__(\(threads)) \(entry)(\(kernelParameters(t))) {\n"
        s += CUDAKernels.faultPrologue(fault)
        s += "    const int base = blockIdx.x * \(threads * ilp) + threadIdx.x;\n"
        s += "    #pragma unroll\n    for (int e = 0; e < \(ilp); ++e) {\n"
        s += "        const int i = base + e * \(threads);\n"
        s += "        if (i >= \(items)) break;\n"
        if vec == 4 {
            s += "        const float4 a = __ldg(reinterpret_cast<const float4*>(&x[i * 4]));\n"
            s += "        const float4 b = __ldg(reinterpret_cast<const float4*>(&y[i * 4]));\n"
            s += "        float4 r;\n"
            for comp in ["x", "y", "z", "w"] { s += "        r.\(comp) = \(chain(steps, x: "a.\(comp)", y: "b.\(comp)"));\n" }
            if fault == 3 { s += "        if (i == 0) r.x += 1.0f;\n" }
            s += "        *reinterpret_cast<float4*>(&z[i * 4]) = r;\n"
        } else {
            s += "        const float a = __ldg(&x[i]), b = __ldg(&y[i]);\n"
            s += "        float r = \(chain(steps, x: "a", y: "b"));\n"
            if fault == 3 { s += "        if (i == 0) r += 1.0f;\n" }
            s += "        z[i] = r;\n"
        }
        s += "    }\n}\n"
        let launch = KernelLaunch(entry: entry, grid: [max(1, ceilDiv(items, threads * ilp)), 1, 1], block: [threads, 1, 1])
        return GeneratedKernel(language: .cuda, source: s, entry: entry, launches: [launch])
    }
}
