/// FNV-1a 64-bit: a stable, dependency-free hash for identities (schedules, fingerprints).
/// Not cryptographic; used only to name things.
public enum FNV1a {
    public static func hash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }
    public static func hex(_ s: String) -> String {
        let v = String(hash(s), radix: 16)
        return String(repeating: "0", count: 16 - v.count) + v
    }
}

/// SplitMix64: a seedable generator so searches and tests are reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
