import TuneCore

/// Emits a Goto/BLIS GEMM for one `GemmProblem` and one schedule of its `GemmSpace`.
/// Edges are handled by zero-padded packing (or edge copies when a side is read in place)
/// and a masked write-back, so every micro-tile runs the same register code.
struct GemmCodegen {
    let p: GemmProblem
    let mr: Int, nr: Int, vec: Int, kunroll: Int
    let mc: Int, nc: Int, kc: Int
    let packA: Bool, packB: Bool
    let order: Int, threads: Int, par: Int

    init(problem p: GemmProblem, knobs g: GemmKnobs) {
        self.p = p
        mr = g.mr; nr = g.nr; vec = g.vec; kunroll = g.kunroll
        let mcR = max(mr, g.mc / mr * mr), ncR = max(nr, g.nc / nr * nr)
        mc = min(mcR, (p.m + mr - 1) / mr * mr)
        nc = min(ncR, (p.n + nr - 1) / nr * nr)
        kc = min(g.kc, p.k)
        packA = g.packA; packB = g.packB
        order = g.order; threads = g.threads; par = g.par
    }

    /// A is the outer operand (packed once per outer block) when the ic loop is outside.
    private var aOuter: Bool { order == 2 }

    /// The outer loop's step: MC (NC), except where threads split the outer blocks
    /// (`par` 0): then the fewest blocks the threads split evenly, of equal size in whole
    /// register tiles, no larger than MC (NC). 3,136 pixels in blocks of 256 are 12.25
    /// blocks, 7 for one thread and 5.25 for the other; in 14 blocks of 224 each has 7.
    var outerStep: Int {
        let (dim, blk, unit) = aOuter ? (p.m, mc, mr) : (p.n, nc, nr)
        guard threads > 1, par == 0 else { return blk }
        var blocks = (dim + blk - 1) / blk
        while p.batch * blocks % threads != 0 { blocks += 1 }
        return min(blk, ((dim + blocks - 1) / blocks + unit - 1) / unit * unit)
    }
    private var nv: Int { nr / vec }

    func emit(_ c: inout CSource) {
        c.line(CPrelude.vectorTypes(lanes: vec))
        for (k, v) in [("M_", p.m), ("N_", p.n), ("K_", p.k), ("LDA", p.lda), ("LDB", p.ldb), ("LDC", p.ldc),
                       ("MR", mr), ("NR", nr), ("MC", mc), ("NC", nc), ("KC", kc), ("BATCH", p.batch),
                       ("SA", p.strideA), ("SB", p.strideB), ("SC", p.strideC)] {
            c.line("#define \(k) \(v)L")
        }
        c.line("#define MIN(a, b) ((a) < (b) ? (a) : (b))")
        let sharedOuter = threads > 1 && par == 1
        var fields: [(name: String, extents: [String])] = []
        if packA { fields.append(("bufA", ["\(aOuter && sharedOuter ? 1 : threads)", "MC * KC"])) }
        if packB { fields.append(("bufB", ["\(!aOuter && sharedOuter ? 1 : threads)", "KC * NC"])) }
        if !packA { fields.append(("tmpA", ["\(threads)", "MR * KC"])) }
        if !packB { fields.append(("tmpB", ["\(threads)", "KC * NR"])) }
        CPrelude.scratch(&c, fields)
        c.line()
        emitPacking(&c)
        emitEpilogue(&c)
        emitMicroKernel(&c)
        emitMacroKernel(&c)
        emitDriver(&c)
    }

    private func emitPacking(_ c: inout CSource) {
        // B sliver s of a kb x nb panel whose (0,0) is at b: NR columns, k-major.
        c.block("static void pack_b(const float *restrict b, long kb, long nb, long s, float *restrict d)") { c in
            c.line("d += s * kb * NR; long j0 = s * NR, w = MIN(NR, nb - j0);")
            if p.transposedB {
                c.block("for (long j = 0; j < NR; j++)") { c in
                    c.line("const float *col = b + (j0 + j) * LDB;")
                    c.line("if (j < w) { for (long k = 0; k < kb; k++) d[k * NR + j] = col[k]; }")
                    c.line("else { for (long k = 0; k < kb; k++) d[k * NR + j] = 0.0f; }")
                }
            } else {
                c.line("if (w == NR) { for (long k = 0; k < kb; k++) for (long j = 0; j < NR; j++) d[k * NR + j] = b[k * LDB + j0 + j]; }")
                c.line("else { for (long k = 0; k < kb; k++) for (long j = 0; j < NR; j++) d[k * NR + j] = j < w ? b[k * LDB + j0 + j] : 0.0f; }")
            }
        }
        // A sliver s of an mb x kb block whose (0,0) is at a: MR rows, k-major.
        c.block("static void pack_a(const float *restrict a, long kb, long mb, long s, float *restrict d)") { c in
            c.line("d += s * kb * MR; long i0 = s * MR, h = MIN(MR, mb - i0);")
            c.block("for (long i = 0; i < MR; i++)") { c in
                c.line("const float *row = a + (i0 + i) * LDA;")
                c.line("if (i < h) { for (long k = 0; k < kb; k++) d[k * MR + i] = row[k]; }")
                c.line("else { for (long k = 0; k < kb; k++) d[k * MR + i] = 0.0f; }")
            }
        }
    }

    private func emitEpilogue(_ c: inout CSource) {
        guard p.bias || p.act != .none else { return }
        c.block("static inline void epilogue(float *restrict c, long mv, long nv, const float *restrict bias)") { c in
            c.block("for (long i = 0; i < mv; i++)") { c in
                c.block("for (long j = 0; j < nv; j++)") { c in
                    c.line("float v = c[i * LDC + j];")
                    if p.bias { c.line("v += bias[j];") }
                    switch p.act {
                    case .none: break
                    case .relu: c.line("v = tf_relu(v);")
                    case .gelu: c.line("v = tf_gelu(v);")
                    }
                    c.line("c[i * LDC + j] = v;")
                }
            }
        }
    }

    private func emitMicroKernel(_ c: inout CSource) {
        let epi = p.bias || p.act != .none
        c.block("static inline __attribute__((always_inline)) void ukr(long kb, const float *restrict a, long ars, long aks, const float *restrict b, long bks, float *restrict c, long mv, long nv, int first, int last, const float *restrict bias)") { c in
            for i in 0..<mr {
                c.line("vf " + (0..<nv).map { "c\(i)_\($0) = {0}" }.joined(separator: ", ") + ";")
            }
            c.line("#pragma GCC unroll \(kunroll)")
            c.block("for (long k = 0; k < kb; k++)") { c in
                c.line("const float *bk = b + k * bks;")
                c.line("vf " + (0..<nv).map { "b\($0) = *(const vfu *)(bk + \($0 * vec))" }.joined(separator: ", ") + ";")
                for i in 0..<mr {
                    CPrelude.broadcastRow(&c, accumulator: "c\(i)", operand: "b", vectors: nv, scalar: "&a[\(i) * ars + k * aks]")
                }
            }
            c.block("if (mv == MR && nv == NR)") { c in
                c.block("if (!first)") { c in
                    for i in 0..<mr {
                        c.line((0..<nv).map { "c\(i)_\($0) += *(const vfu *)(c + \(i) * LDC + \($0 * vec));" }.joined(separator: " "))
                    }
                }
                for i in 0..<mr {
                    c.line((0..<nv).map { "*(vfu *)(c + \(i) * LDC + \($0 * vec)) = c\(i)_\($0);" }.joined(separator: " "))
                }
                if epi { c.line("if (last) epilogue(c, MR, NR, bias);") }
            }
            c.block("else") { c in
                c.line("float t[MR * NR] __attribute__((aligned(64)));")
                for i in 0..<mr {
                    c.line((0..<nv).map { "*(vf *)(t + \(i * nr + $0 * vec)) = c\(i)_\($0);" }.joined(separator: " "))
                }
                c.line("for (long i = 0; i < mv; i++) for (long j = 0; j < nv; j++) c[i * LDC + j] = first ? t[i * NR + j] : c[i * LDC + j] + t[i * NR + j];")
                if epi { c.line("if (last) epilogue(c, mv, nv, bias);") }
            }
        }
    }

    /// The jr/ir loops over one packed (or in-place) A block and B panel.
    private func emitMacroKernel(_ c: inout CSource) {
        c.block("static void macro(tf_scratch *restrict S, long kb, long mb, long nb, const float *restrict a, const float *restrict b, float *restrict c, int first, int last, const float *restrict bias, int tid)") { c in
            if !packA { c.line("float *ta = tmpA[tid];") }
            if !packB { c.line("float *tb = tmpB[tid];") }
            let jr = "for (long jr = 0; jr < nb; jr += NR)", ir = "for (long ir = 0; ir < mb; ir += MR)"
            c.block(order == 1 ? ir : jr) { c in
                c.block(order == 1 ? jr : ir) { c in
                    c.line("long mv = MIN(MR, mb - ir), nv = MIN(NR, nb - jr);")
                    c.line("const float *bi = bias ? bias + jr : 0; float *ct = c + ir * LDC + jr;")
                    let aFull = packA ? "a + ir * kb, 1, MR" : "a + ir * LDA, LDA, 1"
                    let bFull = packB ? "b + jr * kb, NR" : "b + jr, LDB"
                    c.line("if (mv == MR && nv == NR) ukr(kb, \(aFull), \(bFull), ct, MR, NR, first, last, bi);")
                    c.block("else") { c in
                        if packA {
                            c.line("const float *ap = a + ir * kb; long ars = 1, aks = MR;")
                        } else {
                            c.line("const float *ap = a + ir * LDA; long ars = LDA, aks = 1;")
                            c.block("if (mv < MR)") { c in
                                c.line("for (long i = 0; i < MR; i++) for (long k = 0; k < kb; k++) ta[i * KC + k] = i < mv ? a[(ir + i) * LDA + k] : 0.0f;")
                                c.line("ap = ta; ars = KC;")
                            }
                        }
                        if packB {
                            c.line("const float *bp = b + jr * kb; long bks = NR;")
                        } else {
                            c.line("const float *bp = b + jr; long bks = LDB;")
                            c.block("if (nv < NR)") { c in
                                c.line("for (long k = 0; k < kb; k++) for (long j = 0; j < NR; j++) tb[k * NR + j] = j < nv ? b[k * LDB + jr + j] : 0.0f;")
                                c.line("bp = tb; bks = NR;")
                            }
                        }
                        c.line("ukr(kb, ap, ars, aks, bp, bks, ct, mv, nv, first, last, bi);")
                    }
                }
            }
        }
    }

    private func emitDriver(_ c: inout CSource) {
        let biasArg = p.bias ? "args[\(p.argBias)]" : "0"
        let shared = threads > 1 && par == 1
        c.block("static int tf_kernel(float *const *args, tf_scratch *restrict S)") { c in
            c.line("const float *A = args[\(p.argA)], *B = args[\(p.argB)], *bias = \(biasArg); float *C = args[\(p.argC)];")
            if shared {
                c.line("#pragma omp parallel num_threads(\(threads))")
                c.block("") { c in
                    c.line("const int tid = omp_get_thread_num();")
                    emitLoopNest(&c)
                }
            } else {
                emitLoopNest(&c)
            }
            c.line("return 0;")
        }
    }

    private func emitLoopNest(_ c: inout CSource) {
        // The outer loop steps by OB (`outerStep`), the inner by its block.
        let outer = aOuter ? (dim: "M_", v: "ic", ext: "mb") : (dim: "N_", v: "jc", ext: "nb")
        let inner = aOuter ? (dim: "N_", blk: "NC", v: "jc", ext: "nb") : (dim: "M_", blk: "MC", v: "ic", ext: "mb")
        let shared = threads > 1 && par == 1
        c.line("#define OB \(outerStep)L")
        c.line("const long NO = (\(outer.dim) + OB - 1) / OB;")
        if threads > 1 && par == 0 { c.line("#pragma omp parallel for schedule(static) num_threads(\(threads))") }
        c.block("for (long t = 0; t < BATCH * NO; t++)") { c in
            if threads == 1 { c.line("const int tid = 0;") }
            else if par == 0 { c.line("const int tid = omp_get_thread_num();") }
            c.line("const long bt = t / NO, \(outer.v) = (t % NO) * OB, \(outer.ext) = MIN(OB, \(outer.dim) - \(outer.v));")
            c.line("const float *Ab = A + bt * SA, *Bb = B + bt * SB; float *Cb = C + bt * SC;")
            c.block("for (long pc = 0; pc < K_; pc += KC)") { c in
                c.line("const long kb = MIN(KC, K_ - pc); const int first = pc == 0, last = pc + kb >= K_;")
                emitOperand(&c, isA: aOuter, shared: shared, loopShared: shared)
                if shared { c.line("#pragma omp for schedule(static)") }
                c.block("for (long \(inner.v) = 0; \(inner.v) < \(inner.dim); \(inner.v) += \(inner.blk))") { c in
                    c.line("const long \(inner.ext) = MIN(\(inner.blk), \(inner.dim) - \(inner.v));")
                    emitOperand(&c, isA: !aOuter, shared: false, loopShared: false)
                    c.line("macro(S, kb, mb, nb, ablk, bblk, Cb + ic * LDC + jc, first, last, bias ? bias + jc : 0, tid);")
                }
            }
        }
    }

    /// Packs (or points at in place) the A block or B panel for the current (ic|jc, pc).
    private func emitOperand(_ c: inout CSource, isA: Bool, shared: Bool, loopShared: Bool) {
        if isA {
            guard packA else { c.line("const float *ablk = Ab + ic * LDA + pc;"); return }
            c.line("float *ablk = bufA[\(shared ? "0" : "tid")];")
            if loopShared { c.line("#pragma omp for schedule(static)") }
            c.line("for (long s = 0; s < (mb + MR - 1) / MR; s++) pack_a(Ab + ic * LDA + pc, kb, mb, s, ablk);")
        } else {
            let src = p.transposedB ? "Bb + jc * LDB + pc" : "Bb + pc * LDB + jc"
            guard packB else { c.line("const float *bblk = \(src);"); return }
            c.line("float *bblk = bufB[\(shared ? "0" : "tid")];")
            if loopShared { c.line("#pragma omp for schedule(static)") }
            c.line("for (long s = 0; s < (nb + NR - 1) / NR; s++) pack_b(\(src), kb, nb, s, bblk);")
        }
    }
}
