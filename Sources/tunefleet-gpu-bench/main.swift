// TuneFleet GPU check: generates candidates with CUDAKernels, compiles them with NVRTC,
// verifies each one and times it with CUDADriver, next to cuBLAS and (from a file written by
// torch_baselines.py) cuDNN. The SwiftPM product tunefleet-gpu-bench, built by
// tools/cuda/build_bench.sh with the Swift runtime linked in, so a node without Swift can run it.
//
//   bench --list                      tasks, one per line: name<TAB>op<TAB>k=v,...
//   bench --run VENDOR.tsv OUTDIR [filter]

#if canImport(Glibc)
import Glibc
#endif
import CSystemShim
import CUDADriver
import CUDAKernels
import CUDATestSupport
import Dispatch
import Synchronization
import TuneCore
import TuneSystem

tf_line_buffer_stdout()

func tasksToBench() -> [TaskSpec] {
    var out: [TaskSpec] = [
        task(.matmul, ["m": 4096, "n": 4096, "k": 4096]),
        task(.matmul, ["m": 128, "n": 768, "k": 768, "bias": 1]),
        task(.matmul, ["m": 128, "n": 3072, "k": 768, "bias": 1, "act": 2]),
        task(.matmul, ["m": 1, "n": 1000, "k": 2048, "bias": 1]),
        task(.batchMatmul, ["b": 12, "m": 128, "n": 128, "k": 64]),
    ]
    // ResNet-50 v1.5, batch 1, NCHW: every distinct convolution.
    let resnet: [[String: Int]] = [
        ["c": 3, "h": 224, "w": 224, "k": 64, "r": 7, "s": 7, "stride": 2, "pad": 3],
        ["c": 64, "h": 56, "w": 56, "k": 64, "r": 1, "s": 1],
        ["c": 64, "h": 56, "w": 56, "k": 64, "r": 3, "s": 3, "pad": 1],
        ["c": 64, "h": 56, "w": 56, "k": 256, "r": 1, "s": 1],
        ["c": 256, "h": 56, "w": 56, "k": 64, "r": 1, "s": 1],
        ["c": 256, "h": 56, "w": 56, "k": 128, "r": 1, "s": 1],
        ["c": 128, "h": 56, "w": 56, "k": 128, "r": 3, "s": 3, "stride": 2, "pad": 1],
        ["c": 128, "h": 28, "w": 28, "k": 512, "r": 1, "s": 1],
        ["c": 256, "h": 56, "w": 56, "k": 512, "r": 1, "s": 1, "stride": 2],
        ["c": 512, "h": 28, "w": 28, "k": 128, "r": 1, "s": 1],
        ["c": 128, "h": 28, "w": 28, "k": 128, "r": 3, "s": 3, "pad": 1],
        ["c": 512, "h": 28, "w": 28, "k": 256, "r": 1, "s": 1],
        ["c": 256, "h": 28, "w": 28, "k": 256, "r": 3, "s": 3, "stride": 2, "pad": 1],
        ["c": 256, "h": 14, "w": 14, "k": 1024, "r": 1, "s": 1],
        ["c": 512, "h": 28, "w": 28, "k": 1024, "r": 1, "s": 1, "stride": 2],
        ["c": 1024, "h": 14, "w": 14, "k": 256, "r": 1, "s": 1],
        ["c": 256, "h": 14, "w": 14, "k": 256, "r": 3, "s": 3, "pad": 1],
        ["c": 1024, "h": 14, "w": 14, "k": 512, "r": 1, "s": 1],
        ["c": 512, "h": 14, "w": 14, "k": 512, "r": 3, "s": 3, "stride": 2, "pad": 1],
        ["c": 512, "h": 7, "w": 7, "k": 2048, "r": 1, "s": 1],
        ["c": 1024, "h": 14, "w": 14, "k": 2048, "r": 1, "s": 1, "stride": 2],
        ["c": 2048, "h": 7, "w": 7, "k": 512, "r": 1, "s": 1],
        ["c": 512, "h": 7, "w": 7, "k": 512, "r": 3, "s": 3, "pad": 1],
    ]
    out += resnet.map { task(.conv2d, $0) }
    var nhwc = resnet[10]; nhwc["layout"] = 1
    out.append(task(.conv2d, nhwc))
    out.append(task(.depthwiseConv2d, ["c": 144, "h": 56, "w": 56, "r": 3, "s": 3, "pad": 1]))
    out.append(task(.depthwiseConv2d, ["c": 144, "h": 56, "w": 56, "r": 3, "s": 3, "pad": 1, "layout": 1]))
    out.append(task(.softmax, ["rows": 1536, "cols": 128]))
    out.append(task(.elementwise, ["n": 1 << 24, "chain": 3]))
    return out
}

/// Hand-picked GEMM points (the known-good SGEMM structures) plus seeded random samples.
/// Vector loads and warp shape fall back to the first valid choice.
func candidates(for t: TaskSpec, space: any ScheduleSpace, samples: Int) -> [Schedule] {
    var out: [Schedule] = []
    var seen = Set<Schedule>()
    func add(_ s: Schedule) { if space.isValid(s), seen.insert(s).inserted { out.append(s) } }
    func addFirstValid(_ base: [String: Int]) {
        for wx in [4, 8, 2, 16, 1, 32] { for va in [4, 1] { for vb in [4, 1] {
            var v = base
            v["wx"] = wx; v["va"] = va; v["vb"] = vb
            if space.isValid(Schedule(v)) { add(Schedule(v)); return }
        } } }
    }
    if t.op == .matmul || t.op == .batchMatmul || t.op == .conv2d {
        let big = t.flops > 1e10
        if big {
            for (bm, bn, tm, tn) in [(128, 128, 8, 8), (128, 256, 8, 16), (256, 128, 16, 8), (128, 64, 8, 8),
                                     (64, 128, 8, 8), (128, 128, 8, 4)] {
                for bk in [8, 16] { for wx in [4, 8] { for pad in [0, 4] { for swz in [1, 8] {
                    add(Schedule(["bm": bm, "bn": bn, "bk": bk, "tm": tm, "tn": tn, "wx": wx, "va": 4, "vb": 4,
                                  "db": 1, "pad": pad, "splitk": 1, "wk": 1, "swz": swz]))
                } } } }
                add(Schedule(["bm": bm, "bn": bn, "bk": 8, "tm": tm, "tn": tn, "wx": 4, "va": 4, "vb": 4,
                              "db": 0, "pad": 4, "splitk": 1, "wk": 1, "swz": 8]))
            }
        } else {
            for (bm, bn, tm, tn) in [(128, 128, 8, 8), (128, 64, 8, 8), (64, 128, 8, 8), (64, 64, 8, 8), (64, 64, 4, 4),
                                     (32, 64, 4, 4), (64, 32, 4, 4), (32, 32, 4, 4), (32, 32, 2, 2), (16, 64, 2, 4)] {
                for bk in [8, 32] { for splitk in [1, 2, 4, 8, 16] {
                    addFirstValid(["bm": bm, "bn": bn, "bk": bk, "tm": tm, "tn": tn, "db": 1, "pad": 4,
                                   "splitk": splitk, "wk": 1, "swz": 1])
                } }
                // Sliced K inside the block, alone or with a little split-K.
                for wk in [2, 4] { for splitk in [1, 2, 4] {
                    addFirstValid(["bm": bm, "bn": bn, "bk": 32, "tm": tm, "tn": tn, "db": 1, "pad": 4,
                                   "splitk": splitk, "wk": wk, "swz": 1])
                } }
            }
        }
    }
    var rng = SplitMix64(seed: FNV1a.hash(t.name))
    for _ in 0..<samples { if let s = space.sample(using: &rng) { add(s) } }
    return out
}

struct Row {
    var schedule: Schedule
    var status: String
    var seconds: Double
    var registers: Int
    var spills: Int
    var error: String
}

func median(_ xs: [Double]) -> Double { SampleStats(xs)?.median ?? .nan }

func fmt(_ x: Double, _ digits: Int = 2) -> String {
    guard x.isFinite else { return "nan" }
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let v = (x * p).rounded() / p
    return String(v)
}

func readVendor(_ path: String) -> [String: Double] {
    guard let f = fopen(path, "r") else { return [:] }
    defer { fclose(f) }
    var out: [String: Double] = [:]
    var line: UnsafeMutablePointer<CChar>? = nil
    var cap = 0
    while getline(&line, &cap, f) > 0 {
        let s = String(cString: line!).split(separator: "\t")
        if s.count >= 2, let v = Double(s[1].split(separator: "\n")[0]) { out[String(s[0])] = v }
    }
    free(line)
    return out
}

func appendFile(_ path: String, _ text: String) {
    guard let f = fopen(path, "a") else { return }
    fputs(text, f)
    fclose(f)
}

let args = CommandLine.arguments
if args.count >= 2 && args[1] == "--list" {
    for t in tasksToBench() {
        print("\(t.name)\t\(t.op.rawValue)\t\(t.params.map { "\($0.name)=\($0.value)" }.joined(separator: ","))")
    }
    exit(0)
}
if args.count >= 2 && args[1] == "--rehearse" {
    // No GPU: generate and NVRTC-compile every candidate for an H100 profile, as the run would.
    let device = h100Profile()
    let full = args.count >= 3 && args[2] == "compile"
    var total = 0, failures = 0
    let t0 = Monotonic.now()
    for t in tasksToBench() {
        guard let space = CUDAKernels.space(for: t, device: device) else { print("no space: \(t.name)"); continue }
        let big = t.op == .matmul && t.flops > 1e10
        let cands = candidates(for: t, space: space, samples: big ? 16 : 24)
        total += cands.count
        var line = "\(t.name): \(cands.count) candidates"
        if full {
            let sources = cands.compactMap { try? CUDAKernels.generate(task: t, schedule: $0, device: device, options: CodegenOptions()) }
            let bad = Mutex(0)
            // Every 10th source: a full compile of all of them takes minutes on two cores.
            DispatchQueue.concurrentPerform(iterations: sources.count) { i in
                if i % 10 == 0,  (try? NVRTCCompiler().compile(source: sources[i].source, architecture: "sm_90")) == nil { bad.withLock { $0 += 1 } }
            }
            let b = bad.withLock { $0 }
            failures += b + cands.count - sources.count
            line += ", \(b) compile failures"
        }
        print(line)
    }
    print("total \(total) candidates, \(failures) failures, \(fmt(Monotonic.now() - t0, 1)) s")
    exit(failures == 0 ? 0 : 1)
}
if args.count >= 2 && args[1] == "--smoke" {
    // The driver path end to end on a real GPU, as the test suite's device smoke test does:
    // compile, verify, time with host launches and from a graph, and check that a capture
    // runs nothing while a replay runs the real kernel.
    func fail(_ what: String) -> Never { print("smoke: FAIL \(what)"); exit(1) }
    do {
        let profile = try CUDAProbe.probe()
        guard let arch = NVRTCCompiler.architecture(computeCapability: profile.computeCapability) else { fail("no arch") }
        let t = task(.conv2d, ["c": 16, "h": 14, "w": 14, "k": 24, "r": 3, "s": 3, "pad": 1])
        let s = Schedule(["bm": 32, "bn": 32, "bk": 8, "tm": 4, "tn": 4, "wx": 4, "va": 1, "vb": 4, "db": 1, "pad": 4,
                          "splitk": 2, "wk": 1, "swz": 1])
        let k = try CUDAKernels.generate(task: t, schedule: s, device: profile, options: CodegenOptions())
        let module = try NVRTCCompiler().compile(source: k.source, architecture: arch)
        let ctx = try CUDAContext(ordinal: 0)
        let session = try KernelSession(context: ctx, kernel: k, cubin: module.cubin, task: t, device: profile)
        let ins = makeInputs(t, seed: 5)
        let want = reference(t, ins)
        try session.upload(inputs: ins)
        if let bad = firstMismatch(try session.checkedRun(timeoutSeconds: 10)[0], want, task: t) { fail("checked run \(bad)") }
        var plan = MeasurePlan()
        plan.repeats = 3
        plan.minRepeatSeconds = 0.002
        let direct = try session.time(plan: plan, l2Bytes: profile.l2Bytes, graph: false)
        let graphed = try session.time(plan: plan, l2Bytes: profile.l2Bytes)
        print("smoke: \(k.launches.count) launches per run; host launches \(fmt(median(direct.samples) * 1e6, 2)) us "
              + "(\(direct.method.rawValue)), graph \(fmt(median(graphed.samples) * 1e6, 2)) us (\(graphed.method.rawValue))")
        if graphed.method != .graph { fail("graph timing unavailable") }
        try session.poisonOutputs()
        guard let g = try ctx.captureGraph({ () throws(CUDAError) in try session.run() }) else { fail("capture") }
        if g.nodes != k.launches.count { fail("\(g.nodes) nodes captured, \(k.launches.count) launches") }
        if !(try session.outputs()[0]).allSatisfy({ $0.bitPattern == outputPoisonPattern }) { fail("capture ran the kernel") }
        try ctx.replay(g, times: 1, from: try ctx.makeEvent(), to: try ctx.makeEvent())
        if let bad = firstMismatch(try session.outputs()[0], want, task: t) { fail("replay output \(bad)") }
        if let cb = try? CUBLASBaseline(context: ctx) {
            let mm = task(.matmul, ["m": 256, "n": 256, "k": 256])
            let r = try cb.measure(task: mm, inputs: makeInputs(mm, seed: 2), plan: plan, l2Bytes: profile.l2Bytes)
            print("smoke: cuBLAS SGEMM 256^3 \(fmt(median(r.timed.samples) * 1e6, 2)) us (\(r.timed.method.rawValue))")
            if let bad = firstMismatch(r.output, reference(mm, makeInputs(mm, seed: 2)), task: mm) { fail("cuBLAS \(bad)") }
        }
        print("smoke: ok")
        exit(0)
    } catch {
        fail("\(error)")
    }
}
guard args.count >= 4, args[1] == "--run" else {
    print("usage: bench --list | bench --run VENDOR.tsv OUTDIR [name-filter] [samples]")
    exit(2)
}
let vendor = readVendor(args[2])
let outDir = args[3]
let filter = args.count >= 5 ? args[4] : ""
let sampleCount = args.count >= 6 ? Int(args[5]) ?? 24 : 24
let quiet = args.count >= 7 && args[6] == "quiet"

let libs = CUDALibraries.shared
let profile: DeviceProfile
do { profile = try CUDAProbe.probe() } catch {
    print("probe failed: \(error)")
    exit(1)
}
if !quiet { print("device: \(profile.model) cc \(profile.computeCapability) SMs \(profile.smCount) clock \(profile.clockMHz) MHz "
      + "peak \(fmt(profile.peakGFLOPS / 1000)) TFLOP/s bw \(fmt(profile.memoryBandwidthGBs, 0)) GB/s L2 \(profile.l2Bytes) "
      + "smem \(profile.sharedMemPerBlock)/\(profile.sharedMemPerBlockOptin) regs \(profile.registersPerBlock) driver \(profile.driverVersion) "
      + "nvrtc \(profile.compilerVersion) fingerprint \(profile.fingerprint)") }
print("nvrtc: \((try? libs.nvrtcLocation().get()) ?? "?")  cublas: \((try? libs.cublasLocation().get()) ?? "not found")")
guard let arch = NVRTCCompiler.architecture(computeCapability: profile.computeCapability) else { exit(1) }
let ctx: CUDAContext
do { ctx = try CUDAContext(ordinal: 0) } catch { print("context: \(error)"); exit(1) }
let cublas = try? CUBLASBaseline(context: ctx)
let compiler = NVRTCCompiler()

var plan = MeasurePlan()
plan.warmupRuns = 1
plan.repeats = 5
plan.minRepeatSeconds = 0.003
plan.runTimeoutSeconds = 10

// Appended to, so that one process per task (gpu_bench.sh) adds up to one table.
var summary = ""
var all = ""
let startAll = Monotonic.now()

// An exact task name selects that task; any other text selects the tasks containing it.
let exact = tasksToBench().contains { $0.name == filter }
for t in tasksToBench() where filter.isEmpty || (exact ? t.name == filter : t.name.contains(filter)) {
    guard let space = CUDAKernels.space(for: t, device: profile) else { continue }
    let big = t.op == .matmul && t.flops > 1e10
    let cands = candidates(for: t, space: space, samples: big ? 16 : sampleCount)
    let kernels: [GeneratedKernel?] = cands.map { try? CUDAKernels.generate(task: t, schedule: $0, device: profile, options: CodegenOptions()) }
    // Compile in parallel on the host cores, as the agent does.
    let compiled = Mutex([Int: Result<CompiledModule, CUDAError>]())
    DispatchQueue.concurrentPerform(iterations: cands.count) { i in
        guard let k = kernels[i] else { return }
        let r = Result { () throws(CUDAError) -> CompiledModule in try compiler.compile(source: k.source, architecture: arch) }
        compiled.withLock { $0[i] = r }
    }
    let modules = compiled.withLock { $0 }
    let inputs = makeInputs(t, seed: 11)
    // Reference: cuBLAS (+ host epilogue) for big GEMMs, the double-precision host
    // reference otherwise.
    var vendorSeconds = vendor[t.name] ?? .nan
    var vendorMethod = "torch cuda-graph"
    var refOut: [Double]
    if CUBLASBaseline.supports(t), let cb = cublas {
        do {
            let (o, timed) = try cb.measure(task: t, inputs: inputs, plan: plan, l2Bytes: profile.l2Bytes)
            if vendorSeconds.isNaN || t.op == .matmul || t.op == .batchMatmul { vendorSeconds = median(timed.samples) }
            vendorMethod = timed.method.rawValue
            if big {
                refOut = o.map(Double.init)
            } else {
                refOut = reference(t, inputs)
            }
        } catch {
            print("cuBLAS failed: \(error)")
            refOut = big ? [] : reference(t, inputs)
        }
    } else {
        refOut = reference(t, inputs)
    }
    var rows: [Row] = []
    var fastest: (seconds: Double, session: KernelSession)? = nil
    var method = "-"
    for (i, s) in cands.enumerated() {
        guard let k = kernels[i] else { continue }
        var row = Row(schedule: s, status: "ok", seconds: .nan, registers: 0, spills: 0, error: "")
        switch modules[i] {
        case .failure(let e)?:
            row.status = "compile_error"; row.error = String(e.description.prefix(300))
        case nil:
            row.status = "compile_error"
        case .success(let m)?:
            let res = m.resources[k.entry] ?? KernelResources()
            row.registers = res.registers; row.spills = res.spillStoreBytes + res.spillLoadBytes
            do {
                let session = try KernelSession(context: ctx, kernel: k, cubin: m.cubin, task: t, device: profile)
                try session.upload(inputs: inputs)
                let out = try session.checkedRun(timeoutSeconds: 10)[0]
                if !refOut.isEmpty, let bad = firstMismatch(out, refOut, task: t) {
                    row.status = "wrong_answer"; row.error = "[\(bad.0)] got \(bad.1) want \(bad.2)"
                } else {
                    let timed = try session.time(plan: plan, l2Bytes: profile.l2Bytes)
                    row.seconds = median(timed.samples)
                    method = timed.method.rawValue
                    if row.seconds < fastest?.seconds ?? .infinity { fastest = (row.seconds, session) }
                }
            } catch {
                row.status = "runtime_error"; row.error = error.description
                if ctx.poisoned != nil { print("context poisoned by \(t.name) \(s): \(error)"); rows.append(row); break }
            }
        }
        rows.append(row)
        all += "\(t.name)\t\(s.encoding)\t\(row.status)\t\(row.seconds)\t\(fmt(t.flops / row.seconds / 1e12, 3))\t\(row.registers)\t\(row.spills)\t\(row.error)\n"
    }
    let valid = rows.filter { $0.status == "ok" && $0.seconds.isFinite }.sorted { $0.seconds < $1.seconds }
    let failed = rows.filter { $0.status != "ok" }
    let best = valid.first
    let bestS = best?.seconds ?? .nan
    // The winner once more with host launches, to show what the graph took away.
    var bestStream = Double.nan
    if let session = fastest?.session {
        bestStream = median((try? session.time(plan: plan, l2Bytes: profile.l2Bytes, graph: false))?.samples ?? [])
    }
    fastest = nil
    let ratio = vendorSeconds / bestS
    print("\(t.name): \(valid.count)/\(rows.count) ok, best \(fmt(bestS * 1e6, 1)) us = \(fmt(t.flops / bestS / 1e12, 2)) TFLOP/s"
          + " vendor \(fmt(vendorSeconds * 1e6, 1)) us = \(fmt(t.flops / vendorSeconds / 1e12, 2)) TFLOP/s ratio \(fmt(ratio, 3))"
          + "  [\(best?.schedule.encoding ?? "-") regs \(best?.registers ?? 0)] timing \(method), vendor \(vendorMethod); "
          + "best with stream launches \(fmt(bestStream * 1e6, 1)) us")
    for r in valid.prefix(2).dropFirst() { print("    next: \(fmt(r.seconds * 1e6, 1)) us \(r.schedule.encoding) regs \(r.registers)") }
    for f in failed.prefix(2) { print("    FAIL \(f.status) \(f.schedule.encoding): \(f.error.prefix(200))") }
    summary += "\(t.name)\t\(t.flops)\t\(bestS)\t\(fmt(t.flops / bestS / 1e12, 3))\t\(vendorSeconds)\t\(fmt(t.flops / vendorSeconds / 1e12, 3))\t\(fmt(ratio, 3))\t\(valid.count)\t\(rows.count)\t\(best?.schedule.encoding ?? "")\t\(bestStream)\t\(method)\t\(vendorMethod)\n"
    appendFile(outDir + "/summary.tsv", summary)
    appendFile(outDir + "/all.tsv", all)
    summary = ""; all = ""
    if ctx.poisoned != nil { print("stopping: context poisoned"); break }
}
print("total \(fmt(Monotonic.now() - startAll, 1)) s")
