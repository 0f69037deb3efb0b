import TuneCore

/// Space of the streaming operators (softmax, elementwise chains): `vec` (floats per
/// vector), `unroll` (independent vectors per iteration: hides FP latency on reductions),
/// `threads` (OpenMP over rows or chunks). Small by design; these are memory-bound.
public struct StreamSpace: ScheduleSpace {
    public let knobs: [KnobDomain]
    let target: CPUTarget
    let task: TaskSpec
    init(task: TaskSpec, target: CPUTarget) {
        self.target = target
        self.task = task
        knobs = [
            KnobDomain("vec", [4, 8, 16].filter { $0 <= target.lanes }.nonEmpty(or: [4])),
            KnobDomain("unroll", [1, 2, 4, 8]),
            KnobDomain("threads", target.threadChoices),
        ]
    }
    public func constraintViolation(_ schedule: Schedule) -> String? { nil }
}

/// Bitwise helpers shared by the streaming templates: C has no vector `?:`, so max and
/// relu go through comparison masks (same results as the scalar `a > b ? a : b`).
private func maskHelpers(lanes: Int) -> String {
    """
    typedef int vi __attribute__((vector_size(\(lanes * 4))));
    static inline vf vmax(vf a, vf b) { vi k = a > b; return (vf)(((vi)a & k) | ((vi)b & ~k)); }

    """
}

/// Softmax over the last axis: max, exp-and-sum (libm expf, one pass storing into y), scale.
struct SoftmaxTemplate: KernelTemplate {
    let task: TaskSpec
    let streamSpace: StreamSpace
    var space: any ScheduleSpace { streamSpace }
    init(task: TaskSpec, target: CPUTarget) { self.task = task; streamSpace = StreamSpace(task: task, target: target) }

    func emit(_ c: inout CSource, _ schedule: Schedule) throws(ScheduleError) {
        let k = try StreamKnobs(schedule)
        let vec = k.vec, u = k.unroll, threads = k.threads
        c.line(CPrelude.vectorTypes(lanes: vec))
        c.line(maskHelpers(lanes: vec))
        c.line("#define ROWS \(task["rows"])L")
        c.line("#define COLS \(task["cols"])L")
        c.line("#define U \(u)L")
        c.block("static void row(const float *restrict x, float *restrict y)") { c in
            c.line("vf m[U]; for (long i = 0; i < U; i++) m[i] = BC(-INFINITY);")
            c.line("long j = 0;")
            c.line("for (; j + U * VL <= COLS; j += U * VL) for (long i = 0; i < U; i++) m[i] = vmax(m[i], *(const vfu *)(x + j + i * VL));")
            c.line("float mx = -INFINITY;")
            c.line("for (long i = 0; i < U; i++) for (long l = 0; l < VL; l++) mx = m[i][l] > mx ? m[i][l] : mx;")
            // Tails only where the row leaves one: an empty tail loop over a constant bound
            // draws gcc's -Waggressive-loop-optimizations in a user's build.
            let cols = task["cols"]
            if cols % (u * vec) != 0 { c.line("for (; j < COLS; j++) mx = x[j] > mx ? x[j] : mx;") }
            c.line("float sum[U] = {0};")
            c.line("for (j = 0; j + U <= COLS; j += U) for (long i = 0; i < U; i++) { float e = expf(x[j + i] - mx); y[j + i] = e; sum[i] += e; }")
            if cols % u != 0 { c.line("for (; j < COLS; j++) { float e = expf(x[j] - mx); y[j] = e; sum[0] += e; }") }
            c.line("float total = 0; for (long i = 0; i < U; i++) total += sum[i];")
            c.line("const vf inv = BC(1.0f / total);")
            c.line("for (j = 0; j + VL <= COLS; j += VL) *(vfu *)(y + j) = *(const vfu *)(y + j) * inv;")
            if cols % vec != 0 { c.line("for (; j < COLS; j++) y[j] *= inv[0];") }
        }
        CPrelude.scratch(&c, [])
        c.block("static int tf_kernel(float *const *args, tf_scratch *restrict S)") { c in
            if threads > 1 { c.line("#pragma omp parallel for schedule(static) num_threads(\(threads))") }
            c.line("for (long r = 0; r < ROWS; r++) row(args[0] + r * COLS, args[1] + r * COLS);")
            c.line("return 0;")
        }
    }
}

/// Elementwise chains z = f(x, y), by the task's `chain` parameter:
/// 0: x + y; 1: relu(x + y); 2: tanh(x * y + x); 3: gelu(x + y) (tanh approximation).
/// Chains 0 and 1 run on vectors; 2 and 3 compute their argument on vectors and call
/// `tf_tanh` per lane, branch-free arithmetic the compiler vectorizes.
struct ElementwiseTemplate: KernelTemplate {
    let task: TaskSpec
    let streamSpace: StreamSpace
    var space: any ScheduleSpace { streamSpace }
    init(task: TaskSpec, target: CPUTarget) { self.task = task; streamSpace = StreamSpace(task: task, target: target) }

    /// The scalar form of the chain, used for the tail and as documentation.
    static func scalar(chain: Int, x: String, y: String) -> String {
        switch chain {
        case 0: return "\(x) + \(y)"
        case 1: return "tf_relu(\(x) + \(y))"
        case 2: return "tf_tanh(\(x) * \(y) + \(x))"
        default: return "tf_gelu(\(x) + \(y))"
        }
    }

    func emit(_ c: inout CSource, _ schedule: Schedule) throws(ScheduleError) {
        let k = try StreamKnobs(schedule)
        let vec = k.vec, u = k.unroll, threads = k.threads, chain = task["chain"]
        c.line(CPrelude.vectorTypes(lanes: vec))
        c.line(maskHelpers(lanes: vec))
        c.line("#define NN \(task["n"])L")
        c.line("#define STEP \(u * vec)L")
        c.block("static inline __attribute__((always_inline)) vf chain(vf x, vf y)") { c in
            switch chain {
            case 0: c.line("return x + y;")
            case 1: c.line("return vmax(x + y, BC(0.0f));")
            case 2: c.line("vf u = x * y + x; for (int l = 0; l < VL; l++) u[l] = tf_tanh(u[l]); return u;")
            default: c.line("vf u = x + y; for (int l = 0; l < VL; l++) u[l] = tf_gelu(u[l]); return u;")
            }
        }
        CPrelude.scratch(&c, [])
        c.block("static int tf_kernel(float *const *args, tf_scratch *restrict S)") { c in
            c.line("const float *restrict x = args[0], *restrict y = args[1]; float *restrict z = args[2];")
            c.line("const long body = NN / STEP * STEP;")
            if threads > 1 { c.line("#pragma omp parallel for schedule(static) num_threads(\(threads))") }
            c.block("for (long i = 0; i < body; i += STEP)") { c in
                c.line("#pragma GCC unroll \(u)")
                c.line("for (long j = 0; j < STEP; j += VL) *(vfu *)(z + i + j) = chain(*(const vfu *)(x + i + j), *(const vfu *)(y + i + j));")
            }
            c.line("for (long i = body; i < NN; i++) z[i] = \(Self.scalar(chain: chain, x: "x[i]", y: "y[i]"));")
            c.line("return 0;")
        }
    }
}
