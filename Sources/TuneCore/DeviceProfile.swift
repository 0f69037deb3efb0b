/// The kind of device an agent measures on; jobs are per task and device class.
public enum DeviceClass: String, Codable, Sendable, CaseIterable {
    case cpu, cuda
}

/// What an agent knows of its device. CPU fields and CUDA fields share one value so that
/// features, records and the wire have one shape.
public struct DeviceProfile: Hashable, Codable, Sendable {
    public var deviceClass: DeviceClass
    public var model: String
    public var cores: Int = 0
    public var threads: Int = 0
    public var l1dBytes: Int = 0
    public var l2Bytes: Int = 0
    public var l3Bytes: Int = 0
    public var cacheLineBytes: Int = 64
    public var isa: [String] = []
    /// Widest usable SIMD register, bits (256 for AVX2, 512 for AVX-512, 128 for NEON).
    public var vectorBits: Int = 0
    public var compiler: String = ""
    public var compilerVersion: String = ""
    public var compilerFlags: [String] = []
    /// Peak FP32 rate of the device (all cores/SMs), GFLOP/s; 0 if unknown.
    public var peakGFLOPS: Double = 0
    public var clockMHz: Double = 0
    /// The instruction-set level kernels are compiled for (`x86-64-v3`, `native`, ...);
    /// empty for CUDA devices and for profiles that predate levels.
    public var target: String = ""

    // CUDA
    public var smCount: Int = 0
    public var maxThreadsPerBlock: Int = 0
    public var sharedMemPerBlock: Int = 0
    public var sharedMemPerBlockOptin: Int = 0
    public var registersPerSM: Int = 0
    public var registersPerBlock: Int = 0
    public var warpSize: Int = 0
    public var computeCapability: String = ""
    public var memoryBandwidthGBs: Double = 0
    public var driverVersion: String = ""

    public init(deviceClass: DeviceClass, model: String) {
        self.deviceClass = deviceClass; self.model = model
    }

    /// FP32 lanes of the widest vector register (1 when unknown).
    public var vectorLanes: Int { max(1, vectorBits / 32) }

    /// Stable identity of the hardware and toolchain: the same machine, compiler and flags
    /// give the same fingerprint across restarts.
    public var fingerprint: String {
        let parts: [String] = [
            deviceClass.rawValue, model, "\(cores)", "\(threads)", "\(l1dBytes)", "\(l2Bytes)", "\(l3Bytes)",
            isa.sorted().joined(separator: ","), "\(vectorBits)", compiler, compilerVersion,
            compilerFlags.joined(separator: " "), "\(smCount)", "\(sharedMemPerBlockOptin)", computeCapability,
            driverVersion,
        ]
        return FNV1a.hex(parts.joined(separator: "|"))
    }
}

extension DeviceProfile {
    enum CodingKeys: String, CodingKey {
        case deviceClass, model, cores, threads, l1dBytes, l2Bytes, l3Bytes, cacheLineBytes, isa, vectorBits, compiler,
             compilerVersion, compilerFlags, peakGFLOPS, clockMHz, target, smCount, maxThreadsPerBlock, sharedMemPerBlock,
             sharedMemPerBlockOptin, registersPerSM, registersPerBlock, warpSize, computeCapability, memoryBandwidthGBs,
             driverVersion
    }

    /// Profiles stored by earlier versions lack the fields added since: those read as their
    /// defaults, so old databases and exports stay readable.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(deviceClass: try c.decode(DeviceClass.self, forKey: .deviceClass), model: try c.decode(String.self, forKey: .model))
        func read<T: Decodable>(_ key: CodingKeys, _ into: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { into = v }
        }
        try read(.cores, &cores); try read(.threads, &threads)
        try read(.l1dBytes, &l1dBytes); try read(.l2Bytes, &l2Bytes); try read(.l3Bytes, &l3Bytes)
        try read(.cacheLineBytes, &cacheLineBytes); try read(.isa, &isa); try read(.vectorBits, &vectorBits)
        try read(.compiler, &compiler); try read(.compilerVersion, &compilerVersion); try read(.compilerFlags, &compilerFlags)
        try read(.peakGFLOPS, &peakGFLOPS); try read(.clockMHz, &clockMHz); try read(.target, &target)
        try read(.smCount, &smCount); try read(.maxThreadsPerBlock, &maxThreadsPerBlock)
        try read(.sharedMemPerBlock, &sharedMemPerBlock); try read(.sharedMemPerBlockOptin, &sharedMemPerBlockOptin)
        try read(.registersPerSM, &registersPerSM); try read(.registersPerBlock, &registersPerBlock)
        try read(.warpSize, &warpSize); try read(.computeCapability, &computeCapability)
        try read(.memoryBandwidthGBs, &memoryBandwidthGBs); try read(.driverVersion, &driverVersion)
    }

    /// `sm_XY` for a CUDA compute capability "X.Y"; nil when it is not of that form.
    public static func cudaArchitecture(computeCapability: String) -> String? {
        let parts = computeCapability.split(separator: ".")
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        return "sm_\(major)\(minor)"
    }
}
