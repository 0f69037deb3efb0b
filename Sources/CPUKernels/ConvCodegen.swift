import TuneCore

/// conv2d: pointwise layers become GEMMs; everything else is a direct convolution over a
/// zero-padded copy of the input (no bounds checks in the inner loops) with packed weights:
/// vectors along the layout's innermost output axis here, along output channels for NCHW
/// in `PackedConvCodegen` (schedule knob `axis`).
struct ConvTemplate: KernelTemplate {
    let task: TaskSpec
    let convSpace: ConvSpace
    var space: any ScheduleSpace { convSpace }

    init(task: TaskSpec, target: CPUTarget) {
        self.task = task
        convSpace = ConvSpace(task: task, target: target, channelsPerGroup: task["c"] / task["groups"])
    }

    /// 1x1, stride 1, no padding, one group: NCHW is W(K x C) * X[n](C x HW) per image;
    /// NHWC is X(NHW x C) * W^T with W stored K x C.
    static func pointwiseGemm(_ t: TaskSpec) -> GemmProblem? {
        guard t["r"] == 1, t["s"] == 1, t["stride"] == 1, t["pad"] == 0, t["groups"] == 1 else { return nil }
        let hw = t["h"] * t["w"]
        if t["layout"] == ConvLayout.nchw.rawValue {
            var p = GemmProblem(m: t["k"], n: hw, k: t["c"])
            p.batch = t["n"]; p.strideA = 0; p.strideB = t["c"] * hw; p.strideC = t["k"] * hw
            p.argA = 1; p.argB = 0; p.argC = 2
            return p
        }
        var p = GemmProblem(m: t["n"] * hw, n: t["k"], k: t["c"])
        p.transposedB = true; p.ldb = t["c"]
        p.argA = 0; p.argB = 1; p.argC = 2
        return p
    }

    func emit(_ c: inout CSource, _ schedule: Schedule) throws(ScheduleError) {
        let k = try ConvKnobs(schedule)
        if k.axis == 1 { return PackedConvCodegen(task: task, knobs: k).emit(&c) }
        let t = task
        let nchw = t["layout"] == ConvLayout.nchw.rawValue
        let vec = k.vec, rb = k.rb, rv = k.rv
        let cb = min(k.cb, t["c"] / t["groups"]), threads = k.threads
        let p = t.outputHeight, q = t.outputWidth
        let cpg = t["c"] / t["groups"], kpg = t["k"] / t["groups"]
        // Tile extent along the broadcast side and along the vector side.
        let tileB = rb, tileV = rv * vec
        // Padded width: every tile's reads, including lanes past the last output, stay inside.
        let span = nchw ? tileV : tileB
        let wpd = max(t["w"] + 2 * t["pad"], (q - 1 + span) * t["stride"] + (t["s"] - 1) * t["dil"] + 1)
        let kpgPad = nchw ? (kpg + rb - 1) / rb * rb : (kpg + tileV - 1) / tileV * tileV
        c.line(CPrelude.vectorTypes(lanes: vec))
        for (k, v) in [("N_", t["n"]), ("C_", t["c"]), ("H_", t["h"]), ("W_", t["w"]), ("K_", t["k"]),
                       ("R_", t["r"]), ("S_", t["s"]), ("ST", t["stride"]), ("PAD", t["pad"]), ("DIL", t["dil"]),
                       ("G_", t["groups"]), ("CPG", cpg), ("KPG", kpg), ("P_", p), ("Q_", q),
                       ("HP", t["h"] + 2 * t["pad"]), ("WPD", wpd), ("KPGP", kpgPad), ("RB", rb), ("RV", rv),
                       ("TB", tileB), ("TV", tileV), ("CB", cb)] {
            c.line("#define \(k) \(v)L")
        }
        c.line("#define MIN(a, b) ((a) < (b) ? (a) : (b))")
        // Zeroed on first use (see CPrelude.scratch); only the interior is ever written, so the halo stays 0.
        CPrelude.scratch(&c, [("inP", ["N_ * C_ * HP * WPD"]), ("wP", ["G_ * KPGP * CPG * R_ * S_"])])
        c.line()
        emitTile(&c, nchw: nchw, rb: rb, rv: rv, vec: vec, unroll: k.unroll, stride: t["stride"])
        c.block("static int tf_kernel(float *const *args, tf_scratch *restrict S)") { c in
            c.line("const float *in = args[0], *w = args[1]; float *out = args[2];")
            if nchw {
                c.line("for (long nc = 0; nc < N_ * C_; nc++) for (long h = 0; h < H_; h++) memcpy(inP + (nc * HP + h + PAD) * WPD + PAD, in + (nc * H_ + h) * W_, W_ * sizeof(float));")
                c.line("for (long g = 0; g < G_; g++) for (long kk = 0; kk < KPG; kk++) memcpy(wP + (g * KPGP + kk) * CPG * R_ * S_, w + (g * KPG + kk) * CPG * R_ * S_, CPG * R_ * S_ * sizeof(float));")
            } else {
                c.line("for (long n = 0; n < N_; n++) for (long h = 0; h < H_; h++) memcpy(inP + ((n * HP + h + PAD) * WPD + PAD) * C_, in + (n * H_ + h) * W_ * C_, W_ * C_ * sizeof(float));")
                c.line("for (long g = 0; g < G_; g++) for (long kk = 0; kk < KPG; kk++) for (long r = 0; r < R_; r++) for (long s = 0; s < S_; s++) for (long ci = 0; ci < CPG; ci++)")
                c.line("  wP[(((g * R_ + r) * S_ + s) * CPG + ci) * KPGP + kk] = w[(((g * KPG + kk) * R_ + r) * S_ + s) * CPG + ci];")
            }
            if threads > 1 { c.line("#pragma omp parallel num_threads(\(threads))") }
            c.block("") { c in
                c.block("for (long n = 0; n < N_; n++) for (long g = 0; g < G_; g++) for (long c0 = 0; c0 < CPG; c0 += CB)") { c in
                    c.line("const long c1 = MIN(c0 + CB, CPG); const int first = c0 == 0;")
                    let (bStep, vStep) = nchw ? ("kt += RB", "ow0 += TV") : ("ow0 += TB", "kt += TV")
                    let kt = "for (long kt = 0; kt < KPG; \(nchw ? bStep : vStep))"
                    let ow = "for (long ow0 = 0; ow0 < Q_; \(nchw ? vStep : bStep))"
                    let oh = "for (long oh = 0; oh < P_; oh++)"
                    let omp = threads > 1 ? "#pragma omp for schedule(static)" : ""
                    if k.order == 0 {
                        c.block(kt) { c in
                            if !omp.isEmpty { c.line(omp) }
                            c.block(oh) { c in c.line(ow + " tile(S, out, n, g, c0, c1, first, kt, oh, ow0);") }
                        }
                    } else {
                        if !omp.isEmpty { c.line(omp) }
                        c.block(oh) { c in
                            c.block(kt) { c in c.line(ow + " tile(S, out, n, g, c0, c1, first, kt, oh, ow0);") }
                        }
                    }
                }
            }
            c.line("return 0;")
        }
    }

    /// One register tile over a channel block: `acc[b][v]`, then a full-tile vector store or
    /// a masked store at the edges (partial sums accumulate across channel blocks).
    private func emitTile(_ c: inout CSource, nchw: Bool, rb: Int, rv: Int, vec: Int, unroll: Int, stride: Int) {
        c.block("static inline __attribute__((always_inline)) void tile(tf_scratch *restrict S, float *restrict out, long n, long g, long c0, long c1, int first, long kt, long oh, long ow0)") { c in
            for b in 0..<rb { c.line("vf " + (0..<rv).map { "a\(b)_\($0) = {0}" }.joined(separator: ", ") + ";") }
            if nchw {
                c.block("for (long ci = c0; ci < c1; ci++) for (long r = 0; r < R_; r++)") { c in
                    c.line("#pragma GCC unroll \(unroll)")
                    c.block("for (long s = 0; s < S_; s++)") { c in
                        c.line("const float *ip = inP + ((n * C_ + g * CPG + ci) * HP + oh * ST + r * DIL) * WPD + ow0 * ST + s * DIL;")
                        c.line("const float *wp = wP + ((g * KPGP + kt) * CPG + ci) * R_ * S_ + r * S_ + s;")
                        for v in 0..<rv {
                            if stride == 1 { c.line("vf x\(v) = *(const vfu *)(ip + \(v * vec));") }
                            else { c.line("vf x\(v); for (int l = 0; l < VL; l++) x\(v)[l] = ip[(\(v * vec) + l) * ST];") }
                        }
                        for b in 0..<rb {
                            CPrelude.broadcastRow(&c, accumulator: "a\(b)", operand: "x", vectors: rv, scalar: "&wp[\(b) * CPG * R_ * S_]")
                        }
                    }
                }
            } else {
                c.block("for (long r = 0; r < R_; r++) for (long s = 0; s < S_; s++)") { c in
                    c.line("#pragma GCC unroll \(unroll)")
                    c.block("for (long ci = c0; ci < c1; ci++)") { c in
                        c.line("const float *wp = wP + (((g * R_ + r) * S_ + s) * CPG + ci) * KPGP + kt;")
                        c.line("const float *ip = inP + ((n * HP + oh * ST + r * DIL) * WPD + ow0 * ST + s * DIL) * C_ + g * CPG + ci;")
                        c.line("vf " + (0..<rv).map { "x\($0) = *(const vfu *)(wp + \($0 * vec))" }.joined(separator: ", ") + ";")
                        for b in 0..<rb {
                            CPrelude.broadcastRow(&c, accumulator: "a\(b)", operand: "x", vectors: rv, scalar: "&ip[\(b) * ST * C_]")
                        }
                    }
                }
            }
            // Output address of (broadcast row b, vector lane j): NCHW rows are channels and
            // lanes run along width; NHWC rows are pixels and lanes run along channels.
            let addr = nchw ? { (b: String, j: String) in "out + ((n * K_ + g * KPG + kt + \(b)) * P_ + oh) * Q_ + ow0 + \(j)" }
                            : { (b: String, j: String) in "out + ((n * P_ + oh) * Q_ + ow0 + \(b)) * K_ + g * KPG + kt + \(j)" }
            let full = nchw ? "kt + RB <= KPG && ow0 + TV <= Q_" : "ow0 + TB <= Q_ && kt + TV <= KPG"
            c.block("if (\(full))") { c in
                for b in 0..<rb {
                    for v in 0..<rv {
                        let ptr = addr("\(b)", "\(v * vec)")
                        c.line("{ float *o = \(ptr); vf y = a\(b)_\(v); if (!first) y += *(const vfu *)o; *(vfu *)o = y; }")
                    }
                }
            }
            c.block("else") { c in
                c.line("float t[RB * TV] __attribute__((aligned(64)));")
                for b in 0..<rb {
                    c.line((0..<rv).map { "*(vf *)(t + \(b * rv * vec + $0 * vec)) = a\(b)_\($0);" }.joined(separator: " "))
                }
                let (bn, vn) = nchw ? ("MIN(RB, KPG - kt)", "MIN(TV, Q_ - ow0)") : ("MIN(TB, Q_ - ow0)", "MIN(TV, KPG - kt)")
                c.line("const long nb = \(bn), nv = \(vn);")
                c.line("for (long b = 0; b < nb; b++) for (long j = 0; j < nv; j++) { float *o = \(addr("b", "j")); *o = first ? t[b * TV + j] : *o + t[b * TV + j]; }")
            }
        }
    }
}
