/// What OpenBLAS's kernel sets (`openblas_get_corename()`) can use, and which set matches a
/// device. Debian's OpenBLAS picks weak kernels on CPUs it does not know (Prescott's SSE3
/// on a recent Xeon): a baseline measured that way flatters every tuned kernel.
public enum OpenBLASCore {
    /// The widest instructions a kernel set uses: 1 SSE, 2 AVX, 3 AVX2/FMA, 4 AVX-512;
    /// nil for a set this table does not know (ARM, POWER, ...).
    public static func level(_ coreName: String) -> Int? {
        switch coreName.lowercased() {
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "barcelona", "opteron", "bobcat", "katmai",
             "coppermine", "northwood", "banias", "athlon", "opteron_sse3": return 1
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return 2
        case "haswell", "zen", "zen2", "zen3": return 3
        case "skylakex", "cooperlake", "sapphirerapids": return 4
        default: return nil
        }
    }

    /// The same scale for a CPU profile (what the kernels of its target may use).
    public static func level(of p: DeviceProfile) -> Int {
        if p.vectorBits >= 512 { return 4 }
        if p.isa.contains("avx2") && p.isa.contains("fma") { return 3 }
        if p.isa.contains("avx") { return 2 }
        return 1
    }

    /// The kernel set (`OPENBLAS_CORETYPE`) that matches the device's level; nil for a CPU
    /// this table does not cover.
    public static func coreType(for p: DeviceProfile) -> String? {
        guard p.deviceClass == .cpu, !p.isa.contains("asimd"), !p.isa.contains("sve") else { return nil }
        switch level(of: p) {
        case 4: return p.isa.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
        case 3: return "Haswell"
        case 2: return "Sandybridge"
        default: return "Nehalem"
        }
    }

    /// A note when the library's kernels are below the device's level: the baseline is
    /// then weaker than the library can be, and every ratio against it says so.
    public static func belowDevice(coreName: String, device: DeviceProfile) -> String? {
        guard let have = level(coreName), have < level(of: device) else { return nil }
        return "OpenBLAS ran its \(coreName) kernels, below this device's \(device.target.isEmpty ? "instruction set" : device.target)"
    }
}
