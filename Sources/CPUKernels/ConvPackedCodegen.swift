import TuneCore

/// NCHW direct convolution with vectors along output channels (`axis=1`).
///
/// It is an implicit GEMM: out(k, pixel) = sum over (c, r, s) of W(k, c, r, s) * X(c, pixel + (r, s)).
/// Each `rv*vec`-channel block of W is packed for each `cb`-channel slice into a
/// `[cb][R][S][rv*vec]` panel (zeros past the last channel) once, not per call: on the first
/// call with a scratch, or when a library user calls `_prepare` after changing the weights,
/// as a deployed model reorders its weights once (packing per call cost 20% of the 7x7x512
/// layer). The micro-kernel loads `rv`
/// aligned weight vectors and broadcasts the input under `rb` output pixels of the flattened
/// P*Q plane. Pixels are addressed through a table of input offsets, so a tile may cross
/// output rows; pixels past the plane read offset 0 and land in padding rows of the
/// accumulator buffer. That buffer is pixel-major (`[n][g][pixel][k]`, full-vector stores,
/// partial sums across channel slices) and is transposed into NCHW once at the end, 8x8
/// blocks through vectors, which is 1/(C*R*S) of the work.
///
/// Taps that read only padding are skipped (`ConvTaps`): each tile visits the kernel rows
/// its output rows read, and when no tile crosses an output row, each pixel of a tile at
/// either edge of the row leaves out the kernel columns in the padding (a variant of the
/// tile per edge pattern, from tables of each tile's rows and kind), and the kernel reads
/// the caller's input directly instead of a zero-padded copy.
struct PackedConvCodegen {
    let task: TaskSpec
    let knobs: ConvKnobs

    func emit(_ c: inout CSource) {
        let t = task, s = knobs
        let vec = s.vec, rb = s.rb, rv = s.rv
        let cpg = t["c"] / t["groups"], kpg = t["k"] / t["groups"]
        let cb = min(s.cb, cpg), threads = s.threads
        // par = 1: the threads share each weight panel and split its pixel tiles.
        let sharedPanel = threads > 1 && s.par == 1
        let tv = rv * vec
        let pq = t.outputHeight * t.outputWidth
        c.line(CPrelude.vectorTypes(lanes: vec))
        for (k, v) in [("N_", t["n"]), ("C_", t["c"]), ("H_", t["h"]), ("W_", t["w"]), ("K_", t["k"]),
                       ("R_", t["r"]), ("S_", t["s"]), ("ST", t["stride"]), ("PAD", t["pad"]), ("DIL", t["dil"]),
                       ("G_", t["groups"]), ("CPG", cpg), ("KPG", kpg), ("Q_", t.outputWidth), ("PQ", pq),
                       ("PQP", roundUp(pq, rb)), ("HP", t["h"] + 2 * t["pad"]), ("WPD", t["w"] + 2 * t["pad"]),
                       ("KPGP", roundUp(kpg, tv)), ("NKT", roundUp(kpg, tv) / tv), ("RB", rb), ("TV", tv), ("CB", cb)] {
            c.line("#define \(k) \(v)L")
        }
        let taps = ConvTaps(task: t, rb: rb)
        // The input the tiles read: the caller's (row-aligned tiles never touch padding) or the padded copy.
        c.line(taps.rowAligned ? "#define IPL (H_ * W_)\n#define IRW W_" : "#define IPL (HP * WPD)\n#define IRW WPD")
        c.line("#define MIN(a, b) ((a) < (b) ? (a) : (b))")
        // Zeroed on first use (see CPrelude.scratch); only the interior is ever written, so the halo stays 0.
        // wPk: every weight panel, packed once (on the first call with this scratch, or by the
        // library's _prepare when the weights change), as a deployed model reorders its weights
        // once; wMark[0] is 1 once packed.
        CPrelude.scratch(&c, (taps.rowAligned ? [] : [("inP", ["N_ * C_ * HP * WPD"])])
                         + [("wPk", ["G_ * KPGP * CPG * R_ * S_"]), ("wMark", ["16"]), ("oT", ["N_ * G_ * PQP * KPGP"])])
        // Each pixel's input offset and each tile's kernel rows and edge kind, constant
        // tables: no writable state outside the scratch.
        Self.table(&c, "static const long offT[PQP]", taps.offsets)
        Self.table(&c, "static const int rLoT[PQP / RB]", taps.rows.map(\.lowerBound))
        Self.table(&c, "static const int rHiT[PQP / RB]", taps.rows.map(\.upperBound))
        if taps.kinds.count > 1 { Self.table(&c, "static const unsigned char kindT[PQP / RB]", taps.tileKind) }
        c.line()
        emitPack(&c)
        c.line("#define TF_HAS_PREPARE 1")
        c.block("static void tf_prepare(tf_scratch *restrict S, float *const *args)") { c in
            c.line("for (long g = 0; g < G_; g++) for (long kt = 0; kt < KPG; kt += TV) for (long c0 = 0; c0 < CPG; c0 += CB)")
            c.line("  pack(wPk + ((g * NKT + kt / TV) * CPG + c0) * R_ * S_ * TV, args[1], g, kt, c0, MIN(c0 + CB, CPG), 0, TV);")
            c.line("wMark[0] = 1.0f;")
        }
        emitTiles(&c, taps: taps, rb: rb, rv: rv, vec: vec, unroll: s.unroll)
        c.block("static int tf_kernel(float *const *args, tf_scratch *restrict S)") { c in
            c.line("const float *in = args[0]; float *out = args[2];")
            c.line("if (wMark[0] != 1.0f) tf_prepare(S, args);")
            if threads > 1 { c.line("#pragma omp parallel num_threads(\(threads))") }
            c.block("") { c in
                let omp = threads > 1 ? "#pragma omp for schedule(static)" : nil
                // The input into its padded planes, split among the threads (serial, it was
                // about a tenth of the 56x56 layer on two threads); the loop's barrier orders
                // it before the tiles.
                if !taps.rowAligned {
                    if let omp { c.line(omp) }
                    c.line("for (long nc = 0; nc < N_ * C_; nc++) for (long h = 0; h < H_; h++) memcpy(inP + (nc * HP + h + PAD) * WPD + PAD, in + (nc * H_ + h) * W_, W_ * sizeof(float));")
                }
                c.block("for (long n = 0; n < N_; n++) for (long g = 0; g < G_; g++)") { c in
                    c.line("float *ot = oT + (n * G_ + g) * PQP * KPGP;")
                    let kt = "for (long kt = 0; kt < KPG; kt += TV)", c0 = "for (long c0 = 0; c0 < CPG; c0 += CB)"
                    let outer = s.order == 1 ? c0 : kt, inner = s.order == 1 ? kt : c0
                    if !sharedPanel, s.order != 1, let omp { c.line(omp) }
                    c.block(outer) { c in
                        if !sharedPanel, s.order == 1, let omp { c.line(omp) }
                        c.block(inner) { c in
                            c.line("const long c1 = MIN(c0 + CB, CPG);")
                            c.line("const float *ib = \(taps.rowAligned ? "in" : "inP") + (n * C_ + g * CPG + c0) * IPL;")
                            c.line("const float *wb = wPk + ((g * NKT + kt / TV) * CPG + c0) * R_ * S_ * TV;")
                            if sharedPanel, let omp { c.line(omp) }
                            c.line("for (long p0 = 0; p0 < PQ; p0 += RB) tile(wb, ib, ot + kt, c1 - c0, c0 == 0, p0);")
                        }
                    }
                }
                if let omp { c.line(omp) }
                emitUnpack(&c)
            }
            c.line("return 0;")
        }
    }

    /// Lanes [l0, l1) of the panel of output channels kt..kt+TV over input channels c0..c1.
    /// Lane l is the contiguous run of W for channel kt+l (zeros past the group's channels),
    /// so packing is a transposition: 8 lanes x 8 floats at a time through 8-float vectors
    /// (a scalar copy, which stores to a new cache line per float, cost as much as the
    /// whole 7x7 layer's arithmetic).
    private func emitPack(_ c: inout CSource) {
        c.line("typedef float v8 __attribute__((vector_size(32), aligned(4)));")
        c.line("#define SH __builtin_shufflevector")
        c.block("static void pack(float *restrict wb, const float *restrict w, long g, long kt, long c0, long c1, long l0, long l1)") { c in
            c.line("const long len = (c1 - c0) * R_ * S_, ld = CPG * R_ * S_;")
            c.line("const float *src = w + ((g * KPG + kt) * CPG + c0) * R_ * S_;")
            c.block("for (long l = l0; l < l1; l += 8)") { c in
                c.block("if (l + 8 <= l1 && kt + l + 8 <= KPG)") { c in
                    c.line("const float *s0 = src + l * ld; long j = 0;")
                    c.block("for (; j + 8 <= len; j += 8)") { c in
                        Self.emitTranspose8(&c, load: "s0 + a * ld + j", store: "wb + j * TV + l", stride: "TV")
                    }
                    c.line("for (; j < len; j++) for (long a = 0; a < 8; a++) wb[j * TV + l + a] = s0[a * ld + j];")
                }
                c.block("else for (long a = l; a < MIN(l + 8, l1); a++)") { c in
                    c.line("if (kt + a < KPG) for (long j = 0; j < len; j++) wb[j * TV + a] = src[a * ld + j];")
                    c.line("else for (long j = 0; j < len; j++) wb[j * TV + a] = 0.0f;")
                }
            }
        }
    }

    /// An 8x8 block of floats transposed through 8-float vectors: row `a` is read at `load`
    /// (an expression of `a`), row `b` of the result written at `store + b * stride`.
    private static func emitTranspose8(_ c: inout CSource, load: String, store: String, stride: String) {
        c.line("v8 r[8]; for (int a = 0; a < 8; a++) r[a] = *(const v8 *)(\(load));")
        for (t, a) in [(0, 0), (2, 2), (4, 4), (6, 6)] {
            c.line("v8 t\(t) = SH(r[\(a)], r[\(a + 1)], 0, 8, 1, 9, 4, 12, 5, 13), t\(t + 1) = SH(r[\(a)], r[\(a + 1)], 2, 10, 3, 11, 6, 14, 7, 15);")
        }
        for (u, x, y) in [(0, 0, 2), (2, 1, 3), (4, 4, 6), (6, 5, 7)] {
            c.line("v8 u\(u) = SH(t\(x), t\(y), 0, 1, 8, 9, 4, 5, 12, 13), u\(u + 1) = SH(t\(x), t\(y), 2, 3, 10, 11, 6, 7, 14, 15);")
        }
        c.line("float *d = \(store);")
        for b in 0..<8 {
            let lanes = b < 4 ? "0, 1, 2, 3, 8, 9, 10, 11" : "4, 5, 6, 7, 12, 13, 14, 15"
            c.line("*(v8 *)(d + \(b) * \(stride)) = SH(u\(b % 4), u\(b % 4 + 4), \(lanes));")
        }
    }

    /// The pixel-major buffer into NCHW: 8 pixels x 8 channels at a time through 8-float
    /// vectors and the same transposition as the packing (a strided scalar copy, one L2 read
    /// per float, was 7% of the 56x56 layer).
    private func emitUnpack(_ c: inout CSource) {
        c.block("for (long b = 0; b < N_ * G_ * ((KPG + 7) / 8); b++)") { c in
            c.line("const long ng = b / ((KPG + 7) / 8), k0 = b % ((KPG + 7) / 8) * 8, n = ng / G_, g = ng % G_;")
            c.line("const float *src = oT + ng * PQP * KPGP;")
            c.line("float *dst = out + (n * K_ + g * KPG) * PQ;")
            c.line("long p0 = 0;")
            c.block("if (k0 + 8 <= KPG) for (; p0 + 8 <= PQ; p0 += 8)") { c in
                Self.emitTranspose8(&c, load: "src + (p0 + a) * KPGP + k0", store: "dst + k0 * PQ + p0", stride: "PQ")
            }
            c.line("for (long k = k0; k < MIN(k0 + 8, KPG); k++) for (long p = p0; p < PQ; p++) dst[k * PQ + p] = src[p * KPGP + k];")
        }
    }

    /// A constant C array, 16 values a line.
    private static func table(_ c: inout CSource, _ declaration: String, _ values: [Int]) {
        c.line("\(declaration) = {")
        for row in stride(from: 0, to: values.count, by: 16) {
            c.line("  " + values[row..<min(row + 16, values.count)].map(String.init).joined(separator: ", ") + ",")
        }
        c.line("};")
    }

    /// `rb` pixels x `rv` channel vectors over one channel slice, added into the pixel-major
    /// buffer (stored on the first slice): one variant per edge kind of `taps` (kind 0, the
    /// interior, loops over the kernel columns; an edge kind lists them, each pixel's FMAs
    /// only where its column reads the input), and `tile` picks the variant of the tile.
    private func emitTiles(_ c: inout CSource, taps: ConvTaps, rb: Int, rv: Int, vec: Int, unroll: Int) {
        let params = "const float *restrict wb, const float *restrict ib, float *restrict ot, long cn, int first, long p0"
        for (kind, columns) in taps.kinds.enumerated() {
            c.block("static inline __attribute__((always_inline)) void tile\(kind)(\(params))") { c in
                c.line((0..<rb).map { "const long i\($0) = offT[p0 + \($0)];" }.joined(separator: " "))
                for b in 0..<rb { c.line("vf " + (0..<rv).map { "a\(b)_\($0) = {0}" }.joined(separator: ", ") + ";") }
                c.line("const long rlo = rLoT[p0 / RB], rhi = rHiT[p0 / RB];")
                c.block("for (long ci = 0; ci < cn; ci++) for (long r = rlo; r < rhi; r++)") { c in
                    /// The FMAs of kernel column `s` (a C expression) for the pixels given.
                    func step(_ c: inout CSource, _ s: String, pixels: [Int]) {
                        c.line("const float *wp = wb + ((ci * R_ + r) * S_ + \(s)) * TV;")
                        c.line("const long o = ci * IPL + r * DIL * IRW + \(s) * DIL;")
                        c.line("vf " + (0..<rv).map { "x\($0) = *(const vf *)(wp + \($0 * vec))" }.joined(separator: ", ") + ";")
                        for b in pixels {
                            CPrelude.broadcastRow(&c, accumulator: "a\(b)", operand: "x", vectors: rv, scalar: "&ib[i\(b) + o]")
                        }
                    }
                    if kind == 0 {
                        c.line("#pragma GCC unroll \(unroll)")
                        c.block("for (long s = 0; s < S_; s++)") { c in step(&c, "s", pixels: Array(0..<rb)) }
                    } else {
                        for s in 0..<task["s"] {
                            let pixels = (0..<rb).filter { columns[$0].contains(s) }
                            if !pixels.isEmpty { c.block("") { c in step(&c, "\(s)", pixels: pixels) } }
                        }
                    }
                }
                for b in 0..<rb {
                    c.line("{ float *o = ot + (p0 + \(b)) * KPGP; " + (0..<rv).map { v in
                        "vf *o\(v) = (vf *)(o + \(v * vec)); *o\(v) = first ? a\(b)_\(v) : *o\(v) + a\(b)_\(v);"
                    }.joined(separator: " ") + " }")
                }
            }
        }
        c.block("static inline __attribute__((always_inline)) void tile(\(params))") { c in
            if taps.kinds.count == 1 {
                c.line("tile0(wb, ib, ot, cn, first, p0);")
            } else {
                c.block("switch (kindT[p0 / RB])") { c in
                    for kind in 1..<taps.kinds.count { c.line("case \(kind): tile\(kind)(wb, ib, ot, cn, first, p0); return;") }
                    c.line("default: tile0(wb, ib, ot, cn, first, p0);")
                }
            }
        }
    }
}
