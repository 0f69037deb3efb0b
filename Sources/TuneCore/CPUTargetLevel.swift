/// An x86-64 instruction-set level a CPU agent compiles for. One host serves several
/// distinct targets (as TVM's `-mcpu` targets do): each level has its own vector width,
/// register file, peak rate and best micro-kernels, and so its own fingerprint.
public enum CPUTargetLevel: String, CaseIterable, Sendable, Codable {
    /// SSE4.2: 128-bit vectors, 16 registers, no FMA.
    case x86_64_v2 = "x86-64-v2"
    /// AVX2 + FMA: 256-bit vectors, 16 registers.
    case x86_64_v3 = "x86-64-v3"
    /// AVX-512 (F, BW, CD, DQ, VL): 512-bit vectors, 32 registers.
    case x86_64_v4 = "x86-64-v4"
    /// Whatever the host has (`-march=native`).
    case native

    /// CPU flags (as /proc/cpuinfo names them) the level needs.
    public var requiredFlags: [String] {
        switch self {
        case .x86_64_v2: return ["sse4_2", "ssse3", "popcnt", "cx16"]
        case .x86_64_v3: return Self.x86_64_v2.requiredFlags + ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"]
        case .x86_64_v4: return Self.x86_64_v3.requiredFlags + ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]
        case .native: return []
        }
    }

    /// The compiler flags that select the level (tuned for the host's pipeline).
    public var compilerFlags: [String] {
        self == .native ? ["-O3", "-march=native"] : ["-O3", "-march=\(rawValue)", "-mtune=native"]
    }

    /// The flags the host lacks for this level; empty when it can run it.
    public func missingFlags(host: Set<String>) -> [String] { requiredFlags.filter { !host.contains($0) } }

    /// The host's profile as seen through this level: only the level's instruction sets,
    /// its vector width and the peak rate it can reach. `native` leaves it as it is.
    public func restrict(_ host: DeviceProfile, amdBefore512BitPipes: Bool = false) -> DeviceProfile {
        var p = host
        p.target = rawValue
        p.compilerFlags = compilerFlags
        guard self != .native else { return p }
        let allowed = Set(requiredFlags)
        p.isa = host.isa.filter { allowed.contains($0) }
        let flopsPerCycle: Double
        switch self {
        case .x86_64_v2: p.vectorBits = 128; flopsPerCycle = 8       // two 4-lane pipes, mul and add apart
        case .x86_64_v3: p.vectorBits = 256; flopsPerCycle = 32      // two 8-lane FMA pipes
        case .x86_64_v4: p.vectorBits = 512; flopsPerCycle = amdBefore512BitPipes ? 32 : 64
        case .native: flopsPerCycle = 0
        }
        p.peakGFLOPS = Double(p.cores) * p.clockMHz / 1000 * flopsPerCycle
        return p
    }
}
