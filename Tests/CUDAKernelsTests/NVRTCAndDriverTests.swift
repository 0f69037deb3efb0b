import CUDADriver
import CUDAKernels
import CUDATestSupport
import Testing
import TuneCore

let nvrtcMissingMessage = """
    NVRTC not found: install it with `pip install nvidia-cuda-nvrtc==13.0.88` (lands in \
    site-packages/nvidia/cu13/lib) or point TUNEFLEET_NVRTC at libnvrtc.so.13 or its folder
    """

let nvrtcAvailable: Bool = {
    if case .success = CUDALibraries.shared.nvrtcLocation() { return true }
    return false
}()

/// Every operator's space, compiled for real GPU architectures with NVRTC (no GPU needed).
@Suite struct NVRTCTests {
    @Test(.enabled(if: nvrtcAvailable, Comment(rawValue: nvrtcMissingMessage)),
          arguments: [("sm_80", a100Profile()), ("sm_90", h100Profile())])
    func sampledSchedulesOfEveryOperatorCompile(arch: String, device: DeviceProfile) throws {
        let compiler = NVRTCCompiler()
        var rng = SplitMix64(seed: 90)
        var tasks = smallTasks
        tasks.append(task(.matmul, ["m": 1, "n": 1000, "k": 2048, "bias": 1]))
        tasks.append(task(.conv2d, ["c": 256, "h": 14, "w": 14, "k": 256, "r": 3, "s": 3, "pad": 1]))
        var compiled = 0
        // Two samples per task keep the suite within a minute on two cores.
        for t in tasks {
            let space = try #require(CUDAKernels.space(for: t, device: device))
            for _ in 0..<2 {
                let s = try #require(space.sample(using: &rng))
                let k = try CUDAKernels.generate(task: t, schedule: s, device: device, options: CodegenOptions())
                let module: CompiledModule
                do { module = try compiler.compile(source: k.source, architecture: arch) } catch {
                    Issue.record("\(t.name) \(s): \(error)\n\(k.source)")
                    continue
                }
                #expect(!module.cubin.isEmpty)
                for l in k.launches {
                    let r = try #require(module.resources[l.entry], "no ptxas figures for \(l.entry) in:\n\(module.log)")
                    #expect(r.registers > 0 && r.registers <= 255, "\(l.entry): \(r)")
                }
                compiled += 1
            }
        }
        #expect(compiled == tasks.count * 2)
    }

    @Test(.enabled(if: nvrtcAvailable, Comment(rawValue: nvrtcMissingMessage)))
    func theFastSGEMMKernelCompilesWithoutSpills() throws {
        let t = task(.matmul, ["m": 4096, "n": 4096, "k": 4096])
        let s = Schedule(["bm": 128, "bn": 128, "bk": 8, "tm": 8, "tn": 8, "wx": 4, "va": 4, "vb": 4,
                          "db": 1, "pad": 4, "splitk": 1, "wk": 1, "swz": 8])
        let k = try CUDAKernels.generate(task: t, schedule: s, device: h100Profile(), options: CodegenOptions())
        let module = try NVRTCCompiler().compile(source: k.source, architecture: "sm_90")
        let r = try #require(module.resources[k.entry])
        #expect(r.spillStoreBytes == 0 && r.spillLoadBytes == 0, "\(r)")
        #expect(r.registers <= 255)
        #expect(module.detail["registers"] == String(r.registers))
    }

    /// The 3x3 layers decode their reduction index through a constant-memory tap table; the
    /// largest ResNet-50 table (512 channels x 9 taps) must compile without real spilling, with
    /// the split-K float4 output atomics of sm_90 and their scalar form on sm_80.
    @Test(.enabled(if: nvrtcAvailable, Comment(rawValue: nvrtcMissingMessage)), arguments: ["sm_80", "sm_90"])
    func convTapTablesCompileForTheLargestResNetLayer(arch: String) throws {
        let t = task(.conv2d, ["c": 512, "h": 14, "w": 14, "k": 512, "r": 3, "s": 3, "pad": 1])
        let s = Schedule(["bm": 32, "bn": 64, "bk": 32, "tm": 4, "tn": 4, "wx": 4, "va": 1, "vb": 4,
                          "db": 1, "pad": 4, "splitk": 4, "wk": 1, "swz": 1])
        let k = try CUDAKernels.generate(task: t, schedule: s, device: h100Profile(), options: CodegenOptions())
        #expect(k.source.contains("__constant__ int tf_taps_"))
        #expect(k.source.contains("atomicAdd(reinterpret_cast<float4*>"))
        let module = try NVRTCCompiler().compile(source: k.source, architecture: arch)
        let r = try #require(module.resources[k.entry])
        // ptxas on sm_90 parks one register (4 bytes) around the float4 atomics; more is a regression.
        #expect(r.spillStoreBytes <= 4 && r.spillLoadBytes <= 4, "\(r)\n\(module.log)")
    }

    @Test(.enabled(if: nvrtcAvailable, Comment(rawValue: nvrtcMissingMessage)))
    func compileErrorsCarryTheLog() throws {
        do {
            _ = try NVRTCCompiler().compile(source: "extern \"C\" __global__ void f() { undeclared(); }", architecture: "sm_90")
            Issue.record("compiled invalid source")
        } catch {
            #expect(error.kind == .compile)
            #expect(error.codeName == "NVRTC_ERROR_COMPILATION")
            #expect(error.message.contains("undeclared"))
        }
    }

    @Test func ptxasLogParsing() {
        let log = """
        ptxas info    : 0 bytes gmem
        ptxas info    : Compiling entry function 'tf_gemm_abc' for 'sm_90'
        ptxas info    : Function properties for tf_gemm_abc
            8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads
        ptxas info    : Used 128 registers, used 1 barriers, 1024 bytes smem, 380 bytes cmem[0]
        ptxas info    : Compiling entry function 'tf_gemm_abc_init' for 'sm_90'
        ptxas info    : Function properties for tf_gemm_abc_init
            0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Used 10 registers, used 0 barriers, 368 bytes cmem[0]
        """
        let r = NVRTCCompiler.parsePtxasLog(log)
        #expect(r["tf_gemm_abc"]?.registers == 128)
        #expect(r["tf_gemm_abc"]?.spillStoreBytes == 4)
        #expect(r["tf_gemm_abc"]?.spillLoadBytes == 12)
        #expect(r["tf_gemm_abc"]?.stackFrameBytes == 8)
        #expect(r["tf_gemm_abc"]?.sharedBytes == 1024)
        #expect(r["tf_gemm_abc_init"]?.registers == 10)
    }

    @Test func architectureFromComputeCapability() {
        #expect(NVRTCCompiler.architecture(computeCapability: "9.0") == "sm_90")
        #expect(NVRTCCompiler.architecture(computeCapability: "8.6") == "sm_86")
        #expect(NVRTCCompiler.architecture(computeCapability: "") == nil)
        #expect(CUDAProbe.fp32LanesPerSM(major: 9, minor: 0) == 128)
        #expect(CUDAProbe.fp32LanesPerSM(major: 8, minor: 0) == 64)
    }

    @Test func missingLibrariesAreReportedNotFatal() {
        let libs = CUDALibraries(settings: CUDALibrarySettings(nvrtcPath: "/nonexistent/libnvrtc.so.13",
                                                               environment: ["TUNEFLEET_CUBLAS": "/nonexistent"]))
        // The explicit path is tried first; the standard locations may still find one.
        switch libs.nvrtcLocation() {
        case .success(let path): #expect(!path.hasPrefix("/nonexistent"))
        case .failure(let e): #expect(e.kind == .libraryNotFound && e.message.contains("/nonexistent"))
        }
    }
}

/// The driver path. Without a driver it must fail cleanly with `.noDriver`: tested on every
/// machine by pointing at a driver library that does not exist. The real device is tested
/// only where a driver loads.
@Suite struct DriverTests {
    @Test func noDriverIsAnErrorNotACrash() throws {
        let libs = CUDALibraries(settings: CUDALibrarySettings(driverPath: "/nonexistent/libcuda.so.1"))
        #expect(!libs.hasDriver)
        #expect(throws: CUDAError.self) { _ = try CUDAProbe.probe(libraries: libs) }
        do {
            _ = try CUDAContext(ordinal: 0, libraries: libs)
            Issue.record("context without a driver")
        } catch {
            #expect(error.kind == .noDriver)
            #expect(error.function.contains("/nonexistent/libcuda.so.1"), "\(error)")
            #expect(!error.poisonsContext)
        }
        do {
            _ = try CUDAProbe.probe(libraries: libs)
            Issue.record("a profile without a driver")
        } catch { #expect(error.kind == .noDriver) }
    }

    @Test(.enabled(if: CUDALibraries.shared.hasDriver, "no CUDA driver loads on this machine: nothing to run on a device"))
    func aSmallMatmulRunsOnTheRealDevice() throws {
        try smokeOnRealDevice()
    }

    /// Probe, compile, load, verify and time a small matmul (runs only where a driver exists).
    func smokeOnRealDevice() throws {
        let profile = try CUDAProbe.probe()
        #expect(profile.smCount > 0 && profile.peakGFLOPS > 0)
        let arch = try #require(NVRTCCompiler.architecture(computeCapability: profile.computeCapability))
        let t = task(.matmul, ["m": 96, "n": 80, "k": 64, "bias": 1, "act": 1])
        let space = try #require(CUDAKernels.space(for: t, device: profile))
        var rng = SplitMix64(seed: 3)
        let s = try #require(space.sample(using: &rng))
        let k = try CUDAKernels.generate(task: t, schedule: s, device: profile, options: CodegenOptions())
        let module = try NVRTCCompiler().compile(source: k.source, architecture: arch)
        let ctx = try CUDAContext(ordinal: 0)
        let session = try KernelSession(context: ctx, kernel: k, cubin: module.cubin, task: t, device: profile)
        let ins = makeInputs(t, seed: 5)
        try session.upload(inputs: ins)
        let out = try session.checkedRun(timeoutSeconds: 10)
        #expect(firstMismatch(out[0], reference(t, ins), task: t) == nil)
        var plan = MeasurePlan()
        plan.repeats = 3
        plan.minRepeatSeconds = 0.001
        let direct = try session.time(plan: plan, l2Bytes: profile.l2Bytes, graph: false)
        #expect(direct.method == .stream && direct.samples.count == 3 && direct.samples.allSatisfy { $0 > 0 })
        // A current driver times from a graph.
        let timed = try session.time(plan: plan, l2Bytes: profile.l2Bytes)
        #expect(timed.method == .graph)
        #expect(timed.samples.count == 3 && timed.samples.allSatisfy { $0 > 0 })
        // Capture records without running; a replay runs the real kernel.
        try session.poisonOutputs()
        let graph = try #require(try ctx.captureGraph { () throws(CUDAError) in try session.run() })
        #expect(graph.nodes == k.launches.count)
        #expect(try session.outputs()[0].allSatisfy { $0.bitPattern == outputPoisonPattern })
        try ctx.replay(graph, times: 1, from: try ctx.makeEvent(), to: try ctx.makeEvent())
        #expect(firstMismatch(try session.outputs()[0], reference(t, ins), task: t) == nil)
    }
}
