import ArgumentParser
import Logging
import TuneAgent
import TuneCore
import TuneSystem
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
        subcommands: [Serve.self, Probe.self, Worker.self],
        defaultSubcommand: Serve.self)
}

struct DeviceOptions: ParsableArguments {
    @Option(help: "Device to measure on: cpu, or cuda[:N].")
    var device = "cpu"
    @Option(name: .customLong("cc"), help: "C compiler for CPU kernels.")
    var compiler = "cc"
    @Option(name: .customLong("cflags"), help: "Compiler flags for CPU kernels (space-separated).")
    var cflags = "-O3 -march=native"

    func validate() throws {
        guard device == "cpu" || device.hasPrefix("cuda") else {
            throw ValidationError("unknown device '\(device)': use cpu or cuda[:N]")
        }
        if device.hasPrefix("cuda") {
            throw ValidationError("device '\(device)': this agent build has no CUDA backend yet")
        }
    }

    var compilerSettings: CompilerSettings {
        var c = CompilerSettings()
        c.compiler = compiler
        c.flags = cflags.split(separator: " ").map(String.init)
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
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    func validate() throws {
        guard (1...64).contains(slots) else { throw ValidationError("--slots must be 1...64") }
        guard heartbeat > 0 && heartbeat <= 60 else { throw ValidationError("--heartbeat must be in (0, 60] seconds") }
        guard coordinator.hasPrefix("tcp://") || coordinator.hasPrefix("ipc://") else {
            throw ValidationError("--coordinator must be a tcp:// or ipc:// endpoint, got '\(coordinator)'")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
    }

    func run() throws {
        var logger = Logger(label: "tune-agent")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let compilerSettings = deviceOptions.compilerSettings
        let profile = CPUProbe.probe(compiler: compilerSettings)
        var settings = AgentSettings()
        settings.coordinatorEndpoint = coordinator
        settings.name = name ?? "\(hostName())-\(deviceOptions.device)"
        settings.slots = slots
        settings.heartbeatInterval = heartbeat
        settings.workDir = try workDir ?? makeTemporaryDirectory(prefix: "tune-agent")
        let cache = settings.workDir + "/cache"
        try makeDirectories(cache)
        let faults = environmentValue("TUNEFLEET_TEST_FAULTS") == "1"
        if faults { logger.warning("test fault injection is ON (TUNEFLEET_TEST_FAULTS=1): never use this in production") }
        let builder = CPUBuilder(profile: profile, compiler: CCompiler(settings: compilerSettings, cacheDir: cache),
                                 options: CodegenOptions(allowFaultInjection: faults))
        guard let exe = currentExecutablePath() else { throw ValidationError("cannot find this executable's path") }
        let worker = WorkerHost.Settings(executable: exe, arguments: ["worker", "--device", deviceOptions.device,
                                                                      "--memory-limit-mb", "\(memoryLimitMb)"])
        let agent = Agent(settings: settings, builder: builder, worker: worker, logger: logger)
        let stop = StopSignal()
        onTerminationSignals { _ in stop.stop() }
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
        let p = CPUProbe.probe(compiler: deviceOptions.compilerSettings)
        if json {
            struct Out: Encodable { var profile: DeviceProfile; var fingerprint: String }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(Out(profile: p, fingerprint: p.fingerprint)), as: UTF8.self))
        } else {
            print("""
            device:      \(p.deviceClass.rawValue) — \(p.model)
            cores:       \(p.cores) (\(p.threads) threads), \(Int(p.clockMHz)) MHz
            caches:      L1d \(p.l1dBytes / 1024) KiB, L2 \(p.l2Bytes / 1024) KiB, L3 \(p.l3Bytes / 1024 / 1024) MiB, line \(p.cacheLineBytes) B
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
    @Option var device = "cpu"
    @Option var memoryLimitMb = 0

    func run() throws {
        let profile = CPUProbe.probe(compiler: CompilerSettings())
        let rc = WorkerMain.run(runner: CPURunner(profile: profile), memoryLimitBytes: memoryLimitMb * 1024 * 1024)
        throw ExitCode(rc)
    }
}

func hostName() -> String {
    var buf = [CChar](repeating: 0, count: 256)
    gethostname(&buf, buf.count)
    return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
