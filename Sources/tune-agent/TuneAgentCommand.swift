import ArgumentParser
import CUDADriver
import KernelReference
import Logging
import TuneAgent
import TuneConfig
import TuneCore
import TuneSystem
import TuneTransport
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@main
struct TuneAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune-agent",
        abstract: "Measures candidate kernels for a TuneFleet coordinator (one agent per device).",
        subcommands: [Serve.self, Probe.self, SelfTest.self, Worker.self, NVRTCCompile.self, Simulate.self],
        defaultSubcommand: Serve.self)

    /// `serve` (the default) reads `--config FILE`; the other subcommands take flags only.
    static func main() {
        // A log reader that goes away (`| tee` and Ctrl-C, a killed log shipper) must not end
        // the agent mid-batch: writes to a closed pipe fail instead. Children get the default back.
        signal(SIGPIPE, SIG_IGN)
        var commandLine = Array(CommandLine.arguments.dropFirst())
        let named = commandLine.first == Serve._commandName
        let serves = named || !(configuration.subcommands.contains { $0._commandName == commandLine.first })
        if serves && CommandSettings.configPath(in: commandLine) != nil {
            if named { commandLine.removeFirst() }
            do { commandLine = [Serve._commandName] + (try CommandSettings.expand(commandLine, command: Serve.self)) } catch {
                printError("tune-agent: \(error)")
                Glibc.exit(2)
            }
        }
        main(commandLine)
    }
}

struct DeviceOptions: ParsableArguments {
    @Option(help: "Device to measure on: cpu, or cuda[:N].")
    var device = "cpu"
    @Option(name: .customLong("cc"), help: "C compiler for CPU kernels.")
    var compiler = "cc"
    @Option(name: .customLong("cflags"), help: "Compiler flags for CPU kernels (space-separated; default -O3 -march=native).")
    var cflags: String?
    @Option(help: "Instruction-set level CPU kernels are compiled for: x86-64-v2 (SSE4.2), x86-64-v3 (AVX2), x86-64-v4 (AVX-512) or native. Each level is a target of its own.")
    var isa: String?
    @Option(help: "NVRTC library or its folder (default: $TUNEFLEET_NVRTC, then the usual places).")
    var nvrtc: String?
    @Option(help: "cuBLAS library or its folder, for the vendor baseline (default: $TUNEFLEET_CUBLAS, then the usual places).")
    var cublas: String?

    func validate() throws {
        guard device == "cpu" || cudaOrdinal != nil else {
            throw ValidationError("unknown device '\(device)': use cpu or cuda[:N]")
        }
        if let isa {
            guard CPUTargetLevel(rawValue: isa) != nil else {
                throw ValidationError("unknown --isa '\(isa)': use \(CPUTargetLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard device == "cpu" else { throw ValidationError("--isa applies to CPU devices only") }
            guard cflags == nil else { throw ValidationError("--isa sets the compiler flags; leave out --cflags") }
        }
    }

    /// The CPU's profile as a target of `--isa` (or as the flags say), or an exit with a
    /// clear message when the host cannot run that level.
    func cpuProfile() throws -> DeviceProfile {
        guard let level = isa.flatMap(CPUTargetLevel.init(rawValue:)) else { return CPUProbe.probe(compiler: compilerSettings) }
        do { return try CPUProbe.probe(level: level, compiler: compilerSettings) } catch {
            printError("tune-agent: \(error)")
            throw ExitCode(2)
        }
    }

    /// The CUDA device ordinal of `cuda` (0) or `cuda:N`; nil for anything else.
    var cudaOrdinal: Int? {
        if device == "cuda" { return 0 }
        guard device.hasPrefix("cuda:"), let n = Int(device.dropFirst(5)), n >= 0 else { return nil }
        return n
    }

    /// The CUDA libraries as the flags and the environment name them; explicit flags first.
    var cudaLibraries: CUDALibraries {
        var s = CUDALibrarySettings.fromProcessEnvironment()
        s.nvrtcPath = nvrtc ?? s.environment["TUNEFLEET_NVRTC"]
        s.cublasPath = cublas ?? s.environment["TUNEFLEET_CUBLAS"]
        return CUDALibraries(settings: s)
    }

    /// Flags a worker process needs to find the same libraries.
    var libraryArguments: [String] {
        (nvrtc.map { ["--nvrtc", $0] } ?? []) + (cublas.map { ["--cublas", $0] } ?? [])
    }

    /// The CUDA device's profile, or an exit with a clear message (no driver, no device).
    func cudaProfile(ordinal: Int, libraries: CUDALibraries) throws -> DeviceProfile {
        do { return try CUDAProbe.probe(ordinal: ordinal, libraries: libraries) } catch {
            let what = error.kind == .noDriver ? "no CUDA driver on this machine (libcuda.so.1 not loadable)" : "CUDA probe failed"
            printError("tune-agent: \(what): \(error)")
            throw ExitCode(3)
        }
    }

    /// The builder for this device and the worker command that runs its measurements.
    func makeBackend(options: CodegenOptions, cacheDir: String, memoryLimitMb: Int,
                     logger: Logger) throws -> (any KernelBuilder, WorkerHost.Settings) {
        let builder: any KernelBuilder
        var workerArguments = ["worker", "--device", device]
        if let ordinal = cudaOrdinal {
            let libraries = cudaLibraries
            let profile = try cudaProfile(ordinal: ordinal, libraries: libraries)
            if case .failure(let e) = libraries.nvrtcLocation() { logger.warning("NVRTC not found, every build will fail: \(e)") }
            // NVRTC in a child process of its own, so that a compile past the timeout is killed.
            guard let exe = currentExecutablePath() else { throw ValidationError("cannot find this executable's path") }
            builder = CUDABuilder(profile: profile, libraries: libraries, options: options,
                                  isolation: .childProcess(executable: exe, arguments: ["nvrtc"] + (nvrtc.map { ["--nvrtc", $0] } ?? [])))
            // No address-space limit: the CUDA driver reserves far more virtual memory than it uses.
            workerArguments += ["--memory-limit-mb", "0"] + libraryArguments
        } else {
            builder = CPUBuilder(profile: try cpuProfile(), compiler: CCompiler(settings: compilerSettings, cacheDir: cacheDir), options: options)
            workerArguments += ["--memory-limit-mb", "\(memoryLimitMb)"] + (isa.map { ["--isa", $0] } ?? [])
        }
        // A crashing kernel is an expected outcome in the worker, recorded with its signal;
        // Swift's crash backtracer would only delay the agent and flood its log.
        var env = currentEnvironment()
        env["SWIFT_BACKTRACE"] = "enable=no"
        if let cpu = builder as? CPUBuilder {
            let profile = cpu.profile
            // The vendor baseline runs the OpenBLAS kernel set of the target's level, set for
            // the worker alone (never this process or the machine): the library's own choice
            // can be far below the CPU (Prescott's SSE3 on a recent Xeon), and a baseline
            // above the target's level would time instructions the target may not use. An
            // OPENBLAS_CORETYPE already in the environment is the operator's, and is kept.
            if env["OPENBLAS_CORETYPE"] == nil, let want = OpenBLASCore.coreType(for: profile), want != OpenBLASInfo.coreName {
                logger.notice("vendor baseline: OpenBLAS picks \(OpenBLASInfo.coreName) kernels here; the worker uses \(want) (the level of \(profile.target.isEmpty ? "this CPU" : profile.target))")
                env["OPENBLAS_CORETYPE"] = want
            }
        }
        guard let exe = currentExecutablePath() else { throw ValidationError("cannot find this executable's path") }
        return (builder, WorkerHost.Settings(executable: exe, arguments: workerArguments, environment: env))
    }

    var compilerSettings: CompilerSettings {
        var c = CompilerSettings()
        c.compiler = compiler
        c.flags = isa.flatMap(CPUTargetLevel.init(rawValue:))?.compilerFlags
            ?? (cflags ?? "-O3 -march=native").split(separator: " ").map(String.init)
        return c
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Connect to a coordinator and measure batches (default).")

    @Option(help: "The coordinator's agent endpoint.")
    var coordinator = "tcp://127.0.0.1:7700"
    @OptionGroup var deviceOptions: DeviceOptions
    @Option(help: "Agent name shown in status and records (default: host name and device).")
    var name: String?
    @Option(help: "Batches held at once.")
    var slots = 1
    @Option(help: "Working folder for builds (default: a private folder under /tmp).")
    var workDir: String?
    @Option(help: "Heartbeat interval in seconds.")
    var heartbeat = 1.0
    @Option(help: "Memory limit of the measuring worker process, MiB (0: none).")
    var memoryLimitMb = 8192
    @Option(help: "This agent's CURVE key pair file (coordctl keygen NAME writes NAME.key).")
    var key: String?
    @Option(help: "The coordinator's public key: its .pub file or the key itself. Required with --key.")
    var serverKey: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"
    @Option(help: "Lock file the host's agents share so that no timing overlaps another agent's compile or timing (every agent of a host must name the same file; containers mount it).")
    var hostLock = "/tmp/tunefleet-host.lock"
    @Option(help: "Settings file (TOML): each key is a flag above without its dashes (device = \"cuda:0\", slots = 2); flags on the command line win.")
    var config: String?

    func validate() throws {
        guard (1...64).contains(slots) else { throw ValidationError("--slots must be 1...64") }
        if (key == nil) != (serverKey == nil) { throw ValidationError("--key and --server-key go together") }
        guard heartbeat > 0 && heartbeat <= 60 else { throw ValidationError("--heartbeat must be in (0, 60] seconds") }
        guard coordinator.hasPrefix("tcp://") || coordinator.hasPrefix("ipc://") else {
            throw ValidationError("--coordinator must be a tcp:// or ipc:// endpoint, got '\(coordinator)'")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
    }

    func run() throws {
        // A stop asked for while the device is probed (a compiler run, CUDA's start) is kept
        // for the loop: handlers first.
        let stop = StopSignal()
        onTerminationSignals { _ in stop.stop() }
        var logger = Logger(label: "tune-agent")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var settings = AgentSettings()
        settings.coordinatorEndpoint = coordinator
        settings.name = name ?? "\(hostName())-\(deviceOptions.device)"
        settings.slots = slots
        settings.heartbeatInterval = heartbeat
        settings.hostLockPath = hostLock
        if let key, let serverKey {
            do {
                settings.curve = CurveClientKeys(serverPublicKey: try CurveKeyFile.loadPublic(serverKey),
                                                 keys: try CurveKeyFile.loadPair(key))
            } catch {
                logger.error("\(error)")
                throw ExitCode(2)
            }
        }
        settings.workDir = try workDir ?? makeTemporaryDirectory(prefix: "tune-agent")
        let cache = settings.workDir + "/cache"
        try makeDirectories(cache)
        let faults = environmentValue("TUNEFLEET_TEST_FAULTS") == "1"
        if faults { logger.warning("test fault injection is ON (TUNEFLEET_TEST_FAULTS=1): never use this in production") }
        let (builder, worker) = try deviceOptions.makeBackend(options: CodegenOptions(allowFaultInjection: faults), cacheDir: cache,
                                                             memoryLimitMb: memoryLimitMb, logger: logger)
        let agent = Agent(settings: settings, builder: builder, worker: worker, logger: logger)
        do { try agent.run(stop: stop) } catch {
            logger.error("\(error)")
            throw ExitCode(2)
        }
        if workDir == nil { removeTree(settings.workDir) }
    }
}

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print this device's profile.")
    @OptionGroup var deviceOptions: DeviceOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        var libraryPaths: [String: String] = [:]
        let p: DeviceProfile
        if let ordinal = deviceOptions.cudaOrdinal {
            let libraries = deviceOptions.cudaLibraries
            p = try deviceOptions.cudaProfile(ordinal: ordinal, libraries: libraries)
            for (name, location) in [("nvrtc", libraries.nvrtcLocation()), ("cublas", libraries.cublasLocation())] {
                switch location {
                case .success(let path): libraryPaths[name] = path
                case .failure(let e): libraryPaths[name] = "not found: \(e.kind.rawValue)"
                }
            }
        } else {
            p = try deviceOptions.cpuProfile()
        }
        if json {
            struct Out: Encodable { var profile: DeviceProfile; var fingerprint: String; var libraries: [String: String]? }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let out = Out(profile: p, fingerprint: p.fingerprint, libraries: libraryPaths.isEmpty ? nil : libraryPaths)
            print(String(decoding: try enc.encode(out), as: UTF8.self))
        } else if p.deviceClass == .cuda {
            print("""
            device:      cuda — \(p.model) (compute capability \(p.computeCapability), driver \(p.driverVersion))
            SMs:         \(p.smCount), \(p.maxThreadsPerBlock) threads/block, warp \(p.warpSize)
            memory:      smem \(p.sharedMemPerBlock / 1024) KiB/block (opt-in \(p.sharedMemPerBlockOptin / 1024) KiB), \
            L2 \(p.l2Bytes / 1024 / 1024) MiB, \(Int(p.memoryBandwidthGBs)) GB/s
            registers:   \(p.registersPerSM) per SM, \(p.registersPerBlock) per block
            peak fp32:   \(Int(p.peakGFLOPS)) GFLOP/s
            nvrtc:       \(libraryPaths["nvrtc"] ?? "?") \(p.compilerVersion)
            cublas:      \(libraryPaths["cublas"] ?? "?")
            fingerprint: \(p.fingerprint)
            """)
        } else {
            print("""
            device:      \(p.deviceClass.rawValue) — \(p.model)
            cores:       \(p.cores) (\(p.threads) threads), \(Int(p.clockMHz)) MHz
            caches:      L1d \(p.l1dBytes / 1024) KiB, L2 \(p.l2Bytes / 1024) KiB, L3 \(p.l3Bytes / 1024 / 1024) MiB, line \(p.cacheLineBytes) B
            target:      \(p.target.isEmpty ? "native" : p.target)
            isa:         \(p.isa.joined(separator: " ")) (vector \(p.vectorBits) bit)
            peak fp32:   \(Int(p.peakGFLOPS)) GFLOP/s
            compiler:    \(p.compiler) \(p.compilerFlags.joined(separator: " ")) — \(p.compilerVersion)
            fingerprint: \(p.fingerprint)
            """)
        }
    }
}

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Internal: the measuring worker process.", shouldDisplay: false)
    @OptionGroup var deviceOptions: DeviceOptions
    @Option var memoryLimitMb = 0

    func run() throws {
        let runner: any KernelRunner
        if let ordinal = deviceOptions.cudaOrdinal {
            // The context opens on the first request, so even a driverless worker answers.
            runner = CUDARunner(ordinal: ordinal, libraries: deviceOptions.cudaLibraries)
        } else {
            runner = CPURunner(profile: try deviceOptions.cpuProfile())
        }
        let rc = WorkerMain.run(runner: runner, memoryLimitBytes: memoryLimitMb * 1024 * 1024)
        throw ExitCode(rc)
    }
}

/// Writes a line to standard error (file descriptor 2: no shared C `FILE*` involved).
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func hostName() -> String {
    var buf = [CChar](repeating: 0, count: 256)
    gethostname(&buf, buf.count)
    return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Hidden: one NVRTC compile for the agent's builder, in a process it can kill on timeout.
struct NVRTCCompile: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nvrtc", abstract: "Compile one CUDA source to a CUBIN (internal).",
                                                    shouldDisplay: false)
    @Option var arch: String
    @Option var source: String
    @Option var out: String
    @Option var nvrtc: String?
    /// Seconds after which the compile ends itself, should the agent's kill not arrive.
    @Option var deadline: Double = 0

    func run() throws {
        limitHelperLifetime(seconds: deadline)
        var s = CUDALibrarySettings.fromProcessEnvironment()
        s.nvrtcPath = nvrtc ?? s.environment["TUNEFLEET_NVRTC"]
        guard let text = readTextFile(source) else {
            printError("cannot read \(source)")
            throw ExitCode(2)
        }
        do {
            let module = try NVRTCCompiler(libraries: CUDALibraries(settings: s)).compile(
                source: text, name: URL(fileURLWithPath: source).lastPathComponent, architecture: arch)
            try writeFile(out, module.cubin)
            print(module.log)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
