import TuneCore

/// Depthwise conv2d. Memory-bound, so it streams a zero-padded input copy once and keeps
/// a register tile of outputs: along width per channel plane (NCHW, weight C x R x S) or
/// along channels per pixel (NHWC, weight R x S x C).
struct DepthwiseTemplate: KernelTemplate {
    let task: TaskSpec
    let dwSpace: DepthwiseSpace
    var space: any ScheduleSpace { dwSpace }

    init(task: TaskSpec, target: CPUTarget) {
        self.task = task
        dwSpace = DepthwiseSpace(task: task, target: target)
    }

    func emit(_ c: inout CSource, _ schedule: Schedule) throws(ScheduleError) {
        let k = try DepthwiseKnobs(schedule)
        let t = task
        let nchw = t["layout"] == ConvLayout.nchw.rawValue
        let vec = k.vec, rb = k.rb, rv = k.rv, threads = k.threads
        let p = t.outputHeight, q = t.outputWidth, tv = rv * vec
        let st = t["stride"], dil = t["dil"]
        // Halo sized so the reads of every tile, including rows/lanes past the output, stay inside.
        let hpd = max(t["h"] + 2 * t["pad"], (p - 1 + (nchw ? rb : 1)) * st + (t["r"] - 1) * dil + 1)
        let wpd = max(t["w"] + 2 * t["pad"], (q - 1 + (nchw ? tv : rb)) * st + (t["s"] - 1) * dil + 1)
        let cp = nchw ? t["c"] : (t["c"] + tv - 1) / tv * tv
        c.line(CPrelude.vectorTypes(lanes: vec))
        for (k, v) in [("N_", t["n"]), ("C_", t["c"]), ("H_", t["h"]), ("W_", t["w"]), ("R_", t["r"]), ("S_", t["s"]),
                       ("ST", st), ("PAD", t["pad"]), ("DIL", dil), ("P_", p), ("Q_", q), ("HPD", hpd), ("WPD", wpd),
                       ("CP", cp), ("RB", rb), ("TV", tv)] {
            c.line("#define \(k) \(v)L")
        }
        c.line("#define MIN(a, b) ((a) < (b) ? (a) : (b))")
        // NCHW: one padded plane per thread, refilled for each channel (it stays in L2; a
        // padded copy of the whole input was written back to memory and read again, a
        // third more traffic for an operator that is all traffic). NHWC: the whole input.
        CPrelude.scratch(&c, nchw ? [("inP", ["\(threads) * HPD * WPD"])] : [("inP", ["N_ * HPD * WPD * CP"]), ("wP", ["R_ * S_ * CP"])])
        c.line()
        let unroll = k.unroll
        c.block("static inline __attribute__((always_inline)) void tile(tf_scratch *restrict S, const float *restrict pl, long rs, long off, const float *restrict w, float *restrict out, long n, long ch, long oh, long ow0)") { c in
            for b in 0..<rb { c.line("vf " + (0..<rv).map { "a\(b)_\($0) = {0}" }.joined(separator: ", ") + ";") }
            c.block("for (long r = 0; r < R_; r++)") { c in
                c.line("#pragma GCC unroll \(unroll)")
                c.block("for (long s = 0; s < S_; s++)") { c in
                    if nchw {
                        // ch is the channel; rows b are output rows oh+b, lanes run along width.
                        c.line("vf y = BC(w[(ch * R_ + r) * S_ + s]);")
                        for b in 0..<rb {
                            c.line("{ const float *ip = pl + (off + ((oh + \(b)) * ST + r * DIL) * rs + ow0 * ST + s * DIL);")
                            for v in 0..<rv {
                                if st == 1 { c.line("  a\(b)_\(v) += y * *(const vfu *)(ip + \(v * vec));") }
                                else { c.line("  { vf x; for (int l = 0; l < VL; l++) x[l] = ip[(\(v * vec) + l) * ST]; a\(b)_\(v) += y * x; }") }
                            }
                            c.line("}")
                        }
                    } else {
                        // ch is the first channel of the tile; rows b are pixels ow0+b.
                        c.line("const float *wp = wP + (r * S_ + s) * CP + ch;")
                        c.line("vf " + (0..<rv).map { "y\($0) = *(const vfu *)(wp + \($0 * vec))" }.joined(separator: ", ") + ";")
                        for b in 0..<rb {
                            c.line("{ const float *ip = inP + ((n * HPD + oh * ST + r * DIL) * WPD + (ow0 + \(b)) * ST + s * DIL) * CP + ch; "
                                   + (0..<rv).map { "a\(b)_\($0) += y\($0) * *(const vfu *)(ip + \($0 * vec));" }.joined(separator: " ") + " }")
                        }
                    }
                }
            }
            let addr = nchw ? { (b: String, j: String) in "out + ((n * C_ + ch) * P_ + oh + \(b)) * Q_ + ow0 + \(j)" }
                            : { (b: String, j: String) in "out + ((n * P_ + oh) * Q_ + ow0 + \(b)) * C_ + ch + \(j)" }
            let full = nchw ? "oh + RB <= P_ && ow0 + TV <= Q_" : "ow0 + RB <= Q_ && ch + TV <= C_"
            c.block("if (\(full))") { c in
                for b in 0..<rb {
                    c.line((0..<rv).map { "*(vfu *)(\(addr("\(b)", "\($0 * vec)"))) = a\(b)_\($0);" }.joined(separator: " "))
                }
            }
            c.block("else") { c in
                c.line("float t[RB * TV] __attribute__((aligned(64)));")
                for b in 0..<rb {
                    c.line((0..<rv).map { "*(vf *)(t + \(b * tv + $0 * vec)) = a\(b)_\($0);" }.joined(separator: " "))
                }
                let (bn, vn) = nchw ? ("MIN(RB, P_ - oh)", "MIN(TV, Q_ - ow0)") : ("MIN(RB, Q_ - ow0)", "MIN(TV, C_ - ch)")
                c.line("const long nb = \(bn), nv = \(vn);")
                c.line("for (long b = 0; b < nb; b++) for (long j = 0; j < nv; j++) *(\(addr("b", "j"))) = t[b * TV + j];")
            }
        }
        c.block("static int tf_kernel(float *const *args, tf_scratch *restrict S)") { c in
            c.line("const float *in = args[0], *w = args[1]; float *out = args[2];")
            let omp = threads > 1 ? "#pragma omp parallel for schedule(static) num_threads(\(threads))" : ""
            if nchw {
                // Tiles whose reads all fall inside the plane (`DepthwiseInterior`) read the
                // caller's input; the others read the thread's padded plane, into which only
                // the rows and column strips they read are copied, right before, so they find
                // it in cache. Only the interior is written, so the zeroed halo stays 0. (A
                // copy of the whole plane took a third of the 112x112 layer.)
                let inner = DepthwiseInterior(task: t, rb: rb, tv: tv, planeHeight: hpd, planeWidth: wpd)
                for (k, v) in [("OHLO", inner.rows.lowerBound), ("OHHI", inner.rows.upperBound), ("OWLO", inner.columns.lowerBound),
                               ("OWHI", inner.columns.upperBound), ("TOPR", inner.topRows), ("BOTR", inner.bottomRow),
                               ("LEFTN", inner.leftFloats), ("RIGHTC", inner.rightColumn)] {
                    c.line("#define \(k) \(v)L")
                }
                if !omp.isEmpty { c.line(omp) }
                c.block("for (long nc = 0; nc < N_ * C_; nc++)") { c in
                    c.line("float *pl = inP + (long)\(threads > 1 ? "omp_get_thread_num()" : "0") * HPD * WPD;")
                    c.line("const float *src = in + nc * H_ * W_;")
                    c.block("for (long h = 0; h < H_; h++)") { c in
                        c.line("float *d = pl + (h + PAD) * WPD; const float *x = src + h * W_;")
                        c.line("if (h + PAD < TOPR || h + PAD >= BOTR) memcpy(d + PAD, x, W_ * sizeof(float));")
                        c.line("else { memcpy(d + PAD, x, LEFTN * sizeof(float)); if (RIGHTC < PAD + W_) memcpy(d + RIGHTC, x + RIGHTC - PAD, (PAD + W_ - RIGHTC) * sizeof(float)); }")
                    }
                    c.line("const long n = nc / C_, ch = nc % C_;")
                    c.line("for (long oh = 0; oh < P_; oh += RB) for (long ow0 = 0; ow0 < Q_; ow0 += TV)")
                    c.line("  if (oh >= OHLO && oh < OHHI && ow0 >= OWLO && ow0 < OWHI) tile(S, src, W_, -PAD * W_ - PAD, w, out, n, ch, oh, ow0);")
                    c.line("  else tile(S, pl, WPD, 0, w, out, n, ch, oh, ow0);")
                }
            } else {
                if !omp.isEmpty { c.line(omp) }
                c.line("for (long nh = 0; nh < N_ * H_; nh++) for (long x = 0; x < W_; x++) memcpy(inP + (((nh / H_) * HPD + nh % H_ + PAD) * WPD + x + PAD) * CP, in + (nh * W_ + x) * C_, C_ * sizeof(float));")
                c.line("for (long rs = 0; rs < R_ * S_; rs++) memcpy(wP + rs * CP, w + rs * C_, C_ * sizeof(float));")
                if !omp.isEmpty { c.line(omp) }
                c.block("for (long no = 0; no < N_ * P_; no++)") { c in
                    c.line("const long n = no / P_, oh = no % P_;")
                    c.line("for (long ow0 = 0; ow0 < Q_; ow0 += RB) for (long ch = 0; ch < C_; ch += TV) tile(S, inP, 0, 0, w, out, n, ch, oh, ow0);")
                }
            }
            c.line("return 0;")
        }
    }
}

/// Which NCHW depthwise tiles read only inside the input plane, and which parts of the
/// padded plane the others read (pure geometry). Tiles start at output rows `oh` (multiples
/// of `rb`) and columns `ow0` (multiples of `tv`); a tile is interior when both its row and
/// its column range are. The others read padded rows [0, topRows) and [bottomRow, plane
/// height) in full and, in the rows between, padded columns [0, PAD + leftFloats) and
/// [rightColumn, plane width).
struct DepthwiseInterior: Equatable, Sendable {
    /// Tile starts whose rows (columns) read only inside the input.
    let rows: Range<Int>, columns: Range<Int>
    let topRows: Int, bottomRow: Int, leftFloats: Int, rightColumn: Int

    init(task t: TaskSpec, rb: Int, tv: Int, planeHeight: Int, planeWidth: Int) {
        let st = t["stride"], pad = t["pad"], dil = t["dil"], h = t["h"], w = t["w"]
        /// Tile starts (multiples of `step` below `extent`) whose reads, padded coordinates
        /// start * st ... (start + step - 1) * st + (taps - 1) * dil, stay in [pad, pad + size).
        func inside(extent: Int, step: Int, taps: Int, size: Int) -> Range<Int> {
            let starts = stride(from: 0, to: extent, by: step).filter {
                $0 * st >= pad && ($0 + step - 1) * st + (taps - 1) * dil < pad + size
            }
            guard let first = starts.first, let last = starts.last else { return 0..<0 }
            return first..<(last + 1)
        }
        rows = inside(extent: t.outputHeight, step: rb, taps: t["r"], size: h)
        columns = inside(extent: t.outputWidth, step: tv, taps: t["s"], size: w)
        if rows.isEmpty || columns.isEmpty {
            (topRows, bottomRow, leftFloats, rightColumn) = (planeHeight, planeHeight, w, planeWidth)
            return
        }
        // The last padded row (column) read by the tiles before the interior, the first read after it.
        topRows = rows.lowerBound == 0 ? 0 : (rows.lowerBound - 1) * st + (t["r"] - 1) * dil + 1
        bottomRow = (rows.upperBound + rb - 1) / rb * rb * st
        let leftColumns = columns.lowerBound == 0 ? 0 : (columns.lowerBound - 1) * st + (t["s"] - 1) * dil + 1
        leftFloats = min(w, max(0, leftColumns - pad))
        rightColumn = (columns.upperBound + tv - 1) / tv * tv * st
    }
}
