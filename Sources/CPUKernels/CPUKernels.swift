import TuneCore

/// CPU code generation: the schedule space of each operator and its C template.
///
/// Generated C exports `int tunefleet_kernel(float *const *args, void *scratch)` (args in
/// `TaskSpec.tensors` order, shapes baked in, returns 0), or with `options.libraryEntry`
/// NAME `int NAME(float *const *args, void *scratch)` and `size_t NAME_scratch_bytes(void)`. It builds with
/// `cc -O3 -march=native -shared -fPIC` plus `GeneratedKernel.extraFlags`; no fast-math.
public enum CPUKernels {
    /// The schedule space of `task` on `device` with up to `threads` threads; nil when the
    /// operator has no CPU template.
    public static func space(for task: TaskSpec, device: DeviceProfile, threads: Int) -> (any ScheduleSpace)? {
        template(for: task, target: CPUTarget(device: device, threads: threads))?.space
    }

    /// Validates `schedule` (its space's domains and constraints, which carry the device's
    /// limits) and generates C. A `fault` knob is accepted only with
    /// `options.allowFaultInjection`: 1 writes through a null pointer (SIGSEGV), 2 spins
    /// forever, 3 corrupts the first output element.
    public static func generate(task: TaskSpec, schedule: Schedule, device: DeviceProfile, threads: Int,
                                options: CodegenOptions) throws(ScheduleError) -> GeneratedKernel {
        var values = schedule.values
        var fault = 0
        if let f = values.removeValue(forKey: "fault") {
            guard options.allowFaultInjection else { throw .unknownKnob("fault") }
            guard (0...3).contains(f) else { throw .outOfDomain(knob: "fault", value: f, allowed: [0, 1, 2, 3]) }
            fault = f
        }
        guard let t = template(for: task, target: CPUTarget(device: device, threads: threads)) else {
            throw .constraint("no CPU template for \(task.op.rawValue)")
        }
        let s = Schedule(values)
        try t.space.validate(s)
        let parallel = try s.required("threads") > 1

        var c = CSource()
        c.line(CPrelude.header)
        c.line("/* \(task.name) | \(schedule.encoding) */")
        if parallel { c.line(CPrelude.openmp) }
        c.line(CPrelude.activations)
        try t.emit(&c, s)
        c.line()
        emitEntry(&c, fault: fault, outputArg: task.tensors.count - 1, library: options.libraryEntry)

        var flags = ["-ffp-contract=fast"]
        if parallel { flags.append("-fopenmp") }
        return GeneratedKernel(language: .c, source: c.text, extraFlags: flags)
    }

    /// The exported entry wraps the template's `tf_kernel`; faults sit here so every
    /// operator has them. The volatile pointer keeps the compiler from turning the null
    /// store into a trap instruction (SIGILL instead of SIGSEGV).
    /// Both entries take the caller's scratch and say how big it must be, so the code
    /// timed is the code shipped: the harness places the scratch the same way in every
    /// worker (see `PlacedMemory`); a library entry (`options.libraryEntry`) holds no
    /// writable state of its own.
    private static func emitEntry(_ c: inout CSource, fault: Int, outputArg: Int, library: String?) {
        let name = library ?? GeneratedKernel.harnessEntry
        // This kernel's mark (its source so far): scratch carrying another mark is zeroed first.
        let mark = String(FNV1a.hash(c.text) | 1, radix: 16)
        c.block("static void tf_prepare_scratch(tf_scratch *S)") { c in
            c.line("if (S->tf_ready != 0x\(mark)ULL) { memset(S, 0, sizeof *S); S->tf_ready = 0x\(mark)ULL; }")
        }
        if library == nil { c.line("__attribute__((visibility(\"default\")))") }
        c.block("size_t \(name)_scratch_bytes(void)") { c in c.line("return sizeof(tf_scratch);") }
        if let library {
            // Weights packed into the scratch once (templates with TF_HAS_PREPARE): again on demand.
            c.block("int \(library)_prepare(float *const *args, void *scratch)") { c in
                c.line("tf_prepare_scratch((tf_scratch *)scratch);")
                c.line("#ifdef TF_HAS_PREPARE")
                c.line("tf_prepare((tf_scratch *)scratch, args);")
                c.line("#endif")
                c.line("return 0;")
            }
        }
        if library == nil { c.line("__attribute__((visibility(\"default\")))") }
        c.block("int \(name)(float *const *args, void *scratch)") { c in
            switch fault {
            case 1: c.line("volatile float *volatile nowhere = 0; *nowhere = 1.0f; /* fault=1: SIGSEGV (volatile pointee: the store cannot be elided) */")
            case 2: c.line("volatile int spin = 1; while (spin) {} /* fault=2: hang */")
            default: break
            }
            c.line("tf_prepare_scratch((tf_scratch *)scratch);")
            c.line("int rc = tf_kernel(args, (tf_scratch *)scratch);")
            if fault == 3 { c.line("args[\(outputArg)][0] += 1.0f; /* fault=3: wrong answer */") }
            c.line("return rc;")
        }
    }

    static func template(for task: TaskSpec, target: CPUTarget) -> KernelTemplate? {
        switch task.op {
        case .matmul:
            var p = GemmProblem(m: task["m"], n: task["n"], k: task["k"])
            p.bias = task["bias"] == 1
            p.act = Activation(rawValue: task["act"]) ?? .none
            if p.bias { p.argBias = 2; p.argC = 3 }
            return GemmTemplate(problem: p, target: target)
        case .batchMatmul:
            var p = GemmProblem(m: task["m"], n: task["n"], k: task["k"])
            p.batch = task["b"]
            p.strideA = p.m * p.k; p.strideB = p.k * p.n; p.strideC = p.m * p.n
            return GemmTemplate(problem: p, target: target)
        case .conv2d:
            if let p = ConvTemplate.pointwiseGemm(task) { return GemmTemplate(problem: p, target: target) }
            return ConvTemplate(task: task, target: target)
        case .depthwiseConv2d:
            return DepthwiseTemplate(task: task, target: target)
        case .softmax:
            return SoftmaxTemplate(task: task, target: target)
        case .elementwise:
            return ElementwiseTemplate(task: task, target: target)
        }
    }
}

/// One operator's space and C emitter. `emit` runs only on schedules the space validated
/// and must define `static int tf_kernel(float *const *args)`.
protocol KernelTemplate {
    var space: any ScheduleSpace { get }
    /// Decodes the schedule into the template's typed knobs once; a missing knob throws.
    func emit(_ c: inout CSource, _ schedule: Schedule) throws(ScheduleError)
}

struct GemmTemplate: KernelTemplate {
    let problem: GemmProblem
    let gemmSpace: GemmSpace
    init(problem: GemmProblem, target: CPUTarget) {
        self.problem = problem
        gemmSpace = GemmSpace(problem: problem, target: target)
    }
    var space: any ScheduleSpace { gemmSpace }
    func emit(_ c: inout CSource, _ schedule: Schedule) throws(ScheduleError) {
        GemmCodegen(problem: problem, knobs: try GemmKnobs(schedule)).emit(&c)
    }
}
