import TuneCore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// Reads the host CPU's profile from /proc/cpuinfo, sysfs and the compiler.
public enum CPUProbe {
    public struct TargetError: Error, CustomStringConvertible, Sendable {
        public var level: CPUTargetLevel
        public var missing: [String]
        public var description: String {
            "this CPU cannot run \(level.rawValue) kernels: it lacks \(missing.joined(separator: ", "))"
        }
    }

    /// The host as a target of `level`: kernels compiled for that level, the profile saying
    /// so (its vector width, registers and peak). A level the host cannot run is refused.
    public static func probe(level: CPUTargetLevel, compiler: CompilerSettings) throws(TargetError) -> DeviceProfile {
        let cpuinfo = readTextFile("/proc/cpuinfo") ?? ""
        let missing = level.missingFlags(host: hostFlags(cpuinfo))
        guard missing.isEmpty else { throw TargetError(level: level, missing: missing) }
        var c = compiler
        c.flags = level.compilerFlags
        let host = probe(compiler: c)
        let zen4 = cpuinfo.contains("AuthenticAMD") && cpuFamily(cpuinfo) < 0x1A
        return level.restrict(host, amdBefore512BitPipes: zen4)
    }

    static func hostFlags(_ cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") {
            let kv = line.split(separator: ":", maxSplits: 1)
            if kv.count == 2, ["flags", "Features"].contains(kv[0].trimmingCharacters(in: " \t")) {
                return Set(kv[1].split(separator: " ").map(String.init))
            }
        }
        return []
    }

    static func cpuFamily(_ cpuinfo: String) -> Int {
        for line in cpuinfo.split(separator: "\n") {
            let kv = line.split(separator: ":", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingCharacters(in: " \t") == "cpu family" { return Int(kv[1].trimmingCharacters(in: " ")) ?? 0 }
        }
        return 0
    }

    public static func probe(compiler: CompilerSettings) -> DeviceProfile {
        let cpuinfo = readTextFile("/proc/cpuinfo") ?? ""
        var model = "unknown CPU"
        var flags: Set<String> = []
        var mhz = 0.0
        var physical = ""
        var family = 0
        var processor = -1
        var coreOf: [Int: String] = [:]
        for line in cpuinfo.split(separator: "\n") {
            let kv = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: " \t") }
            guard kv.count == 2 else { continue }
            switch kv[0] {
            case "model name", "Model": model = kv[1]
            case "flags", "Features": flags = Set(kv[1].split(separator: " ").map(String.init))
            case "cpu MHz": mhz = Double(kv[1]) ?? mhz
            case "processor": processor = Int(kv[1]) ?? processor
            case "cpu family": family = Int(kv[1]) ?? family
            case "physical id": physical = kv[1]
            case "core id": if processor >= 0 { coreOf[processor] = physical + ":" + kv[1] }
            default: break
            }
        }
        var p = DeviceProfile(deviceClass: .cpu, model: model)
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        // The CPUs this process may use, not the machine's: Slurm's and Kubernetes' CPU
        // binding (affinity) and a container's CPU quota (cgroup v2 cpu.max).
        let usable = usableCPUs(online: online, coreOf: coreOf, allowed: allowedCPUs(),
                                quota: cgroupCPUQuota(readTextFile("/sys/fs/cgroup/cpu.max")))
        p.threads = usable.threads
        let machineCores = Set(coreOf.values).count
        p.cores = usable.cores ?? (machineCores == 0 ? p.threads : min(machineCores, p.threads))
        let interesting = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512vnni", "amx_tile", "asimd", "sve"]
        p.isa = interesting.filter { flags.contains($0) }
        if flags.contains("avx512f") { p.vectorBits = 512 }
        else if flags.contains("avx2") || flags.contains("avx") { p.vectorBits = 256 }
        else if flags.contains("asimd") || flags.contains("sse2") || flags.contains("sse4_2") { p.vectorBits = 128 }
        else { p.vectorBits = 32 }
        readCaches(into: &p)
        if let khz = readTextFile("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").flatMap({ Double($0.trimmingCharacters(in: " \n")) }) {
            mhz = khz / 1000
        }
        p.clockMHz = mhz
        // FP32 FLOP per cycle per core: two FMA pipes of the widest width that runs at full
        // rate. Zen 4 (family 0x19) splits 512-bit FMAs over two 256-bit pipes, so AVX-512
        // does not double it; Zen 5 (family 0x1A) has full 512-bit pipes.
        let amd = cpuinfo.contains("AuthenticAMD") || model.contains("AMD")
        let flopsPerCycle: Double
        if flags.contains("avx512f") && (!amd || family >= 0x1A) { flopsPerCycle = 64 }
        else if flags.contains("fma") || flags.contains("avx2") { flopsPerCycle = 32 }
        else if flags.contains("asimd") { flopsPerCycle = 16 }
        else { flopsPerCycle = 8 }
        p.peakGFLOPS = Double(p.cores) * mhz / 1000 * flopsPerCycle
        p.compiler = compiler.compiler
        p.compilerVersion = compilerVersion(compiler.compiler)
        p.compilerFlags = compiler.flags
        return p
    }

    static func readCaches(into p: inout DeviceProfile) {
        for i in 0..<8 {
            let base = "/sys/devices/system/cpu/cpu0/cache/index\(i)/"
            guard let level = readTextFile(base + "level").flatMap({ Int($0.trimmingCharacters(in: " \n")) }),
                  let type = readTextFile(base + "type")?.trimmingCharacters(in: " \n"),
                  let sizeText = readTextFile(base + "size")?.trimmingCharacters(in: " \n") else { continue }
            var size = Int(sizeText.filter(\.isNumber)) ?? 0
            if sizeText.hasSuffix("K") { size *= 1024 } else if sizeText.hasSuffix("M") { size *= 1024 * 1024 }
            if let line = readTextFile(base + "coherency_line_size").flatMap({ Int($0.trimmingCharacters(in: " \n")) }) {
                p.cacheLineBytes = line
            }
            switch (level, type) {
            case (1, "Data"): p.l1dBytes = size
            case (2, _): p.l2Bytes = size
            case (3, _): p.l3Bytes = size
            default: break
            }
        }
    }

    /// Threads and cores a process may use: the online CPUs, cut to the affinity mask
    /// (`allowed`, logical CPU numbers) and to a CPU quota (whole CPUs); cores are the
    /// distinct cores of the allowed CPUs (`coreOf`: logical CPU to core), nil when unknown.
    public static func usableCPUs(online: Int, coreOf: [Int: String], allowed: Set<Int>?, quota: Int?) -> (threads: Int, cores: Int?) {
        var threads = max(1, online)
        var cores: Int? = nil
        if let allowed, !allowed.isEmpty {
            threads = min(threads, allowed.count)
            let known = allowed.compactMap { coreOf[$0] }
            if !known.isEmpty { cores = Set(known).count }
        }
        if let quota { threads = min(threads, max(1, quota)) }
        return (threads, cores.map { min($0, threads) })
    }

    /// Whole CPUs of a cgroup v2 `cpu.max` ("QUOTA PERIOD", or "max PERIOD": no limit),
    /// rounded down but at least one; nil without a limit or a readable file.
    public static func cgroupCPUQuota(_ text: String?) -> Int? {
        guard let parts = text?.split(whereSeparator: { $0 == " " || $0 == "\n" }), parts.count >= 2,
              let quota = Double(parts[0]), let period = Double(parts[1]), quota > 0, period > 0 else { return nil }
        return max(1, Int(quota / period))
    }

    /// The logical CPUs this process's affinity mask allows (`Cpus_allowed_list` of
    /// /proc/self/status), nil when it cannot be read.
    static func allowedCPUs() -> Set<Int>? {
        guard let status = readTextFile("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        return cpuList(String(line.dropFirst("Cpus_allowed_list:".count)))
    }

    /// A kernel CPU list ("0-3,8,10-11") as a set; nil when it is not one.
    public static func cpuList(_ text: String) -> Set<Int>? {
        var out: Set<Int> = []
        for part in text.trimmingCharacters(in: " \t\n").split(separator: ",") {
            let bounds = part.split(separator: "-", maxSplits: 1).map { Int($0) }
            switch bounds.count {
            case 1: guard let a = bounds[0] else { return nil }; out.insert(a)
            case 2: guard let a = bounds[0], let b = bounds[1], a <= b, b - a < 65536 else { return nil }; out.formUnion(a...b)
            default: return nil
            }
        }
        return out.isEmpty ? nil : out
    }

    static func compilerVersion(_ compiler: String) -> String {
        // A private folder: a name made of the pid alone collides between containers that
        // share /tmp (each has its own pid 1, 2, ...).
        guard let dir = try? makeTemporaryDirectory(prefix: "tunefleet-ccver") else { return "unavailable" }
        defer { removeTree(dir) }
        let out = dir + "/version.txt"
        guard let r = try? runCommand(compiler, ["--version"], timeout: 10, outputFile: out), r.status == .exited(0) else {
            return "unavailable"
        }
        return r.output.split(separator: "\n").first.map(String.init) ?? "unknown"
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}
