import TuneCore

/// The Goto/BLIS schedule space of one GEMM-shaped problem (matmul, batch_matmul and
/// pointwise convolutions).
///
/// Knobs:
/// - `mr`, `nr`: the register micro-tile of C (rows x columns); `nr` is a multiple of `vec`.
/// - `vec`: floats per vector (up to the device's lanes).
/// - `mc`, `nc`, `kc`: cache blocks over M, N, K. The code rounds `mc` down to a multiple of
///   `mr` and `nc` to a multiple of `nr` (and both down to the problem), so the search sees
///   the physical sizes it asked for.
/// - `packA`, `packB`: copy blocks into micro-kernel order (1) or read in place (0).
/// - `order`: 0 = jc,pc,ic,jr,ir (BLIS); 1 = jc,pc,ic,ir,jr; 2 = ic,pc,jc,jr,ir.
/// - `kunroll`: unroll of the micro-kernel's k loop.
/// - `threads`, `par`: OpenMP threads, and which block loop they split: 0 = the outermost
///   (with the batch), each thread packing privately; 1 = the block loop inside `pc`,
///   sharing the outer operand's packed panel.
public struct GemmSpace: ScheduleSpace {
    public let knobs: [KnobDomain]
    /// Vector registers the micro-kernel may hold live (accumulators + B vectors).
    public let vectorRegisters: Int
    /// B is stored transposed (N x K), so it must be packed.
    public let transposedB: Bool
    /// What the derived features are measured against.
    let problem: GemmProblem
    let target: CPUTarget

    init(problem p: GemmProblem, target: CPUTarget) {
        problem = p
        self.target = target
        let vecs = [target.lanes / 2, target.lanes].filter { $0 >= 4 }.nonEmpty(or: [target.lanes])
        let nrs = [8, 16, 24, 32, 48, 64].filter { nr in vecs.contains { nr % $0 == 0 } }
        knobs = [
            KnobDomain("mr", blockChoices([1, 2, 4, 6, 8, 12, 14, 16], extent: p.m)),
            KnobDomain("nr", blockChoices(nrs, extent: p.n)),
            KnobDomain("vec", vecs),
            KnobDomain("mc", blockChoices([48, 96, 144, 192, 288, 384], extent: p.m)),
            KnobDomain("nc", blockChoices([256, 512, 1024, 2048, 4096], extent: p.n)),
            KnobDomain("kc", blockChoices([64, 128, 256, 384, 512], extent: p.k)),
            KnobDomain("packA", [0, 1]),
            KnobDomain("packB", p.transposedB ? [1] : [0, 1]),
            KnobDomain("order", [0, 1, 2]),
            KnobDomain("kunroll", [1, 2, 4]),
            KnobDomain("threads", target.threadChoices),
            KnobDomain("par", target.threads > 1 ? [0, 1] : [0]),
        ]
        vectorRegisters = target.vectorRegisters
        transposedB = p.transposedB
        let sorted = knobs.map(\.name).sorted()
        slots = ["mr", "nr", "vec", "threads", "par", "packB"].map { sorted.firstIndex(of: $0) ?? 0 }
    }

    /// Where the knobs the constraints read sit in this space's schedules (sorted by name).
    let slots: [Int]

    /// Why a schedule breaks the space's constraints, as a value: the text is made only
    /// when someone reads it.
    enum Violation {
        case missingKnobs
        case lanes(nr: Int, vec: Int)
        case registers(mr: Int, nr: Int, vec: Int, live: Int, available: Int)
        case parallelWithOneThread(par: Int)
        case unpackedTransposedB

        var description: String {
            switch self {
            case .missingKnobs: return "missing knobs"
            case .lanes(let nr, let vec): return "nr=\(nr) is not a multiple of vec=\(vec)"
            case .registers(let mr, let nr, let vec, let live, let available):
                return "micro-tile \(mr)x\(nr) needs \(live) vector registers (\(mr * nr / vec) accumulators + \(nr / vec) B), device has \(available)"
            case .parallelWithOneThread(let par): return "par=\(par) needs threads > 1"
            case .unpackedTransposedB: return "transposed B must be packed"
            }
        }
    }

    func violation(_ s: Schedule) -> Violation? {
        guard let mr = s.value(of: "mr", at: slots[0]), let nr = s.value(of: "nr", at: slots[1]),
              let vec = s.value(of: "vec", at: slots[2]), let threads = s.value(of: "threads", at: slots[3]),
              let par = s.value(of: "par", at: slots[4]), let packB = s.value(of: "packB", at: slots[5])
        else { return .missingKnobs }
        if nr % vec != 0 { return .lanes(nr: nr, vec: vec) }
        let live = mr * (nr / vec) + nr / vec
        if live > vectorRegisters { return .registers(mr: mr, nr: nr, vec: vec, live: live, available: vectorRegisters) }
        if threads == 1 && par != 0 { return .parallelWithOneThread(par: par) }
        if transposedB && packB == 0 { return .unpackedTransposedB }
        return nil
    }

    public func constraintViolation(_ s: Schedule) -> String? { violation(s)?.description }
    public func satisfiesConstraints(_ s: Schedule) -> Bool { violation(s) == nil }
}

/// A GEMM C[b] = A[b] * B[b] (+ bias, activation) as one generated kernel sees it:
/// row-major operands with leading dimensions, an optional batch with strides.
struct GemmProblem {
    var m: Int, n: Int, k: Int
    var lda: Int, ldb: Int, ldc: Int
    var batch = 1
    var strideA = 0, strideB = 0, strideC = 0
    /// B(k, j) lives at B[j * ldb + k] instead of B[k * ldb + j].
    var transposedB = false
    var bias = false
    var act = Activation.none
    /// Indices of the operands in the kernel's argument array.
    var argA = 0, argB = 1, argBias = -1, argC = 2

    init(m: Int, n: Int, k: Int) {
        self.m = m; self.n = n; self.k = k
        lda = k; ldb = n; ldc = n
    }
}
