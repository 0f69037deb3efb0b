import TuneCore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// The C compiler and flags an agent builds kernels with. Recorded in the device profile,
/// so results from different toolchains never mix silently.
public struct CompilerSettings: Hashable, Codable, Sendable {
    /// Default: the system `cc`.
    public var compiler = "cc"
    /// Default: `-O3 -march=native`; no fast-math, which would change results.
    public var flags = ["-O3", "-march=native"]
    /// Parallel compile jobs (default: one per core).
    public var jobs = 0
    public init() {}
}

public enum CompileOutcome: Sendable {
    case built(path: String, seconds: Double, cacheHit: Bool)
    case failed(status: MeasureStatus, text: String, seconds: Double)
}

/// Compiles generated C into shared objects, with a time limit and a cache keyed by the
/// hash of source and flags (the same candidate twice is built once).
public struct CCompiler: Sendable {
    public var settings: CompilerSettings
    public var cacheDir: String

    public init(settings: CompilerSettings, cacheDir: String) {
        self.settings = settings; self.cacheDir = cacheDir
    }

    public func compile(_ kernel: GeneratedKernel, timeout: Double) -> CompileOutcome {
        let key = FNV1a.hex(kernel.sourceHash + settings.compiler + settings.flags.joined(separator: " "))
        let so = "\(cacheDir)/k\(key).so"
        if fileExists(so) { return .built(path: so, seconds: 0, cacheHit: true) }
        // Private file names per build: two candidates with the same source can be built at
        // once (a batch may hold both), and neither may delete the other's input.
        let unique = "\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let src = "\(cacheDir)/k\(key).\(unique).c"
        let tmpSO = "\(so).\(unique).tmp"
        let log = "\(src).log"
        do { try writeFile(src, kernel.source) } catch {
            return .failed(status: .compileError, text: "writing source: \(error)", seconds: 0)
        }
        defer { unlink(src) }
        let args = settings.flags + kernel.extraFlags + ["-shared", "-fPIC", "-o", tmpSO, src, "-lm"]
        let r: CommandOutcome
        do { r = try runCommand(settings.compiler, args, timeout: timeout, outputFile: log) } catch {
            return .failed(status: .compileError, text: "cannot start \(settings.compiler): \(error)", seconds: 0)
        }
        defer { unlink(log) }
        if r.timedOut {
            unlink(tmpSO)
            return .failed(status: .compileTimeout, text: "\(settings.compiler) did not finish within \(timeout) s", seconds: r.seconds)
        }
        guard r.status == .exited(0) else {
            unlink(tmpSO)
            return .failed(status: .compileError, text: "\(settings.compiler) \(r.status!): \(r.output)", seconds: r.seconds)
        }
        // Publish atomically so a concurrent build of the same source never sees half a file.
        rename(tmpSO, so)
        return .built(path: so, seconds: r.seconds, cacheHit: false)
    }
}
